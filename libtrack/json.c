/*
 * json.c - the one JSON writer of a snapshot (contract in <tt-alloc/json.h>).
 * tt-smi --json, the exporter's /api/snapshot and the Python package all
 * print through it, so a key added here appears everywhere at once.
 *
 * It reads the snapshot through the public accessors only, as any tool
 * would. The keys of the sources (telemetry, untracked processes, TT-Metal's
 * segments) appear only in snapshots taken with TTA_SNAPSHOT_SOURCES.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/json.h>
#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

#define TTA_EXPORT __attribute__((visibility("default")))
/* Longer than any tag or site the library hands out. */
#define SITE_TEXT_MAX 4096

/* Memory types in the order a user scans them: the big pools first. */
static const unsigned display_order[TTA_MEM_TYPES] = {
	TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
	TTA_MEM_SYSTEM, TTA_MEM_CB, TTA_MEM_KERNEL,
};

static const char *type_key(unsigned type)
{
	const char *name = tta_mem_type_name(type);
	return name ? name : "unknown";
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

static void json_segment(const tta_snapshot *snap, FILE *out)
{
	const struct tta_segment_info *h = tta_snapshot_segment(snap);
	if (h->abi_version == 0) {
		/* A snapshot of the sources alone: no tt-alloc segment exists. */
		fprintf(out, "  \"segment\": null");
		return;
	}
	fprintf(out, "  \"segment\": {\n    \"name\": ");
	tta_json_string(out, h->name, sizeof h->name);
	fprintf(out, ",\n    \"abi_version\": %" PRIu32 ",\n", h->abi_version);
	fprintf(out, "    \"size\": %" PRIu64 ",\n", h->segment_size);
	fprintf(out, "    \"regions\": %" PRIu32 ",\n", h->region_count);
	fprintf(out, "    \"created_realtime_ns\": %" PRIu64 ",\n", h->created_realtime_ns);
	fprintf(out, "    \"creator_pid\": %" PRId64 ",\n", h->creator_pid);
	fprintf(out, "    \"mode\": \"%04o\",\n", (unsigned)(h->mode & 07777u));
	fprintf(out, "    \"capacities\": {\"devices\": %" PRIu32 ", \"processes\": %" PRIu32
		", \"buffers\": %" PRIu32 "},\n",
		h->device_capacity, h->slot_capacity, h->record_capacity);
	/* Every counter of the library's table, by its own name: a counter added
	 * there appears here without a change to tt-smi. */
	fprintf(out, "    \"counters\": {");
	for (unsigned i = 0; i < tta_counter_count(); i++) {
		fprintf(out, "%s", i ? ", " : "");
		tta_json_string(out, tta_counter_info(i)->name, 64);
		fprintf(out, ": %" PRIu64, tta_snapshot_counter(snap, i));
	}
	fprintf(out, "},\n");
	fprintf(out, "    \"reaper\": {\"pid\": %" PRId32 ", \"status\": \"%s\", \"alive\": %s"
		", \"heartbeat_age_ms\": %" PRIu64 "}\n  }",
		h->reaper_pid, tta_reaper_status_name(h->reaper_status),
		h->reaper_status == TTA_REAPER_RUNNING ? "true" : "false",
		h->reaper_heartbeat_age_ns / 1000000u);
}

static void json_telemetry(const tta_telemetry *t, FILE *out)
{
	fprintf(out, "\"telemetry\": {");
	bool first = true;
	for (unsigned id = 0; id < tta_telemetry_field_count(); id++) {
		const struct tta_telemetry_field *f = tta_telemetry_field(id);
		int64_t raw;
		const char *text;
		if (!tta_telemetry_get(t, id, &raw, &text))
			continue;
		fprintf(out, "%s\"%s\": ", first ? "" : ", ", f->name);
		first = false;
		if (f->kind == TTA_TELEMETRY_TEXT) {
			tta_json_string(out, text, 64);
		} else {
			char number[48];
			const char *num = tta_telemetry_format(t, id, number, sizeof number);
			fputs(num ? num : "null", out);
		}
	}
	fprintf(out, "}");
}

static void json_user(FILE *out, int have_uid, uint32_t uid, const char *user, size_t len)
{
	fprintf(out, ", \"user\": ");
	if (have_uid && user[0])
		tta_json_string(out, user, len);
	else
		fprintf(out, "null");
	if (have_uid)
		fprintf(out, ", \"uid\": %" PRIu32, uid);
	else
		fprintf(out, ", \"uid\": null");
}

/* What the sources add to device INDEX: its telemetry, the processes that
 * hold it without reporting, and the memory figures by source, beside the
 * tt-alloc figure "used" (never added into it) and summed in
 * "used_combined". */
static void json_device_sources(const tta_snapshot *snap, size_t index,
				const struct tta_device_view *d, FILE *out)
{
	const struct tta_device_sources *ds = tta_snapshot_device_sources(snap, index);
	if (ds == NULL)
		return;
	fprintf(out, ",\n     \"in_sysfs\": %s, \"open_files\": ", ds->in_sysfs ? "true" : "false");
	if (ds->open_files >= 0)
		fprintf(out, "%" PRId32, ds->open_files);
	else
		fprintf(out, "null");
	fprintf(out, ",\n     ");
	json_telemetry(tta_snapshot_device_telemetry(snap, index), out);
	fprintf(out, ",\n     \"untracked\": [");
	bool first = true;
	for (size_t u = 0; u < tta_snapshot_untracked_count(snap); u++) {
		const struct tta_untracked_process *p = tta_snapshot_untracked(snap, u);
		if (p->device != d->id)
			continue;
		fprintf(out, "%s{\"pid\": %" PRId32 ", \"name\": ", first ? "" : ", ", p->pid);
		first = false;
		if (p->name[0])
			tta_json_string(out, p->name, sizeof p->name);
		else
			fprintf(out, "null");
		json_user(out, p->have_uid, p->uid, p->user, sizeof p->user);
		fprintf(out, ", \"open_files\": %" PRIu32 "}", p->open_files);
	}
	fprintf(out, "],\n     \"sources\": {\"tt-alloc\": {");
	json_types(out, "used", d->used);
	fprintf(out, ", \"processes\": %" PRIu32 "}, \"tt-metal\": {", d->processes);
	json_types(out, "used", ds->tt_metal_used);
	fprintf(out, ", \"processes\": %" PRIu32 ", \"segments\": %" PRIu32 "}},\n     ",
		ds->tt_metal_processes, ds->tt_metal_segments);
	int64_t combined[TTA_MEM_TYPES];
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		combined[t] = (int64_t)((uint64_t)d->used[t] + (uint64_t)ds->tt_metal_used[t]);
	json_types(out, "used_combined", combined);
}

static void json_devices(const tta_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"devices\": [");
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		int64_t total[TTA_MEM_TYPES];
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			total[t] = d->registered && d->capacity[t] <= INT64_MAX
					   ? (int64_t)d->capacity[t] : 0;
		fprintf(out, "%s\n    {\"id\": %" PRIu32 ", \"arch\": ", i ? "," : "", d->id);
		if (d->registered)
			tta_json_string(out, d->arch, sizeof d->arch);
		else
			fprintf(out, "null");
		fprintf(out, ", \"registered\": %s, \"num_cores\": %" PRIu32
			", \"l1_bytes_per_core\": %" PRIu32 ",\n     ",
			d->registered ? "true" : "false", d->num_cores, d->l1_bytes_per_core);
		json_types(out, "used", d->used);
		fprintf(out, ",\n     ");
		json_types(out, "total", total);
		fprintf(out, ",\n     \"buffers\": %" PRId64 ", \"processes\": %" PRIu32,
			d->buffers, d->processes);
		if (tta_snapshot_sources(snap))
			json_device_sources(snap, i, d, out);
		fprintf(out, "}");
	}
	fprintf(out, "%s]", tta_snapshot_device_count(snap) ? "\n  " : "");
}

