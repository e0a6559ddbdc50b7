/*
 * metrics.c - the Prometheus exposition of a snapshot (contract in
 * metrics.h). Names follow Prometheus' conventions: base units with their
 * suffix (_bytes, _seconds), _total on counters, and `device` and `type`
 * label values equal to the decimal device id and the library's lower-case
 * type names, so a query reads like tt-smi's JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>
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

/* family() for a family whose samples may all be absent: written before the
 * first sample only (*WRITTEN says whether it was). */
static void family_once(bool *written, FILE *out, const char *name, const char *suffix,
			const char *type, const char *help)
{
	if (!*written)
		family(out, name, suffix, type, help);
	*written = true;
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
	if (opt->periodic) {
		family(out, "tt_alloc_exporter_background_snapshot_age_seconds", "", "gauge",
		       "Age of the background snapshot behind the telemetry, hardware labels and "
		       "exited_processes (taken every few seconds)");
		fprintf(out, "tt_alloc_exporter_background_snapshot_age_seconds %.3f\n",
			opt->periodic_age_seconds);
	}
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

/* The periodic snapshot read a segment (not the sources alone). */
static bool periodic_has_segment(const struct tte_metrics_options *opt)
{
	return opt->periodic && tta_snapshot_segment(opt->periodic)->abi_version != 0 &&
	       (tta_snapshot_segment(opt->periodic)->flags & TTA_SNAPSHOT_PROCESS_DETAILS);
}

/* Every counter and gauge of the library's table, by its own name: one added
 * there appears here without a change to the exporter. */
static void write_counters(const tta_snapshot *snap, const struct tte_metrics_options *opt,
			   FILE *out)
{
	char name[96];
	bool details = tta_snapshot_segment(snap)->flags & TTA_SNAPSHOT_PROCESS_DETAILS;
	int exited = tta_counter_find("exited_processes");
	for (unsigned id = 0; id < tta_counter_count(); id++) {
		const struct tta_counter_info *c = tta_counter_info(id);
		bool counter = c->kind == TTA_COUNTER_KIND_COUNTER;
		uint64_t value = tta_snapshot_counter(snap, id);
		if ((int)id == exited && !details) {
			if (!periodic_has_segment(opt))
				continue; /* not known: absent rather than a wrong 0 */
			value = tta_snapshot_counter(opt->periodic, id);
		}
		snprintf(name, sizeof name, "tt_alloc_%s", c->name);
		family(out, name, counter ? "_total" : "", counter ? "counter" : "gauge", c->help);
		fprintf(out, "%s%s %" PRIu64 "\n", name, counter ? "_total" : "", value);
	}
}

/* ------------------------------------------------------------------------ */
/* Samples                                                                   */

/* Sample lines are assembled in a local buffer and handed to stdio 64 KiB
 * at a time: a big host has tens of thousands per scrape, and fprintf's
 * format parsing plus a stdio call per line were most of the cost
 * (tt-alloc-bench section l). */
struct sink {
	FILE *out;
	size_t n;
	char buf[65536];
};

static void sink_flush(struct sink *k)
{
	fwrite(k->buf, 1, k->n, k->out);
	k->n = 0;
}

static void put(struct sink *k, const char *s, size_t len)
{
	if (k->n + len > sizeof k->buf)
		sink_flush(k);
	if (len > sizeof k->buf) { /* cannot happen: labels are bounded */
		fwrite(s, 1, len, k->out);
		return;
	}
	memcpy(k->buf + k->n, s, len);
	k->n += len;
}

static void put_str(struct sink *k, const char *s)
{
	put(k, s, strlen(s));
}

static void put_u64(struct sink *k, uint64_t v, bool negative)
{
	char digits[24];
	size_t i = sizeof digits;
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (negative)
		digits[--i] = '-';
	put(k, digits + i, sizeof digits - i);
}

/* NAME{LABELS[,type="TYPE"]} VALUE: LABELS is already escaped. */
static void sample(struct sink *k, const char *name, const char *labels, size_t labels_len,
		   const char *type, uint64_t magnitude, bool negative)
{
	put_str(k, name);
	put(k, "{", 1);
	put(k, labels, labels_len);
	if (type) {
		put(k, ",type=\"", 7);
		put_str(k, type);
		put(k, "\"", 1);
	}
	put(k, "} ", 2);
	put_u64(k, magnitude, negative);
	put(k, "\n", 1);
}

static void sample_i64(struct sink *k, const char *name, const char *labels, size_t labels_len,
		       const char *type, int64_t v)
{
	/* The magnitude in unsigned arithmetic: INT64_MIN has no positive twin. */
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	sample(k, name, labels, labels_len, type, mag, v < 0);
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */

/* Index of device ID in SNAP (NULL: none). */
static bool find_device(const tta_snapshot *snap, uint32_t id, size_t *index)
{
	for (size_t i = 0; snap && i < tta_snapshot_device_count(snap); i++)
		if (tta_snapshot_device(snap, i)->id == id) {
			*index = i;
			return true;
		}
	return false;
}

/* `device="N"` plus the hardware labels that are known, for every series of
 * one device (dcgm-exporter does the same with its gpu, modelName labels):
 * the registered architecture, and the board serial the driver publishes
 * (from the periodic snapshot's sources). Returns the length. */
static size_t device_labels(const struct tta_device_view *d, const tta_snapshot *periodic,
			    char *buf, size_t len)
{
	char text[LABEL_MAX];
	const char *serial = NULL;
	int n = snprintf(buf, len, "device=\"%" PRIu32 "\"", d->id);
	if (d->registered && d->arch[0] && n > 0 && (size_t)n < len) {
		label_text(d->arch, sizeof d->arch, text, sizeof text);
		n += snprintf(buf + n, len - (size_t)n, ",arch=\"%s\"", text);
	}
	size_t pi;
	if (find_device(periodic, d->id, &pi) &&
	    tta_telemetry_get(tta_snapshot_device_telemetry(periodic, pi), TTA_TELEMETRY_SERIAL,
			      NULL, &serial) && n > 0 && (size_t)n < len) {
		label_text(serial, 64, text, sizeof text);
		n += snprintf(buf + n, len - (size_t)n, ",serial=\"%s\"", text);
	}
	return n > 0 && (size_t)n < len ? (size_t)n : strlen(buf);
}

static void write_devices(const tta_snapshot *snap, const tta_snapshot *periodic, FILE *out)
{
	size_t n = tta_snapshot_device_count(snap), ll;
	char labels[LABEL_MAX + 64];
	struct sink *k = malloc(sizeof *k);
	if (n == 0 || !k) {
		free(k);
		return;
	}
	k->out = out;
	k->n = 0;
	family(out, "tt_alloc_device_used_bytes", "", "gauge",
	       "Bytes in use on the device, by memory type, summed over live processes");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		ll = device_labels(d, periodic, labels, sizeof labels);
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			sample_i64(k, "tt_alloc_device_used_bytes", labels, ll, tta_mem_type_name(t),
				   d->used[t]);
	}
	sink_flush(k);
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
			ll = device_labels(d, periodic, labels, sizeof labels);
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				if (d->capacity[t] > 0)
					sample(k, "tt_alloc_device_capacity_bytes", labels, ll,
					       tta_mem_type_name(t), d->capacity[t], false);
		}
		sink_flush(k);
	}
	family(out, "tt_alloc_device_buffers", "", "gauge",
	       "Live allocations on the device (kernel binaries are counted in bytes only)");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		ll = device_labels(d, periodic, labels, sizeof labels);
		sample_i64(k, "tt_alloc_device_buffers", labels, ll, NULL, d->buffers);
	}
	sink_flush(k);
	family(out, "tt_alloc_device_processes", "", "gauge",
	       "Live processes that reported on the device");
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		ll = device_labels(d, periodic, labels, sizeof labels);
		sample(k, "tt_alloc_device_processes", labels, ll, NULL, d->processes, false);
	}
	sink_flush(k);
	free(k);
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

