/*
 * render.h - tt-smi's renderers: text and JSON views of one snapshot taken
 * through the public read API (<tt-alloc/reader.h>).
 *
 * Contract
 *  - Renderers only read the snapshot (library memory, never the segment),
 *    write to a FILE * and never fail on their own; write errors show up in
 *    ferror(OUT).
 *  - Values that make no sense (unknown memory type, negative totals, names
 *    without a NUL, arbitrary bytes) are rendered harmlessly: text output holds
 *    printable ASCII and valid UTF-8 only (tta_sanitize_text), JSON output is
 *    valid UTF-8 JSON (tta_json_string).
 *  - Threading: none.
 */
#ifndef TT_SMI_RENDER_H
#define TT_SMI_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <tt-alloc/reader.h>

/* The header lines: tool, time, segment, processes, reaper, capacities,
 * reaped processes and any shortfall counter that is not zero. */
void smi_render_header(const tta_snapshot *snap, const char *version, FILE *out);

/* The main view (views.h) at unlimited width, without history: header,
 * devices by memory pool, process table. */
void smi_render_text(const tta_snapshot *snap, const char *version, FILE *out);

/* Header plus the buffer table (PID, device, type, address, size, age). */
void smi_render_buffers_text(const tta_snapshot *snap, const char *version, FILE *out);
/* The buffer table alone, ending with a "N buffers" line. */
void smi_render_buffer_table(const tta_snapshot *snap, FILE *out);

/* The buffers of SNAP (taken with TTA_SNAPSHOT_BUFFERS) summed per tag
 * (BY_TAG), per call site (BY_SITE) or per both: one row each, largest
 * total first, bytes per memory type in use, then a total row. A site's
 * further frames follow its row, one a line, under the site column. */
void smi_render_groups(const tta_snapshot *snap, bool by_tag, bool by_site, FILE *out);

/* One JSON object: "segment" (with every counter of the library's table),
 * "devices", "processes", and "buffers" when the snapshot holds them. Ends
 * with a newline. */
void smi_render_json(const tta_snapshot *snap, const char *version, FILE *out);

/* smi/telemetry_view.c: what the sources (<tt-alloc/sources.h>) add. */

/* The telemetry detail view (view 5, smi_view_telemetry in views.h) at
 * unlimited width: one block per device with every telemetry field the
 * driver published (name, value, unit, the file it comes from), the
 * processes that hold it open without reporting, and TT-Metal's use. */
void smi_render_telemetry(const tta_snapshot *snap, const char *version, FILE *out);

/* Lines under the process table, wrapped to WIDTH: TT-Metal segments that
 * were skipped (and why) or match no device. Nothing when there is nothing
 * to say; else, if BLANK_FIRST, an empty line before them. */
void smi_print_source_notes(const tta_snapshot *snap, unsigned width, bool blank_first, FILE *out);

/* For leak checks: counts what is still allocated in SNAP (a process row or
 * a device total that is not all zero). When OUT is non-NULL, lists it (or
 * says that nothing is). Returns the number of entries listed. */
size_t smi_render_leaks(const tta_snapshot *snap, FILE *out);

#endif /* TT_SMI_RENDER_H */
