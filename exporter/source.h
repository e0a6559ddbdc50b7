/*
 * source.h - the exporter's one view of the segment: opened when it
 * appears, followed when it is replaced, given up (and looked for again)
 * when it is truncated or removed under us. Every HTTP handler takes its
 * snapshots here.
 *
 * Threading: any thread may call any function; one mutex serialises the
 * reader (a tta_reader is for one thread at a time). Snapshots returned are
 * plain memory the caller frees; rendering them happens outside the lock.
 * Errors: a snapshot that cannot be taken returns a negative code and a
 * one-line reason; state changes (segment found, lost, replaced) are logged
 * once each on stderr, not once per request.
 */
#ifndef TTA_EXPORTER_SOURCE_H
#define TTA_EXPORTER_SOURCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/history.h>
#include <tt-alloc/reader.h>

struct tte_source {
	pthread_mutex_t lock;
	char name[258];           /* resolved segment name, "/tt_alloc" */
	tta_reader *reader;       /* NULL while there is no usable segment */
	char logged[512];         /* the last failure logged (logged once each) */
	uint64_t opens;           /* successful opens since start */
	uint64_t errors;          /* snapshots that failed */
};

/* NAME is already resolved (tta_segment_name). Never fails. */
void tte_source_init(struct tte_source *src, const char *name);
void tte_source_fini(struct tte_source *src);

/* Takes a snapshot with FLAGS (TTA_SNAPSHOT_*), opening or reopening the
 * segment first when needed. Returns 0 and *OUT, or a negative code with
 * the reason in ERR. */
int tte_source_snapshot(struct tte_source *src, unsigned flags, tta_snapshot **out, char *err,
			size_t errlen);

/* The last SECONDS (0: 600) of the segment's history of every device, the
 * same way (tta_history_take). */
int tte_source_history(struct tte_source *src, uint32_t seconds, tta_history **out, char *err,
		       size_t errlen);

/* Copies of the counters, taken under the lock. */
void tte_source_stats(struct tte_source *src, uint64_t *opens, uint64_t *errors);

#endif /* TTA_EXPORTER_SOURCE_H */