/* `device="D",pid="P",process="NAME"` of one row; returns the length. */
static size_t process_labels(const struct tta_process_row *r, char *buf, size_t len)
{
	char name[LABEL_MAX], num[24];
	label_text(r->proc.comm, sizeof r->proc.comm, name, sizeof name);
	size_t n = 0;
#define APPEND(s, l)                                \
	do {                                        \
		size_t l_ = (l);                    \
		if (n + l_ < len) {                 \
			memcpy(buf + n, (s), l_);   \
			n += l_;                    \
		}                                   \
	} while (0)
	APPEND("device=\"", 8);
	int w = snprintf(num, sizeof num, "%" PRIu32, r->device);
	APPEND(num, (size_t)w);
	APPEND("\",pid=\"", 7);
	w = snprintf(num, sizeof num, "%" PRId32, r->proc.pid);
	APPEND(num, (size_t)w);
	APPEND("\",process=\"", 11);
	APPEND(name, strlen(name));
	APPEND("\"", 1);
#undef APPEND
	buf[n] = '\0';
	return n;
}

/* A process's series of one type appear once it used that type and stay
 * until it exits (its peak never goes back to zero): seven series per
 * process and device would be mostly zeros, and a series that came and went
 * with each allocation would leave gaps instead of zeros in graphs. */