static void json_processes(const tta_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"processes\": [");
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
		fprintf(out, "%s\n    {\"pid\": %" PRId32 ", \"name\": ", i ? "," : "", r->proc.pid);
		tta_json_string(out, r->proc.comm, sizeof r->proc.comm);
		fprintf(out, ", \"cmdline\": ");
		tta_json_string(out, r->proc.cmdline, sizeof r->proc.cmdline);
		fprintf(out, ", \"user\": ");
		if (r->user[0])
			tta_json_string(out, r->user, sizeof r->user);
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
		fprintf(out, ",\n     ");
		json_types(out, "peak", r->peak);
		fprintf(out, ", \"buffers\": %" PRId64 ", \"source\": \"tt-alloc\", \"asic_id\": null}",
			r->buffers);
	}
	/* TT-Metal's entries, with the same keys (null where TT-Metal keeps
	 * nothing: no slot, no records), never a pid tt-alloc already lists. */
	size_t n = tta_snapshot_process_count(snap);
	for (size_t i = 0; i < tta_snapshot_tt_metal_process_count(snap); i++, n++) {
		const struct tta_tt_metal_process *p = tta_snapshot_tt_metal_process(snap, i);
		fprintf(out, "%s\n    {\"pid\": %" PRId32 ", \"name\": ", n ? "," : "", p->pid);
		tta_json_string(out, p->name, 64);
		fprintf(out, ", \"cmdline\": null");
		json_user(out, p->have_uid, p->uid, p->user, sizeof p->user);
		fprintf(out, ",\n     \"slot\": null, \"generation\": null, \"start_time\": null"
			", \"attach_realtime_ns\": null, \"running\": %s, \"device\": ",
			p->running ? "true" : "false");
		if (p->device == TTA_NO_DEVICE)
			fprintf(out, "null,\n     ");
		else
			fprintf(out, "%" PRIu32 ",\n     ", p->device);
		json_types(out, "used", p->used);
		/* TT-Metal keeps no peak. */
		fprintf(out, ", \"peak\": null, \"buffers\": null, \"source\": \"tt-metal\""
			", \"asic_id\": %" PRIu64 "}", p->asic_id);
	}
	fprintf(out, "%s]", n ? "\n  " : "");
}

