/*
 * test_writer.c - libtrack's write side against a real segment and real
 * processes: semantics of every report call, exact totals across processes,
 * SIGKILL at random points, PID reuse, fork, exec, full tables, misuse.
 */
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "tta_segment.h"
#include "tta_test.h"
#include "tta_test_util.h"

static void enable(void)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
}

static struct tta_test_health health(void)
{
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "open: %s", err);
	struct tta_test_health h;
	tta_test_health_read(r, &h);
	tta_reader_close(r);
	return h;
}

static int wait_exit(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	return status;
}

/* Reaps every dead slot of the test segment, as the reaper daemon would. */
static int reap_dead_now(void)
{
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	int n = tta_reap_dead(&seg, 0, NULL, NULL);
	tta_segment_close(&seg);
	return n;
}

TTA_TEST(off_touches_nothing)
{
	unsetenv("TT_ALLOC_TRACKING_ENABLED");
	CHECK(tta_track_state() == TTA_TRACK_OFF, "state");
	tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
	tta_report_free(0, 0x1000);
	CHECK(tta_report_alloc_handle(0, 1, 1, TTA_MEM_L1) == 0, "handle when off");
	tta_report_cb_alloc(0, 1, 1);
	tta_report_kernel_load(0, 1, 1, TTA_KERNEL_APPLICATION);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", tta_test_segment);
	CHECK(access(path, F_OK) != 0, "segment %s created while tracking is off", path);
	CHECK(tta_track_state() == TTA_TRACK_OFF, "state after reports");
	/* Any value but "1" is off. */
	setenv("TT_ALLOC_TRACKING_ENABLED", "yes", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
		_exit(access(path, F_OK) == 0 ? 1 : 0);
	}
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "'yes' enabled tracking");
}

TTA_TEST(off_makes_no_syscall)
{
	unsetenv("TT_ALLOC_TRACKING_ENABLED");
	tta_report_alloc(0, 1, 1, TTA_MEM_DRAM); /* first call reads the environment */
	pid_t pid = fork();
	if (pid == 0) {
		/* Strict seccomp: any syscall but read/write/exit/sigreturn kills
		 * us with SIGKILL, so surviving proves the off path makes none. */
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
			_exit(3);
		for (uint64_t i = 0; i < 100000; i++) {
			tta_report_alloc(0, i, 4096, TTA_MEM_DRAM);
			tta_report_free(0, i);
			tta_report_free_handle(tta_report_alloc_handle(1, i, 8, TTA_MEM_L1));
			tta_report_cb_alloc(0, i, 1);
			tta_report_cb_free(0, i);
			tta_report_kernel_load(0, i, 1, TTA_KERNEL_FABRIC);
		}
		syscall(SYS_exit, 0);
	}
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "off path made a syscall (status %d, signal %d)", WEXITSTATUS(st),
	      WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

TTA_TEST(every_report_kind_is_exact)
{
	enable();
	struct tta_device_info wh;
	tta_device_info_wormhole_b0(&wh, 72);
	CHECK(tta_register_device(0, &wh) == 0, "first registration");
	struct tta_device_info bh;
	tta_device_info_blackhole(&bh, 140);
	CHECK(tta_register_device(0, &bh) == 1, "second registration must not win");
	tta_report_alloc(0, 0x10000, 1 << 20, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x10000, 4096, TTA_MEM_DRAM); /* collision: kept, counted */
	tta_report_alloc(0, 0x20000, 300, TTA_MEM_L1);
	tta_report_alloc(1, 0x20000, 700, TTA_MEM_L1_SMALL);
	tta_report_alloc(1, 0x30000, 50, TTA_MEM_TRACE);
	tta_report_alloc(1, 0x40000, 60, TTA_MEM_SYSTEM);
	tta_report_cb_alloc(0, 0x20000, 2048); /* same number as an L1 address: own space */
	tta_report_kernel_load(0, 77, 1000, TTA_KERNEL_APPLICATION);
	tta_report_kernel_load(0, 77, 1200, TTA_KERNEL_APPLICATION); /* reload replaces */
	tta_report_kernel_load(1, 78, 10, TTA_KERNEL_DISPATCH);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], (1 << 20) + 4096);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 300);
	CHECK_EQ_I64(s.device[1][TTA_MEM_L1_SMALL], 700);
	CHECK_EQ_I64(s.device[1][TTA_MEM_TRACE], 50);
	CHECK_EQ_I64(s.device[1][TTA_MEM_SYSTEM], 60);
	CHECK_EQ_I64(s.device[0][TTA_MEM_CB], 2048);
	CHECK_EQ_I64(s.device[0][TTA_MEM_KERNEL], 1200);
	CHECK_EQ_I64(s.device[1][TTA_MEM_KERNEL], 10);
	CHECK_EQ_I64(s.device_buffers[0], 4); /* the kernel binaries count in bytes only */
	CHECK_EQ_I64(health().address_collisions, 1);

	tta_report_cb_free(0, 0x20000);
	tta_report_free(0, 0x20000);
	tta_report_free(1, 0x20000);
	tta_report_free(1, 0x30000);
	tta_report_free(1, 0x40000);
	tta_report_free(0, 0x10000);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	/* The collision's earlier allocation is still held: it was never freed. */
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 1 << 20);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1] + s.device[0][TTA_MEM_CB] + s.device[1][TTA_MEM_L1_SMALL], 0);

	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	struct tta_device_view v;
	tta_reader_device(r, 0, &v);
	CHECK(v.registered && strcmp(v.arch, "Wormhole_B0") == 0, "arch '%s'", v.arch);
	CHECK_EQ_I64(v.capacity[TTA_MEM_DRAM], 12ll << 30);
	CHECK_EQ_I64(v.capacity[TTA_MEM_L1], 1464ll * 1024 * 72);
	CHECK(v.processes == 1, "processes %u", v.processes);
	tta_reader_device(r, 5, &v);
	CHECK(!v.registered && v.processes == 0, "device 5 untouched");
	CHECK(tta_reader_device(r, 64, &v) == -EINVAL, "out of range device");
	tta_reader_close(r);
}