static bool type_shown(const struct tta_process_row *r, unsigned t)
{
	return r->peak[t] != 0 || r->used[t] != 0;
}

enum process_family { PF_USED, PF_PEAK, PF_BUFFERS };

static void write_process_family(const tta_snapshot *snap, enum process_family f, FILE *out)
{
	static const char *const names[] = { "tt_alloc_process_used_bytes",
					     "tt_alloc_process_peak_bytes", "tt_alloc_process_buffers" };
	char labels[LABEL_MAX + 64];
	struct sink *k = malloc(sizeof *k);
	if (!k)
		return;
	k->out = out;
	k->n = 0;
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		const struct tta_process_row *r = tta_snapshot_process(snap, i);
		if (r->device == TTA_NO_DEVICE)
			continue;
		size_t ll = process_labels(r, labels, sizeof labels);
		if (f == PF_BUFFERS) {
			sample_i64(k, names[f], labels, ll, NULL, r->buffers);
			continue;
		}
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			if (type_shown(r, t))
				sample_i64(k, names[f], labels, ll, tta_mem_type_name(t),
					   f == PF_USED ? r->used[t] : r->peak[t]);
	}
	sink_flush(k);
	free(k);
}

static void write_processes(const tta_snapshot *snap, FILE *out)
{
	size_t n = tta_snapshot_process_count(snap), rows = 0;
	for (size_t i = 0; i < n; i++)
		rows += tta_snapshot_process(snap, i)->device != TTA_NO_DEVICE;
	if (rows == 0)
		return;
	/* A process that has reported on no device yet has nothing to show; its
	 * series vanish with it (the snapshot lists live slots only). */
	family(out, "tt_alloc_process_used_bytes", "", "gauge",
	       "Bytes in use by one process on one device, by memory type");
	write_process_family(snap, PF_USED, out);
	family(out, "tt_alloc_process_peak_bytes", "", "gauge",
	       "Highest use of one process on one device since it attached, by memory type");
	write_process_family(snap, PF_PEAK, out);
	family(out, "tt_alloc_process_buffers", "", "gauge",
	       "Live allocations of one process on one device");
	write_process_family(snap, PF_BUFFERS, out);
}

/* ------------------------------------------------------------------------ */
/* Tags                                                                      */

/* The longest tag read (the library keeps TTA_TAG_MAX_LEN bytes; a hostile
 * segment is cut here), and its label text: each byte escaped at most
 * twice over. */
#define TAG_READ_MAX 64
#define TAG_LABEL_MAX (4 * TAG_READ_MAX + 8)

struct tag_sum {
	char label[TAG_LABEL_MAX]; /* escaped, without quotes */
	int64_t used[TTA_MEM_TYPES];
	int64_t total;             /* all types: the rank */
};

/* Sums of untrusted figures wrap rather than overflow (the text of a
 * corrupt segment is garbage, never undefined behaviour). */
