/*
 * sources.c - what a snapshot reads besides the segment: tt-kmd's sysfs and
 * hwmon telemetry, the driver's per-device pid lists, and TT-Metal's own
 * counters-only segments. Contract in <tt-alloc/sources.h>; the parsers are
 * declared in tta_sources.h.
 *
 * Everything here is a file that someone else writes (the kernel, TT-Metal,
 * or a fabricated tree under TT_ALLOC_SYSFS_ROOT), so nothing is trusted:
 * files are opened non-blocking and must be regular (a FIFO planted in
 * place of an attribute cannot hang a reader), reads are bounded, numbers
 * must parse whole and lie in what the hardware can report, and a TT-Metal
 * segment is copied with pread and validated before one field is used (no
 * mapping: a file truncated under us cannot raise SIGBUS here).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tta_segment.h"
#include "tta_sources.h"

#define TTA_EXPORT __attribute__((visibility("default")))

/* Bounds on what one snapshot reads from files others control. */
#define MAX_SYSFS_DEVICES 1024u
#define MAX_TT_METAL_SEGMENTS 1024u
#define MAX_PIDS_FILE (64u * 1024u)   /* bytes of one pids file */
#define MAX_PIDS_PER_DEVICE 4096u     /* open files listed per device */
#define ATTR_MAX 128u                 /* bytes of one sysfs attribute */
#define ROOT_MAX 200                  /* bytes of TT_ALLOC_SYSFS_ROOT */
#define PATH_BUF (ROOT_MAX + 80)

/* ------------------------------------------------------------------------ */
/* The telemetry field table                                                 */

enum value_check { CHECK_TEXT, CHECK_HEX, CHECK_NUMBER };

struct field_def {
	struct tta_telemetry_field pub;
	const char *attr;          /* file name in the class or hwmon directory */
	bool hwmon;                /* in hwmon/hwmon*, else in the class directory */
	enum value_check check;
	int base;
	int64_t min, max;          /* what the hardware can report, in raw units */
};

#define TEXT(id_, name_, attr_, hwmon_, check_, file_, help_)                            \
	[id_] = { { name_, TTA_TELEMETRY_TEXT, "", 1, file_, help_ }, attr_, hwmon_, check_, 16, 0, 0 }
#define NUMBER(id_, name_, unit_, div_, attr_, hwmon_, min_, max_, file_, help_)         \
	[id_] = { { name_, TTA_TELEMETRY_NUMBER, unit_, div_, file_, help_ },            \
		  attr_, hwmon_, CHECK_NUMBER, 10, min_, max_ }

/* Ranges: a firmware that reports 0xffff or a fabricated tree must not show
 * a 65 kW card; anything outside these is treated as unreadable. */
static const struct field_def fields[TTA_TELEMETRY_FIELDS] = {
	TEXT(TTA_TELEMETRY_CARD_TYPE, "card_type", "tt_card_type", false, CHECK_TEXT,
	     "tt_card_type", "Card type as the driver names it (n150, n300, p150a, ...)"),
	TEXT(TTA_TELEMETRY_CHIP, "chip", "name", true, CHECK_TEXT, "hwmon name",
	     "Chip family of the hwmon device (wormhole, blackhole)"),
	TEXT(TTA_TELEMETRY_SERIAL, "serial", "tt_serial", false, CHECK_HEX, "tt_serial",
	     "Board serial number (hex)"),
	TEXT(TTA_TELEMETRY_ASIC_ID, "asic_id", "tt_asic_id", false, CHECK_HEX, "tt_asic_id",
	     "ASIC identifier (hex)"),
	TEXT(TTA_TELEMETRY_PCI_BDF, "pci_bdf", NULL, false, CHECK_TEXT, "device link",
	     "PCI address of the device"),
	TEXT(TTA_TELEMETRY_FW_BUNDLE_VER, "fw_bundle_ver", "tt_fw_bundle_ver", false, CHECK_TEXT,
	     "tt_fw_bundle_ver", "Firmware bundle version"),
	TEXT(TTA_TELEMETRY_M3APP_FW_VER, "m3app_fw_ver", "tt_m3app_fw_ver", false, CHECK_TEXT,
	     "tt_m3app_fw_ver", "Board management (M3) application firmware version"),
	NUMBER(TTA_TELEMETRY_TEMPERATURE, "temperature_c", "celsius", 1000, "temp1_input", true,
	       -60000, 250000, "hwmon temp1_input", "ASIC temperature"),
	NUMBER(TTA_TELEMETRY_TEMPERATURE_MAX, "temperature_max_c", "celsius", 1000, "temp1_max",
	       true, -60000, 250000, "hwmon temp1_max", "Temperature at which the chip throttles"),
	NUMBER(TTA_TELEMETRY_POWER, "power_w", "watts", 1000000, "power1_input", true, 0,
	       5000000000LL, "hwmon power1_input", "Power drawn"),
	NUMBER(TTA_TELEMETRY_POWER_MAX, "power_max_w", "watts", 1000000, "power1_max", true, 0,
	       5000000000LL, "hwmon power1_max", "Power limit (TDP)"),
	NUMBER(TTA_TELEMETRY_VOLTAGE, "voltage_mv", "millivolts", 1, "in0_input", true, 0, 20000,
	       "hwmon in0_input", "Core voltage"),
	NUMBER(TTA_TELEMETRY_VOLTAGE_MAX, "voltage_max_mv", "millivolts", 1, "in0_max", true, 0,
	       20000, "hwmon in0_max", "Core voltage limit"),
	NUMBER(TTA_TELEMETRY_CURRENT, "current_ma", "milliamperes", 1, "curr1_input", true, 0,
	       5000000, "hwmon curr1_input", "Core current"),
	NUMBER(TTA_TELEMETRY_CURRENT_MAX, "current_max_ma", "milliamperes", 1, "curr1_max", true,
	       0, 5000000, "hwmon curr1_max", "Core current limit (TDC)"),
	NUMBER(TTA_TELEMETRY_FAN, "fan_rpm", "rpm", 1, "fan1_input", true, 0, 100000,
	       "hwmon fan1_input", "Fan speed"),
	NUMBER(TTA_TELEMETRY_AICLK, "aiclk_mhz", "megahertz", 1, "tt_aiclk", false, 0, 100000,
	       "tt_aiclk", "AI (Tensix) clock"),
	NUMBER(TTA_TELEMETRY_AXICLK, "axiclk_mhz", "megahertz", 1, "tt_axiclk", false, 0, 100000,
	       "tt_axiclk", "AXI clock"),
	NUMBER(TTA_TELEMETRY_ARCCLK, "arcclk_mhz", "megahertz", 1, "tt_arcclk", false, 0, 100000,
	       "tt_arcclk", "ARC (management core) clock"),
	NUMBER(TTA_TELEMETRY_HEARTBEAT, "heartbeat", "count", 1, "tt_heartbeat", false, 0,
	       UINT32_MAX, "tt_heartbeat", "Firmware heartbeat: grows while the firmware runs"),
	TEXT(TTA_TELEMETRY_TEMPERATURE_LABEL, "temperature_label", "temp1_label", true, CHECK_TEXT,
	     "hwmon temp1_label", "What the temperature sensor measures"),
	TEXT(TTA_TELEMETRY_VOLTAGE_LABEL, "voltage_label", "in0_label", true, CHECK_TEXT,
	     "hwmon in0_label", "What the voltage sensor measures"),
	TEXT(TTA_TELEMETRY_CURRENT_LABEL, "current_label", "curr1_label", true, CHECK_TEXT,
	     "hwmon curr1_label", "What the current sensor measures"),
	TEXT(TTA_TELEMETRY_POWER_LABEL, "power_label", "power1_label", true, CHECK_TEXT,
	     "hwmon power1_label", "What the power sensor measures"),
	TEXT(TTA_TELEMETRY_FAN_LABEL, "fan_label", "fan1_label", true, CHECK_TEXT,
	     "hwmon fan1_label", "What the fan sensor measures"),
};
#undef TEXT
#undef NUMBER

