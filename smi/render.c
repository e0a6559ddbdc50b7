/*
 * render.c - tt-smi snapshot and renderers. Contract in render.h.
 *
 * Everything that comes out of the segment is treated as hostile input: names
 * are cleaned before they reach a terminal or a JSON string, numbers are
 * printed as the signed/unsigned values they are (a negative total is a
 * mis-accounting worth showing), and unknown memory types or devices are
 * printed by number instead of being used as an index.
 */
#include "render.h"
#include "tta_text.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A cleaned segment name: 255 bytes at most, each kept or turned into '?'. */
#define SEGMENT_NAME_TEXT 320

/* Memory types in the order a user scans them: the big pools first. */
static const unsigned display_order[TTA_MEM_TYPES] = {
	TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
	TTA_MEM_SYSTEM, TTA_MEM_CB, TTA_MEM_KERNEL,
};

/* Names for types 0..TTA_MEM_TYPES-1 even if the library ever returned NULL. */
static const char *type_key(unsigned type)
{
	static const char *fallback[TTA_MEM_TYPES] = {
		"dram", "l1", "system", "l1_small", "trace", "cb", "kernel",
	};
	const char *name = tta_mem_type_name(type);
	if (name)
		return name;
	return type < TTA_MEM_TYPES ? fallback[type] : "unknown";
}

static void type_label(unsigned type, char *buf, size_t len)
{
	if (type >= TTA_MEM_TYPES) {
		snprintf(buf, len, "type#%u", type);
		return;
	}
	const char *key = type_key(type);
	size_t i = 0;
	for (; key[i] && i + 1 < len; i++)
		buf[i] = (char)(key[i] >= 'a' && key[i] <= 'z' ? key[i] - 'a' + 'A' : key[i]);
	buf[i] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                  */

void smi_snapshot_init(struct smi_snapshot *snap)
{
	memset(snap, 0, sizeof *snap);
	snap->filter.device = -1;
}

void smi_snapshot_free(struct smi_snapshot *snap)
{
	free(snap->devices);
	free(snap->rows);
	free(snap->buffers);
	smi_snapshot_init(snap);
}

/* Grows *ARRAY (of ELEM-byte items) to hold one more than *COUNT. */
static int reserve_one(void **array, size_t *count, size_t *cap, size_t elem)
{
	if (*count < *cap)
		return 0;
	size_t next = *cap ? *cap * 2 : 16;
	if (next > SIZE_MAX / elem)
		return -ENOMEM;
	void *grown = realloc(*array, next * elem);
	if (!grown)
		return -ENOMEM;
	/* Stored before anything else can fail, so a SIGBUS jump out of the
	 * reader never leaves the snapshot pointing at freed memory. */
	*array = grown;
	*cap = next;
	return 0;
}

static bool device_in_use(const struct tta_device_view *dev)
{
	if (dev->registered || dev->buffers != 0 || dev->processes != 0)
		return true;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		if (dev->used[t] != 0)
			return true;
	return false;
}

struct take_ctx {
	struct smi_snapshot *snap;
	int error;
};

static int collect_process(const struct tta_process_view *proc, uint32_t device,
			   const int64_t *used, int64_t buffers, void *opaque)
{
	struct take_ctx *ctx = opaque;
	struct smi_snapshot *snap = ctx->snap;
	if (snap->filter.pid != 0 && proc->pid != snap->filter.pid)
		return 0;
	if (snap->filter.device >= 0 && device != (uint32_t)snap->filter.device)
		return 0;
	if (reserve_one((void **)&snap->rows, &snap->n_rows, &snap->cap_rows,
			sizeof *snap->rows) < 0) {
		ctx->error = -ENOMEM;
		return 1;
	}
	struct smi_process_row *row = &snap->rows[snap->n_rows];
	memset(row, 0, sizeof *row);
	row->proc = *proc;
	row->device = device;
	if (used)
		memcpy(row->used, used, sizeof row->used);
	row->buffers = buffers;
	snap->n_rows++;
	return 0;
}

static int collect_buffer(const struct tta_buffer_view *buf, void *opaque)
{
	struct take_ctx *ctx = opaque;
	struct smi_snapshot *snap = ctx->snap;
	if (reserve_one((void **)&snap->buffers, &snap->n_buffers, &snap->cap_buffers,
			sizeof *snap->buffers) < 0) {
		ctx->error = -ENOMEM;
		return 1;
	}
	snap->buffers[snap->n_buffers++] = *buf;
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct smi_process_row *a = pa, *b = pb;
	int c = cmp_u64(a->device, b->device);
	if (!c)
		c = (a->proc.pid > b->proc.pid) - (a->proc.pid < b->proc.pid);
	if (!c)
		c = cmp_u64(a->proc.slot, b->proc.slot);
	return c;
}

static int cmp_buffers(const void *pa, const void *pb)
{
	const struct tta_buffer_view *a = pa, *b = pb;
	int c = (a->owner_pid > b->owner_pid) - (a->owner_pid < b->owner_pid);
	if (!c)
		c = cmp_u64(a->device, b->device);
	if (!c)
		c = cmp_u64(a->address, b->address);
	if (!c)
		c = cmp_u64(a->record, b->record);
	return c;
}

int smi_snapshot_take(tta_reader *reader, const struct smi_filter *filter,
		      struct smi_snapshot *snap, char *err, size_t errlen)
{
	struct take_ctx ctx = { .snap = snap, .error = 0 };
	struct timespec now;
	int rc;

	smi_snapshot_free(snap);
	if (filter)
		snap->filter = *filter;
	clock_gettime(CLOCK_REALTIME, &now);
	snap->taken_realtime_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;

	rc = tta_reader_health(reader, &snap->health);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the segment header: %s", strerror(-rc));
		return rc;
	}
	snap->device_capacity = tta_reader_device_capacity(reader);

	for (uint32_t id = 0; id < snap->device_capacity; id++) {
		struct tta_device_view view;
		if (snap->filter.device >= 0 && id != (uint32_t)snap->filter.device)
			continue;
		if (tta_reader_device(reader, id, &view) < 0 || !device_in_use(&view))
			continue;
		if (reserve_one((void **)&snap->devices, &snap->n_devices,
				&snap->cap_devices, sizeof *snap->devices) < 0) {
			ctx.error = -ENOMEM;
			break;
		}
		snap->devices[snap->n_devices++] = view;
	}

	if (!ctx.error) {
		rc = tta_reader_foreach_process(reader, collect_process, &ctx);
		if (rc < 0 && !ctx.error)
			ctx.error = rc;
	}
	if (!ctx.error && snap->filter.want_buffers) {
		struct tta_buffer_filter bf = {
			.pid = snap->filter.pid,
			.device = snap->filter.device,
		};
		rc = tta_reader_foreach_buffer(reader, &bf, collect_buffer, &ctx);
		if (rc < 0 && !ctx.error)
			ctx.error = rc;
	}
	if (ctx.error) {
		snprintf(err, errlen, "cannot take a snapshot of the segment: %s",
			 strerror(-ctx.error));
		smi_snapshot_free(snap);
		return ctx.error;
	}
	if (snap->n_rows > 1)
		qsort(snap->rows, snap->n_rows, sizeof *snap->rows, cmp_rows);
	if (snap->n_buffers > 1)
		qsort(snap->buffers, snap->n_buffers, sizeof *snap->buffers, cmp_buffers);
	return 0;
}

