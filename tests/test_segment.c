/*
 * test_segment.c - the segment as a file: creation mode, version and layout
 * checks, truncated/foreign/half-built files, read-only readers, position
 * independence, names, and concurrent creation.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <sys/stat.h>

#include "tta_segment.h"
#include "tta_test.h"
#include "tta_test_util.h"

static void shm_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "/dev/shm%s", name);
}

/* Creates the test segment by making one report from a child process. */
static void create_with_a_report(void)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x100, 4096, TTA_MEM_DRAM);
		tta_track_detach();
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer");
}

static int open_reader_err(char *err, size_t n)
{
	tta_reader *r;
	int rc = tta_reader_open(NULL, &r, err, n);
	if (rc == 0)
		tta_reader_close(r);
	return rc;
}

/* Rewrites bytes of the segment file at OFFSET. */
static void patch_file(off_t offset, const void *bytes, size_t n)
{
	char path[128];
	shm_path(path, sizeof path, tta_test_segment);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0, "open %s", path);
	CHECK(pwrite(fd, bytes, n, offset) == (ssize_t)n, "pwrite");
	close(fd);
}

TTA_TEST(mode_is_exact_whatever_the_umask)
{
	umask(0077);
	create_with_a_report();
	char path[128];
	shm_path(path, sizeof path, tta_test_segment);
	struct stat st;
	CHECK(stat(path, &st) == 0, "stat");
	CHECK((st.st_mode & 0777) == 0666, "mode %o", st.st_mode & 0777);
	shm_unlink(tta_test_segment);
	setenv("TT_ALLOC_SHM_MODE", "0640", 1);
	create_with_a_report();
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "mode %o", st.st_mode & 0777);
	setenv("TT_ALLOC_SHM_MODE", "999", 1);
	struct tta_create_params p;
	char err[512];
	CHECK(tta_create_params_from_env(&p, err, sizeof err) == -EINVAL &&
		      strstr(err, "TT_ALLOC_SHM_MODE"),
	      "bad mode refused: %s", err);
	/* Octal bounds for an octal mode (not "0 to 511"). */
	CHECK(strstr(err, "an octal mode from 00 to 0777") || strstr(err, "an octal mode from 0 to 0777"),
	      "octal bounds: %s", err);
}

TTA_TEST(header_is_self_describing)
{
	create_with_a_report();
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, 0, NULL, &seg, err, sizeof err) == 0, "%s", err);
	const struct tta_header *h = tta_hdr(&seg);
	CHECK(h->magic == TTA_MAGIC && h->abi_version == TTA_ABI_VERSION, "magic/abi");
	CHECK(h->header_size == sizeof *h && h->layout_word == TTA_LAYOUT_WORD, "sizes");
	CHECK(h->device_capacity == 64 && h->slot_capacity == 256 && h->record_capacity == 1u << 20,
	      "default capacities %u %u %u", h->device_capacity, h->slot_capacity,
	      h->record_capacity);
	CHECK(h->ready == TTA_READY_VALUE, "ready");
	struct stat st;
	char path[128];
	shm_path(path, sizeof path, tta_test_segment);
	CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == h->segment_size, "size");
	/* Space is reserved (posix_fallocate), so no later write can SIGBUS. */
	CHECK((uint64_t)st.st_blocks * 512 >= h->segment_size, "blocks %lld for %llu",
	      (long long)st.st_blocks, (unsigned long long)h->segment_size);
	tta_segment_close(&seg);
}

TTA_TEST(other_abi_version_is_refused_with_the_fix)
{
	create_with_a_report();
	uint32_t v = TTA_ABI_VERSION + 1;
	patch_file(offsetof(struct tta_header, abi_version), &v, sizeof v);
	char err[512];
	CHECK(open_reader_err(err, sizeof err) == -EPROTO, "newer version");
	CHECK(strstr(err, "ABI version 3") && strstr(err, tta_test_segment), "message: %s", err);
	/* An ABI-1 segment left by the previous release: refused, and the one
	 * line says how to get an ABI-2 one. */
	v = 1;
	patch_file(offsetof(struct tta_header, abi_version), &v, sizeof v);
	CHECK(open_reader_err(err, sizeof err) == -EPROTO && strstr(err, "older ABI 1") &&
		      strstr(err, "remove it") && strstr(err, "ABI-2") && !strchr(err, '\n'),
	      "ABI 1: %s", err);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x100, 4096, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a writer refuses an ABI-1 segment too");
	/* Same version, different struct sizes: another build. */
	v = TTA_ABI_VERSION;
	patch_file(offsetof(struct tta_header, abi_version), &v, sizeof v);
	uint64_t layout = TTA_LAYOUT_WORD + 1;
	patch_file(offsetof(struct tta_header, layout_word), &layout, sizeof layout);
	CHECK(open_reader_err(err, sizeof err) == -EPROTO && strstr(err, "layout"), "%s", err);
}

