/*
 * test_threads.c - many threads of one process reporting at once: totals and
 * records stay exact, handles and addresses mix, detach is safe while others
 * report. Also run under ThreadSanitizer (make check-tsan).
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tta_test.h"
#include "tta_test_util.h"

enum { THREADS = 6, LIVE = 256 };

struct worker {
	int id;
	long ops;
	int64_t held[2][TTA_MEM_TYPES];
};

static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	struct {
		uint64_t addr, size;
		uint32_t dev, type;
		tta_handle h;
		int live;
	} slot[LIVE];
	memset(slot, 0, sizeof slot);
	uint64_t rng = (uint64_t)w->id * 7919 + 1;
	for (long i = 0; i < w->ops; i++) {
		uint64_t x = tta_rand(&rng);
		int k = (int)(x % LIVE);
		if (slot[k].live) {
			if (slot[k].type == TTA_MEM_CB)
				tta_report_cb_free(slot[k].dev, slot[k].addr);
			else if (slot[k].h)
				tta_report_free_handle(slot[k].h);
			else
				tta_report_free(slot[k].dev, slot[k].addr);
			w->held[slot[k].dev][slot[k].type] -= (int64_t)slot[k].size;
			slot[k].live = 0;
			continue;
		}
		static const uint32_t types[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL,
						  TTA_MEM_TRACE, TTA_MEM_CB };
		slot[k].dev = (uint32_t)((x >> 16) & 1);
		slot[k].type = types[(x >> 20) % 5];
		slot[k].size = (x >> 40) % 100000 + 1;
		/* Distinct per thread, so threads never free each other's. */
		slot[k].addr = ((uint64_t)w->id << 32) | ((uint64_t)k << 12);
		slot[k].h = 0;
		if (slot[k].type == TTA_MEM_CB)
			tta_report_cb_alloc(slot[k].dev, slot[k].addr, slot[k].size);
		else if (x & 0x8000)
			slot[k].h = tta_report_alloc_handle(slot[k].dev, slot[k].addr,
							    slot[k].size, slot[k].type);
		else
			tta_report_alloc(slot[k].dev, slot[k].addr, slot[k].size, slot[k].type);
		if (x & 0x10000)
			tta_report_kernel_load(slot[k].dev, (x >> 8) & 15, 4096,
					       TTA_KERNEL_APPLICATION);
		slot[k].live = 1;
		w->held[slot[k].dev][slot[k].type] += (int64_t)slot[k].size;
	}
	return NULL;
}

TTA_TEST(threads_keep_totals_exact)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].id = i + 1;
		w[i].ops = 60000;
		CHECK(pthread_create(&th[i], NULL, churn_thread, &w[i]) == 0, "create");
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	for (int d = 0; d < 2; d++)
		for (int t = 0; t < TTA_MEM_TYPES; t++) {
			if (t == TTA_MEM_KERNEL)
				continue;
			int64_t expect = 0;
			for (int i = 0; i < THREADS; i++)
				expect += w[i].held[d][t];
			CHECK(s.device[d][t] == expect, "dev %d type %d: %lld != %lld", d, t,
			      (long long)s.device[d][t], (long long)expect);
		}
	/* 16 kernel ids per device at most, 4096 bytes each: reloads replace. */
	int64_t kernel = s.device[0][TTA_MEM_KERNEL] + s.device[1][TTA_MEM_KERNEL];
	CHECK(kernel > 0 && kernel <= 2 * 16 * 4096, "kernel bytes %lld", (long long)kernel);
}

struct detach_race {
	volatile int stop;
	long reports;
};

static void *report_forever(void *arg)
{
	struct detach_race *r = arg;
	uint64_t a = 0;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		tta_report_alloc(0, a, 8, TTA_MEM_L1);
		tta_report_free(0, a);
		a += 64;
		__atomic_add_fetch(&r->reports, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TTA_TEST(detach_is_safe_while_threads_report)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	struct detach_race race = { 0, 0 };
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&th[i], NULL, report_forever, &race) == 0, "create");
	for (int round = 0; round < 50; round++) {
		usleep(2000);
		tta_track_detach(); /* others keep reporting and re-attach */
	}
	__atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(race.reports > 0, "threads made progress");
	tta_track_detach();
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK(s.processes == 0, "no slot left (%d)", s.processes);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
}

