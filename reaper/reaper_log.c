/*
 * reaper_log.c - event lines and leak reports of tt-alloc-reaper.
 *
 * Contract: every event is one line written with a single write(2) to
 * stderr, so lines of concurrent writers (and the journal) never interleave
 * mid-line. When stderr is the systemd journal (JOURNAL_STREAM names it) each
 * line carries an sd-daemon "<N>" priority prefix instead of a word, and no
 * timestamp is added either way: the journal (or the caller) stamps lines.
 * Strings copied out of the segment are sanitized first: the segment is
 * writable by every tracked process and must not be able to forge log lines.
 * Main thread only.
 */
#include "reaper.h"
#include "tt-alloc/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tta_sites.h"

static bool log_to_journal;
static int log_max_level = RLOG_INFO;

void reaper_log_init(int verbose)
{
	log_max_level = verbose > 0 ? RLOG_DEBUG : RLOG_INFO;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
		log_to_journal = (unsigned long long)st.st_dev == dev &&
				 (unsigned long long)st.st_ino == ino;
}

bool reaper_log_enabled(enum reaper_level level)
{
	return (int)level <= log_max_level;
}

static void write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stderr gone: nothing better to do than drop it */
		p += n;
		len -= (size_t)n;
	}
}

static int level_prefix(enum reaper_level level, char *buf, size_t len)
{
	if (log_to_journal)
		return snprintf(buf, len, "<%d>", (int)level);
	switch (level) {
	case RLOG_ERR: /* like every tool's errors: the program name first */
		return snprintf(buf, len, REAPER_NAME ": ");
	case RLOG_WARN:
		return snprintf(buf, len, REAPER_NAME ": warning: ");
	case RLOG_DEBUG:
		return snprintf(buf, len, "debug: ");
	default:
		buf[0] = '\0';
		return 0;
	}
}

void reaper_log(enum reaper_level level, const char *fmt, ...)
{
	if (!reaper_log_enabled(level))
		return;
	char line[2048];
	int n = level_prefix(level, line, sizeof line);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	write_all(line, len);
}

void reaper_log_block(enum reaper_level level, const char *text, size_t len)
{
	if (!reaper_log_enabled(level) || len == 0)
		return;
	if (!log_to_journal) {
		write_all(text, len);
		return;
	}
	/* The journal needs the priority on every line; build the whole block
	 * and write it once, so a report is never torn. */
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	size_t cap = len + lines * 8 + 1;
	char *buf = malloc(cap);
	if (!buf) {
		write_all(text, len);
		return;
	}
	size_t o = 0;
	bool at_start = true;
	for (size_t i = 0; i < len; i++) {
		if (at_start) {
			o += (size_t)snprintf(buf + o, cap - o, "<%d>", (int)level);
			at_start = false;
		}
		buf[o++] = text[i];
		if (text[i] == '\n')
			at_start = true;
	}
	write_all(buf, o);
	free(buf);
}

const char *reaper_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	char human[32];
	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 " byte%s", bytes, bytes == 1 ? "" : "s");
		return buf;
	}
	tta_format_bytes(bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, human, sizeof human);
	snprintf(buf, len, "%s (%" PRIu64 " bytes)", human, bytes);
	return buf;
}

/* Counters are modulo 2^64 by design: a value with the top bit set is a
 * mis-accounting and is shown negative instead of as 16 EiB. */
static const char *fmt_counter_bytes(uint64_t v, char *buf, size_t len)
{
	if (v > (uint64_t)INT64_MAX) {
		snprintf(buf, len, "%" PRId64 " bytes (negative: mis-accounted)", (int64_t)v);
		return buf;
	}
	return reaper_fmt_bytes(v, buf, len);
}

const char *reaper_sanitize(const char *src, size_t len, char *dst, size_t dstlen)
{
	tta_sanitize_text(src, len, dst, dstlen);
	return dst;
}

static const char *type_name(unsigned type, char *buf, size_t len)
{
	const char *name = tta_mem_type_name(type);
	if (name)
		return name;
	snprintf(buf, len, "type%u", type);
	return buf;
}

static int by_device_then_address(const void *a, const void *b)
{
	const struct tta_record *x = a, *y = b;
	if (x->device != y->device)
		return x->device < y->device ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}

static uint64_t origin_bytes(const struct tta_reap_origin *o)
{
	uint64_t sum = 0;
	for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		sum += o->bytes[t];
	return sum;
}

static int by_bytes_then_buffers(const void *a, const void *b)
{
	const struct tta_reap_origin *x = a, *y = b;
	uint64_t bx = origin_bytes(x), by = origin_bytes(y);
	if (bx != by)
		return bx > by ? -1 : 1;
	if (x->buffers != y->buffers)
		return x->buffers > y->buffers ? -1 : 1;
	return ((uint32_t)x->tag << 16 | x->site) < ((uint32_t)y->tag << 16 | y->site) ? -1 : 1;
}

