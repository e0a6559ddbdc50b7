/*
 * fuzz_segment.c - libFuzzer harness: arbitrary bytes as a telemetry segment,
 * read through the public snapshot API (<tt-alloc/reader.h>) and rendered by
 * tt-smi's renderers (smi/render.h), views (smi/views.h: main, process
 * and chart views with the segment's history, at 80 and 60 columns) and the
 * exporter's Prometheus exposition (exporter/metrics.h).
 *
 * What must hold for every input (an abort() here is a finding): no crash,
 * no hang (-timeout), no out-of-bounds access (ASan), no undefined behaviour
 * (UBSan); text output is printable ASCII / valid UTF-8 only, JSON
 * output is one syntactically valid JSON object in valid UTF-8, as
 * smi/render.h promises, and the exposition is valid Prometheus text format
 * 0.0.4 (every line a HELP/TYPE comment or a sample with well-formed,
 * correctly escaped labels and a number; valid UTF-8; no control byte), as
 * exporter/metrics.h promises.
 *
 * Input format. A random file is almost never the exact size its header
 * claims, so it would stop at validation. The first byte picks the mode:
 *   even  raw: the rest of the input is the whole file (validation paths);
 *   odd   structured: byte 1 picks one of GEOMETRIES; the file is a valid
 *         header of that geometry (identity and layout fields, ready flag),
 *         and the rest of the input overwrites the file from byte 192 on
 *         (the header's mutable part, then devices, slots, bitmaps,
 *         counters, chunk owners, records), zeros after it.
 * Byte 2 of a structured input also picks the snapshot's filters. Tags and
 * call sites (the sites region after the core, reached by the inputs of the
 * smallest geometries) are resolved for every buffer, summed into tag rows
 * that must add up to the buffers, and rendered by tt-smi's groupings. tests/fuzz/make_seeds.c writes real
 * segments in both forms as the seed corpus.
 *
 * The same bytes then go through the reap path, since every tracked process
 * can write them and the reaper must survive that: every occupied slot is
 * reaped with tta_reap_slot (as the reaper does once it judged the owner
 * dead) and each leak report is formatted by the reaper's own formatter
 * (reaper/reaper_log.c), whose output must be printable text. Every slot
 * reaped must end up free; then the segment is read once more.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_NAME "fuzz_segment"
#include "fuzz_check.h"
#include "fuzz_geometry.h"
#include "metrics.h"
#include "read_priv.h"
#include "reaper.h"
#include "render.h"
#include "stream.h"
#include "tta_segment.h"
#include "tt-alloc/events.h"
#include "tt-alloc/history.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "tta_layout.h"
#include "tta_sites.h"
#include "views.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char shm_name[64];
static char shm_path[96];

static void remove_segment(void)
{
	if (shm_name[0])
		shm_unlink(shm_name);
}

static bool write_segment(const uint8_t *bytes, size_t len)
{
	int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	bool ok = ftruncate(fd, (off_t)len) == 0;
	size_t done = 0;
	while (ok && done < len) {
		ssize_t n = pwrite(fd, bytes + done, len - done, (off_t)done);
		if (n <= 0)
			ok = false;
		else
			done += (size_t)n;
	}
	close(fd);
	return ok;
}

/* ---- the read side, everything it offers ---- */

static int on_process(const struct tta_process_view *p, uint32_t dev, const int64_t *used,
		      int64_t buffers, void *ctx)
{
	volatile size_t sink = strlen(p->comm) + strlen(p->cmdline) + (size_t)buffers;
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		sink += (size_t)used[t];
	(void)sink;
	(void)dev;
	return ++*(unsigned *)ctx > 100000; /* bounded: stop a runaway walk */
}

static int on_buffer(const struct tta_buffer_view *b, void *ctx)
{
	if (b->type >= TTA_MEM_TYPES)
		abort(); /* the API promises a valid type */
	volatile const char *name = tta_mem_type_name(b->type);
	(void)name;
	/* Names from a hostile block are still terminated and bounded. */
	if ((b->tag != NULL && strlen(b->tag) >= TTA_TAG_NAME_BYTES) ||
	    (b->site != NULL && strlen(b->site) >= TTA_SITE_FRAMES * TTA_FRAME_TEXT_MAX))
		abort();
	return ++*(unsigned *)ctx > 1000000;
}