static int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static void tag_sum_add(struct tag_sum *to, const int64_t *used)
{
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++) {
		to->used[t] = add_wrap(to->used[t], used[t]);
		to->total = add_wrap(to->total, used[t]);
	}
}

static int cmp_tag_label(const void *a, const void *b)
{
	return strcmp(((const struct tag_sum *)a)->label, ((const struct tag_sum *)b)->label);
}

static int cmp_tag_rank(const void *a, const void *b)
{
	const struct tag_sum *x = a, *y = b;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->label, y->label);
}

/* The series of one tag: one per memory type it holds. A type the tag does
 * not use has no series (the sum over tags still equals the device's). */
static void tag_samples(struct sink *k, uint32_t device, const struct tag_sum *t, bool *header,
			FILE *out)
{
	char labels[TAG_LABEL_MAX + 48];
	int n = snprintf(labels, sizeof labels, "device=\"%" PRIu32 "\",tag=\"%s\"", device,
			 t->label);
	size_t ll = n > 0 && (size_t)n < sizeof labels ? (size_t)n : strlen(labels);
	for (unsigned type = 0; type < TTA_MEM_TYPES; type++) {
		if (t->used[type] == 0)
			continue;
		family_once(header, out, "tt_alloc_tag_used_bytes", "", "gauge",
			    "Bytes in use on the device under one tag (tta_set_tag), by memory "
			    "type, from the live buffer records; the largest tags of each device, "
			    "the rest summed into tag=\"(other)\"");
		sample_i64(k, "tt_alloc_tag_used_bytes", labels, ll, tta_mem_type_name(type),
			   t->used[type]);
	}
}

/* The tag rows ROWS[0..N) of one device: rows whose label texts are equal
 * (a writer's "(untagged)", two tags that sanitise alike) are one series;
 * the MAX largest keep theirs, the rest and the library's own "(other)" go
 * into "(other)". Returns false if out of memory. */
static bool write_device_tags(const tta_snapshot *snap, size_t first, size_t n, unsigned max,
			      struct sink *k, bool *header, FILE *out)
{
	struct tag_sum *sums = calloc(n, sizeof *sums), other;
	if (!sums)
		return false;
	uint32_t device = tta_snapshot_tag(snap, first)->device;
	for (size_t i = 0; i < n; i++) {
		const struct tta_tag_row *r = tta_snapshot_tag(snap, first + i);
		if (r->tag)
			label_text(r->tag, TAG_READ_MAX, sums[i].label, sizeof sums[i].label);
		else
			snprintf(sums[i].label, sizeof sums[i].label, "%s", TTE_TAG_UNTAGGED);
		tag_sum_add(&sums[i], r->used);
	}
	qsort(sums, n, sizeof *sums, cmp_tag_label);
	memset(&other, 0, sizeof other);
	snprintf(other.label, sizeof other.label, "%s", TTE_TAG_OTHER);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(sums[i].label, TTE_TAG_OTHER))
			tag_sum_add(&other, sums[i].used);
		else if (kept > 0 && !strcmp(sums[kept - 1].label, sums[i].label))
			tag_sum_add(&sums[kept - 1], sums[i].used);
		else
			sums[kept++] = sums[i];
	}
	qsort(sums, kept, sizeof *sums, cmp_tag_rank);
	for (size_t i = max; i < kept; i++)
		tag_sum_add(&other, sums[i].used);
	for (size_t i = 0; i < kept && i < max; i++)
		tag_samples(k, device, &sums[i], header, out);
	tag_samples(k, device, &other, header, out);
	free(sums);
	return true;
}

static void write_tags(const tta_snapshot *snap, unsigned max, FILE *out)
{
	size_t n = tta_snapshot_tag_count(snap);
	struct sink *k = malloc(sizeof *k);
	bool header = false;
	if (!k)
		return;
	k->out = out;
	k->n = 0;
	/* The rows come sorted by device: one run per device. */
	for (size_t i = 0, j; i < n; i = j) {
		uint32_t device = tta_snapshot_tag(snap, i)->device;
		for (j = i + 1; j < n && tta_snapshot_tag(snap, j)->device == device; j++)
			;
		if (!write_device_tags(snap, i, j - i, max, k, &header, out))
			break;
		sink_flush(k);
	}
	sink_flush(k);
	free(k);
}

