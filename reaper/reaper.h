/*
 * reaper.h - internals of tt-alloc-reaper, the daemon that reclaims the
 * telemetry of processes that died without detaching.
 *
 * Modules:
 *   reaper_log.c   one-line-per-event logging to stderr (journal aware) and
 *                  the leak report text.
 *   reaper_loop.c  the engine: registration in the segment header, a pidfd
 *                  per live slot in an epoll set, a futex-watcher thread for
 *                  new registrations, the periodic safety-net rescan.
 *   reaper_main.c  command line and process setup.
 *
 * Threading: everything runs on the main thread except the registry watcher,
 * which only reads header->registry_seq and writes to an eventfd.
 * Trust: the segment is writable by every tracked process, so every value
 * read from it is validated before use; the reaper acts on a process only by
 * watching its pidfd and never signals anyone.
 */
#ifndef TTA_REAPER_H
#define TTA_REAPER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tta_segment.h"

#define REAPER_NAME "tt-alloc-reaper"
#define REAPER_DEFAULT_MAX_LISTED 16u
#define REAPER_MAX_MAX_LISTED 100000u
#define REAPER_DEFAULT_SCAN_MS 1000u
/* (tag, call site) groups a leak report lists; the rest are summed. */
#define REAPER_MAX_ORIGINS 10u

struct reaper_options {
	const char *segment;    /* NULL: $TT_ALLOC_SHM or the default */
	bool once;              /* reap what is dead now, then exit */
	int verbose;            /* -v count */
	uint32_t max_listed;    /* buffers listed per leak report */
	uint32_t scan_ms;       /* safety-net rescan interval */
};

/* ---- logging (reaper_log.c) ---- */
enum reaper_level { RLOG_ERR = 3, RLOG_WARN = 4, RLOG_NOTICE = 5, RLOG_INFO = 6, RLOG_DEBUG = 7 };

/* Decides once whether stderr is the journal (sd-daemon "<N>" prefixes). */
void reaper_log_init(int verbose);
/* Writes one event as a single write(2); a trailing newline is added. */
void reaper_log(enum reaper_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool reaper_log_enabled(enum reaper_level level);
/* Writes a block of lines (each already newline-terminated) at LEVEL. */
void reaper_log_block(enum reaper_level level, const char *text, size_t len);

/* "40.0 KiB (40960 bytes)" into BUF. */
const char *reaper_fmt_bytes(uint64_t bytes, char *buf, size_t len);
/* Copies at most LEN bytes of a string read from the segment, stopping at
 * NUL and replacing anything unprintable, so a writer cannot forge log lines. */
const char *reaper_sanitize(const char *src, size_t len, char *dst, size_t dstlen);

/* Appends the leak report of REPORT to OUT (one line per item, each starting
 * with "leak pid N"): totals, per device, then (when the process tagged its
 * allocations or ran with TT_ALLOC_STACK_TRACE=1) the leaked buffers grouped
 * by call site and tag, largest first, at most REAPER_MAX_ORIGINS groups,
 * then the buffers themselves. MAX_LISTED bounds the buffers listed.
 * NOW_MONO_NS is used for ages. */
void reaper_format_leak(FILE *out, const struct tta_reap_report *report,
			uint32_t device_capacity, uint32_t max_listed, uint64_t now_mono_ns);

/* ---- the engine (reaper_loop.c) ---- */

/* Runs the daemon (or one pass with opts->once) until SIGTERM/SIGINT.
 * Returns the process exit status: 0 clean, 1 runtime failure,
 * 2 segment error. */
int reaper_run(const struct reaper_options *opts);

#endif /* TTA_REAPER_H */
