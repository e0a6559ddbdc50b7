/*
 * test_history.c - memory over time in the segment: history samples, the
 * coarse tier, torn samples, racing writers, peaks, and segments made
 * without these regions.
 *
 * Time: a test cannot wait ten minutes, so most cases record samples at
 * chosen instants through the writers' own function (tta_history_record,
 * what libtrack, the bridge and the reaper call) and read them back with
 * the clocks given (tta_history_take_at); the instants lie 1000 s ahead of
 * the real clock, where no real report of the case lands. The totals being
 * sampled are real: a proxy writer (the bridge's) holds them in a real slot.
 * Cases with real writer processes run on the real clock.
 */
#include <ck_pr.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "read_priv.h"
#include "tt-alloc/events.h"
#include "tt-alloc/history.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "tta_proxy.h"
#include "tta_segment.h"
#include "tta_test.h"

#define SEC 1000000000ull

static struct tta_segment seg;
static struct tta_proxy *proxy;

static void open_segment(bool core_only)
{
	char err[TTA_ERR_MAX];
	struct tta_create_params p = { .devices = 4, .slots = 16, .records = 1024, .mode = 0600,
				       .core_only = core_only };
	CHECK(tta_segment_open(NULL, TTA_OPEN_CREATE, &p, &seg, err, sizeof err) == 0, "%s", err);
	struct tta_slot_identity id;
	CHECK(tta_proxy_identity(getpid(), (uint32_t)getuid(), &id) == 0, "identity");
	CHECK(tta_proxy_open(&seg, &id, &proxy) == 0, "proxy slot");
}

/* The start of a fine interval well ahead of the real clock. */
static uint64_t future_base(void)
{
	return (tta_now_coarse_ns() / SEC + 1000) * SEC;
}

static tta_history *take(int32_t device, uint32_t seconds, uint64_t mono_now)
{
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	/* Real realtime/monotonic offset: the segment's creation lies before. */
	uint64_t rt = tta_now_realtime_ns() + (mono_now - tta_now_mono_ns());
	tta_history *h;
	CHECK(tta_history_take_at(r, device, seconds, mono_now, rt, &h, err, sizeof err) == 0, "%s",
	      err);
	tta_reader_close(r);
	return h;
}

static const struct tta_history_sample *sample_at(const tta_history *h, size_t dev,
						  uint64_t base, int64_t offset_s, uint64_t first)
{
	uint64_t n = base / SEC + (uint64_t)offset_s;
	return tta_history_sample(h, dev, (size_t)(n - first));
}

/* Samples hold the device total at the start of their second; seconds
 * without one take the next recorded value (nothing changed in between),
 * and those after the last recorded one the live total. */
