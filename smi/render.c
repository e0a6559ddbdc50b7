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

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/json.h>
#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

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

/* Untrusted text made safe for the terminal (<tt-alloc/text.h>). */
static size_t clean_text(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	return tta_sanitize_text(src, maxlen, dst, dstlen);
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
	cell(r, tta_format_bytes(bytes, buf, sizeof buf), width, false);
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

static uint64_t counter(const tta_snapshot *snap, const char *name)
{
	int id = tta_counter_find(name);
	return id < 0 ? 0 : tta_snapshot_counter(snap, (unsigned)id);
}

/* The counters the header's "reaped:" line already shows. */
static bool shown_elsewhere(const char *name)
{
	static const char *const reaped_line[] = { "processes_reaped", "leaky_processes",
						   "leaked_buffers", "leaked_bytes",
						   "processes_detached" };
	for (size_t i = 0; i < sizeof reaped_line / sizeof reaped_line[0]; i++)
		if (strcmp(name, reaped_line[i]) == 0)
			return true;
	return false;
}

static void print_header(const tta_snapshot *snap, const char *version, FILE *out)
{
	const struct tta_segment_info *h = tta_snapshot_segment(snap);
	char when[64], name[SEGMENT_NAME_TEXT], leaked[32];
	uint64_t live = counter(snap, "live_processes"), exited = counter(snap, "exited_processes");
	uint64_t reserved = counter(snap, "records_reserved");

	format_time(h->taken_realtime_ns, when, sizeof when);
	if (h->abi_version == 0) {
		fprintf(out, "tt-smi %s | %s | no tt-alloc segment yet: the driver's and TT-Metal's"
			" view only\n", version, when);
		return;
	}
	clean_text(h->name, sizeof h->name, name, sizeof name);
	/* Live means running: an exited process whose slot is not reaped yet is
	 * still counted in the totals, but said apart. */
	uint64_t running = live >= exited ? live - exited : 0;
	fprintf(out, "tt-smi %s | %s | segment %s | ABI %" PRIu32 " | %" PRIu64 " live process%s",
		version, when, name, h->abi_version, running, running == 1 ? "" : "es");
	if (exited)
		fprintf(out, " + %" PRIu64 " exited, not yet reaped", exited);
	fprintf(out, " | reaper: ");
	if (h->reaper_status == TTA_REAPER_NONE)
		fprintf(out, "none\n");
	else if (h->reaper_status == TTA_REAPER_RUNNING)
		fprintf(out, "pid %" PRId32 " running\n", h->reaper_pid);
	else
		fprintf(out, "pid %" PRId32 " NOT RUNNING (%s)\n", h->reaper_pid,
			tta_reaper_status_name(h->reaper_status));

	/* Running out of slots or records is the failure users must see:
	 * it makes the figures partial (see the shortfall counters). */
	fprintf(out, "capacity: %" PRIu32 " device%s, %" PRIu32 " process slot%s (%" PRIu64
		" in use%s), %" PRIu32 " buffer record%s (%" PRIu64 " reserved%s)\n",
		h->device_capacity, h->device_capacity == 1 ? "" : "s", h->slot_capacity,
		h->slot_capacity == 1 ? "" : "s", live, live >= h->slot_capacity ? ", FULL" : "",
		h->record_capacity, h->record_capacity == 1 ? "" : "s", reserved,
		reserved >= h->record_capacity ? ", FULL" : "");
	uint64_t reaped = counter(snap, "processes_reaped");
	uint64_t leaked_bytes = counter(snap, "leaked_bytes");
	uint64_t leaked_buffers = counter(snap, "leaked_buffers");
	/* Reaped: ended without detaching. A process that released its slot
	 * itself (tta_track_detach) is counted apart: it leaked nothing. */
	uint64_t detached = counter(snap, "processes_detached");
	fprintf(out, "reaped: %" PRIu64 " process%s, %" PRIu64 " with leaks (%" PRIu64
		" buffer%s, %s); %" PRIu64 " detached\n",
		reaped, reaped == 1 ? "" : "es", counter(snap, "leaky_processes"), leaked_buffers,
		leaked_buffers == 1 ? "" : "s",
		tta_format_bytes((int64_t)(leaked_bytes > INT64_MAX ? INT64_MAX : leaked_bytes),
				 leaked, sizeof leaked), detached);

	/* Every counter of the table that is not shown above and is not zero:
	 * misuse and shortfalls, named as the table names them. */
	bool any = false;
	for (unsigned i = 0; i < tta_counter_count(); i++) {
		const struct tta_counter_info *c = tta_counter_info(i);
		uint64_t value = tta_snapshot_counter(snap, i);
		if (c->kind != TTA_COUNTER_KIND_COUNTER || value == 0 || shown_elsewhere(c->name))
			continue;
		fprintf(out, "%s%s=%" PRIu64, any ? " " : "WARNING shortfall: ", c->name, value);
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
	W_TYPE = 20, W_ADDRESS = 18, W_AGE = 9, W_TEMP = 6, W_POWER = 5, W_SOURCE = 9,
};

/* Columns the sources add, each only when some device has data for it, so
 * a host without the driver or TT-Metal reads as before. */
struct source_columns {
	bool tt_metal;             /* "TT-Metal": bytes TT-Metal's segments report */
	bool telemetry;            /* "Temp", "Power" beside each device */
};

static struct source_columns source_columns(const tta_snapshot *snap)
{
	struct source_columns c = { false, false };
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, i);
		const tta_telemetry *t = tta_snapshot_device_telemetry(snap, i);
		c.tt_metal |= ds && ds->tt_metal_segments > 0;
		c.telemetry |= tta_telemetry_get(t, TTA_TELEMETRY_TEMPERATURE, NULL, NULL) ||
			       tta_telemetry_get(t, TTA_TELEMETRY_POWER, NULL, NULL);
	}
	return c;
}

