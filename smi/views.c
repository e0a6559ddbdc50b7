/*
 * views.c - tt-smi's main view and process view. Contract in views.h.
 *
 * Column drop orders (first to go first; never dropped: the rest):
 *   main view, devices:   bar, peak, use%, total, TT-Metal
 *   main view, processes: SYSTEM, KERNEL, CB, TRACE, L1_SMALL, buffers, user,
 *                         source
 *   process view:         SYSTEM, KERNEL, CB, TRACE, L1_SMALL (each with its
 *                         peak), buffers, user, source
 * (the README's "Narrow terminals" table says the same). The TT-Metal and
 * Source columns exist only when the sources (<tt-alloc/sources.h>) have
 * data for them, so a host without the driver or TT-Metal reads as before;
 * temperature and power are items of each device's line, which wraps
 * between items rather than dropping any.
 */
#include "views.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

#include "render.h"

/* Memory types in the order a user scans them, grouped by pool. */
static const unsigned display_order[TTA_MEM_TYPES] = {
	TTA_MEM_DRAM, TTA_MEM_TRACE, TTA_MEM_L1, TTA_MEM_L1_SMALL,
	TTA_MEM_CB, TTA_MEM_KERNEL, TTA_MEM_SYSTEM,
};

/* A cleaned name: 255 bytes at most, each kept or turned into '?'. */
#define NAME_TEXT 320
#define BAR_CELLS 20

bool smi_select_has(const struct smi_select *sel, uint32_t id)
{
	if (!sel || sel->count == 0)
		return true;
	size_t lo = 0, hi = sel->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sel->ids[mid] == id)
			return true;
		if (sel->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const struct tta_device_view *smi_find_device(const tta_snapshot *snap, uint32_t id)
{
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++)
		if (tta_snapshot_device(snap, i)->id == id)
			return tta_snapshot_device(snap, i);
	return NULL;
}

bool smi_pool_peak(const struct smi_view *v, const struct tta_device_view *d, unsigned pool,
		   int64_t *peak)
{
	int64_t from_history;
	if (!smi_history_pool_peak(v->history, d->id, pool, &from_history))
		return false;
	int64_t now = tta_mem_pool_used(d->used, pool);
	*peak = from_history > now ? from_history : now;
	return true;
}

/* Upper-case label of memory type T ("L1_SMALL"), or of a pool. */
static void upper(const char *name, char *buf, size_t len)
{
	size_t i = 0;
	for (; name && name[i] && i + 1 < len; i++)
		buf[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
	buf[i] = '\0';
}

static const char *bytes(int64_t value, char *buf, size_t len)
{
	return tta_format_bytes(value, buf, len);
}

static int64_t clamp_u64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* "10m", "60s": the window of the peaks. */
static void window_label(uint32_t seconds, char *buf, size_t len)
{
	if (seconds % 3600 == 0 && seconds)
		snprintf(buf, len, "%" PRIu32 "h", seconds / 3600);
	else if (seconds % 60 == 0 && seconds)
		snprintf(buf, len, "%" PRIu32 "m", seconds / 60);
	else
		snprintf(buf, len, "%" PRIu32 "s", seconds);
}

void smi_view_header(const struct smi_view *v, FILE *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m)
		return;
	smi_render_header(v->snap, v->version, m);
	fclose(m);
	smi_print_wrapped(out, v->width, text);
	free(text);
}

void smi_view_title(const struct smi_view *v, const char *what, FILE *out)
{
	const struct tta_segment_info *h = tta_snapshot_segment(v->snap);
	char when[32], name[NAME_TEXT], *line = NULL;
	time_t secs = (time_t)(h->taken_realtime_ns / 1000000000u);
	struct tm tm;
	if (!localtime_r(&secs, &tm) || !strftime(when, sizeof when, "%H:%M:%S", &tm))
		snprintf(when, sizeof when, "?");
	tta_sanitize_text(h->name, sizeof h->name, name, sizeof name);
	if (h->abi_version == 0 ? asprintf(&line, "%s | no tt-alloc segment yet | %s", when, what) < 0
				: asprintf(&line, "%s | segment %s | %s", when, name, what) < 0)
		return;
	smi_print_wrapped(out, v->width, line);
	free(line);
}