TTA_TEST(samples_are_totals_and_idle_seconds_are_filled)
{
	open_segment(false);
	uint64_t base = future_base();
	tta_history_record(&seg, 0, base + SEC / 4);     /* second 0: before the alloc */
	CHECK(tta_proxy_alloc(proxy, 0, 0x1000, 1000, TTA_LAYOUT_DRAM) == 0, "alloc");
	tta_history_record(&seg, 0, base + 5 * SEC);     /* second 5 */
	CHECK(tta_proxy_alloc(proxy, 0, 0x2000, 500, TTA_LAYOUT_L1) == 0, "alloc");
	tta_history_record(&seg, 0, base + 9 * SEC + 1); /* second 9 */
	CHECK(tta_proxy_free(proxy, 0, 0x1000) == 0, "free");
	/* Recording the same second again changes nothing. */
	tta_history_record(&seg, 0, base + 9 * SEC + SEC / 2);

	tta_history *h = take(0, 20, base + 12 * SEC + SEC / 2);
	CHECK(tta_history_available(h) == 1, "available");
	CHECK_EQ_I64(tta_history_interval_ms(h), 1000);
	CHECK_EQ_I64(tta_history_device_count(h), 1);
	const struct tta_history_device *d = tta_history_device(h, 0);
	CHECK_EQ_I64(d->id, 0);
	CHECK_EQ_I64(d->sample_count, 20);
	CHECK_EQ_I64(d->recorded_count, 3);
	uint64_t first = base / SEC + 12 - 19;
	struct {
		int64_t offset, dram, l1;
		int recorded;
	} want[] = {
		{ -7, 0, 0, 0 }, { -1, 0, 0, 0 }, { 0, 0, 0, 1 },	 { 1, 1000, 0, 0 },
		{ 4, 1000, 0, 0 }, { 5, 1000, 0, 1 }, { 6, 1000, 500, 0 }, { 8, 1000, 500, 0 },
		{ 9, 1000, 500, 1 }, { 10, 0, 500, 0 }, { 12, 0, 500, 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct tta_history_sample *s = sample_at(h, 0, base, want[i].offset, first);
		CHECK(s != NULL, "sample %+lld", (long long)want[i].offset);
		CHECK(s->known && s->recorded == want[i].recorded, "second %+lld known %d recorded %d",
		      (long long)want[i].offset, s->known, s->recorded);
		CHECK(s->used[TTA_MEM_DRAM] == want[i].dram && s->used[TTA_MEM_L1] == want[i].l1 &&
			      s->total == want[i].dram + want[i].l1,
		      "second %+lld: dram %lld l1 %lld total %lld", (long long)want[i].offset,
		      (long long)s->used[TTA_MEM_DRAM], (long long)s->used[TTA_MEM_L1],
		      (long long)s->total);
	}
	/* One interval apart, oldest first, on the UNIX time line. */
	for (size_t i = 1; i < d->sample_count; i++)
		CHECK_EQ_I64(tta_history_sample(h, 0, i)->realtime_ns -
				     tta_history_sample(h, 0, i - 1)->realtime_ns,
			     SEC);
	int64_t rt_now = (int64_t)tta_now_realtime_ns() + (int64_t)(base + 12 * SEC + SEC / 2) -
			 (int64_t)tta_now_mono_ns();
	int64_t last = (int64_t)tta_history_sample(h, 0, d->sample_count - 1)->realtime_ns;
	CHECK(last <= rt_now && rt_now - last < (int64_t)SEC + 10000000, "last sample %lld vs now %lld",
	      (long long)last, (long long)rt_now);
	/* The peak of the window: DRAM 1000 and L1 500 were held together. */
	CHECK_EQ_I64(d->peak[TTA_MEM_DRAM], 1000);
	CHECK_EQ_I64(d->peak[TTA_MEM_L1], 500);
	CHECK_EQ_I64(d->peak_total, 1500);
	tta_history_free(h);
}

/* A writer killed while filling a sample leaves an odd stamp: the seconds
 * whose value it would tell are unknown, never guessed, and left out of the
 * JSON; the rest of the series is exact. */
TTA_TEST(torn_sample_is_skipped)
{
	open_segment(false);
	uint64_t base = future_base();
	tta_history_record(&seg, 0, base);
	CHECK(tta_proxy_alloc(proxy, 0, 0x1000, 4096, TTA_LAYOUT_DRAM) == 0, "alloc");
	/* Second 3: claimed (odd stamp) and half written, then the writer
	 * "died"; the change it preceded happened. */
	uint64_t n = base / SEC + 3;
	struct tta_history_slot *slot = tta_history_fine_at(&seg, 0, (uint32_t)(n % seg.hist.fine_count));
	ck_pr_store_64(&slot->stamp, 2 * n + 1);
	__atomic_store_n(&slot->bytes[TTA_LAYOUT_DRAM], UINT64_C(0xdeadbeef), __ATOMIC_RELAXED);
	CHECK(tta_proxy_alloc(proxy, 0, 0x2000, 100, TTA_LAYOUT_DRAM) == 0, "alloc");
	tta_history_record(&seg, 0, base + 6 * SEC);
	CHECK(tta_proxy_free(proxy, 0, 0x2000) == 0, "free");

	tta_history *h = take(0, 10, base + 8 * SEC);
	const struct tta_history_device *d = tta_history_device(h, 0);
	uint64_t first = base / SEC + 8 - 9;
	const struct tta_history_sample *s0 = sample_at(h, 0, base, 0, first);
	CHECK(s0->known && s0->used[TTA_MEM_DRAM] == 0, "second 0");
	for (int i = 1; i <= 3; i++) {
		const struct tta_history_sample *s = sample_at(h, 0, base, i, first);
		CHECK(!s->known, "second %d must be unknown", i);
		/* Unknown repeats the last known earlier value, never the torn one. */
		CHECK_EQ_I64(s->used[TTA_MEM_DRAM], 0);
	}
	for (int i = 4; i <= 6; i++)
		CHECK(sample_at(h, 0, base, i, first)->known &&
			      sample_at(h, 0, base, i, first)->used[TTA_MEM_DRAM] == 4196,
		      "second %d", i);
	CHECK(sample_at(h, 0, base, 8, first)->used[TTA_MEM_DRAM] == 4096, "live tail");
	CHECK(d->peak[TTA_MEM_DRAM] == 4196, "peak %lld", (long long)d->peak[TTA_MEM_DRAM]);

	/* JSON: valid, and the unknown seconds are not in it. */
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	tta_history_write_json(h, mem);
	fclose(mem);
	CHECK(strstr(text, "3735928559") == NULL, "torn value leaked into JSON");
	int samples = 0;
	for (const char *p = text; (p = strstr(p, "\"t\": ")) != NULL; p++)
		samples++;
	CHECK_EQ_I64(samples, 10 - 3);
	free(text);
	tta_history_free(h);
}

/* Beyond the fine tier's reach the history comes one sample a minute. */
TTA_TEST(coarse_tier_over_hours)
{
	open_segment(false);
	/* A minute start far enough ahead that 3 hours before "now" still lie
	 * after the segment's creation. */
	uint64_t base = (tta_now_coarse_ns() / (60 * SEC) + 200) * 60 * SEC;
	tta_history_record(&seg, 0, base + 7 * SEC);
	CHECK(tta_proxy_alloc(proxy, 0, 0x1000, 1 << 20, TTA_LAYOUT_DRAM) == 0, "alloc");
	tta_history_record(&seg, 0, base + 61 * SEC); /* minute 1 */
	CHECK(tta_proxy_alloc(proxy, 0, 0x2000, 1 << 10, TTA_LAYOUT_TRACE) == 0, "alloc");
	tta_history_record(&seg, 0, base + 95 * 60 * SEC); /* minute 95 */
	CHECK(tta_proxy_free(proxy, 0, 0x1000) == 0, "free");

	tta_history *h = take(0, 3 * 3600, base + 100 * 60 * SEC + 5 * SEC);
	CHECK_EQ_I64(tta_history_interval_ms(h), 60000);
	const struct tta_history_device *d = tta_history_device(h, 0);
	CHECK_EQ_I64(d->sample_count, 180);
	CHECK_EQ_I64(d->recorded_count, 3);
	uint64_t first = base / (60 * SEC) + 100 - 179;
	struct {
		uint64_t minute;
		int64_t dram, trace;
	} want[] = { { 0, 0, 0 }, { 1, 1 << 20, 0 }, { 2, 1 << 20, 1 << 10 },
		     { 95, 1 << 20, 1 << 10 }, { 96, 0, 1 << 10 }, { 100, 0, 1 << 10 } };
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct tta_history_sample *s =
			tta_history_sample(h, 0, (size_t)(base / (60 * SEC) + want[i].minute - first));
		CHECK(s && s->known && s->used[TTA_MEM_DRAM] == want[i].dram &&
			      s->used[TTA_MEM_TRACE] == want[i].trace,
		      "minute %llu: dram %lld trace %lld", (unsigned long long)want[i].minute,
		      s ? (long long)s->used[TTA_MEM_DRAM] : -1, s ? (long long)s->used[TTA_MEM_TRACE] : -1);
	}
	for (size_t i = 1; i < d->sample_count; i++)
		CHECK_EQ_I64(tta_history_sample(h, 0, i)->realtime_ns -
				     tta_history_sample(h, 0, i - 1)->realtime_ns,
			     60 * SEC);
	tta_history_free(h);
	/* The fine tier still answers for the last minutes. */
	h = take(0, 600, base + 100 * 60 * SEC + 5 * SEC);
	CHECK_EQ_I64(tta_history_interval_ms(h), 1000);
	CHECK_EQ_I64(tta_history_device(h, 0)->sample_count, 600);
	tta_history_free(h);
}