/* Where the sources were read, and every TT-Metal segment found, the
 * skipped ones with the reason. */
static void json_sources(const tta_snapshot *snap, FILE *out)
{
	const struct tta_sources_info *si = tta_snapshot_sources(snap);
	fprintf(out, "  \"sources\": {\"root\": ");
	tta_json_string(out, si->root, sizeof si->root);
	fprintf(out, ", \"driver\": %s, \"kernel_pids\": %s, \"sysfs_devices\": %" PRIu32
		",\n    \"tt_metal_segments\": [",
		si->driver ? "true" : "false", si->kernel_pids ? "true" : "false", si->sysfs_devices);
	size_t n = tta_snapshot_tt_metal_segment_count(snap);
	for (size_t i = 0; i < n; i++) {
		const struct tta_tt_metal_segment *g = tta_snapshot_tt_metal_segment(snap, i);
		fprintf(out, "%s\n      {\"path\": ", i ? "," : "");
		tta_json_string(out, g->path, sizeof g->path);
		fprintf(out, ", \"asic_id\": %" PRIu64 ", \"device\": ", g->asic_id);
		if (g->device == TTA_NO_DEVICE)
			fprintf(out, "null");
		else
			fprintf(out, "%" PRIu32, g->device);
		fprintf(out, ", \"usable\": %s, \"version\": %" PRIu32 ", \"note\": ",
			g->usable ? "true" : "false", g->version);
		tta_json_string(out, g->note, sizeof g->note);
		if (g->usable) {
			fprintf(out, ",\n       \"metal_device_id\": %" PRIu32 ", \"active_processes\": %" PRIu32
				", \"last_update_ns\": %" PRIu64 ", \"processes\": %" PRIu32 ",\n       ",
				g->metal_device_id, g->active_processes, g->last_update_ns, g->processes);
			json_types(out, "total", g->total);
			fprintf(out, ",\n       ");
			json_types(out, "shown", g->shown);
			fprintf(out, ",\n       \"chips\": [");
			for (uint32_t c = 0; c < g->chip_count && c < TTA_TT_METAL_MAX_CHIPS; c++) {
				fprintf(out, "%s{\"chip_id\": %" PRIu32 ", \"remote\": %s, ", c ? ", " : "",
					g->chips[c].chip_id, g->chips[c].remote ? "true" : "false");
				json_types(out, "used", g->chips[c].used);
				fprintf(out, "}");
			}
			fprintf(out, "]");
		}
		fprintf(out, "}");
	}
	fprintf(out, "%s]}", n ? "\n    " : "");
}

