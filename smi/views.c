/*
 * views.c - tt-smi's main view and process view. Contract in views.h.
 *
 * Column drop orders (first to go first; never dropped: the rest):
 *   main view, devices:   bar, peak, use%, total
 *   main view, processes: SYSTEM, KERNEL, CB, TRACE, L1_SMALL, buffers, user
 *   process view:         SYSTEM, KERNEL, CB, TRACE, L1_SMALL (each with its
 *                         peak), buffers, user
 */
#include "views.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (asprintf(&line, "%s | segment %s | %s", when, name, what) < 0)
		return;
	smi_print_wrapped(out, v->width, line);
	free(line);
}

/* ------------------------------------------------------------------------ */
/* Main view: devices                                                        */

static const struct smi_column device_columns[] = {
	{ "", 0, true },        /* indent under the device line */
	{ "Memory", 0, true },
	{ "Used", 0, false },
	{ "Total", 4, false },
	{ "Use%", 3, false },
	{ "Peak", 2, false },   /* header replaced by "Peak <window>" */
	{ "", 1, true },        /* bar */
};

static void device_line(struct smi_table *t, const struct tta_device_view *d)
{
	char arch[64], *items = NULL;
	if (d->registered)
		tta_sanitize_text(d->arch, sizeof d->arch, arch, sizeof arch);
	else
		snprintf(arch, sizeof arch, "(unregistered)");
	if (arch[0] == '\0')
		snprintf(arch, sizeof arch, "?");
	if (asprintf(&items, "Device %" PRIu32 "\t%s\t%" PRIu32 " process%s\t%" PRId64 " buffer%s",
		     d->id, arch, d->processes, d->processes == 1 ? "" : "es", d->buffers,
		     d->buffers == 1 ? "" : "s") < 0)
		return;
	smi_table_text(t, 0, items);
	free(items);
}

static void pool_line(struct smi_table *t, const struct smi_view *v,
		      const struct tta_device_view *d, unsigned pool)
{
	char label[16], used[32];
	int64_t in_use = tta_mem_pool_used(d->used, pool);
	uint64_t cap = d->registered ? tta_mem_pool_capacity(d->capacity, pool) : 0;
	int64_t high;

	upper(tta_mem_pool_name(pool), label, sizeof label);
	smi_table_cell(t, "%s", "");
	smi_table_cell(t, "%s", label);
	smi_table_cell(t, "%s", bytes(in_use, used, sizeof used));
	if (cap) {
		char total[32];
		smi_table_cell(t, "%s", bytes(clamp_u64(cap), total, sizeof total));
		if (in_use >= 0)
			smi_table_cell(t, "%.1f%%", (double)in_use * 100.0 / (double)cap);
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
			smi_bar(m, in_use > 0 ? (double)in_use / (double)cap : 0, BAR_CELLS, v->utf8);
			fclose(m);
			smi_table_cell(t, "%s", bar);
			free(bar);
		}
	}
	smi_table_end_row(t);
}

/* The types of POOL with their use, under the pool's line (none for a pool
 * nothing uses: a row saved). KERNEL is marked '~': a cumulative estimate.
 * Returns whether a kernel figure was shown. */
static bool breakdown_line(struct smi_table *t, const struct tta_device_view *d, unsigned pool)
{
	char *items = NULL, human[32];
	size_t len = 0;
	bool kernel = false, any = false;
	for (unsigned type = 0; type < TTA_MEM_TYPES; type++)
		any |= tta_mem_type_pool(type) == (int)pool && d->used[type] != 0;
	if (!any)
		return false;
	FILE *m = open_memstream(&items, &len);
	if (!m)
		return false;
	unsigned parts = 0;
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		unsigned type = display_order[i];
		if (tta_mem_type_pool(type) != (int)pool)
			continue;
		fprintf(m, "%s%s %s%s", parts ? "\t" : "", tta_mem_type_name(type),
			type == TTA_MEM_KERNEL ? "~" : "", bytes(d->used[type], human, sizeof human));
		kernel |= type == TTA_MEM_KERNEL;
		parts++;
	}
	fclose(m);
	if (parts > 1)
		smi_table_text(t, 4, items);
	free(items);
	return kernel;
}

static void print_devices(const struct smi_view *v, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	char peak_header[32], window[16];
	struct smi_column cols[sizeof device_columns / sizeof device_columns[0]];
	memcpy(cols, device_columns, sizeof cols);
	window_label(smi_history_available(v->history) ? smi_history_seconds(v->history)
						       : SMI_PEAK_SECONDS,
		     window, sizeof window);
	snprintf(peak_header, sizeof peak_header, "Peak %s", window);
	cols[5].header = peak_header;

	struct smi_table *t = smi_table_new(cols, sizeof cols / sizeof cols[0]);
	size_t shown = 0;
	bool kernel = false;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		if (!smi_select_has(v->select, d->id))
			continue;
		device_line(t, d);
		for (unsigned pool = 0; pool < TTA_MEM_POOLS; pool++) {
			/* Host memory is rare: a line only when in use. */
			if (pool == TTA_POOL_SYSTEM && tta_mem_pool_used(d->used, pool) == 0)
				continue;
			pool_line(t, v, d, pool);
			kernel |= breakdown_line(t, d, pool) && d->used[TTA_MEM_KERNEL] != 0;
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
enum { DROP_BUFFERS = 6, DROP_USER = 7 };

static bool any_system_use(const tta_snapshot *snap)
{
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++)
		if (tta_snapshot_process(snap, i)->used[TTA_MEM_SYSTEM] != 0)
			return true;
	return false;
}

/* The process table of view 1 (PEAKS false) or view 3 (PEAKS true). */
static void print_processes(const struct smi_view *v, bool peaks, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	/* SYSTEM (host memory) is rare: a column only when someone uses it. */
	bool with_system = any_system_use(snap);
	struct smi_column cols[6 + 2 * TTA_MEM_TYPES];
	char labels[TTA_MEM_TYPES][16];
	unsigned types[TTA_MEM_TYPES], ntypes = 0;
	size_t n = 0, exited = 0, rows = 0;

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

	struct smi_table *t = smi_table_new(cols, n);
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		const struct tta_process_row *row = tta_snapshot_process(snap, i);
		char user[64], name[64], human[32];
		if (row->device != TTA_NO_DEVICE && !smi_select_has(v->select, row->device))
			continue;
		if (row->device == TTA_NO_DEVICE)
			smi_table_cell(t, "-");
		else
			smi_table_cell(t, "%" PRIu32, row->device);
		smi_table_cell(t, "%" PRId32 "%s", row->proc.pid, row->running == 0 ? "*" : "");
		exited += row->running == 0;
		tta_sanitize_text(row->user[0] ? row->user : "?", sizeof row->user, user, sizeof user);
		smi_table_cell(t, "%s", user);
		tta_sanitize_text(row->proc.comm, sizeof row->proc.comm, name, sizeof name);
		smi_table_cell(t, "%s", name[0] ? name : "?");
		for (unsigned k = 0; k < ntypes; k++) {
			smi_table_cell(t, "%s", bytes(row->used[types[k]], human, sizeof human));
			if (peaks)
				smi_table_cell(t, "%s", bytes(row->peak[types[k]], human, sizeof human));
		}
		smi_table_cell(t, "%" PRId64, row->buffers);
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
	if (exited)
		smi_print_wrapped(out, v->width,
				  "* exited; its memory stays counted until the reaper (or the next"
				  " process to attach) reclaims its slot");
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
