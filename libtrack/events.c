/*
 * events.c - following the event ring (contract in <tt-alloc/events.h>;
 * layout in docs/segment.md, writers in shm/events.c).
 *
 * A cursor is a position p. The entry for p is accepted when its stamp reads
 * 2p+2 before and after the copy and its check word matches the copy: a
 * torn, raced or forged entry is not. Everything about the ring is
 * untrusted: a head that moves backwards resets the cursor, one far ahead
 * counts as missed events, and each call looks at a bounded number of
 * entries, so a hostile segment gives nonsense or nothing, never a hang.
 */
#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt-alloc/events.h"
#include "read_priv.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))

_Static_assert((int)TTA_EVENT_ALLOC == (int)TTA_EVENT_KIND_ALLOC &&
		       (int)TTA_EVENT_FREE == (int)TTA_EVENT_KIND_FREE &&
		       (int)TTA_EVENT_CB_ALLOC == (int)TTA_EVENT_KIND_CB_ALLOC &&
		       (int)TTA_EVENT_CB_FREE == (int)TTA_EVENT_KIND_CB_FREE &&
		       (int)TTA_EVENT_KERNEL_LOAD == (int)TTA_EVENT_KIND_KERNEL_LOAD &&
		       (int)TTA_EVENT_ATTACH == (int)TTA_EVENT_KIND_ATTACH &&
		       (int)TTA_EVENT_EXIT == (int)TTA_EVENT_KIND_EXIT &&
		       (int)TTA_EVENT_REAP == (int)TTA_EVENT_KIND_REAP,
	       "public and segment event kinds agree");

/* Entries one call looks at, at most: a hostile ring cannot hold it long. */
#define MAX_STEPS 4096u

