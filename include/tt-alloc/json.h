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

#include <tt-alloc/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One JSON object ending with a newline: "tool" {name: TOOL, version:
 * VERSION}, "timestamp_ns", "segment" (every counter of the counter table;
 * null in a snapshot of the sources alone), "devices", "processes" (each
 * with "source": "tt-alloc", or "tt-metal" for TT-Metal's own entries),
 * "sources" when SNAP was taken with TTA_SNAPSHOT_SOURCES (devices then
 * carry "telemetry", "untracked", "sources" and "used_combined"), "buffers"
 * when it was taken with TTA_SNAPSHOT_BUFFERS (each with "tag": string or
 * null and "site": an array of frames, innermost first, or null), and
 * "tags" (one row per device and tag: "device", "tag" or null, "used" per
 * type, "buffers") when it was taken with TTA_SNAPSHOT_TAGS. The keys are
 * described in README.md. */
void tta_snapshot_write_json(const tta_snapshot *snap, const char *tool, const char *version,
			     FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* TT_ALLOC_JSON_H */
