/*
 * reader.c - the torture reader process (tt-alloc-torture --reader).
 *
 * Loops over the whole read API while writers churn, die and get reaped,
 * and checks what must hold at every instant, not only at quiet moments:
 * no device total, process figure or buffer count is ever negative (every
 * writer frees only what it allocated, so a negative figure can only be a
 * torn or mis-accounted read), and every buffer record is one a torture
 * writer could have made (device and type in range, size 1..1 MiB, address
 * tagged). Violations are counted in the shared area for the driver.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt-alloc/events.h"
#include "tt-alloc/history.h"
#include "tt-alloc/reader.h"
#include "../tta_health.h"
#include "torture.h"

static struct shared *sh;

static void reader_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reader_fail(const char *fmt, ...)
{
	if (__atomic_fetch_add(&sh->reader_errors, 1, __ATOMIC_RELAXED) == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(sh->reader_msg, sizeof sh->reader_msg, fmt, ap);
		va_end(ap);
	}
}

static int on_process(const struct tta_process_view *p, uint32_t dev, const int64_t *used,
		      int64_t buffers, void *ctx)
{
	(void)ctx;
	if (p->pid <= 0)
		reader_fail("process row with pid %d", (int)p->pid);
	if (dev != TTA_NO_DEVICE && dev >= TORTURE_DEVICES)
		reader_fail("process %d row for device %u", (int)p->pid, dev);
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		if (used[t] < 0)
			reader_fail("process %d device %u type %d: %lld bytes", (int)p->pid, dev, t,
				    (long long)used[t]);
	if (buffers < 0)
		reader_fail("process %d device %u: %lld buffers", (int)p->pid, dev,
			    (long long)buffers);
	return 0;
}

static int on_buffer(const struct tta_buffer_view *b, void *ctx)
{
	(*(uint64_t *)ctx)++;
	if (b->device >= TORTURE_DEVICES || b->type >= TTA_MEM_TYPES || b->size == 0 ||
	    b->size > TORTURE_MAX_SIZE || (b->address & 0xffff) != TORTURE_TAG ||
	    b->owner_pid <= 0)
		reader_fail("impossible buffer record %u: pid %d device %u type %u size %llu "
			    "address 0x%llx",
			    b->record, (int)b->owner_pid, b->device, b->type,
			    (unsigned long long)b->size, (unsigned long long)b->address);
	return 0;
}

/* Every event a torture writer, the reaper or a writer reaping could have
 * recorded: a torn or raced entry would show as one that is not. */
static void check_event(const struct tta_event *e)
{
	bool buffer_kind = e->kind >= TTA_EVENT_ALLOC && e->kind <= TTA_EVENT_KERNEL_LOAD;
	bool ok = e->pid > 0 && e->kind >= TTA_EVENT_ALLOC && e->kind < TTA_EVENT_KINDS;
	if (ok && buffer_kind) {
		uint32_t want_type = e->kind == TTA_EVENT_CB_ALLOC || e->kind == TTA_EVENT_CB_FREE
					     ? TTA_MEM_CB
				     : e->kind == TTA_EVENT_KERNEL_LOAD ? TTA_MEM_KERNEL : e->type;
		ok = e->device < TORTURE_DEVICES && e->type < TTA_MEM_TYPES && e->type == want_type &&
		     (e->address & 0xffff) == TORTURE_TAG && e->size > 0 &&
		     e->size <= TORTURE_MAX_SIZE && e->buffers == 0;
		if (e->kind == TTA_EVENT_ALLOC || e->kind == TTA_EVENT_FREE)
			ok = ok && e->type <= TTA_MEM_TRACE;
	} else if (ok && e->kind == TTA_EVENT_REAP) {
		ok = e->device == TTA_NO_DEVICE ? e->size == 0 && e->buffers == 0
						: e->device < TORTURE_DEVICES && e->buffers < (1u << 24);
	} else if (ok) {
		ok = e->device == TTA_NO_DEVICE && e->type == UINT32_MAX;
	}
	if (!ok)
		reader_fail("impossible event #%llu: kind %u pid %d device %u type %u address 0x%llx "
			    "size %llu buffers %llu",
			    (unsigned long long)e->seq, e->kind, (int)e->pid, e->device, e->type,
			    (unsigned long long)e->address, (unsigned long long)e->size,
			    (unsigned long long)e->buffers);
}