static void lookup_user(uint32_t uid, char *out, size_t outlen)
{
	struct passwd pw, *found = NULL;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t buflen = hint > 0 ? (size_t)hint : 1024;
	char *buf = NULL;

	for (;;) {
		char *bigger = realloc(buf, buflen);
		if (!bigger)
			break;
		buf = bigger;
		int rc = getpwuid_r((uid_t)uid, &pw, buf, buflen, &found);
		if (rc == ERANGE && buflen < (1u << 20)) {
			buflen *= 2;
			continue;
		}
		if (rc != 0)
			found = NULL;
		break;
	}
	if (found && found->pw_name && found->pw_name[0])
		snprintf(out, outlen, "%s", found->pw_name);
	else
		snprintf(out, outlen, "%" PRIu32, uid);
	free(buf);
}

static uint64_t own_pidns_ino(void)
{
	struct stat st;
	return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* 1 if PID runs and started at START_TIME (/proc/PID/stat field 22), 0 if it
 * exited (gone, a zombie, or the pid now names another process). */
static int process_running(int32_t pid, uint64_t start_time)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%" PRId32 "/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name in parentheses may hold anything: fields follow the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -1;
	char state = p[2];
	if (state == 'Z' || state == 'X')
		return 0;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	unsigned long long started = strtoull(p, NULL, 10);
	return started == start_time ? 1 : 0;
}