TTA_TEST(truncated_oversized_and_foreign_files_are_refused)
{
	create_with_a_report();
	char path[128], err[512];
	shm_path(path, sizeof path, tta_test_segment);
	struct stat st;
	CHECK(stat(path, &st) == 0, "stat");
	CHECK(truncate(path, st.st_size - 4096) == 0, "truncate");
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "truncated"), "%s", err);
	/* ABI 2: a file larger than what its header describes is fine (the
	 * reader maps what the header covers). */
	CHECK(truncate(path, st.st_size + 4096) == 0, "grow");
	CHECK(open_reader_err(err, sizeof err) == 0, "oversized: %s", err);
	CHECK(truncate(path, 100) == 0, "tiny");
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "truncated"), "%s", err);
	CHECK(truncate(path, 0) == 0 && truncate(path, 8192) == 0, "zeroes");
	CHECK(open_reader_err(err, sizeof err) == -EPROTO && strstr(err, "not a tt-alloc"), "%s",
	      err);
}

static uint64_t device0_dram(void)
{
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_snapshot *snap;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &snap, err, sizeof err) == 0, "%s", err);
	const struct tta_device_view *d = tta_snapshot_device(snap, 0);
	uint64_t v = d != NULL && d->id == 0 ? (uint64_t)d->used[TTA_MEM_DRAM] : 0;
	tta_snapshot_free(snap);
	tta_reader_close(r);
	return v;
}

static struct tta_header read_header(void)
{
	char path[128];
	shm_path(path, sizeof path, tta_test_segment);
	struct tta_header h;
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h, "read header");
	close(fd);
	return h;
}

/* ABI 2's promise: a newer writer may append regions of kinds this build does
 * not know; readers and writers of this build skip them and keep working. */
TTA_TEST(unknown_regions_are_skipped)
{
	create_with_a_report();
	struct tta_header h = read_header();
	/* The core, then history, events and peaks (kinds 8-10), in order. */
	CHECK(h.region_count == TTA_REGION_CORE_KINDS + 3, "core + 3 optional regions: %u",
	      h.region_count);
	for (uint32_t i = 0; i < 3; i++)
		CHECK(h.regions[TTA_REGION_CORE_KINDS + i].kind == TTA_REGION_HISTORY + i &&
			      h.regions[TTA_REGION_CORE_KINDS + i].offset % TTA_PAGE == 0 &&
			      h.regions[TTA_REGION_CORE_KINDS + i].offset >=
				      h.regions[TTA_REGION_CORE_KINDS - 1].offset,
		      "optional region %u: kind %u", i, h.regions[TTA_REGION_CORE_KINDS + i].kind);
	char path[128];
	shm_path(path, sizeof path, tta_test_segment);
	uint64_t grown = h.segment_size + 2 * TTA_PAGE;
	CHECK(truncate(path, (off_t)grown) == 0, "grow");
	struct tta_region extra = { .kind = 999, .version = 7, .offset = h.segment_size,
				    .size = 2 * TTA_PAGE };
	patch_file(offsetof(struct tta_header, regions) + h.region_count * sizeof extra, &extra,
		   sizeof extra);
	uint32_t count = h.region_count + 1;
	patch_file(offsetof(struct tta_header, region_count), &count, sizeof count);
	patch_file(offsetof(struct tta_header, segment_size), &grown, sizeof grown);
	CHECK_EQ_I64(device0_dram(), 0);
	/* A writer of this build attaches to it and reports as usual. */
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x200, 1000, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_ATTACHED ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer attached");
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	tta_snapshot *snap;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &snap, err, sizeof err) == 0, "%s", err);
	CHECK_EQ_I64(tta_snapshot_segment(snap)->region_count, count);
	CHECK_EQ_I64(tta_snapshot_segment(snap)->segment_size, grown);
	tta_snapshot_free(snap);
	tta_reader_close(r);
}