static void print_device_header(FILE *out, struct source_columns sc)
{
	struct row r = { out, 0 };
	int widths[12], n = 0;
	cell(&r, "Device", widths[n++] = W_DEVICE, false);
	cell(&r, "Arch", widths[n++] = W_ARCH, true);
	cell(&r, "Procs", widths[n++] = W_PROCS, false);
	cell(&r, "Buffers", widths[n++] = W_COUNT, false);
	cell(&r, "Memory", widths[n++] = W_MEMORY, true);
	cell(&r, "Used", widths[n++] = W_BYTES, false);
	if (sc.tt_metal)
		cell(&r, "TT-Metal", widths[n++] = W_BYTES, false);
	cell(&r, "Total", widths[n++] = W_BYTES, false);
	cell(&r, "Use%", widths[n++] = W_PERCENT, false);
	if (sc.telemetry) {
		cell(&r, "Temp", widths[n++] = W_TEMP, false);
		cell(&r, "Power", widths[n++] = W_POWER, false);
	}
	row_end(&r);
	char dashes[32];
	for (int i = 0; i < n; i++) {
		memset(dashes, '-', (size_t)widths[i]);
		dashes[widths[i]] = '\0';
		cell(&r, dashes, widths[i], true);
	}
	row_end(&r);
}

/* "45.1C" and "60W" from the driver, "-" when not read. */
static void telemetry_cells(const tta_telemetry *t, char *temp, size_t tlen, char *power,
			    size_t plen)
{
	int64_t raw;
	if (tta_telemetry_get(t, TTA_TELEMETRY_TEMPERATURE, &raw, NULL))
		snprintf(temp, tlen, "%.1fC", (double)raw / 1000.0);
	else
		snprintf(temp, tlen, "-");
	if (tta_telemetry_get(t, TTA_TELEMETRY_POWER, &raw, NULL))
		snprintf(power, plen, "%.0fW", (double)raw / 1e6);
	else
		snprintf(power, plen, "-");
}