void smi_snapshot_annotate(struct smi_snapshot *snap)
{
	uint64_t pidns = own_pidns_ino();
	for (size_t i = 0; i < snap->n_rows; i++) {
		struct smi_process_row *row = &snap->rows[i];
		/* Rows of one process sit apart (sorted by device); a look-back
		 * saves repeated NSS and /proc queries. */
		size_t j = 0;
		for (; j < i; j++)
			if (snap->rows[j].proc.uid == row->proc.uid) {
				memcpy(row->user, snap->rows[j].user, sizeof row->user);
				break;
			}
		if (j == i)
			lookup_user(row->proc.uid, row->user, sizeof row->user);

		for (j = 0; j < i; j++)
			if (snap->rows[j].proc.slot == row->proc.slot &&
			    snap->rows[j].proc.generation == row->proc.generation)
				break;
		if (j < i)
			row->running = snap->rows[j].running;
		else if (pidns == 0 || row->proc.pidns_ino != pidns || row->proc.pid <= 0)
			row->running = -1; /* its pid means something else here */
		else
			row->running = process_running(row->proc.pid, row->proc.start_time);
	}
}

/* ------------------------------------------------------------------------ */
/* Formatting helpers                                                        */

char *smi_human_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	/* Magnitude in unsigned so INT64_MIN does not overflow. */
	uint64_t mag = bytes < 0 ? (uint64_t)0 - (uint64_t)bytes : (uint64_t)bytes;
	const char *sign = bytes < 0 ? "-" : "";

	if (mag == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	unsigned unit = 0;
	double value = (double)mag;
	while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
		value /= 1024.0;
		unit++;
	}
	if (unit == 0)
		snprintf(buf, len, "%s%" PRIu64 "B", sign, mag);
	else if (value < 9.95)
		snprintf(buf, len, "%s%.1f%s", sign, value, units[unit]);
	else
		snprintf(buf, len, "%s%.0f%s", sign, value, units[unit]);
	return buf;
}

/* Length of the valid UTF-8 sequence at S (at most AVAIL bytes) encoding a
 * printable character, or 0. Rejects overlongs, surrogates, C1 controls. */
static size_t utf8_printable_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	if (c >= 0x20 && c < 0x7f)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

/* Copies the first MAXLEN bytes (or up to a NUL) of SRC into DST as text a
 * terminal shows literally: anything else becomes '?'. Returns the number of
 * characters (columns, as far as tt-smi is concerned). */
static size_t clean_text(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t len = strnlen(src, maxlen), in = 0, out = 0, chars = 0;
	while (in < len && out + 1 < dstlen) {
		size_t n = utf8_printable_len(s + in, len - in);
		if (n == 0) {
			dst[out++] = '?';
			in++;
		} else {
			if (out + n >= dstlen)
				break;
			memcpy(dst + out, s + in, n);
			out += n;
			in += n;
		}
		chars++;
	}
	dst[out] = '\0';
	return chars;
}

/* A table row being printed: cells separated by two spaces. */
struct row {
	FILE *out;
	int cells;
};

/* Prints clean TEXT in a cell of WIDTH characters (cut at a character
 * boundary if longer), left- or right-aligned. */
static void cell(struct row *r, const char *text, int width, bool left)
{
	size_t bytes = 0, chars = 0;
	while (text[bytes] && chars < (size_t)width) {
		bytes++;
		while ((text[bytes] & 0xc0) == 0x80)
			bytes++;
		chars++;
	}
	int pad = width - (int)chars;
	if (r->cells++)
		fputs("  ", r->out);
	if (!left)
		fprintf(r->out, "%*s", pad, "");
	fwrite(text, 1, bytes, r->out);
	if (left)
		fprintf(r->out, "%*s", pad, "");
}

static void cell_bytes(struct row *r, int64_t bytes, int width)
{
	char buf[32];
	cell(r, smi_human_bytes(bytes, buf, sizeof buf), width, false);
}

static void cell_i64(struct row *r, int64_t value, int width)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRId64, value);
	cell(r, buf, width, false);
}

static void row_end(struct row *r)
{
	fputc('\n', r->out);
	r->cells = 0;
}

static void format_time(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000u);
	struct tm tm;
	if (!localtime_r(&secs, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "?");
}

