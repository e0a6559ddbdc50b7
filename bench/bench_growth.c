/*
 * bench_growth.c - section o: how cost grows. Each row is measured in this
 * run (the report-pair rows are section a's figures, gathered here):
 *   - the report pair against live buffers;
 *   - queries and snapshots against processes (1 .. 256 on one device) and
 *     devices (64 processes spread over 1, 8, 64 devices);
 *   - tt-smi --json and --buffers, wall time, against buffers held;
 *   - the segment's size and resident memory, and the writer's heap, against
 *     buffers held;
 *   - the reaper's CPU at idle and while it reaps 100 deaths a second.
 * Everything runs on its own segment (the bench's name + "_grow"), sized for
 * the largest case, removed at the end. scripts/bench-growth.py turns this
 * section of --json-out into the table of docs/bench.md.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tta_segment.h"

static char grow_seg[96];

/* One figure of the table: WHAT (a measure) at WHERE (a load), one column,
 * so the terminal table stays narrow; scripts/bench-growth.py pivots it. */
static void grow_add(const char *what, const char *where, const char *unit, struct summary s)
{
	char row[160];
	snprintf(row, sizeof row, "%s | %s", what, where);
	result_add('o', row, "measured", unit, s);
}

static void grow_value(const char *what, const char *where, const char *unit, double v)
{
	struct summary s = { v, v, v, v, v, v, 1 };
	grow_add(what, where, unit, s);
}

struct holder_ctl {
	int ready, failed;
};

struct holder_job {
	unsigned index, devices;
	uint32_t buffers; /* this holder's buffers, spread over its device */
	int release_fd;   /* read end: EOF releases the holder */
	int release_wfd;
	struct holder_ctl *ctl;
};

static int holder_child(void *arg)
{
	struct holder_job *job = arg;
	close(job->release_wfd);
	setenv("TT_ALLOC_SHM", grow_seg, 1);
	uint32_t device = job->index % job->devices;
	uint64_t base = 0x40000000ull + (uint64_t)job->index * 0x10000000ull;
	for (uint32_t i = 0; i < job->buffers; i++)
		tta_report_alloc(device, base + (uint64_t)i * 4096, 4096, TTA_MEM_DRAM);
	bool ok = tta_track_state() == TTA_TRACK_ATTACHED;
	if (!ok)
		__atomic_fetch_add(&job->ctl->failed, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&job->ctl->ready, 1, __ATOMIC_SEQ_CST);
	char c;
	while (read(job->release_fd, &c, 1) < 0 && errno == EINTR)
		;
	return ok ? 0 : 1;
}

struct holders {
	pid_t *pids;
	unsigned n;
	int release_wfd;
};

/* Starts N holders spread over DEVICES, each holding BUFFERS; 0 or -1. */
static int holders_start(struct holders *h, unsigned n, unsigned devices, uint32_t buffers)
{
	int fds[2];
	memset(h, 0, sizeof *h);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	struct holder_ctl *ctl = shared_alloc(sizeof *ctl);
	h->pids = calloc(n, sizeof *h->pids);
	h->release_wfd = fds[1];
	for (unsigned i = 0; i < n; i++) {
		struct holder_job job = { i, devices, buffers, fds[0], fds[1], ctl };
		h->pids[h->n++] = spawn_fn(holder_child, &job);
	}
	close(fds[0]);
	uint64_t deadline = now_ns() + 120000000000ull;
	while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) < (int)n && now_ns() < deadline)
		usleep(1000);
	int rc = ctl->ready == (int)n && ctl->failed == 0 ? 0 : -1;
	munmap(ctl, sizeof *ctl);
	return rc;
}

static void holders_stop(struct holders *h)
{
	close(h->release_wfd);
	for (unsigned i = 0; i < h->n; i++)
		wait_child(h->pids[i]);
	free(h->pids);
	memset(h, 0, sizeof *h);
}