/* Every directory entry is bounds-checked: outside the segment, overlapping
 * another region or the header, misaligned, or a core region moved. */
TTA_TEST(bad_region_directories_are_refused)
{
	create_with_a_report();
	struct tta_header h = read_header();
	char err[512];
	size_t at = offsetof(struct tta_header, regions) + h.region_count * sizeof(struct tta_region);
	uint32_t count = h.region_count + 1;
	const struct tta_region bad[] = {
		{ .kind = 999, .offset = h.segment_size, .size = TTA_PAGE },           /* beyond */
		{ .kind = 999, .offset = h.segment_size - TTA_PAGE, .size = UINT64_MAX }, /* wraps */
		{ .kind = 999, .offset = h.regions[0].offset, .size = 64 },            /* overlaps */
		{ .kind = 999, .offset = 64, .size = 64 },                             /* header */
		{ .kind = 999, .offset = h.segment_size - TTA_PAGE + 1, .size = 1 },   /* misaligned */
		{ .kind = 0, .offset = h.segment_size - TTA_PAGE, .size = 64 },        /* no kind */
	};
	patch_file(offsetof(struct tta_header, region_count), &count, sizeof count);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		patch_file((off_t)at, &bad[i], sizeof bad[i]);
		CHECK(open_reader_err(err, sizeof err) == -EINVAL && !strchr(err, '\n'),
		      "bad region %zu accepted: %s", i, err);
	}
	/* A duplicate core region, and one that disagrees with the capacities. */
	struct tta_region dup = h.regions[1];
	patch_file((off_t)at, &dup, sizeof dup);
	CHECK(open_reader_err(err, sizeof err) == -EINVAL, "duplicate core region: %s", err);
	count = h.region_count;
	patch_file(offsetof(struct tta_header, region_count), &count, sizeof count);
	struct tta_region moved = h.regions[6];
	moved.size -= 64;
	patch_file(offsetof(struct tta_header, regions) + 6 * sizeof moved, &moved, sizeof moved);
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "contradicts"),
	      "shrunk core region: %s", err);
	count = 200;
	patch_file(offsetof(struct tta_header, region_count), &count, sizeof count);
	CHECK(open_reader_err(err, sizeof err) == -EINVAL, "absurd region count: %s", err);
}

TTA_TEST(fifo_under_the_name_neither_hangs_nor_is_used)
{
	char path[128], err[512];
	shm_path(path, sizeof path, tta_test_segment);
	CHECK(mkfifo(path, 0666) == 0, "mkfifo");
	/* Opening a FIFO read-only would block until a writer appears. */
	CHECK(open_reader_err(err, sizeof err) == -EPROTO && strstr(err, "not a regular file"),
	      "%s", err);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 1, 1, TTA_MEM_DRAM);
	CHECK(tta_track_state() == TTA_TRACK_DISABLED, "writer refused it");
}

TTA_TEST(capacities_that_contradict_the_file_are_refused)
{
	create_with_a_report();
	uint32_t slots = 512;
	patch_file(offsetof(struct tta_header, slot_capacity), &slots, sizeof slots);
	char err[512];
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "contradict"), "%s", err);
	slots = 0;
	patch_file(offsetof(struct tta_header, slot_capacity), &slots, sizeof slots);
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "impossible"), "%s", err);
}

TTA_TEST(half_initialised_segment_is_refused)
{
	create_with_a_report();
	uint32_t zero = 0;
	patch_file(offsetof(struct tta_header, ready), &zero, sizeof zero);
	char err[512];
	CHECK(open_reader_err(err, sizeof err) == -EAGAIN && strstr(err, "not initialised") &&
		      strstr(err, "remove it"),
	      "%s", err);
}