static void print_header(const struct smi_snapshot *snap, const char *version, FILE *out)
{
	const struct tta_health *h = &snap->health;
	char when[64], name[SEGMENT_NAME_TEXT], leaked[32];

	format_time(snap->taken_realtime_ns, when, sizeof when);
	clean_text(h->name, sizeof h->name, name, sizeof name);
	fprintf(out, "tt-smi %s | %s | segment %s | ABI %" PRIu32 " | %" PRIu32
		" live process%s | reaper: ",
		version, when, name, h->abi_version, h->live_processes,
		h->live_processes == 1 ? "" : "es");
	if (h->reaper_pid == 0)
		fprintf(out, "none\n");
	else
		fprintf(out, "pid %" PRId64 " %s\n", h->reaper_pid,
			h->reaper_alive ? "running" : "NOT RUNNING");

	/* Running out of slots or records is the failure users must see:
	 * it makes the figures partial (see the shortfall counters). */
	fprintf(out, "capacity: %" PRIu32 " device%s, %" PRIu32 " process slot%s (%" PRIu32
		" in use%s), %" PRIu32 " buffer record%s (%" PRIu64 " reserved%s)\n",
		h->device_capacity, h->device_capacity == 1 ? "" : "s", h->slot_capacity,
		h->slot_capacity == 1 ? "" : "s", h->live_processes,
		h->live_processes >= h->slot_capacity ? ", FULL" : "", h->record_capacity,
		h->record_capacity == 1 ? "" : "s", h->records_in_use,
		h->records_in_use >= h->record_capacity ? ", FULL" : "");
	fprintf(out, "reaped: %" PRIu64 " process%s, %" PRIu64 " with leaks (%" PRIu64
		" buffer%s, %s)\n",
		h->processes_reaped, h->processes_reaped == 1 ? "" : "es", h->leaky_processes,
		h->leaked_buffers, h->leaked_buffers == 1 ? "" : "s",
		smi_human_bytes((int64_t)(h->leaked_bytes > INT64_MAX ? INT64_MAX : h->leaked_bytes),
				leaked, sizeof leaked));

	const struct {
		const char *name;
		uint64_t value;
	} shortfall[] = {
		{ "attach_refused", h->attach_refused },
		{ "records_unavailable", h->records_unavailable },
		{ "unknown_frees", h->unknown_frees },
		{ "double_frees", h->double_frees },
		{ "foreign_frees", h->foreign_frees },
		{ "bad_device", h->bad_device },
		{ "bad_argument", h->bad_argument },
		{ "address_collisions", h->address_collisions },
	};
	bool any = false;
	for (size_t i = 0; i < sizeof shortfall / sizeof shortfall[0]; i++) {
		if (!shortfall[i].value)
			continue;
		fprintf(out, "%s%s=%" PRIu64, any ? " " : "WARNING shortfall: ",
			shortfall[i].name, shortfall[i].value);
		any = true;
	}
	if (any)
		fprintf(out, "\n");
}

/* ------------------------------------------------------------------------ */
/* Text                                                                      */

/* Column widths, shared by headers and rows so they always line up. */
enum {
	W_DEVICE = 6, W_ARCH = 16, W_PROCS = 5, W_COUNT = 8, W_MEMORY = 8, W_BYTES = 9,
	W_PERCENT = 7, W_PID = 8, W_USER = 10, W_NAME = 16, W_TYPE_COL = 8,
	W_TYPE = 20, W_ADDRESS = 18, W_AGE = 9,
};

static void print_device_header(FILE *out)
{
	struct row r = { out, 0 };
	cell(&r, "Device", W_DEVICE, false);
	cell(&r, "Arch", W_ARCH, true);
	cell(&r, "Procs", W_PROCS, false);
	cell(&r, "Buffers", W_COUNT, false);
	cell(&r, "Memory", W_MEMORY, true);
	cell(&r, "Used", W_BYTES, false);
	cell(&r, "Total", W_BYTES, false);
	cell(&r, "Use%", W_PERCENT, false);
	row_end(&r);
	static const int widths[] = { W_DEVICE, W_ARCH, W_PROCS, W_COUNT, W_MEMORY,
				      W_BYTES, W_BYTES, W_PERCENT };
	char dashes[32];
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		memset(dashes, '-', (size_t)widths[i]);
		dashes[widths[i]] = '\0';
		cell(&r, dashes, widths[i], true);
	}
	row_end(&r);
}