TTA_TEST(table_growth_with_concurrent_kernel_lookups)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	/* Grows every shard's ck_rhs many times while other threads run the
	 * lock-free kernel-reload lookup on the same tables. */
	struct detach_race race = { 0, 0 };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, report_forever, &race) == 0, "create");
	for (uint64_t i = 0; i < 200000; i++) {
		tta_report_alloc(1, i << 6, 1, TTA_MEM_DRAM);
		if ((i & 255) == 0)
			tta_report_kernel_load(1, i & 4095, 100, TTA_KERNEL_FABRIC);
	}
	__atomic_store_n(&race.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[1][TTA_MEM_DRAM], 200000);
	for (uint64_t i = 0; i < 200000; i++)
		tta_report_free(1, i << 6);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[1][TTA_MEM_DRAM], 0);
}

/* Threads share the shards of one large index (every shard stages its
 * newest allocations in front of its table): each thread keeps a large
 * live set, frees some buffers young and some old, and allocates over its
 * own live addresses. Totals, records and collision counts stay exact. */
enum { BIG_THREADS = 3, BIG_LIVE = 40000, BIG_OPS = 40000 };

struct big_worker {
	int id;
	int64_t held;
	long collisions;
};

static void *big_index_thread(void *arg)
{
	struct big_worker *w = arg;
	uint64_t base = (uint64_t)w->id << 40;
	for (uint64_t i = 0; i < BIG_LIVE; i++)
		tta_report_alloc(0, base + i * 64, 2, TTA_MEM_DRAM);
	w->held = 2 * BIG_LIVE;
	uint64_t oldest = 0, next = BIG_LIVE, rng = (uint64_t)w->id * 31 + 7;
	for (long op = 0; op < BIG_OPS; op++) {
		uint64_t x = tta_rand(&rng);
		if (x % 3 == 0) { /* young: freed at once */
			tta_report_alloc(0, base + next * 64, 3, TTA_MEM_L1);
			tta_report_free(0, base + next * 64);
			next++;
		} else if (x % 3 == 1) { /* old: the oldest live one goes */
			tta_report_alloc(0, base + next * 64, 2, TTA_MEM_DRAM);
			tta_report_free(0, base + oldest * 64);
			oldest++;
			next++;
		} else if (x % 64 == 2) { /* over a live address, then freed */
			uint64_t a = base + (oldest + x % 1000) * 64;
			tta_report_alloc(0, a, 5, TTA_MEM_DRAM);
			tta_report_free(0, a);
			w->collisions++;
		}
	}
	return NULL;
}

TTA_TEST(threads_share_a_large_staged_index)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	struct big_worker w[BIG_THREADS];
	pthread_t th[BIG_THREADS];
	for (int i = 0; i < BIG_THREADS; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].id = i + 1;
		CHECK(pthread_create(&th[i], NULL, big_index_thread, &w[i]) == 0, "create");
	}
	long collisions = 0;
	int64_t held = 0;
	for (int i = 0; i < BIG_THREADS; i++) {
		pthread_join(th[i], NULL);
		collisions += w[i].collisions;
		held += w[i].held;
	}
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], held);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 0);
	CHECK_EQ_I64(s.device_buffers[0], BIG_THREADS * BIG_LIVE);
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	struct tta_test_health h;
	tta_test_health_read(r, &h);
	tta_reader_close(r);
	CHECK_EQ_I64(h.unknown_frees, 0);
	/* Some were counted when their key met the table; detach settles the
	 * rest. */
	CHECK(tta_track_detach() == BIG_THREADS * BIG_LIVE, "detach");
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_test_health_read(r, &h);
	tta_reader_close(r);
	CHECK_EQ_I64(h.address_collisions, collisions);
}

