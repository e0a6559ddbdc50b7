/*
 * events.c - appending to the event ring (docs/segment.md, "Event ring").
 *
 * A writer takes position p with one atomic increment of the ring's head,
 * then claims entry p % capacity with a CAS on its stamp (2p+1), fills it
 * and publishes 2p+2 with release ordering. It never waits: when a later
 * lap already holds the entry, the event is dropped (readers count it as
 * missed). A check word over the position and every field lets readers
 * reject an entry that two writers of different laps wrote into at once,
 * or that a writer was killed while filling.
 */
#include <ck_pr.h>

#include "tta_segment.h"

uint64_t tta_event_check(const struct tta_event_entry *e, uint64_t pos)
{
	uint64_t h = tta_mix64(pos ^ UINT64_C(0x7474616576656e74));
	h = tta_mix64(h ^ e->mono_ns);
	h = tta_mix64(h ^ ((uint64_t)(uint32_t)e->pid << 32 | e->slot));
	h = tta_mix64(h ^ ((uint64_t)e->device << 32 | (uint64_t)e->kind << 16 | (uint64_t)e->type << 8 |
		     e->kernel_kind));
	h = tta_mix64(h ^ e->address);
	h = tta_mix64(h ^ e->size);
	return tta_mix64(h ^ e->buffers);
}

void tta_event_emit(struct tta_segment *seg, const struct tta_event_entry *e)
{
	if (seg->events.capacity == 0 || !seg->writable)
		return;
	uint64_t pos = ck_pr_faa_64(&tta_events_header(seg)->head, 1);
	struct tta_event_entry *slot = tta_event_at(seg, pos);
	uint64_t seen = ck_pr_load_64(&slot->seq);
	if (seen >= 2 * pos + 1 || !ck_pr_cas_64(&slot->seq, seen, 2 * pos + 1))
		return; /* a later lap has it: dropped, and seen as missed */
	ck_pr_fence_store();
	ck_pr_store_64(&slot->mono_ns, e->mono_ns);
	ck_pr_store_32((uint32_t *)&slot->pid, (uint32_t)e->pid);
	ck_pr_store_32(&slot->slot, e->slot);
	ck_pr_store_32(&slot->device, e->device);
	ck_pr_store_8(&slot->kind, e->kind);
	ck_pr_store_8(&slot->type, e->type);
	ck_pr_store_8(&slot->kernel_kind, e->kernel_kind);
	ck_pr_store_64(&slot->address, e->address);
	ck_pr_store_64(&slot->size, e->size);
	ck_pr_store_64(&slot->buffers, e->buffers);
	ck_pr_store_64(&slot->check, tta_event_check(e, pos));
	ck_pr_fence_store();
	ck_pr_store_64(&slot->seq, 2 * pos + 2);
}
