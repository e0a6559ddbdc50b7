/*
 * test_reaper.c - tt-alloc-reaper against slots the shell test cannot make:
 * a live process whose slot start time does not match (a reused pid),
 * abandoned claims, foreign pid namespaces, untrusted pids, hostile strings;
 * plus its registration in the header and the SIGKILL-to-exact latency.
 *
 * Everything runs for real: the reaper binary and helper writers are
 * exec'd (with PR_SET_PDEATHSIG so a failing case leaves nothing behind),
 * and the segment is manipulated through a read-write mapping the way a
 * buggy or hostile writer could.
 */
#include <ck_pr.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "tt-alloc/reader.h"
#include "tta_segment.h"
#include "tta_test.h"

static char build_dir[PATH_MAX];

static void find_build_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", build_dir, sizeof build_dir - 1);
	CHECK(n > 0, "readlink /proc/self/exe");
	build_dir[n] = '\0';
	for (int i = 0; i < 2; i++) { /* BUILD/tests/test_reaper -> BUILD */
		char *slash = strrchr(build_dir, '/');
		CHECK(slash != NULL, "odd path %s", build_dir);
		*slash = '\0';
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Forks and execs ARGV with stdout/stderr on the given fds (-1: inherit). */
static pid_t spawn(char *const argv[], bool tracking, int out_fd, int err_fd)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		setenv("TT_ALLOC_TRACKING_ENABLED", tracking ? "1" : "0", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* ---- the reaper's log: an unlinked temp file we keep an fd to ---- */

static int log_fd = -1;

static void open_log(void)
{
	char path[] = "/tmp/tta-reaper-log.XXXXXX";
	log_fd = mkstemp(path);
	CHECK(log_fd >= 0, "mkstemp");
	unlink(path);
}

static char *read_log(void)
{
	static char buf[1 << 20];
	ssize_t n = pread(log_fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int log_count(const char *needle)
{
	int n = 0;
	for (const char *p = read_log(); (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static bool wait_log(const char *needle, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		if (log_count(needle) > 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

/* ---- segment access ---- */

static struct tta_segment seg;

static void open_segment_rw(void)
{
	char err[TTA_ERR_MAX];
	struct tta_create_params params;
	CHECK(tta_create_params_from_env(&params, err, sizeof err) == 0, "%s", err);
	int rc = tta_segment_open(NULL, TTA_OPEN_CREATE, &params, &seg, err, sizeof err);
	CHECK(rc == 0, "open: %s", err);
}

static uint64_t slot_state(uint32_t slot)
{
	return ck_pr_load_64(&tta_slot_at(&seg, slot)->state);
}

static int64_t find_live_slot(pid_t pid)
{
	for (uint32_t i = 0; i < seg.geo.slot_capacity; i++) {
		uint64_t st = slot_state(i);
		if (TTA_SLOT_PHASE(st) == TTA_SLOT_LIVE && TTA_SLOT_PID(st) == pid)
			return i;
	}
	return -1;
}

static bool wait_state_changes(uint32_t slot, uint64_t from, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 5) {
		if (slot_state(slot) != from)
			return true;
		sleep_ms(5);
	}
	return false;
}

static void wake_reaper(void)
{
	struct tta_header *h = tta_hdr(&seg);
	ck_pr_inc_32(&h->registry_seq);
	syscall(SYS_futex, &h->registry_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Puts a made-up process into a free slot, as a writer's claim would, with
 * BUFFERS dram buffers of BYTES in total on device 0 (counters only).
 * *STATE gets the planted state word (read it here: a reaper may act at once). */
static uint32_t plant_slot(unsigned phase, int32_t pid, uint64_t start_time, uint64_t pidns,
			   const char *comm, uint64_t buffers, uint64_t bytes, uint64_t *state)
{
	for (uint32_t i = 0; i < seg.geo.slot_capacity; i++) {
		struct tta_slot *s = tta_slot_at(&seg, i);
		uint64_t st = ck_pr_load_64(&s->state);
		if (TTA_SLOT_PHASE(st) != TTA_SLOT_FREE)
			continue;
		uint32_t gen = TTA_SLOT_GEN(st) + 1;
		if (!ck_pr_cas_64(&s->state, st, TTA_SLOT_STATE(TTA_SLOT_CLAIMED, pid, gen)))
			continue;
		ck_pr_store_64(&s->start_time, start_time);
		ck_pr_store_64(&s->pidns_ino, pidns);
		s->uid = (uint32_t)getuid();
		char raw[sizeof s->comm] = { 0 };
		memcpy(raw, comm, strnlen(comm, sizeof raw)); /* all 16 used: no NUL */
		memcpy(s->comm, raw, sizeof raw);
		snprintf(s->cmdline, sizeof s->cmdline, "planted by test_reaper");
		struct tta_counter_line *c = tta_counter_at(&seg, i, 0);
		ck_pr_store_64(&c->buffers, buffers);
		ck_pr_store_64(&c->bytes[TTA_LAYOUT_DRAM], bytes);
		*state = TTA_SLOT_STATE(TTA_SLOT_CLAIMED, pid, gen);
		if (phase == TTA_SLOT_LIVE) {
			*state = TTA_SLOT_STATE(TTA_SLOT_LIVE, pid, gen);
			ck_pr_fence_store();
			ck_pr_store_64(&s->state, *state);
			ck_pr_or_uint(&tta_live_slot_words(&seg)[i / 32], 1u << (i % 32));
			wake_reaper();
		}
		return i;
	}
	CHECK(false, "no free slot to plant into");
	return 0;
}

/* A pid that certainly names no process now. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* ---- processes under test ---- */

static pid_t reaper_pid_now(void)
{
	return (pid_t)ck_pr_load_64(&tta_hdr(&seg)->reaper.pid);
}

static pid_t start_reaper(void)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/tt-alloc-reaper", build_dir);
	char *argv[] = { path, "-v", "--scan-interval", "200", NULL };
	pid_t pid = spawn(argv, false, -1, log_fd);
	for (int t = 0; t < 1000 && reaper_pid_now() != pid; t++)
		sleep_ms(10);
	CHECK(reaper_pid_now() == pid, "reaper %d never registered (field %d)", (int)pid,
	      (int)reaper_pid_now());
	return pid;
}

static int stop_reaper(pid_t pid, int sig)
{
	kill(pid, sig);
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid reaper");
	return status;
}

/* Starts helper_reaper_writer hold N 1 SIZE; returns once it said ready. */
static pid_t start_writer(unsigned buffers, unsigned size)
{
	char path[PATH_MAX + 32], nb[16], sz[16];
	snprintf(path, sizeof path, "%s/tests/helper_reaper_writer", build_dir);
	snprintf(nb, sizeof nb, "%u", buffers);
	snprintf(sz, sizeof sz, "%u", size);
	char *argv[] = { path, "hold", nb, "1", sz, NULL };
	int pipefd[2];
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	pid_t pid = spawn(argv, true, pipefd[1], -1);
	close(pipefd[1]);
	char line[256] = "";
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1, "writer %d never said ready", (int)pid);
	ssize_t n = read(pipefd[0], line, sizeof line - 1);
	close(pipefd[0]);
	CHECK(n > 0 && strncmp(line, "ready", 5) == 0, "writer said '%s'", n > 0 ? line : "");
	return pid;
}

static bool alive_child(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0 && kill(pid, 0) == 0;
}

static void totals(int64_t *buffers, int64_t *bytes)
{
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	*buffers = *bytes = 0;
	for (uint32_t d = 0; d < tta_reader_device_capacity(r); d++) {
		struct tta_device_view v;
		CHECK(tta_reader_device(r, d, &v) == 0, "device %u", d);
		*buffers += v.buffers;
		for (int t = 0; t < TTA_MEM_TYPES; t++)
			*bytes += v.used[t];
	}
	tta_reader_close(r);
}

static void setup(void)
{
	find_build_dir();
	open_log();
	open_segment_rw();
}

/* ------------------------------------------------------------------------ */

/* A live process whose slot start time is not its own: the pid was reused,
 * the slot's owner is dead. Planted before the reaper starts. */
TTA_TEST(reaps_reused_pid_at_start)
{
	setup();
	pid_t w = start_writer(3, 4096);
	int64_t slot = find_live_slot(w);
	CHECK(slot >= 0, "writer %d has no live slot", (int)w);
	uint64_t state = slot_state((uint32_t)slot);
	struct tta_slot *s = tta_slot_at(&seg, (uint32_t)slot);
	ck_pr_store_64(&s->start_time, ck_pr_load_64(&s->start_time) + 7);

	pid_t r = start_reaper();
	CHECK(wait_state_changes((uint32_t)slot, state, 10000), "slot never reaped");
	CHECK(alive_child(w), "the reaper must not touch a live process");
	char needle[128];
	snprintf(needle, sizeof needle, "reaped pid %d (helper_reaper_w) slot %d: is gone (its pid now belongs to another process)",
		 (int)w, (int)slot);
	CHECK(wait_log(needle, 5000), "no '%s' in:\n%s", needle, read_log());
	snprintf(needle, sizeof needle, "leak report: pid %d (helper_reaper_w)", (int)w);
	CHECK_EQ_I64(log_count(needle), 1);
	int64_t buffers, bytes;
	totals(&buffers, &bytes);
	CHECK_EQ_I64(buffers, 0);
	CHECK_EQ_I64(bytes, 0);
	CHECK(find_live_slot(w) < 0, "still a live slot");
	int status = stop_reaper(r, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reaper status %d", status);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
}

/* The same, with the start time rewritten after the reaper verified and
 * watched the slot: the periodic rescan notices. */
TTA_TEST(reaps_reused_pid_while_watched)
{
	setup();
	pid_t r = start_reaper();
	pid_t w = start_writer(2, 100);
	char needle[128];
	snprintf(needle, sizeof needle, "watching pid %d ", (int)w);
	CHECK(wait_log(needle, 5000), "reaper never watched the writer:\n%s", read_log());
	int64_t slot = find_live_slot(w);
	CHECK(slot >= 0, "no live slot");
	uint64_t state = slot_state((uint32_t)slot);
	struct tta_slot *s = tta_slot_at(&seg, (uint32_t)slot);
	ck_pr_store_64(&s->start_time, ck_pr_load_64(&s->start_time) - 1);
	CHECK(wait_state_changes((uint32_t)slot, state, 10000), "slot never reaped");
	CHECK(alive_child(w), "writer must still run");
	snprintf(needle, sizeof needle, "leak report: pid %d ", (int)w);
	CHECK(wait_log(needle, 5000), "no leak report:\n%s", read_log());
	CHECK_EQ_I64(log_count(needle), 1);
	stop_reaper(r, SIGTERM);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
}

/* Registration: pid, start time, heartbeat; a SIGKILLed reaper's stale entry
 * is taken over; SIGTERM clears only an entry that is still its own. */
TTA_TEST(registration_heartbeat_takeover)
{
	setup();
	struct tta_reaper_reg *st = &tta_hdr(&seg)->reaper;
	pid_t r = start_reaper();
	uint64_t start = 0;
	CHECK(tta_proc_start_time(r, &start) == 0, "start time of reaper");
	CHECK_EQ_I64(ck_pr_load_64(&st->start_time), start);
	uint64_t hb1 = ck_pr_load_64(&st->heartbeat_ns);
	sleep_ms(700);
	uint64_t hb2 = ck_pr_load_64(&st->heartbeat_ns);
	CHECK(hb2 > hb1, "heartbeat did not advance (%llu -> %llu)", (unsigned long long)hb1,
	      (unsigned long long)hb2);
	CHECK(hb2 <= tta_now_mono_ns(), "heartbeat is CLOCK_MONOTONIC");

	int status = stop_reaper(r, SIGKILL);
	CHECK(WIFSIGNALED(status), "reaper survived SIGKILL?");
	CHECK_EQ_I64(reaper_pid_now(), r); /* stale until the next one starts */
	pid_t r2 = start_reaper();
	char needle[96];
	snprintf(needle, sizeof needle, "previous reaper (pid %d) is gone; taking over", (int)r);
	CHECK(wait_log(needle, 2000), "no takeover line:\n%s", read_log());
	status = stop_reaper(r2, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	CHECK_EQ_I64(reaper_pid_now(), 0);

	/* Someone else took the registration: SIGTERM must leave it alone. */
	pid_t r3 = start_reaper();
	ck_pr_store_64(&st->pid, (uint64_t)getpid());
	CHECK(wait_log("took over the reaper registration", 3000), "no warning:\n%s", read_log());
	status = stop_reaper(r3, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	CHECK_EQ_I64(reaper_pid_now(), getpid());
}

/* Claims abandoned mid-attach (with and without identity written) and a
 * slot whose owner died are found by the rescan alone. */
TTA_TEST(reaps_abandoned_claims)
{
	setup();
	pid_t r = start_reaper();
	pid_t d1 = dead_pid(), d2 = dead_pid(), d3 = dead_pid();
	uint64_t ns = tta_self_pidns_ino();
	uint64_t sa, sb, sc;
	uint32_t a = plant_slot(TTA_SLOT_CLAIMED, d1, 4242, ns, "claimer", 0, 0, &sa);
	uint32_t b = plant_slot(TTA_SLOT_CLAIMED, d2, 0, 0, "early", 0, 0, &sb);
	uint32_t c = plant_slot(TTA_SLOT_LIVE, d3, 4243, ns, "leaker", 2, 5000, &sc);
	CHECK(wait_state_changes(c, sc, 5000), "dead live slot not reaped:\n%s", read_log());
	CHECK(wait_state_changes(a, sa, 5000), "abandoned claim with identity not reaped");
	CHECK(wait_state_changes(b, sb, 10000), "abandoned claim without identity not reaped");
	char needle[128];
	snprintf(needle, sizeof needle, "reaped pid %d (claimer) slot %u: died while attaching", (int)d1, a);
	CHECK(wait_log(needle, 2000), "no '%s' in:\n%s", needle, read_log());
	snprintf(needle, sizeof needle, "leak report: pid %d (leaker) uid %u slot %u: left 2 buffers, 4.9KiB (5000 bytes) on 1 device",
		 (int)d3, (unsigned)getuid(), c);
	CHECK(wait_log(needle, 2000), "no '%s' in:\n%s", needle, read_log());
	snprintf(needle, sizeof needle, "leak pid %d: 2 allocations had no buffer record", (int)d3);
	CHECK(log_count(needle) == 1, "records/buffers mismatch not reported:\n%s", read_log());
	int64_t buffers, bytes;
	totals(&buffers, &bytes);
	CHECK_EQ_I64(buffers, 0);
	CHECK_EQ_I64(bytes, 0);
	stop_reaper(r, SIGTERM);
}

/* Slots of another pid namespace are not ours to judge: left alone, and
 * said so once, however many rescans pass. */
TTA_TEST(leaves_foreign_namespace_alone)
{
	setup();
	pid_t gone = dead_pid();
	uint64_t foreign = tta_self_pidns_ino() + 1;
	uint64_t state;
	uint32_t s = plant_slot(TTA_SLOT_LIVE, gone, 99, foreign, "container", 1, 64, &state);
	pid_t r = start_reaper();
	sleep_ms(1500); /* about 7 rescans */
	CHECK_EQ_I64(slot_state(s), state);
	CHECK_EQ_I64(log_count("lives in pid namespace"), 1);
	CHECK(strstr(read_log(), "(1 watched") == NULL && strstr(read_log(), "1 not watchable from here"),
	      "startup summary:\n%s", read_log());
	int status = stop_reaper(r, SIGTERM);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
	CHECK_EQ_I64(slot_state(s), state);
}

/* pid 0 and pid 1 are never watched; pid 1 with init's real start time is
 * alive and stays; strings from the segment cannot forge log lines. */
TTA_TEST(untrusted_values)
{
	setup();
	uint64_t init_start = 0;
	CHECK(tta_proc_start_time(1, &init_start) == 0, "cannot read /proc/1/stat");
	uint64_t ns = tta_self_pidns_ino();
	uint64_t st1, st0, ste;
	uint32_t s1 = plant_slot(TTA_SLOT_LIVE, 1, init_start, ns, "init?", 0, 0, &st1);
	uint32_t s0 = plant_slot(TTA_SLOT_LIVE, 0, 1, ns, "zero", 0, 0, &st0);
	pid_t gone = dead_pid();
	char evil[16];
	memcpy(evil, "a\nleak report: \x1b[", 16); /* no NUL, a newline, an escape */
	uint32_t se = plant_slot(TTA_SLOT_LIVE, gone, 5, ns, evil, 1, 10, &ste);
	pid_t r = start_reaper();
	CHECK(wait_state_changes(se, ste, 5000), "dead slot with a hostile name not reaped");
	sleep_ms(800);
	CHECK_EQ_I64(slot_state(s1), st1);
	CHECK_EQ_I64(slot_state(s0), st0);
	CHECK(log_count("claims pid 1: not a process the reaper will watch") == 1, "\n%s", read_log());
	CHECK(log_count("claims pid 0:") == 1, "\n%s", read_log());
	const char *log = read_log();
	CHECK(strchr(log, '\x1b') == NULL, "escape reached the log");
	char needle[96];
	snprintf(needle, sizeof needle, "leak report: pid %d (a?leak report: ) ", (int)gone);
	CHECK(log_count(needle) == 1, "sanitized name not found:\n%s", log);
	CHECK(log_count("\nleak report: \x1b") == 0 && log_count("\nleak report: ?[") == 0,
	      "forged line");
	CHECK(kill(r, 0) == 0, "reaper died");
	stop_reaper(r, SIGTERM);
}

static pid_t sleeper_tid;

static void *sleeper(void *arg)
{
	(void)arg;
	__atomic_store_n(&sleeper_tid, gettid(), __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

/* A slot whose pid now names a thread of another process (pidfd_open says
 * EINVAL): the owner is gone, the slot is reaped, the thread is untouched. */
TTA_TEST(reaps_slot_naming_a_thread)
{
	setup();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, sleeper, NULL) == 0, "pthread_create");
	while (__atomic_load_n(&sleeper_tid, __ATOMIC_ACQUIRE) == 0)
		sleep_ms(1);
	pid_t tid = sleeper_tid;
	CHECK(tid != getpid(), "not a separate thread");
	pid_t r = start_reaper(); /* first, so the wake-up path meets the slot */
	uint64_t state;
	uint32_t s = plant_slot(TTA_SLOT_LIVE, tid, 5, tta_self_pidns_ino(), "threadpid", 1, 8, &state);
	CHECK(wait_state_changes(s, state, 5000), "slot naming a thread not reaped:\n%s", read_log());
	char needle[128];
	snprintf(needle, sizeof needle, "reaped pid %d (threadpid) slot %u: is gone (its pid now belongs to another process)",
		 (int)tid, s);
	CHECK(wait_log(needle, 2000), "no '%s' in:\n%s", needle, read_log());
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d", (int)getpid(), (int)tid);
	CHECK(access(path, F_OK) == 0, "thread %d gone", (int)tid);
	CHECK(log_count("cannot watch pid") == 0, "thread pid taken for a pidfd failure:\n%s",
	      read_log());
	stop_reaper(r, SIGTERM);
}

/* Informational: SIGKILL of a watched writer to exact totals, measured by
 * polling the reader API in-process. Asserts only a generous bound. */
TTA_TEST(latency_sigkill_to_exact)
{
	setup();
	pid_t r = start_reaper();
	enum { ROUNDS = 20 };
	double sum_ms = 0, max_ms = 0;
	tta_reader *rd;
	char err[256];
	for (int i = 0; i < ROUNDS; i++) {
		pid_t w = start_writer(4, 1000);
		char needle[64];
		snprintf(needle, sizeof needle, "watching pid %d ", (int)w);
		CHECK(wait_log(needle, 5000), "not watched:\n%s", read_log());
		CHECK(tta_reader_open(NULL, &rd, err, sizeof err) == 0, "%s", err);
		uint64_t t0 = tta_now_mono_ns();
		kill(w, SIGKILL);
		struct tta_device_view v;
		uint64_t t1;
		for (;;) {
			CHECK(tta_reader_device(rd, 0, &v) == 0, "device 0");
			t1 = tta_now_mono_ns();
			if (v.buffers == 0 && v.used[TTA_MEM_DRAM] == 0 && v.used[TTA_MEM_L1] == 0)
				break;
			CHECK(t1 - t0 < 10ull * 1000000000ull, "not exact after 10 s");
			struct timespec ts = { .tv_nsec = 20000 };
			nanosleep(&ts, NULL);
		}
		tta_reader_close(rd);
		waitpid(w, NULL, 0);
		double ms = (double)(t1 - t0) / 1e6;
		sum_ms += ms;
		if (ms > max_ms)
			max_ms = ms;
	}
	printf("INFO latency SIGKILL -> totals exact: mean %.3f ms, max %.3f ms over %d kills\n",
	       sum_ms / ROUNDS, max_ms, ROUNDS);
	fflush(stdout);
	stop_reaper(r, SIGTERM);
}

static int reaper_status_now(int32_t *pid)
{
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(tta_test_segment, &r, err, sizeof err) == 0, "%s", err);
	tta_snapshot *snap;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &snap, err, sizeof err) == 0, "%s", err);
	int status = tta_snapshot_segment(snap)->reaper_status;
	*pid = tta_snapshot_segment(snap)->reaper_pid;
	tta_snapshot_free(snap);
	tta_reader_close(r);
	return status;
}

/* Liveness from the heartbeat: a reaper that is SIGSTOPped reaps nothing, so
 * readers must call it stalled (not running) within TTA_REAPER_STALL_MS plus
 * a heartbeat, and a new reaper takes its registration over. */
TTA_TEST(stopped_reaper_is_stalled_and_replaced)
{
	setup();
	pid_t r1 = start_reaper();
	int32_t pid = 0;
	CHECK_EQ_I64(reaper_status_now(&pid), TTA_REAPER_RUNNING);
	CHECK_EQ_I64(pid, r1);
	CHECK(kill(r1, SIGSTOP) == 0, "SIGSTOP");
	int status = TTA_REAPER_RUNNING;
	for (int t = 0; t < 100 && status == TTA_REAPER_RUNNING; t++) {
		sleep_ms(100);
		status = reaper_status_now(&pid);
	}
	CHECK_EQ_I64(status, TTA_REAPER_STALLED);
	CHECK_EQ_I64(pid, r1);
	/* A second reaper refuses a running one but takes over a stalled one. */
	pid_t r2 = start_reaper();
	char needle[128];
	snprintf(needle, sizeof needle, "previous reaper (pid %d) is stalled", (int)r1);
	CHECK(wait_log(needle, 2000), "no takeover line:\n%s", read_log());
	CHECK_EQ_I64(reaper_status_now(&pid), TTA_REAPER_RUNNING);
	CHECK_EQ_I64(pid, r2);
	/* Dead slots are reaped again while the old reaper is still stopped. */
	uint64_t ns = tta_self_pidns_ino(), st;
	uint32_t slot = plant_slot(TTA_SLOT_LIVE, dead_pid(), 4244, ns, "orphan", 1, 100, &st);
	CHECK(wait_state_changes(slot, st, 5000), "the new reaper reaps:\n%s", read_log());
	kill(r1, SIGCONT);
	stop_reaper(r2, SIGTERM);
	stop_reaper(r1, SIGTERM);
	tta_segment_close(&seg);
}

TTA_TEST_MAIN(TTA_CASE(reaps_reused_pid_at_start), TTA_CASE(stopped_reaper_is_stalled_and_replaced), TTA_CASE(reaps_reused_pid_while_watched),
	      TTA_CASE(registration_heartbeat_takeover), TTA_CASE(reaps_abandoned_claims),
	      TTA_CASE(leaves_foreign_namespace_alone), TTA_CASE(untrusted_values),
	      TTA_CASE(reaps_slot_naming_a_thread),
	      TTA_CASE(latency_sigkill_to_exact))