/* ------------------------------------------------------------------------ */
/* Main view: devices                                                        */

/* Drop turns of the device table (first to go first). */
enum { DROP_BAR = 1, DROP_PEAK = 2, DROP_USE = 3, DROP_TOTAL = 4, DROP_TT_METAL = 5 };

/* What TT-Metal's own segments report for device INDEX (beside tt-alloc's
 * used[], never in it), or NULL when no segment of TT-Metal matched it. */
static const int64_t *tt_metal_used(const tta_snapshot *snap, size_t index)
{
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, index);
	return ds && ds->tt_metal_segments ? ds->tt_metal_used : NULL;
}

/* The TT-Metal column: only when a device shown has a segment of TT-Metal. */
static bool any_tt_metal(const struct smi_view *v)
{
	for (size_t i = 0; i < tta_snapshot_device_count(v->snap); i++)
		if (smi_select_has(v->select, tta_snapshot_device(v->snap, i)->id) &&
		    tt_metal_used(v->snap, i))
			return true;
	return false;
}

/* "Device 0  Wormhole_B0  45.1C  60W  2 processes  1782 buffers": the
 * driver's temperature and power beside the device, as nvidia-smi and the
 * old monitor show them, when the driver publishes them. A device only the
 * driver knows is named by its card type. */
static void device_line(struct smi_table *t, const tta_snapshot *snap, size_t index)
{
	const struct tta_device_view *d = tta_snapshot_device(snap, index);
	const tta_telemetry *tel = tta_snapshot_device_telemetry(snap, index);
	char arch[64], readings[64] = "", *items = NULL;
	const char *card;
	int64_t raw;
	if (d->registered)
		tta_sanitize_text(d->arch, sizeof d->arch, arch, sizeof arch);
	else if (tta_telemetry_get(tel, TTA_TELEMETRY_CARD_TYPE, NULL, &card) ||
		 tta_telemetry_get(tel, TTA_TELEMETRY_CHIP, NULL, &card))
		tta_sanitize_text(card, 64, arch, sizeof arch);
	else
		snprintf(arch, sizeof arch, "(unregistered)");
	if (arch[0] == '\0')
		snprintf(arch, sizeof arch, "?");
	size_t used = 0;
	if (tta_telemetry_get(tel, TTA_TELEMETRY_TEMPERATURE, &raw, NULL))
		used += (size_t)snprintf(readings + used, sizeof readings - used, "\t%.1fC",
					 (double)raw / 1000.0);
	if (tta_telemetry_get(tel, TTA_TELEMETRY_POWER, &raw, NULL) && used < sizeof readings)
		snprintf(readings + used, sizeof readings - used, "\t%.0fW", (double)raw / 1e6);
	if (asprintf(&items, "Device %" PRIu32 "\t%s%s\t%" PRIu32 " process%s\t%" PRId64 " buffer%s",
		     d->id, arch, readings, d->processes, d->processes == 1 ? "" : "es", d->buffers,
		     d->buffers == 1 ? "" : "s") < 0)
		return;
	smi_table_text(t, 0, items);
	free(items);
}

/* One pool of a device: tt-alloc's use (Used), TT-Metal's beside it (TTM,
 * NULL when no segment of TT-Metal matched the device; the column only
 * when WITH_TT_METAL), and Use% and the bar of both together: what the
 * device really holds. The peak is tt-alloc's, from the segment's history. */
