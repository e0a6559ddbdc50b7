/*
 * test_snapshot.c - the public read library as a tool author meets it:
 * snapshots that add up under churn, a segment truncated under the reader,
 * replaced or removed, process liveness, and the counter table.
 * Everything here goes through <tt-alloc/reader.h>; the writers are real
 * processes reporting through the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "read_priv.h" /* processes_dropped */
#include "tta_segment.h"
#include "tta_test.h"

static tta_reader *open_reader(void)
{
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	return r;
}

/* A writer that allocates and frees on two devices until killed. */
static pid_t start_churner(unsigned seed)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid != 0)
		return pid;
	/* A failed check ends the case with _exit: take the churner along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	uint64_t x = seed * 2654435761u + 1;
	tta_handle held[64] = { 0 };
	for (;;) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned i = (unsigned)(x % 64);
		if (held[i]) {
			tta_report_free_handle(held[i]);
			held[i] = 0;
		} else {
			held[i] = tta_report_alloc_handle((uint32_t)(x >> 8) & 1, x & 0xffff0,
							  1 + (x >> 20) % 100000, TTA_MEM_DRAM + (x >> 40) % 2);
		}
		if ((x & 0xff) == 0) {
			tta_report_cb_alloc(1, x, 4096);
			tta_report_cb_free(1, x);
		}
	}
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A reader of the case's segment once N writers are attached and at work
 * (none is then killed while still creating its own candidate segment,
 * which would leave a temporary behind). */
static tta_reader *open_when_attached(uint64_t n)
{
	tta_reader *r = NULL;
	for (int t = 0; t < 200 && r == NULL; t++) {
		struct timespec ms = { .tv_nsec = 10000000 };
		nanosleep(&ms, NULL);
		char err[256];
		if (tta_reader_open(NULL, &r, err, sizeof err) != 0)
			r = NULL;
	}
	CHECK(r != NULL, "segment appeared");
	uint64_t live = 0;
	for (int t = 0; t < 500 && live < n; t++) {
		tta_snapshot *s;
		CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
		live = tta_snapshot_counter(s, (unsigned)tta_counter_find("live_processes"));
		tta_snapshot_free(s);
		struct timespec ms = { .tv_nsec = 10000000 };
		nanosleep(&ms, NULL);
	}
	CHECK_EQ_I64(live, n);
	return r;
}

/* With three writers churning, every snapshot's device totals equal the sum
 * of its process rows exactly (the seed's tt-smi failed this 192 times in
 * 200), and the buffer records of a snapshot never exceed the counters. */
TTA_TEST(totals_equal_rows_under_churn)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t w[3];
	for (unsigned i = 0; i < 3; i++)
		w[i] = start_churner(i + 1);
	tta_reader *r = open_when_attached(3);
	unsigned busy = 0;
	for (int n = 0; n < 200; n++) {
		tta_snapshot *s;
		char err[256];
		CHECK(tta_snapshot_take(r, 0, -1, n % 2 ? TTA_SNAPSHOT_BUFFERS : 0, &s, err,
					sizeof err) == 0,
		      "%s", err);
		for (size_t i = 0; i < tta_snapshot_device_count(s); i++) {
			const struct tta_device_view *d = tta_snapshot_device(s, i);
			int64_t sum[TTA_MEM_TYPES] = { 0 }, buffers = 0;
			uint32_t procs = 0;
			for (size_t j = 0; j < tta_snapshot_process_count(s); j++) {
				const struct tta_process_row *row = tta_snapshot_process(s, j);
				if (row->device != d->id)
					continue;
				for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
					sum[t] += row->used[t];
				buffers += row->buffers;
				procs++;
			}
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				CHECK(sum[t] == d->used[t], "snapshot %d device %u type %u: %lld != %lld",
				      n, d->id, t, (long long)d->used[t], (long long)sum[t]);
			CHECK_EQ_I64(buffers, d->buffers);
			CHECK_EQ_I64(procs, d->processes);
			busy += d->buffers > 0;
		}
		tta_snapshot_free(s);
	}
	CHECK(busy > 0, "the writers were seen at work");
	for (unsigned i = 0; i < 3; i++)
		stop(w[i]);
	tta_reader_close(r);
}

