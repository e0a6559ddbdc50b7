/*
 * source.c - opening, following and giving up the segment (contract in
 * source.h). The exporter outlives segments: the reaper or the first writer
 * may create one after the exporter starts, and a segment may be deleted and
 * created again (another capacity, another ABI) while it runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "source.h"

void tte_source_init(struct tte_source *src, const char *name)
{
	memset(src, 0, sizeof *src);
	pthread_mutex_init(&src->lock, NULL);
	snprintf(src->name, sizeof src->name, "%s", name);
}

void tte_source_fini(struct tte_source *src)
{
	if (src->reader)
		tta_reader_close(src->reader);
	src->reader = NULL;
	pthread_mutex_destroy(&src->lock);
}

static void drop_reader(struct tte_source *src)
{
	tta_reader_close(src->reader);
	src->reader = NULL;
}

/* Called with the lock held. 0 when a reader is open. */
static int ensure_reader(struct tte_source *src, char *err, size_t errlen)
{
	if (src->reader) {
		enum tta_segment_status st = tta_reader_status(src->reader);
		if (st == TTA_SEGMENT_OK || st == TTA_SEGMENT_REMOVED)
			return 0; /* a removed name: the writers still attached still count */
		tte_log("segment %s was %s: opening it again", src->name,
			st == TTA_SEGMENT_REPLACED ? "replaced" : "truncated");
		drop_reader(src);
	}
	int rc = tta_reader_open(src->name, &src->reader, err, errlen);
	if (rc < 0) {
		src->reader = NULL;
		if (!err[0])
			snprintf(err, errlen, "cannot open segment %s: %s", src->name, strerror(-rc));
		if (strcmp(src->logged, err) != 0)
			tte_log("%s; serving tt_alloc_up 0 until it can be read", err);
		snprintf(src->logged, sizeof src->logged, "%s", err);
		return rc;
	}
	src->opens++;
	src->logged[0] = '\0';
	tte_log("reading segment %s (%u device ids)", src->name,
		tta_reader_device_capacity(src->reader));
	return 0;
}

/* What to take from the reader: a snapshot or a history. */
typedef int (*take_fn)(tta_reader *reader, void *arg, char *err, size_t errlen);

static int take(struct tte_source *src, take_fn fn, void *arg, char *err, size_t errlen)
{
	err[0] = '\0';
	pthread_mutex_lock(&src->lock);
	int rc = ensure_reader(src, err, errlen);
	/* A replacement between the status check and the read shows as
	 * -ESTALE, a truncation as -EFAULT: reopen once and try again. */
	for (int attempt = 0; rc == 0; attempt++) {
		rc = fn(src->reader, arg, err, errlen);
		if (rc == 0 || attempt > 0 || (rc != -ESTALE && rc != -EFAULT))
			break;
		tte_log("%s", err);
		drop_reader(src);
		err[0] = '\0';
		rc = ensure_reader(src, err, errlen);
	}
	if (rc < 0) {
		if (src->reader && rc != -ENOMEM && rc != -EINVAL) {
			tte_log("%s", err);
			drop_reader(src);
		}
		src->errors++;
	}
	pthread_mutex_unlock(&src->lock);
	return rc;
}

struct snapshot_args {
	unsigned flags;
	tta_snapshot **out;
};

static int take_snapshot(tta_reader *reader, void *arg, char *err, size_t errlen)
{
	struct snapshot_args *a = arg;
	return tta_snapshot_take(reader, 0, -1, a->flags, a->out, err, errlen);
}

int tte_source_snapshot(struct tte_source *src, unsigned flags, tta_snapshot **out, char *err,
			size_t errlen)
{
	struct snapshot_args a = { flags, out };
	*out = NULL;
	return take(src, take_snapshot, &a, err, errlen);
}

struct history_args {
	uint32_t seconds;
	tta_history **out;
};

static int take_history(tta_reader *reader, void *arg, char *err, size_t errlen)
{
	struct history_args *a = arg;
	return tta_history_take(reader, -1, a->seconds, a->out, err, errlen);
}

int tte_source_history(struct tte_source *src, uint32_t seconds, tta_history **out, char *err,
		       size_t errlen)
{
	struct history_args a = { seconds, out };
	*out = NULL;
	return take(src, take_history, &a, err, errlen);
}

void tte_source_stats(struct tte_source *src, uint64_t *opens, uint64_t *errors)
{
	pthread_mutex_lock(&src->lock);
	*opens = src->opens;
	*errors = src->errors;
	pthread_mutex_unlock(&src->lock);
}