TTA_TEST(misuse_is_counted_never_fatal)
{
	enable();
	tta_report_alloc(0, 0x1000, 10, TTA_MEM_DRAM);
	tta_report_free(0, 0x9999);         /* unknown */
	tta_report_free(0, 0x1000);
	tta_report_free(0, 0x1000);         /* double (address-based: unknown) */
	tta_report_free(70, 0x1000);        /* device out of range */
	tta_report_alloc(9999, 1, 1, TTA_MEM_DRAM);
	tta_report_alloc(0, 1, 1, (enum tta_mem_type)42);
	tta_report_alloc(0, 1, 1, TTA_MEM_CB); /* CBs have their own call */
	tta_report_kernel_load(0, 1, 1, (enum tta_kernel_kind)9);
	tta_handle h = tta_report_alloc_handle(0, 0x2000, 20, TTA_MEM_L1);
	CHECK(h != 0, "handle");
	tta_report_free(0, 0x2000); /* handle allocations are not found by address */
	tta_report_free_handle(h);
	tta_report_free_handle(h);                 /* double */
	tta_report_free_handle(h + (1ull << 32));  /* stale generation: double */
	tta_report_free_handle(0x7fffffff00000000ull | 0x7ffffff0u); /* out of range */
	tta_report_free_handle(0);                 /* no-op */
	struct tta_test_health hl = health();
	CHECK_EQ_I64(hl.unknown_frees, 3);
	CHECK_EQ_I64(hl.double_frees, 2);
	CHECK_EQ_I64(hl.foreign_frees, 1);
	CHECK_EQ_I64(hl.bad_device, 2);
	CHECK_EQ_I64(hl.bad_argument, 3);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK(tta_track_state() == TTA_TRACK_ATTACHED, "still attached after misuse");
}

TTA_TEST(handle_of_another_process_is_foreign)
{
	enable();
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		tta_handle h = tta_report_alloc_handle(0, 0x5000, 64, TTA_MEM_DRAM);
		CHECK(write(fds[1], &h, sizeof h) == sizeof h, "write");
		pause();
		_exit(0);
	}
	tta_handle theirs;
	CHECK(read(fds[0], &theirs, sizeof theirs) == sizeof theirs, "read");
	tta_report_alloc(0, 0x1, 1, TTA_MEM_DRAM); /* attach ourselves */
	tta_report_free_handle(theirs);
	CHECK_EQ_I64(health().foreign_frees, 1);
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 65); /* theirs still counted */
	kill(pid, SIGKILL);
	wait_exit(pid);
}

/* Handles the library never issued change nothing and count as foreign, even
 * when they name a live address-keyed record with its exact generation. */
TTA_TEST(forged_handles_are_foreign_and_change_nothing)
{
	enable();
	tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x2000, 200, TTA_MEM_DRAM);
	tta_report_free_handle(1); /* the reported reproducer */
	int64_t forged = 1;
	/* Every generation a forger could guess, for the first records, with and
	 * without the top bit set. */
	for (uint64_t g = 0; g < 2048; g++) {
		for (uint64_t index = 1; index <= 4; index++) {
			if (g != 0 || index != 1) {
				tta_report_free_handle((g << 32) | index);
				forged++;
			}
			tta_report_free_handle((1ull << 63) | (g << 32) | index);
			tta_report_free_handle((1ull << 63) | ((0x7fffffffull - g) << 32) | index);
			forged += 2;
		}
	}
	struct tta_test_health hl = health();
	CHECK_EQ_I64(hl.foreign_frees, forged);
	CHECK_EQ_I64(hl.double_frees, 0);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 300);
	CHECK_EQ_I64(s.device_buffers[0], 2);
	tta_report_free(0, 0x1000);
	tta_report_free(0, 0x2000);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(s.device_buffers[0], 0);
	CHECK_EQ_I64(health().unknown_frees, 0);
}

struct find_record {
	uint32_t index;
	int found;
	uint64_t address;
};

static int find_record_cb(const struct tta_buffer_view *b, void *ctx)
{
	struct find_record *f = ctx;
	if (b->record == f->index) {
		f->found = 1;
		f->address = b->address;
	}
	return 0;
}

/* Our own handles, once freed, are double frees: also after their record was
 * reused by the handle path or by an address-keyed allocation. */
TTA_TEST(stale_handles_are_double_frees)
{
	enable();
	tta_handle h = tta_report_alloc_handle(0, 0x2000, 20, TTA_MEM_L1);
	CHECK(h != 0, "handle");
	tta_report_free_handle(h);
	tta_report_free_handle(h);
	CHECK_EQ_I64(health().double_frees, 1);
	/* The handle path pops the record just freed: a new generation of it. */
	tta_handle h2 = tta_report_alloc_handle(0, 0x3000, 30, TTA_MEM_L1);
	CHECK((h2 & 0xffffffffu) == (h & 0xffffffffu) && h2 != h, "record reused: %llx %llx",
	      (unsigned long long)h, (unsigned long long)h2);
	tta_report_free_handle(h);
	CHECK_EQ_I64(health().double_frees, 2);
	tta_report_free_handle(h2);
	/* Address-keyed allocations until one takes that record. */
	uint32_t index = (uint32_t)(h & 0xffffffffu) - 1;
	struct find_record f = { .index = index };
	uint64_t n = 0;
	while (!f.found && n < 512) {
		tta_report_alloc(0, 0x100000 + n * 64, 1, TTA_MEM_DRAM);
		n++;
		tta_reader *r;
		char err[512];
		CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
		tta_reader_foreach_buffer(r, NULL, find_record_cb, &f);
		tta_reader_close(r);
	}
	CHECK(f.found, "no address-keyed allocation reused record %u", index);
	tta_report_free_handle(h);
	tta_report_free_handle(h2);
	struct tta_test_health hl = health();
	CHECK_EQ_I64(hl.double_frees, 4);
	CHECK_EQ_I64(hl.foreign_frees, 0);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], (int64_t)n);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 0);
	tta_report_free(0, f.address);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], (int64_t)n - 1);
}

