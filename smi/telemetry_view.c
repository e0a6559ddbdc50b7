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
#include <string.h>
#include <time.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

#include "render.h"

static void clean(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	tta_sanitize_text(src, maxlen, dst, dstlen);
}

static void memory_list(FILE *out, const int64_t *used)
{
	static const unsigned order[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL,
					  TTA_MEM_TRACE, TTA_MEM_CB };
	bool any = false;
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		char human[32];
		if (used[order[i]] == 0)
			continue;
		fprintf(out, " %s %s", tta_mem_type_name(order[i]),
			tta_format_bytes(used[order[i]], human, sizeof human));
		any = true;
	}
	if (!any)
		fprintf(out, " nothing allocated");
}

static void device_block(const tta_snapshot *snap, size_t index, FILE *out)
{
	const struct tta_device_view *dev = tta_snapshot_device(snap, index);
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, index);
	const tta_telemetry *tel = tta_snapshot_device_telemetry(snap, index);
	char text[160];

	fprintf(out, "Device %" PRIu32, dev->id);
	if (ds == NULL || !ds->in_sysfs) {
		fprintf(out, ": not in sysfs (no /dev/tenstorrent/%" PRIu32 " node here)\n", dev->id);
		return;
	}
	fprintf(out, " (/dev/tenstorrent/%" PRIu32 ")\n", dev->id);
	bool any = false;
	for (unsigned id = 0; id < tta_telemetry_field_count(); id++) {
		const struct tta_telemetry_field *f = tta_telemetry_field(id);
		const char *value;
		if (!tta_telemetry_get(tel, id, NULL, &value))
			continue;
		if (f->kind == TTA_TELEMETRY_NUMBER) {
			char number[48];
			const char *num = tta_telemetry_format(tel, id, number, sizeof number);
			clean(num ? num : "?", sizeof number, text, sizeof text);
		} else {
			clean(value, 64, text, sizeof text);
		}
		fprintf(out, "  %-18s %-18s %-12s %s\n", f->name, text, f->unit, f->file);
		any = true;
	}
	if (!any)
		fprintf(out, "  (the driver publishes no telemetry for it)\n");
	if (ds->open_files >= 0)
		fprintf(out, "  %-18s %" PRId32 "\n", "open_files", ds->open_files);
	for (size_t u = 0; u < tta_snapshot_untracked_count(snap); u++) {
		const struct tta_untracked_process *p = tta_snapshot_untracked(snap, u);
		char name[80], user[80];
		if (p->device != dev->id)
			continue;
		clean(p->pid == 0 ? "(other pid namespace)" : p->name[0] ? p->name : "?",
		      sizeof p->name, name, sizeof name);
		clean(p->have_uid ? p->user : "?", sizeof p->user, user, sizeof user);
		fprintf(out, "  %-18s pid %" PRId32 " %s (%s), %" PRIu32 " open file%s\n", "untracked",
			p->pid, name, user, p->open_files, p->open_files == 1 ? "" : "s");
	}
	if (ds->tt_metal_segments) {
		fprintf(out, "  %-18s", "tt-metal");
		memory_list(out, ds->tt_metal_used);
		fprintf(out, " (%" PRIu32 " process%s)\n", ds->tt_metal_processes,
			ds->tt_metal_processes == 1 ? "" : "es");
	}
}

void smi_render_telemetry(const tta_snapshot *snap, const char *version, FILE *out)
{
	const struct tta_sources_info *si = tta_snapshot_sources(snap);
	char when[64], root[320];
	time_t secs = (time_t)(tta_snapshot_segment(snap)->taken_realtime_ns / 1000000000u);
	struct tm tm;
	if (!localtime_r(&secs, &tm) || !strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof when, "?");
	fprintf(out, "tt-smi %s | %s | telemetry\n\n", version, when);
	if (si == NULL) {
		fprintf(out, "No sources were read for this snapshot\n");
		return;
	}
	clean(si->root[0] ? si->root : "", sizeof si->root, root, sizeof root);
	if (!si->driver)
		fprintf(out, "No Tenstorrent driver: %s/sys/class/tenstorrent does not exist"
			" (tt-kmd not loaded?)\n", root);
	size_t shown = 0;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, i);
		if (ds == NULL || (!ds->in_sysfs && !ds->tt_metal_segments))
			continue;
		if (shown++)
			fputc('\n', out);
		device_block(snap, i, out);
	}
	if (shown == 0 && si->driver)
		fprintf(out, "No device in %s/sys/class/tenstorrent\n", root);
	fputc('\n', out);
	smi_render_source_notes(snap, out);
}

void smi_render_source_notes(const tta_snapshot *snap, FILE *out)
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
			memory_list(out, g->shown);
			fprintf(out, "\n");
		}
	}
}
