/*
 * bench_bridge.c - section i: the old socket protocol, served by
 * tt-alloc-bridge into a segment, against the baseline server it replaces.
 *
 * One client (bench/sock_client.c: one blocking send per report, as the old
 * AllocationClient) talks to three listeners that run at once, each on its
 * own socket path: the baseline server, the bridge as shipped, and the bridge
 * with --spin-us 0 (it sleeps in epoll_wait as soon as the sockets are
 * empty). A fourth listener only reads (and answers QUERY with zeros): the
 * ceiling, what the client itself can send on this machine, so each
 * listener's rate can be read against the most any listener could reach.
 * Every repetition runs all four, in a rotating order, so a change of
 * machine load during the run hits each of them alike; ratios are taken per
 * repetition (same minute) and their median reported.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock_proto.h"

enum { SYS_SERVER, SYS_BRIDGE, SYS_BRIDGE_NOSPIN, SYS_CEILING, LISTENERS };

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

/* The ceiling: a child that accepts one connection at a time and only reads,
 * a receive buffer at a time, answering each QUERY with an all-zero
 * RESPONSE. Its pid, or -1. */
static pid_t null_listener_start(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path)
		return -1;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -1;
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0) {
		close(lfd);
		return -1;
	}
	pid_t pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	static uint8_t buf[256 * SOCK_MSG_SIZE];
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		size_t have = 0; /* bytes of an unfinished message at the start of buf */
		for (;;) {
			ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
			if (n <= 0)
				break;
			size_t end = have + (size_t)n, off = 0;
			for (; off + SOCK_MSG_SIZE <= end; off += SOCK_MSG_SIZE) {
				if (buf[off] != SOCK_MSG_QUERY)
					continue;
				struct sock_msg r;
				memset(&r, 0, sizeof r);
				r.type = SOCK_MSG_RESPONSE;
				if (send(fd, &r, sizeof r, MSG_NOSIGNAL) != (ssize_t)sizeof r)
					break;
			}
			have = end - off;
			memmove(buf, buf + off, have);
		}
		close(fd);
	}
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
		[SYS_CEILING] = { .name = "ceiling (reads only)" },
	};
	static const char *const paths[LISTENERS] = { "sock", "bridge.sock", "bridge0.sock",
						       "null.sock" };
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
	ls[SYS_CEILING].pid = null_listener_start(ls[SYS_CEILING].path);

	unsigned reps = cfg.quick ? 3 : 11;
	unsigned pairs = cfg.quick ? 2000 : 50000, queries = cfg.quick ? 200 : 1000;
	double *rate[LISTENERS], *cpu[LISTENERS], *rtt[LISTENERS], *ratio[LISTENERS], *of_ceiling[LISTENERS];
	unsigned got[LISTENERS] = { 0 }, nq[LISTENERS] = { 0 }, nratio[LISTENERS] = { 0 },
		 nceiling[LISTENERS] = { 0 };
	for (int i = 0; i < LISTENERS; i++) {
		rate[i] = calloc(reps, sizeof(double));
		cpu[i] = calloc(reps, sizeof(double));
		ratio[i] = calloc(reps, sizeof(double));
		of_ceiling[i] = calloc(reps, sizeof(double));
		rtt[i] = calloc((size_t)reps * queries, sizeof(double));
	}
	bench_progress("i: %u rounds of (%u ALLOC+FREE pairs, %u QUERY round trips) on each of "
		      "the baseline server, the bridge, the bridge with --spin-us 0 and a listener "
		      "that only reads",
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
		for (int i = 1; i < SYS_CEILING; i++)
			if (this_rate[i] > 0 && this_rate[SYS_SERVER] > 0)
				ratio[i][nratio[i]++] = this_rate[i] / this_rate[SYS_SERVER];
		for (int i = 0; i < SYS_CEILING; i++)
			if (this_rate[i] > 0 && this_rate[SYS_CEILING] > 0)
				of_ceiling[i][nceiling[i]++] = this_rate[i] / this_rate[SYS_CEILING];
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
		if (nceiling[i] > 0)
			result_add('i', "reports vs the ceiling, same round", ls[i].name, "x",
				   summarize(of_ceiling[i], nceiling[i]));
	}
	if (ls[SYS_SERVER].pid > 0)
		socket_server_stop(ls[SYS_SERVER].pid);
	for (int i = SYS_BRIDGE; i < LISTENERS; i++) {
		if (ls[i].pid > 0) {
			kill(ls[i].pid, SIGTERM);
			wait_child(ls[i].pid);
		}
		unlink(ls[i].path);
		if (i != SYS_CEILING)
			shm_unlink(ls[i].segment);
	}
	for (int i = 0; i < LISTENERS; i++) {
		free(rate[i]);
		free(cpu[i]);
		free(rtt[i]);
		free(ratio[i]);
		free(of_ceiling[i]);
	}
	result_note('i', "same client (bench/sock_client.c: one blocking send per report, as the old "
		    "AllocationClient), same run, the four listeners up at once on their own paths "
		    "and run in a rotating order each round: the baseline server "
		    "(--cleanup-on-disconnect), tt-alloc-bridge as shipped (polls 50 us after "
		    "traffic before it sleeps) and with --spin-us 0 (sleeps at once), each bridge on "
		    "its own private segment, and a ceiling: a listener that only reads (a receive "
		    "buffer at a time) and answers QUERY with zeros, i.e. what the client itself can "
		    "send here; reports = ALLOC+FREE of one 4 KiB DRAM buffer, timed "
		    "until a QUERY on the same connection returns; 'listener CPU' = the listener "
		    "process's CPU time (all threads) over the reports; 'vs socket' = median over "
		    "rounds of the bridge's rate / the server's rate in the same round; 'vs the "
		    "ceiling' = the same against the reads-only listener");
}