/* Many processes record the same seconds at once: each sample is filled by
 * exactly one of them and equals the total. */
TTA_TEST(racing_writers_fill_each_sample_once)
{
	open_segment(false);
	CHECK(tta_proxy_alloc(proxy, 1, 0x1000, 777, TTA_LAYOUT_L1_SMALL) == 0, "alloc");
	uint64_t base = future_base();
	enum { WRITERS = 6, SECONDS = 200 };
	int *go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			while (!ck_pr_load_int(go))
				ck_pr_stall();
			for (int s = 0; s < SECONDS; s++)
				tta_history_record(&seg, 1, base + (uint64_t)s * SEC + (uint64_t)w);
			_exit(0);
		}
	}
	ck_pr_store_int(go, 1);
	for (int w = 0; w < WRITERS; w++) {
		int st;
		waitpid(pids[w], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d", w);
	}
	tta_history *h = take(1, SECONDS, base + (SECONDS - 1) * SEC);
	const struct tta_history_device *d = tta_history_device(h, 0);
	CHECK_EQ_I64(d->sample_count, SECONDS);
	CHECK_EQ_I64(d->recorded_count, SECONDS);
	for (size_t i = 0; i < d->sample_count; i++) {
		const struct tta_history_sample *s = tta_history_sample(h, 0, i);
		CHECK(s->known && s->recorded && s->used[TTA_MEM_L1_SMALL] == 777 && s->total == 777,
		      "sample %zu", i);
	}
	tta_history_free(h);
}