TTA_EXPORT unsigned tta_telemetry_field_count(void)
{
	return TTA_TELEMETRY_FIELDS;
}

TTA_EXPORT const struct tta_telemetry_field *tta_telemetry_field(unsigned id)
{
	return id < TTA_TELEMETRY_FIELDS ? &fields[id].pub : NULL;
}

TTA_EXPORT int tta_telemetry_field_find(const char *name)
{
	for (unsigned i = 0; name != NULL && i < TTA_TELEMETRY_FIELDS; i++)
		if (strcmp(fields[i].pub.name, name) == 0)
			return (int)i;
	return -1;
}

TTA_EXPORT int tta_telemetry_get(const tta_telemetry *t, unsigned id, int64_t *raw,
				 const char **text)
{
	if (t == NULL || id >= TTA_TELEMETRY_FIELDS || !(t->present & (1ull << id)))
		return 0;
	if (raw)
		*raw = fields[id].pub.kind == TTA_TELEMETRY_NUMBER ? t->raw[id] : 0;
	if (text)
		*text = fields[id].pub.kind == TTA_TELEMETRY_TEXT ? t->text[id] : NULL;
	return 1;
}

TTA_EXPORT char *tta_telemetry_format(const tta_telemetry *t, unsigned id, char *buf, size_t len)
{
	int64_t raw;
	if (buf == NULL || len == 0 || !tta_telemetry_get(t, id, &raw, NULL) ||
	    fields[id].pub.kind != TTA_TELEMETRY_NUMBER)
		return NULL;
	int64_t div = fields[id].pub.divisor;
	if (div <= 1) {
		snprintf(buf, len, "%" PRId64, raw);
		return buf;
	}
	/* Exact: as many fraction digits as the divisor has zeros, trailing
	 * zeros dropped but one kept, so the value always reads as a fraction. */
	int digits = 0;
	for (int64_t d = div; d > 1; d /= 10)
		digits++;
	uint64_t mag = raw < 0 ? (uint64_t)0 - (uint64_t)raw : (uint64_t)raw;
	uint64_t whole = mag / (uint64_t)div, frac = mag % (uint64_t)div;
	char fraction[24];
	if (snprintf(fraction, sizeof fraction, "%0*" PRIu64, digits, frac) >= (int)sizeof fraction)
		return NULL;
	for (int i = digits - 1; i > 0 && fraction[i] == '0'; i--)
		fraction[i] = '\0';
	snprintf(buf, len, "%s%" PRIu64 ".%s", raw < 0 ? "-" : "", whole, fraction);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Parsers                                                                   */

static int digit_value(char c, int base)
{
	int v = c >= '0' && c <= '9' ? c - '0'
		: c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
	return v < base ? v : -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

bool tta_parse_sysfs_number(const char *text, size_t len, int base, bool is_signed, int64_t *out)
{
	if (text == NULL || (base != 10 && base != 16))
		return false;
	while (len > 0 && is_space(text[len - 1]))
		len--;
	size_t i = 0;
	bool negative = false;
	if (is_signed && i < len && text[i] == '-') {
		negative = true;
		i++;
	}
	if (base == 16 && len - i > 2 && text[i] == '0' && (text[i + 1] == 'x' || text[i + 1] == 'X'))
		i += 2;
	if (i >= len)
		return false;
	/* Hex values are 64-bit patterns (ids); decimal ones must fit int64. */
	uint64_t limit = base == 16 && !is_signed ? UINT64_MAX
			 : negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (; i < len; i++) {
		int d = digit_value(text[i], base);
		if (d < 0)
			return false;
		if (v > (limit - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = negative ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

size_t tta_parse_pid_lines(const char *text, size_t len, int32_t *pids, size_t max)
{
	size_t valid = 0, pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		int64_t v;
		if (end > pos && tta_parse_sysfs_number(text + pos, end - pos, 10, false, &v) &&
		    v <= INT32_MAX) {
			if (valid < max)
				pids[valid] = (int32_t)v;
			valid++;
		}
		pos = end + 1;
	}
	return valid;
}

bool tta_tt_metal_name(const char *name, uint64_t *asic_id)
{
	static const char prefix[] = "tt_device_", suffix[] = "_memory";
	size_t n = strlen(name), p = sizeof prefix - 1, s = sizeof suffix - 1;
	if (n <= p + s || strncmp(name, prefix, p) != 0 || strcmp(name + n - s, suffix) != 0)
		return false;
	const char *digits = name + p;
	size_t nd = n - p - s;
	if (nd > 20 || (digits[0] == '0' && nd > 1))
		return false;
	for (size_t i = 0; i < nd; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return false;
	/* Unsigned 64-bit decimal: std::to_string of UMD's chip_unique_id. */
	uint64_t acc = 0;
	for (size_t i = 0; i < nd; i++) {
		uint64_t d = (uint64_t)(digits[i] - '0');
		if (acc > (UINT64_MAX - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	*asic_id = acc;
	return true;
}

/* ---- TT-Metal's DeviceMemoryRegion ---- */

/* Offsets of docs/tt-metal-shm.md (x86-64; versions 2 to 4 share them). */
enum {
	TTM_VERSION = 0, TTM_ACTIVE = 4, TTM_UPDATED = 8, TTM_ASIC_ID = 32, TTM_DEVICE_ID = 40,
	TTM_TOTALS = 48, TTM_CHIPS = 88, TTM_CHIP_SIZE = 48, TTM_CHIPS_N = 16,
	TTM_PROCS = 856, TTM_PROC_SIZE = 120, TTM_PROC_COUNTERS = 8, TTM_PROC_UPDATED = 48,
	TTM_PROC_NAME = 56, TTM_NAME_LEN = 64, TTM_INIT_STATE = 8536,
};
/* TT-Metal's five counters, in its order, as tt-alloc memory types. */
static const unsigned ttm_types[5] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
				       TTA_MEM_CB };

static uint32_t rd32(const unsigned char *b, size_t off)
{
	uint32_t v;
	memcpy(&v, b + off, sizeof v);
	return v;
}

static uint64_t rd64(const unsigned char *b, size_t off)
{
	uint64_t v;
	memcpy(&v, b + off, sizeof v);
	return v;
}

/* Five counters at OFF into USED (by memory type). False if one is more
 * than any device can hold. */
static bool read_counters(const unsigned char *b, size_t off, int64_t *used)
{
	memset(used, 0, sizeof(int64_t) * TTA_MEM_TYPES);
	for (unsigned i = 0; i < 5; i++) {
		uint64_t v = rd64(b, off + 8 * i);
		if (v > TTA_TTM_PLAUSIBLE_BYTES)
			return false;
		used[ttm_types[i]] = (int64_t)v;
	}
	return true;
}

static void note_add(struct tta_tt_metal_segment *seg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_add(struct tta_tt_metal_segment *seg, const char *fmt, ...)
{
	size_t used = strlen(seg->note);
	if (used + 3 >= sizeof seg->note)
		return;
	if (used) {
		memcpy(seg->note + used, "; ", 3);
		used += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(seg->note + used, sizeof seg->note - used, fmt, ap);
	va_end(ap);
}

int tta_tt_metal_parse(const unsigned char *buf, size_t len, uint64_t asic_id,
		       struct tta_tt_metal_segment *seg, struct tta_tt_metal_process *procs,
		       uint32_t *n_procs)
{
	*n_procs = 0;
	seg->asic_id = asic_id;
	seg->usable = 0;
	seg->note[0] = '\0';
	seg->chip_count = 0;
	seg->processes = 0;
	if (len < 4) {
		note_add(seg, "truncated: %zu bytes", len);
		return -1;
	}
	uint32_t version = rd32(buf, TTM_VERSION);
	seg->version = version;
	if (version < 2 || version > 4) {
		if (version == 0)
			note_add(seg, "not initialised (version 0)");
		else
			note_add(seg, "layout version %" PRIu32 " is not supported (2 to 4 are)",
				 version);
		return -1;
	}
	size_t need = version >= 4 ? TTA_TTM_SIZE_V4 : TTA_TTM_PROCESSES_V2;
	if (len < need) {
		note_add(seg, "truncated: %zu of %zu bytes", len, need);
		return -1;
	}
	if (version >= 4 && rd32(buf, TTM_INIT_STATE) != TTA_TTM_READY) {
		note_add(seg, "not initialised (init_state 0x%08" PRIx32 ")",
			 rd32(buf, TTM_INIT_STATE));
		return -1;
	}
	if (!read_counters(buf, TTM_TOTALS, seg->total)) {
		note_add(seg, "device totals beyond any device's memory");
		return -1;
	}
	memcpy(seg->shown, seg->total, sizeof seg->shown);
	seg->active_processes = rd32(buf, TTM_ACTIVE);
	seg->last_update_ns = rd64(buf, TTM_UPDATED);
	seg->metal_device_id = rd32(buf, TTM_DEVICE_ID);
	if (rd64(buf, TTM_ASIC_ID) != asic_id)
		note_add(seg, "its asic_id field says %" PRIu64, rd64(buf, TTM_ASIC_ID));

	unsigned implausible = 0, duplicates = 0;
	for (unsigned c = 0; c < TTM_CHIPS_N; c++) {
		size_t off = TTM_CHIPS + (size_t)c * TTM_CHIP_SIZE;
		uint32_t chip_id = rd32(buf, off);
		if (chip_id == UINT32_MAX)
			continue; /* unused entry (v2 and later) */
		struct tta_tt_metal_chip *chip = &seg->chips[seg->chip_count];
		if (!read_counters(buf, off + 8, chip->used)) {
			implausible++;
			continue;
		}
		chip->chip_id = chip_id;
		chip->remote = rd32(buf, off + 4) != 0;
		seg->chip_count++;
	}
	for (unsigned p = 0; p < TTA_TTM_MAX_PROCESSES; p++) {
		size_t off = TTM_PROCS + (size_t)p * TTM_PROC_SIZE;
		int32_t pid = (int32_t)rd32(buf, off);
		if (pid <= 0)
			continue; /* 0 unused, -1 being released */
		struct tta_tt_metal_process *out = &procs[*n_procs];
		memset(out, 0, sizeof *out);
		if (!read_counters(buf, off + TTM_PROC_COUNTERS, out->used)) {
			implausible++;
			continue;
		}
		bool seen = false;
		for (uint32_t i = 0; i < *n_procs; i++)
			seen |= procs[i].pid == pid;
		if (seen) {
			duplicates++;
			continue;
		}
		out->pid = pid;
		out->asic_id = asic_id;
		out->last_update_ns = rd64(buf, off + TTM_PROC_UPDATED);
		memcpy(out->name, buf + off + TTM_PROC_NAME, TTM_NAME_LEN);
		out->name[TTM_NAME_LEN] = '\0';
		(*n_procs)++;
	}
	if (implausible)
		note_add(seg, "%u entr%s with counters beyond any device's memory left out",
			 implausible, implausible == 1 ? "y" : "ies");
	if (duplicates)
		note_add(seg, "%u duplicate process entr%s left out", duplicates,
			 duplicates == 1 ? "y" : "ies");
	seg->usable = 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading files                                                             */

/* Opens NAME under DIR for reading. O_NONBLOCK: a FIFO planted in place of
 * a file reads as empty instead of blocking; O_NOFOLLOW: a link planted in
 * place of an attribute is not followed (sysfs attributes are never links).
 * No fstat: one syscall per file matters at 64 devices x 25 files. */
static int open_file(int dir, const char *name)
{
	return openat(dir, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
}

/* Up to CAP bytes of an open file, reading until EOF (proc files may come
 * in pieces). Returns the length or -1. */
static ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return got ? (ssize_t)got : -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* A small file into BUF (terminated). Sysfs hands an attribute over in one
 * read, so ONE_READ skips the read that would only see EOF. Returns its
 * length or -1. */
static ssize_t read_small(int dir, const char *name, char *buf, size_t cap, bool one_read)
{
	int fd = open_file(dir, name);
	if (fd < 0)
		return -1;
	ssize_t n;
	if (one_read) {
		do
			n = read(fd, buf, cap - 1);
		while (n < 0 && errno == EINTR);
	} else {
		n = read_all(fd, buf, cap - 1);
	}
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static void store_field(struct tta_telemetry *t, unsigned id, const char *buf, size_t n)
{
	const struct field_def *f = &fields[id];
	while (n > 0 && is_space(buf[n - 1]))
		n--;
	if (n == 0)
		return;
	if (f->pub.kind == TTA_TELEMETRY_NUMBER) {
		int64_t v;
		if (!tta_parse_sysfs_number(buf, n, f->base, true, &v) || v < f->min || v > f->max)
			return;
		t->raw[id] = v;
	} else {
		int64_t ignored;
		/* The driver prints ASCII words and numbers: anything else is not
		 * its output. */
		if (n >= sizeof t->text[id] ||
		    (f->check == CHECK_HEX && !tta_parse_sysfs_number(buf, n, 16, false, &ignored)))
			return;
		for (size_t i = 0; i < n; i++)
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				return;
		memcpy(t->text[id], buf, n);
		t->text[id][n] = '\0';
	}
	t->present |= 1ull << id;
}

/* The hwmon directory of the PCI device the class device links to. */
static int open_hwmon(int class_dir)
{
	int dir = openat(class_dir, "device/hwmon", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -1;
	DIR *d = fdopendir(dir);
	if (d == NULL) {
		close(dir);
		return -1;
	}
	int found = -1;
	struct dirent *e;
	while (found < 0 && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "hwmon", 5) == 0 && e->d_name[5] != '\0')
			found = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	closedir(d);
	return found;
}

void tta_telemetry_read(int class_dir, struct tta_telemetry *out)
{
	memset(out, 0, sizeof *out);
	char buf[ATTR_MAX];
	int hwmon = open_hwmon(class_dir);
	for (unsigned id = 0; id < TTA_TELEMETRY_FIELDS; id++) {
		const struct field_def *f = &fields[id];
		if (f->attr == NULL || (f->hwmon && hwmon < 0))
			continue;
		ssize_t n = read_small(f->hwmon ? hwmon : class_dir, f->attr, buf, sizeof buf, true);
		if (n > 0)
			store_field(out, id, buf, (size_t)n);
	}
	if (hwmon >= 0)
		close(hwmon);
	/* The PCI address: the name of the directory the device link leads to,
	 * however the link is spelt. */
	int dev = openat(class_dir, "device", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dev >= 0) {
		char fdpath[64], link[PATH_MAX];
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", dev);
		ssize_t n = readlink(fdpath, link, sizeof link - 1);
		close(dev);
		if (n > 0) {
			link[n] = '\0';
			const char *base = strrchr(link, '/');
			base = base ? base + 1 : link;
			store_field(out, TTA_TELEMETRY_PCI_BDF, base, strlen(base));
		}
	}
}

/* ------------------------------------------------------------------------ */
/* A snapshot's sources                                                      */

struct sysfs_device {
	uint32_t id;
	struct tta_telemetry tel;
	bool have_asic;
	uint64_t asic;
	int32_t open_files;        /* -1: no pids file */
	int32_t *pids;             /* open_files entries, at most MAX_PIDS_PER_DEVICE */
	size_t n_pids;
};

struct tta_sources {
	struct tta_sources_info info;
	char root[ROOT_MAX];       /* every path below is ROOT + at most 80 bytes */
	bool root_too_long;        /* then nothing is read */
	struct sysfs_device *devs;
	size_t n_devs;
	uint32_t *ids;
	struct tta_tt_metal_segment *segs;
	size_t n_segs;
	struct tta_tt_metal_process *procs;
	size_t n_procs;
	struct tta_untracked_process *untracked;
	size_t n_untracked;
	/* user names looked up for this snapshot (the user database is a file
	 * read per lookup: a few uids serve every process listed) */
	struct {
		uint32_t uid;
		char name[64];
	} users[16];
	unsigned n_users;
	/* bound to the snapshot's devices */
	struct tta_device_sources *dev_sources;
	const struct tta_telemetry **dev_tel;
	size_t n_bound;
};

void tta_sources_free(tta_sources *src)
{
	if (src == NULL)
		return;
	for (size_t i = 0; i < src->n_devs; i++)
		free(src->devs[i].pids);
	free(src->devs);
	free(src->ids);
	free(src->segs);
	free(src->procs);
	free(src->untracked);
	free(src->dev_sources);
	free(src->dev_tel);
	free(src);
}

/* $TT_ALLOC_SYSFS_ROOT without trailing slashes ("" = the host's). */
static void resolve_root(tta_sources *src)
{
	const char *env = getenv("TT_ALLOC_SYSFS_ROOT");
	if (env == NULL)
		env = "";
	size_t n = strlen(env);
	while (n > 0 && env[n - 1] == '/')
		n--;
	if (n >= sizeof src->root) {
		src->root_too_long = true;
		n = sizeof src->root - 1;
	}
	memcpy(src->root, env, n);
	src->root[n] = '\0';
	snprintf(src->info.root, sizeof src->info.root, "%s", src->root);
}

static bool device_dir_name(const char *name, uint32_t *id)
{
	static const char prefix[] = "tenstorrent!";
	size_t p = sizeof prefix - 1;
	if (strncmp(name, prefix, p) != 0)
		return false;
	int64_t v;
	const char *digits = name + p;
	size_t n = strlen(digits);
	if (n == 0 || n > 9 || (digits[0] == '0' && n > 1) || digits[0] == '-' ||
	    !tta_parse_sysfs_number(digits, n, 10, false, &v))
		return false;
	for (size_t i = 0; i < n; i++)
		if (digits[i] < '0' || digits[i] > '9')
			return false;
	*id = (uint32_t)v;
	return true;
}

static int cmp_sysfs(const void *a, const void *b)
{
	uint32_t x = ((const struct sysfs_device *)a)->id, y = ((const struct sysfs_device *)b)->id;
	return (x > y) - (x < y);
}

static void read_pids(tta_sources *src, struct sysfs_device *dev)
{
	dev->open_files = -1;
	char path[PATH_BUF];
	snprintf(path, sizeof path, "%s/proc/driver/tenstorrent/%" PRIu32 "/pids", src->root,
		 dev->id);
	int fd = open_file(AT_FDCWD, path);
	if (fd < 0)
		return;
	char *buf = malloc(MAX_PIDS_FILE);
	ssize_t n = buf ? read_all(fd, buf, MAX_PIDS_FILE) : -1;
	close(fd);
	if (n >= 0) {
		size_t valid = tta_parse_pid_lines(buf, (size_t)n, NULL, 0);
		size_t keep = valid < MAX_PIDS_PER_DEVICE ? valid : MAX_PIDS_PER_DEVICE;
		dev->pids = keep ? malloc(keep * sizeof *dev->pids) : NULL;
		if (keep && dev->pids == NULL)
			keep = 0;
		dev->n_pids = tta_parse_pid_lines(buf, (size_t)n, dev->pids, keep);
		if (dev->n_pids > keep)
			dev->n_pids = keep;
		dev->open_files = valid > INT32_MAX ? INT32_MAX : (int32_t)valid;
	}
	free(buf);
}

static int read_sysfs(tta_sources *src)
{
	char path[PATH_BUF];
	snprintf(path, sizeof path, "%s/sys/class/tenstorrent", src->root);
	DIR *d = opendir(path);
	snprintf(path, sizeof path, "%s/proc/driver/tenstorrent", src->root);
	struct stat st;
	src->info.kernel_pids = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
	if (d == NULL)
		return 0;
	src->info.driver = 1;
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL && src->n_devs < MAX_SYSFS_DEVICES) {
		uint32_t id;
		if (!device_dir_name(e->d_name, &id))
			continue;
		int cdir = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cdir < 0)
			continue;
		if (src->n_devs == cap) {
			size_t next = cap ? cap * 2 : 8;
			void *grown = realloc(src->devs, next * sizeof *src->devs);
			if (grown == NULL) {
				close(cdir);
				rc = -ENOMEM;
				break;
			}
			src->devs = grown;
			cap = next;
		}
		struct sysfs_device *dev = &src->devs[src->n_devs++];
		memset(dev, 0, sizeof *dev);
		dev->id = id;
		tta_telemetry_read(cdir, &dev->tel);
		close(cdir);
		const char *asic;
		int64_t v;
		if (tta_telemetry_get(&dev->tel, TTA_TELEMETRY_ASIC_ID, NULL, &asic) &&
		    tta_parse_sysfs_number(asic, strlen(asic), 16, false, &v)) {
			dev->have_asic = true;
			dev->asic = (uint64_t)v;
		}
		read_pids(src, dev);
	}
	closedir(d);
	if (src->n_devs > 1)
		qsort(src->devs, src->n_devs, sizeof *src->devs, cmp_sysfs);
	src->info.sysfs_devices = (uint32_t)src->n_devs;
	if (rc == 0 && src->n_devs) {
		src->ids = malloc(src->n_devs * sizeof *src->ids);
		if (src->ids == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_devs; i++)
			src->ids[i] = src->devs[i].id;
	}
	return rc;
}

/* What ROOT/proc/PID says about a process. */
struct proc_facts {
	bool exists, have_uid, have_ns;
	uint32_t uid;
	uint64_t ns_ino;          /* its pid namespace */
	int32_t ns_pid;           /* its pid there (last NSpid field) */
	char name[64];
};

/* One line of /proc/PID/status: the real uid ("Uid:" first number) and the
 * pid in the process's own namespace (last number of "NSpid:"). */
static void status_line(const char *line, size_t len, struct proc_facts *pf)
{
	int64_t v;
	if (len > 4 && strncmp(line, "Uid:", 4) == 0) {
		size_t i = 4, j;
		while (i < len && (line[i] == '\t' || line[i] == ' '))
			i++;
		for (j = i; j < len && line[j] >= '0' && line[j] <= '9'; j++)
			;
		if (j > i && tta_parse_sysfs_number(line + i, j - i, 10, false, &v) && v <= UINT32_MAX) {
			pf->have_uid = true;
			pf->uid = (uint32_t)v;
		}
	} else if (len > 6 && strncmp(line, "NSpid:", 6) == 0) {
		size_t i = len;
		while (i > 6 && (line[i - 1] == ' ' || line[i - 1] == '\t'))
			i--;
		size_t j = i;
		while (j > 6 && line[j - 1] >= '0' && line[j - 1] <= '9')
			j--;
		if (j < i && tta_parse_sysfs_number(line + j, i - j, 10, false, &v) && v > 0 &&
		    v <= INT32_MAX)
			pf->ns_pid = (int32_t)v;
	}
}

/* What ROOT/proc/PID/status (and comm, and ns/pid, when asked) say: a file
 * or two per process, the fewest that answer the question. */
static void proc_facts(const tta_sources *src, int32_t pid, bool want_name, bool want_ns,
		       struct proc_facts *pf)
{
	memset(pf, 0, sizeof *pf);
	if (pid <= 0)
		return;
	char path[PATH_BUF], buf[2048];
	snprintf(path, sizeof path, "%s/proc/%" PRId32 "/status", src->root, pid);
	int fd = open_file(AT_FDCWD, path);
	if (fd < 0) {
		pf->exists = errno != ENOENT && errno != ENOTDIR;
		return;
	}
	pf->exists = true;
	/* Uid and NSpid come in the first lines: one read is enough. */
	ssize_t n;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *line = buf; n > 0 && line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		status_line(line, len, pf);
		line = end ? end + 1 : NULL;
	}
	if (want_name) {
		snprintf(path, sizeof path, "%s/proc/%" PRId32 "/comm", src->root, pid);
		n = read_small(AT_FDCWD, path, buf, sizeof buf, true);
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0) {
			if ((size_t)n >= sizeof pf->name)
				n = sizeof pf->name - 1;
			memcpy(pf->name, buf, (size_t)n);
			pf->name[n] = '\0';
		}
	}
	struct stat st;
	if (want_ns && pf->ns_pid > 0) {
		snprintf(path, sizeof path, "%s/proc/%" PRId32 "/ns/pid", src->root, pid);
		if (stat(path, &st) == 0) {
			pf->have_ns = true;
			pf->ns_ino = (uint64_t)st.st_ino;
		}
	}
}

static int cmp_segments(const void *a, const void *b)
{
	uint64_t x = ((const struct tta_tt_metal_segment *)a)->asic_id;
	uint64_t y = ((const struct tta_tt_metal_segment *)b)->asic_id;
	return (x > y) - (x < y);
}

/* Reads every tt_device_*_memory file: segments (sorted by asic id) and the
 * process entries of the usable ones. */
static int read_tt_metal(tta_sources *src)
{
	char path[PATH_BUF];
	snprintf(path, sizeof path, "%s/dev/shm", src->root);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	/* First the names, so the segments can be sorted before the processes
	 * point at them by index. */
	uint64_t *asics = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < MAX_TT_METAL_SEGMENTS) {
		uint64_t asic;
		if (!tta_tt_metal_name(e->d_name, &asic))
			continue;
		if (n == cap) {
			size_t next = cap ? cap * 2 : 8;
			void *grown = realloc(asics, next * sizeof *asics);
			if (grown == NULL) {
				rc = -ENOMEM;
				break;
			}
			asics = grown;
			cap = next;
		}
		asics[n++] = asic;
	}
	if (rc == 0 && n) {
		src->segs = calloc(n, sizeof *src->segs);
		src->procs = calloc(n * TTA_TTM_MAX_PROCESSES, sizeof *src->procs);
		if (src->segs == NULL || src->procs == NULL)
			rc = -ENOMEM;
	}
	unsigned char *buf = rc == 0 && n ? malloc(TTA_TTM_FILE_SIZE) : NULL;
	if (rc == 0 && n && buf == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		src->segs[i].asic_id = asics[i];
	if (rc == 0 && n > 1)
		qsort(src->segs, n, sizeof *src->segs, cmp_segments);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tta_tt_metal_segment *seg = &src->segs[i];
		char name[64];
		snprintf(name, sizeof name, "tt_device_%" PRIu64 "_memory", seg->asic_id);
		snprintf(seg->path, sizeof seg->path, "%s/dev/shm/%s", src->root, name);
		seg->device = TTA_NO_DEVICE;
		int fd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
		struct stat st;
		if (fd < 0) {
			snprintf(seg->note, sizeof seg->note, "cannot open: %s",
				 errno == ELOOP ? "a symbolic link" : strerror(errno));
			continue;
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			snprintf(seg->note, sizeof seg->note, "not a regular file");
			continue;
		}
		size_t want = (uint64_t)st.st_size < TTA_TTM_FILE_SIZE ? (size_t)st.st_size
								       : TTA_TTM_FILE_SIZE;
		size_t got = 0;
		while (got < want) {
			ssize_t r = pread(fd, buf + got, want - got, (off_t)got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break; /* shrank under us: parse what we have */
			got += (size_t)r;
		}
		close(fd);
		uint32_t n_procs = 0;
		struct tta_tt_metal_process *procs = &src->procs[src->n_procs];
		if (tta_tt_metal_parse(buf, got, seg->asic_id, seg, procs, &n_procs) == 0) {
			for (uint32_t p = 0; p < n_procs; p++)
				procs[p].segment = (uint32_t)i;
			src->n_procs += n_procs;
		}
	}
	src->n_segs = rc == 0 ? n : 0;
	src->info.tt_metal_segments = (uint32_t)src->n_segs;
	for (size_t i = 0; i < src->n_segs; i++)
		src->info.tt_metal_skipped += !src->segs[i].usable;
	free(buf);
	free(asics);
	closedir(d);
	return rc;
}

static void user_name(tta_sources *src, uint32_t uid, char *out, size_t len)
{
	for (unsigned i = 0; i < src->n_users; i++)
		if (src->users[i].uid == uid) {
			snprintf(out, len, "%s", src->users[i].name);
			return;
		}
	tta_user_name(uid, out, len);
	if (src->n_users < sizeof src->users / sizeof src->users[0]) {
		src->users[src->n_users].uid = uid;
		snprintf(src->users[src->n_users].name, sizeof src->users[0].name, "%s", out);
		src->n_users++;
	}
}

/* Whether PID (in our pid namespace) reports through tt-alloc. */
static bool tracked_here(const struct tta_process_row *rows, size_t n_rows, uint64_t self_ns,
			 int32_t pid)
{
	for (size_t i = 0; i < n_rows; i++)
		if (rows[i].proc.pid == pid && (self_ns == 0 || rows[i].proc.pidns_ino == self_ns))
			return true;
	return false;
}

/* Matches TT-Metal's segments to devices, drops the entries of processes
 * tt-alloc reports (subtracting their bytes), and fills in who the rest are. */
static void settle_tt_metal(tta_sources *src, const struct tta_process_row *rows, size_t n_rows,
			    uint64_t self_ns)
{
	for (size_t s = 0; s < src->n_segs; s++) {
		struct tta_tt_metal_segment *seg = &src->segs[s];
		for (size_t d = 0; d < src->n_devs; d++)
			if (src->devs[d].have_asic && src->devs[d].asic == seg->asic_id) {
				seg->device = src->devs[d].id;
				break;
			}
	}
	size_t kept = 0;
	for (size_t i = 0; i < src->n_procs; i++) {
		struct tta_tt_metal_process p = src->procs[i];
		struct tta_tt_metal_segment *seg = &src->segs[p.segment];
		if (tracked_here(rows, n_rows, self_ns, p.pid)) {
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				seg->shown[t] = seg->shown[t] > p.used[t] ? seg->shown[t] - p.used[t] : 0;
			continue;
		}
		p.device = seg->device;
		struct proc_facts pf;
		proc_facts(src, p.pid, false, false, &pf);
		p.running = pf.exists;
		p.have_uid = pf.have_uid;
		p.uid = pf.uid;
		if (pf.have_uid)
			user_name(src, pf.uid, p.user, sizeof p.user);
		seg->processes++;
		src->procs[kept++] = p;
	}
	src->n_procs = kept;
}

static int cmp_procs(const void *a, const void *b)
{
	const struct tta_tt_metal_process *x = a, *y = b;
	if (x->device != y->device)
		return (x->device > y->device) - (x->device < y->device);
	if (x->asic_id != y->asic_id)
		return (x->asic_id > y->asic_id) - (x->asic_id < y->asic_id);
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int cmp_pids(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* Processes the driver lists that report through nothing we read. */
static int find_untracked(tta_sources *src, const struct tta_process_row *rows, size_t n_rows,
			  uint64_t self_ns)
{
	size_t cap = 0;
	/* Only writers of other pid namespaces need a process's namespace. */
	bool foreign_rows = false;
	for (size_t r = 0; r < n_rows; r++)
		foreign_rows |= self_ns != 0 && rows[r].proc.pidns_ino != self_ns;
	for (size_t d = 0; d < src->n_devs; d++) {
		struct sysfs_device *dev = &src->devs[d];
		if (dev->n_pids > 1)
			qsort(dev->pids, dev->n_pids, sizeof *dev->pids, cmp_pids);
		for (size_t i = 0; i < dev->n_pids;) {
			int32_t pid = dev->pids[i];
			size_t j = i;
			while (j < dev->n_pids && dev->pids[j] == pid)
				j++;
			uint32_t opens = (uint32_t)(j - i);
			i = j;
			bool reports = pid > 0 && tracked_here(rows, n_rows, self_ns, pid);
			for (size_t p = 0; pid > 0 && !reports && p < src->n_procs; p++)
				reports = src->procs[p].pid == pid;
			struct proc_facts pf;
			memset(&pf, 0, sizeof pf);
			if (!reports)
				proc_facts(src, pid, true, foreign_rows, &pf);
			/* Another namespace's writer: the driver names it by our pid,
			 * its slot by its own, under its namespace's inode. */
			for (size_t r = 0; !reports && pf.have_ns && r < n_rows; r++)
				reports = rows[r].proc.pidns_ino == pf.ns_ino &&
					  rows[r].proc.pid == pf.ns_pid;
			if (reports)
				continue;
			if (src->n_untracked == cap) {
				size_t next = cap ? cap * 2 : 16;
				void *grown = realloc(src->untracked, next * sizeof *src->untracked);
				if (grown == NULL)
					return -ENOMEM;
				src->untracked = grown;
				cap = next;
			}
			struct tta_untracked_process *u = &src->untracked[src->n_untracked++];
			memset(u, 0, sizeof *u);
			u->device = dev->id;
			u->pid = pid;
			u->open_files = opens;
			u->have_uid = pf.have_uid;
			u->uid = pf.uid;
			if (pf.have_uid)
				user_name(src, pf.uid, u->user, sizeof u->user);
			memcpy(u->name, pf.name, sizeof u->name);
		}
	}
	return 0;
}

int tta_sources_take(const struct tta_process_row *rows, size_t n_rows, tta_sources **out)
{
	*out = NULL;
	tta_sources *src = calloc(1, sizeof *src);
	if (src == NULL)
		return -ENOMEM;
	resolve_root(src);
	if (src->root_too_long) {
		*out = src; /* a root no path fits under: nothing to read there */
		return 0;
	}
	uint64_t self_ns = tta_self_pidns_ino();
	int rc = read_sysfs(src);
	if (rc == 0)
		rc = read_tt_metal(src);
	if (rc == 0) {
		settle_tt_metal(src, rows, n_rows, self_ns);
		if (src->n_procs > 1)
			qsort(src->procs, src->n_procs, sizeof *src->procs, cmp_procs);
		rc = find_untracked(src, rows, n_rows, self_ns);
	}
	if (rc != 0) {
		tta_sources_free(src);
		return rc;
	}
	*out = src;
	return 0;
}

size_t tta_sources_device_ids(const tta_sources *src, const uint32_t **ids)
{
	*ids = src->ids;
	return src->n_devs;
}

int tta_sources_bind(tta_sources *src, const struct tta_device_view *devs, size_t n_devs,
		     int32_t filter_pid, int32_t filter_device)
{
	if (n_devs) {
		src->dev_sources = calloc(n_devs, sizeof *src->dev_sources);
		src->dev_tel = calloc(n_devs, sizeof *src->dev_tel);
		if (src->dev_sources == NULL || src->dev_tel == NULL)
			return -ENOMEM;
	}
	src->n_bound = n_devs;
	for (size_t i = 0; i < n_devs; i++) {
		struct tta_device_sources *ds = &src->dev_sources[i];
		uint32_t id = devs[i].id;
		ds->open_files = -1;
		for (size_t d = 0; d < src->n_devs; d++)
			if (src->devs[d].id == id) {
				ds->in_sysfs = 1;
				ds->open_files = src->devs[d].open_files;
				src->dev_tel[i] = &src->devs[d].tel;
			}
		for (size_t s = 0; s < src->n_segs; s++) {
			const struct tta_tt_metal_segment *seg = &src->segs[s];
			if (!seg->usable || seg->device != id)
				continue;
			ds->tt_metal_segments++;
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				ds->tt_metal_used[t] = (int64_t)((uint64_t)ds->tt_metal_used[t] +
								 (uint64_t)seg->shown[t]);
		}
		for (size_t p = 0; p < src->n_procs; p++)
			ds->tt_metal_processes += src->procs[p].device == id;
		for (size_t u = 0; u < src->n_untracked; u++)
			ds->untracked += src->untracked[u].device == id;
	}
	size_t kept = 0;
	for (size_t p = 0; p < src->n_procs; p++) {
		const struct tta_tt_metal_process *proc = &src->procs[p];
		if ((filter_pid == 0 || proc->pid == filter_pid) &&
		    (filter_device < 0 || proc->device == (uint32_t)filter_device))
			src->procs[kept++] = *proc;
	}
	src->n_procs = kept;
	kept = 0;
	for (size_t u = 0; u < src->n_untracked; u++) {
		const struct tta_untracked_process *un = &src->untracked[u];
		if ((filter_pid == 0 || un->pid == filter_pid) &&
		    (filter_device < 0 || un->device == (uint32_t)filter_device))
			src->untracked[kept++] = *un;
	}
	src->n_untracked = kept;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */

TTA_EXPORT const struct tta_sources_info *tta_snapshot_sources(const tta_snapshot *snap)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src ? &src->info : NULL;
}

TTA_EXPORT const struct tta_device_sources *tta_snapshot_device_sources(const tta_snapshot *snap,
									size_t index)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src && index < src->n_bound ? &src->dev_sources[index] : NULL;
}

TTA_EXPORT const tta_telemetry *tta_snapshot_device_telemetry(const tta_snapshot *snap,
							      size_t index)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src && index < src->n_bound ? src->dev_tel[index] : NULL;
}

TTA_EXPORT size_t tta_snapshot_untracked_count(const tta_snapshot *snap)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src ? src->n_untracked : 0;
}

TTA_EXPORT const struct tta_untracked_process *tta_snapshot_untracked(const tta_snapshot *snap,
								      size_t index)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src && index < src->n_untracked ? &src->untracked[index] : NULL;
}

TTA_EXPORT size_t tta_snapshot_tt_metal_segment_count(const tta_snapshot *snap)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src ? src->n_segs : 0;
}

TTA_EXPORT const struct tta_tt_metal_segment *tta_snapshot_tt_metal_segment(const tta_snapshot *snap,
									    size_t index)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src && index < src->n_segs ? &src->segs[index] : NULL;
}

TTA_EXPORT size_t tta_snapshot_tt_metal_process_count(const tta_snapshot *snap)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src ? src->n_procs : 0;
}

TTA_EXPORT const struct tta_tt_metal_process *tta_snapshot_tt_metal_process(const tta_snapshot *snap,
									    size_t index)
{
	const tta_sources *src = tta_snapshot_sources_of(snap);
	return src && index < src->n_procs ? &src->procs[index] : NULL;
}