/* A parent's handle freed in its forked child, and the child's in the parent,
 * in the shared records and in each one's private overflow records (where
 * both have the same index and generation). */
TTA_TEST(handles_across_fork_are_foreign)
{
	enable();
	setenv("TT_ALLOC_MAX_BUFFERS", "64", 1);
	tta_handle shared = tta_report_alloc_handle(0, 0x10, 10, TTA_MEM_DRAM);
	CHECK(shared != 0 && (shared & 0xffffffffu) <= 64, "shared-record handle");
	for (uint64_t i = 1; i < 64; i++)
		tta_report_alloc_handle(0, 0x10 + i, 1, TTA_MEM_L1);
	tta_handle over = tta_report_alloc_handle(0, 0x100, 100, TTA_MEM_DRAM);
	CHECK((over & 0xffffffffu) > 64, "overflow handle %llx", (unsigned long long)over);
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		tta_handle mine = tta_report_alloc_handle(1, 0x100, 1000, TTA_MEM_DRAM);
		CHECK((mine & 0xffffffffu) == (over & 0xffffffffu), "same overflow index");
		tta_report_free_handle(shared);
		tta_report_free_handle(over);
		CHECK_EQ_I64(health().foreign_frees, 2);
		tta_report_alloc(1, 0x10, 5, TTA_MEM_DRAM); /* a keyed record too */
		tta_handle h[2] = { mine, 0 };
		CHECK(write(fds[1], h, sizeof h) == sizeof h, "write");
		pause();
		_exit(0);
	}
	close(fds[1]); /* a failed child gives EOF, not a hang */
	tta_handle theirs[2];
	CHECK(read(fds[0], theirs, sizeof theirs) == sizeof theirs, "child failed");
	tta_report_free_handle(theirs[0]);
	CHECK_EQ_I64(health().foreign_frees, 3);
	struct tta_sums s; /* overflow records are private: totals only */
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 110);
	CHECK_EQ_I64(s.device[1][TTA_MEM_DRAM], 1005);
	tta_report_free_handle(shared);
	tta_report_free_handle(over);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 0);
	CHECK_EQ_I64(s.device[1][TTA_MEM_DRAM], 1005);
	CHECK_EQ_I64(health().double_frees, 0);
	kill(pid, SIGKILL);
	wait_exit(pid);
}

/* After detach, the next incarnation of this process reuses the same chunk
 * and record: the earlier incarnation's handle is foreign, whether the record
 * now holds a handle allocation or an address-keyed one. */
TTA_TEST(handles_of_an_earlier_incarnation_are_foreign)
{
	enable();
	setenv("TT_ALLOC_MAX_BUFFERS", "64", 1);
	tta_handle h1 = tta_report_alloc_handle(0, 0x10, 10, TTA_MEM_DRAM);
	CHECK(tta_track_detach() == 1, "detach");
	tta_handle h2 = tta_report_alloc_handle(0, 0x20, 20, TTA_MEM_DRAM);
	CHECK((h2 & 0xffffffffu) == (h1 & 0xffffffffu), "same record %llx %llx",
	      (unsigned long long)h1, (unsigned long long)h2);
	tta_report_free_handle(h1);
	CHECK_EQ_I64(health().foreign_frees, 1);
	CHECK(tta_track_detach() == 1, "detach");
	tta_report_alloc(0, 0x30, 30, TTA_MEM_DRAM); /* takes the record first */
	tta_report_free_handle(h1);
	tta_report_free_handle(h2);
	struct tta_test_health hl = health();
	CHECK_EQ_I64(hl.foreign_frees, 3);
	CHECK_EQ_I64(hl.double_frees, 0);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 30);
	CHECK_EQ_I64(s.device_buffers[0], 1);
	tta_report_free(0, 0x30);
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
}

/* Sizes the signed totals cannot hold (2^63 and more) are refused by every
 * report call that takes a size; 2^63 - 1 is still accepted. */
TTA_TEST(sizes_from_2_pow_63_are_bad_arguments)
{
	enable();
	const uint64_t too_big[] = { 1ull << 63, (1ull << 63) + 1, UINT64_MAX };
	for (int i = 0; i < 3; i++) {
		tta_report_alloc(0, 0x1000 + (uint64_t)i, too_big[i], TTA_MEM_DRAM);
		CHECK(tta_report_alloc_handle(0, 0x2000, too_big[i], TTA_MEM_L1) == 0, "handle");
		tta_report_cb_alloc(0, 7 + (uint64_t)i, too_big[i]);
		tta_report_kernel_load(0, 9 + (uint64_t)i, too_big[i], TTA_KERNEL_APPLICATION);
	}
	struct tta_test_health hl = health();
	CHECK_EQ_I64(hl.bad_argument, 12);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(s.device_buffers[0], 0);
	tta_report_free(0, 0x1000); /* never recorded */
	CHECK_EQ_I64(health().unknown_frees, 1);
	tta_report_alloc(0, 0x1000, INT64_MAX, TTA_MEM_DRAM);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], INT64_MAX);
	tta_report_free(0, 0x1000);
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(health().bad_argument, 12);
}

struct listed {
	int n;
	uint64_t size[8];
	uint32_t type[8];
};

static int list_at_cb(const struct tta_buffer_view *b, void *ctx)
{
	struct listed *l = ctx;
	if (b->address == 0x10 && b->device == 0 && b->type != TTA_MEM_CB && l->n < 8) {
		l->size[l->n] = b->size;
		l->type[l->n++] = b->type;
	}
	return 0;
}

/* Live buffer records at device 0 address 0x10, sizes summed and counted. */
static struct listed list_at_0x10(void)
{
	struct listed l = { 0 };
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_reader_foreach_buffer(r, NULL, list_at_cb, &l);
	tta_reader_close(r);
	return l;
}

