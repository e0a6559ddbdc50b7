/*
 * metrics.h - the Prometheus text exposition (format 0.0.4) of one snapshot,
 * as tt-alloc-exporter serves it at /metrics.
 *
 * The writer sees only the public read API (<tt-alloc/reader.h>) and writes
 * to a FILE *, so the fuzz harness and the benchmark drive it without HTTP.
 * Metric names and labels are documented in README.md ("Monitoring a
 * fleet"); exporter/grafana/ queries only names written here (a test checks
 * that against a live /metrics).
 *
 * Contract
 *  - Every family is written whole (HELP, TYPE, then its samples), never
 *    interleaved with another, and only when it has a sample.
 *  - Label values are untrusted (process names and tags come from any
 *    tracked process): each is cut into valid UTF-8 (tta_sanitize_text:
 *    controls and invalid bytes become '?'), then backslash, double quote
 *    and line feed are escaped as the format requires. A name holding a
 *    line feed keeps it, as the two characters \n.
 *  - No two samples of a family have the same labels: tag rows whose label
 *    texts come out equal are summed into one series.
 *  - Threading: reads only the snapshot and the options; writes only to OUT.
 *  - Errors: none of its own; write errors show up in ferror(OUT).
 */
#ifndef TTA_EXPORTER_METRICS_H
#define TTA_EXPORTER_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tt-alloc/reader.h>

/* The Content-Type of the exposition. */
#define TTE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The tag label of allocations made with no tag set, and of what a device's
 * tag cap leaves out (the library's own overflow, TTA_TAG_OTHER, included). */
#define TTE_TAG_UNTAGGED "(untagged)"
#define TTE_TAG_OTHER TTA_TAG_OTHER
/* Tag series per device unless told (--max-tags). */
#define TTE_DEFAULT_MAX_TAGS 20

struct tte_metrics_options {
	const char *version;        /* tt_alloc_exporter_build_info{version} */
	bool per_process;           /* tt_alloc_process_* series (off: devices only) */
	/* tt_alloc_tag_used_bytes: the MAX_TAGS largest tags of each device get
	 * a series each, the rest are summed into tag="(other)". 0: no tag
	 * series. They come from the snapshot's tag rows, so only a snapshot
	 * taken with TTA_SNAPSHOT_TAGS has them. */
	unsigned max_tags;
	/* The exporter's own figures (0 when not known, e.g. in the fuzzer). */
	uint64_t segment_opens;     /* times a segment was opened (1 + reopens) */
	uint64_t snapshot_errors;   /* snapshots that failed since start */
	double last_snapshot_seconds; /* how long the snapshot for this scrape took */
	/* A recent snapshot taken with TTA_SNAPSHOT_PROCESS_DETAILS and
	 * TTA_SNAPSHOT_SOURCES (periodic.h), or NULL: the exited_processes
	 * gauge when SNAP has no process details (the library fills it only
	 * with them), and what the sources say (telemetry, hardware labels,
	 * untracked processes, TT-Metal's segments), also without SNAP. */
	const tta_snapshot *periodic;
	double periodic_age_seconds;
};

/* Writes the exposition of SNAP. SNAP NULL means no readable segment:
 * tt_alloc_up 0, the exporter's own series and what opt->periodic's sources
 * say are written. */
void tte_metrics_write(const tta_snapshot *snap, const struct tte_metrics_options *opt, FILE *out);

/* Writes S (at most MAXLEN bytes, or up to a NUL) as a label value, quotes
 * included, with the sanitising and escaping described above. */
void tte_metrics_label_value(FILE *out, const char *s, size_t maxlen);

#endif /* TTA_EXPORTER_METRICS_H */
