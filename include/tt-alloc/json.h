/*
 * tt-alloc/json.h - the JSON document of a snapshot, as tt-smi --json prints
 * it and the exporter serves it at /api/snapshot. One writer, so every tool
 * that shows a snapshot as JSON shows the same keys with the same meaning
 * (documented in README.md, "tt-smi --json").
 *
 * Threading: reads only the snapshot (library memory); writes only to OUT.
 * Errors: none of its own; write errors show up in ferror(OUT). Untrusted
 * text (names, command lines) is escaped with tta_json_string, so the output
 * is always valid UTF-8 JSON.
 */
#ifndef TT_ALLOC_JSON_H
#define TT_ALLOC_JSON_H

#include <stdio.h>

#include <tt-alloc/events.h>
#include <tt-alloc/history.h>
#include <tt-alloc/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One JSON object ending with a newline: "tool" {name: TOOL, version:
 * VERSION}, "timestamp_ns", "segment" (every counter of the counter table;
 * null in a snapshot of the sources alone), "devices", "processes" (each
 * with "source": "tt-alloc", or "tt-metal" for TT-Metal's own entries),
 * "sources" when SNAP was taken with TTA_SNAPSHOT_SOURCES (devices then
 * carry "telemetry", "untracked", "sources" and "used_combined"), and
 * "buffers" when it was taken with TTA_SNAPSHOT_BUFFERS. The keys are
 * described in README.md. */
void tta_snapshot_write_json(const tta_snapshot *snap, const char *tool, const char *version,
			     FILE *out);

/* The history document, as tt-smi --history --json prints it and the
 * exporter serves it at /api/history, ending with a newline:
 *   {"history": {"interval_ms": 1000, "seconds": 600, "available": true,
 *    "devices": [{"id": 0, "peak": {"dram": N, ...}, "peak_total": N,
 *    "samples": [{"t": UNIX_SECONDS, "used": {"dram": N, "l1": N,
 *    "l1_small": N, "trace": N, "system": N, "cb": N, "kernel": N},
 *    "total": N}, ...]}]}}
 * Samples oldest first; "t" has a fraction (ms precision). Samples whose
 * value is unknown (struct tta_history_sample.known == 0) are left out. */
void tta_history_write_json(const tta_history *history, FILE *out);

/* One event as one JSON line (ending with a newline), as tt-smi --events
 * --json prints it and the exporter serves it at /api/events:
 *   {"t": UNIX_SECONDS, "seq": N, "event": "alloc", "pid": N, "slot": N,
 *    "device": N|null, "type": "dram"|null, "address": N|null,
 *    "size": N|null}
 * plus "kernel_kind" for kernel_load and "buffers" for reap (whose "size"
 * is the bytes leaked). An unknown kind is written as "event#N". */
void tta_event_write_json(const struct tta_event *event, FILE *out);

/* The line a follower writes when tta_events_next reported MISSED > 0:
 *   {"t": UNIX_SECONDS_NOW, "event": "missed", "count": MISSED} */
void tta_events_write_missed_json(uint64_t missed, FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* TT_ALLOC_JSON_H */
