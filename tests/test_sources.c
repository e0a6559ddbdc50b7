/*
 * test_sources.c - the parsers of the sources (libtrack/sources.c) and a
 * snapshot that gathers them: sysfs numbers and the driver's pid lines,
 * TT-Metal segment names and layouts (built here from docs/tt-metal-shm.md,
 * independently of the parser), every truncation of a segment, hostile
 * entries, exact telemetry formatting, a FIFO in place of an attribute, and
 * who counts as tracked, untracked or TT-Metal's when this very process
 * reports through libtrack and a forked child only holds the device.
 * tests/sh/test_sources.sh drives the same through tt-smi.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tt-alloc/sources.h"
#include "tta_sources.h"
#include "tta_test.h"

/* ---- files ---- */

static char tree[256];

static void make_tree(void)
{
	snprintf(tree, sizeof tree, "/tmp/tta_sources_%d_XXXXXX", (int)getpid());
	CHECK(mkdtemp(tree) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_tree(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
	CHECK(system(cmd) == 0, "rm");
}

static void mkdirs(const char *path)
{
	char p[512];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
}

static void put(const char *rel, const void *data, size_t len)
{
	char path[512], dir[512];
	snprintf(path, sizeof path, "%s/%s", tree, rel);
	snprintf(dir, sizeof dir, "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdirs(dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "%s: %s", path, strerror(errno));
	CHECK(write(fd, data, len) == (ssize_t)len, "write");
	close(fd);
}

static void put_text(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

/* ---- TT-Metal's DeviceMemoryRegion, from docs/tt-metal-shm.md ---- */

#define REGION_SIZE 8576
static unsigned char region[REGION_SIZE];

static void w32(size_t off, uint32_t v)
{
	memcpy(region + off, &v, 4);
}

static void w64(size_t off, uint64_t v)
{
	memcpy(region + off, &v, 8);
}

static void region_init(uint32_t version, uint64_t asic)
{
	memset(region, 0, sizeof region);
	w32(0, version);
	w64(8, 1700000000123456789ull); /* last_update_timestamp */
	w64(32, asic);
	w32(40, 3);                     /* device_id */
	for (int c = 0; c < 16; c++)
		w32(88 + 48 * (size_t)c, UINT32_MAX);
	if (version >= 4)
		w32(8536, 0x52454459);
}

static void region_totals(uint64_t dram, uint64_t l1, uint64_t l1_small, uint64_t trace, uint64_t cb)
{
	uint64_t v[5] = { dram, l1, l1_small, trace, cb };
	for (int i = 0; i < 5; i++)
		w64(48 + 8 * (size_t)i, v[i]);
}

static void region_process(int slot, int32_t pid, const char *name, size_t name_len, uint64_t dram,
			   uint64_t cb)
{
	size_t off = 856 + 120 * (size_t)slot;
	w32(off, (uint32_t)pid);
	w64(off + 8, dram);
	w64(off + 40, cb);
	w64(off + 48, 42);
	memcpy(region + off + 56, name, name_len);
}

static void region_chip(int slot, uint32_t chip, uint32_t remote, uint64_t dram)
{
	size_t off = 88 + 48 * (size_t)slot;
	w32(off, chip);
	w32(off + 4, remote);
	w64(off + 8, dram);
}

static int parse(size_t len, uint64_t asic, struct tta_tt_metal_segment *seg,
		 struct tta_tt_metal_process *procs, uint32_t *n)
{
	memset(seg, 0, sizeof *seg);
	/* A heap copy of exactly LEN bytes: ASan sees any read past them. */
	unsigned char *copy = malloc(len ? len : 1);
	CHECK(copy != NULL, "malloc");
	memcpy(copy, region, len);
	int rc = tta_tt_metal_parse(copy, len, asic, seg, procs, n);
	free(copy);
	return rc;
}

/* ---- cases ---- */

TTA_TEST(sysfs_numbers_parse_whole_values_only)
{
	int64_t v;
#define OK(text, base, sgn, want)                                                          \
	do {                                                                               \
		CHECK(tta_parse_sysfs_number(text, strlen(text), base, sgn, &v), "%s", text); \
		CHECK_EQ_I64(v, want);                                                     \
	} while (0)
#define BAD(text, base, sgn) \
	CHECK(!tta_parse_sysfs_number(text, strlen(text), base, sgn, &v), "accepted '%s'", text)
	OK("1000\n", 10, false, 1000);
	OK("45125", 10, true, 45125);
	OK("-1500\n", 10, true, -1500);
	OK("9223372036854775807", 10, false, INT64_MAX);
	OK("0000000100000042\n", 16, false, 0x100000042ll);
	OK("0x1f", 16, false, 31);
	OK("FFFFFFFFFFFFFFFF", 16, false, -1); /* the 64-bit pattern of an id */
	BAD("", 10, false);
	BAD("\n", 10, false);
	BAD("-1500", 10, false);
	BAD("-", 10, true);
	BAD(" 5", 10, false);
	BAD("12 34", 10, false);
	BAD("12abc", 10, false);
	BAD("0x10", 10, false);
	BAD("9223372036854775808", 10, false);
	BAD("99999999999999999999999", 10, true);
	BAD("1FFFFFFFFFFFFFFFF", 16, false);
	BAD("zz", 16, false);
	BAD("0x", 16, false);
	CHECK(!tta_parse_sysfs_number("12", 2, 8, false, &v), "base 8 is not a sysfs base");
#undef OK
#undef BAD
}

TTA_TEST(pid_lines_keep_duplicates_and_skip_garbage)
{
	const char text[] = "4242\n4242\n0\nabc\n-1\n\n2147483648\n4242 x\n17";
	int32_t pids[8];
	size_t n = tta_parse_pid_lines(text, sizeof text - 1, pids, 8);
	CHECK_EQ_I64(n, 4);
	CHECK(pids[0] == 4242 && pids[1] == 4242 && pids[2] == 0 && pids[3] == 17, "%d %d %d %d",
	      pids[0], pids[1], pids[2], pids[3]);
	/* More valid lines than room: counted, not stored beyond MAX. */
	CHECK_EQ_I64(tta_parse_pid_lines(text, sizeof text - 1, pids, 2), 4);
	CHECK_EQ_I64(tta_parse_pid_lines("", 0, NULL, 0), 0);
}

TTA_TEST(tt_metal_file_names)
{
	uint64_t a;
	CHECK(tta_tt_metal_name("tt_device_123_memory", &a) && a == 123, "123");
	CHECK(tta_tt_metal_name("tt_device_0_memory", &a) && a == 0, "0");
	CHECK(tta_tt_metal_name("tt_device_18446744073709551615_memory", &a) && a == UINT64_MAX,
	      "u64 max");
	const char *bad[] = { "tt_device_18446744073709551616_memory", "tt_device_0123_memory",
			      "tt_device__memory", "tt_device_1_memory.bak", "xtt_device_1_memory",
			      "tt_device_-1_memory", "tt_device_1x_memory", "tt_device_memory", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(!tta_tt_metal_name(bad[i], &a), "accepted %s", bad[i]);
}

TTA_TEST(tt_metal_versions_2_to_4_read_exactly)
{
	struct tta_tt_metal_segment seg;
	struct tta_tt_metal_process procs[64];
	uint32_t n;
	for (uint32_t version = 2; version <= 4; version++) {
		region_init(version, 777);
		w32(4, 2);
		region_totals(5000, 64, 32, 16, 8);
		region_chip(0, 0, 0, 4000);
		region_chip(1, 1, 1, 1000);
		region_process(0, 1234, "alpha", 5, 3000, 8);
		region_process(5, 5678, "beta", 4, 2000, 0);
		size_t len = version >= 4 ? 8540 : 8536;
		CHECK(parse(len, 777, &seg, procs, &n) == 0, "v%u: %s", version, seg.note);
		CHECK(seg.usable && seg.version == version && seg.note[0] == '\0', "v%u %s", version, seg.note);
		CHECK_EQ_I64(seg.total[TTA_MEM_DRAM], 5000);
		CHECK_EQ_I64(seg.total[TTA_MEM_L1], 64);
		CHECK_EQ_I64(seg.total[TTA_MEM_L1_SMALL], 32);
		CHECK_EQ_I64(seg.total[TTA_MEM_TRACE], 16);
		CHECK_EQ_I64(seg.total[TTA_MEM_CB], 8);
		CHECK_EQ_I64(seg.total[TTA_MEM_SYSTEM] + seg.total[TTA_MEM_KERNEL], 0);
		CHECK(memcmp(seg.shown, seg.total, sizeof seg.shown) == 0, "shown = total");
		CHECK(seg.active_processes == 2 && seg.metal_device_id == 3 &&
		      seg.last_update_ns == 1700000000123456789ull, "header fields");
		CHECK_EQ_I64(seg.chip_count, 2);
		CHECK(seg.chips[0].chip_id == 0 && !seg.chips[0].remote && seg.chips[0].used[TTA_MEM_DRAM] == 4000,
		      "chip 0");
		CHECK(seg.chips[1].chip_id == 1 && seg.chips[1].remote && seg.chips[1].used[TTA_MEM_DRAM] == 1000,
		      "chip 1");
		CHECK_EQ_I64(n, 2);
		CHECK(procs[0].pid == 1234 && strcmp(procs[0].name, "alpha") == 0 &&
		      procs[0].used[TTA_MEM_DRAM] == 3000 && procs[0].used[TTA_MEM_CB] == 8 &&
		      procs[0].last_update_ns == 42 && procs[0].asic_id == 777, "process 0");
		CHECK(procs[1].pid == 5678 && strcmp(procs[1].name, "beta") == 0, "process 1");
	}
}

TTA_TEST(tt_metal_other_versions_and_states_are_skipped_with_a_note)
{
	struct tta_tt_metal_segment seg;
	struct tta_tt_metal_process procs[64];
	uint32_t n;
	static const struct {
		uint32_t version;
		const char *note;
	} cases[] = {
		{ 0, "not initialised (version 0)" },
		{ 1, "layout version 1 is not supported (2 to 4 are)" },
		{ 5, "layout version 5 is not supported (2 to 4 are)" },
		{ UINT32_MAX, "layout version 4294967295 is not supported (2 to 4 are)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		region_init(cases[i].version, 1);
		region_process(0, 99, "x", 1, 1, 0);
		CHECK(parse(REGION_SIZE, 1, &seg, procs, &n) < 0 && !seg.usable && n == 0, "v%u",
		      cases[i].version);
		CHECK(strcmp(seg.note, cases[i].note) == 0, "'%s'", seg.note);
	}
	region_init(4, 1);
	w32(8536, 1); /* SHM_INIT_IN_PROGRESS: its initialiser has not finished */
	CHECK(parse(REGION_SIZE, 1, &seg, procs, &n) < 0, "in progress");
	CHECK(strcmp(seg.note, "not initialised (init_state 0x00000001)") == 0, "'%s'", seg.note);
}

/* Every length short of a whole region: refused below what the version
 * needs, read from there on, and never a byte read past the length. */
TTA_TEST(tt_metal_every_truncation)
{
	struct tta_tt_metal_segment seg;
	struct tta_tt_metal_process procs[64];
	uint32_t n;
	for (uint32_t version = 3; version <= 4; version++) {
		region_init(version, 9);
		region_totals(100, 0, 0, 0, 0);
		region_process(63, 4321, "last", 4, 100, 0);
		size_t need = version >= 4 ? 8540 : 8536;
		for (size_t len = 0; len <= REGION_SIZE; len++) {
			int rc = parse(len, 9, &seg, procs, &n);
			if (len < need) {
				CHECK(rc < 0 && !seg.usable, "v%u len %zu accepted", version, len);
				if (len >= 4) {
					char want[64];
					snprintf(want, sizeof want, "truncated: %zu of %zu bytes", len, need);
					CHECK(strcmp(seg.note, want) == 0, "'%s'", seg.note);
				}
			} else {
				CHECK(rc == 0 && n == 1 && procs[0].pid == 4321, "v%u len %zu", version, len);
			}
		}
	}
}

TTA_TEST(tt_metal_hostile_contents)
{
	struct tta_tt_metal_segment seg;
	struct tta_tt_metal_process procs[64];
	uint32_t n;
	/* Totals no device holds: the whole segment is refused. */
	region_init(4, 5);
	region_totals(1ull << 51, 0, 0, 0, 0);
	CHECK(parse(REGION_SIZE, 5, &seg, procs, &n) < 0, "huge totals");
	CHECK(strcmp(seg.note, "device totals beyond any device's memory") == 0, "'%s'", seg.note);
	region_totals(0, 0, 0, 0, UINT64_MAX);
	CHECK(parse(REGION_SIZE, 5, &seg, procs, &n) < 0, "wrapped totals");

	/* Entries: huge counters, duplicates, released and free slots are
	 * left out; a name that fills its 64 bytes is kept whole, terminated. */
	region_init(4, 5);
	region_totals(10, 0, 0, 0, 0);
	char full[64];
	memset(full, 'N', sizeof full);
	region_process(0, 100, full, sizeof full, 1, 0);
	region_process(1, 100, "again", 5, 2, 0);
	region_process(2, 101, "big", 3, 1ull << 62, 0);
	region_process(3, 102, "bigcb", 5, 0, UINT64_MAX);
	region_process(4, -1, "releasing", 9, 3, 0);
	region_process(5, 0, "free", 4, 4, 0);
	region_process(6, 103, "\x1b[2J\xff", 5, 5, 0);
	region_chip(0, 7, 0, 1ull << 60);
	region_chip(1, 8, 0, 6);
	w64(32, 6); /* asic_id field disagrees with the name */
	CHECK(parse(REGION_SIZE, 5, &seg, procs, &n) == 0, "%s", seg.note);
	CHECK_EQ_I64(n, 2);
	CHECK(procs[0].pid == 100 && strlen(procs[0].name) == 64 && memcmp(procs[0].name, full, 64) == 0,
	      "full name");
	CHECK(procs[1].pid == 103 && strcmp(procs[1].name, "\x1b[2J\xff") == 0, "raw name kept");
	CHECK(seg.chip_count == 1 && seg.chips[0].chip_id == 8, "chip with huge counters dropped");
	CHECK(strcmp(seg.note, "its asic_id field says 6; 3 entries with counters beyond any device's"
			       " memory left out; 1 duplicate process entry left out") == 0,
	      "'%s'", seg.note);
}

TTA_TEST(telemetry_values_are_formatted_exactly)
{
	struct tta_telemetry t;
	memset(&t, 0, sizeof t);
	char buf[48];
	static const struct {
		unsigned id;
		int64_t raw;
		const char *want;
	} cases[] = {
		{ TTA_TELEMETRY_TEMPERATURE, 45125, "45.125" },
		{ TTA_TELEMETRY_TEMPERATURE, 45000, "45.0" },
		{ TTA_TELEMETRY_TEMPERATURE, -1500, "-1.5" },
		{ TTA_TELEMETRY_TEMPERATURE, 7, "0.007" },
		{ TTA_TELEMETRY_POWER, 60000000, "60.0" },
		{ TTA_TELEMETRY_POWER, 1500001, "1.500001" },
		{ TTA_TELEMETRY_POWER, 0, "0.0" },
		{ TTA_TELEMETRY_AICLK, 1000, "1000" },
		{ TTA_TELEMETRY_FAN, 0, "0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		t.present = 1ull << cases[i].id;
		t.raw[cases[i].id] = cases[i].raw;
		const char *got = tta_telemetry_format(&t, cases[i].id, buf, sizeof buf);
		CHECK(got && strcmp(got, cases[i].want) == 0, "%s %lld: '%s'",
		      tta_telemetry_field(cases[i].id)->name, (long long)cases[i].raw, got ? got : "NULL");
	}
	t.present = 0;
	CHECK(tta_telemetry_format(&t, TTA_TELEMETRY_AICLK, buf, sizeof buf) == NULL, "absent");
	CHECK(tta_telemetry_format(NULL, TTA_TELEMETRY_AICLK, buf, sizeof buf) == NULL, "NULL");
	t.present = 1ull << TTA_TELEMETRY_CARD_TYPE;
	CHECK(tta_telemetry_format(&t, TTA_TELEMETRY_CARD_TYPE, buf, sizeof buf) == NULL, "text");
	/* The table: unique names, every id described, found by name. */
	CHECK_EQ_I64(tta_telemetry_field_count(), TTA_TELEMETRY_FIELDS);
	for (unsigned i = 0; i < tta_telemetry_field_count(); i++) {
		const struct tta_telemetry_field *f = tta_telemetry_field(i);
		CHECK(f && f->name && f->help && f->file && f->unit && f->divisor >= 1, "field %u", i);
		CHECK_EQ_I64(tta_telemetry_field_find(f->name), i);
	}
	CHECK(tta_telemetry_field(TTA_TELEMETRY_FIELDS) == NULL && tta_telemetry_field_find("x") == -1,
	      "out of range");
}

/* An attribute replaced by a FIFO (no writer) must not block the reader:
 * the value is left out. The case's alarm fails it if it hangs. */
TTA_TEST(fifo_attribute_does_not_hang)
{
	make_tree();
	char dir[400], fifo[450];
	snprintf(dir, sizeof dir, "%s/cls", tree);
	mkdirs(dir);
	snprintf(fifo, sizeof fifo, "%s/tt_aiclk", dir);
	CHECK(mkfifo(fifo, 0644) == 0, "mkfifo");
	put_text("cls/tt_axiclk", "900\n");
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0, "open");
	struct tta_telemetry t;
	tta_telemetry_read(fd, &t);
	close(fd);
	int64_t raw;
	CHECK(!tta_telemetry_get(&t, TTA_TELEMETRY_AICLK, &raw, NULL), "FIFO read as a value");
	CHECK(tta_telemetry_get(&t, TTA_TELEMETRY_AXICLK, &raw, NULL) && raw == 900, "axiclk");
	remove_tree();
}

static tta_reader *open_reader(void)
{
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	return r;
}

/* This process reports through libtrack and is also listed by TT-Metal and
 * by the driver; a forked child only holds the device. */
TTA_TEST(snapshot_tells_tracked_untracked_and_tt_metal_apart)
{
	make_tree();
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
	pid_t child = fork();
	CHECK(child >= 0, "fork");
	if (child == 0) {
		pause();
		_exit(0);
	}
	char text[128];
	put_text("sys/devices/pci0000:00/0000:01:00.0/tenstorrent/tenstorrent!0/tt_asic_id",
		 "0000000000000010\n");
	char link[400];
	snprintf(link, sizeof link, "%s/sys/class/tenstorrent", tree);
	mkdirs(link);
	snprintf(link, sizeof link, "%s/sys/class/tenstorrent/tenstorrent!0", tree);
	CHECK(symlink("../../devices/pci0000:00/0000:01:00.0/tenstorrent/tenstorrent!0", link) == 0,
	      "symlink");
	snprintf(text, sizeof text, "%d\n%d\n%d\n", (int)getpid(), (int)child, (int)child);
	put_text("proc/driver/tenstorrent/0/pids", text);
	put_text("sys/class/tenstorrent/tenstorrent!3/tt_aiclk", "500\n"); /* a second device */
	region_init(4, 16);
	region_totals(100 + 50 + 7, 0, 0, 0, 0);
	region_process(0, getpid(), "me", 2, 100, 0);
	region_process(1, 4000002, "other", 5, 50, 0);
	put("dev/shm/tt_device_16_memory", region, REGION_SIZE);
	setenv("TT_ALLOC_SYSFS_ROOT", tree, 1);

	tta_reader *r = open_reader();
	tta_snapshot *s;
	char err[512];
	CHECK(tta_snapshot_take(r, 0, -1, TTA_SNAPSHOT_SOURCES, &s, err, sizeof err) == 0, "%s", err);
	CHECK_EQ_I64(tta_snapshot_device_count(s), 2);
	CHECK(tta_snapshot_device(s, 0)->id == 0 && tta_snapshot_device(s, 1)->id == 3, "ids");
	const struct tta_device_sources *ds = tta_snapshot_device_sources(s, 0);
	CHECK(ds && ds->in_sysfs && ds->open_files == 3 && ds->untracked == 1, "device 0 sources");
	CHECK_EQ_I64(ds->tt_metal_used[TTA_MEM_DRAM], 57); /* this process's 100 left out */
	CHECK_EQ_I64(ds->tt_metal_processes, 1);
	CHECK_EQ_I64(tta_snapshot_device(s, 0)->used[TTA_MEM_DRAM], 4096); /* never mixed in */
	CHECK(tta_snapshot_device_sources(s, 1)->in_sysfs && tta_snapshot_device_sources(s, 1)->open_files == -1,
	      "device 3");
	int64_t raw;
	CHECK(tta_telemetry_get(tta_snapshot_device_telemetry(s, 1), TTA_TELEMETRY_AICLK, &raw, NULL) &&
	      raw == 500, "device 3 aiclk");
	CHECK_EQ_I64(tta_snapshot_untracked_count(s), 1);
	const struct tta_untracked_process *u = tta_snapshot_untracked(s, 0);
	CHECK(u->pid == child && u->device == 0 && u->open_files == 2, "untracked %d", u->pid);
	CHECK_EQ_I64(tta_snapshot_tt_metal_process_count(s), 1);
	CHECK(tta_snapshot_tt_metal_process(s, 0)->pid == 4000002 &&
	      tta_snapshot_tt_metal_process(s, 0)->device == 0 &&
	      !tta_snapshot_tt_metal_process(s, 0)->running, "TT-Metal's other process");
	const struct tta_tt_metal_segment *g = tta_snapshot_tt_metal_segment(s, 0);
	CHECK(g && g->device == 0 && g->total[TTA_MEM_DRAM] == 157 && g->shown[TTA_MEM_DRAM] == 57 &&
	      g->processes == 1, "segment");
	CHECK(tta_snapshot_sources(s)->driver && tta_snapshot_sources(s)->sysfs_devices == 2 &&
	      strcmp(tta_snapshot_sources(s)->root, tree) == 0, "info");
	/* Filters: a pid keeps its own rows; device totals stay whole. */
	tta_snapshot_free(s);
	CHECK(tta_snapshot_take(r, child, -1, TTA_SNAPSHOT_SOURCES, &s, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_untracked_count(s) == 1 && tta_snapshot_tt_metal_process_count(s) == 0, "pid filter");
	CHECK_EQ_I64(tta_snapshot_device_sources(s, 0)->tt_metal_used[TTA_MEM_DRAM], 57);
	tta_snapshot_free(s);
	CHECK(tta_snapshot_take(r, 0, 3, TTA_SNAPSHOT_SOURCES, &s, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_device_count(s) == 1 && tta_snapshot_device(s, 0)->id == 3, "device filter");
	CHECK(tta_snapshot_untracked_count(s) == 0 && tta_snapshot_tt_metal_process_count(s) == 0 &&
	      tta_snapshot_tt_metal_segment_count(s) == 1, "device filter lists");
	tta_snapshot_free(s);

	/* Without the flag: nothing of it. */
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_sources(s) == NULL && tta_snapshot_device_sources(s, 0) == NULL &&
	      tta_snapshot_device_telemetry(s, 0) == NULL && tta_snapshot_untracked_count(s) == 0 &&
	      tta_snapshot_tt_metal_segment_count(s) == 0 && tta_snapshot_device_count(s) == 1,
	      "no sources asked");
	tta_snapshot_free(s);
	/* No reader: the sources alone, or EINVAL without the flag. */
	CHECK(tta_snapshot_take(NULL, 0, -1, 0, &s, err, sizeof err) == -EINVAL, "NULL reader");
	CHECK(tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &s, err, sizeof err) == 0, "%s", err);
	/* Without tt-alloc's rows this process is TT-Metal's again. */
	CHECK(tta_snapshot_segment(s)->abi_version == 0 && tta_snapshot_process_count(s) == 0 &&
	      tta_snapshot_device_count(s) == 2 && tta_snapshot_untracked_count(s) == 1 &&
	      tta_snapshot_tt_metal_process_count(s) == 2 &&
	      tta_snapshot_device_sources(s, 0)->tt_metal_used[TTA_MEM_DRAM] == 157,
	      "sources alone");
	tta_snapshot_free(s);

	tta_reader_close(r);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	remove_tree();
}

/* A root no path fits under, a root that does not exist: nothing read, no error. */
TTA_TEST(unusable_roots_read_nothing)
{
	char err[512], longroot[400];
	memset(longroot, 'a', sizeof longroot - 1);
	longroot[0] = '/';
	longroot[sizeof longroot - 1] = '\0';
	const char *roots[] = { longroot, "/nonexistent/tta-root" };
	for (size_t i = 0; i < 2; i++) {
		setenv("TT_ALLOC_SYSFS_ROOT", roots[i], 1);
		tta_snapshot *s;
		CHECK(tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &s, err, sizeof err) == 0, "%s", err);
		const struct tta_sources_info *si = tta_snapshot_sources(s);
		CHECK(si && !si->driver && !si->kernel_pids && si->sysfs_devices == 0 &&
		      si->tt_metal_segments == 0 && tta_snapshot_device_count(s) == 0, "root %zu", i);
		tta_snapshot_free(s);
	}
}

TTA_TEST_MAIN(TTA_CASE(sysfs_numbers_parse_whole_values_only),
	      TTA_CASE(pid_lines_keep_duplicates_and_skip_garbage), TTA_CASE(tt_metal_file_names),
	      TTA_CASE(tt_metal_versions_2_to_4_read_exactly),
	      TTA_CASE(tt_metal_other_versions_and_states_are_skipped_with_a_note),
	      TTA_CASE(tt_metal_every_truncation), TTA_CASE(tt_metal_hostile_contents),
	      TTA_CASE(telemetry_values_are_formatted_exactly), TTA_CASE(fifo_attribute_does_not_hang),
	      TTA_CASE(snapshot_tells_tracked_untracked_and_tt_metal_apart),
	      TTA_CASE(unusable_roots_read_nothing))
