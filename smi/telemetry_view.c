/*
 * telemetry_view.c - tt-smi's views of what the sources add to a snapshot
 * (<tt-alloc/sources.h>): the telemetry detail view and the notes under the
 * main view. Contract in render.h.
 *
 * Fields come from the library's telemetry table (tta_telemetry_field), so a
 * field the library learns to read shows up here without a change. Every
 * string read from the host (card types, labels, process names, paths) is
 * sanitised before it reaches the terminal.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

#include "layout.h"
#include "render.h"
#include "views.h"

static void clean(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	tta_sanitize_text(src, maxlen, dst, dstlen);
}

/* " dram 2.5MiB l1 4.0KiB": the types TT-Metal counts that are in use, each
 * after SEP. */
static void memory_list(FILE *out, const int64_t *used, const char *sep)
{
	static const unsigned order[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL,
					  TTA_MEM_TRACE, TTA_MEM_CB };
	bool any = false;
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		char human[32];
		if (used[order[i]] == 0)
			continue;
		fprintf(out, "%s%s %s", sep, tta_mem_type_name(order[i]),
			tta_format_bytes(used[order[i]], human, sizeof human));
		any = true;
	}
	if (!any)
		fprintf(out, "%snothing allocated", sep);
}

/* The telemetry table: field, value, unit, and the file tt-kmd publishes it
 * in. Narrow, the file goes first, then the unit (the field's name carries
 * it: temperature_c, power_w); name and value always stay. */
enum { DROP_FILE = 1, DROP_UNIT = 2 };
static const struct smi_column telemetry_columns[] = {
	{ "", 0, true }, /* indent under the device line */
	{ "Field", 0, true },
	{ "Value", 0, true },
	{ "Unit", DROP_UNIT, true },
	{ "Read from", DROP_FILE, true },
};

static void device_block(struct smi_table *t, const tta_snapshot *snap, size_t index)
{
	const struct tta_device_view *dev = tta_snapshot_device(snap, index);
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, index);
	const tta_telemetry *tel = tta_snapshot_device_telemetry(snap, index);
	char *line = NULL;

	if (ds == NULL || !ds->in_sysfs) {
		if (asprintf(&line, "Device %" PRIu32 ": not in sysfs (no /dev/tenstorrent/%" PRIu32
			     " node here)", dev->id, dev->id) >= 0)
			smi_table_text(t, 0, line);
		free(line);
		line = NULL;
	} else {
		if (asprintf(&line, "Device %" PRIu32 " (/dev/tenstorrent/%" PRIu32 ")", dev->id,
			     dev->id) >= 0)
			smi_table_text(t, 0, line);
		free(line);
		line = NULL;
		bool any = false;
		for (unsigned id = 0; id < tta_telemetry_field_count(); id++) {
			const struct tta_telemetry_field *f = tta_telemetry_field(id);
			const char *value;
			char text[160];
			if (!tta_telemetry_get(tel, id, NULL, &value))
				continue;
			if (f->kind == TTA_TELEMETRY_NUMBER) {
				char number[48];
				const char *num = tta_telemetry_format(tel, id, number, sizeof number);
				clean(num ? num : "?", sizeof number, text, sizeof text);
			} else {
				clean(value, 64, text, sizeof text);
			}
			smi_table_cell(t, "%s", "");
			smi_table_cell(t, "%s", f->name);
			smi_table_cell(t, "%s", text);
			smi_table_cell(t, "%s", f->unit);
			smi_table_cell(t, "%s", f->file);
			smi_table_end_row(t);
			any = true;
		}
		if (!any)
			smi_table_text(t, 2, "(the driver publishes no telemetry for it)");
		if (ds->open_files >= 0) {
			smi_table_cell(t, "%s", "");
			smi_table_cell(t, "%s", "open_files");
			smi_table_cell(t, "%" PRId32, ds->open_files);
			smi_table_end_row(t);
		}
	}
	for (size_t u = 0; u < tta_snapshot_untracked_count(snap); u++) {
		const struct tta_untracked_process *p = tta_snapshot_untracked(snap, u);
		char name[80], user[80];
		if (p->device != dev->id)
			continue;
		clean(p->pid == 0 ? "(other pid namespace)" : p->name[0] ? p->name : "?",
		      sizeof p->name, name, sizeof name);
		clean(p->have_uid ? p->user : "?", sizeof p->user, user, sizeof user);
		if (asprintf(&line, "untracked\tpid %" PRId32 "\t%s (%s)\t%" PRIu32 " open file%s",
			     p->pid, name, user, p->open_files, p->open_files == 1 ? "" : "s") >= 0)
			smi_table_text(t, 2, line);
		free(line);
		line = NULL;
	}
	if (ds && ds->tt_metal_segments) {
		char *list = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&list, &len);
		if (!m)
			return;
		fputs("tt-metal", m);
		memory_list(m, ds->tt_metal_used, "\t");
		fprintf(m, "\t(%" PRIu32 " process%s)", ds->tt_metal_processes,
			ds->tt_metal_processes == 1 ? "" : "es");
		fclose(m);
		smi_table_text(t, 2, list);
		free(list);
	}
}

