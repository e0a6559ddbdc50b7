/*
 * chart.c - view 2: per device, DRAM and L1 in use (memory the way the
 * hardware holds it) over the last SMI_CHART_SECONDS, one column a second,
 * drawn from the history the segment keeps, so the charts are full the
 * moment the view opens. Contract in views.h.
 *
 * Drawing: each column is one second (or, on a terminal narrower than the
 * window, the highest value of the seconds it covers: a spike never
 * vanishes). Heights are eighths of a cell in Unicode lower blocks; without
 * a UTF-8 locale, '#' (full), '=' (over half) and '_' (under half). The
 * scale runs from 0 to the highest value in the window rounded up to a round
 * figure of its unit (8.2GiB -> 10GiB, 90MiB -> 100MiB), printed at the top
 * left, so a steady load reads as a level below the top, not a full block;
 * a second the history does not know (before the segment existed, or a
 * torn sample) shows a dot on the baseline.
 */
#include "views.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <tt-alloc/text.h>

#define LABEL_WIDTH 12 /* "DRAM  1.0GiB" */
#define MAX_ROWS 8     /* per chart: more says nothing new */

static const unsigned chart_pools[] = { TTA_POOL_DRAM, TTA_POOL_L1 };
#define CHARTS (sizeof chart_pools / sizeof chart_pools[0])

struct series {
	int64_t value[SMI_CHART_SECONDS];
	bool known[SMI_CHART_SECONDS];
};

/* Squeezes the window into COLS columns: each column the highest known
 * value of the seconds it covers. */
static void squeeze(const struct series *s, unsigned cols, int64_t *value, bool *known)
{
	for (unsigned c = 0; c < cols; c++) {
		unsigned from = c * SMI_CHART_SECONDS / cols;
		unsigned to = (c + 1) * SMI_CHART_SECONDS / cols;
		value[c] = 0;
		known[c] = false;
		for (unsigned i = from; i < to; i++) {
			if (!s->known[i])
				continue;
			if (!known[c] || s->value[i] > value[c])
				value[c] = s->value[i];
			known[c] = true;
		}
	}
}

/* The scale's top for a window whose highest value is HIGH: the smallest
 * round figure (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) of
 * HIGH's binary unit that is not below it. */
static int64_t round_top(int64_t high)
{
	static const double steps[] = { 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 };
	if (high <= 0)
		return 0;
	double unit = 1;
	while ((double)high / unit >= 1024 && unit < 0x1p60)
		unit *= 1024;
	double m = (double)high / unit, magnitude = 1;
	while (magnitude * 10 <= m)
		magnitude *= 10;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		double top = steps[i] * magnitude * unit;
		if (top >= (double)high)
			return top >= 0x1p63 ? INT64_MAX : (int64_t)top;
	}
	return high;
}

static void cell(FILE *out, unsigned fill, bool utf8)
{
	static const char *const blocks[9] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					       "\u2585", "\u2586", "\u2587", "\u2588" };
	if (utf8)
		fputs(blocks[fill], out);
	else
		fputc(fill == 8 ? '#' : fill >= 4 ? '=' : fill ? '_' : ' ', out);
}