typedef void (*render_fn)(const tta_snapshot *, FILE *);
static void render_text(const tta_snapshot *s, FILE *f)
{
	smi_render_text(s, "fuzz", f);
}
static void render_buffers_text(const tta_snapshot *s, FILE *f)
{
	smi_render_buffers_text(s, "fuzz", f);
}
static void render_leaks(const tta_snapshot *s, FILE *f)
{
	smi_render_leaks(s, f);
}
static void render_json(const tta_snapshot *s, FILE *f)
{
	smi_render_json(s, "fuzz", f);
}
static void render_by_site(const tta_snapshot *s, FILE *f)
{
	smi_render_groups(s, false, true, f);
}
static void render_by_tag_and_site(const tta_snapshot *s, FILE *f)
{
	smi_render_groups(s, true, true, f);
}

/* The tag rows are the snapshot's buffers summed per (device, tag). */
static void check_tag_rows(const tta_snapshot *snap)
{
	uint64_t rows[4][TTA_MEM_TYPES] = { { 0 } }, bufs[4][TTA_MEM_TYPES] = { { 0 } };
	uint64_t row_count[4] = { 0 }, buf_count[4] = { 0 };
	for (size_t i = 0; i < tta_snapshot_tag_count(snap); i++) {
		const struct tta_tag_row *r = tta_snapshot_tag(snap, i);
		if (r->tag != NULL && strlen(r->tag) >= TTA_TAG_NAME_BYTES)
			abort();
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			rows[r->device % 4][t] += (uint64_t)r->used[t];
		row_count[r->device % 4] += (uint64_t)r->buffers;
	}
	for (size_t i = 0; i < tta_snapshot_buffer_count(snap); i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(snap, i);
		bufs[b->device % 4][b->type] += b->size;
		buf_count[b->device % 4] += b->type != TTA_MEM_KERNEL;
	}
	if (memcmp(rows, bufs, sizeof rows) != 0 || memcmp(row_count, buf_count, sizeof row_count))
		abort();
}

static void render_metrics(const tta_snapshot *s, FILE *f)
{
	/* The snapshot also stands for the background one (exited_processes);
	 * one tag series a device, so the cap and "(other)" are exercised. */
	struct tte_metrics_options opt = { .version = "fuzz", .per_process = true, .max_tags = 1,
					   .periodic = s };
	tte_metrics_write(s, &opt, f);
}
static void render_metrics_devices(const tta_snapshot *s, FILE *f)
{
	struct tte_metrics_options opt = { .version = "fuzz", .per_process = false,
					   .max_tags = TTE_DEFAULT_MAX_TAGS };
	tte_metrics_write(s, &opt, f);
}

static void render_into(const tta_snapshot *snap, render_fn fn, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return;
	fn(snap, f);
	fclose(f);
	if (fn == render_metrics || fn == render_metrics_devices)
		check_exposition(buf, len);
	else if (json)
		check_json(buf, len);
	else
		check_text(buf, len);
	free(buf);
}

/* tt-smi's views at a terminal's sizes (80x24 in UTF-8, 60x24 in ASCII,
 * unlimited) with the segment's history (peaks, charts): whatever the
 * segment holds, text a terminal shows literally. One size per input. */
static void exercise_views(tta_reader *r, const tta_snapshot *snap, uint8_t options)
{
	static const struct {
		unsigned width, height;
		bool utf8;
	} sizes[] = { { 80, 23, true }, { 60, 23, false }, { SMI_UNLIMITED, 0, true } };
	static void (*const views[])(const struct smi_view *, FILE *) = {
		smi_view_main, smi_view_processes, smi_view_charts,
	};
	struct smi_history *h = NULL;
	char err[256];
	if (smi_history_load(r, SMI_PEAK_SECONDS, &h, err, sizeof err) < 0)
		h = NULL;
	size_t k = (size_t)(options >> 5) % (sizeof sizes / sizeof sizes[0]);
	struct smi_view v = { .snap = snap, .history = h, .width = sizes[k].width,
			      .height = sizes[k].height, .utf8 = sizes[k].utf8, .version = "fuzz" };
	for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (f == NULL)
			break;
		views[i](&v, f);
		fclose(f);
		check_text(buf, len);
		free(buf);
	}
	smi_history_free(h);
}

/* ---- history and events ---- */

static void render_history(const tta_history *h)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return;
	tta_history_write_json(h, f);
	fclose(f);
	check_json(buf, len);
	free(buf);
	/* The promises of the API: fixed interval, oldest first, known values
	 * never above the window's peak. */
	for (size_t i = 0; i < tta_history_device_count(h); i++) {
		const struct tta_history_device *d = tta_history_device(h, i);
		for (size_t k = 0; k < d->sample_count; k++) {
			const struct tta_history_sample *s = tta_history_sample(h, i, k);
			if (s == NULL)
				abort();
			if (k > 0 && s->realtime_ns - tta_history_sample(h, i, k - 1)->realtime_ns !=
					     (uint64_t)tta_history_interval_ms(h) * 1000000u)
				abort();
			for (unsigned t = 0; s->known && t < TTA_MEM_TYPES; t++)
				if (s->used[t] > d->peak[t])
					abort();
		}
		if (tta_history_sample(h, i, d->sample_count) != NULL)
			abort();
	}
}