static void print_device_block(const tta_snapshot *snap, size_t index, struct source_columns sc,
			       FILE *out)
{
	const struct tta_device_view *dev = tta_snapshot_device(snap, index);
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, index);
	const tta_telemetry *tel = tta_snapshot_device_telemetry(snap, index);
	static const int64_t no_tt_metal[TTA_MEM_TYPES];
	const int64_t *ttm = ds ? ds->tt_metal_used : no_tt_metal;
	char arch[64], label[16], total[32], pct[16], temp[16], power[16];
	const char *card;
	unsigned shown = 0;
	struct row r = { out, 0 };

	if (dev->registered)
		clean_text(dev->arch, sizeof dev->arch, arch, sizeof arch);
	else if (tta_telemetry_get(tel, TTA_TELEMETRY_CARD_TYPE, NULL, &card) ||
		 tta_telemetry_get(tel, TTA_TELEMETRY_CHIP, NULL, &card))
		clean_text(card, 64, arch, sizeof arch); /* known to the driver only */
	else
		snprintf(arch, sizeof arch, "(unregistered)");
	if (arch[0] == '\0')
		snprintf(arch, sizeof arch, "?");
	telemetry_cells(tel, temp, sizeof temp, power, sizeof power);

	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned t = display_order[i];
		uint64_t cap = dev->registered ? dev->capacity[t] : 0;
		if (cap == 0 && dev->used[t] == 0 && ttm[t] == 0) {
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
		if (sc.tt_metal)
			cell_bytes(&r, ttm[t], W_BYTES);
		/* Use% of everything known in use, from either source. */
		int64_t in_use = (int64_t)((uint64_t)dev->used[t] + (uint64_t)ttm[t]);
		if (cap) {
			tta_format_bytes(cap > INT64_MAX ? INT64_MAX : (int64_t)cap, total, sizeof total);
			if (in_use >= 0)
				snprintf(pct, sizeof pct, "%.1f%%",
					 (double)in_use * 100.0 / (double)cap);
			else
				snprintf(pct, sizeof pct, "-");
		} else {
			snprintf(total, sizeof total, "-");
			snprintf(pct, sizeof pct, "-");
		}
		cell(&r, total, W_BYTES, false);
		cell(&r, pct, W_PERCENT, false);
		if (sc.telemetry && shown == 0) {
			cell(&r, temp, W_TEMP, false);
			cell(&r, power, W_POWER, false);
		}
		row_end(&r);
		shown++;
	}
}

static bool any_system_use(const tta_snapshot *snap)
{
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++)
		if (tta_snapshot_process(snap, i)->used[TTA_MEM_SYSTEM] != 0)
			return true;
	return false;
}

static const unsigned process_columns[] = {
	TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
	TTA_MEM_SYSTEM, TTA_MEM_CB, TTA_MEM_KERNEL,
};

/* One line of the process table, whatever source it comes from. USED is
 * NULL for a process that reports nothing (memory shown as "-"). */
struct process_line {
	uint32_t device;
	int32_t pid;
	bool exited;
	const char *user, *name;   /* untrusted */
	size_t user_len, name_len;
	const int64_t *used;
	int64_t buffers;           /* -1: none kept (TT-Metal, untracked) */
	const char *source;        /* NULL: no Source column */
};

static void print_process_line(const struct process_line *l, bool with_system, FILE *out)
{
	struct row r = { out, 0 };
	char buf[64], user[64], name[64];
	if (l->device == TTA_NO_DEVICE)
		cell(&r, "-", W_DEVICE, false);
	else
		cell_i64(&r, l->device, W_DEVICE);
	snprintf(buf, sizeof buf, "%" PRId32 "%s", l->pid, l->exited ? "*" : "");
	cell(&r, buf, W_PID, true);
	clean_text(l->user[0] ? l->user : "?", l->user_len, user, sizeof user);
	cell(&r, user, W_USER, true);
	clean_text(l->name, l->name_len, name, sizeof name);
	cell(&r, name[0] ? name : "?", W_NAME, true);
	for (size_t c = 0; c < sizeof process_columns / sizeof process_columns[0]; c++) {
		if (process_columns[c] == TTA_MEM_SYSTEM && !with_system)
			continue;
		if (l->used)
			cell_bytes(&r, l->used[process_columns[c]], W_TYPE_COL);
		else
			cell(&r, "-", W_TYPE_COL, false);
	}
	if (l->buffers >= 0)
		cell_i64(&r, l->buffers, W_COUNT);
	else
		cell(&r, "-", W_COUNT, false);
	if (l->source)
		cell(&r, l->source, W_SOURCE, true);
	row_end(&r);
}