/* History under churn: never a negative or torn value; peaks bound it. */
static void check_history(tta_reader *r)
{
	tta_history *h;
	char err[256];
	if (tta_history_take(r, -1, 30, &h, err, sizeof err) != 0) {
		reader_fail("tta_history_take: %s", err);
		return;
	}
	uint64_t n = 0;
	for (size_t i = 0; i < tta_history_device_count(h); i++) {
		const struct tta_history_device *d = tta_history_device(h, i);
		if (d->id >= TORTURE_DEVICES)
			reader_fail("history of device %u", d->id);
		for (size_t k = 0; k < d->sample_count; k++) {
			const struct tta_history_sample *s = tta_history_sample(h, i, k);
			if (!s->known)
				continue;
			n++;
			for (int t = 0; t < TTA_MEM_TYPES; t++)
				if (s->used[t] < 0 || s->used[t] > d->peak[t])
					reader_fail("history device %u type %d: %lld (peak %lld)", d->id,
						    t, (long long)s->used[t], (long long)d->peak[t]);
		}
	}
	__atomic_add_fetch(&sh->reader_history_samples, n, __ATOMIC_RELAXED);
	tta_history_free(h);
}

int torture_reader(void)
{
	const char *fd_text = getenv("TTA_TORTURE_FD");
	sh = fd_text ? shared_map(atoi(fd_text), NULL) : NULL;
	if (sh == NULL) {
		fprintf(stderr, "torture reader: no shared area (internal mode)\n");
		return 2;
	}
	tta_reader *r = NULL;
	tta_event_cursor *events = NULL;
	char err[512];
	for (uint64_t pass = 0;; pass++) {
		if (r == NULL || pass % 256 == 0) {
			tta_events_close(events);
			events = NULL;
			tta_reader_close(r);
			r = NULL;
			if (tta_reader_open(NULL, &r, err, sizeof err) != 0 ||
			    tta_events_open(r, pass ? TTA_EVENTS_NOW : TTA_EVENTS_OLDEST, &events, err,
					    sizeof err) != 0) {
				reader_fail("tta_reader_open / tta_events_open: %s", err);
				sleep_us(100000);
				continue;
			}
		}
		const struct tta_event *e;
		uint64_t missed;
		int got;
		while ((got = tta_events_next(events, &e, &missed)) != 0 || missed) {
			__atomic_add_fetch(&sh->reader_events_missed, missed, __ATOMIC_RELAXED);
			if (got < 0) {
				reader_fail("tta_events_next: %d", got);
				break;
			}
			if (got == 0)
				break;
			__atomic_add_fetch(&sh->reader_events, 1, __ATOMIC_RELAXED);
			check_event(e);
		}
		if (pass % 8 == 0)
			check_history(r);
		for (uint32_t d = 0; d < TORTURE_DEVICES; d++) {
			struct tta_device_view v;
			if (tta_reader_device(r, d, &v) != 0) {
				reader_fail("tta_reader_device(%u) failed", d);
				continue;
			}
			for (int t = 0; t < TTA_MEM_TYPES; t++)
				if (v.used[t] < 0)
					reader_fail("device %u type %d total %lld", d, t,
						    (long long)v.used[t]);
			if (v.buffers < 0)
				reader_fail("device %u: %lld buffers", d, (long long)v.buffers);
		}
		tta_reader_foreach_process(r, on_process, NULL);
		uint64_t n = 0;
		tta_reader_foreach_buffer(r, NULL, on_buffer, &n);
		struct tta_test_health h;
		tta_test_health_read(r, &h);
		__atomic_add_fetch(&sh->reader_passes, 1, __ATOMIC_RELAXED);
		if (kill(sh->driver_pid, 0) != 0 && errno == ESRCH)
			return 0;
		sleep_us(2000);
	}
}