TTA_TEST(missing_segment_and_bad_names)
{
	char err[512];
	CHECK(open_reader_err(err, sizeof err) == -ENOENT && strstr(err, "no tt-alloc segment"),
	      "%s", err);
	const char *bad[] = { "/a/b", "a/b", "/", ".", "/..", "x/" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tta_reader *r;
		int rc = tta_reader_open(bad[i], &r, err, sizeof err);
		CHECK(rc == -EINVAL && strstr(err, "invalid segment name"), "'%s': %s", bad[i], err);
	}
	/* One rule everywhere: a missing leading '/' is added, in an argument
	 * and in TT_ALLOC_SHM alike; empty is an error in both. */
	const char *n = tta_segment_name("no-slash", err, sizeof err);
	CHECK(n != NULL && strcmp(n, "/no-slash") == 0, "argument without '/': %s", n ? n : err);
	n = tta_segment_name(tta_test_segment + 1, err, sizeof err);
	CHECK(n != NULL && strcmp(n, tta_test_segment) == 0, "%s", n ? n : err);
	tta_reader *r;
	CHECK(tta_reader_open("", &r, err, sizeof err) == -EINVAL && strstr(err, "empty"),
	      "empty argument: %s", err);
	setenv("TT_ALLOC_SHM", "no-slash", 1);
	n = tta_segment_name(NULL, err, sizeof err);
	CHECK(n != NULL && strcmp(n, "/no-slash") == 0, "TT_ALLOC_SHM without '/': %s", n ? n : err);
	CHECK(open_reader_err(err, sizeof err) == -ENOENT && strstr(err, "/no-slash"), "%s", err);
	setenv("TT_ALLOC_SHM", "", 1);
	CHECK(tta_segment_name(NULL, err, sizeof err) == NULL, "empty TT_ALLOC_SHM resolved");
	CHECK(strstr(err, "empty") && strstr(err, "TT_ALLOC_SHM"), "says why: %s", err);
	CHECK(open_reader_err(err, sizeof err) == -EINVAL && strstr(err, "TT_ALLOC_SHM"), "%s", err);
	/* A writer told to use an empty name disables itself with one line and
	 * creates nothing (in particular not the default segment). */
	struct stat before;
	int had_default = stat("/dev/shm/tt_alloc", &before) == 0;
	int pipefd[2];
	CHECK(pipe(pipefd) == 0, "pipe");
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 2);
		setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
		tta_report_alloc(0, 1, 1, TTA_MEM_DRAM);
		_exit(tta_track_state() == TTA_TRACK_DISABLED ? 0 : 1);
	}
	close(pipefd[1]);
	int st;
	waitpid(pid, &st, 0);
	char msg[1024] = { 0 };
	ssize_t got = read(pipefd[0], msg, sizeof msg - 1);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer not disabled");
	CHECK(got > 0 && strstr(msg, "TT_ALLOC_SHM") && strchr(msg, '\n') == msg + got - 1,
	      "one line naming TT_ALLOC_SHM: '%s'", msg);
	struct stat after;
	CHECK(had_default || stat("/dev/shm/tt_alloc", &after) != 0, "default segment created");
}

TTA_TEST(permission_denied_is_explained)
{
	if (geteuid() != 0) {
		/* Not root: make a segment we cannot read. */
		setenv("TT_ALLOC_SHM_MODE", "0200", 1);
	} else {
		setenv("TT_ALLOC_SHM_MODE", "0600", 1);
	}
	create_with_a_report();
	pid_t pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && setuid(65534) != 0)
			_exit(3);
		char err[512];
		int rc = open_reader_err(err, sizeof err);
		_exit(rc == -EACCES && strstr(err, "permission denied") ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", WEXITSTATUS(st));
}

static sigjmp_buf fault_jump;
static void on_fault(int sig)
{
	siglongjmp(fault_jump, sig);
}

TTA_TEST(readers_cannot_write)
{
	create_with_a_report();
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, 0, NULL, &seg, err, sizeof err) == 0, "%s", err);
	CHECK(!seg.writable, "reader mapping is read-only");
	signal(SIGSEGV, on_fault);
	volatile int faulted = sigsetjmp(fault_jump, 1);
	if (!faulted) {
		((volatile uint8_t *)seg.base)[TTA_PAGE + 5] = 1;
		CHECK(0, "write through a reader mapping did not fault");
	}
	CHECK(faulted == SIGSEGV, "faulted with %d", faulted);
	/* And the public reader refuses to open for writing at all: its file is
	 * opened O_RDONLY, which the kernel records. */
	tta_segment_close(&seg);
}

