/*
 * periodic.c - the background snapshot (contract in periodic.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/reader.h>

#include "periodic.h"

struct tte_periodic_ref {
	tta_snapshot *snap;
	uint64_t taken_ms;
	unsigned refs;            /* the holder's (current) one plus each get */
};

struct tte_periodic {
	char segment[258];
	uint64_t period_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;      /* CLOCK_MONOTONIC */
	bool stop;
	struct tte_periodic_ref *current;
	tta_reader *reader;       /* the thread's own; NULL without a segment */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void unref(struct tte_periodic_ref *r)
{
	if (r && --r->refs == 0) {
		tta_snapshot_free(r->snap);
		free(r);
	}
}

/* The thread's reader: opened when the segment appears, reopened when it is
 * replaced or truncated. */
static void follow_segment(struct tte_periodic *p)
{
	if (p->reader) {
		enum tta_segment_status st = tta_reader_status(p->reader);
		if (st == TTA_SEGMENT_OK || st == TTA_SEGMENT_REMOVED)
			return;
		tta_reader_close(p->reader);
		p->reader = NULL;
	}
	if (tta_reader_open(p->segment, &p->reader, NULL, 0) < 0)
		p->reader = NULL;
}

static tta_snapshot *take(struct tte_periodic *p)
{
	tta_snapshot *snap = NULL;
	char err[512];
	follow_segment(p);
	if (p->reader &&
	    tta_snapshot_take(p->reader, 0, -1, TTA_SNAPSHOT_PROCESS_DETAILS | TTA_SNAPSHOT_SOURCES,
			      &snap, err, sizeof err) == 0)
		return snap;
	if (p->reader) { /* replaced or truncated meanwhile: next time */
		tta_reader_close(p->reader);
		p->reader = NULL;
	}
	/* No segment: what the driver and TT-Metal say is still worth showing. */
	if (tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &snap, NULL, 0) == 0)
		return snap;
	return NULL;
}

static void *run(void *arg)
{
	struct tte_periodic *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		pthread_mutex_unlock(&p->lock);
		tta_snapshot *snap = take(p);
		pthread_mutex_lock(&p->lock);
		if (snap) {
			struct tte_periodic_ref *r = malloc(sizeof *r);
			if (r) {
				*r = (struct tte_periodic_ref){ snap, now_ms(), 1 };
				unref(p->current);
				p->current = r;
			} else {
				tta_snapshot_free(snap);
			}
		}
		uint64_t until = now_ms() + p->period_ms;
		struct timespec ts = { .tv_sec = (time_t)(until / 1000),
				       .tv_nsec = (long)(until % 1000) * 1000000L };
		while (!p->stop && now_ms() < until)
			pthread_cond_timedwait(&p->wake, &p->lock, &ts);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int tte_periodic_start(struct tte_periodic **out, const char *segment, uint64_t period_ms,
		       char *err, size_t errlen)
{
	struct tte_periodic *p = calloc(1, sizeof *p);
	pthread_condattr_t ca;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(p->segment, sizeof p->segment, "%s", segment);
	p->period_ms = period_ms;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&p->thread, NULL, run, p);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the background snapshot thread: %s", strerror(rc));
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void tte_periodic_stop(struct tte_periodic *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	unref(p->current); /* every request that held it has ended by now */
	if (p->reader)
		tta_reader_close(p->reader);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct tte_periodic_ref *tte_periodic_get(struct tte_periodic *p, uint64_t *age_ms)
{
	pthread_mutex_lock(&p->lock);
	struct tte_periodic_ref *r = p->current;
	if (r)
		r->refs++;
	if (age_ms)
		*age_ms = r ? now_ms() - r->taken_ms : 0;
	pthread_mutex_unlock(&p->lock);
	return r;
}

const tta_snapshot *tte_periodic_snapshot(const struct tte_periodic_ref *ref)
{
	return ref ? ref->snap : NULL;
}

void tte_periodic_put(struct tte_periodic *p, struct tte_periodic_ref *ref)
{
	if (!ref)
		return;
	pthread_mutex_lock(&p->lock);
	unref(ref);
	pthread_mutex_unlock(&p->lock);
}