static void pool_line(struct smi_table *t, const struct smi_view *v,
		      const struct tta_device_view *d, const int64_t *ttm, bool with_tt_metal,
		      unsigned pool)
{
	char label[16], used[32];
	int64_t in_use = tta_mem_pool_used(d->used, pool);
	int64_t metal = ttm ? tta_mem_pool_used(ttm, pool) : 0;
	int64_t combined = (int64_t)((uint64_t)in_use + (uint64_t)metal);
	uint64_t cap = d->registered ? tta_mem_pool_capacity(d->capacity, pool) : 0;
	int64_t high;

	upper(tta_mem_pool_name(pool), label, sizeof label);
	smi_table_cell(t, "%s", "");
	smi_table_cell(t, "%s", label);
	smi_table_cell(t, "%s", bytes(in_use, used, sizeof used));
	if (with_tt_metal) {
		char human[32];
		smi_table_cell(t, "%s", ttm ? bytes(metal, human, sizeof human) : "-");
	}
	if (cap) {
		char total[32];
		smi_table_cell(t, "%s", bytes(clamp_u64(cap), total, sizeof total));
		if (combined >= 0)
			smi_table_cell(t, "%.1f%%", (double)combined * 100.0 / (double)cap);
		else
			smi_table_cell(t, "-");
	} else {
		smi_table_cell(t, "-");
		smi_table_cell(t, "-");
	}
	if (smi_pool_peak(v, d, pool, &high)) {
		char peak[32];
		smi_table_cell(t, "%s", bytes(high, peak, sizeof peak));
	} else {
		smi_table_cell(t, "-");
	}
	if (cap) {
		char *bar = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&bar, &len);
		if (m) {
			smi_bar(m, combined > 0 ? (double)combined / (double)cap : 0, BAR_CELLS,
				v->utf8);
			fclose(m);
			smi_table_cell(t, "%s", bar);
			free(bar);
		}
	}
	smi_table_end_row(t);
}

/* The types of POOL with their use (USED), under the pool's line (none for
 * a pool nothing uses: a row saved). LABEL, when not NULL, names the source
 * ("tt-alloc:", "tt-metal:"); TT-Metal counts neither kernel binaries nor
 * host memory, so TT_METAL leaves those types out. KERNEL is marked '~': a
 * cumulative estimate. Returns whether a kernel figure was shown. */
static bool breakdown_line(struct smi_table *t, const int64_t *used, unsigned pool,
			   const char *label, bool tt_metal)
{
	char *items = NULL, human[32];
	size_t len = 0;
	bool kernel = false, any = false;
	for (unsigned type = 0; type < TTA_MEM_TYPES; type++)
		any |= tta_mem_type_pool(type) == (int)pool && used[type] != 0;
	if (!any)
		return false;
	FILE *m = open_memstream(&items, &len);
	if (!m)
		return false;
	unsigned parts = 0;
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned type = display_order[i];
		if (tta_mem_type_pool(type) != (int)pool ||
		    (tt_metal && (type == TTA_MEM_KERNEL || type == TTA_MEM_SYSTEM)))
			continue;
		fprintf(m, "%s%s%s%s %s%s", parts ? "\t" : "", parts == 0 && label ? label : "",
			parts == 0 && label ? " " : "", tta_mem_type_name(type),
			type == TTA_MEM_KERNEL ? "~" : "", bytes(used[type], human, sizeof human));
		kernel |= type == TTA_MEM_KERNEL;
		parts++;
	}
	fclose(m);
	/* One type alone is the pool's line itself, unless a label says whose. */
	if (parts > 1 || (parts == 1 && label))
		smi_table_text(t, 4, items);
	free(items);
	return kernel;
}