struct tta_event_cursor {
	tta_reader *reader;
	uint64_t pos;             /* the next position to read */
	/* A wait for unfinished entries: opened when one is first seen, at
	 * WAIT_SINCE (CLOCK_MONOTONIC ns) with the head then at WAIT_HEAD.
	 * Once TTA_EVENTS_TORN_MS passed, every position below WAIT_HEAD
	 * (taken that long ago: an honest writer fills one in nanoseconds) that
	 * is still unfinished is torn, and skipped without waiting again. */
	bool waiting;
	uint64_t wait_since, wait_head;
	uint64_t lost;            /* skipped by the call in progress */
	/* CLOCK_REALTIME - CLOCK_MONOTONIC, taken at OFFSET_TAKEN (monotonic):
	 * one offset for a minute, so events of one instant never come out of
	 * order by a clock read's jitter. */
	int64_t rt_offset;
	uint64_t offset_taken;
	struct tta_event event;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

TTA_EXPORT int tta_events_open(tta_reader *reader, enum tta_events_start start,
			       tta_event_cursor **out, char *err, size_t errlen)
{
	*out = NULL;
	if (reader == NULL || (start != TTA_EVENTS_OLDEST && start != TTA_EVENTS_NOW))
		return tta_fail(err, errlen, -EINVAL, "invalid event cursor arguments");
	int rc = tta_reader_usable(reader, err, errlen);
	if (rc != 0)
		return rc;
	tta_event_cursor *c = calloc(1, sizeof *c);
	if (c == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	c->reader = reader;
	const struct tta_segment *seg = &reader->seg;
	if (seg->events.capacity != 0) {
		sigjmp_buf jump, *outer;
		BUS_GUARD(jump, outer, goto faulted);
		uint64_t head = ck_pr_load_64(&tta_events_header(seg)->head);
		BUS_GUARD_END(outer);
		c->pos = start == TTA_EVENTS_NOW || head <= seg->events.capacity
				 ? (start == TTA_EVENTS_NOW ? head : 0)
				 : head - seg->events.capacity;
	}
	*out = c;
	return 0;
faulted:
	free(c);
	return tta_fail(err, errlen, -EFAULT,
			"segment %s became unreadable (SIGBUS: truncated under the reader)",
			seg->name);
}

TTA_EXPORT void tta_events_close(tta_event_cursor *c)
{
	free(c);
}

TTA_EXPORT int tta_events_available(const tta_event_cursor *c)
{
	return c->reader->seg.events.capacity != 0;
}

/* Copies entry POS into C->event if it is complete and consistent:
 * 1 accepted, 0 not finished yet, -1 lost (overwritten or torn). */
static int take_entry(const struct tta_segment *seg, uint64_t pos, struct tta_event *ev,
		      int64_t rt_offset)
{
	const struct tta_event_entry *slot = tta_event_at(seg, pos);
	uint64_t want = 2 * pos + 2;
	uint64_t before = ck_pr_load_64(&slot->seq);
	if (before != want)
		return before > want ? -1 : 0;
	ck_pr_fence_load();
	struct tta_event_entry copy;
	copy.mono_ns = ck_pr_load_64(&slot->mono_ns);
	copy.pid = (int32_t)ck_pr_load_32((const uint32_t *)&slot->pid);
	copy.slot = ck_pr_load_32(&slot->slot);
	copy.device = ck_pr_load_32(&slot->device);
	copy.kind = ck_pr_load_8(&slot->kind);
	copy.type = ck_pr_load_8(&slot->type);
	copy.kernel_kind = ck_pr_load_8(&slot->kernel_kind);
	copy.address = ck_pr_load_64(&slot->address);
	copy.size = ck_pr_load_64(&slot->size);
	copy.buffers = ck_pr_load_64(&slot->buffers);
	copy.check = ck_pr_load_64(&slot->check);
	ck_pr_fence_load();
	if (ck_pr_load_64(&slot->seq) != before || copy.check != tta_event_check(&copy, pos))
		return -1;
	memset(ev, 0, sizeof *ev);
	ev->seq = pos;
	ev->realtime_ns = copy.mono_ns + (uint64_t)rt_offset; /* modulo 2^64: untrusted */
	ev->kind = copy.kind;
	ev->pid = copy.pid;
	ev->slot = copy.slot;
	ev->device = copy.device;
	ev->type = copy.type == TTA_EVENT_NO_TYPE ? UINT32_MAX : copy.type;
	ev->kernel_kind = copy.kernel_kind;
	ev->address = copy.address;
	ev->size = copy.size;
	ev->buffers = copy.buffers;
	return 1;
}

/* Steps C forward from its position: 1 with C->event filled, 0 when there
 * is nothing (yet). Adds what it skips to *LOST. Inside the caller's guard. */
static int advance(tta_event_cursor *c, uint64_t mono, int64_t rt_offset, uint64_t *lost)
{
	const struct tta_segment *seg = &c->reader->seg;
	uint32_t cap = seg->events.capacity;
	for (unsigned step = 0; step < MAX_STEPS; step++) {
		uint64_t head = ck_pr_load_64(&tta_events_header(seg)->head);
		if (head < c->pos) {
			/* A head never moves back: the ring was rewritten. */
			c->pos = head;
			c->waiting = false;
		}
		if (head == c->pos)
			return 0;
		if (head - c->pos > cap) {
			*lost += head - c->pos - cap;
			c->pos = head - cap;
		}
		int got = take_entry(seg, c->pos, &c->event, rt_offset);
		if (got == 1) {
			c->pos++;
			return 1;
		}
		if (got == 0) {
			/* Not finished: a writer is filling it now, or died doing
			 * so. Only time tells which. */
			if (!c->waiting || c->pos >= c->wait_head) {
				c->waiting = true;
				c->wait_since = mono;
				c->wait_head = head;
				return 0;
			}
			if (mono - c->wait_since < (uint64_t)TTA_EVENTS_TORN_MS * 1000000u)
				return 0;
		}
		*lost += 1;
		c->pos++;
	}
	return 0;
}

TTA_EXPORT int tta_events_next(tta_event_cursor *c, const struct tta_event **event,
			       uint64_t *missed)
{
	*event = NULL;
	if (missed)
		*missed = 0;
	if (c->reader->seg.events.capacity == 0)
		return 0;
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);
	if (c->offset_taken == 0 || mono - c->offset_taken > 60ull * 1000000000u) {
		c->rt_offset = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
		c->offset_taken = mono;
	}
	c->lost = 0;
	sigjmp_buf jump, *outer;
	BUS_GUARD(jump, outer, goto faulted);
	int rc = advance(c, mono, c->rt_offset, &c->lost);
	BUS_GUARD_END(outer);
	if (missed)
		*missed = c->lost;
	if (rc == 1)
		*event = &c->event;
	return rc;
faulted:
	if (missed)
		*missed = c->lost;
	return -EFAULT;
}

/* ------------------------------------------------------------------------ */
/* Names and the text line                                                   */

static const char *const kind_names[TTA_EVENT_KINDS] = {
	[TTA_EVENT_ALLOC] = "alloc",	     [TTA_EVENT_FREE] = "free",
	[TTA_EVENT_CB_ALLOC] = "cb_alloc",   [TTA_EVENT_CB_FREE] = "cb_free",
	[TTA_EVENT_KERNEL_LOAD] = "kernel_load", [TTA_EVENT_ATTACH] = "attach",
	[TTA_EVENT_EXIT] = "exit",	     [TTA_EVENT_REAP] = "reap",
};

TTA_EXPORT const char *tta_event_kind_name(unsigned kind)
{
	return kind > 0 && kind < TTA_EVENT_KINDS ? kind_names[kind] : NULL;
}

/* "DRAM", "L1_SMALL", or "type#N" for a number no name fits. */
static void type_word(uint32_t type, char *buf, size_t len)
{
	const char *name = tta_mem_type_name(type);
	if (name == NULL) {
		snprintf(buf, len, "type#%" PRIu32, type);
		return;
	}
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		buf[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
	buf[i] = '\0';
}

TTA_EXPORT char *tta_event_format(const struct tta_event *e, char *buf, size_t len)
{
	char type[32], device[40] = "";
	if (len == 0)
		return buf;
	type_word(e->type, type, sizeof type);
	if (e->device != TTA_NO_DEVICE)
		snprintf(device, sizeof device, "[Device %" PRIu32 "] ", e->device);
	switch (e->kind) {
	case TTA_EVENT_ALLOC:
	case TTA_EVENT_FREE:
		snprintf(buf, len, "%s%s: %" PRIu64 " bytes %s by PID %" PRId32 " (buffer 0x%" PRIx64 ")",
			 device, e->kind == TTA_EVENT_ALLOC ? "ALLOC" : "FREE", e->size, type, e->pid,
			 e->address);
		break;
	case TTA_EVENT_CB_ALLOC:
	case TTA_EVENT_CB_FREE:
		snprintf(buf, len, "%s%s: %" PRIu64 " bytes %s by PID %" PRId32 " (cb 0x%" PRIx64 ")",
			 device, e->kind == TTA_EVENT_CB_ALLOC ? "CB_ALLOC" : "CB_FREE", e->size, type,
			 e->pid, e->address);
		break;
	case TTA_EVENT_KERNEL_LOAD: {
		const char *kk = tta_kernel_kind_name(e->kernel_kind);
		char kind[32];
		if (kk)
			snprintf(kind, sizeof kind, "%s", kk);
		else
			snprintf(kind, sizeof kind, "kind#%" PRIu32, e->kernel_kind);
		snprintf(buf, len, "%sKERNEL_LOAD: %" PRIu64 " bytes %s (%s) by PID %" PRId32
			 " (kernel 0x%" PRIx64 ")",
			 device, e->size, type, kind, e->pid, e->address);
		break;
	}
	case TTA_EVENT_ATTACH:
		snprintf(buf, len, "%sATTACH: PID %" PRId32 " (slot %" PRIu32 ")", device, e->pid,
			 e->slot);
		break;
	case TTA_EVENT_EXIT:
		snprintf(buf, len, "%sEXIT: PID %" PRId32 " detached (slot %" PRIu32 ")", device,
			 e->pid, e->slot);
		break;
	case TTA_EVENT_REAP:
		if (e->buffers == 0 && e->size == 0)
			snprintf(buf, len, "%sREAP: PID %" PRId32 " ended, nothing leaked (slot %" PRIu32
				 ")", device, e->pid, e->slot);
		else
			snprintf(buf, len, "%sREAP: PID %" PRId32 " ended, leaked %" PRIu64
				 " buffer%s, %" PRIu64 " bytes (slot %" PRIu32 ")",
				 device, e->pid, e->buffers, e->buffers == 1 ? "" : "s", e->size,
				 e->slot);
		break;
	default:
		snprintf(buf, len, "%sEVENT#%" PRIu32 ": PID %" PRId32 " (slot %" PRIu32 ", address 0x%"
			 PRIx64 ", size %" PRIu64 ")",
			 device, e->kind, e->pid, e->slot, e->address, e->size);
		break;
	}
	return buf;
}