/* Records a thread freed last wait in its magazine for its next
 * allocations; when it exits they go back to the process. Hundreds of
 * short-lived threads that each allocate and free 64 buffers reuse the
 * same few chunks instead of stranding 64 records apiece. */
static void *alloc_free_64(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg << 20;
	for (uint64_t i = 0; i < 64; i++)
		tta_report_alloc(1, base + i * 4096, 4096, TTA_MEM_DRAM);
	for (uint64_t i = 0; i < 64; i++)
		tta_report_free(1, base + i * 4096);
	return NULL;
}

TTA_TEST(exited_threads_give_their_records_back)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 0x1000, 64, TTA_MEM_L1); /* attach: the main thread's */
	enum { ROUNDS = 300 };
	for (uintptr_t i = 1; i <= ROUNDS; i++) {
		pthread_t th;
		CHECK(pthread_create(&th, NULL, alloc_free_64, (void *)i) == 0, "create");
		pthread_join(th, NULL);
	}
	tta_reader *r;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	struct tta_test_health h;
	CHECK_EQ_I64(tta_test_health_read(r, &h), 0);
	tta_reader_close(r);
	/* Stranded, the threads would hold 64 records each (300 x 64). */
	CHECK(h.records_in_use <= 16 * 64, "%" PRIu64 " records reserved after %d threads",
	      h.records_in_use, ROUNDS);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device_buffers[1], 0);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 64);
}

struct reattach {
	volatile int phase; /* 1: magazine full, go detach; 2: detached, go on */
};

static void *fill_then_hold(void *arg)
{
	struct reattach *ra = arg;
	for (uint64_t i = 0; i < 64; i++)
		tta_report_alloc(0, 0x100000 + i * 64, 64, TTA_MEM_L1);
	for (uint64_t i = 0; i < 64; i++)
		tta_report_free(0, 0x100000 + i * 64);
	__atomic_store_n(&ra->phase, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&ra->phase, __ATOMIC_ACQUIRE) != 2)
		usleep(100);
	/* A new tracker: the magazine's records were the old one's. */
	for (uint64_t i = 0; i < 100; i++)
		tta_report_alloc(0, 0x200000 + i * 64, 64, TTA_MEM_L1);
	return NULL;
}

/* A detach releases the process's records; a thread whose magazine held
 * some must not write into them after it re-attaches: every buffer it
 * then holds is a record the readers see. */
TTA_TEST(magazines_do_not_outlive_a_detach)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	struct reattach ra = { 0 };
	pthread_t th;
	CHECK(pthread_create(&th, NULL, fill_then_hold, &ra) == 0, "create");
	while (__atomic_load_n(&ra.phase, __ATOMIC_ACQUIRE) != 1)
		usleep(100);
	CHECK_EQ_I64(tta_track_detach(), 0);
	/* Another process takes the chunks just released, and holds them. */
	int ready[2], hold[2];
	CHECK(pipe(ready) == 0 && pipe(hold) == 0, "pipe");
	pid_t other = fork();
	CHECK(other >= 0, "fork");
	if (other == 0) {
		char c;
		for (uint64_t i = 0; i < 256; i++)
			tta_report_alloc(2, 0x300000 + i * 64, 64, TTA_MEM_L1);
		if (write(ready[1], "x", 1) != 1 || read(hold[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1, "other process holds its buffers");
	__atomic_store_n(&ra.phase, 2, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	struct tta_sums s;
	tta_sums_read(&s);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device_buffers[2], 256);
	CHECK_EQ_I64(s.record_count[2], 256);
	CHECK_EQ_I64(s.device_buffers[0], 100);
	CHECK_EQ_I64(s.record_count[0], 100);
}

TTA_TEST_MAIN(TTA_CASE(threads_keep_totals_exact), TTA_CASE(detach_is_safe_while_threads_report),
	      TTA_CASE(table_growth_with_concurrent_kernel_lookups),
	      TTA_CASE(threads_share_a_large_staged_index),
	      TTA_CASE(exited_threads_give_their_records_back),
	      TTA_CASE(magazines_do_not_outlive_a_detach))