/* tt-alloc's rows, TT-Metal's entries and the processes that hold a device
 * without reporting, merged by device (their own orders are by device). */
static void print_process_table(const tta_snapshot *snap, FILE *out)
{
	/* SYSTEM (host memory) is rare: a column only when someone uses it. */
	bool with_system = any_system_use(snap);
	size_t n_rows = tta_snapshot_process_count(snap);
	size_t n_metal = tta_snapshot_tt_metal_process_count(snap);
	size_t n_untracked = tta_snapshot_untracked_count(snap);
	/* The Source column only when another source shows a process. */
	bool sources = n_metal + n_untracked > 0;
	struct row r = { out, 0 };
	char label[16];
	size_t exited = 0, exited_metal = 0;

	fprintf(out, "Processes:\n");
	if (n_rows + n_metal + n_untracked == 0) {
		if (tta_snapshot_segment(snap)->filter_pid)
			fprintf(out, "  No process with PID %" PRId32 " found\n", tta_snapshot_segment(snap)->filter_pid);
		else
			fprintf(out, "  No running processes found\n");
		return;
	}
	cell(&r, "Device", W_DEVICE, false);
	cell(&r, "PID", W_PID, true);
	cell(&r, "User", W_USER, true);
	cell(&r, "Process name", W_NAME, true);
	for (size_t c = 0; c < sizeof process_columns / sizeof process_columns[0]; c++) {
		if (process_columns[c] == TTA_MEM_SYSTEM && !with_system)
			continue;
		type_label(process_columns[c], label, sizeof label);
		cell(&r, label, W_TYPE_COL, false);
	}
	cell(&r, "Buffers", W_COUNT, false);
	if (sources)
		cell(&r, "Source", W_SOURCE, true);
	row_end(&r);

	size_t i = 0, j = 0, k = 0;
	while (i < n_rows || j < n_metal || k < n_untracked) {
		const struct tta_process_row *row = i < n_rows ? tta_snapshot_process(snap, i) : NULL;
		const struct tta_tt_metal_process *tm =
			j < n_metal ? tta_snapshot_tt_metal_process(snap, j) : NULL;
		const struct tta_untracked_process *un =
			k < n_untracked ? tta_snapshot_untracked(snap, k) : NULL;
		uint32_t next = row ? row->device : UINT32_MAX;
		if (tm && tm->device < next)
			next = tm->device;
		if (un && un->device < next)
			next = un->device;
		struct process_line l = { .device = next, .buffers = -1 };
		if (row && row->device == next) {
			l.pid = row->proc.pid;
			l.exited = row->running == 0;
			l.user = row->user, l.user_len = sizeof row->user;
			l.name = row->proc.comm, l.name_len = sizeof row->proc.comm;
			l.used = row->used;
			l.buffers = row->buffers;
			l.source = sources ? "tt-alloc" : NULL;
			i++;
		} else if (tm && tm->device == next) {
			l.pid = tm->pid;
			l.exited = !tm->running;
			l.user = tm->user, l.user_len = sizeof tm->user;
			l.name = tm->name, l.name_len = sizeof tm->name;
			l.used = tm->used;
			l.source = "tt-metal";
			exited_metal += l.exited;
			j++;
		} else {
			l.pid = un->pid;
			l.user = un->user, l.user_len = sizeof un->user;
			/* pid 0: the driver cannot name a process of another pid namespace */
			l.name = un->pid == 0 ? "(other pidns)" : un->name;
			l.name_len = sizeof un->name;
			l.source = "untracked";
			k++;
		}
		exited += l.exited;
		print_process_line(&l, with_system, out);
	}
	if (exited > exited_metal)
		fprintf(out, "* exited; its memory stays counted until the reaper (or the next"
			" process to attach) reclaims its slot\n");
	if (exited_metal)
		fprintf(out, "* exited (tt-metal); TT-Metal keeps counting its memory until another"
			" TT-Metal process opens the device\n");
}