/* Allocates N fresh DRAM buffers at FROM, FROM + 64, ... (sizes 1). */
static void alloc_run(uint64_t from, int n)
{
	for (int i = 0; i < n; i++)
		tta_report_alloc(0, from + (uint64_t)i * 64, 1, TTA_MEM_DRAM);
}

static void free_run(uint64_t from, int n)
{
	for (int i = 0; i < n; i++)
		tta_report_free(0, from + (uint64_t)i * 64);
}

/* With a large live set each shard's index stages the newest allocations in
 * front of its table (track.c, struct staged). Every way a key moves between
 * the ring and the table keeps totals, records and collision counts exact:
 * freed young, freed old, allocated over a staged or an indexed key, freed
 * while the question "was it allocated over an indexed key" is still open,
 * and detached with such questions open. */
TTA_TEST(large_index_stages_exactly)
{
	enable();
	const uint64_t bulk = 0x100000000ull;
	const int live = 200000; /* > 2^15 buckets per shard: every shard stages */
	alloc_run(bulk, live);
	const uint64_t others = 0x900000000ull;
	int other_n = 0;
#define EVICT_RING() (alloc_run(others + (uint64_t)other_n * 64, 1000), other_n += 1000)
	/* Young buffers: freed before they reach the table. */
	for (int i = 0; i < 5000; i++) {
		tta_report_alloc(0, 0x5000000 + (uint64_t)i * 64, 7, TTA_MEM_L1);
		tta_report_free(0, 0x5000000 + (uint64_t)i * 64);
	}
	CHECK_EQ_I64(health().address_collisions, 0);
	CHECK_EQ_I64(health().unknown_frees, 0);

	/* Over a staged key: counted at once, newest freed first. */
	tta_report_alloc(0, 0x10, 100, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x10, 200, TTA_MEM_DRAM);
	CHECK_EQ_I64(health().address_collisions, 1);
	tta_report_free(0, 0x10);
	CHECK_EQ_I64(list_at_0x10().n, 1);
	CHECK_EQ_I64(list_at_0x10().size[0], 100);
	tta_report_free(0, 0x10);
	CHECK_EQ_I64(list_at_0x10().n, 0);

	/* Over an indexed key, then evicted: the table names the newest. */
	tta_report_alloc(0, 0x10, 1, TTA_MEM_DRAM);
	EVICT_RING();
	tta_report_alloc(0, 0x10, 2, TTA_MEM_DRAM);   /* over the indexed one */
	tta_report_alloc(0, 0x10, 3, TTA_MEM_DRAM);   /* over the staged one: counted now */
	CHECK_EQ_I64(health().address_collisions, 2);
	EVICT_RING();                                 /* 3 meets 1 in the table */
	CHECK_EQ_I64(health().address_collisions, 3);
	const uint64_t order[] = { 3, 2, 1 };
	for (int i = 0; i < 3; i++) {
		struct listed l = list_at_0x10();
		CHECK(l.n == 3 - i, "%d records at 0x10 before free %d", l.n, i);
		tta_report_free(0, 0x10);
		l = list_at_0x10();
		for (int k = 0; k < l.n; k++)
			CHECK(l.size[k] != order[i], "free %d left size %llu", i,
			      (unsigned long long)order[i]);
	}
	tta_report_free(0, 0x10);
	CHECK_EQ_I64(health().unknown_frees, 1);

	/* Over an indexed key and freed while staged: the question stays open
	 * until the freed entry leaves the ring ... */
	tta_report_alloc(0, 0x20, 10, TTA_MEM_L1);
	EVICT_RING();
	tta_report_alloc(0, 0x20, 20, TTA_MEM_L1);
	tta_report_free(0, 0x20);
	EVICT_RING();
	CHECK_EQ_I64(health().address_collisions, 4);
	tta_report_free(0, 0x20);
	/* ... or until the key is freed from the table ... */
	tta_report_alloc(0, 0x30, 10, TTA_MEM_L1);
	EVICT_RING();
	tta_report_alloc(0, 0x30, 20, TTA_MEM_L1);
	tta_report_free(0, 0x30);
	tta_report_free(0, 0x30);
	CHECK_EQ_I64(health().address_collisions, 5);
	/* ... and a freed key that was not indexed counts nothing. */
	tta_report_alloc(0, 0x40, 10, TTA_MEM_L1);
	tta_report_free(0, 0x40);
	EVICT_RING();
	CHECK_EQ_I64(health().address_collisions, 5);
	/* A CB with a buffer's number is another key. */
	tta_report_cb_alloc(0, 0x50, 1000);
	tta_report_alloc(0, 0x50, 5, TTA_MEM_DRAM);
	EVICT_RING();
	tta_report_cb_free(0, 0x50);
	tta_report_free(0, 0x50);
	CHECK_EQ_I64(health().address_collisions, 5);
	CHECK_EQ_I64(health().unknown_frees, 1);

	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], live + other_n);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 0);
	CHECK_EQ_I64(s.device[0][TTA_MEM_CB], 0);
	/* Oldest first, then the rest. */
	free_run(bulk, live);
	free_run(others, other_n);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(health().unknown_frees, 1);

	/* Detach answers the questions still open. */
	alloc_run(bulk, live);
	tta_report_alloc(0, 0x60, 1, TTA_MEM_DRAM);
	other_n = 0;
	EVICT_RING();
	tta_report_alloc(0, 0x60, 2, TTA_MEM_DRAM);
	tta_report_free(0, 0x60);
	CHECK_EQ_I64(health().address_collisions, 5);
	CHECK(tta_track_detach() == live + other_n + 1, "detach");
	CHECK_EQ_I64(health().address_collisions, 6);
#undef EVICT_RING
}

/* An alloc over a live (device, address) keeps both and counts a collision;
 * each free of that address releases the newest live allocation, so as many
 * frees as allocs release them all. */
