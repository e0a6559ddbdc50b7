/*
 * http.h - the exporter's HTTP side on libmicrohttpd: routes, responses,
 * limits. One server per process.
 *
 *   GET /               the dashboard (exporter/web/, embedded)
 *   GET /metrics        Prometheus text format 0.0.4 (metrics.h)
 *   GET /api/snapshot   the JSON of `tt-smi --json` (tta_snapshot_write_json)
 *   GET /api/history    the JSON of `tt-smi --history --json`
 *                       (tta_history_write_json); ?seconds=N, default 600
 *   GET /api/events     Server-Sent Events from the event ring (sse.h);
 *                       ?kinds=attach,exit,reap  ?backlog=N
 * HEAD works wherever GET does; any other method gets 405, an unknown path
 * 404, a malformed or oversized request a 4xx from libmicrohttpd.
 *
 * Threading: libmicrohttpd runs one thread per connection (bounded by
 * max_connections), so a long-lived event stream blocks only its own
 * thread; handlers share nothing but the source (source.h, locked).
 * Errors: tte_http_start returns -1 with a reason; after that, failures are
 * per request (5xx) and logged.
 */
#ifndef TTA_EXPORTER_HTTP_H
#define TTA_EXPORTER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "source.h"

struct tte_periodic;

struct tte_http_config {
	struct tte_source *source;
	struct tte_periodic *periodic; /* the background snapshot (may be NULL) */
	const char *version;
	bool per_process;          /* tt_alloc_process_* series */
	unsigned max_tags;         /* tt_alloc_tag_used_bytes series per device
				    * (0: none, and no record scan) */
	unsigned max_connections;  /* beyond it, new connections are closed */
	unsigned idle_timeout_s;   /* a connection idle this long is closed */
	int listen_fd;             /* bound and listening; the server owns it */
};

/* Starts serving on CFG->listen_fd. Returns 0, or -1 with ERR filled. */
int tte_http_start(const struct tte_http_config *cfg, char *err, size_t errlen);

/* Ends every stream, closes every connection and the listening socket,
 * joins the threads. Safe to call once after a successful start. */
void tte_http_stop(void);

#endif /* TTA_EXPORTER_HTTP_H */