void smi_render_text(const tta_snapshot *snap, const char *version, FILE *out)
{
	print_header(snap, version, out);
	fprintf(out, "\n");
	if (tta_snapshot_device_count(snap) == 0) {
		if (tta_snapshot_segment(snap)->filter_device >= 0)
			fprintf(out, "Device %" PRId32 " is not registered and not in use\n",
				tta_snapshot_segment(snap)->filter_device);
		else
			fprintf(out, "No device registered or in use\n");
	} else {
		struct source_columns sc = source_columns(snap);
		print_device_header(out, sc);
		for (size_t i = 0; i < tta_snapshot_device_count(snap); i++)
			print_device_block(snap, i, sc, out);
		if (tta_snapshot_segment(snap)->filter_pid)
			fprintf(out, "Device totals cover every process; --pid %" PRId32
				" filters the process table only.\n",
				tta_snapshot_segment(snap)->filter_pid);
	}
	fprintf(out, "\n");
	print_process_table(snap, out);
	smi_render_source_notes(snap, out);
}

void smi_render_buffers_text(const tta_snapshot *snap, const char *version,
			     FILE *out)
{
	print_header(snap, version, out);
	fprintf(out, "\n");
	smi_render_buffer_table(snap, out);
}

void smi_render_buffer_table(const tta_snapshot *snap, FILE *out)
{
	struct row r = { out, 0 };
	char buf[64], type[48];

	if (tta_snapshot_buffer_count(snap) == 0) {
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
	for (size_t i = 0; i < tta_snapshot_buffer_count(snap); i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(snap, i);
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
	/* One definition of a buffer everywhere: kernel binaries (no free
	 * event) are listed, but counted apart. */
	size_t kernels = 0, n = tta_snapshot_buffer_count(snap);
	for (size_t i = 0; i < n; i++)
		kernels += tta_snapshot_buffer(snap, i)->type == TTA_MEM_KERNEL;
	fprintf(out, "%zu buffer%s", n - kernels, n - kernels == 1 ? "" : "s");
	if (kernels)
		fprintf(out, ", %zu kernel binar%s", kernels, kernels == 1 ? "y" : "ies");
	fputc('\n', out);
}

/* ------------------------------------------------------------------------ */
/* JSON: the library's one writer (<tt-alloc/json.h>), shared with the exporter. */

void smi_render_json(const tta_snapshot *snap, const char *version, FILE *out)
{
	tta_snapshot_write_json(snap, "tt-smi", version, out);
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
			tta_format_bytes(used[t], human, sizeof human), used[t]);
	}
	fprintf(out, "\n");
}

/* A device total that no live process row explains is listed too: the
 * device figures are what a user trusts, so a drift there is a leak. */
static bool device_explained(const tta_snapshot *snap, const struct tta_device_view *d)
{
	int64_t sum[TTA_MEM_TYPES] = { 0 }, buffers = 0;
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		if (tta_snapshot_process(snap, i)->device != d->id)
			continue;
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			sum[t] = (int64_t)((uint64_t)sum[t] + (uint64_t)tta_snapshot_process(snap, i)->used[t]);
		buffers = (int64_t)((uint64_t)buffers + (uint64_t)tta_snapshot_process(snap, i)->buffers);
	}
	if (buffers != d->buffers)
		return false;
	return memcmp(sum, d->used, sizeof sum) == 0;
}

size_t smi_render_leaks(const tta_snapshot *snap, FILE *out)
{
	char name[64], seg[SEGMENT_NAME_TEXT];
	size_t found = 0;

	clean_text(tta_snapshot_segment(snap)->name, sizeof tta_snapshot_segment(snap)->name, seg, sizeof seg);
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
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
	for (size_t i = 0; tta_snapshot_segment(snap)->filter_pid == 0 && i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
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