static int grow_create(uint32_t devices, uint32_t slots, uint32_t records)
{
	shm_unlink(grow_seg);
	struct tta_create_params params = { devices, slots, records, 0600 };
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(grow_seg, TTA_OPEN_CREATE, &params, &seg, err, sizeof err) != 0) {
		bench_progress("k: cannot create %s: %s", grow_seg, err);
		return -1;
	}
	tta_segment_close(&seg);
	return 0;
}

/* ns per call of BODY, median of 5 batches of BATCH after one warm-up. */
#define PER_CALL(BATCH, BODY, OUT)                                           \
	do {                                                                 \
		double v_[5];                                                \
		for (int r_ = -1; r_ < 5; r_++) {                            \
			uint64_t t0_ = now_ns();                             \
			for (unsigned i_ = 0; i_ < (BATCH); i_++) {          \
				BODY;                                        \
			}                                                    \
			if (r_ >= 0)                                         \
				v_[r_] = (double)(now_ns() - t0_) / (BATCH); \
		}                                                            \
		OUT = median_of_values(v_, 5);                               \
	} while (0)

static void queries(unsigned procs, unsigned devices)
{
	struct holders h;
	if (holders_start(&h, procs, devices, 1) != 0) {
		bench_progress("k: %u holders on %u devices did not start", procs, devices);
		bench_setup_failed();
		holders_stop(&h);
		return;
	}
	tta_reader *r;
	char err[256];
	if (tta_reader_open(grow_seg, &r, err, sizeof err) != 0) {
		bench_progress("k: %s", err);
		bench_setup_failed();
		holders_stop(&h);
		return;
	}
	volatile int64_t sink = 0;
	double totals, view, snap;
	struct tta_device_totals t;
	struct tta_device_view v;
	unsigned batch = cfg.quick ? 200 : 20000, sbatch = cfg.quick ? 20 : 500;
	PER_CALL(batch, (tta_reader_device_totals(r, 0, &t, sizeof t), sink += t.used[0]), totals);
	PER_CALL(batch, (tta_reader_device(r, 0, &v), sink += v.used[0]), view);
	PER_CALL(sbatch, {
		tta_snapshot *s = NULL;
		if (tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0)
			sink += (int64_t)tta_snapshot_process_count(s);
		tta_snapshot_free(s);
	}, snap);
	(void)sink;
	tta_reader_device_totals(r, 0, &t, sizeof t);
	unsigned on0 = (procs + devices - 1) / devices;
	if (t.processes != on0)
		result_note('o', "%u processes x %u devices: device 0 shows %u processes, expected %u",
			    procs, devices, t.processes, on0);
	tta_reader_close(r);
	holders_stop(&h);
	char where[80];
	snprintf(where, sizeof where, "%u process%s on %u device%s", procs, procs > 1 ? "es" : "",
		 devices, devices > 1 ? "s" : "");
	grow_value("query, totals only", where, "ns", totals);
	grow_value("query, device view", where, "ns", view);
	grow_value("snapshot (tta_snapshot_take)", where, "ns", snap);
}

static double run_ms(char *const argv[])
{
	uint64_t t0 = now_ns();
	pid_t pid = spawn_exec(argv, NULL);
	int st = pid > 0 ? wait_child(pid) : -1;
	return st == 0 ? (double)(now_ns() - t0) / 1e6 : -1;
}