static void print_device_block(const struct tta_device_view *dev, FILE *out)
{
	char arch[64], label[16], total[32], pct[16];
	unsigned shown = 0;
	struct row r = { out, 0 };

	if (dev->registered)
		clean_text(dev->arch, sizeof dev->arch, arch, sizeof arch);
	else
		snprintf(arch, sizeof arch, "(unregistered)");
	if (arch[0] == '\0')
		snprintf(arch, sizeof arch, "?");

	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned t = display_order[i];
		uint64_t cap = dev->registered ? dev->capacity[t] : 0;
		if (cap == 0 && dev->used[t] == 0) {
			/* Still one line for an idle device without capacities. */
			if (i + 1 < TTA_MEM_TYPES || shown)
				continue;
			t = TTA_MEM_DRAM;
		}
		if (shown == 0) {
			cell_i64(&r, dev->id, W_DEVICE);
			cell(&r, arch, W_ARCH, true);
			cell_i64(&r, dev->processes, W_PROCS);
			cell_i64(&r, dev->buffers, W_COUNT);
		} else {
			cell(&r, "", W_DEVICE, false);
			cell(&r, "", W_ARCH, false);
			cell(&r, "", W_PROCS, false);
			cell(&r, "", W_COUNT, false);
		}
		type_label(t, label, sizeof label);
		cell(&r, label, W_MEMORY, true);
		cell_bytes(&r, dev->used[t], W_BYTES);
		if (cap) {
			smi_human_bytes(cap > INT64_MAX ? INT64_MAX : (int64_t)cap, total, sizeof total);
			if (dev->used[t] >= 0)
				snprintf(pct, sizeof pct, "%.1f%%",
					 (double)dev->used[t] * 100.0 / (double)cap);
			else
				snprintf(pct, sizeof pct, "-");
		} else {
			snprintf(total, sizeof total, "-");
			snprintf(pct, sizeof pct, "-");
		}
		cell(&r, total, W_BYTES, false);
		cell(&r, pct, W_PERCENT, false);
		row_end(&r);
		shown++;
	}
}

static bool any_system_use(const struct smi_snapshot *snap)
{
	for (size_t i = 0; i < snap->n_rows; i++)
		if (snap->rows[i].used[TTA_MEM_SYSTEM] != 0)
			return true;
	return false;
}

static void print_process_table(const struct smi_snapshot *snap, FILE *out)
{
	static const unsigned columns[] = {
		TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
		TTA_MEM_SYSTEM, TTA_MEM_CB, TTA_MEM_KERNEL,
	};
	/* SYSTEM (host memory) is rare: a column only when someone uses it. */
	bool with_system = any_system_use(snap);
	struct row r = { out, 0 };
	char buf[64], label[16];
	size_t exited = 0;

	fprintf(out, "Processes:\n");
	if (snap->n_rows == 0) {
		if (snap->filter.pid)
			fprintf(out, "  No process with PID %" PRId32 " found\n", snap->filter.pid);
		else
			fprintf(out, "  No running processes found\n");
		return;
	}
	cell(&r, "Device", W_DEVICE, false);
	cell(&r, "PID", W_PID, true);
	cell(&r, "User", W_USER, true);
	cell(&r, "Process name", W_NAME, true);
	for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++) {
		if (columns[c] == TTA_MEM_SYSTEM && !with_system)
			continue;
		type_label(columns[c], label, sizeof label);
		cell(&r, label, W_TYPE_COL, false);
	}
	cell(&r, "Buffers", W_COUNT, false);
	row_end(&r);

	for (size_t i = 0; i < snap->n_rows; i++) {
		const struct smi_process_row *row = &snap->rows[i];
		char user[64], name[64];
		if (row->device == TTA_NO_DEVICE)
			cell(&r, "-", W_DEVICE, false);
		else
			cell_i64(&r, row->device, W_DEVICE);
		snprintf(buf, sizeof buf, "%" PRId32 "%s", row->proc.pid,
			 row->running == 0 ? "*" : "");
		exited += row->running == 0;
		cell(&r, buf, W_PID, true);
		clean_text(row->user[0] ? row->user : "?", sizeof row->user, user, sizeof user);
		cell(&r, user, W_USER, true);
		clean_text(row->proc.comm, sizeof row->proc.comm, name, sizeof name);
		cell(&r, name[0] ? name : "?", W_NAME, true);
		for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++) {
			if (columns[c] == TTA_MEM_SYSTEM && !with_system)
				continue;
			cell_bytes(&r, row->used[columns[c]], W_TYPE_COL);
		}
		cell_i64(&r, row->buffers, W_COUNT);
		row_end(&r);
	}
	if (exited)
		fprintf(out, "* exited; its memory stays counted until the reaper (or the next"
			" process to attach) reclaims its slot\n");
}

void smi_render_text(const struct smi_snapshot *snap, const char *version, FILE *out)
{
	print_header(snap, version, out);
	fprintf(out, "\n");
	if (snap->n_devices == 0) {
		if (snap->filter.device >= 0)
			fprintf(out, "Device %" PRId32 " is not registered and not in use\n",
				snap->filter.device);
		else
			fprintf(out, "No device registered or in use\n");
	} else {
		print_device_header(out);
		for (size_t i = 0; i < snap->n_devices; i++)
			print_device_block(&snap->devices[i], out);
	}
	fprintf(out, "\n");
	print_process_table(snap, out);
}

