/*
 * test_events.c - the event ring: what writers record and in which order,
 * what a reader that falls behind learns, the reap event of a SIGKILLed
 * writer under the real tt-alloc-reaper, and hostile rings (torn entries,
 * forged positions and stamps) that must never crash, hang or mislead a
 * reader.
 */
#include <ck_pr.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/prctl.h>
#include <time.h>

#include "tt-alloc/events.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "tta_segment.h"
#include "tta_test.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static tta_reader *reader;

static tta_event_cursor *cursor(enum tta_events_start start)
{
	char err[256];
	if (reader == NULL)
		CHECK(tta_reader_open(NULL, &reader, err, sizeof err) == 0, "%s", err);
	tta_event_cursor *c;
	CHECK(tta_events_open(reader, start, &c, err, sizeof err) == 0, "%s", err);
	CHECK(tta_events_available(c) == 1, "segment has a ring");
	return c;
}

/* Up to MAX events now available (no waiting); *MISSED sums what was lost. */
static size_t drain(tta_event_cursor *c, struct tta_event *out, size_t max, uint64_t *missed)
{
	size_t n = 0;
	*missed = 0;
	for (;;) {
		const struct tta_event *e;
		uint64_t m = 0;
		int rc = tta_events_next(c, &e, &m);
		CHECK(rc >= 0, "next: %d", rc);
		*missed += m;
		if (rc == 0)
			return n;
		if (n < max)
			out[n] = *e;
		n++;
	}
}

static void enable(bool events)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	setenv("TT_ALLOC_EVENTS", events ? "1" : "0", 1);
}

/* Every kind, in order, with its fields; and the text and JSON forms. */
TTA_TEST(events_in_order_with_fields)
{
	enable(true);
	tta_report_alloc(0, 0x800000000ull, 524288, TTA_MEM_DRAM); /* attaches: creates the segment */
	tta_event_cursor *c = cursor(TTA_EVENTS_OLDEST);
	tta_report_cb_alloc(1, 7, 65536);
	tta_report_kernel_load(1, 3, 12288, TTA_KERNEL_DISPATCH);
	tta_report_kernel_load(1, 3, 12288, TTA_KERNEL_DISPATCH); /* unchanged reload: no event */
	tta_handle h = tta_report_alloc_handle(2, 0x4000, 100, TTA_MEM_L1_SMALL);
	tta_report_free_handle(h);
	tta_report_free(0, 0x800000000ull);
	tta_report_cb_free(1, 7);
	tta_report_free(0, 0x1234); /* unknown: no event */
	tta_track_detach();
	struct tta_event ev[16];
	uint64_t missed;
	size_t n = drain(c, ev, 16, &missed);
	CHECK_EQ_I64(missed, 0);
	CHECK_EQ_I64(n, 9);
	const struct {
		unsigned kind;
		uint32_t device, type;
		uint64_t address, size;
	} want[] = {
		{ TTA_EVENT_ATTACH, TTA_NO_DEVICE, UINT32_MAX, 0, 0 },
		{ TTA_EVENT_ALLOC, 0, TTA_MEM_DRAM, 0x800000000ull, 524288 },
		{ TTA_EVENT_CB_ALLOC, 1, TTA_MEM_CB, 7, 65536 },
		{ TTA_EVENT_KERNEL_LOAD, 1, TTA_MEM_KERNEL, 3, 12288 },
		{ TTA_EVENT_ALLOC, 2, TTA_MEM_L1_SMALL, 0x4000, 100 },
		{ TTA_EVENT_FREE, 2, TTA_MEM_L1_SMALL, 0x4000, 100 },
		{ TTA_EVENT_FREE, 0, TTA_MEM_DRAM, 0x800000000ull, 524288 },
		{ TTA_EVENT_CB_FREE, 1, TTA_MEM_CB, 7, 65536 },
		{ TTA_EVENT_EXIT, TTA_NO_DEVICE, UINT32_MAX, 0, 0 },
	};
	uint64_t now = tta_now_realtime_ns();
	for (size_t i = 0; i < n; i++) {
		CHECK(ev[i].kind == want[i].kind && ev[i].device == want[i].device &&
			      ev[i].type == want[i].type && ev[i].address == want[i].address &&
			      ev[i].size == want[i].size && ev[i].pid == getpid(),
		      "event %zu: kind %u device %u type %u address 0x%llx size %llu pid %d", i,
		      ev[i].kind, ev[i].device, ev[i].type, (unsigned long long)ev[i].address,
		      (unsigned long long)ev[i].size, ev[i].pid);
		CHECK(i == 0 || ev[i].seq == ev[i - 1].seq + 1, "consecutive positions");
		CHECK(ev[i].realtime_ns <= now + 20000000ull && ev[i].realtime_ns + 60 * 1000000000ull > now,
		      "time %llu vs now %llu", (unsigned long long)ev[i].realtime_ns,
		      (unsigned long long)now);
		CHECK(i == 0 || ev[i].realtime_ns >= ev[i - 1].realtime_ns, "time order");
	}
	CHECK_EQ_I64(ev[3].kernel_kind, TTA_KERNEL_DISPATCH);
	char line[256], expect[256];
	snprintf(expect, sizeof expect,
		 "[Device 0] ALLOC: 524288 bytes DRAM by PID %d (buffer 0x800000000)", (int)getpid());
	CHECK(strcmp(tta_event_format(&ev[1], line, sizeof line), expect) == 0, "text: %s", line);
	snprintf(expect, sizeof expect,
		 "[Device 1] KERNEL_LOAD: 12288 bytes KERNEL (dispatch) by PID %d (kernel 0x3)",
		 (int)getpid());
	CHECK(strcmp(tta_event_format(&ev[3], line, sizeof line), expect) == 0, "text: %s", line);
	snprintf(expect, sizeof expect, "EXIT: PID %d detached (slot %u)", (int)getpid(), ev[8].slot);
	CHECK(strcmp(tta_event_format(&ev[8], line, sizeof line), expect) == 0, "text: %s", line);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	tta_event_write_json(&ev[2], mem);
	tta_event_write_json(&ev[0], mem);
	fclose(mem);
	snprintf(expect, sizeof expect,
		 "\"seq\": %llu, \"event\": \"cb_alloc\", \"pid\": %d, \"slot\": %u, \"device\": 1, "
		 "\"type\": \"cb\", \"address\": 7, \"size\": 65536}\n{\"t\": ",
		 (unsigned long long)ev[2].seq, (int)getpid(), ev[2].slot);
	CHECK(strstr(text, expect) != NULL && strstr(text, "\"event\": \"attach\"") &&
		      strstr(text, "\"device\": null, \"type\": null, \"address\": null, \"size\": null}"),
	      "JSON:\n%s", text);
	free(text);
	CHECK(strcmp(tta_event_kind_name(TTA_EVENT_KERNEL_LOAD), "kernel_load") == 0 &&
		      tta_event_kind_name(0) == NULL && tta_event_kind_name(TTA_EVENT_KINDS) == NULL,
	      "kind names");
	tta_events_close(c);
}