static void smi_and_memory(uint32_t buffers)
{
	char smi[4300], path[160];
	snprintf(smi, sizeof smi, "%s/tt-smi", cfg.self_dir);
	snprintf(path, sizeof path, "/dev/shm%s", grow_seg);
	struct stat st;
	double resident0 = stat(path, &st) == 0 ? (double)st.st_blocks * 512 : 0;
	struct holders h;
	if (holders_start(&h, 1, 1, buffers) != 0) {
		bench_progress("k: a holder of %u buffers did not start", buffers);
		bench_setup_failed();
		holders_stop(&h);
		return;
	}
	char where[80];
	snprintf(where, sizeof where, "%u buffers", buffers);
	if (access(smi, X_OK) == 0) {
		char *json[] = { smi, "-s", grow_seg, "--json", NULL };
		char *list[] = { smi, "-s", grow_seg, "--buffers", NULL };
		double j[5], b[3];
		for (int i = 0; i < 5; i++)
			j[i] = run_ms(json);
		for (int i = 0; i < 3; i++)
			b[i] = run_ms(list);
		grow_add("tt-smi --json, wall", where, "ms", summarize(j, 5));
		grow_add("tt-smi --buffers, wall", where, "ms", summarize(b, 3));
	}
	double heap = (double)proc_rss_anon(h.pids[0]);
	if (stat(path, &st) == 0) {
		grow_value("segment size", where, "MiB", (double)st.st_size / 1048576.0);
		grow_value("segment resident", where, "MiB", (double)st.st_blocks * 512 / 1048576.0);
	}
	(void)resident0;
	grow_value("writer private memory (RssAnon)", where, "MiB", heap / 1048576.0);
	holders_stop(&h);
}

static int reaper_registered(pid_t reaper)
{
	tta_reader *r;
	if (tta_reader_open(grow_seg, &r, NULL, 0) != 0)
		return 0;
	tta_snapshot *s;
	int ok = 0;
	if (tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0) {
		const struct tta_segment_info *info = tta_snapshot_segment(s);
		ok = info->reaper_pid == reaper && info->reaper_status == TTA_REAPER_RUNNING;
		tta_snapshot_free(s);
	}
	tta_reader_close(r);
	return ok;
}

static int dying_writer(void *arg)
{
	uint64_t address = *(uint64_t *)arg;
	setenv("TT_ALLOC_SHM", grow_seg, 1);
	tta_report_alloc(0, address, 4096, TTA_MEM_DRAM);
	return 0; /* exits holding it: a leak the reaper reports */
}

static void reaper_cpu(void)
{
	if (access(cfg.reaper_bin, X_OK) != 0) {
		result_note('o', "%s not built: the reaper rows are missing", cfg.reaper_bin);
		return;
	}
	char log[400];
	snprintf(log, sizeof log, "%s/reaper-growth.log", cfg.tmpdir);
	char *argv[] = { cfg.reaper_bin, "--segment", grow_seg, NULL };
	pid_t reaper = spawn_exec(argv, log);
	uint64_t deadline = now_ns() + 5000000000ull;
	while (!reaper_registered(reaper) && now_ns() < deadline)
		usleep(2000);
	/* Idle means after the start-up rescan reaped the holders above. */
	tta_reader *rd;
	if (tta_reader_open(grow_seg, &rd, NULL, 0) == 0) {
		struct tta_device_totals t;
		while (tta_reader_device_totals(rd, 0, &t, sizeof t) == 0 && t.processes > 0 &&
		       now_ns() < deadline + 10000000000ull)
			usleep(5000);
		tta_reader_close(rd);
	}
	usleep(200000);
	double seconds = cfg.quick ? 0.3 : 2.0;
	uint64_t c0 = proc_cpu_ns(reaper), t0 = now_ns();
	usleep((useconds_t)(seconds * 1e6));
	double idle = (double)(proc_cpu_ns(reaper) - c0) / 1e6 / ((double)(now_ns() - t0) / 1e9);
	unsigned deaths = 0;
	c0 = proc_cpu_ns(reaper);
	t0 = now_ns();
	uint64_t tick = t0;
	while (now_ns() - t0 < (uint64_t)(seconds * 1e9)) {
		uint64_t address = 0x1000ull * (deaths + 1);
		pid_t pid = spawn_fn(dying_writer, &address);
		if (pid > 0) {
			wait_child(pid);
			deaths++;
		}
		tick += 10000000ull; /* 100 a second */
		uint64_t now = now_ns();
		if (tick > now)
			usleep((useconds_t)((tick - now) / 1000));
	}
	/* Until the last death is reaped, within a second. */
	tta_reader *r;
	if (tta_reader_open(grow_seg, &r, NULL, 0) == 0) {
		struct tta_device_totals t;
		uint64_t until = now_ns() + 1000000000ull;
		while (tta_reader_device_totals(r, 0, &t, sizeof t) == 0 && t.processes > 0 &&
		       now_ns() < until)
			usleep(1000);
		if (t.processes > 0)
			result_note('o', "reaper: %u dead writers not reaped 1 s after the last death",
				    t.processes);
		tta_reader_close(r);
	}
	double window = (double)(now_ns() - t0) / 1e9;
	double busy = (double)(proc_cpu_ns(reaper) - c0) / 1e6;
	kill(reaper, SIGTERM);
	wait_child(reaper);
	unlink(log);
	grow_value("reaper CPU", "idle", "ms per s", idle);
	grow_value("reaper CPU", "100 deaths/s", "ms per s", busy / window);
	grow_value("reaper CPU per death", "100 deaths/s", "us", deaths ? busy * 1000.0 / deaths : 0);
}