TTA_TEST(collision_frees_release_newest_first)
{
	enable();
	tta_report_alloc(0, 0x10, 100, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x10, 200, TTA_MEM_DRAM);
	CHECK_EQ_I64(health().address_collisions, 1);
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 300);
	CHECK_EQ_I64(list_at_0x10().n, 2);
	tta_report_free(0, 0x10);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 100); /* the newest (200) went first */
	struct listed l = list_at_0x10();
	CHECK(l.n == 1 && l.size[0] == 100, "left: %d records, first %llu", l.n,
	      (unsigned long long)l.size[0]);
	tta_report_free(0, 0x10);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(s.device_buffers[0], 0);
	CHECK_EQ_I64(list_at_0x10().n, 0);
	CHECK_EQ_I64(health().unknown_frees, 0);
	tta_report_free(0, 0x10);
	CHECK_EQ_I64(health().unknown_frees, 1);

	/* Three deep, mixed types, with a CB of the same number beside them. */
	tta_report_alloc(0, 0x10, 1, TTA_MEM_DRAM);
	tta_report_cb_alloc(0, 0x10, 1000);
	tta_report_alloc(0, 0x10, 20, TTA_MEM_L1);
	tta_report_cb_alloc(0, 0x10, 2000);
	tta_report_alloc(0, 0x10, 300, TTA_MEM_DRAM);
	CHECK_EQ_I64(health().address_collisions, 4);
	CHECK_EQ_I64(list_at_0x10().n, 3);
	const int64_t dram_after[] = { 1, 1, 0 }, l1_after[] = { 20, 0, 0 };
	for (int i = 0; i < 3; i++) {
		tta_report_free(0, 0x10);
		tta_sums_read(&s);
		tta_sums_check_consistent(&s);
		CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], dram_after[i]);
		CHECK_EQ_I64(s.device[0][TTA_MEM_L1], l1_after[i]);
		CHECK_EQ_I64(s.device[0][TTA_MEM_CB], 3000);
	}
	tta_report_cb_free(0, 0x10);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_CB], 1000);
	tta_report_cb_free(0, 0x10);
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(s.device_buffers[0], 0);
	CHECK_EQ_I64(health().unknown_frees, 1);
}

/* A child process that churns allocations and keeps a ledger of what it
 * holds; with STOP_AT >= 0 it stops churning at that many ops and reports. */
struct ledger {
	int64_t bytes[2][TTA_MEM_TYPES];
};

static void churn(uint64_t seed, long ops, struct ledger *held, int use_handles)
{
	enum { LIVE = 512 };
	struct {
		uint64_t addr, size;
		uint32_t dev, type;
		tta_handle h;
		int kind; /* 0 none, 1 buffer, 2 cb */
	} live[LIVE];
	memset(live, 0, sizeof live);
	memset(held, 0, sizeof *held);
	uint64_t rng = seed | 1;
	for (long i = 0; i < ops; i++) {
		uint64_t x = tta_rand(&rng);
		int k = (int)(x % LIVE);
		if (live[k].kind) {
			if (live[k].kind == 2)
				tta_report_cb_free(live[k].dev, live[k].addr);
			else if (live[k].h)
				tta_report_free_handle(live[k].h);
			else
				tta_report_free(live[k].dev, live[k].addr);
			held->bytes[live[k].dev][live[k].type] -= (int64_t)live[k].size;
			live[k].kind = 0;
			continue;
		}
		static const uint32_t types[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL,
						  TTA_MEM_TRACE, TTA_MEM_SYSTEM, TTA_MEM_CB };
		live[k].dev = (uint32_t)((x >> 20) & 1);
		live[k].type = types[(x >> 24) % 6];
		live[k].size = ((x >> 32) % 65536) + 1;
		live[k].addr = ((uint64_t)k << 20) | (seed << 40);
		live[k].h = 0;
		if (live[k].type == TTA_MEM_CB) {
			tta_report_cb_alloc(live[k].dev, live[k].addr, live[k].size);
			live[k].kind = 2;
		} else if (use_handles && (x & 0x100)) {
			live[k].h = tta_report_alloc_handle(live[k].dev, live[k].addr, live[k].size,
							    live[k].type);
			live[k].kind = 1;
		} else {
			tta_report_alloc(live[k].dev, live[k].addr, live[k].size, live[k].type);
			live[k].kind = 1;
		}
		held->bytes[live[k].dev][live[k].type] += (int64_t)live[k].size;
	}
}

