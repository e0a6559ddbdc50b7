/*
 * fuzz_sources.c - libFuzzer harness for the parsers of what tt-alloc reads
 * beside its segment (libtrack/sources.c): TT-Metal's tt_device_*_memory
 * segments, the driver's sysfs/hwmon values and pid lists, and a whole host
 * tree made of fuzzed files, read into a snapshot and rendered by tt-smi's
 * views, the library's JSON writer and the exporter's exposition (valid
 * Prometheus text format, fuzz_check.h).
 *
 * What must hold for every input (an abort() is a finding): no crash, hang,
 * leak, out-of-bounds access or undefined behaviour (ASan, UBSan); a parsed
 * segment keeps its promises (usable or a note; at most 64 entries, pids
 * above 0, names terminated, counters within TTA_TTM_PLAUSIBLE_BYTES); a
 * parsed number prints back to the same text's value; text output is
 * printable, JSON output is valid (fuzz_check.h).
 *
 * Input: byte 0 picks the target.
 *   0  the rest is a segment file, raw
 *   1  a valid region of version 2 + byte1 % 3, the rest written over it
 *      from offset (byte2 << 8 | byte3) % 8576 (reaches the entries)
 *   2  a sysfs number (byte 1: base 10 or 16, signed or not)
 *   3  a pids file
 *   4  a host: the rest split at NUL bytes into the values of a device's
 *      attributes, its pids file, a process's comm and status, and a
 *      segment named for asic id 16; then a snapshot of the sources alone
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz_sources"
#include "fuzz_check.h"
#include "metrics.h"
#include "render.h"
#include "views.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "tt-alloc/sources.h"
#include "tta_sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_sources: %s\n", what);
	abort();
}

/* ---- segments ---- */

static void check_segment(const struct tta_tt_metal_segment *seg, int rc,
			  const struct tta_tt_metal_process *procs, uint32_t n)
{
	if (memchr(seg->note, '\0', sizeof seg->note) == NULL)
		fail("note not terminated");
	if (rc != 0) {
		if (seg->usable || n != 0 || seg->note[0] == '\0')
			fail("a skipped segment must say why and list nothing");
		return;
	}
	if (!seg->usable || n > TTA_TTM_MAX_PROCESSES || seg->chip_count > TTA_TT_METAL_MAX_CHIPS)
		fail("usable segment out of bounds");
	if (memcmp(seg->shown, seg->total, sizeof seg->total) != 0)
		fail("shown differs from total before any subtraction");
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		if (seg->total[t] < 0 || (uint64_t)seg->total[t] > TTA_TTM_PLAUSIBLE_BYTES)
			fail("implausible total accepted");
	for (uint32_t i = 0; i < n; i++) {
		if (procs[i].pid <= 0 || strlen(procs[i].name) > 64)
			fail("bad entry accepted");
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			if (procs[i].used[t] < 0 || (uint64_t)procs[i].used[t] > TTA_TTM_PLAUSIBLE_BYTES)
				fail("implausible entry accepted");
		for (uint32_t j = 0; j < i; j++)
			if (procs[j].pid == procs[i].pid)
				fail("duplicate pid listed");
	}
}

static void parse_segment(const uint8_t *bytes, size_t len)
{
	static struct tta_tt_metal_process procs[TTA_TTM_MAX_PROCESSES];
	struct tta_tt_metal_segment seg;
	uint32_t n = 0;
	memset(&seg, 0, sizeof seg);
	/* An exact-size heap copy, so ASan sees a read past the length. */
	unsigned char *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return;
	memcpy(copy, bytes, len);
	int rc = tta_tt_metal_parse(copy, len, 16, &seg, procs, &n);
	free(copy);
	check_segment(&seg, rc, procs, n);
}

static void structured_segment(const uint8_t *data, size_t size)
{
	if (size < 4)
		return;
	static unsigned char region[TTA_TTM_FILE_SIZE];
	memset(region, 0, sizeof region);
	uint32_t version = 2 + data[1] % 3, ready = TTA_TTM_READY, unused = UINT32_MAX;
	memcpy(region, &version, 4);
	for (int c = 0; c < 16; c++)
		memcpy(region + 88 + 48 * c, &unused, 4);
	memcpy(region + TTA_TTM_PROCESSES_V2, &ready, 4);
	size_t at = ((size_t)data[2] << 8 | data[3]) % sizeof region;
	size_t body = size - 4 < sizeof region - at ? size - 4 : sizeof region - at;
	memcpy(region + at, data + 4, body);
	parse_segment(region, sizeof region);
}

/* ---- sysfs values ---- */

static void parse_number(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	int base = data[1] & 1 ? 16 : 10;
	bool is_signed = data[1] & 2;
	int64_t v;
	const char *text = (const char *)data + 2;
	size_t len = size - 2;
	if (!tta_parse_sysfs_number(text, len, base, is_signed, &v))
		return;
	if (!is_signed && base == 10 && v < 0)
		fail("negative unsigned decimal");
	if (base == 16 && is_signed && v < 0)
		return; /* "-0x..." is not a form sysfs prints */
	/* What it read prints back as a value it reads again the same (hex as
	 * the unsigned 64-bit pattern it is). */
	char back[32];
	int n = base == 16 ? snprintf(back, sizeof back, "%" PRIx64, (uint64_t)v)
			   : snprintf(back, sizeof back, "%" PRId64, v);
	int64_t again;
	if (!tta_parse_sysfs_number(back, (size_t)n, base, base == 10 && v < 0, &again) || again != v)
		fail("number does not read back");
}