/* The history at the real clock, and at the clock the input's own newest
 * fine sample names (so samples of a seed fall inside the window). */
static void exercise_history(tta_reader *r, uint8_t options)
{
	char err[256];
	tta_history *h = NULL;
	int32_t device = options & 2 ? (int32_t)((options >> 2) & 3) : -1;
	if (device >= (int32_t)tta_reader_device_capacity(r))
		device = -1;
	uint32_t spans[] = { 5, 600, 7200 };
	if (tta_history_take(r, device, spans[options % 3], &h, err, sizeof err) == 0)
		render_history(h);
	else if (err[0] == '\0' || strchr(err, '\n'))
		abort();
	tta_history_free(h);
	struct tta_segment seg;
	if (tta_segment_open(shm_name, 0, NULL, &seg, err, sizeof err) != 0)
		return;
	uint64_t newest = 0;
	for (uint32_t d = 0; d < seg.hist.devices; d++)
		for (uint32_t i = 0; i < seg.hist.fine_count; i++) {
			uint64_t stamp = tta_history_fine_at(&seg, d, i)->stamp;
			if (stamp > newest && stamp < (UINT64_C(1) << 40))
				newest = stamp;
		}
	tta_segment_close(&seg);
	uint64_t mono = (newest / 2 + (options & 3)) * 1000000000ull;
	for (uint32_t span = 4; span <= 600; span *= 150) {
		h = NULL;
		if (tta_history_take_at(r, device, span, mono, mono + 1700000000ull * 1000000000ull, &h,
					err, sizeof err) == 0)
			render_history(h);
		tta_history_free(h);
	}
	/* tt-smi's text view of it. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f != NULL) {
		struct smi_stream_options so = { .filter_device = device, .seconds = 60 };
		smi_run_history(r, &so, f);
		fclose(f);
		check_text(buf, len);
		free(buf);
	}
}

static void exercise_events(tta_reader *r, uint8_t options)
{
	char err[256];
	tta_event_cursor *c = NULL;
	if (tta_events_open(r, options & 1 ? TTA_EVENTS_NOW : TTA_EVENTS_OLDEST, &c, err,
			    sizeof err) != 0) {
		if (err[0] == '\0' || strchr(err, '\n'))
			abort();
		return;
	}
	for (int i = 0; i < 64; i++) {
		const struct tta_event *e = NULL;
		uint64_t missed = 0;
		int got = tta_events_next(c, &e, &missed);
		if (got < 0)
			break;
		if (got == 0) {
			if (missed == 0)
				break;
			continue;
		}
		char line[256];
		tta_event_format(e, line, sizeof line);
		check_text(line, strlen(line));
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (f == NULL)
			break;
		tta_event_write_json(e, f);
		fclose(f);
		if (len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1))
			abort(); /* one line */
		check_json(buf, len - 1);
		free(buf);
	}
	tta_events_close(c);
}