static void print_devices(const struct smi_view *v, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	char peak_header[32], window[16];
	bool with_tt_metal = any_tt_metal(v);
	struct smi_column cols[8];
	size_t n = 0;
	window_label(smi_history_available(v->history) ? smi_history_seconds(v->history)
						       : SMI_PEAK_SECONDS,
		     window, sizeof window);
	snprintf(peak_header, sizeof peak_header, "Peak %s", window);
	cols[n++] = (struct smi_column){ "", 0, true }; /* indent under the device line */
	cols[n++] = (struct smi_column){ "Memory", 0, true };
	cols[n++] = (struct smi_column){ "Used", 0, false };
	if (with_tt_metal)
		cols[n++] = (struct smi_column){ "TT-Metal", DROP_TT_METAL, false };
	cols[n++] = (struct smi_column){ "Total", DROP_TOTAL, false };
	cols[n++] = (struct smi_column){ "Use%", DROP_USE, false };
	cols[n++] = (struct smi_column){ peak_header, DROP_PEAK, false };
	cols[n++] = (struct smi_column){ "", DROP_BAR, true };

	struct smi_table *t = smi_table_new(cols, n);
	size_t shown = 0;
	bool kernel = false;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		const int64_t *ttm = tt_metal_used(snap, i);
		if (!smi_select_has(v->select, d->id))
			continue;
		device_line(t, snap, i);
		for (unsigned pool = 0; pool < TTA_MEM_POOLS; pool++) {
			/* Host memory is rare: a line only when in use. */
			if (pool == TTA_POOL_SYSTEM && tta_mem_pool_used(d->used, pool) == 0)
				continue;
			pool_line(t, v, d, ttm, with_tt_metal, pool);
			/* With both sources on the device, each line says whose. */
			kernel |= breakdown_line(t, d->used, pool, ttm ? "tt-alloc:" : NULL, false) &&
				  d->used[TTA_MEM_KERNEL] != 0;
			if (ttm)
				breakdown_line(t, ttm, pool, "tt-metal:", true);
		}
		shown++;
	}
	if (shown == 0) {
		if (tta_snapshot_segment(snap)->filter_device >= 0)
			fprintf(out, "Device %" PRId32 " is not registered and not in use\n",
				tta_snapshot_segment(snap)->filter_device);
		else
			fprintf(out, "No device registered or in use\n");
	} else {
		smi_table_print(t, v->width, true, out);
		if (kernel)
			smi_print_wrapped(out, v->width,
					  "~ kernel binaries: cumulative estimate (no eviction event)");
		if (tta_snapshot_segment(snap)->filter_pid) {
			char *line = NULL;
			if (asprintf(&line, "Device totals cover every process; --pid %" PRId32
				     " filters the process table only.",
				     tta_snapshot_segment(snap)->filter_pid) >= 0)
				smi_print_wrapped(out, v->width, line);
			free(line);
		}
	}
	smi_table_free(t);
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

/* Drop turn of each type's column(s); DRAM and L1 stay. */
static unsigned type_drop(unsigned type)
{
	switch (type) {
	case TTA_MEM_SYSTEM: return 1;
	case TTA_MEM_KERNEL: return 2;
	case TTA_MEM_CB: return 3;
	case TTA_MEM_TRACE: return 4;
	case TTA_MEM_L1_SMALL: return 5;
	default: return 0;
	}
}
enum { DROP_BUFFERS = 6, DROP_USER = 7, DROP_SOURCE = 8 };

static bool any_system_use(const tta_snapshot *snap)
{
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++)
		if (tta_snapshot_process(snap, i)->used[TTA_MEM_SYSTEM] != 0)
			return true;
	return false;
}

/* One line of the process tables, whatever source it comes from: a
 * tt-alloc row, a TT-Metal entry, or a process that holds a device without
 * reporting (<tt-alloc/sources.h>). */
struct process_line {
	uint32_t device;
	int32_t pid;
	bool exited;
	const char *user, *name;   /* untrusted */
	size_t user_len, name_len;
	const int64_t *used;       /* NULL: reports nothing (memory "-") */
	const int64_t *peak;       /* NULL: none kept (TT-Metal, untracked) */
	int64_t buffers;           /* -1: none kept (TT-Metal, untracked) */
	const char *source;
	bool tt_metal;             /* from TT-Metal's segments */
};

/* The merge of the snapshot's three process lists, each sorted by device:
 * tt-alloc's rows first on a device, then TT-Metal's, then the untracked. */
struct process_cursor {
	const tta_snapshot *snap;
	size_t row, metal, untracked;
};