/* Section a's figures, as rows of this table. */
static void report_pairs(void)
{
	for (unsigned li = 0; li < cfg.n_levels; li++) {
		char arow[64], newest[80], where[64];
		snprintf(arow, sizeof arow, "%u live", cfg.live_levels[li]);
		snprintf(newest, sizeof newest, "%u live, free newest", cfg.live_levels[li]);
		snprintf(where, sizeof where, "%u live buffers", cfg.live_levels[li]);
		const struct summary *s;
		if ((s = result_get('a', arow, "shm")))
			grow_add("report pair, address, oldest freed", where, "ns", *s);
		if ((s = result_get('a', newest, "shm")))
			grow_add("report pair, address, newest freed", where, "ns", *s);
		if ((s = result_get('a', arow, "shm_handle")))
			grow_add("report pair, handle", where, "ns", *s);
		if ((s = result_get('a', arow, "counters_shm")))
			grow_add("report pair, counters_shm (baseline)", where, "ns", *s);
	}
}

void run_growth(void)
{
	snprintf(grow_seg, sizeof grow_seg, "%s_grow", cfg.shm_name);
	report_pairs();
	static const unsigned procs[] = { 1, 16, 64, 256 };
	static const unsigned devices[] = { 1, 8, 64 };
	unsigned big = cfg.quick ? 16u : 1000000u;
	/* Room for 256 holders, the bench's own reads, and a million buffers
	 * plus the chunks of every holder. */
	if (grow_create(64, 320, cfg.quick ? (1u << 17) : (1u << 21)) != 0) {
		bench_setup_failed();
		return;
	}
	for (unsigned i = 0; i < sizeof procs / sizeof procs[0]; i++) {
		if (cfg.quick && procs[i] > 16)
			break;
		bench_progress("k: queries with %u processes on one device", procs[i]);
		queries(procs[i], 1);
	}
	for (unsigned i = 1; i < sizeof devices / sizeof devices[0]; i++) {
		unsigned p = cfg.quick ? 16 : 64;
		bench_progress("k: queries with %u processes on %u devices", p, devices[i]);
		queries(p, devices[i]);
	}
	uint32_t loads[] = { 10000, big };
	for (unsigned i = 0; i < 2; i++) {
		if (i == 1 && big <= loads[0])
			break;
		bench_progress("k: tt-smi and memory with %u buffers", loads[i]);
		smi_and_memory(loads[i]);
	}
	bench_progress("k: the reaper's CPU at idle and at 100 deaths a second");
	reaper_cpu();
	shm_unlink(grow_seg);
	result_note('o', "query rows: holders each hold one buffer, on device (index %% devices); "
		    "'totals only' = tta_reader_device_totals and 'device view' = tta_reader_device "
		    "of device 0, 'snapshot' = tta_snapshot_take of everything (median of 5 "
		    "batches); tt-smi = fork to exit of build/tt-smi -s SEGMENT --json / --buffers "
		    "(output to /dev/null), one holder with N buffers; segment resident = the "
		    "file's allocated blocks (space is reserved at creation); writer RssAnon = the "
		    "holder's private memory (its index); reaper CPU = its CPU time (all threads) "
		    "over the window, then while a writer that dies holding a buffer starts every "
		    "10 ms");
}