/* "leak pid N:   3 buffers, 3.0MiB (3145728 bytes) of dram, tag weights,
 * from FRAME < FRAME": one line per (tag, site), largest first, capped. Names
 * come from the copy of the dead process's block and are sanitised. */
/* Only worth a section when something is tagged or has a site. */
static bool any_origin_named(const struct tta_reap_report *r)
{
	for (uint32_t i = 0; i < r->origin_count; i++)
		if (r->origins[i].tag != 0 || r->origins[i].site != 0)
			return true;
	return false;
}

static void format_origins(FILE *out, const struct tta_reap_report *r, int32_t pid)
{
	if (r->origins == NULL || !any_origin_named(r))
		return;
	uint32_t n = r->origin_count;
	struct tta_reap_origin *sorted = malloc((size_t)n * sizeof *sorted);
	if (sorted == NULL)
		return;
	memcpy(sorted, r->origins, (size_t)n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, by_bytes_then_buffers);
	uint32_t shown = n;
	if (shown > REAPER_MAX_ORIGINS)
		shown = REAPER_MAX_ORIGINS;
	fprintf(out, "leak pid %" PRId32 ": by call site and tag, largest first:\n", pid);
	for (uint32_t i = 0; i < shown; i++) {
		const struct tta_reap_origin *o = &sorted[i];
		char b1[64], b2[16], raw_tag[TTA_TAG_NAME_BYTES];
		fprintf(out, "leak pid %" PRId32 ":   %" PRIu64 " buffer%s, %s", pid, o->buffers,
			o->buffers == 1 ? "" : "s", reaper_fmt_bytes(origin_bytes(o), b1, sizeof b1));
		/* "of dram", or "of dram 8.0MiB + l1 64KiB" when types mix. */
		unsigned types = 0;
		for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			types += o->bytes[t] != 0;
		const char *sep = " of ";
		for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
			if (o->bytes[t] == 0)
				continue;
			char human[32] = "";
			if (types > 1)
				tta_format_bytes(o->bytes[t] > INT64_MAX ? INT64_MAX
									 : (int64_t)o->bytes[t],
						 human, sizeof human);
			fprintf(out, "%s%s%s%s", sep, type_name(t, b2, sizeof b2), types > 1 ? " " : "",
				human);
			sep = " + ";
		}
		const char *name = tta_sites_tag(r->sites, r->owner, o->tag, raw_tag, sizeof raw_tag);
		if (name != NULL) {
			char tag[TTA_TAG_NAME_BYTES * 4];
			fprintf(out, ", tag %s",
				reaper_sanitize(name, TTA_TAG_NAME_BYTES, tag, sizeof tag));
		} else {
			fprintf(out, ", untagged");
		}
		if (o->site != 0) {
			char site[TTA_SITE_FRAMES * TTA_FRAME_TEXT_MAX];
			tta_sites_site(r->sites, r->owner, o->site, site, sizeof site);
			fprintf(out, ", from ");
			/* Frames on one line, innermost first, each sanitised. */
			char *frame = site, *next;
			for (int f = 0; frame != NULL; f++, frame = next) {
				next = strchr(frame, '\n');
				if (next != NULL)
					*next++ = '\0';
				char clean[TTA_FRAME_TEXT_MAX * 4];
				reaper_sanitize(frame, TTA_FRAME_TEXT_MAX, clean, sizeof clean);
				fprintf(out, "%s%s", f ? " < " : "", clean);
			}
		}
		fputc('\n', out);
	}
	if (n > shown) {
		uint64_t buffers = 0, bytes = 0;
		for (uint32_t i = shown; i < n; i++) {
			buffers += sorted[i].buffers;
			bytes += origin_bytes(&sorted[i]);
		}
		char b1[64];
		fprintf(out, "leak pid %" PRId32 ":   ... and %" PRIu32 " more call site%s and tag%s: %"
			     PRIu64 " buffer%s, %s\n",
			pid, n - shown, n - shown == 1 ? "" : "s", n - shown == 1 ? "" : "s", buffers,
			buffers == 1 ? "" : "s", reaper_fmt_bytes(bytes, b1, sizeof b1));
	}
	free(sorted);
}