void smi_render_buffers_text(const struct smi_snapshot *snap, const char *version,
			     FILE *out)
{
	print_header(snap, version, out);
	fprintf(out, "\n");
	smi_render_buffer_table(snap, out);
}

void smi_render_buffer_table(const struct smi_snapshot *snap, FILE *out)
{
	struct row r = { out, 0 };
	char buf[64], type[48];

	if (snap->n_buffers == 0) {
		fprintf(out, "No buffers found\n");
		return;
	}
	cell(&r, "PID", W_PID, true);
	cell(&r, "Device", W_DEVICE, false);
	cell(&r, "Type", W_TYPE, true);
	cell(&r, "Address", W_ADDRESS, false);
	cell(&r, "Size", W_BYTES, false);
	cell(&r, "Age", W_AGE, false);
	row_end(&r);
	for (size_t i = 0; i < snap->n_buffers; i++) {
		const struct tta_buffer_view *b = &snap->buffers[i];
		snprintf(buf, sizeof buf, "%" PRId32, b->owner_pid);
		cell(&r, buf, W_PID, true);
		cell_i64(&r, b->device, W_DEVICE);
		type_label(b->type, type, sizeof type);
		if (b->type == TTA_MEM_KERNEL) {
			const char *kind = tta_kernel_kind_name(b->kernel_kind);
			size_t used = strlen(type);
			if (kind)
				snprintf(type + used, sizeof type - used, "/%s", kind);
			else
				snprintf(type + used, sizeof type - used, "/kind#%" PRIu32,
					 b->kernel_kind);
		}
		cell(&r, type, W_TYPE, true);
		snprintf(buf, sizeof buf, "0x%" PRIx64, b->address);
		cell(&r, buf, W_ADDRESS, false);
		cell_bytes(&r, b->size > INT64_MAX ? INT64_MAX : (int64_t)b->size, W_BYTES);
		tta_format_age(b->age_ns, buf, sizeof buf);
		cell(&r, buf, W_AGE, false);
		row_end(&r);
	}
	fprintf(out, "%zu buffer%s\n", snap->n_buffers, snap->n_buffers == 1 ? "" : "s");
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */

/* A JSON string of the first MAXLEN bytes (or up to a NUL) of SRC. Valid
 * UTF-8 passes; a byte that is not part of valid UTF-8 is written as the
 * code point of the same number (Latin-1), so the output always parses and
 * no byte of a hostile name is silently lost. */
static void json_string(FILE *out, const char *src, size_t maxlen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t len = strnlen(src, maxlen);
	fputc('"', out);
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
			i++;
		} else if (c >= 0x20 && c < 0x7f) {
			fputc(c, out);
			i++;
		} else if (c < 0x80) {
			fprintf(out, "\\u%04x", c);
			i++;
		} else {
			size_t n = utf8_printable_len(s + i, len - i);
			if (n) {
				fwrite(s + i, 1, n, out);
				i += n;
			} else {
				fprintf(out, "\\u%04x", c);
				i++;
			}
		}
	}
	fputc('"', out);
}

static void json_types(FILE *out, const char *key, const int64_t *values)
{
	fprintf(out, "\"%s\": {", key);
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned t = display_order[i];
		fprintf(out, "%s\"%s\": %" PRId64, i ? ", " : "", type_key(t), values[t]);
	}
	fprintf(out, "}");
}