static void make_segment(void)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
		tta_track_detach();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static int count_rows(const struct tta_process_view *p, uint32_t device, const int64_t *used,
		      int64_t buffers, void *ctx)
{
	(void)p, (void)device, (void)used, (void)buffers, (void)ctx;
	return 0;
}

static int second_reader_device(tta_reader *r)
{
	struct tta_device_view v;
	return tta_reader_device(r, 0, &v);
}

static volatile sig_atomic_t host_handler_ran;
static void host_sigbus(int sig)
{
	(void)sig;
	host_handler_ran = true;
}

/* The library turns a SIGBUS from its own reads of a truncated segment into
 * an error; the caller installs nothing. A SIGBUS elsewhere still reaches the
 * handler the host had installed before. */
TTA_TEST(truncated_segment_is_an_error_not_a_crash)
{
	struct sigaction sa = { .sa_handler = host_sigbus };
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0, "host handler");
	make_segment();
	tta_reader *r = open_reader();
	tta_reader *r2 = open_reader(); /* a second mapping of the same file */
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_OK);
	/* Another segment, read by the same process, is not disturbed. */
	char other[96];
	snprintf(other, sizeof other, "%s_other", tta_test_segment);
	setenv("TT_ALLOC_SHM", other, 1);
	make_segment();
	tta_reader *r3 = open_reader();
	shm_unlink(other); /* its mapping still reads (status REMOVED) */
	setenv("TT_ALLOC_SHM", tta_test_segment, 1);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", tta_test_segment);
	CHECK(truncate(path, 4096) == 0, "truncate");
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_TRUNCATED);
	struct tta_device_view v;
	struct tta_device_totals t;
	/* These read the mapping past the new end: SIGBUS inside the library.
	 * The hot queries run unguarded: the fault is repaired under them and
	 * they, and every later call on this reader, say -EFAULT. */
	CHECK_EQ_I64(tta_reader_device_totals(r, 0, &t, sizeof t), -EFAULT);
	CHECK(t.used[TTA_MEM_DRAM] == 0 && t.processes == 0, "totals zeroed on a fault");
	CHECK_EQ_I64(tta_reader_device(r, 0, &v), -EFAULT);
	CHECK_EQ_I64(tta_reader_device(r, 0, &v), -EFAULT);
	CHECK_EQ_I64(second_reader_device(r2), -EFAULT);
	CHECK_EQ_I64(tta_reader_foreach_process(r, count_rows, NULL), -EFAULT);
	CHECK_EQ_I64(tta_reader_foreach_buffer(r, NULL, NULL, NULL), -EFAULT);
	tta_snapshot *s = NULL;
	char err[256] = "";
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err), -EFAULT);
	CHECK(s == NULL && strstr(err, "truncated"), "message: %s", err);
	CHECK(!host_handler_ran, "the library's faults are its own");
	kill(getpid(), SIGBUS); /* delivered before kill returns */
	CHECK(host_handler_ran, "a SIGBUS outside the library reached the host's handler");
	struct tta_device_totals t3;
	CHECK_EQ_I64(tta_reader_device_totals(r3, 0, &t3, sizeof t3), 0);
	CHECK_EQ_I64(tta_reader_device(r3, 0, &v), 0);
	CHECK_EQ_I64(tta_reader_foreach_process(r3, count_rows, NULL), 0);
	CHECK_EQ_I64(tta_reader_status(r3), TTA_SEGMENT_REMOVED);
	tta_reader_close(r);
	tta_reader_close(r2);
	tta_reader_close(r3);
}

/* Like Varnish's VSM_Status: a tool learns that the name now points at a new
 * segment (and reopens), or that it was removed (its mapping still reads). */
TTA_TEST(replaced_and_removed_segments_are_reported)
{
	make_segment();
	tta_reader *r = open_reader();
	shm_unlink(tta_test_segment);
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_REMOVED);
	tta_snapshot *s = NULL;
	char err[256];
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "removed still reads: %s",
	      err);
	tta_snapshot_free(s);
	make_segment();
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_REPLACED);
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err), -ESTALE);
	CHECK(strstr(err, "reopen") != NULL, "%s", err);
	tta_reader_close(r);
	r = open_reader();
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_OK);
	tta_reader_close(r);
}