static void draw_chart(FILE *out, const struct smi_view *v, unsigned pool,
		       const struct series *s, unsigned cols, unsigned rows)
{
	int64_t value[SMI_CHART_SECONDS];
	bool known[SMI_CHART_SECONDS];
	int64_t top = 0;
	char label[16], scale[32];

	squeeze(s, cols, value, known);
	for (unsigned c = 0; c < cols; c++)
		if (known[c] && value[c] > top)
			top = value[c];
	top = round_top(top);
	snprintf(label, sizeof label, "%s", tta_mem_pool_name(pool));
	for (char *p = label; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	tta_format_bytes(top, scale, sizeof scale);

	for (unsigned r = 0; r < rows; r++) {
		if (r == 0)
			fprintf(out, "%-4s %*s", label, LABEL_WIDTH - 5, scale);
		else
			fprintf(out, "%*s", LABEL_WIDTH, "");
		fputs(v->utf8 ? "\u2502" : "|", out);
		unsigned from_bottom = rows - 1 - r;
		for (unsigned c = 0; c < cols; c++) {
			if (!known[c]) {
				if (from_bottom == 0)
					fputs(v->utf8 ? "\u00b7" : ".", out);
				else
					fputc(' ', out);
				continue;
			}
			uint64_t eighths = 0;
			if (top > 0 && value[c] > 0)
				eighths = (uint64_t)((double)value[c] / (double)top * rows * 8 + 0.5);
			/* Any use at all shows on the baseline. */
			if (eighths == 0 && value[c] > 0)
				eighths = 1;
			uint64_t below = (uint64_t)from_bottom * 8;
			unsigned fill = eighths >= below + 8 ? 8 : eighths > below ? (unsigned)(eighths - below) : 0;
			cell(out, fill, v->utf8);
		}
		fputc('\n', out);
	}
}

static void device_title(FILE *out, const struct smi_view *v, const struct tta_device_view *d)
{
	char arch[64], *items = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&items, &len);
	if (!m)
		return;
	if (d->registered)
		tta_sanitize_text(d->arch, sizeof d->arch, arch, sizeof arch);
	else
		snprintf(arch, sizeof arch, "(unregistered)");
	fprintf(m, "Device %" PRIu32 "\t%s", d->id, arch[0] ? arch : "?");
	for (size_t i = 0; i < CHARTS; i++) {
		char used[32];
		unsigned pool = chart_pools[i];
		uint64_t capacity = d->registered ? tta_mem_pool_capacity(d->capacity, pool) : 0;
		fprintf(m, "\t%s %s", i == 0 ? "DRAM" : "L1",
			tta_format_bytes(tta_mem_pool_used(d->used, pool), used, sizeof used));
		if (capacity) {
			char cap[32];
			fprintf(m, " of %s",
				tta_format_bytes(capacity > INT64_MAX ? INT64_MAX : (int64_t)capacity,
						 cap, sizeof cap));
		}
	}
	fclose(m);
	smi_print_items(out, v->width, 0, items);
	free(items);
}

void smi_view_charts(const struct smi_view *v, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	char what[96];
	snprintf(what, sizeof what, "charts: DRAM and L1 in use, last %u s", SMI_CHART_SECONDS);
	smi_view_title(v, what, out);

	size_t devices = 0;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++)
		devices += smi_select_has(v->select, tta_snapshot_device(snap, i)->id);
	if (devices == 0) {
		fputs("\nNo device registered or in use\n", out);
		return;
	}
	if (!smi_history_available(v->history)) {
		smi_print_wrapped(out, v->width,
				  "\nThis segment keeps no history (it was created by an older"
				  " tt-alloc): nothing to chart.");
		return;
	}

	unsigned cols = SMI_CHART_SECONDS;
	if (v->width != SMI_UNLIMITED)
		cols = v->width > LABEL_WIDTH + 1 + 10 ? v->width - LABEL_WIDTH - 1 : 10;
	if (cols > SMI_CHART_SECONDS)
		cols = SMI_CHART_SECONDS;
	/* Rows: the title and a blank line, then per device a title line and
	 * its charts, then the time axis. */
	unsigned rows = 4;
	if (v->height) {
		size_t fixed = 3 + devices, per_chart = devices * CHARTS;
		rows = v->height > fixed ? (unsigned)((v->height - fixed) / per_chart) : 1;
	}
	if (rows < 1)
		rows = 1;
	if (rows > MAX_ROWS)
		rows = MAX_ROWS;

	fputc('\n', out);
	struct series *s = malloc(sizeof *s);
	if (!s)
		return;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		if (!smi_select_has(v->select, d->id))
			continue;
		device_title(out, v, d);
		for (size_t k = 0; k < CHARTS; k++) {
			smi_history_pool_series(v->history, d->id, chart_pools[k], SMI_CHART_SECONDS,
						s->value, s->known);
			draw_chart(out, v, chart_pools[k], s, cols, rows);
		}
	}
	free(s);
	/* The time axis under the last chart. */
	char left[16];
	snprintf(left, sizeof left, "-%us", SMI_CHART_SECONDS);
	fprintf(out, "%*s", LABEL_WIDTH + 1, "");
	size_t pad = cols > strlen(left) + 3 ? cols - strlen(left) - 3 : 1;
	fprintf(out, "%s%*snow\n", left, (int)pad, "");
}