/* Per-report events are opt-in; attach and exit are always recorded. */
TTA_TEST(per_report_events_need_the_switch)
{
	enable(false);
	tta_report_alloc(0, 0x10, 1, TTA_MEM_DRAM);
	tta_event_cursor *c = cursor(TTA_EVENTS_OLDEST);
	tta_report_free(0, 0x10);
	tta_report_cb_alloc(0, 1, 2);
	tta_track_detach();
	struct tta_event ev[8];
	uint64_t missed;
	size_t n = drain(c, ev, 8, &missed);
	CHECK(n == 2 && ev[0].kind == TTA_EVENT_ATTACH && ev[1].kind == TTA_EVENT_EXIT,
	      "%zu events, first kind %u", n, n ? ev[0].kind : 0);
	tta_events_close(c);
}

/* With many buffers live, libtrack keeps its newest allocations in a ring in
 * front of the table; a free that finds its buffer there is an event like
 * any other, with the size and type of what it freed (buffers and CBs). */
TTA_TEST(young_frees_among_many_live_are_events)
{
	enable(true);
	enum { LIVE = 200000 };
	for (uint64_t i = 0; i < LIVE; i++) /* 25k a shard: the ring is on */
		tta_report_alloc(0, 0x100000000ull + (i << 12), 4096, TTA_MEM_DRAM);
	tta_event_cursor *c = cursor(TTA_EVENTS_NOW);
	tta_report_alloc(0, 0x900000000ull, 1234, TTA_MEM_L1);
	tta_report_free(0, 0x900000000ull);
	tta_report_cb_alloc(0, 77, 4321);
	tta_report_cb_free(0, 77);
	struct tta_event ev[8];
	uint64_t missed;
	size_t n = drain(c, ev, 8, &missed);
	CHECK(n == 4 && missed == 0, "%zu events, %llu missed", n, (unsigned long long)missed);
	CHECK(ev[0].kind == TTA_EVENT_ALLOC && ev[1].kind == TTA_EVENT_FREE, "kinds %u %u",
	      ev[0].kind, ev[1].kind);
	CHECK(ev[1].address == 0x900000000ull && ev[1].size == 1234 && ev[1].type == TTA_MEM_L1,
	      "free: %llx %llu type %u", (unsigned long long)ev[1].address,
	      (unsigned long long)ev[1].size, ev[1].type);
	CHECK(ev[2].kind == TTA_EVENT_CB_ALLOC && ev[3].kind == TTA_EVENT_CB_FREE &&
		      ev[3].address == 77 && ev[3].size == 4321,
	      "cb: kinds %u %u, %llu bytes", ev[2].kind, ev[3].kind, (unsigned long long)ev[3].size);
	tta_events_close(c);
}