TTA_TEST(processes_sum_exactly)
{
	enable();
	enum { WRITERS = 4 };
	struct ledger *ledgers = mmap(NULL, sizeof(struct ledger) * WRITERS, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int go[2], done[2];
	CHECK(pipe(go) == 0 && pipe(done) == 0, "pipes");
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		if (pids[w] == 0) {
			close(go[1]);
			churn((uint64_t)w + 11, 200000, &ledgers[w], w & 1);
			char c = 'x';
			CHECK(write(done[1], &c, 1) == 1, "done");
			CHECK(read(go[0], &c, 1) >= 0, "wait"); /* hold until told */
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		char c;
		CHECK(read(done[0], &c, 1) == 1, "writer %d finished", w);
	}
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK(s.processes == WRITERS, "live processes %d", s.processes);
	for (int d = 0; d < 2; d++)
		for (int t = 0; t < TTA_MEM_TYPES; t++) {
			int64_t expect = 0;
			for (int w = 0; w < WRITERS; w++)
				expect += ledgers[w].bytes[d][t];
			CHECK(s.device[d][t] == expect, "dev %d type %d: %lld != ledger %lld", d, t,
			      (long long)s.device[d][t], (long long)expect);
		}
	close(go[1]); /* release them: they exit holding memory */
	for (int w = 0; w < WRITERS; w++)
		wait_exit(pids[w]);
	CHECK(reap_dead_now() == WRITERS, "reaped");
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK(s.processes == 0, "processes left %d", s.processes);
	CHECK_EQ_I64(health().records_in_use, 0);
	CHECK_EQ_I64(health().leaky_processes, WRITERS);
}

TTA_TEST(sigkill_at_random_points_then_reap_is_exact)
{
	enable();
	uint64_t rng = 0x1234567;
	for (int round = 0; round < 30; round++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct ledger l;
			churn((uint64_t)round + 100, 100000000, &l, round & 1);
			_exit(0);
		}
		usleep((useconds_t)(1000 + tta_rand(&rng) % 20000));
		kill(pid, SIGKILL);
		wait_exit(pid);
	}
	/* A survivor whose ledger must match exactly what the segment says. */
	struct ledger *mine = mmap(NULL, sizeof *mine, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int done[2];
	CHECK(pipe(done) == 0, "pipe");
	pid_t survivor = fork();
	if (survivor == 0) {
		churn(999, 50000, mine, 1);
		char c = 1;
		CHECK(write(done[1], &c, 1) == 1, "w");
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(done[0], &c, 1) == 1, "survivor ready");
	reap_dead_now();
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	for (int d = 0; d < 2; d++)
		for (int t = 0; t < TTA_MEM_TYPES; t++)
			CHECK(s.device[d][t] == mine->bytes[d][t], "dev %d type %d %lld != %lld", d,
			      t, (long long)s.device[d][t], (long long)mine->bytes[d][t]);
	CHECK(s.processes == 1, "only the survivor is live (%d)", s.processes);
	kill(survivor, SIGKILL);
	wait_exit(survivor);
	reap_dead_now();
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(health().records_in_use, 0);
	CHECK_EQ_I64(health().live_processes, 0);
}

TTA_TEST(pid_reuse_is_recognised)
{
	enable();
	int ready[2];
	CHECK(pipe(ready) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
		char c = 1;
		CHECK(write(ready[1], &c, 1) == 1, "w");
		/* Keep reporting: once our slot is taken we must stop writing. */
		for (int i = 0; i < 2000 && tta_track_state() == TTA_TRACK_ATTACHED; i++) {
			tta_report_alloc(0, 0x2000 + (uint64_t)i, 1, TTA_MEM_L1);
			usleep(1000);
		}
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 3);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1, "child attached");
	/* Make the slot look like an earlier process that had this pid: its
	 * recorded start time no longer matches the running process. */
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	int planted = 0;
	for (uint32_t i = 0; i < seg.geo.slot_capacity; i++) {
		struct tta_slot *s = tta_slot_at(&seg, i);
		if (TTA_SLOT_PHASE(s->state) == TTA_SLOT_LIVE && TTA_SLOT_PID(s->state) == pid) {
			s->start_time -= 7;
			planted++;
		}
	}
	CHECK(planted == 1, "found the child's slot");
	CHECK(kill(pid, 0) == 0, "pid is alive");
	CHECK(tta_reap_dead(&seg, 0, NULL, NULL) == 1, "slot of a reused pid reaped");
	tta_segment_close(&seg);
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer noticed its slot was taken (%d)",
	      WEXITSTATUS(st));
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
}

TTA_TEST(fork_child_gets_own_slot_and_nothing_inherited)
{
	enable();
	tta_report_alloc(0, 0x1000, 1000, TTA_MEM_DRAM);
	tta_report_cb_alloc(0, 5, 10);
	int done[2];
	CHECK(pipe(done) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		CHECK(tta_track_state() == TTA_TRACK_IDLE, "child starts unattached");
		tta_report_free(0, 0x1000); /* the parent's: unknown to us */
		tta_report_alloc(0, 0x2000, 7, TTA_MEM_L1);
		char c = 1;
		CHECK(write(done[1], &c, 1) == 1, "w");
		pause();
		_exit(0);
	}
	char c;
	CHECK(read(done[0], &c, 1) == 1, "child reported");
	struct tta_sums s;
	tta_sums_read(&s);
	tta_sums_check_consistent(&s);
	CHECK(s.processes == 2, "two slots (%d)", s.processes);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 1000);
	CHECK_EQ_I64(s.device[0][TTA_MEM_L1], 7);
	CHECK_EQ_I64(health().unknown_frees, 1);
	/* The parent still reports normally after a fork. */
	tta_report_free(0, 0x1000);
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 0);
	kill(pid, SIGKILL);
	wait_exit(pid);
}

TTA_TEST(exec_image_does_not_inherit_stale_records)
{
	enable();
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x1000, 5555, TTA_MEM_DRAM);
		/* Become a new image of the same process (same pid + start time). */
		execl("/proc/self/exe", "test_writer", "--exec-helper", (char *)NULL);
		_exit(99);
	}
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec helper status %d", WEXITSTATUS(st));
}

/* Runs in the exec'd image: the old image's slot must be gone. */
static int exec_helper(void)
{
	tta_report_alloc(0, 0x2000, 11, TTA_MEM_L1);
	struct tta_sums s;
	tta_sums_read(&s);
	if (s.processes != 1 || s.device[0][TTA_MEM_DRAM] != 0 || s.device[0][TTA_MEM_L1] != 11) {
		fprintf(stderr, "after exec: processes %d dram %lld l1 %lld\n", s.processes,
			(long long)s.device[0][TTA_MEM_DRAM], (long long)s.device[0][TTA_MEM_L1]);
		return 1;
	}
	return 0;
}

