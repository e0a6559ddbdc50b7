/*
 * events.c - following the event ring (contract in <tt-alloc/events.h>).
 * Stub: the ring is not read yet; no event ever comes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tt-alloc/events.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))

struct tta_event_cursor {
	tta_reader *reader;
	struct tta_event event;
};

TTA_EXPORT int tta_events_open(tta_reader *reader, enum tta_events_start start,
			       tta_event_cursor **out, char *err, size_t errlen)
{
	*out = NULL;
	if (reader == NULL || (start != TTA_EVENTS_OLDEST && start != TTA_EVENTS_NOW))
		return tta_fail(err, errlen, -EINVAL, "invalid event cursor arguments");
	tta_event_cursor *c = calloc(1, sizeof *c);
	if (c == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	c->reader = reader;
	*out = c;
	return 0;
}

TTA_EXPORT void tta_events_close(tta_event_cursor *c)
{
	free(c);
}

TTA_EXPORT int tta_events_available(const tta_event_cursor *c)
{
	(void)c;
	return 0;
}

TTA_EXPORT int tta_events_next(tta_event_cursor *c, const struct tta_event **event,
			       uint64_t *missed)
{
	(void)c;
	*event = NULL;
	if (missed)
		*missed = 0;
	return 0;
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