/* Untrusted text from the segment: escaped, or null. */
static void json_text_or_null(FILE *out, const char *text)
{
	if (text != NULL)
		tta_json_string(out, text, SITE_TEXT_MAX);
	else
		fprintf(out, "null");
}

/* A call site as an array of frames, innermost first; null if none. */
static void json_site(FILE *out, const char *site)
{
	if (site == NULL) {
		fprintf(out, "null");
		return;
	}
	fprintf(out, "[");
	for (const char *frame = site;;) {
		const char *end = strchr(frame, '\n');
		size_t len = end ? (size_t)(end - frame) : strlen(frame);
		if (frame != site)
			fprintf(out, ", ");
		tta_json_string(out, frame, len);
		if (end == NULL)
			break;
		frame = end + 1;
	}
	fprintf(out, "]");
}

static void json_tags(const tta_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"tags\": [");
	for (size_t i = 0; i < tta_snapshot_tag_count(snap); i++) {
		const struct tta_tag_row *r = tta_snapshot_tag(snap, i);
		fprintf(out, "%s\n    {\"device\": %" PRIu32 ", \"tag\": ", i ? "," : "", r->device);
		json_text_or_null(out, r->tag);
		fprintf(out, ", ");
		json_types(out, "used", r->used);
		fprintf(out, ", \"buffers\": %" PRId64 "}", r->buffers);
	}
	fprintf(out, "%s]", tta_snapshot_tag_count(snap) ? "\n  " : "");
}

static void json_buffers(const tta_snapshot *snap, FILE *out)
{
	fprintf(out, "  \"buffers\": [");
	for (size_t i = 0; i < tta_snapshot_buffer_count(snap); i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(snap, i);
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
				tta_json_string(out, kind, 64);
			else
				fprintf(out, "%" PRIu32, b->kernel_kind);
		}
		fprintf(out, ", \"address\": %" PRIu64 ", \"address_hex\": \"0x%" PRIx64
			"\", \"size\": %" PRIu64 ", \"age_ns\": %" PRIu64 ", \"record\": %" PRIu32,
			b->address, b->address, b->size, b->age_ns, b->record);
		fprintf(out, ",\n     \"tag\": ");
		json_text_or_null(out, b->tag);
		fprintf(out, ", \"site\": ");
		json_site(out, b->site);
		fprintf(out, "}");
	}
	fprintf(out, "%s]", tta_snapshot_buffer_count(snap) ? "\n  " : "");
}

TTA_EXPORT void tta_snapshot_write_json(const tta_snapshot *snap, const char *tool, const char *version,
					 FILE *out)
{
	fprintf(out, "{\n  \"tool\": {\"name\": ");
	tta_json_string(out, tool ? tool : "", 64);
	fprintf(out, ", \"version\": ");
	tta_json_string(out, version ? version : "", 64);
	fprintf(out, "},\n  \"timestamp_ns\": %" PRIu64 ",\n", tta_snapshot_segment(snap)->taken_realtime_ns);
	json_segment(snap, out);
	fprintf(out, ",\n");
	json_devices(snap, out);
	fprintf(out, ",\n");
	json_processes(snap, out);
	if (tta_snapshot_sources(snap)) {
		fprintf(out, ",\n");
		json_sources(snap, out);
	}
	if ((tta_snapshot_segment(snap)->flags & TTA_SNAPSHOT_BUFFERS)) {
		fprintf(out, ",\n");
		json_buffers(snap, out);
	}
	if ((tta_snapshot_segment(snap)->flags & TTA_SNAPSHOT_TAGS)) {
		fprintf(out, ",\n");
		json_tags(snap, out);
	}
	fprintf(out, "\n}\n");
}

/* ------------------------------------------------------------------------ */
/* History and events                                                        */

/* UNIX seconds with a millisecond fraction. */
static void json_unix_time(FILE *out, uint64_t realtime_ns)
{
	fprintf(out, "%" PRIu64 ".%03" PRIu64, realtime_ns / 1000000000u,
		(realtime_ns / 1000000u) % 1000u);
}