TTA_TEST(process_liveness_is_pid_and_start_time)
{
	uint64_t start;
	CHECK(tta_proc_start_time(getpid(), &start) == 0, "own start time");
	CHECK_EQ_I64(tta_process_alive(getpid(), start), 1);
	CHECK_EQ_I64(tta_process_alive(getpid(), start + 1), 0); /* a reused pid */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	uint64_t child_start = 0;
	tta_proc_start_time(child, &child_start); /* may already be a zombie */
	waitpid(child, NULL, 0);
	CHECK_EQ_I64(tta_process_alive(child, child_start), 0);
	CHECK_EQ_I64(tta_process_alive(0, 0), -1);
}

/* The counter table is the API: names are unique identifiers, ids stable,
 * lookups by name round-trip, every snapshot has a value for each. */
TTA_TEST(counters_iterate_by_name)
{
	unsigned n = tta_counter_count();
	CHECK(n >= 16, "%u counters", n);
	for (unsigned i = 0; i < n; i++) {
		const struct tta_counter_info *c = tta_counter_info(i);
		CHECK(c && c->name && c->unit && c->help && c->help[0], "counter %u described", i);
		CHECK(strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(c->name),
		      "name %s", c->name);
		CHECK_EQ_I64(tta_counter_find(c->name), i);
	}
	CHECK(tta_counter_info(n) == NULL && tta_counter_find("no_such") == -1, "bounds");
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_free(0, 0x1234); /* unknown free */
		tta_report_free(0, 0x1234);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	tta_reader *r = open_reader();
	tta_snapshot *s;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
	CHECK_EQ_I64(tta_snapshot_counter(s, (unsigned)tta_counter_find("unknown_frees")), 2);
	CHECK_EQ_I64(tta_snapshot_counter(s, (unsigned)tta_counter_find("records_capacity")),
		     tta_snapshot_segment(s)->record_capacity);
	CHECK_EQ_I64(tta_snapshot_counter(s, n), 0);
	tta_snapshot_free(s);
	tta_reader_close(r);
}

TTA_TEST(bad_snapshot_arguments_are_refused)
{
	make_segment();
	tta_reader *r = open_reader();
	tta_snapshot *s = (tta_snapshot *)1;
	char err[128];
	CHECK_EQ_I64(tta_snapshot_take(r, -5, -1, 0, &s, err, sizeof err), -EINVAL);
	CHECK(s == NULL, "no snapshot on error");
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -7, 0, &s, err, sizeof err), -EINVAL);
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0x100, &s, err, sizeof err), -EINVAL);
	CHECK(tta_snapshot_take(r, 0, 63, TTA_SNAPSHOT_BUFFERS, &s, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_device(s, 0) == NULL && tta_snapshot_process(s, 0) == NULL &&
		      tta_snapshot_buffer(s, 0) == NULL,
	      "accessors bounds-check");
	tta_snapshot_free(s);
	tta_snapshot_free(NULL);
	tta_reader_close(r);
}

/* The totals-only query gives what the device view gives, writes no more
 * than the caller's size, and refuses what it cannot answer. */
TTA_TEST(device_totals_match_the_device_view)
{
	pid_t churn[3];
	for (unsigned i = 0; i < 3; i++)
		churn[i] = start_churner(i + 11);
	tta_reader *r = open_when_attached(3);
	for (int round = 0; round < 200; round++) {
		for (uint32_t d = 0; d < 2; d++) {
			struct tta_device_totals t;
			struct tta_device_view v;
			CHECK_EQ_I64(tta_reader_device_totals(r, d, &t, sizeof t), 0);
			CHECK_EQ_I64(tta_reader_device(r, d, &v), 0);
			CHECK(t.processes <= 3 && v.processes <= 3, "processes %u/%u", t.processes,
			      v.processes);
			CHECK(t.reserved == 0, "reserved");
		}
	}
	for (unsigned i = 0; i < 3; i++)
		stop(churn[i]);
	/* Quiet now: both views agree exactly (the churners' slots stay until
	 * reaped, and count). */
	for (uint32_t d = 0; d < 2; d++) {
		struct tta_device_totals t;
		struct tta_device_view v;
		CHECK_EQ_I64(tta_reader_device_totals(r, d, &t, sizeof t), 0);
		CHECK_EQ_I64(tta_reader_device(r, d, &v), 0);
		for (int k = 0; k < TTA_MEM_TYPES; k++)
			CHECK_EQ_I64(t.used[k], v.used[k]);
		CHECK_EQ_I64(t.buffers, v.buffers);
		CHECK_EQ_I64(t.processes, v.processes);
	}
	/* A caller built against a smaller struct gets only what it knows. */
	unsigned char buf[sizeof(struct tta_device_totals) + 8];
	memset(buf, 0xAA, sizeof buf);
	size_t small = offsetof(struct tta_device_totals, processes);
	CHECK_EQ_I64(tta_reader_device_totals(r, 0, (struct tta_device_totals *)(void *)buf, small), 0);
	for (size_t i = small; i < sizeof buf; i++)
		CHECK(buf[i] == 0xAA, "byte %zu past the caller's size written", i);
	struct tta_device_totals t;
	CHECK_EQ_I64(tta_reader_device_totals(r, 0, &t, small - 1), -EINVAL);
	CHECK_EQ_I64(tta_reader_device_totals(r, 0, NULL, sizeof t), -EINVAL);
	memset(&t, 0xAA, sizeof t);
	CHECK_EQ_I64(tta_reader_device_totals(r, tta_reader_device_capacity(r), &t, sizeof t), -EINVAL);
	CHECK(t.used[0] == 0 && t.buffers == 0 && t.processes == 0, "zeroed on -EINVAL");
	tta_reader_close(r);
}