/* Real writer processes on the real clock: a sample is recorded at the
 * first report of a second, and the reaper's reap of a killed writer
 * records the total before the reap. */
TTA_TEST(real_writers_and_reaps_record_history)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	int ready[2], hold[2];
	CHECK(pipe(ready) == 0 && pipe(hold) == 0, "pipe");
	pid_t w = fork();
	if (w == 0) {
		tta_report_alloc(2, 0x100, 8192, TTA_MEM_DRAM);
		tta_report_alloc(2, 0x200, 64, TTA_MEM_L1);
		char c = 1;
		CHECK(write(ready[1], &c, 1) == 1, "ready");
		(void)read(hold[0], &c, 1);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1, "writer ready");
	/* The next second: its sample is the live total, 8256 bytes. */
	struct timespec next = { .tv_sec = 1, .tv_nsec = 50000000 };
	nanosleep(&next, NULL);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	char err[TTA_ERR_MAX];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	CHECK(tta_reap_dead(&seg, 0, NULL, NULL) == 1, "reaped");
	tta_reader *r;
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_history *h;
	CHECK(tta_history_take(r, 2, 10, &h, err, sizeof err) == 0, "%s", err);
	const struct tta_history_device *d = tta_history_device(h, 0);
	CHECK(d != NULL && d->id == 2, "device 2");
	/* The writer's first report recorded 0 (before it), the reap recorded
	 * 8256 (before the reap). (Its two reports may straddle a second: then
	 * the second recorded DRAM alone.) */
	CHECK(d->recorded_count == 2 || d->recorded_count == 3, "recorded %zu", d->recorded_count);
	int64_t seen_full = 0;
	for (size_t i = 0; i < d->sample_count; i++) {
		const struct tta_history_sample *s = tta_history_sample(h, 0, i);
		CHECK(s->known, "sample %zu unknown", i);
		CHECK(s->total == 0 || (s->used[TTA_MEM_DRAM] == 8192 && s->used[TTA_MEM_L1] == 64 &&
					s->total == 8256) ||
			      (d->recorded_count == 3 && s->total == 8192),
		      "sample %zu total %lld", i, (long long)s->total);
		seen_full += s->total == 8256;
	}
	CHECK(seen_full >= 1, "the reaped total is in the history");
	CHECK_EQ_I64(d->peak_total, 8256);
	struct tta_device_view now;
	CHECK(tta_reader_device(r, 2, &now) == 0 && now.used[TTA_MEM_DRAM] == 0, "reaped now");
	tta_history_free(h);
	tta_reader_close(r);
}

/* ---- peaks ---- */

static const struct tta_process_row *row_of(const tta_snapshot *s, int32_t pid, uint32_t device)
{
	for (size_t i = 0; i < tta_snapshot_process_count(s); i++) {
		const struct tta_process_row *row = tta_snapshot_process(s, i);
		if (row->proc.pid == pid && row->device == device)
			return row;
	}
	return NULL;
}

static tta_snapshot *snapshot(void)
{
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_snapshot *s;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "%s", err);
	tta_reader_close(r);
	return s;
}

