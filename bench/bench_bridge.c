/*
 * bench_bridge.c - section i: the old socket protocol, served by
 * tt-alloc-bridge into a segment, against the baseline server it replaces.
 *
 * One client (bench/sock_client.c: one blocking send per report, as the old
 * AllocationClient) talks to three listeners that run at once, each on its
 * own socket path: the baseline server, the bridge as shipped, and the bridge
 * with --spin-us 0 (it sleeps in epoll_wait as soon as the sockets are
 * empty). Every repetition runs all three, in a rotating order, so a change
 * of machine load during the run hits each of them alike; ratios are taken
 * per repetition (same minute) and their median reported.
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sock_proto.h"

enum { SYS_SERVER, SYS_BRIDGE, SYS_BRIDGE_NOSPIN, LISTENERS };

struct listener {
	const char *name;
	char path[108];
	char segment[96];
	pid_t pid;
};

static pid_t bridge_start(struct listener *l, const char *spin)
{
	char *argv[] = { cfg.bridge_bin, "--socket", l->path, "--segment", l->segment, "--spin-us",
			 (char *)spin, NULL };
	char log[64];
	snprintf(log, sizeof log, "%s.log", l->name);
	for (char *c = log; *c; c++)
		if (*c == ' ' || *c == ',')
			*c = '_';
	return listener_start(argv, log, l->path);
}

/* PAIRS ALLOC+FREE reports, then QUERIES round trips, on a new connection.
 * Returns false when the listener failed. */
static bool one_run(struct listener *l, unsigned pairs, unsigned queries, double *kreports,
		    double *cpu_ns_per_report, double *rtt)
{
	struct sock_client c;
	if (sock_client_open(&c, l->path) != 0)
		return false;
	bool ok = true;
	uint64_t cpu0 = proc_cpu_ns(l->pid);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < pairs && ok; i++) {
		uint64_t a = 0x100000ull + (uint64_t)i * 4096;
		ok = sock_client_alloc(&c, 0, a, 4096, SOCK_TYPE_DRAM) == 0 &&
		     sock_client_free(&c, 0, a) == 0;
	}
	/* The round trip makes sure every report was applied. */
	ok = ok && sock_client_query(&c, 0, NULL) == 0;
	uint64_t t1 = now_ns();
	uint64_t cpu1 = proc_cpu_ns(l->pid);
	*kreports = 2.0 * pairs / ((double)(t1 - t0) / 1e9) / 1e3;
	*cpu_ns_per_report = (double)(cpu1 - cpu0) / (2.0 * pairs);
	for (unsigned q = 0; q < queries && ok; q++) {
		uint64_t q0 = now_ns();
		ok = sock_client_query(&c, 0, NULL) == 0;
		rtt[q] = (double)(now_ns() - q0);
	}
	sock_client_close(&c);
	return ok;
}