static void exercise(uint8_t options)
{
	tta_reader *r = NULL;
	char err[512];
	if (tta_reader_open(shm_name, &r, err, sizeof err) != 0) {
		/* A refused segment must say why, on one line. */
		if (err[0] == '\0' || strchr(err, '\n'))
			abort();
		return;
	}
	uint32_t cap = tta_reader_device_capacity(r);
	for (uint32_t d = 0; d <= cap; d++) {
		struct tta_device_view v;
		int rc = tta_reader_device(r, d, &v);
		if ((d < cap) != (rc == 0))
			abort();
	}
	unsigned n = 0;
	tta_reader_foreach_process(r, on_process, &n);
	n = 0;
	tta_reader_foreach_buffer(r, NULL, on_buffer, &n);
	struct tta_buffer_filter filter = { .pid = (int32_t)(options >> 4), .device = 0 };
	n = 0;
	tta_reader_foreach_buffer(r, &filter, on_buffer, &n);

	int32_t pid = 0, device = -1;
	if (options & 2)
		device = (int32_t)((options >> 2) & 3);
	if (options & 0x40)
		pid = (int32_t)(options >> 4);
	tta_snapshot *snap = NULL;
	if (tta_snapshot_take(r, pid, device, TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS, &snap, err,
			      sizeof err) == 0) {
		check_tag_rows(snap);
		/* The snapshot's promise: without a pid filter, every device's
		 * totals are exactly the sum of its rows, whatever the bytes. */
		for (size_t i = 0; pid == 0 && i < tta_snapshot_device_count(snap); i++) {
			const struct tta_device_view *d = tta_snapshot_device(snap, i);
			uint64_t sum[TTA_MEM_TYPES] = { 0 }, buffers = 0;
			for (size_t j = 0; j < tta_snapshot_process_count(snap); j++) {
				const struct tta_process_row *row = tta_snapshot_process(snap, j);
				if (row->device != d->id)
					continue;
				for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
					sum[t] += (uint64_t)row->used[t];
				buffers += (uint64_t)row->buffers;
			}
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				if (sum[t] != (uint64_t)d->used[t])
					abort();
			if (buffers != (uint64_t)d->buffers)
				abort();
		}
		for (unsigned c = 0; c < tta_counter_count(); c++)
			(void)tta_snapshot_counter(snap, c);
		render_into(snap, render_text, false);
		render_into(snap, render_buffers_text, false);
		render_into(snap, smi_render_buffer_table, false);
		render_into(snap, render_leaks, false);
		render_into(snap, render_json, true);
		render_into(snap, render_by_site, false);
		render_into(snap, render_by_tag_and_site, false);
		exercise_views(r, snap, options);
		render_into(snap, render_metrics, false);
		render_into(snap, render_metrics_devices, false);
	} else if (err[0] == '\0' || strchr(err, '\n')) {
		abort();
	}
	tta_snapshot_free(snap);
	exercise_history(r, options);
	exercise_events(r, options);
	tta_reader_close(r);
}

/* ---- the reap side ---- */

struct reap_ctx {
	uint32_t device_capacity;
	unsigned reports;
};

static void on_reap_report(const struct tta_reap_report *rep, void *opaque)
{
	struct reap_ctx *ctx = opaque;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return;
	reaper_format_leak(f, rep, ctx->device_capacity, 8, 1000000000ull);
	fclose(f);
	check_text(buf, len);
	free(buf);
	ctx->reports++;
}

static void reap_everything(void)
{
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(shm_name, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) != 0)
		return;
	struct reap_ctx ctx = { .device_capacity = seg.geo.device_capacity };
	for (uint32_t i = 0; i < seg.geo.slot_capacity; i++) {
		uint64_t state = __atomic_load_n(&tta_slot_at(&seg, i)->state, __ATOMIC_ACQUIRE);
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_FREE)
			continue;
		/* REAPING slots are taken over only from a dead reaper: make it so. */
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_REAPING)
			tta_slot_at(&seg, i)->reaper_pid = 0x3ffffffe;
		(void)tta_slot_owner_dead(&seg, i, state);
		int rc = tta_reap_slot(&seg, i, state, 8, on_reap_report, &ctx);
		if (rc != 1 && rc != -ENOMEM)
			abort(); /* nobody else touches this file: the reap must happen */
		if (TTA_SLOT_PHASE(__atomic_load_n(&tta_slot_at(&seg, i)->state,
						   __ATOMIC_ACQUIRE)) != TTA_SLOT_FREE)
			abort();
	}
	/* Chunks whose owner was reaped are released (others may name slots
	 * that never existed: the reaper leaves those alone). */
	tta_reap_dead(&seg, 8, on_reap_report, &ctx);
	tta_segment_close(&seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (shm_name[0] == '\0') {
		snprintf(shm_name, sizeof shm_name, "/tta_fuzz_%d", (int)getpid());
		snprintf(shm_path, sizeof shm_path, "/dev/shm%s", shm_name);
		atexit(remove_segment);
	}
	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		if (write_segment(data + 1, size - 1)) {
			exercise(size > 1 ? data[1] : 0);
			reap_everything();
		}
		return 0;
	}
	if (size < 3)
		return 0;
	const struct fuzz_geometry *fg = &fuzz_geometries[data[1] % FUZZ_GEOMETRIES];
	size_t seg_size = 0;
	uint8_t *seg = fuzz_build_segment(fg, &seg_size);
	if (seg == NULL)
		return 0;
	size_t body = size - 3;
	if (body > seg_size - FUZZ_MUTABLE_FROM)
		body = seg_size - FUZZ_MUTABLE_FROM;
	memcpy(seg + FUZZ_MUTABLE_FROM, data + 3, body);
	if (write_segment(seg, seg_size)) {
		exercise(data[2]);
		reap_everything();
		exercise(data[2]); /* and read what the reaping left */
	}
	free(seg);
	return 0;
}