static void json_segment(const struct smi_snapshot *snap, FILE *out)
{
	const struct tta_health *h = &snap->health;
	fprintf(out, "  \"segment\": {\n    \"name\": ");
	json_string(out, h->name, sizeof h->name);
	fprintf(out, ",\n    \"abi_version\": %" PRIu32 ",\n", h->abi_version);
	fprintf(out, "    \"size\": %" PRIu64 ",\n", h->segment_size);
	fprintf(out, "    \"created_realtime_ns\": %" PRIu64 ",\n", h->created_realtime_ns);
	fprintf(out, "    \"creator_pid\": %" PRId64 ",\n", h->creator_pid);
	fprintf(out, "    \"mode\": \"%04o\",\n", (unsigned)(h->mode & 07777u));
	fprintf(out, "    \"capacities\": {\"devices\": %" PRIu32 ", \"processes\": %" PRIu32
		", \"buffers\": %" PRIu32 "},\n",
		h->device_capacity, h->slot_capacity, h->record_capacity);
	fprintf(out, "    \"live_processes\": %" PRIu32 ",\n", h->live_processes);
	fprintf(out, "    \"records_in_use\": %" PRIu64 ",\n", h->records_in_use);
	fprintf(out, "    \"shortfall\": {\"attach_refused\": %" PRIu64
		", \"records_unavailable\": %" PRIu64 ", \"unknown_frees\": %" PRIu64
		", \"double_frees\": %" PRIu64 ", \"foreign_frees\": %" PRIu64
		", \"bad_device\": %" PRIu64 ", \"bad_argument\": %" PRIu64
		", \"address_collisions\": %" PRIu64 "},\n",
		h->attach_refused, h->records_unavailable, h->unknown_frees, h->double_frees,
		h->foreign_frees, h->bad_device, h->bad_argument, h->address_collisions);
	fprintf(out, "    \"reaper\": {\"pid\": %" PRId64 ", \"alive\": %s"
		", \"processes_reaped\": %" PRIu64 ", \"leaky_processes\": %" PRIu64
		", \"leaked_buffers\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64 "}\n  }",
		h->reaper_pid, h->reaper_alive ? "true" : "false", h->processes_reaped,
		h->leaky_processes, h->leaked_buffers, h->leaked_bytes);
}

static void json_devices(const struct smi_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"devices\": [");
	for (size_t i = 0; i < snap->n_devices; i++) {
		const struct tta_device_view *d = &snap->devices[i];
		int64_t total[TTA_MEM_TYPES];
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			total[t] = d->registered && d->capacity[t] <= INT64_MAX
					   ? (int64_t)d->capacity[t] : 0;
		fprintf(out, "%s\n    {\"id\": %" PRIu32 ", \"arch\": ", i ? "," : "", d->id);
		if (d->registered)
			json_string(out, d->arch, sizeof d->arch);
		else
			fprintf(out, "null");
		fprintf(out, ", \"registered\": %s, \"num_cores\": %" PRIu32
			", \"l1_bytes_per_core\": %" PRIu32 ",\n     ",
			d->registered ? "true" : "false", d->num_cores, d->l1_bytes_per_core);
		json_types(out, "used", d->used);
		fprintf(out, ",\n     ");
		json_types(out, "total", total);
		fprintf(out, ",\n     \"buffers\": %" PRId64 ", \"processes\": %" PRIu32 "}",
			d->buffers, d->processes);
	}
	fprintf(out, "%s]", snap->n_devices ? "\n  " : "");
}

static void json_processes(const struct smi_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"processes\": [");
	for (size_t i = 0; i < snap->n_rows; i++) {
		const struct smi_process_row *r = &snap->rows[i];
		fprintf(out, "%s\n    {\"pid\": %" PRId32 ", \"name\": ", i ? "," : "", r->proc.pid);
		json_string(out, r->proc.comm, sizeof r->proc.comm);
		fprintf(out, ", \"cmdline\": ");
		json_string(out, r->proc.cmdline, sizeof r->proc.cmdline);
		fprintf(out, ", \"user\": ");
		if (r->user[0])
			json_string(out, r->user, sizeof r->user);
		else
			fprintf(out, "null");
		fprintf(out, ", \"uid\": %" PRIu32 ",\n     \"slot\": %" PRIu32
			", \"generation\": %" PRIu32 ", \"start_time\": %" PRIu64
			", \"attach_realtime_ns\": %" PRIu64 ", \"running\": %s, \"device\": ",
			r->proc.uid, r->proc.slot, r->proc.generation, r->proc.start_time,
			r->proc.attach_realtime_ns,
			r->running > 0 ? "true" : r->running == 0 ? "false" : "null");
		if (r->device == TTA_NO_DEVICE)
			fprintf(out, "null,\n     ");
		else
			fprintf(out, "%" PRIu32 ",\n     ", r->device);
		json_types(out, "used", r->used);
		fprintf(out, ", \"buffers\": %" PRId64 "}", r->buffers);
	}
	fprintf(out, "%s]", snap->n_rows ? "\n  " : "");
}