TTA_TEST(position_independent_copy_reads_the_same)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	for (uint64_t i = 0; i < 500; i++)
		tta_report_alloc((uint32_t)(i % 3), i << 12, i + 1, (enum tta_mem_type)(i % 5));
	tta_report_cb_alloc(1, 9, 999);
	struct tta_sums a, b;
	tta_sums_read(&a);
	/* Two mappings at different addresses in this process see the same. */
	tta_reader *r1, *r2;
	char err[512];
	CHECK(tta_reader_open(NULL, &r1, err, sizeof err) == 0, "%s", err);
	CHECK(tta_reader_open(NULL, &r2, err, sizeof err) == 0, "%s", err);
	for (uint32_t d = 0; d < 3; d++) {
		struct tta_device_view v1, v2;
		tta_reader_device(r1, d, &v1);
		tta_reader_device(r2, d, &v2);
		CHECK(memcmp(v1.used, v2.used, sizeof v1.used) == 0, "device %u differs", d);
	}
	tta_reader_close(r1);
	tta_reader_close(r2);
	/* A byte copy under another name (mapped elsewhere) reads identically:
	 * nothing in it is a pointer. */
	char src[160], dst[160], copy_name[96];
	snprintf(copy_name, sizeof copy_name, "%s_copy", tta_test_segment);
	shm_path(src, sizeof src, tta_test_segment);
	shm_path(dst, sizeof dst, copy_name);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "cp %s %s", src, dst);
	CHECK(system(cmd) == 0, "cp");
	setenv("TT_ALLOC_SHM", copy_name, 1);
	tta_sums_read(&b);
	shm_unlink(copy_name);
	tta_sums_check_consistent(&b);
	CHECK(memcmp(a.device, b.device, sizeof a.device) == 0, "device totals differ in copy");
	CHECK(memcmp(a.records, b.records, sizeof a.records) == 0, "records differ in copy");
	CHECK_EQ_I64(tta_sums_total(&b), 500 * 501 / 2 + 999);
}

TTA_TEST(racing_creators_make_one_segment)
{
	enum { N = 8 };
	int go[2], done[2], hold[2];
	CHECK(pipe(go) == 0 && pipe(done) == 0 && pipe(hold) == 0, "pipe");
	pid_t pids[N];
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(go[1]);
			close(hold[1]);
			char c;
			CHECK(read(go[0], &c, 1) == 0, "wait");
			setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
			tta_report_alloc(0, (uint64_t)i, 100, TTA_MEM_DRAM);
			c = tta_track_state() == TTA_TRACK_ATTACHED ? 'y' : 'n';
			CHECK(write(done[1], &c, 1) == 1, "done");
			CHECK(read(hold[0], &c, 1) == 0, "hold"); /* stay alive to be counted */
			_exit(0);
		}
	}
	close(go[1]);
	for (int i = 0; i < N; i++) {
		char c = 0;
		CHECK(read(done[0], &c, 1) == 1 && c == 'y', "writer %d attached", i);
	}
	/* All reported into the same segment, and no temporary file is left. */
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	uint64_t sum = 0;
	for (uint32_t s = 0; s < seg.geo.slot_capacity; s++)
		sum += tta_counter_at(&seg, s, 0)->bytes[TTA_MEM_DRAM];
	CHECK(sum == 100 * N, "sum %llu", (unsigned long long)sum);
	tta_segment_close(&seg);
	close(hold[1]);
	for (int i = 0; i < N; i++)
		waitpid(pids[i], NULL, 0);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "ls /dev/shm | grep -q '^%s\\.init'", tta_test_segment + 1);
	CHECK(system(cmd) != 0, "temporary segment left behind");
}

