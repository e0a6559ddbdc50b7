/*
 * http.c - routes and responses of tt-alloc-exporter on libmicrohttpd
 * (contract in http.h).
 *
 * Why these libmicrohttpd settings:
 *  - thread per connection: a scrape is a snapshot plus a write (well under
 *    a millisecond to a few), and an event stream must be able to wait; a
 *    thread per connection lets it wait without blocking anyone else, and
 *    MHD_OPTION_CONNECTION_LIMIT bounds the threads.
 *  - a 16 KiB memory pool per connection caps the request line and headers
 *    a client may send (a bigger one is refused with a 4xx by the library);
 *    a request never carries a body we read.
 *  - an idle timeout closes connections that send nothing (slow clients
 *    cannot hold all the slots for long).
 * What a bad request gets (libmicrohttpd 0.9.75, tests/sh/test_exporter.sh):
 * 400 for a malformed request line, header or Content-Length, 414/431 for
 * an oversized one, 405 for a method other than GET/HEAD, 404 for any other
 * path, 505 for an HTTP version other than 1.0/1.1 (RFC 9110's answer);
 * bytes that do not even split into a method and a target (a TLS hello,
 * one word) get the connection closed, as there is no request to answer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include <tt-alloc/history.h>
#include <tt-alloc/json.h>
#include <tt-alloc/reader.h>
#include <tt-alloc/text.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "periodic.h"
#include "sse.h"
#include "web_assets.h"

#define ERR_LEN 512

static struct MHD_Daemon *daemon_handle;
static struct tte_http_config config;

/* The page may load only its own files and talk only to its own origin: no
 * inline script or style, no plugin, no framing. A name that slipped into
 * markup could still not run anything. */
static const char page_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, const char *type,
			     struct MHD_Response *resp, bool cacheable)
{
	if (!resp)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				cacheable ? "no-cache" : "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (strncmp(type, "text/html", 9) == 0) {
		MHD_add_response_header(resp, "Content-Security-Policy", page_csp);
		MHD_add_response_header(resp, "X-Frame-Options", "DENY");
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	}
	enum MHD_Result rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Takes ownership of BUF (malloc'd). */
static enum MHD_Result queue_owned(struct MHD_Connection *conn, unsigned status, const char *type,
				   char *buf, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(buf);
	return queue(conn, status, type, resp, false);
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	return queue(conn, status, "text/plain; charset=utf-8", resp, false);
}

static enum MHD_Result internal_error(struct MHD_Connection *conn, const char *what)
{
	tte_log("%s: %s", what, strerror(errno));
	return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                    */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
	char err[ERR_LEN];
	tta_snapshot *snap = NULL;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* No process details and no sources: a /proc read per process and ~34
	 * file reads per device. What needs them comes from the background
	 * snapshot (periodic.h). The tag rows are read live, so that the tags
	 * of a device add up to its figure in the same scrape: they cost a read
	 * of every live buffer record, 0.3-1.1 ms for 4096 records
	 * (tt-alloc-bench section l), which --no-tag-metrics saves. */
	int rc = tte_source_snapshot(config.source, config.max_tags ? TTA_SNAPSHOT_TAGS : 0, &snap,
				     err, sizeof err);
	struct tte_metrics_options opt = {
		.version = config.version,
		.per_process = config.per_process,
		.max_tags = config.max_tags,
		.last_snapshot_seconds = seconds_since(&t0),
	};
	uint64_t age_ms = 0;
	struct tte_periodic_ref *periodic = config.periodic ? tte_periodic_get(config.periodic, &age_ms)
							    : NULL;
	opt.periodic = tte_periodic_snapshot(periodic);
	opt.periodic_age_seconds = (double)age_ms / 1e3;
	tte_source_stats(config.source, &opt.segment_opens, &opt.snapshot_errors);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem) {
		tte_periodic_put(config.periodic, periodic);
		tta_snapshot_free(snap);
		return internal_error(conn, "/metrics");
	}
	tte_metrics_write(rc == 0 ? snap : NULL, &opt, mem);
	tte_periodic_put(config.periodic, periodic);
	tta_snapshot_free(snap);
	if (fclose(mem) != 0) {
		free(buf);
		return internal_error(conn, "/metrics");
	}
	/* No segment is a value (tt_alloc_up 0), not an HTTP error: Prometheus
	 * keeps scraping and an alert can say why. */
	return queue_owned(conn, MHD_HTTP_OK, TTE_METRICS_CONTENT_TYPE, buf, len);
}

/* The body of a 503 when there is no segment to show. */
static void write_down_json(FILE *out, const char *error)
{
	fputs("{\"up\": false, \"segment\": ", out);
	tta_json_string(out, config.source->name, sizeof config.source->name);
	fputs(", \"error\": ", out);
	tta_json_string(out, error, ERR_LEN);
	fputs("}\n", out);
}