static void json_buffers(const struct smi_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"buffers\": [");
	for (size_t i = 0; i < snap->n_buffers; i++) {
		const struct tta_buffer_view *b = &snap->buffers[i];
		fprintf(out, "%s\n    {\"pid\": %" PRId32 ", \"slot\": %" PRIu32
			", \"device\": %" PRIu32 ", \"type\": ",
			i ? "," : "", b->owner_pid, b->owner_slot, b->device);
		if (b->type < TTA_MEM_TYPES)
			fprintf(out, "\"%s\"", type_key(b->type));
		else
			fprintf(out, "null");
		fprintf(out, ", \"type_id\": %" PRIu32, b->type);
		if (b->type == TTA_MEM_KERNEL) {
			const char *kind = tta_kernel_kind_name(b->kernel_kind);
			fprintf(out, ", \"kernel_kind\": ");
			if (kind)
				json_string(out, kind, 64);
			else
				fprintf(out, "%" PRIu32, b->kernel_kind);
		}
		fprintf(out, ", \"address\": %" PRIu64 ", \"address_hex\": \"0x%" PRIx64
			"\", \"size\": %" PRIu64 ", \"age_ns\": %" PRIu64 ", \"record\": %" PRIu32 "}",
			b->address, b->address, b->size, b->age_ns, b->record);
	}
	fprintf(out, "%s]", snap->n_buffers ? "\n  " : "");
}

void smi_render_json(const struct smi_snapshot *snap, const char *version, FILE *out)
{
	fprintf(out, "{\n  \"tool\": {\"name\": \"tt-smi\", \"version\": ");
	json_string(out, version, 64);
	fprintf(out, "},\n  \"timestamp_ns\": %" PRIu64 ",\n", snap->taken_realtime_ns);
	json_segment(snap, out);
	fprintf(out, ",\n");
	json_devices(snap, out);
	fprintf(out, ",\n");
	json_processes(snap, out);
	if (snap->filter.want_buffers) {
		fprintf(out, ",\n");
		json_buffers(snap, out);
	}
	fprintf(out, "\n}\n");
}

/* ------------------------------------------------------------------------ */
/* Leak check                                                                */

static bool any_nonzero(const int64_t *used, int64_t buffers)
{
	if (buffers != 0)
		return true;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		if (used[t] != 0)
			return true;
	return false;
}

static void print_usage_list(FILE *out, const int64_t *used, int64_t buffers)
{
	fprintf(out, "  %" PRId64 " buffer%s", buffers, buffers == 1 ? "" : "s");
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned t = display_order[i];
		char human[32];
		if (used[t] == 0)
			continue;
		fprintf(out, "  %s %s (%" PRId64 " B)", type_key(t),
			smi_human_bytes(used[t], human, sizeof human), used[t]);
	}
	fprintf(out, "\n");
}

/* A device total that no live process row explains is listed too: the
 * device figures are what a user trusts, so a drift there is a leak. */
static bool device_explained(const struct smi_snapshot *snap, const struct tta_device_view *d)
{
	int64_t sum[TTA_MEM_TYPES] = { 0 }, buffers = 0;
	for (size_t i = 0; i < snap->n_rows; i++) {
		if (snap->rows[i].device != d->id)
			continue;
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			sum[t] = (int64_t)((uint64_t)sum[t] + (uint64_t)snap->rows[i].used[t]);
		buffers = (int64_t)((uint64_t)buffers + (uint64_t)snap->rows[i].buffers);
	}
	if (buffers != d->buffers)
		return false;
	return memcmp(sum, d->used, sizeof sum) == 0;
}

size_t smi_render_leaks(const struct smi_snapshot *snap, FILE *out)
{
	char name[64], seg[SEGMENT_NAME_TEXT];
	size_t found = 0;

	clean_text(snap->health.name, sizeof snap->health.name, seg, sizeof seg);
	for (size_t i = 0; i < snap->n_rows; i++) {
		const struct smi_process_row *r = &snap->rows[i];
		if (!any_nonzero(r->used, r->buffers))
			continue;
		if (out && found == 0)
			fprintf(out, "Still allocated on segment %s:\n", seg);
		found++;
		if (!out)
			continue;
		clean_text(r->proc.comm, sizeof r->proc.comm, name, sizeof name);
		fprintf(out, "device %" PRIu32 "  pid %" PRId32 " (%s)", r->device, r->proc.pid,
			name);
		print_usage_list(out, r->used, r->buffers);
	}
	/* With a pid filter the device totals include other processes. */
	for (size_t i = 0; snap->filter.pid == 0 && i < snap->n_devices; i++) {
		const struct tta_device_view *d = &snap->devices[i];
		if (!any_nonzero(d->used, d->buffers) || device_explained(snap, d))
			continue;
		if (out && found == 0)
			fprintf(out, "Still allocated on segment %s:\n", seg);
		found++;
		if (!out)
			continue;
		fprintf(out, "device %" PRIu32 "  totals not matched by live processes:",
			d->id);
		print_usage_list(out, d->used, d->buffers);
	}
	if (out && found == 0)
		fprintf(out, "Nothing allocated on segment %s\n", seg);
	return found;
}