/* A reader lapped by the writers learns exactly how many it missed and
 * then reads the newest capacity's worth, in order. */
TTA_TEST(missed_count_when_the_ring_wraps)
{
	enable(true);
	tta_report_alloc(0, 0, 1, TTA_MEM_DRAM);
	tta_event_cursor *c = cursor(TTA_EVENTS_NOW);
	enum { PAIRS = 40000 }; /* 80000 events through a 65536 ring */
	for (uint64_t i = 1; i <= PAIRS; i++) {
		tta_report_alloc(0, i << 12, i, TTA_MEM_L1);
		tta_report_free(0, i << 12);
	}
	uint64_t missed;
	struct tta_event first;
	size_t n = drain(c, &first, 1, &missed);
	CHECK_EQ_I64(missed + n, 2 * PAIRS);
	CHECK_EQ_I64(n, 65536);
	CHECK_EQ_I64(missed, 2 * PAIRS - 65536);
	/* The oldest kept: event number `missed` of the storm. */
	uint64_t i = missed / 2 + 1;
	CHECK(first.kind == (missed % 2 ? TTA_EVENT_FREE : TTA_EVENT_ALLOC) && first.size == i &&
		      first.address == i << 12,
	      "first kept: kind %u size %llu", first.kind, (unsigned long long)first.size);
	/* Caught up: nothing more, nothing missed. */
	CHECK(drain(c, &first, 1, &missed) == 0 && missed == 0, "caught up");
	tta_events_close(c);
}

/* Writers in several processes at once: every event arrives once, intact. */
TTA_TEST(concurrent_writers_lose_nothing)
{
	enable(true);
	tta_report_alloc(0, 0, 1, TTA_MEM_DRAM); /* creates the segment */
	tta_event_cursor *c = cursor(TTA_EVENTS_NOW);
	enum { WRITERS = 4, PAIRS = 3000 };
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			for (uint64_t i = 0; i < PAIRS; i++) {
				tta_report_alloc((uint32_t)w, (i + 1) << 8, 64 + (uint64_t)w, TTA_MEM_DRAM);
				tta_report_free((uint32_t)w, (i + 1) << 8);
			}
			_exit(0);
		}
	}
	uint64_t per_writer[WRITERS] = { 0 }, missed_total = 0, attaches = 0;
	int running = WRITERS;
	static struct tta_event ev[4 * WRITERS * PAIRS];
	for (unsigned polls = 0; polls < 100000; polls++) {
		uint64_t missed;
		size_t n = drain(c, ev, sizeof ev / sizeof ev[0], &missed);
		missed_total += missed;
		for (size_t i = 0; i < n; i++) {
			if (ev[i].kind == TTA_EVENT_ATTACH) {
				attaches++;
				continue;
			}
			if (ev[i].kind == TTA_EVENT_REAP) {
				/* A writer attaching reaps one that already ended:
				 * it freed everything. */
				CHECK(ev[i].device == TTA_NO_DEVICE && ev[i].buffers == 0 && ev[i].size == 0,
				      "clean reap");
				continue;
			}
			CHECK(ev[i].device < WRITERS && ev[i].size == 64 + ev[i].device &&
				      (ev[i].kind == TTA_EVENT_ALLOC || ev[i].kind == TTA_EVENT_FREE),
			      "torn event: kind %u device %u size %llu", ev[i].kind, ev[i].device,
			      (unsigned long long)ev[i].size);
			per_writer[ev[i].device]++;
		}
		if (running == 0 && n == 0)
			break;
		for (int w = 0; w < WRITERS; w++)
			if (pids[w] > 0 && waitpid(pids[w], NULL, WNOHANG) == pids[w]) {
				pids[w] = 0;
				running--;
			}
		sleep_ms(1);
	}
	CHECK_EQ_I64(missed_total, 0);
	CHECK_EQ_I64(attaches, WRITERS);
	for (int w = 0; w < WRITERS; w++)
		CHECK_EQ_I64(per_writer[w], 2 * PAIRS);
	tta_events_close(c);
}