/* ------------------------------------------------------------------------ */
/* What the sources beside the segment say (<tt-alloc/sources.h>)            */

/* How a telemetry unit of the library's field table reads in Prometheus'
 * base units. A unit not listed here is not exported rather than
 * mislabelled. */
static const struct {
	const char *unit, *suffix, *type;
	double factor;
} units[] = {
	{ "celsius", "_celsius", "gauge", 1 },
	{ "watts", "_watts", "gauge", 1 },
	{ "millivolts", "_volts", "gauge", 1e-3 },
	{ "milliamperes", "_amperes", "gauge", 1e-3 },
	{ "megahertz", "_hertz", "gauge", 1e6 },
	{ "rpm", "_rpm", "gauge", 1 },
	{ "count", "_total", "counter", 1 },
};

static bool label_name_ok(const char *s)
{
	if (!s[0] || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* tt_alloc_device_<base><suffix> of a NUMBER field: its JSON name without
 * the unit word ("temperature_max_c" -> "temperature_max"). */
static bool telemetry_metric(const struct tta_telemetry_field *f, char *name, size_t len,
			     unsigned *unit)
{
	for (*unit = 0; *unit < sizeof units / sizeof units[0]; (*unit)++)
		if (!strcmp(f->unit, units[*unit].unit))
			break;
	if (*unit == sizeof units / sizeof units[0] || !label_name_ok(f->name))
		return false;
	size_t base = strlen(f->name);
	const char *us = strrchr(f->name, '_');
	if (strcmp(f->unit, "count") != 0 && us)
		base = (size_t)(us - f->name);
	snprintf(name, len, "tt_alloc_device_%.*s%s", (int)base, f->name, units[*unit].suffix);
	return true;
}

static void write_telemetry(const tta_snapshot *ps, FILE *out)
{
	size_t n = tta_snapshot_device_count(ps);
	char name[128], text[LABEL_MAX];
	/* Identity: every text field but the sensors' own labels. */
	bool any = false;
	for (size_t i = 0; i < n && !any; i++)
		any = tta_snapshot_device_telemetry(ps, i) != NULL;
	if (!any)
		return;
	family(out, "tt_alloc_device_info", "", "gauge",
	       "Always 1; the labels identify the device as the tt-kmd driver describes it");
	for (size_t i = 0; i < n; i++) {
		const tta_telemetry *t = tta_snapshot_device_telemetry(ps, i);
		if (!t)
			continue;
		fprintf(out, "tt_alloc_device_info{device=\"%" PRIu32 "\"", tta_snapshot_device(ps, i)->id);
		for (unsigned id = 0; id < tta_telemetry_field_count(); id++) {
			const struct tta_telemetry_field *f = tta_telemetry_field(id);
			const char *value;
			size_t nl = strlen(f->name);
			if (f->kind != TTA_TELEMETRY_TEXT || !label_name_ok(f->name) ||
			    (nl > 6 && !strcmp(f->name + nl - 6, "_label")) ||
			    !tta_telemetry_get(t, id, NULL, &value))
				continue;
			label_text(value, 256, text, sizeof text);
			fprintf(out, ",%s=\"%s\"", f->name, text);
		}
		fputs("} 1\n", out);
	}
	/* Readings: one family per number field of the library's table. */
	for (unsigned id = 0; id < tta_telemetry_field_count(); id++) {
		const struct tta_telemetry_field *f = tta_telemetry_field(id);
		unsigned u;
		if (f->kind != TTA_TELEMETRY_NUMBER || f->divisor <= 0 ||
		    !telemetry_metric(f, name, sizeof name, &u))
			continue;
		bool header = false;
		for (size_t i = 0; i < n; i++) {
			int64_t raw;
			if (!tta_telemetry_get(tta_snapshot_device_telemetry(ps, i), id, &raw, NULL))
				continue;
			family_once(&header, out, name, "", units[u].type, f->help);
			fprintf(out, "%s{device=\"%" PRIu32 "\"} %.10g\n", name,
				tta_snapshot_device(ps, i)->id,
				(double)raw / (double)f->divisor * units[u].factor);
		}
	}
}

/* The kernel's view and TT-Metal's own segments, beside tt-alloc's. */
static void write_device_sources(const tta_snapshot *ps, FILE *out)
{
	size_t n = tta_snapshot_device_count(ps);
	static const unsigned metal_types[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL,
						TTA_MEM_TRACE, TTA_MEM_CB };
	bool header = false;
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(ps, i);
		if (!ds || !ds->in_sysfs || ds->open_files < 0)
			continue;
		family_once(&header, out, "tt_alloc_device_untracked_processes", "", "gauge",
			    "Processes that hold the device open (tt-kmd's pid list) and report "
			    "through neither tt-alloc nor TT-Metal's own segment");
		fprintf(out, "tt_alloc_device_untracked_processes{device=\"%" PRIu32 "\"} %" PRIu32 "\n",
			tta_snapshot_device(ps, i)->id, ds->untracked);
	}
	header = false;
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(ps, i);
		if (!ds || ds->tt_metal_segments == 0)
			continue;
		family_once(&header, out, "tt_alloc_device_tt_metal_used_bytes", "", "gauge",
			    "Bytes TT-Metal's own segment counts on the device for processes that do "
			    "not report through tt-alloc (shown beside tt_alloc_device_used_bytes, "
			    "never added into it)");
		for (size_t k = 0; k < sizeof metal_types / sizeof metal_types[0]; k++)
			fprintf(out, "tt_alloc_device_tt_metal_used_bytes{device=\"%" PRIu32
				"\",type=\"%s\"} %" PRId64 "\n", tta_snapshot_device(ps, i)->id,
				tta_mem_type_name(metal_types[k]), ds->tt_metal_used[metal_types[k]]);
	}
	header = false;
	for (size_t i = 0; i < n; i++) {
		const struct tta_device_sources *ds = tta_snapshot_device_sources(ps, i);
		if (!ds || ds->tt_metal_segments == 0)
			continue;
		family_once(&header, out, "tt_alloc_device_tt_metal_processes", "", "gauge",
			    "Processes TT-Metal's own segment lists on the device (tt-alloc's not "
			    "counted twice)");
		fprintf(out, "tt_alloc_device_tt_metal_processes{device=\"%" PRIu32 "\"} %" PRIu32 "\n",
			tta_snapshot_device(ps, i)->id, ds->tt_metal_processes);
	}
}