void reaper_format_leak(FILE *out, const struct tta_reap_report *r, uint32_t device_capacity,
			uint32_t max_listed, uint64_t now_mono_ns)
{
	char comm[sizeof r->comm + 1], cmdline[sizeof r->cmdline + 1], b1[64], b2[64];
	reaper_sanitize(r->comm, sizeof r->comm, comm, sizeof comm);
	reaper_sanitize(r->cmdline, sizeof r->cmdline, cmdline, sizeof cmdline);
	int32_t pid = r->pid;

	/* The report's device count is the capacity the core validated; bound it
	 * by ours anyway so a bad report cannot walk off the copy. */
	/* "Buffers" are allocations with a free event (every type but kernel
	 * binaries), in the header and per device alike, so the per-device
	 * counts add up to the header's; kernel binaries are reported apart. */
	uint32_t devices = r->used ? r->devices : 0;
	if (devices > device_capacity)
		devices = device_capacity;
	uint32_t devices_used = 0;
	for (uint32_t d = 0; d < devices; d++) {
		const struct tta_counter_line *c = &r->used[d];
		bool any = c->buffers != 0;
		for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			any = any || (t != TTA_LAYOUT_KERNEL && c->bytes[t] != 0);
		devices_used += any;
	}

	fprintf(out, "leak report: pid %" PRId32 " (%s) uid %" PRIu32 " slot %" PRIu32
		     ": left %" PRIu64 " buffer%s, %s on %" PRIu32 " device%s",
		pid, comm, r->uid, r->slot, r->buffers, r->buffers == 1 ? "" : "s",
		fmt_counter_bytes(r->bytes, b1, sizeof b1), devices_used,
		devices_used == 1 ? "" : "s");
	if (r->kernel_records != 0 || r->kernel_bytes != 0)
		fprintf(out, "; %" PRIu64 " kernel binar%s, %s (no free event, not a leak)",
			r->kernel_records, r->kernel_records == 1 ? "y" : "ies",
			fmt_counter_bytes(r->kernel_bytes, b1, sizeof b1));
	fprintf(out, "; cmdline: %s\n", cmdline[0] ? cmdline : "(unknown)");

	for (uint32_t d = 0; d < devices; d++) {
		const struct tta_counter_line *c = &r->used[d];
		uint64_t kernels = r->kernels ? r->kernels[d] : 0;
		bool any = c->buffers != 0 || kernels != 0;
		for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			any = any || c->bytes[t] != 0;
		if (!any)
			continue;
		fprintf(out, "leak pid %" PRId32 ": device %" PRIu32 ": %" PRIu64 " buffer%s",
			pid, d, c->buffers, c->buffers == 1 ? "" : "s");
		const char *sep = ": ";
		for (unsigned t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
			if (c->bytes[t] == 0 || t == TTA_LAYOUT_KERNEL)
				continue;
			fprintf(out, "%s%s %s", sep, type_name(t, b2, sizeof b2),
				fmt_counter_bytes(c->bytes[t], b1, sizeof b1));
			sep = ", ";
		}
		if (kernels != 0 || c->bytes[TTA_LAYOUT_KERNEL] != 0)
			fprintf(out, "; %" PRIu64 " kernel binar%s, %s", kernels,
				kernels == 1 ? "y" : "ies",
				fmt_counter_bytes(c->bytes[TTA_LAYOUT_KERNEL], b1, sizeof b1));
		fputc('\n', out);
	}

	format_origins(out, r, pid);

	uint32_t listed = r->records ? r->records_listed : 0;
	if (listed > max_listed)
		listed = max_listed;
	/* Sorted, so a reader finds a device's buffers together. */
	struct tta_record *sorted = listed ? malloc((size_t)listed * sizeof *sorted) : NULL;
	if (sorted) {
		memcpy(sorted, r->records, (size_t)listed * sizeof *sorted);
		qsort(sorted, listed, sizeof *sorted, by_device_then_address);
	}
	for (uint32_t i = 0; i < listed; i++) {
		const struct tta_record *rec = sorted ? &sorted[i] : &r->records[i];
		uint64_t age = now_mono_ns > rec->alloc_mono_ns ? now_mono_ns - rec->alloc_mono_ns : 0;
		char tb[16], ab[32];
		fprintf(out, "leak pid %" PRId32 ": buffer on device %u: %s at 0x%" PRIx64
			     ", %s, age %s",
			pid, (unsigned)rec->device, type_name(rec->type, tb, sizeof tb),
			rec->address, reaper_fmt_bytes(rec->size, b1, sizeof b1),
			tta_format_age(age, ab, sizeof ab));
		if (rec->type == TTA_LAYOUT_KERNEL) {
			const char *kind = tta_kernel_kind_name(rec->kernel_kind);
			fprintf(out, " (%s kernel)", kind ? kind : "unknown");
		}
		char raw_tag[TTA_TAG_NAME_BYTES];
		const char *name = tta_sites_tag(r->sites, r->owner, rec->tag, raw_tag, sizeof raw_tag);
		if (name != NULL) {
			char tag[TTA_TAG_NAME_BYTES * 4];
			fprintf(out, ", tag %s", reaper_sanitize(name, TTA_TAG_NAME_BYTES, tag, sizeof tag));
		}
		fputc('\n', out);
	}
	free(sorted);
	if (r->records_found > listed)
		fprintf(out, "leak pid %" PRId32 ": ... and %" PRIu64 " more buffer%s\n", pid,
			r->records_found - listed, r->records_found - listed == 1 ? "" : "s");
	if (r->buffers > r->records_found && r->buffers <= (uint64_t)INT64_MAX)
		fprintf(out, "leak pid %" PRId32 ": %" PRIu64
			     " allocation%s had no buffer record (records ran out)\n",
			pid, r->buffers - r->records_found,
			r->buffers - r->records_found == 1 ? "" : "s");
}