TTA_TEST(full_slot_table_refuses_visibly)
{
	enable();
	setenv("TT_ALLOC_MAX_PROCESSES", "2", 1);
	int done[2], err_pipe[2];
	CHECK(pipe(done) == 0 && pipe(err_pipe) == 0, "pipes");
	pid_t holders[2];
	for (int i = 0; i < 2; i++) {
		holders[i] = fork();
		if (holders[i] == 0) {
			tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM);
			char c = 1;
			CHECK(write(done[1], &c, 1) == 1, "w");
			pause();
			_exit(0);
		}
		char c;
		CHECK(read(done[0], &c, 1) == 1, "holder %d", i);
	}
	pid_t third = fork();
	if (third == 0) {
		dup2(err_pipe[1], 2);
		for (int i = 0; i < 1000; i++)
			tta_report_alloc(0, 0x2000 + (uint64_t)i, 1, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 1);
	}
	close(err_pipe[1]);
	int st = wait_exit(third);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "third process disabled, not crashed");
	char msg[1024] = { 0 };
	ssize_t n = read(err_pipe[0], msg, sizeof msg - 1);
	CHECK(n > 0 && strstr(msg, "process slots") != NULL && strchr(msg, '\n') == msg + n - 1,
	      "exactly one line naming the problem: '%s'", msg);
	CHECK_EQ_I64(health().attach_refused, 1);
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 200);
	for (int i = 0; i < 2; i++) {
		kill(holders[i], SIGKILL);
		wait_exit(holders[i]);
	}
}

TTA_TEST(full_record_table_keeps_counters_exact)
{
	enable();
	setenv("TT_ALLOC_MAX_BUFFERS", "128", 1);
	for (uint64_t i = 0; i < 1000; i++)
		tta_report_alloc((uint32_t)(i & 1), i * 4096, i + 1, TTA_MEM_DRAM);
	tta_handle h = tta_report_alloc_handle(0, 1ull << 40, 5, TTA_MEM_L1);
	CHECK(h != 0, "handle from the overflow path");
	struct tta_sums s;
	tta_sums_read(&s);
	int64_t expect = 1000 * 1001 / 2;
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM] + s.device[1][TTA_MEM_DRAM], expect);
	CHECK_EQ_I64(s.record_count[0] + s.record_count[1], 128);
	CHECK(health().records_unavailable >= 1000 - 128, "shortfall visible: %llu",
	      (unsigned long long)health().records_unavailable);
	tta_report_free_handle(h);
	tta_report_free_handle(h); /* double free of an overflow handle */
	for (uint64_t i = 0; i < 1000; i++)
		tta_report_free((uint32_t)(i & 1), i * 4096);
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(health().double_frees, 1);
	CHECK_EQ_I64(health().unknown_frees, 0);
}

/* Reservation follows use: a process holding a few buffers reserves one
 * chunk, not one per hash shard (the seed reserved 384 records for 7
 * buffers), and a full table means records really are in use. */
TTA_TEST(record_reservation_scales_with_use)
{
	enable();
	for (uint64_t i = 0; i < 7; i++)
		tta_report_alloc(0, 0x100000 * (i + 1), 4096, TTA_MEM_DRAM);
	CHECK_EQ_I64(health().records_in_use, 64);
	for (uint64_t i = 0; i < 7; i++)
		tta_report_free(0, 0x100000 * (i + 1));
	/* Churn through many records: the reservation still tracks the peak. */
	for (uint64_t i = 0; i < 300; i++)
		tta_report_alloc(1, 0x1000 * (i + 1), 64, TTA_MEM_L1);
	for (uint64_t i = 0; i < 300; i++)
		tta_report_free(1, 0x1000 * (i + 1));
	uint64_t reserved = health().records_in_use;
	CHECK(reserved >= 320 && reserved <= 320 + 64, "300 live at the peak: %llu reserved",
	      (unsigned long long)reserved);
}

TTA_TEST(full_record_table_is_really_full)
{
	enable();
	setenv("TT_ALLOC_MAX_BUFFERS", "64", 1);
	for (uint64_t i = 0; i < 200; i++)
		tta_report_alloc(0, 0x1000 * (i + 1), 100, TTA_MEM_DRAM);
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 200 * 100);
	CHECK_EQ_I64(s.record_count[0], 64); /* every shared record holds a buffer */
	CHECK_EQ_I64(health().records_in_use, 64);
	CHECK_EQ_I64(health().records_unavailable, 200 - 64);
	for (uint64_t i = 0; i < 200; i++)
		tta_report_free(0, 0x1000 * (i + 1));
	tta_sums_read(&s);
	CHECK_EQ_I64(tta_sums_total(&s), 0);
	CHECK_EQ_I64(health().unknown_frees, 0);
}

TTA_TEST(detach_releases_and_reattaches)
{
	enable();
	tta_report_alloc(0, 1, 100, TTA_MEM_DRAM);
	tta_report_alloc(0, 2, 100, TTA_MEM_DRAM);
	CHECK(tta_track_detach() == 2, "two live at detach");
	CHECK(tta_track_state() == TTA_TRACK_IDLE, "idle after detach");
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK(s.processes == 0 && tta_sums_total(&s) == 0, "gone");
	CHECK_EQ_I64(health().leaky_processes, 0); /* dropped on purpose: no leak */
	CHECK_EQ_I64(health().leaked_bytes, 0);
	tta_report_alloc(0, 3, 5, TTA_MEM_L1);
	tta_sums_read(&s);
	CHECK(s.processes == 1 && s.device[0][TTA_MEM_L1] == 5, "re-attached");
}

TTA_TEST(kernels_alone_are_not_a_leak)
{
	enable();
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_kernel_load(0, 1, 4096, TTA_KERNEL_APPLICATION);
		tta_report_kernel_load(1, 2, 8192, TTA_KERNEL_DISPATCH);
		_exit(0);
	}
	wait_exit(pid);
	pid = fork();
	if (pid == 0) {
		tta_report_kernel_load(0, 1, 4096, TTA_KERNEL_APPLICATION);
		tta_report_alloc(0, 0x40, 100, TTA_MEM_L1);
		_exit(0);
	}
	wait_exit(pid);
	reap_dead_now(); /* the second writer may have reaped the first already */
	struct tta_test_health h = health();
	CHECK_EQ_I64(h.processes_reaped, 2);
	CHECK_EQ_I64(h.leaky_processes, 1); /* only the one with an L1 buffer */
	CHECK_EQ_I64(h.leaked_buffers, 1);
	CHECK_EQ_I64(h.leaked_bytes, 100);
}

