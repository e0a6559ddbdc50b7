/*
 * periodic.h - the snapshot tt-alloc-exporter takes in the background every
 * few seconds, for what costs too much to read at every scrape:
 *  - process details (TTA_SNAPSHOT_PROCESS_DETAILS): the exited_processes
 *    gauge, a /proc read per process (2.9 ms at 256 processes);
 *  - the sources beside the segment (TTA_SNAPSHOT_SOURCES,
 *    <tt-alloc/sources.h>): device telemetry, the driver's pid lists,
 *    TT-Metal's own segments, about 34 file reads per device (9-14 ms for
 *    64 devices, tt-alloc-bench section k).
 * Scrapes use the latest one and never wait for it; the memory figures of a
 * scrape still come from its own snapshot (source.h).
 *
 * The background thread has its own reader (a reader is for one thread at a
 * time, and a slow refresh must not hold the scrapes' reader), follows a
 * replaced segment, and without a segment takes the sources alone, so a
 * host where nothing tracked has run yet still shows its telemetry.
 *
 * Threading: tte_periodic_get/put from any thread; a snapshot got stays
 * valid until it is put back (reference counted), whatever the thread does.
 * Errors: start fails only if the thread cannot be created; a refresh that
 * fails keeps the previous snapshot.
 */
#ifndef TTA_EXPORTER_PERIODIC_H
#define TTA_EXPORTER_PERIODIC_H

#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/reader.h>

struct tte_periodic;
struct tte_periodic_ref;

/* Starts the thread on SEGMENT (resolved name), refreshing every PERIOD_MS;
 * the first snapshot is taken at once. Returns 0, or -1 with ERR. */
int tte_periodic_start(struct tte_periodic **out, const char *segment, uint64_t period_ms,
		       char *err, size_t errlen);
/* Stops and joins the thread; frees the snapshot once no one holds it. */
void tte_periodic_stop(struct tte_periodic *p);

/* The latest snapshot (NULL before the first one is ready), held until
 * tte_periodic_put. *AGE_MS (may be NULL) is its age. */
struct tte_periodic_ref *tte_periodic_get(struct tte_periodic *p, uint64_t *age_ms);
const tta_snapshot *tte_periodic_snapshot(const struct tte_periodic_ref *ref);
void tte_periodic_put(struct tte_periodic *p, struct tte_periodic_ref *ref);

#endif /* TTA_EXPORTER_PERIODIC_H */