void run_bridge(void)
{
	if (access(cfg.bridge_bin, X_OK) != 0) {
		result_note('i', "%s not built, not measured", cfg.bridge_bin);
		return;
	}
	struct listener ls[LISTENERS] = {
		[SYS_SERVER] = { .name = "socket" },
		[SYS_BRIDGE] = { .name = "bridge" },
		[SYS_BRIDGE_NOSPIN] = { .name = "bridge, --spin-us 0" },
	};
	static const char *const paths[LISTENERS] = { "sock", "bridge.sock", "bridge0.sock" };
	for (int i = 0; i < LISTENERS; i++) {
		/* setup() checked that the directory leaves room for a short name */
		size_t dir = strlen(cfg.tmpdir);
		if (dir + 1 + strlen(paths[i]) >= sizeof ls[i].path) {
			bench_progress("i: temporary directory name too long for a socket path");
			bench_setup_failed();
			return;
		}
		memcpy(ls[i].path, cfg.tmpdir, dir);
		ls[i].path[dir] = '/';
		memcpy(ls[i].path + dir + 1, paths[i], strlen(paths[i]) + 1);
		snprintf(ls[i].segment, sizeof ls[i].segment, "%s_bridge%d", cfg.shm_name, i);
	}
	/* The baseline server listens on the bench's usual path. */
	snprintf(ls[SYS_SERVER].path, sizeof ls[SYS_SERVER].path, "%s", cfg.socket_path);
	ls[SYS_SERVER].pid = socket_server_start();
	ls[SYS_BRIDGE].pid = bridge_start(&ls[SYS_BRIDGE], "50");
	ls[SYS_BRIDGE_NOSPIN].pid = bridge_start(&ls[SYS_BRIDGE_NOSPIN], "0");

	unsigned reps = cfg.quick ? 3 : 9;
	unsigned pairs = cfg.quick ? 2000 : 20000, queries = cfg.quick ? 200 : 1000;
	double *rate[LISTENERS], *cpu[LISTENERS], *rtt[LISTENERS], *ratio[LISTENERS];
	unsigned got[LISTENERS] = { 0 }, nq[LISTENERS] = { 0 }, nratio[LISTENERS] = { 0 };
	for (int i = 0; i < LISTENERS; i++) {
		rate[i] = calloc(reps, sizeof(double));
		cpu[i] = calloc(reps, sizeof(double));
		ratio[i] = calloc(reps, sizeof(double));
		rtt[i] = calloc((size_t)reps * queries, sizeof(double));
	}
	bench_progress("i: %u rounds of (%u ALLOC+FREE pairs, %u QUERY round trips) on each of "
		      "the baseline server, the bridge and the bridge with --spin-us 0",
		      reps, pairs, queries);
	bool failed[LISTENERS] = { false };
	for (unsigned r = 0; r < reps; r++) {
		double this_rate[LISTENERS] = { 0 };
		for (int k = 0; k < LISTENERS; k++) {
			int i = (int)((r + (unsigned)k) % LISTENERS); /* rotate the order */
			if (ls[i].pid <= 0 || failed[i])
				continue;
			double kr, c;
			if (!one_run(&ls[i], pairs, queries, &kr, &c, rtt[i] + nq[i])) {
				failed[i] = true;
				continue;
			}
			nq[i] += queries;
			rate[i][got[i]] = kr;
			cpu[i][got[i]++] = c;
			this_rate[i] = kr;
		}
		for (int i = 1; i < LISTENERS; i++)
			if (this_rate[i] > 0 && this_rate[SYS_SERVER] > 0)
				ratio[i][nratio[i]++] = this_rate[i] / this_rate[SYS_SERVER];
	}
	for (int i = 0; i < LISTENERS; i++) {
		if (ls[i].pid <= 0 || failed[i]) {
			bench_progress("i: %s did not run", ls[i].name);
			bench_setup_failed();
		}
		if (got[i] > 0) {
			result_add('i', "old-protocol reports", ls[i].name, "k reports/s",
				   summarize(rate[i], got[i]));
			result_add('i', "listener CPU per report", ls[i].name, "ns",
				   summarize(cpu[i], got[i]));
		}
		if (nq[i] > 0)
			result_add('i', "QUERY round trip", ls[i].name, "ns", summarize(rtt[i], nq[i]));
		if (i > 0 && nratio[i] > 0)
			result_add('i', "reports vs socket, same round", ls[i].name, "x",
				   summarize(ratio[i], nratio[i]));
	}
	if (ls[SYS_SERVER].pid > 0)
		socket_server_stop(ls[SYS_SERVER].pid);
	for (int i = SYS_BRIDGE; i < LISTENERS; i++) {
		if (ls[i].pid > 0) {
			kill(ls[i].pid, SIGTERM);
			wait_child(ls[i].pid);
		}
		unlink(ls[i].path);
		shm_unlink(ls[i].segment);
	}
	for (int i = 0; i < LISTENERS; i++) {
		free(rate[i]);
		free(cpu[i]);
		free(rtt[i]);
		free(ratio[i]);
	}
	result_note('i', "same client (bench/sock_client.c: one blocking send per report, as the old "
		    "AllocationClient), same run, the three listeners up at once on their own paths "
		    "and run in a rotating order each round: the baseline server "
		    "(--cleanup-on-disconnect), tt-alloc-bridge as shipped (polls 50 us after "
		    "traffic before it sleeps) and with --spin-us 0 (sleeps at once), each bridge on "
		    "its own private segment; reports = ALLOC+FREE of one 4 KiB DRAM buffer, timed "
		    "until a QUERY on the same connection returns; 'listener CPU' = the listener "
		    "process's CPU time (all threads) over the reports; 'vs socket' = median over "
		    "rounds of the bridge's rate / the server's rate in the same round");
}
