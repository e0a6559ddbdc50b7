/*
 * metrics.c - the Prometheus exposition of a snapshot (contract in
 * metrics.h). Names follow Prometheus' conventions: base units with their
 * suffix (_bytes, _seconds), _total on counters, and `device` and `type`
 * label values equal to the decimal device id and the library's lower-case
 * type names, so a query reads like tt-smi's JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/text.h>

#include "metrics.h"

/* Longest escaped label value: every sanitised byte doubled. */
#define LABEL_MAX 1100

/* Escapes the sanitised text IN (backslash, quote) into OUT. */
static void escape_into(const char *in, char *out, size_t outlen, size_t *pos)
{
	for (; *in && *pos + 3 < outlen; in++) {
		if (*in == '\\' || *in == '"')
			out[(*pos)++] = '\\';
		out[(*pos)++] = *in;
	}
}

/* S as the inside of a label value (no quotes) in OUT. The line feeds are
 * cut out first so tta_sanitize_text (which would make them '?') sees the
 * text between them, and come back as the escape the format defines. */
static void label_text(const char *s, size_t maxlen, char *out, size_t outlen)
{
	size_t len = strnlen(s, maxlen), pos = 0, start = 0;
	char part[512];
	while (start <= len) {
		const char *nl = memchr(s + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t n = end - start < sizeof part - 1 ? end - start : sizeof part - 1;
		tta_sanitize_text(s + start, n, part, sizeof part);
		escape_into(part, out, outlen, &pos);
		if (!nl)
			break;
		if (pos + 3 < outlen) {
			out[pos++] = '\\';
			out[pos++] = 'n';
		}
		start = end + 1;
	}
	out[pos] = '\0';
}

void tte_metrics_label_value(FILE *out, const char *s, size_t maxlen)
{
	char buf[LABEL_MAX];
	label_text(s, maxlen, buf, sizeof buf);
	fputc('"', out);
	fputs(buf, out);
	fputc('"', out);
}

/* HELP text: the format escapes backslash and line feed there. Ours are
 * fixed strings, but the counter table's come from the library. */
static void family(FILE *out, const char *name, const char *suffix, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP %s%s ", name, suffix);
	for (const char *c = help; *c; c++) {
		if (*c == '\\')
			fputs("\\\\", out);
		else if (*c == '\n')
			fputs("\\n", out);
		else
			fputc(*c, out);
	}
	fprintf(out, "\n# TYPE %s%s %s\n", name, suffix, type);
}

/* ------------------------------------------------------------------------ */
/* The exporter and the segment                                              */

static void write_exporter(const tta_snapshot *snap, const struct tte_metrics_options *opt,
			   FILE *out)
{
	family(out, "tt_alloc_up", "", "gauge",
	       "1 if the exporter reads a tt-alloc segment, 0 if it cannot (see its log)");
	fprintf(out, "tt_alloc_up %d\n", snap ? 1 : 0);
	family(out, "tt_alloc_exporter_build_info", "", "gauge",
	       "Always 1; the labels name the exporter's version and the read API it uses");
	fputs("tt_alloc_exporter_build_info{version=", out);
	tte_metrics_label_value(out, opt->version ? opt->version : "", 64);
	fprintf(out, ",api_version=\"%d\"} 1\n", TTA_API_VERSION);
	family(out, "tt_alloc_exporter_segment_opens_total", "", "counter",
	       "Times the exporter opened the segment (a replaced segment is opened again)");
	fprintf(out, "tt_alloc_exporter_segment_opens_total %" PRIu64 "\n", opt->segment_opens);
	family(out, "tt_alloc_exporter_snapshot_errors_total", "", "counter",
	       "Snapshots that failed: no segment, or one truncated or replaced under the reader");
	fprintf(out, "tt_alloc_exporter_snapshot_errors_total %" PRIu64 "\n", opt->snapshot_errors);
	if (snap) {
		family(out, "tt_alloc_exporter_snapshot_duration_seconds", "", "gauge",
		       "Time taken by the snapshot of the segment behind this scrape");
		fprintf(out, "tt_alloc_exporter_snapshot_duration_seconds %.9f\n",
			opt->last_snapshot_seconds);
	}
}

static void write_segment(const tta_snapshot *snap, FILE *out)
{
	const struct tta_segment_info *h = tta_snapshot_segment(snap);
	family(out, "tt_alloc_segment_info", "", "gauge",
	       "Always 1; the labels name the segment read and its ABI version");
	fputs("tt_alloc_segment_info{segment=", out);
	tte_metrics_label_value(out, h->name, sizeof h->name);
	fprintf(out, ",abi_version=\"%" PRIu32 "\"} 1\n", h->abi_version);
	family(out, "tt_alloc_segment_capacity", "", "gauge",
	       "What the segment was created to hold: device ids, process slots, buffer records");
	fprintf(out, "tt_alloc_segment_capacity{resource=\"devices\"} %" PRIu32 "\n"
		"tt_alloc_segment_capacity{resource=\"processes\"} %" PRIu32 "\n"
		"tt_alloc_segment_capacity{resource=\"buffers\"} %" PRIu32 "\n",
		h->device_capacity, h->slot_capacity, h->record_capacity);
	family(out, "tt_alloc_segment_created_timestamp_seconds", "", "gauge",
	       "When the segment was created (Unix time)");
	fprintf(out, "tt_alloc_segment_created_timestamp_seconds %.3f\n",
		(double)h->created_realtime_ns / 1e9);
	family(out, "tt_alloc_reaper_running", "", "gauge",
	       "1 if a reaper serves the segment with a fresh heartbeat, else 0 (dead processes "
	       "are then reclaimed only when a writer attaches)");
	fprintf(out, "tt_alloc_reaper_running %d\n", h->reaper_status == TTA_REAPER_RUNNING);
	if (h->reaper_pid != 0) {
		family(out, "tt_alloc_reaper_heartbeat_age_seconds", "", "gauge",
		       "Age of the registered reaper's last heartbeat");
		fprintf(out, "tt_alloc_reaper_heartbeat_age_seconds %.3f\n",
			(double)h->reaper_heartbeat_age_ns / 1e9);
	}
}

/* Every counter and gauge of the library's table, by its own name: one added
 * there appears here without a change to the exporter. */
static void write_counters(const tta_snapshot *snap, FILE *out)
{
	char name[96];
	for (unsigned id = 0; id < tta_counter_count(); id++) {
		const struct tta_counter_info *c = tta_counter_info(id);
		bool counter = c->kind == TTA_COUNTER_KIND_COUNTER;
		snprintf(name, sizeof name, "tt_alloc_%s", c->name);
		family(out, name, counter ? "_total" : "", counter ? "counter" : "gauge", c->help);
		fprintf(out, "%s%s %" PRIu64 "\n", name, counter ? "_total" : "",
			tta_snapshot_counter(snap, id));
	}
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */

/* `device="N"` plus the hardware labels that are known, for every series of
 * one device (dcgm-exporter does the same with its gpu, modelName labels). */
static void device_labels(const struct tta_device_view *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "device=\"%" PRIu32 "\"", d->id);
	if (d->registered && d->arch[0] && n > 0 && (size_t)n < len) {
		char arch[LABEL_MAX];
		label_text(d->arch, sizeof d->arch, arch, sizeof arch);
		snprintf(buf + n, len - (size_t)n, ",arch=\"%s\"", arch);
	}
}

static void write_devices(const tta_snapshot *snap, FILE *out)
{
	size_t n = tta_snapshot_device_count(snap);
	char labels[LABEL_MAX + 64];
	if (n == 0)
		return;
	family(out, "tt_alloc_device_used_bytes", "", "gauge",
	       "Bytes in use on the device, by memory type, summed over live processes");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		device_labels(d, labels, sizeof labels);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			fprintf(out, "tt_alloc_device_used_bytes{%s,type=\"%s\"} %" PRId64 "\n", labels,
				tta_mem_type_name(t), d->used[t]);
	}
	bool any_capacity = false;
	for (size_t i = 0; i < n && !any_capacity; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			any_capacity |= d->registered && d->capacity[t] > 0;
	}
	if (any_capacity) {
		family(out, "tt_alloc_device_capacity_bytes", "", "gauge",
		       "Bytes the device holds, by memory type, where its registration says");
		for (size_t i = 0; i < n; i++) {
			const struct tta_device_view *d = tta_snapshot_device(snap, i);
			if (!d->registered)
				continue;
			device_labels(d, labels, sizeof labels);
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				if (d->capacity[t] > 0)
					fprintf(out, "tt_alloc_device_capacity_bytes{%s,type=\"%s\"} %" PRIu64
						"\n", labels, tta_mem_type_name(t), d->capacity[t]);
		}
	}
	family(out, "tt_alloc_device_buffers", "", "gauge",
	       "Live allocations on the device (kernel binaries are counted in bytes only)");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		device_labels(d, labels, sizeof labels);
		fprintf(out, "tt_alloc_device_buffers{%s} %" PRId64 "\n", labels, d->buffers);
	}
	family(out, "tt_alloc_device_processes", "", "gauge",
	       "Live processes that reported on the device");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		device_labels(d, labels, sizeof labels);
		fprintf(out, "tt_alloc_device_processes{%s} %" PRIu32 "\n", labels, d->processes);
	}
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