/* records_reserved is rescanned when writers claim or release chunks, not on
 * every snapshot: a reader that keeps snapshotting sees both at once. */
TTA_TEST(records_reserved_follows_claims_and_releases)
{
	tta_reader *r = NULL;
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	int go[2], done[2];
	CHECK(pipe(go) == 0 && pipe(done) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		tta_report_alloc(0, 0x1000, 1, TTA_MEM_DRAM); /* one chunk */
		if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		for (uint64_t i = 0; i < 1000; i++) /* about 16 more */
			tta_report_alloc(0, 0x100000 + i * 64, 1, TTA_MEM_DRAM);
		if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	char c;
	CHECK(read(done[0], &c, 1) == 1, "first report");
	r = open_reader();
	struct tta_test_counters {
		uint64_t reserved;
	} a, b, z;
	tta_snapshot *s;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
	a.reserved = tta_snapshot_counter(s, (unsigned)tta_counter_find("records_reserved"));
	tta_snapshot_free(s);
	CHECK(write(go[1], "x", 1) == 1 && read(done[0], &c, 1) == 1, "more reports");
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
	b.reserved = tta_snapshot_counter(s, (unsigned)tta_counter_find("records_reserved"));
	tta_snapshot_free(s);
	CHECK(a.reserved == TTA_RECORDS_PER_CHUNK, "first: %llu", (unsigned long long)a.reserved);
	CHECK(b.reserved >= 1001 && b.reserved % TTA_RECORDS_PER_CHUNK == 0,
	      "after 1001 buffers: %llu", (unsigned long long)b.reserved);
	/* The writer dies; reaping releases its chunks. */
	CHECK(write(go[1], "x", 1) == 1, "exit");
	waitpid(pid, NULL, 0);
	struct tta_segment seg;
	char err[256];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	CHECK(tta_reap_dead(&seg, 0, NULL, NULL) == 1, "reaped");
	tta_segment_close(&seg);
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
	z.reserved = tta_snapshot_counter(s, (unsigned)tta_counter_find("records_reserved"));
	tta_snapshot_free(s);
	CHECK(z.reserved == 0, "after the reap: %llu", (unsigned long long)z.reserved);
	tta_reader_close(r);
}

/* A process that died unreaped is judged once, however many devices it used:
 * exited_processes counts it once (and stays segment-wide under a pid
 * filter), and every one of its rows says it is not running, while rows of
 * another process placed between them (rows are in device order) say it is. */
TTA_TEST(exited_process_counted_once_across_devices)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	int ready[2], hold[2];
	CHECK(pipe(ready) == 0 && pipe(hold) == 0, "pipe");
	char c;
	/* The live one attaches first: with no reaper running, an attaching
	 * writer reclaims dead processes itself. */
	pid_t live = fork();
	CHECK(live >= 0, "fork");
	if (live == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		tta_report_alloc(0, 0x2000, 300, TTA_MEM_DRAM);
		tta_report_alloc(1, 0x2000, 400, TTA_MEM_DRAM);
		if (write(ready[1], "x", 1) != 1 || read(hold[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK(read(ready[0], &c, 1) == 1, "live writer reported");
	pid_t dead = fork();
	CHECK(dead >= 0, "fork");
	if (dead == 0) {
		tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM);
		tta_report_alloc(2, 0x1000, 200, TTA_MEM_L1);
		_exit(write(ready[1], "x", 1) == 1 ? 0 : 1); /* no detach: a crash */
	}
	CHECK(read(ready[0], &c, 1) == 1, "second writer reported");
	CHECK(waitpid(dead, NULL, 0) == dead, "second writer gone");
	tta_reader *r = open_reader();
	unsigned exited = (unsigned)tta_counter_find("exited_processes");
	for (int filtered = 0; filtered < 2; filtered++) {
		tta_snapshot *s;
		char err[256];
		CHECK(tta_snapshot_take(r, filtered ? live : 0, -1, TTA_SNAPSHOT_PROCESS_DETAILS, &s,
					err, sizeof err) == 0, "%s", err);
		CHECK_EQ_I64(tta_snapshot_counter(s, exited), 1);
		size_t rows = tta_snapshot_process_count(s), dead_rows = 0, live_rows = 0;
		for (size_t i = 0; i < rows; i++) {
			const struct tta_process_row *row = tta_snapshot_process(s, i);
			if (row->proc.pid == dead) {
				CHECK_EQ_I64(row->running, 0);
				dead_rows++;
			} else if (row->proc.pid == live) {
				CHECK_EQ_I64(row->running, 1);
				live_rows++;
			}
			CHECK(row->user[0] != '\0', "user named");
		}
		CHECK_EQ_I64(dead_rows, filtered ? 0 : 2);
		CHECK_EQ_I64(live_rows, 2);
		CHECK_EQ_I64(rows, filtered ? 2 : 4);
		if (!filtered) {
			/* device order: 0 (both, by pid), 1 (live), 2 (dead) */
			CHECK_EQ_I64(tta_snapshot_process(s, 3)->proc.pid, dead);
			CHECK_EQ_I64(tta_snapshot_process(s, 3)->device, 2);
		}
		tta_snapshot_free(s);
	}
	CHECK(write(hold[1], "x", 1) == 1, "release");
	waitpid(live, NULL, 0);
	tta_reader_close(r);
}

/* A reader that stays open (tt-smi -w, the exporter) follows the reaper: it
 * sees it running, sees it gone the moment it dies (even before its parent
 * waits for it), and sees its successor. The reader keeps a pidfd on the
 * reaper it judged alive rather than reading /proc on every snapshot. */
static pid_t start_reaper(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	CHECK(n > 0, "readlink");
	exe[n] = '\0';
	for (int i = 0; i < 2; i++) /* build/tests/test_snapshot -> build */
		*strrchr(exe, '/') = '\0';
	strncat(exe, "/tt-alloc-reaper", sizeof exe - strlen(exe) - 1);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(exe, exe, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits up to 5 s for a snapshot of R whose reaper is STATUS (and PID, if
 * not 0); returns the status last seen. */
static int await_reaper(tta_reader **r, int status, int32_t pid)
{
	int seen = -1;
	for (int i = 0; i < 500; i++) {
		char err[256];
		if (*r == NULL && tta_reader_open(NULL, r, err, sizeof err) != 0)
			*r = NULL;
		tta_snapshot *s;
		if (*r != NULL && tta_snapshot_take(*r, 0, -1, 0, &s, err, sizeof err) == 0) {
			const struct tta_segment_info *info = tta_snapshot_segment(s);
			seen = info->reaper_status;
			bool done = seen == status && (pid == 0 || info->reaper_pid == pid);
			tta_snapshot_free(s);
			if (done)
				return seen;
		}
		struct timespec ms = { .tv_nsec = 10000000 };
		nanosleep(&ms, NULL);
	}
	return seen;
}

TTA_TEST(reaper_status_followed_by_one_reader)
{
	tta_reader *r = NULL;
	pid_t first = start_reaper();
	CHECK_EQ_I64(await_reaper(&r, TTA_REAPER_RUNNING, first), TTA_REAPER_RUNNING);
	/* Dead but not yet waited for (a zombie): already gone. */
	CHECK(kill(first, SIGKILL) == 0, "kill");
	CHECK_EQ_I64(await_reaper(&r, TTA_REAPER_GONE, first), TTA_REAPER_GONE);
	CHECK(waitpid(first, NULL, 0) == first, "wait");
	pid_t second = start_reaper();
	CHECK_EQ_I64(await_reaper(&r, TTA_REAPER_RUNNING, second), TTA_REAPER_RUNNING);
	/* The same answer every time while it runs (the cached path). */
	for (int i = 0; i < 100; i++)
		CHECK_EQ_I64(await_reaper(&r, TTA_REAPER_RUNNING, second), TTA_REAPER_RUNNING);
	kill(second, SIGKILL);
	waitpid(second, NULL, 0);
	CHECK_EQ_I64(await_reaper(&r, TTA_REAPER_GONE, second), TTA_REAPER_GONE);
	tta_reader_close(r);
}

/* A process that attached but has reported on no device yet (its one
 * report named a device the segment does not have) is listed once, with
 * no device, after the device rows; a reader's very first snapshot plans
 * no device lines for it at all. */
TTA_TEST(process_on_no_device_is_one_row_after_the_devices)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	int ready[2], hold[2];
	CHECK(pipe(ready) == 0 && pipe(hold) == 0, "pipe");
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		/* First only the deviceless process is live, then both. */
		kids[i] = fork();
		CHECK(kids[i] >= 0, "fork");
		if (kids[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			char c;
			tta_report_alloc(i == 0 ? 100000u : 0u, 0x1000, 512, TTA_MEM_DRAM);
			if (write(ready[1], "x", 1) != 1 || read(hold[0], &c, 1) != 1)
				_exit(1);
			_exit(0);
		}
		char c;
		CHECK(read(ready[0], &c, 1) == 1, "writer %d reported", i);
		tta_reader *r = open_reader();
		tta_snapshot *s;
		char err[256];
		CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "%s", err);
		size_t rows = tta_snapshot_process_count(s);
		CHECK_EQ_I64(rows, i + 1);
		const struct tta_process_row *last = tta_snapshot_process(s, rows - 1);
		CHECK_EQ_I64(last->proc.pid, kids[0]);
		CHECK(last->device == TTA_NO_DEVICE, "device %u", last->device);
		CHECK_EQ_I64(last->buffers, 0);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			CHECK(last->used[t] == 0 && last->peak[t] == 0, "type %u in use", t);
		if (i == 1) {
			const struct tta_process_row *first = tta_snapshot_process(s, 0);
			CHECK_EQ_I64(first->proc.pid, kids[1]);
			CHECK_EQ_I64(first->device, 0);
			CHECK_EQ_I64(first->used[TTA_MEM_DRAM], 512);
		}
		CHECK_EQ_I64(tta_snapshot_counter(s, (unsigned)tta_counter_find("live_processes")),
			     i + 1);
		tta_snapshot_free(s);
		tta_reader_close(r);
	}
	for (int i = 0; i < 2; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
}

/* Forks short-lived writers until SIGTERM: each reports on devices 0..2 and
 * exits at once, and the next one's attach reaps it, so slots keep going
 * and coming back (a new generation, another pid) under the reader. On
 * SIGTERM it waits for every writer it forked before it exits: a writer
 * left running after the case would create the case's segment anew once
 * the harness has removed it. */
static volatile sig_atomic_t spawner_stop;

static void spawner_on_term(int sig)
{
	(void)sig;
	spawner_stop = 1;
}

static pid_t start_spawner(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGCHLD, SIG_IGN); /* no zombies: an exited writer is dead at once */
	signal(SIGTERM, spawner_on_term);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t self = getpid();
	for (uint64_t n = 1; !spawner_stop; n++) {
		pid_t k = fork();
		if (k == 0) {
			/* Dies with the spawner if a failed check takes it down. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(0);
			for (uint32_t d = 0; d < 3; d++)
				tta_report_alloc(d, 0x1000 * n, 4096, TTA_MEM_DRAM);
			_exit(0);
		}
		if (k < 0)
			usleep(1000);
	}
	/* With SIGCHLD ignored, wait() returns once every child has exited. */
	while (wait(NULL) >= 0 || errno == EINTR)
		;
	_exit(0);
}

static void stop_spawner(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* While processes attach, exit and are reaped under it, every snapshot
 * still holds whole processes only: rows sorted by (device, pid, slot), each
 * of a live process, a process's rows agreeing on who it is, device totals
 * equal to their rows, and live_processes equal to the processes listed.
 * Some processes must have been dropped mid-read for the case to count. */
TTA_TEST(processes_dropped_mid_read_leave_no_trace)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t churn = start_churner(21);
	tta_reader *r = open_when_attached(1);
	pid_t spawner = start_spawner();
	unsigned live_id = (unsigned)tta_counter_find("live_processes");
	uint64_t snapshots = 0, rows_seen = 0;
	uint64_t deadline = tta_now_mono_ns() + 20000000000ull;
	while ((snapshots < 3000 || r->processes_dropped < 20) && tta_now_mono_ns() < deadline) {
		tta_snapshot *s;
		char err[256];
		unsigned flags = snapshots % 4 == 0 ? TTA_SNAPSHOT_PROCESS_DETAILS : 0;
		CHECK(tta_snapshot_take(r, 0, -1, flags, &s, err, sizeof err) == 0, "%s", err);
		snapshots++;
		size_t n = tta_snapshot_process_count(s);
		rows_seen += n;
		uint64_t distinct = 0;
		for (size_t j = 0; j < n; j++) {
			const struct tta_process_row *row = tta_snapshot_process(s, j);
			CHECK(row->proc.state == TTA_SLOT_LIVE, "row %zu: state %d", j, row->proc.state);
			CHECK(row->proc.pid > 0, "row %zu: pid %d", j, row->proc.pid);
			if (flags)
				CHECK(row->running >= -1 && row->running <= 1 && row->user[0] != '\0',
				      "row %zu: running %d user '%s'", j, row->running, row->user);
			if (j > 0) {
				const struct tta_process_row *prev = tta_snapshot_process(s, j - 1);
				CHECK(prev->device < row->device ||
					      (prev->device == row->device &&
					       (prev->proc.pid < row->proc.pid ||
						(prev->proc.pid == row->proc.pid &&
						 prev->proc.slot < row->proc.slot))),
				      "rows %zu and %zu out of order", j - 1, j);
			}
			bool first = true;
			for (size_t i = 0; i < j; i++) {
				const struct tta_process_row *o = tta_snapshot_process(s, i);
				if (o->proc.slot != row->proc.slot)
					continue;
				first = false;
				CHECK(o->proc.pid == row->proc.pid &&
					      o->proc.generation == row->proc.generation &&
					      o->proc.start_time == row->proc.start_time,
				      "slot %u: two identities in one snapshot", row->proc.slot);
			}
			distinct += first;
		}
		CHECK_EQ_I64(distinct, tta_snapshot_counter(s, live_id));
		for (size_t i = 0; i < tta_snapshot_device_count(s); i++) {
			const struct tta_device_view *d = tta_snapshot_device(s, i);
			int64_t sum[TTA_MEM_TYPES] = { 0 };
			uint32_t procs = 0;
			for (size_t j = 0; j < n; j++) {
				const struct tta_process_row *row = tta_snapshot_process(s, j);
				if (row->device != d->id)
					continue;
				for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
					sum[t] += row->used[t];
				procs++;
			}
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				CHECK_EQ_I64(sum[t], d->used[t]);
			CHECK_EQ_I64(procs, d->processes);
		}
		tta_snapshot_free(s);
	}
	stop_spawner(spawner);
	stop(churn);
	CHECK(r->processes_dropped > 0,
	      "no process was dropped mid-read in %" PRIu64 " snapshots (%" PRIu64 " rows)",
	      snapshots, rows_seen);
	tta_reader_close(r);
}

TTA_TEST_MAIN(TTA_CASE(totals_equal_rows_under_churn),
	      TTA_CASE(truncated_segment_is_an_error_not_a_crash),
	      TTA_CASE(replaced_and_removed_segments_are_reported),
	      TTA_CASE(process_liveness_is_pid_and_start_time), TTA_CASE(counters_iterate_by_name),
	      TTA_CASE(bad_snapshot_arguments_are_refused),
	      TTA_CASE(device_totals_match_the_device_view),
	      TTA_CASE(records_reserved_follows_claims_and_releases),
	      TTA_CASE(exited_process_counted_once_across_devices),
	      TTA_CASE(reaper_status_followed_by_one_reader),
	      TTA_CASE(process_on_no_device_is_one_row_after_the_devices),
	      TTA_CASE(processes_dropped_mid_read_leave_no_trace))