void smi_view_telemetry(const struct smi_view *v, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	const struct tta_sources_info *si = tta_snapshot_sources(snap);
	char root[320], *line = NULL;
	smi_view_title(v, "telemetry: the driver's readings, who holds each device, TT-Metal", out);
	fputc('\n', out);
	if (si == NULL) {
		smi_print_wrapped(out, v->width, "No sources were read for this snapshot");
		return;
	}
	clean(si->root[0] ? si->root : "", sizeof si->root, root, sizeof root);
	if (!si->driver && asprintf(&line, "No Tenstorrent driver: %s/sys/class/tenstorrent does not"
				    " exist (tt-kmd not loaded?)", root) >= 0)
		smi_print_wrapped(out, v->width, line);
	free(line);
	line = NULL;
	struct smi_table *t = smi_table_new(telemetry_columns,
					    sizeof telemetry_columns / sizeof telemetry_columns[0]);
	size_t shown = 0;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, i);
		if (ds == NULL || (!ds->in_sysfs && !ds->tt_metal_segments) ||
		    !smi_select_has(v->select, tta_snapshot_device(snap, i)->id))
			continue;
		/* A blank line between devices, but on a screen every row counts. */
		if (shown && v->height == 0)
			smi_table_text(t, 0, "");
		device_block(t, snap, i);
		shown++;
	}
	if (shown)
		smi_table_print(t, v->width, false, out);
	smi_table_free(t);
	if (shown == 0 && si->driver && asprintf(&line, "No device in %s/sys/class/tenstorrent",
						 root) >= 0)
		smi_print_wrapped(out, v->width, line);
	free(line);
	smi_print_source_notes(snap, v->width, true, out);
}

void smi_render_telemetry(const tta_snapshot *snap, const char *version, FILE *out)
{
	struct smi_view v = { .snap = snap, .version = version, .width = SMI_UNLIMITED };
	smi_view_telemetry(&v, out);
}

static void write_source_notes(const tta_snapshot *snap, FILE *out)
{
	for (size_t i = 0; i < tta_snapshot_tt_metal_segment_count(snap); i++) {
		const struct tta_tt_metal_segment *g = tta_snapshot_tt_metal_segment(snap, i);
		char path[400], note[200];
		clean(g->path, sizeof g->path, path, sizeof path);
		clean(g->note, sizeof g->note, note, sizeof note);
		if (!g->usable) {
			fprintf(out, "note: TT-Metal segment %s skipped: %s\n", path, note);
			continue;
		}
		if (note[0])
			fprintf(out, "note: TT-Metal segment %s: %s\n", path, note);
		if (g->device == TTA_NO_DEVICE) {
			fprintf(out, "note: TT-Metal segment %s (asic id %" PRIu64 ") matches no device"
				" in sysfs:", path, g->asic_id);
			memory_list(out, g->shown, " ");
			fprintf(out, "\n");
		}
	}
}

void smi_print_source_notes(const tta_snapshot *snap, unsigned width, bool blank_first, FILE *out)
{
	char *notes = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&notes, &len);
	if (m == NULL)
		return;
	write_source_notes(snap, m);
	fclose(m);
	if (len) {
		if (blank_first)
			fputc('\n', out);
		smi_print_wrapped(out, width, notes);
	}
	free(notes);
}