/* Peak = the highest use since the process attached, per device and type,
 * whatever path changed it (address, handle, CB, kernel reload). */
TTA_TEST(peaks_per_process_device_and_type)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x2000, 200, TTA_MEM_DRAM); /* 300: the peak */
	tta_report_free(0, 0x1000);
	tta_report_alloc(0, 0x3000, 50, TTA_MEM_DRAM); /* 250 */
	tta_handle hl = tta_report_alloc_handle(1, 0x10, 4000, TTA_MEM_L1);
	tta_report_free_handle(hl);
	tta_report_alloc_handle(1, 0x20, 1000, TTA_MEM_L1);
	tta_report_cb_alloc(1, 7, 64);
	tta_report_cb_free(1, 7);
	tta_report_kernel_load(1, 9, 5000, TTA_KERNEL_APPLICATION);
	tta_report_kernel_load(1, 9, 3000, TTA_KERNEL_APPLICATION); /* reload: smaller */
	tta_snapshot *s = snapshot();
	const struct tta_process_row *d0 = row_of(s, getpid(), 0), *d1 = row_of(s, getpid(), 1);
	CHECK(d0 && d1, "rows");
	CHECK_EQ_I64(d0->used[TTA_MEM_DRAM], 250);
	CHECK_EQ_I64(d0->peak[TTA_MEM_DRAM], 300);
	CHECK_EQ_I64(d0->peak[TTA_MEM_L1], 0);
	CHECK_EQ_I64(d1->used[TTA_MEM_L1], 1000);
	CHECK_EQ_I64(d1->peak[TTA_MEM_L1], 4000);
	CHECK_EQ_I64(d1->peak[TTA_MEM_DRAM], 0);
	CHECK_EQ_I64(d1->used[TTA_MEM_CB], 0);
	CHECK_EQ_I64(d1->peak[TTA_MEM_CB], 64);
	CHECK_EQ_I64(d1->used[TTA_MEM_KERNEL], 3000);
	CHECK_EQ_I64(d1->peak[TTA_MEM_KERNEL], 5000);
	/* The JSON writer prints them beside "used". */
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	tta_snapshot_write_json(s, "test", "0", mem);
	fclose(mem);
	CHECK(strstr(text, "\"peak\": {\"dram\": 300, \"l1\": 0,") != NULL, "JSON peak:\n%s", text);
	free(text);
	tta_snapshot_free(s);
	/* A new incarnation starts from its own use. */
	tta_track_detach();
	tta_report_alloc(0, 0x4000, 10, TTA_MEM_DRAM);
	s = snapshot();
	d0 = row_of(s, getpid(), 0);
	CHECK(d0 && d0->peak[TTA_MEM_DRAM] == 10, "peak after re-attach %lld",
	      d0 ? (long long)d0->peak[TTA_MEM_DRAM] : -1);
	tta_snapshot_free(s);
}

/* Threads of one process racing on one counter line never lower a peak:
 * the true peak is reached when every thread holds its buffers at once. */
static pthread_barrier_t barrier;
static void *peak_thread(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	for (int round = 0; round < 200; round++) {
		pthread_barrier_wait(&barrier);
		tta_report_alloc(0, (t << 32) | (uint64_t)round, 1000, TTA_MEM_DRAM);
		pthread_barrier_wait(&barrier); /* everyone holds 1000 here */
		tta_report_free(0, (t << 32) | (uint64_t)round);
	}
	return NULL;
}

TTA_TEST(peaks_from_racing_threads)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	enum { THREADS = 4 };
	pthread_t th[THREADS];
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (uintptr_t t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, peak_thread, (void *)(t + 1));
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	tta_snapshot *s = snapshot();
	const struct tta_process_row *row = row_of(s, getpid(), 0);
	CHECK(row && row->used[TTA_MEM_DRAM] == 0 && row->peak[TTA_MEM_DRAM] == THREADS * 1000,
	      "used %lld peak %lld", row ? (long long)row->used[TTA_MEM_DRAM] : -1,
	      row ? (long long)row->peak[TTA_MEM_DRAM] : -1);
	tta_snapshot_free(s);
}

