/*
 * sse.h - /api/events: the segment's event ring (<tt-alloc/events.h>)
 * followed live and sent as Server-Sent Events.
 *
 * Each stream has its own reader and cursor (a cursor belongs to one thread
 * and its reader must outlive it), opened lazily, so a stream may start
 * before the segment exists and follows a replaced one. What it sends:
 *   event: status   data: {"up": BOOL, "segment": NAME, "events": BOOL}
 *                   whenever the segment is found, lost or replaced;
 *                   "events" false: this segment keeps no event ring
 *   (message)       data: one event, the JSON of tta_event_write_json, with
 *                   id: its sequence number; or the tta_events_write_missed_json
 *                   line when the stream fell behind the ring
 *   : keepalive     a comment after 15 s without anything else
 * The first message may be preceded by up to BACKLOG of the newest events
 * the ring already holds.
 *
 * Threading: one stream per connection thread (libmicrohttpd's thread per
 * connection: the callback blocks between events, polling the cursor every
 * 50 ms). tte_stream_stop_all makes every stream end within that time.
 * Errors: a stream whose segment disappears says so (status) and waits for
 * it; nothing here ends the process.
 */
#ifndef TTA_EXPORTER_SSE_H
#define TTA_EXPORTER_SSE_H

#include <stddef.h>

struct MHD_Response;

/* KINDS: a comma-separated list of event names ("attach,exit,reap") or
 * NULL/"" for all. Returns 0 and a bitmask in *MASK, or -1 with ERR. */
int tte_stream_parse_kinds(const char *kinds, unsigned *mask, char *err, size_t errlen);

/* A response that streams the events of SEGMENT in MASK (BACKLOG newest
 * ones first, at most 1000). NULL when out of memory. */
struct MHD_Response *tte_stream_response(const char *segment, unsigned mask, unsigned backlog);

/* Ends every stream (they return end-of-stream within 50 ms). */
void tte_stream_stop_all(void);

#endif /* TTA_EXPORTER_SSE_H */