TTA_TEST(hostile_slot_and_record_contents_do_not_mislead_readers)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM);
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	/* Garbage everywhere a writer could scribble: every bitmap bit set, a
	 * chunk owned by a slot index out of range, a record with a device and
	 * type out of range, a sequence left odd, an unterminated name. */
	memset(tta_live_slot_words(&seg), 0xff, 4 * tta_bitmap_words(&seg));
	for (uint32_t d = 0; d < seg.geo.device_capacity; d++)
		memset(tta_device_user_words(&seg, d), 0xff, 4 * tta_bitmap_words(&seg));
	*tta_chunk_owner_at(&seg, 100) = TTA_OWNER_TAG(999999, 1);
	struct tta_record *rec = tta_record_at(&seg, 200 * 64);
	*tta_chunk_owner_at(&seg, 200) = tta_record_at(&seg, 0)->owner;
	rec->owner = tta_record_at(&seg, 0)->owner;
	rec->state = TTA_RECORD_LIVE;
	rec->device = 60000;
	rec->type = 200;
	struct tta_record *odd = tta_record_at(&seg, 200 * 64 + 1);
	odd->owner = rec->owner;
	odd->state = TTA_RECORD_LIVE;
	odd->seq = 1;
	memset(tta_slot_at(&seg, 0)->comm, 'A', 16);
	tta_segment_close(&seg);
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 100);
	CHECK_EQ_I64(s.record_count[0], 1);
	CHECK(s.processes == 1, "processes %d", s.processes);
}

TTA_TEST(orphaned_chunks_are_released)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 0x1000, 100, TTA_MEM_DRAM); /* a live owner keeps its chunk */
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	uint64_t live_tag = tta_record_at(&seg, 0)->owner;
	uint32_t slot = TTA_OWNER_SLOT(live_tag), gen = TTA_OWNER_GEN(live_tag);
	/* A slot index that does not exist, an incarnation older than the live
	 * one, and one from the future (kept: that incarnation may still come). */
	*tta_chunk_owner_at(&seg, 10) = TTA_OWNER_TAG(seg.geo.slot_capacity + 5, 1);
	*tta_chunk_owner_at(&seg, 11) = TTA_OWNER_TAG(slot, gen - 1);
	*tta_chunk_owner_at(&seg, 12) = TTA_OWNER_TAG(slot, gen + 1);
	struct tta_record *r = tta_record_at(&seg, 11 * 64 + 3);
	r->state = TTA_RECORD_LIVE;
	r->seq = 5; /* left mid-write */
	CHECK(tta_release_orphan_chunks(&seg) == 2, "two orphans released");
	CHECK(*tta_chunk_owner_at(&seg, 10) == 0 && *tta_chunk_owner_at(&seg, 11) == 0, "freed");
	CHECK(*tta_chunk_owner_at(&seg, 12) != 0, "future incarnation kept");
	CHECK(*tta_chunk_owner_at(&seg, 0) == live_tag, "live owner's chunk kept");
	CHECK(r->state == TTA_RECORD_FREE && (r->seq & 1) == 0, "record recycled");
	tta_segment_close(&seg);
	struct tta_sums s;
	tta_sums_read(&s);
	CHECK_EQ_I64(s.device[0][TTA_MEM_DRAM], 100);
}

/* Writes a file /dev/shm/NAME: SIZE zero bytes, or (FORMAT) a small formatted
 * segment with the given ready flag and creator pid. */
static void plant_file(const char *name, size_t size, bool format, uint32_t ready,
		       uint64_t creator)
{
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
	if (format) {
		struct tta_geometry g;
		CHECK(tta_geometry_compute(1, 1, 64, &g) == 0, "geometry");
		uint8_t *buf = calloc(1, g.segment_size);
		CHECK(buf != NULL, "calloc");
		tta_segment_format(buf, &g, 0600);
		struct tta_header *h = (struct tta_header *)buf;
		h->creator_pid = creator;
		h->ready = ready;
		CHECK(write(fd, buf, g.segment_size) == (ssize_t)g.segment_size, "write");
		free(buf);
	} else if (size > 0) {
		CHECK(ftruncate(fd, (off_t)size) == 0, "ftruncate");
	}
	close(fd);
}

static bool shm_exists(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/%.200s", name);
	return access(path, F_OK) == 0;
}

/* Creating NAME removes only what is provably its own abandoned temporary
 * (NAME.init.PID.HEX of a dead PID, empty, never formatted, not ready, or
 * ready and made by that PID); a valid segment whose name merely looks like
 * one survives. */