/* The bridge's proxy slots keep peaks too. */
TTA_TEST(proxy_writers_keep_peaks)
{
	open_segment(false);
	CHECK(tta_proxy_alloc(proxy, 3, 0x1, 300, TTA_LAYOUT_TRACE) == 0, "alloc");
	CHECK(tta_proxy_alloc(proxy, 3, 0x2, 300, TTA_LAYOUT_TRACE) == 0, "alloc");
	CHECK(tta_proxy_free(proxy, 3, 0x1) == 0, "free");
	tta_snapshot *s = snapshot();
	const struct tta_process_row *row = row_of(s, getpid(), 3);
	CHECK(row && row->used[TTA_MEM_TRACE] == 300 && row->peak[TTA_MEM_TRACE] == 600, "peak");
	tta_snapshot_free(s);
}

/* ABI 2 without the new regions (made by an earlier creator): read as
 * always, with no history, no events, peaks equal to use; writers work. */
TTA_TEST(segment_without_history_regions)
{
	open_segment(true);
	CHECK(seg.hist.devices == 0 && seg.events.capacity == 0 && seg.off_peaks == 0,
	      "no optional regions");
	CHECK_EQ_I64(tta_hdr(&seg)->region_count, TTA_REGION_CORE_KINDS);
	CHECK(tta_proxy_alloc(proxy, 0, 0x1, 300, TTA_LAYOUT_DRAM) == 0, "proxy alloc");
	CHECK(tta_proxy_free(proxy, 0, 0x1) == 0, "proxy free");
	CHECK_EQ_I64(tta_history_record(&seg, 0, tta_now_coarse_ns()), UINT64_MAX);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	setenv("TT_ALLOC_EVENTS", "1", 1);
	tta_report_alloc(1, 0x10, 123, TTA_MEM_L1);
	CHECK(tta_track_state() == TTA_TRACK_ATTACHED, "libtrack attached");
	tta_snapshot *s = snapshot();
	const struct tta_process_row *row = row_of(s, getpid(), 1);
	CHECK(row && row->used[TTA_MEM_L1] == 123 && row->peak[TTA_MEM_L1] == 123, "row");
	tta_snapshot_free(s);
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_history *h;
	CHECK(tta_history_take(r, -1, 0, &h, err, sizeof err) == 0, "%s", err);
	CHECK(tta_history_available(h) == 0 && tta_history_device_count(h) == 0, "empty history");
	CHECK_EQ_I64(tta_history_seconds(h), 600);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	tta_history_write_json(h, mem);
	fclose(mem);
	CHECK(strcmp(text, "{\"history\": {\"interval_ms\": 1000, \"seconds\": 600, \"available\": "
			   "false, \"devices\": []}}\n") == 0,
	      "JSON: %s", text);
	free(text);
	tta_history_free(h);
	tta_event_cursor *c;
	CHECK(tta_events_open(r, TTA_EVENTS_OLDEST, &c, err, sizeof err) == 0, "%s", err);
	const struct tta_event *e;
	uint64_t missed = 7;
	CHECK(tta_events_available(c) == 0 && tta_events_next(c, &e, &missed) == 0 && missed == 0 &&
		      e == NULL,
	      "no events");
	tta_events_close(c);
	tta_reader_close(r);
}

TTA_TEST(bad_history_arguments)
{
	open_segment(false);
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_history *h = (tta_history *)1;
	CHECK(tta_history_take(r, 4, 10, &h, err, sizeof err) == -EINVAL && h == NULL, "device");
	CHECK(tta_history_take(r, -2, 10, &h, err, sizeof err) == -EINVAL, "device -2");
	CHECK(tta_history_take(r, 0, 3 * 86400, &h, err, sizeof err) == -EINVAL &&
		      strstr(err, "too long") && !strchr(err, '\n'),
	      "span: %s", err);
	tta_reader_close(r);
}

TTA_TEST_MAIN(TTA_CASE(samples_are_totals_and_idle_seconds_are_filled),
	      TTA_CASE(torn_sample_is_skipped), TTA_CASE(coarse_tier_over_hours),
	      TTA_CASE(racing_writers_fill_each_sample_once),
	      TTA_CASE(real_writers_and_reaps_record_history),
	      TTA_CASE(peaks_per_process_device_and_type), TTA_CASE(peaks_from_racing_threads),
	      TTA_CASE(proxy_writers_keep_peaks), TTA_CASE(segment_without_history_regions),
	      TTA_CASE(bad_history_arguments))