/* ---- the real reaper ---- */

static char build_dir[PATH_MAX];

static void find_build_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", build_dir, sizeof build_dir - 1);
	CHECK(n > 0, "readlink");
	build_dir[n] = '\0';
	for (int i = 0; i < 2; i++)
		*strrchr(build_dir, '/') = '\0';
}

static pid_t spawn(char *const argv[], bool tracking, int out_fd)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDERR_FILENO);
		setenv("TT_ALLOC_TRACKING_ENABLED", tracking ? "1" : "0", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* A writer SIGKILLed while holding buffers on two devices: the real reaper
 * reaps it, and the stream says so with the leak per device. */
TTA_TEST(reap_event_with_leak_summary_after_sigkill)
{
	find_build_dir();
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/tests/helper_reaper_writer", build_dir);
	char *wargv[] = { path, "hold", "3", "2", "1000", NULL };
	int pipefd[2];
	CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	pid_t w = spawn(wargv, true, pipefd[1]);
	close(pipefd[1]);
	char line[256] = "";
	struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1 && read(pipefd[0], line, sizeof line - 1) > 0 &&
		      strncmp(line, "ready", 5) == 0,
	      "writer: %s", line);
	tta_event_cursor *c = cursor(TTA_EVENTS_NOW);
	char rpath[PATH_MAX + 64];
	snprintf(rpath, sizeof rpath, "%s/tt-alloc-reaper", build_dir);
	char *rargv[] = { rpath, "--scan-interval", "100", NULL };
	pid_t r = spawn(rargv, false, -1);
	sleep_ms(200); /* let it watch the writer: the kill is then seen by pidfd */
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	struct tta_event ev[16];
	size_t n = 0;
	uint64_t missed = 0;
	for (int t = 0; t < 500 && n < 2; t++) {
		uint64_t m;
		n += drain(c, ev + n, 16 - n, &m);
		missed += m;
		sleep_ms(10);
	}
	kill(r, SIGTERM);
	waitpid(r, NULL, 0);
	CHECK_EQ_I64(missed, 0);
	CHECK(n == 2, "%zu events", n);
	/* Buffers i = 0, 1, 2 of 1000 * (i + 1) bytes on each device. */
	for (uint32_t d = 0; d < 2; d++) {
		CHECK(ev[d].kind == TTA_EVENT_REAP && ev[d].pid == w && ev[d].device == d &&
			      ev[d].buffers == 3 && ev[d].size == 6000,
		      "event %u: kind %u pid %d device %u buffers %llu size %llu", d, ev[d].kind,
		      ev[d].pid, ev[d].device, (unsigned long long)ev[d].buffers,
		      (unsigned long long)ev[d].size);
	}
	char text[256], expect[256];
	snprintf(expect, sizeof expect, "[Device 1] REAP: PID %d ended, leaked 3 buffers, 6000 bytes "
		 "(slot %u)", (int)w, ev[1].slot);
	CHECK(strcmp(tta_event_format(&ev[1], text, sizeof text), expect) == 0, "%s", text);
	tta_events_close(c);
}

/* ---- hostile rings ---- */

static struct tta_segment rw;

static void open_rw(void)
{
	char err[TTA_ERR_MAX];
	struct tta_create_params p = { .devices = 2, .slots = 4, .records = 64, .mode = 0600 };
	CHECK(tta_segment_open(NULL, TTA_OPEN_CREATE, &p, &rw, err, sizeof err) == 0, "%s", err);
}

static void emit(uint64_t address)
{
	struct tta_event_entry e = { .mono_ns = tta_now_coarse_ns(), .pid = 42, .slot = 1,
				     .device = 0, .kind = TTA_EVENT_KIND_ALLOC,
				     .type = TTA_LAYOUT_DRAM, .address = address, .size = 1 };
	tta_event_emit(&rw, &e);
}

static uint64_t *head(void)
{
	return &tta_events_header(&rw)->head;
}

/* A writer killed between taking a position and finishing its entry: the
 * reader waits TTA_EVENTS_TORN_MS for it, then counts it missed and goes on. */