/* `device="D",pid="P",process="NAME"` of one row. */
static void process_labels(const struct tta_process_row *r, char *buf, size_t len)
{
	char name[LABEL_MAX];
	label_text(r->proc.comm, sizeof r->proc.comm, name, sizeof name);
	snprintf(buf, len, "device=\"%" PRIu32 "\",pid=\"%" PRId32 "\",process=\"%s\"", r->device,
		 r->proc.pid, name);
}

static void write_processes(const tta_snapshot *snap, FILE *out)
{
	size_t n = tta_snapshot_process_count(snap), rows = 0;
	char labels[LABEL_MAX + 64];
	for (size_t i = 0; i < n; i++)
		rows += tta_snapshot_process(snap, i)->device != TTA_NO_DEVICE;
	if (rows == 0)
		return;
	/* A process that has reported on no device yet has nothing to show; its
	 * series vanish with it (the snapshot lists live slots only). */
	family(out, "tt_alloc_process_used_bytes", "", "gauge",
	       "Bytes in use by one process on one device, by memory type");
	for (size_t i = 0; i < n; i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
		if (r->device == TTA_NO_DEVICE)
			continue;
		process_labels(r, labels, sizeof labels);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			fprintf(out, "tt_alloc_process_used_bytes{%s,type=\"%s\"} %" PRId64 "\n", labels,
				tta_mem_type_name(t), r->used[t]);
	}
	family(out, "tt_alloc_process_peak_bytes", "", "gauge",
	       "Highest use of one process on one device since it attached, by memory type");
	for (size_t i = 0; i < n; i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
		if (r->device == TTA_NO_DEVICE)
			continue;
		process_labels(r, labels, sizeof labels);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			fprintf(out, "tt_alloc_process_peak_bytes{%s,type=\"%s\"} %" PRId64 "\n", labels,
				tta_mem_type_name(t), r->peak[t]);
	}
	family(out, "tt_alloc_process_buffers", "", "gauge",
	       "Live allocations of one process on one device");
	for (size_t i = 0; i < n; i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
		if (r->device == TTA_NO_DEVICE)
			continue;
		process_labels(r, labels, sizeof labels);
		fprintf(out, "tt_alloc_process_buffers{%s} %" PRId64 "\n", labels, r->buffers);
	}
}

void tte_metrics_write(const tta_snapshot *snap, const struct tte_metrics_options *opt, FILE *out)
{
	write_exporter(snap, opt, out);
	if (!snap)
		return;
	write_segment(snap, out);
	write_counters(snap, out);
	write_devices(snap, out);
	if (opt->per_process)
		write_processes(snap, out);
}