TTA_TEST(stopped_writer_never_blocks_others)
{
	enable();
	int ready[2];
	CHECK(pipe(ready) == 0, "pipe");
	pid_t stopped = fork();
	if (stopped == 0) {
		struct ledger l;
		char c = 1;
		tta_report_alloc(0, 1, 1, TTA_MEM_DRAM);
		CHECK(write(ready[1], &c, 1) == 1, "w");
		churn(5, 1000000000, &l, 1);
		_exit(0);
	}
	char c;
	CHECK(read(ready[0], &c, 1) == 1, "ready");
	usleep(20000);
	kill(stopped, SIGSTOP); /* frozen at an arbitrary instruction */
	struct ledger mine;
	churn(6, 200000, &mine, 1); /* must complete: no cross-process lock */
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK(s.processes == 2, "both live");
	kill(stopped, SIGKILL);
	wait_exit(stopped);
	reap_dead_now();
	tta_sums_read(&s);
	for (int d = 0; d < 2; d++)
		for (int t = 0; t < TTA_MEM_TYPES; t++)
			CHECK_EQ_I64(s.device[d][t], mine.bytes[d][t]);
}

TTA_TEST(library_prints_nothing_to_stdout_and_leaks_no_fd)
{
	enable();
	int out[2];
	CHECK(pipe(out) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		int before = 0, after = 0;
		char path[64];
		for (int fd = 0; fd < 256; fd++) {
			snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
			before += access(path, F_OK) == 0;
		}
		tta_report_alloc(0, 1, 1, TTA_MEM_DRAM);
		tta_report_free(0, 12345);
		tta_report_free_handle(77);
		for (int fd = 0; fd < 256; fd++) {
			snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
			after += access(path, F_OK) == 0;
		}
		fflush(stdout);
		_exit(before == after ? 0 : 1);
	}
	close(out[1]);
	char buf[64];
	ssize_t n = read(out[0], buf, sizeof buf);
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "an fd stayed open after attach");
	CHECK(n == 0, "library wrote %zd bytes to stdout", n);
}

TTA_TEST(unusable_segment_disables_with_one_line)
{
	enable();
	/* A foreign file under our name: the writer must not touch it. */
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", tta_test_segment);
	int fd = open(path, O_CREAT | O_WRONLY, 0666);
	CHECK(fd >= 0, "create");
	CHECK(write(fd, "not a segment at all, thanks", 28) == 28, "write");
	close(fd);
	int err_pipe[2];
	CHECK(pipe(err_pipe) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		dup2(err_pipe[1], 2);
		for (int i = 0; i < 100; i++)
			tta_report_alloc(0, (uint64_t)i, 1, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 1);
	}
	close(err_pipe[1]);
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "disabled");
	char msg[1024] = { 0 };
	ssize_t n = read(err_pipe[0], msg, sizeof msg - 1);
	CHECK(n > 0 && strstr(msg, tta_test_segment) && strchr(msg, '\n') == msg + n - 1,
	      "one line naming the segment: '%s'", msg);
	struct stat stt;
	CHECK(stat(path, &stt) == 0 && stt.st_size == 28, "foreign file untouched");
}

TTA_TEST(full_dev_shm_fails_at_attach_not_later)
{
	enable();
	/* 2^30 records x 64 bytes is far more than this machine's /dev/shm. */
	setenv("TT_ALLOC_MAX_BUFFERS", "1073741824", 1);
	int err_pipe[2];
	CHECK(pipe(err_pipe) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		dup2(err_pipe[1], 2);
		tta_report_alloc(0, 1, 1, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 1);
	}
	close(err_pipe[1]);
	int st = wait_exit(pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "disabled, no SIGBUS (status %d)", st);
	char msg[1024] = { 0 };
	CHECK(read(err_pipe[0], msg, sizeof msg - 1) > 0, "message");
	CHECK(strstr(msg, "cannot reserve") && strstr(msg, "TT_ALLOC_MAX_BUFFERS"),
	      "names the fix: '%s'", msg);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", tta_test_segment);
	CHECK(access(path, F_OK) != 0, "nothing left under the public name");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--exec-helper") == 0)
		return exec_helper();
	static const struct tta_test_case cases[] = {
		TTA_CASE(off_touches_nothing),
		TTA_CASE(off_makes_no_syscall),
		TTA_CASE(every_report_kind_is_exact),
		TTA_CASE(misuse_is_counted_never_fatal),
		TTA_CASE(handle_of_another_process_is_foreign),
		TTA_CASE(forged_handles_are_foreign_and_change_nothing),
		TTA_CASE(stale_handles_are_double_frees),
		TTA_CASE(handles_across_fork_are_foreign),
		TTA_CASE(handles_of_an_earlier_incarnation_are_foreign),
		TTA_CASE(sizes_from_2_pow_63_are_bad_arguments),
		TTA_CASE(collision_frees_release_newest_first),
		TTA_CASE(large_index_stages_exactly),
		TTA_CASE(processes_sum_exactly),
		TTA_CASE(sigkill_at_random_points_then_reap_is_exact),
		TTA_CASE(pid_reuse_is_recognised),
		TTA_CASE(fork_child_gets_own_slot_and_nothing_inherited),
		TTA_CASE(exec_image_does_not_inherit_stale_records),
		TTA_CASE(full_slot_table_refuses_visibly),
		TTA_CASE(full_record_table_keeps_counters_exact),
		TTA_CASE(record_reservation_scales_with_use), TTA_CASE(full_record_table_is_really_full),
		TTA_CASE(detach_releases_and_reattaches),
		TTA_CASE(kernels_alone_are_not_a_leak),
		TTA_CASE(stopped_writer_never_blocks_others),
		TTA_CASE(library_prints_nothing_to_stdout_and_leaks_no_fd),
		TTA_CASE(unusable_segment_disables_with_one_line),
		TTA_CASE(full_dev_shm_fails_at_attach_not_later),
	};
	return tta_test_run_all(__FILE__, cases, (int)(sizeof cases / sizeof cases[0]), argc, argv);
}