static void parse_pids(const uint8_t *data, size_t size)
{
	static int32_t pids[256];
	size_t lines = 1;
	for (size_t i = 1; i < size; i++)
		lines += data[i] == '\n';
	size_t n = tta_parse_pid_lines((const char *)data + 1, size - 1, pids, 256);
	if (n > lines)
		fail("more pids than lines");
	for (size_t i = 0; i < n && i < 256; i++)
		if (pids[i] < 0)
			fail("negative pid");
}

/* ---- a whole host ---- */

static char root[128];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_root(void)
{
	if (root[0])
		nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *rel, const uint8_t *bytes, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (len && write(fd, bytes, len) < 0)
		fprintf(stderr, "fuzz_sources: write %s: %s\n", path, strerror(errno));
	close(fd);
}

static void make_root(void)
{
	snprintf(root, sizeof root, "/tmp/tta_fuzz_sources_%d", (int)getpid());
	static const char *dirs[] = {
		"", "/sys", "/sys/class", "/sys/class/tenstorrent", "/sys/class/tenstorrent/tenstorrent!0",
		"/sys/class/tenstorrent/tenstorrent!0/device", "/sys/class/tenstorrent/tenstorrent!0/device/hwmon",
		"/sys/class/tenstorrent/tenstorrent!0/device/hwmon/hwmon0", "/proc", "/proc/driver",
		"/proc/driver/tenstorrent", "/proc/driver/tenstorrent/0", "/proc/7", "/dev", "/dev/shm",
	};
	char path[512];
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s%s", root, dirs[i]);
		mkdir(path, 0700);
	}
	setenv("TT_ALLOC_SYSFS_ROOT", root, 1);
	atexit(remove_root);
}

/* Where each NUL-separated piece of the input goes. */
static const char *const host_files[] = {
	"sys/class/tenstorrent/tenstorrent!0/tt_card_type",
	"sys/class/tenstorrent/tenstorrent!0/tt_asic_id",
	"sys/class/tenstorrent/tenstorrent!0/tt_aiclk",
	"sys/class/tenstorrent/tenstorrent!0/tt_serial",
	"sys/class/tenstorrent/tenstorrent!0/device/hwmon/hwmon0/name",
	"sys/class/tenstorrent/tenstorrent!0/device/hwmon/hwmon0/temp1_input",
	"sys/class/tenstorrent/tenstorrent!0/device/hwmon/hwmon0/power1_input",
	"sys/class/tenstorrent/tenstorrent!0/device/hwmon/hwmon0/fan1_label",
	"proc/driver/tenstorrent/0/pids",
	"proc/7/comm",
	"proc/7/status",
	"dev/shm/tt_device_16_memory", /* the rest of the input, NULs and all */
};

/* 0 main view, 1 telemetry view, 2 JSON, 3 the exporter's exposition; 4 and
 * 5: the process and the telemetry views laid out for a narrow screen
 * (columns dropped). */
static void render(const tta_snapshot *snap, int which)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return;
	struct smi_view narrow = { .snap = snap, .version = "fuzz", .width = 40, .height = 23 };
	if (which == 0)
		smi_render_text(snap, "fuzz", f);
	else if (which == 1)
		smi_render_telemetry(snap, "fuzz", f);
	else if (which == 2)
		tta_snapshot_write_json(snap, "fuzz", "fuzz", f);
	else if (which == 3) {
		/* The exporter's exposition of the sources (no segment here). */
		struct tte_metrics_options opt = { .version = "fuzz", .per_process = true,
						   .periodic = snap };
		tte_metrics_write(NULL, &opt, f);
	} else if (which == 4)
		smi_view_processes(&narrow, f);
	else
		smi_view_telemetry(&narrow, f);
	fclose(f);
	if (which == 2)
		check_json(buf, len);
	else if (which == 3)
		check_exposition(buf, len);
	else
		check_text(buf, len);
	free(buf);
}

static void host(const uint8_t *data, size_t size)
{
	if (root[0] == '\0')
		make_root();
	size_t pos = 1, nfiles = sizeof host_files / sizeof host_files[0];
	for (size_t i = 0; i < nfiles; i++) {
		size_t end = size;
		if (i + 1 < nfiles) {
			const uint8_t *nul = pos < size ? memchr(data + pos, 0, size - pos) : NULL;
			end = nul ? (size_t)(nul - data) : size;
		}
		put(host_files[i], data + (pos < size ? pos : size), end > pos ? end - pos : 0);
		pos = end + 1;
	}
	tta_snapshot *snap = NULL;
	if (tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &snap, NULL, 0) != 0)
		return;
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, 0);
	uint64_t listed = 0;
	for (size_t u = 0; u < tta_snapshot_untracked_count(snap); u++)
		listed += tta_snapshot_untracked(snap, u)->open_files;
	if (ds && ds->open_files >= 0 && listed > (uint64_t)ds->open_files)
		fail("more untracked opens than the pids file has lines");
	for (int which = 0; which < 6; which++)
		render(snap, which);
	tta_snapshot_free(snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		parse_segment(data + 1, size - 1);
		break;
	case 1:
		structured_segment(data, size);
		break;
	case 2:
		parse_number(data, size);
		break;
	case 3:
		parse_pids(data, size);
		break;
	default:
		host(data, size);
		break;
	}
	return 0;
}
