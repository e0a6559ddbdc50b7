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

#include "views.h"

/* A cleaned segment name: 255 bytes at most, each kept or turned into '?'. */
#define SEGMENT_NAME_TEXT 320
/* Cleaned tags and call-site frames: the library's bounds, with room for
 * multi-byte characters. */
#define TAG_TEXT 128
#define SITE_FRAME_TEXT 640

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
 * boundary if longer), left- or right-aligned; WIDTH 0 is a last column:
 * the whole text, unpadded. */
static void cell(struct row *r, const char *text, int width, bool left)
{
	if (width == 0) {
		if (r->cells++)
			fputs("  ", r->out);
		fputs(text, r->out);
		return;
	}
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

void smi_render_header(const tta_snapshot *snap, const char *version, FILE *out)
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

/* Column widths of the buffer table, shared by its header and rows. */
enum { W_DEVICE = 6, W_BYTES = 9, W_PID = 8, W_TYPE = 20, W_ADDRESS = 18, W_AGE = 9,
       W_COUNT = 8, W_TAG = 16, W_TYPE_COL = 8 };

/* Labels of buffers without a tag or a recorded call site. */
#define NO_TAG "(untagged)"
#define NO_SITE "(no call site: run with TT_ALLOC_STACK_TRACE=1)"

/* The first frame of SITE (frames are '\n'-separated), cleaned, into BUF. */
static const char *first_frame(const char *site, char *buf, size_t len)
{
	size_t n = strcspn(site, "\n");
	clean_text(site, n, buf, len);
	return buf;
}


/* The main view (views.c) at unlimited width: what plain `tt-smi` prints. */
void smi_render_text(const tta_snapshot *snap, const char *version, FILE *out)
{
	struct smi_view v = { .snap = snap, .version = version, .width = SMI_UNLIMITED };
	smi_view_main(&v, out);
}

void smi_render_buffers_text(const tta_snapshot *snap, const char *version,
			     FILE *out)
{
	smi_render_header(snap, version, out);
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
	/* Tag and Site columns only when someone set a tag or recorded sites. */
	bool tags = false, sites = false;
	for (size_t i = 0; i < tta_snapshot_buffer_count(snap); i++) {
		tags = tags || tta_snapshot_buffer(snap, i)->tag != NULL;
		sites = sites || tta_snapshot_buffer(snap, i)->site != NULL;
	}
	cell(&r, "PID", W_PID, true);
	cell(&r, "Device", W_DEVICE, false);
	cell(&r, "Type", W_TYPE, true);
	cell(&r, "Address", W_ADDRESS, false);
	cell(&r, "Size", W_BYTES, false);
	cell(&r, "Age", W_AGE, false);
	if (tags || sites)
		cell(&r, "Tag", sites ? W_TAG : 0, true);
	if (sites)
		cell(&r, "Site", 0, true);
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
		if (tags || sites) {
			char tag[TAG_TEXT];
			clean_text(b->tag ? b->tag : "-", TAG_TEXT, tag, sizeof tag);
			cell(&r, tag, sites ? W_TAG : 0, true);
		}
		if (sites) {
			char frame[SITE_FRAME_TEXT];
			cell(&r, b->site ? first_frame(b->site, frame, sizeof frame) : "-", 0, true);
		}
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
/* Buffers grouped by tag and/or call site                                   */

struct group {
	const char *tag, *site; /* the snapshot's strings: equal texts, one pointer */
	int64_t used[TTA_MEM_TYPES];
	int64_t buffers;
};

struct group_key {
	bool by_tag, by_site;
};

static int64_t group_total(const struct group *g)
{
	uint64_t sum = 0;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		sum += (uint64_t)g->used[t];
	return (int64_t)sum;
}

static int cmp_text(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (a == NULL || b == NULL)
		return a == NULL ? 1 : -1; /* no tag / no site last */
	return strcmp(a, b);
}

static int cmp_groups(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;
	int64_t ta = group_total(a), tb = group_total(b);
	if (ta != tb)
		return ta > tb ? -1 : 1;
	int c = cmp_text(a->tag, b->tag);
	return c ? c : cmp_text(a->site, b->site);
}

static int cmp_by_key(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;
	int c = cmp_text(a->tag, b->tag);
	return c ? c : cmp_text(a->site, b->site);
}

/* The snapshot's buffers summed per key, largest first. Returns the count;
 * *OUT is malloc'd (NULL and 0 when there is nothing or no memory). */
static size_t collect_groups(const tta_snapshot *snap, struct group_key key, struct group **out)
{
	size_t n = tta_snapshot_buffer_count(snap);
	*out = NULL;
	struct group *g = n ? calloc(n, sizeof *g) : NULL;
	if (g == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(snap, i);
		g[i].tag = key.by_tag ? b->tag : NULL;
		g[i].site = key.by_site ? b->site : NULL;
		if (b->type < TTA_MEM_TYPES)
			g[i].used[b->type] = b->size > INT64_MAX ? INT64_MAX : (int64_t)b->size;
		g[i].buffers = b->type != TTA_MEM_KERNEL; /* one definition of a buffer */
	}
	qsort(g, n, sizeof *g, cmp_by_key);
	size_t groups = 0;
	for (size_t i = 0; i < n; i++) {
		if (groups > 0 && cmp_by_key(&g[groups - 1], &g[i]) == 0) {
			struct group *into = &g[groups - 1];
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				into->used[t] = (int64_t)((uint64_t)into->used[t] + (uint64_t)g[i].used[t]);
			into->buffers += g[i].buffers;
		} else {
			g[groups++] = g[i];
		}
	}
	qsort(g, groups, sizeof *g, cmp_groups);
	*out = g;
	return groups;
}

void smi_render_groups(const tta_snapshot *snap, bool by_tag, bool by_site, FILE *out)
{
	struct group *g;
	struct group_key key = { .by_tag = by_tag, .by_site = by_site };
	size_t n = collect_groups(snap, key, &g);
	fprintf(out, "Buffers by %s, largest first:\n",
		by_tag && by_site ? "tag and call site" : by_tag ? "tag" : "call site");
	if (n == 0) {
		fprintf(out, "  No buffers found\n");
		free(g);
		return;
	}
	/* A column per memory type in use, in tt-smi's order. */
	struct group total = { 0 };
	for (size_t i = 0; i < n; i++) {
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			total.used[t] = (int64_t)((uint64_t)total.used[t] + (uint64_t)g[i].used[t]);
		total.buffers += g[i].buffers;
	}
	struct row r = { out, 0 };
	char label[16];
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++) {
		if (total.used[display_order[i]] == 0)
			continue;
		type_label(display_order[i], label, sizeof label);
		cell(&r, label, W_TYPE_COL, false);
	}
	cell(&r, "Total", W_BYTES, false);
	cell(&r, "Buffers", W_COUNT, false);
	/* The last column is not padded. */
	int tag_width = by_site ? W_TAG : 0;
	if (by_tag)
		cell(&r, "Tag", tag_width, true);
	if (by_site)
		cell(&r, "Call site (innermost frame first)", 0, true);
	row_end(&r);
	/* Where continuation frames start: under the site column. */
	int indent = 0;
	for (unsigned i = 0; i < TTA_MEM_TYPES; i++)
		indent += total.used[display_order[i]] != 0 ? W_TYPE_COL + 2 : 0;
	indent += W_BYTES + 2 + W_COUNT + 2 + (by_tag ? W_TAG + 2 : 0);
	for (size_t k = 0; k <= n; k++) {
		const struct group *x = k < n ? &g[k] : &total;
		if (k == n)
			fprintf(out, "\n");
		for (unsigned i = 0; i < TTA_MEM_TYPES; i++)
			if (total.used[display_order[i]] != 0)
				cell_bytes(&r, x->used[display_order[i]], W_TYPE_COL);
		cell_bytes(&r, group_total(x), W_BYTES);
		cell_i64(&r, x->buffers, W_COUNT);
		if (k == n) {
			cell(&r, "total", 0, true);
			row_end(&r);
			break;
		}
		if (by_tag) {
			char tag[TAG_TEXT];
			clean_text(x->tag ? x->tag : NO_TAG, TAG_TEXT, tag, sizeof tag);
			cell(&r, tag, tag_width, true);
		}
		if (by_site) {
			char frame[SITE_FRAME_TEXT];
			const char *site = x->site ? x->site : NO_SITE;
			cell(&r, first_frame(site, frame, sizeof frame), 0, true);
			row_end(&r);
			for (const char *next = strchr(site, '\n'); next; next = strchr(next + 1, '\n')) {
				fprintf(out, "%*s< %s\n", indent, "",
					first_frame(next + 1, frame, sizeof frame));
			}
		} else {
			row_end(&r);
		}
	}
	free(g);
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