static void write_sources(const tta_snapshot *ps, FILE *out)
{
	const struct tta_sources_info *si = tta_snapshot_sources(ps);
	if (!si)
		return;
	family(out, "tt_alloc_sources_driver", "", "gauge",
	       "1 if the tt-kmd driver's sysfs class is present (telemetry can be read)");
	fprintf(out, "tt_alloc_sources_driver %d\n", si->driver ? 1 : 0);
	family(out, "tt_alloc_sources_tt_metal_segments", "", "gauge",
	       "TT-Metal's own /dev/shm/tt_device_*_memory segments found, read or skipped");
	fprintf(out, "tt_alloc_sources_tt_metal_segments{state=\"read\"} %" PRIu32 "\n"
		"tt_alloc_sources_tt_metal_segments{state=\"skipped\"} %" PRIu32 "\n",
		si->tt_metal_segments - si->tt_metal_skipped, si->tt_metal_skipped);
	write_telemetry(ps, out);
	write_device_sources(ps, out);
}

void tte_metrics_write(const tta_snapshot *snap, const struct tte_metrics_options *opt, FILE *out)
{
	write_exporter(snap, opt, out);
	if (opt->periodic)
		write_sources(opt->periodic, out);
	if (!snap)
		return;
	write_segment(snap, out);
	write_counters(snap, opt, out);
	write_devices(snap, opt->periodic, out);
	if (opt->per_process)
		write_processes(snap, out);
	if (opt->max_tags > 0)
		write_tags(snap, opt->max_tags, out);
}