static bool next_process(struct process_cursor *c, struct process_line *l)
{
	const tta_snapshot *snap = c->snap;
	const struct tta_process_row *row = c->row < tta_snapshot_process_count(snap)
						    ? tta_snapshot_process(snap, c->row) : NULL;
	const struct tta_tt_metal_process *tm =
		c->metal < tta_snapshot_tt_metal_process_count(snap)
			? tta_snapshot_tt_metal_process(snap, c->metal) : NULL;
	const struct tta_untracked_process *un =
		c->untracked < tta_snapshot_untracked_count(snap)
			? tta_snapshot_untracked(snap, c->untracked) : NULL;
	if (!row && !tm && !un)
		return false;
	uint32_t next = row ? row->device : UINT32_MAX;
	if (tm && tm->device < next)
		next = tm->device;
	if (un && un->device < next)
		next = un->device;
	memset(l, 0, sizeof *l);
	l->device = next;
	l->buffers = -1;
	if (row && row->device == next) {
		l->pid = row->proc.pid;
		l->exited = row->running == 0;
		l->user = row->user[0] ? row->user : "?";
		l->user_len = sizeof row->user;
		l->name = row->proc.comm;
		l->name_len = sizeof row->proc.comm;
		l->used = row->used;
		l->peak = row->peak;
		l->buffers = row->buffers;
		l->source = "tt-alloc";
		c->row++;
	} else if (tm && tm->device == next) {
		l->pid = tm->pid;
		l->exited = !tm->running;
		l->user = tm->have_uid && tm->user[0] ? tm->user : "?";
		l->user_len = sizeof tm->user;
		l->name = tm->name;
		l->name_len = sizeof tm->name;
		l->used = tm->used;
		l->source = "tt-metal";
		l->tt_metal = true;
		c->metal++;
	} else {
		l->pid = un->pid;
		l->user = un->have_uid && un->user[0] ? un->user : "?";
		l->user_len = sizeof un->user;
		/* pid 0: the driver cannot name a process of another pid namespace */
		l->name = un->pid == 0 ? "(other pidns)" : un->name;
		l->name_len = un->pid == 0 ? sizeof "(other pidns)" : sizeof un->name;
		l->source = "untracked";
		c->untracked++;
	}
	return true;
}

/* With -i, the rows of the devices chosen, as with one device (the
 * snapshot's filter): a row on no device (a TT-Metal segment matching no
 * device, a process that has reported on none yet) is on none of them. */
static bool line_selected(const struct smi_view *v, const struct process_line *l)
{
	if (l->device == TTA_NO_DEVICE)
		return v->select == NULL || v->select->count == 0;
	return smi_select_has(v->select, l->device);
}

/* The Source column: only when a process of another source than tt-alloc
 * is shown. */
static bool any_other_source(const struct smi_view *v)
{
	struct process_cursor c = { .snap = v->snap };
	struct process_line l;
	while (next_process(&c, &l))
		if (line_selected(v, &l) && strcmp(l.source, "tt-alloc") != 0)
			return true;
	return false;
}