TTA_TEST(only_abandoned_temporaries_are_swept)
{
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	const char *base = tta_test_segment + 1;
	char valid1[128], valid2[128], tmp[6][128];
	snprintf(valid1, sizeof valid1, "%s.init.%d", base, (int)dead);
	snprintf(valid2, sizeof valid2, "%s.init.%d.abc", base, (int)dead);
	/* Two real segments, made the normal way by another (live) process. */
	char env[160];
	snprintf(env, sizeof env, "/%s", valid1);
	setenv("TT_ALLOC_SHM", env, 1);
	create_with_a_report();
	snprintf(env, sizeof env, "/%s", valid2);
	setenv("TT_ALLOC_SHM", env, 1);
	create_with_a_report();
	setenv("TT_ALLOC_SHM", tta_test_segment, 1);
	CHECK(shm_exists(valid1) && shm_exists(valid2), "valid segments created");
	/* What a creator that died at each step leaves behind. */
	for (int i = 0; i < 6; i++)
		snprintf(tmp[i], sizeof tmp[i], "%s.init.%d.%x", base,
			 i == 5 ? (int)getpid() : (int)dead, 0x1f0 + i);
	plant_file(tmp[0], 0, false, 0, 0);                       /* before fallocate */
	plant_file(tmp[1], 1 << 20, false, 0, 0);                 /* before formatting */
	plant_file(tmp[2], 0, true, 0, (uint64_t)dead);           /* before ready */
	plant_file(tmp[3], 0, true, TTA_READY_VALUE, (uint64_t)dead); /* before unlink */
	plant_file(tmp[4], 4096, false, 0, 0);
	{
		char path[256];
		snprintf(path, sizeof path, "/dev/shm/%s", tmp[4]);
		int fd = open(path, O_WRONLY);
		CHECK(fd >= 0 && pwrite(fd, "not tt-alloc", 12, 0) == 12, "foreign content");
		close(fd);
	}
	plant_file(tmp[5], 0, false, 0, 0); /* a live creator's, in progress */
	create_with_a_report();
	bool created = shm_exists(tta_test_segment + 1);
	bool kept1 = shm_exists(valid1), kept2 = shm_exists(valid2);
	snprintf(env, sizeof env, "/%s", valid1);
	struct tta_segment seg;
	char err[512] = "";
	int open_rc = tta_segment_open(env, 0, NULL, &seg, err, sizeof err);
	if (open_rc == 0)
		tta_segment_close(&seg);
	bool left[6];
	for (int i = 0; i < 6; i++)
		left[i] = shm_exists(tmp[i]);
	/* Clean up before judging: the harness removes only its own name. */
	for (int i = 0; i < 8; i++) {
		snprintf(env, sizeof env, "/%.127s", i < 6 ? tmp[i] : i == 6 ? valid1 : valid2);
		shm_unlink(env);
	}
	CHECK(created, "segment created");
	CHECK(kept1, "valid segment %s was removed", valid1);
	CHECK(kept2, "valid segment %s was removed", valid2);
	CHECK(open_rc == 0, "%s", err);
	for (int i = 0; i < 4; i++)
		CHECK(!left[i], "abandoned temporary %s left", tmp[i]);
	CHECK(left[4], "foreign file %s removed", tmp[4]);
	CHECK(left[5], "live creator's temporary %s removed", tmp[5]);
}

TTA_TEST_MAIN(TTA_CASE(mode_is_exact_whatever_the_umask), TTA_CASE(header_is_self_describing),
	      TTA_CASE(other_abi_version_is_refused_with_the_fix),
	      TTA_CASE(truncated_oversized_and_foreign_files_are_refused),
	      TTA_CASE(unknown_regions_are_skipped), TTA_CASE(bad_region_directories_are_refused),
	      TTA_CASE(fifo_under_the_name_neither_hangs_nor_is_used),
	      TTA_CASE(capacities_that_contradict_the_file_are_refused),
	      TTA_CASE(half_initialised_segment_is_refused),
	      TTA_CASE(missing_segment_and_bad_names), TTA_CASE(permission_denied_is_explained),
	      TTA_CASE(readers_cannot_write), TTA_CASE(position_independent_copy_reads_the_same),
	      TTA_CASE(racing_creators_make_one_segment),
	      TTA_CASE(hostile_slot_and_record_contents_do_not_mislead_readers),
	      TTA_CASE(orphaned_chunks_are_released),
	      TTA_CASE(only_abandoned_temporaries_are_swept))