static enum MHD_Result serve_snapshot(struct MHD_Connection *conn)
{
	char err[ERR_LEN];
	tta_snapshot *snap = NULL;
	/* As tt-smi --json takes it: process details and the sources. */
	int rc = tte_source_snapshot(config.source,
				     TTA_SNAPSHOT_PROCESS_DETAILS | TTA_SNAPSHOT_SOURCES, &snap, err,
				     sizeof err);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem) {
		tta_snapshot_free(snap);
		return internal_error(conn, "/api/snapshot");
	}
	/* The library's one writer: the same document as tt-smi --json. */
	if (rc == 0)
		tta_snapshot_write_json(snap, "tt-alloc-exporter", config.version, mem);
	else
		write_down_json(mem, err);
	tta_snapshot_free(snap);
	if (fclose(mem) != 0) {
		free(buf);
		return internal_error(conn, "/api/snapshot");
	}
	return queue_owned(conn, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			   "application/json", buf, len);
}

/* A query argument as a number in [MIN, MAX]; DEF when absent. -1 when
 * present but not such a number. */
static long query_number(struct MHD_Connection *conn, const char *key, long min, long max, long def)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
	if (!v)
		return def;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	return errno || end == v || *end || n < min || n > max ? -1 : n;
}

static enum MHD_Result serve_history(struct MHD_Connection *conn)
{
	long seconds = query_number(conn, "seconds", 1, 2 * 86400, 600);
	if (seconds < 0)
		return queue_text(conn, MHD_HTTP_BAD_REQUEST,
				  "seconds: a whole number from 1 to 172800\n");
	char err[ERR_LEN];
	tta_history *h = NULL;
	int rc = tte_source_history(config.source, (uint32_t)seconds, &h, err, sizeof err);
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem) {
		tta_history_free(h);
		return internal_error(conn, "/api/history");
	}
	/* The library's writer: the same document as tt-smi --history --json. */
	if (rc == 0)
		tta_history_write_json(h, mem);
	else
		write_down_json(mem, err);
	tta_history_free(h);
	if (fclose(mem) != 0) {
		free(buf);
		return internal_error(conn, "/api/history");
	}
	return queue_owned(conn, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			   "application/json", buf, len);
}

static enum MHD_Result serve_events(struct MHD_Connection *conn)
{
	char err[ERR_LEN];
	unsigned mask;
	const char *kinds = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "kinds");
	if (tte_stream_parse_kinds(kinds, &mask, err, sizeof err) < 0) {
		strcat(err, "\n");
		return queue_text(conn, MHD_HTTP_BAD_REQUEST, err);
	}
	long backlog = query_number(conn, "backlog", 0, 1000, 0);
	if (backlog < 0)
		return queue_text(conn, MHD_HTTP_BAD_REQUEST,
				  "backlog: a whole number from 0 to 1000\n");
	struct MHD_Response *resp =
		tte_stream_response(config.source->name, mask, (unsigned)backlog);
	if (resp)
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	return queue(conn, MHD_HTTP_OK, "text/event-stream; charset=utf-8", resp, false);
}

static const char *asset_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

static const struct tte_web_asset *find_asset(const char *url)
{
	if (!strcmp(url, "/"))
		url = "/index.html";
	for (unsigned i = 0; i < tte_web_asset_count; i++)
		if (!strcmp(tte_web_assets[i].path, url))
			return &tte_web_assets[i];
	return NULL;
}

static enum MHD_Result serve_asset(struct MHD_Connection *conn, const struct tte_web_asset *a)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	return queue(conn, MHD_HTTP_OK, asset_type(a->path), resp, true);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **req_cls)
{
	static char headers_seen, answered;
	(void)cls;
	(void)upload_data;
	/* libmicrohttpd calls once when the headers are in, then again (with
	 * any body in pieces, then with none left). Answering on the first call
	 * would make it close the connection; answering once the request is
	 * complete keeps the connection alive for the next scrape. */
	if (*req_cls == &answered || (*req_cls == &headers_seen && *upload_size != 0)) {
		*upload_size = 0; /* a body: never read, dropped */
		return MHD_YES;
	}
	bool allowed = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	if (*req_cls == NULL && allowed) {
		*req_cls = &headers_seen;
		return MHD_YES;
	}
	*req_cls = &answered;
	if (!allowed) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			sizeof "method not allowed\n" - 1, (void *)"method not allowed\n",
			MHD_RESPMEM_PERSISTENT);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", resp,
			     false);
	}
	/* HTTP/1.1 requires Host (RFC 9112, 3.2); libmicrohttpd's default
	 * parsing lets it pass. */
	if (!strcmp(version, MHD_HTTP_VERSION_1_1) &&
	    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
		return queue_text(conn, MHD_HTTP_BAD_REQUEST, "HTTP/1.1 request without Host\n");
	if (!strcmp(url, "/metrics"))
		return serve_metrics(conn);
	if (!strcmp(url, "/api/snapshot"))
		return serve_snapshot(conn);
	if (!strcmp(url, "/api/history"))
		return serve_history(conn);
	if (!strcmp(url, "/api/events"))
		return serve_events(conn);
	const struct tte_web_asset *asset = find_asset(url);
	if (asset)
		return serve_asset(conn, asset);
	return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	tte_log("http: %s", line);
}

int tte_http_start(const struct tte_http_config *cfg, char *err, size_t errlen)
{
	config = *cfg;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	daemon_handle = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)cfg->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20),
		MHD_OPTION_END);
	if (!daemon_handle) {
		snprintf(err, errlen, "cannot start the HTTP server (libmicrohttpd refused its options)");
		return -1;
	}
	return 0;
}

void tte_http_stop(void)
{
	tte_stream_stop_all();
	if (daemon_handle)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