TTA_TEST(torn_entry_is_skipped_after_a_while)
{
	open_rw();
	tta_event_cursor *c = cursor(TTA_EVENTS_OLDEST);
	emit(1);
	uint64_t pos = ck_pr_faa_64(head(), 1); /* the dead writer's position */
	struct tta_event_entry *dead = tta_event_at(&rw, pos);
	ck_pr_store_64(&dead->seq, 2 * pos + 1);
	ck_pr_store_64(&dead->address, 666);
	emit(3);
	struct tta_event ev[4];
	uint64_t missed;
	size_t n = drain(c, ev, 4, &missed);
	CHECK(n == 1 && ev[0].address == 1 && missed == 0, "before the torn one: %zu", n);
	sleep_ms(TTA_EVENTS_TORN_MS + 50);
	n = drain(c, ev, 4, &missed);
	CHECK(n == 1 && ev[0].address == 3 && missed == 1, "after: %zu events, %llu missed", n,
	      (unsigned long long)missed);
	/* A complete stamp over fields that do not match their check (two
	 * writers of different laps in one entry): rejected at once. */
	emit(4);
	pos = ck_pr_load_64(head()) - 1;
	ck_pr_store_64(&tta_event_at(&rw, pos)->size, 999);
	emit(5);
	n = drain(c, ev, 4, &missed);
	CHECK(n == 1 && ev[0].address == 5 && missed == 1, "bad check: %zu events, %llu missed", n,
	      (unsigned long long)missed);
	tta_events_close(c);
}

/* Forged heads and stamps: counted as missed or ignored, never a crash or
 * a hang, and honest events after them still arrive. */
TTA_TEST(forged_positions_never_crash_or_hang)
{
	open_rw();
	tta_event_cursor *c = cursor(TTA_EVENTS_OLDEST);
	emit(1);
	struct tta_event ev[4];
	uint64_t missed;
	CHECK(drain(c, ev, 4, &missed) == 1, "first");
	/* Far ahead. */
	ck_pr_store_64(head(), UINT64_MAX - 5);
	uint64_t t0 = tta_now_mono_ns();
	size_t n = drain(c, ev, 4, &missed);
	sleep_ms(TTA_EVENTS_TORN_MS + 20);
	size_t n2 = drain(c, ev, 4, &missed);
	CHECK(tta_now_mono_ns() - t0 < 5ull * 1000000000ull, "bounded");
	CHECK(n + n2 == 0 && missed > 0, "forged head: %zu events, %llu missed", n + n2,
	      (unsigned long long)missed);
	/* Backwards: the cursor follows, and honest events arrive again. */
	ck_pr_store_64(head(), 10);
	for (uint32_t i = 0; i < 16; i++) {
		struct tta_event_entry *e = tta_event_at(&rw, i);
		ck_pr_store_64(&e->seq, UINT64_MAX - i); /* stamps from "later laps" */
	}
	n = drain(c, ev, 4, &missed);
	CHECK(n == 0, "stale stamps accepted");
	emit(7);
	uint64_t got7 = 0;
	for (int tries = 0; tries < 3 && !got7; tries++) {
		n = drain(c, ev, 4, &missed);
		for (size_t i = 0; i < n && i < 4; i++)
			got7 |= ev[i].address == 7;
		sleep_ms(TTA_EVENTS_TORN_MS + 20);
	}
	/* Position 10 carries a forged stamp from a "later lap", so that entry
	 * is dropped by its writer (never corrupted) and counted missed. */
	CHECK(!got7, "event over a later lap's stamp must be dropped");
	ck_pr_store_64(&tta_event_at(&rw, ck_pr_load_64(head()))->seq, 0);
	emit(8);
	n = drain(c, ev, 4, &missed);
	CHECK(n == 1 && ev[0].address == 8, "honest event after the forgeries: %zu", n);
	/* Random garbage everywhere: whatever comes out, no crash. */
	uint64_t x = 88172645463325252ull;
	uint8_t *ring = (uint8_t *)tta_event_at(&rw, 0);
	for (size_t i = 0; i < (size_t)rw.events.capacity * sizeof(struct tta_event_entry); i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(ring + i, &x, 8);
	}
	for (int k = 0; k < 50; k++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ck_pr_store_64(head(), k % 2 ? x : x % (rw.events.capacity * 3));
		drain(c, ev, 4, &missed);
	}
	tta_events_close(c);
}

TTA_TEST_MAIN(TTA_CASE(events_in_order_with_fields), TTA_CASE(per_report_events_need_the_switch),
	      TTA_CASE(young_frees_among_many_live_are_events),
	      TTA_CASE(missed_count_when_the_ring_wraps), TTA_CASE(concurrent_writers_lose_nothing),
	      TTA_CASE(reap_event_with_leak_summary_after_sigkill),
	      TTA_CASE(torn_entry_is_skipped_after_a_while),
	      TTA_CASE(forged_positions_never_crash_or_hang))
