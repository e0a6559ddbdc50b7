/*
 * sse.c - /api/events as Server-Sent Events (contract in sse.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include <tt-alloc/events.h>
#include <tt-alloc/json.h>
#include <tt-alloc/reader.h>
#include <tt-alloc/text.h>

#include "sse.h"

#define POLL_MS 50
#define KEEPALIVE_MS 15000
#define REOPEN_MS 1000
#define STATUS_CHECK_MS 1000
#define EVENTS_PER_CHUNK 256
#define MAX_BACKLOG 1000
#define ALL_KINDS UINT32_MAX

static atomic_bool stopping;

struct stream {
	char segment[258];
	uint32_t mask;
	unsigned backlog;
	tta_reader *reader;
	tta_event_cursor *cursor;
	int up;                   /* last status sent: -1 none yet, 0 down, 1 up */
	char *buf;                /* bytes not yet handed to libmicrohttpd */
	size_t len, pos;
	uint64_t last_sent_ms, next_open_ms, next_status_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tte_stream_parse_kinds(const char *kinds, unsigned *mask, char *err, size_t errlen)
{
	*mask = ALL_KINDS;
	if (!kinds || !kinds[0])
		return 0;
	*mask = 0;
	const char *p = kinds;
	while (*p) {
		size_t n = strcspn(p, ",");
		unsigned k = 1;
		for (; k < TTA_EVENT_KINDS; k++) {
			const char *name = tta_event_kind_name(k);
			if (name && strlen(name) == n && strncmp(name, p, n) == 0)
				break;
		}
		if (k == TTA_EVENT_KINDS) {
			char word[64];
			tta_sanitize_text(p, n < 48 ? n : 48, word, sizeof word);
			snprintf(err, errlen, "unknown event kind '%s' (known: alloc, free, cb_alloc, "
				 "cb_free, kernel_load, attach, exit, reap)", word);
			return -1;
		}
		*mask |= 1u << k;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static bool wanted(const struct stream *s, uint32_t kind)
{
	/* Kinds from newer writers have no bit: only an unfiltered stream
	 * passes them on. */
	return s->mask == ALL_KINDS || (kind < 32 && (s->mask & (1u << kind)));
}

static void write_status(struct stream *s, FILE *out, bool up, bool events)
{
	fputs("event: status\ndata: {\"up\": ", out);
	fputs(up ? "true" : "false", out);
	fputs(", \"segment\": ", out);
	tta_json_string(out, s->segment, sizeof s->segment);
	fprintf(out, ", \"events\": %s}\n\n", events ? "true" : "false");
	s->up = up;
}

/* One event as an SSE message: the library's JSON line on one data field. */
static void render_event(const struct tta_event *e, char *line, size_t len)
{
	FILE *f = fmemopen(line, len, "w");
	line[0] = '\0';
	if (!f)
		return;
	fprintf(f, "id: %" PRIu64 "\ndata: ", e->seq);
	tta_event_write_json(e, f);
	fputc('\n', f); /* the writer's own newline plus this one end the message */
	if (fclose(f) != 0 || strnlen(line, len) + 1 >= len)
		line[0] = '\0'; /* did not fit: never send half a message */
}

static void close_segment(struct stream *s)
{
	if (s->cursor)
		tta_events_close(s->cursor);
	if (s->reader)
		tta_reader_close(s->reader);
	s->cursor = NULL;
	s->reader = NULL;
}

/* Drains the ring from its oldest event, keeping the BACKLOG newest wanted
 * ones, and writes them. Bounded: writers may be filling the ring as fast
 * as we read it. */
static void send_backlog(struct stream *s, FILE *out)
{
	char (*ring)[512] = calloc(s->backlog, sizeof *ring);
	if (!ring)
		return;
	size_t kept = 0;
	for (unsigned i = 0; i < 2 * 65536; i++) {
		const struct tta_event *e;
		if (tta_events_next(s->cursor, &e, NULL) != 1)
			break;
		if (!wanted(s, e->kind))
			continue;
		render_event(e, ring[kept % s->backlog], sizeof ring[0]);
		kept++;
	}
	size_t first = kept > s->backlog ? kept - s->backlog : 0;
	for (size_t i = first; i < kept; i++)
		fputs(ring[i % s->backlog], out);
	free(ring);
}

/* Opens the segment and a cursor when there is none; follows a replaced
 * segment. Returns true when a cursor is ready to read. */
static bool ensure_cursor(struct stream *s, FILE *out, uint64_t now)
{
	if (s->reader && now >= s->next_status_ms) {
		s->next_status_ms = now + STATUS_CHECK_MS;
		enum tta_segment_status st = tta_reader_status(s->reader);
		if (st == TTA_SEGMENT_REPLACED || st == TTA_SEGMENT_TRUNCATED)
			close_segment(s);
	}
	if (s->reader)
		return true;
	if (now < s->next_open_ms)
		return false;
	s->next_open_ms = now + REOPEN_MS;
	if (tta_reader_open(s->segment, &s->reader, NULL, 0) < 0) {
		s->reader = NULL;
		if (s->up != 0)
			write_status(s, out, false, false);
		return false;
	}
	if (tta_events_open(s->reader, s->backlog ? TTA_EVENTS_OLDEST : TTA_EVENTS_NOW, &s->cursor,
			    NULL, 0) < 0) {
		close_segment(s);
		return false;
	}
	s->next_status_ms = now + STATUS_CHECK_MS;
	write_status(s, out, true, tta_events_available(s->cursor));
	if (s->backlog)
		send_backlog(s, out);
	return true;
}

/* Writes what is new into OUT. */
static void produce(struct stream *s, FILE *out, uint64_t now)
{
	if (!ensure_cursor(s, out, now))
		return;
	char line[512];
	for (int i = 0; i < EVENTS_PER_CHUNK; i++) {
		const struct tta_event *e;
		uint64_t missed = 0;
		int rc = tta_events_next(s->cursor, &e, &missed);
		if (missed) {
			fputs("data: ", out);
			tta_events_write_missed_json(missed, out);
			fputc('\n', out);
		}
		if (rc < 0) { /* truncated under us: look for the segment again */
			close_segment(s);
			write_status(s, out, false, false);
			return;
		}
		if (rc == 0)
			return;
		if (wanted(s, e->kind)) {
			render_event(e, line, sizeof line);
			fputs(line, out);
		}
	}
}

static ssize_t stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
	struct stream *s = cls;
	(void)pos;
	for (;;) {
		if (s->pos < s->len) {
			size_t n = s->len - s->pos < max ? s->len - s->pos : max;
			memcpy(dst, s->buf + s->pos, n);
			s->pos += n;
			s->last_sent_ms = now_ms();
			return (ssize_t)n;
		}
		if (atomic_load(&stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		free(s->buf);
		s->buf = NULL;
		s->len = s->pos = 0;
		FILE *out = open_memstream(&s->buf, &s->len);
		if (!out)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		uint64_t now = now_ms();
		produce(s, out, now);
		if (ftell(out) == 0 && now - s->last_sent_ms >= KEEPALIVE_MS)
			fputs(": keepalive\n\n", out);
		if (fclose(out) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (s->len == 0) {
			/* Nothing yet: this connection's own thread waits. */
			struct timespec nap = { 0, POLL_MS * 1000000L };
			nanosleep(&nap, NULL);
		}
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	close_segment(s);
	free(s->buf);
	free(s);
}

struct MHD_Response *tte_stream_response(const char *segment, unsigned mask, unsigned backlog)
{
	struct stream *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	snprintf(s->segment, sizeof s->segment, "%s", segment);
	s->mask = mask;
	s->backlog = backlog < MAX_BACKLOG ? backlog : MAX_BACKLOG;
	s->up = -1;
	s->last_sent_ms = now_ms();
	/* The first bytes go out at once: the client sees the stream open and
	 * learns the reconnection delay. */
	s->buf = strdup("retry: 2000\n: tt-alloc events\n\n");
	s->len = s->buf ? strlen(s->buf) : 0;
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
	if (!resp)
		stream_free(s);
	return resp;
}

void tte_stream_stop_all(void)
{
	atomic_store(&stopping, true);
}