/* The keys of "used" in the order the issue names them (and json_types
 * uses): dram, l1, l1_small, trace, system, cb, kernel. */
TTA_EXPORT void tta_history_write_json(const tta_history *h, FILE *out)
{
	fprintf(out, "{\"history\": {\"interval_ms\": %" PRIu32 ", \"seconds\": %" PRIu32
		", \"available\": %s, \"devices\": [",
		tta_history_interval_ms(h), tta_history_seconds(h),
		tta_history_available(h) ? "true" : "false");
	for (size_t i = 0; i < tta_history_device_count(h); i++) {
		const struct tta_history_device *d = tta_history_device(h, i);
		fprintf(out, "%s\n  {\"id\": %" PRIu32 ", ", i ? "," : "", d->id);
		json_types(out, "peak", d->peak);
		fprintf(out, ", \"peak_total\": %" PRId64 ", \"samples\": [", d->peak_total);
		bool first = true;
		for (size_t k = 0; k < d->sample_count; k++) {
			const struct tta_history_sample *s = tta_history_sample(h, i, k);
			if (!s->known)
				continue;
			fprintf(out, "%s\n    {\"t\": ", first ? "" : ",");
			json_unix_time(out, s->realtime_ns);
			fprintf(out, ", ");
			json_types(out, "used", s->used);
			fprintf(out, ", \"total\": %" PRId64 "}", s->total);
			first = false;
		}
		fprintf(out, "%s]}", first ? "" : "\n  ");
	}
	fprintf(out, "%s]}}\n", tta_history_device_count(h) ? "\n" : "");
}

TTA_EXPORT void tta_event_write_json(const struct tta_event *e, FILE *out)
{
	fprintf(out, "{\"t\": ");
	json_unix_time(out, e->realtime_ns);
	fprintf(out, ", \"seq\": %" PRIu64 ", \"event\": ", e->seq);
	const char *kind = tta_event_kind_name(e->kind);
	if (kind)
		fprintf(out, "\"%s\"", kind);
	else
		fprintf(out, "\"event#%" PRIu32 "\"", e->kind);
	fprintf(out, ", \"pid\": %" PRId32 ", \"slot\": %" PRIu32 ", \"device\": ", e->pid, e->slot);
	if (e->device == TTA_NO_DEVICE)
		fprintf(out, "null");
	else
		fprintf(out, "%" PRIu32, e->device);
	fprintf(out, ", \"type\": ");
	if (e->type == UINT32_MAX)
		fprintf(out, "null");
	else if (e->type < TTA_MEM_TYPES)
		fprintf(out, "\"%s\"", type_key(e->type));
	else
		fprintf(out, "\"type#%" PRIu32 "\"", e->type);
	bool has_address = e->kind == TTA_EVENT_ALLOC || e->kind == TTA_EVENT_FREE ||
			   e->kind == TTA_EVENT_CB_ALLOC || e->kind == TTA_EVENT_CB_FREE ||
			   e->kind == TTA_EVENT_KERNEL_LOAD || e->kind >= TTA_EVENT_KINDS;
	bool has_size = has_address || e->kind == TTA_EVENT_REAP;
	fprintf(out, ", \"address\": ");
	if (has_address)
		fprintf(out, "%" PRIu64, e->address);
	else
		fprintf(out, "null");
	fprintf(out, ", \"size\": ");
	if (has_size)
		fprintf(out, "%" PRIu64, e->size);
	else
		fprintf(out, "null");
	if (e->kind == TTA_EVENT_KERNEL_LOAD) {
		const char *kk = tta_kernel_kind_name(e->kernel_kind);
		fprintf(out, ", \"kernel_kind\": ");
		if (kk)
			fprintf(out, "\"%s\"", kk);
		else
			fprintf(out, "%" PRIu32, e->kernel_kind);
	}
	if (e->kind == TTA_EVENT_REAP)
		fprintf(out, ", \"buffers\": %" PRIu64, e->buffers);
	fprintf(out, "}\n");
}

TTA_EXPORT void tta_events_write_missed_json(uint64_t missed, FILE *out)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(out, "{\"t\": ");
	json_unix_time(out, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	fprintf(out, ", \"event\": \"missed\", \"count\": %" PRIu64 "}\n", missed);
}