/* The process table of view 1 (PEAKS false) or view 3 (PEAKS true). */
static void print_processes(const struct smi_view *v, bool peaks, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	/* SYSTEM (host memory) is rare: a column only when someone uses it. */
	bool with_system = any_system_use(snap);
	bool with_source = any_other_source(v);
	struct smi_column cols[7 + 2 * TTA_MEM_TYPES];
	char labels[TTA_MEM_TYPES][16];
	unsigned types[TTA_MEM_TYPES], ntypes = 0;
	size_t n = 0, exited = 0, exited_metal = 0, rows = 0;

	/* On a screen (a height to keep to) the column header says it. */
	if (peaks || v->height == 0)
		smi_print_wrapped(out, v->width,
				  peaks ? "Processes (current use, and peak since the process attached):"
					: "Processes:");
	cols[n++] = (struct smi_column){ "Device", 0, false };
	cols[n++] = (struct smi_column){ "PID", 0, true };
	cols[n++] = (struct smi_column){ "User", DROP_USER, true };
	cols[n++] = (struct smi_column){ "Process name", 0, true };
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned type = display_order[i];
		if (type == TTA_MEM_SYSTEM && !with_system)
			continue;
		types[ntypes] = type;
		upper(tta_mem_type_name(type), labels[ntypes], sizeof labels[ntypes]);
		cols[n++] = (struct smi_column){ labels[ntypes], type_drop(type), false };
		if (peaks)
			cols[n++] = (struct smi_column){ "peak", type_drop(type), false };
		ntypes++;
	}
	cols[n++] = (struct smi_column){ "Buffers", DROP_BUFFERS, false };
	if (with_source)
		cols[n++] = (struct smi_column){ "Source", DROP_SOURCE, true };

	struct smi_table *t = smi_table_new(cols, n);
	struct process_cursor cursor = { .snap = snap };
	struct process_line l;
	while (next_process(&cursor, &l)) {
		char user[64], name[80], human[32];
		if (!line_selected(v, &l))
			continue;
		if (l.device == TTA_NO_DEVICE)
			smi_table_cell(t, "-");
		else
			smi_table_cell(t, "%" PRIu32, l.device);
		smi_table_cell(t, "%" PRId32 "%s", l.pid, l.exited ? "*" : "");
		exited += l.exited;
		exited_metal += l.exited && l.tt_metal;
		tta_sanitize_text(l.user, l.user_len, user, sizeof user);
		smi_table_cell(t, "%s", user);
		tta_sanitize_text(l.name, l.name_len, name, sizeof name);
		smi_table_cell(t, "%s", name[0] ? name : "?");
		for (unsigned k = 0; k < ntypes; k++) {
			/* TT-Metal counts neither kernel binaries nor host memory. */
			bool counted = l.used && !(l.tt_metal && (types[k] == TTA_MEM_KERNEL ||
								  types[k] == TTA_MEM_SYSTEM));
			smi_table_cell(t, "%s", counted ? bytes(l.used[types[k]], human, sizeof human)
							: "-");
			if (peaks)
				smi_table_cell(t, "%s", l.peak ? bytes(l.peak[types[k]], human,
								       sizeof human)
							       : "-");
		}
		if (l.buffers >= 0)
			smi_table_cell(t, "%" PRId64, l.buffers);
		else
			smi_table_cell(t, "-");
		if (with_source)
			smi_table_cell(t, "%s", l.source);
		smi_table_end_row(t);
		rows++;
	}
	if (rows == 0) {
		if (tta_snapshot_segment(snap)->filter_pid)
			fprintf(out, "  No process with PID %" PRId32 " found\n",
				tta_snapshot_segment(snap)->filter_pid);
		else
			fprintf(out, "  No running processes found\n");
	} else {
		smi_table_print(t, v->width, true, out);
	}
	smi_table_free(t);
	if (exited > exited_metal)
		smi_print_wrapped(out, v->width,
				  "* exited; its memory stays counted until the reaper (or the next"
				  " process to attach) reclaims its slot");
	if (exited_metal)
		smi_print_wrapped(out, v->width,
				  "* exited (tt-metal); TT-Metal keeps counting its memory until"
				  " another TT-Metal process opens the device");
	/* TT-Metal segments skipped, or matching no device: said under the
	 * table their processes would be in. */
	smi_print_source_notes(snap, v->width, false, out);
}

void smi_view_main(const struct smi_view *v, FILE *out)
{
	smi_view_header(v, out);
	/* On a screen every row counts: the devices follow the header. */
	if (v->height == 0)
		fputc('\n', out);
	print_devices(v, out);
	fputc('\n', out);
	print_processes(v, false, out);
}

void smi_view_processes(const struct smi_view *v, FILE *out)
{
	smi_view_title(v, "processes", out);
	fputc('\n', out);
	print_processes(v, true, out);
}
