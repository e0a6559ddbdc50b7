/*
 * history.c - device totals and the history samples writers record.
 *
 * A sample is written by whoever makes the first change to a device's total
 * in a new interval (a report, a reap), before applying it: so it holds the
 * total as it stood when the interval began. Claiming is one CAS on the
 * sample's stamp (interval n: 2n+1 while filling, 2n+2 once complete), so
 * any number of processes may race for it and exactly one fills it; one
 * killed mid-fill leaves an odd stamp that readers skip. Nobody waits.
 * Layout and rules: docs/segment.md, "History region".
 */
#include <ck_pr.h>
#include <string.h>

#include "tta_segment.h"

void tta_device_sum(const struct tta_segment *seg, uint32_t device,
		    uint64_t bytes[TTA_LAYOUT_MEM_TYPES], uint64_t *buffers, uint32_t *processes)
{
	struct tta_device_sum sum;
	tta_device_sum_into(seg, device, &sum);
	memcpy(bytes, sum.used, sizeof sum.used);
	if (buffers != NULL)
		*buffers = sum.buffers;
	if (processes != NULL)
		*processes = sum.processes;
}

/* Raises *WORD to at least VALUE (another writer may raise it further). */
static void raise_to(uint64_t *word, uint64_t value)
{
	uint64_t seen = ck_pr_load_64(word);
	while (seen < value && !ck_pr_cas_64_value(word, seen, value, &seen))
		;
}

/* Claims sample SLOT for interval N: false if it holds N or a later one,
 * or another writer got it first. */
static bool claim(struct tta_history_slot *slot, uint64_t n)
{
	uint64_t seen = ck_pr_load_64(&slot->stamp);
	if (seen >= 2 * n + 1)
		return false;
	return ck_pr_cas_64(&slot->stamp, seen, 2 * n + 1);
}

uint64_t tta_history_record(struct tta_segment *seg, uint32_t device, uint64_t now_ns)
{
	const struct tta_history_geo *g = &seg->hist;
	if (device >= g->devices || !seg->writable)
		return UINT64_MAX;
	uint64_t n = now_ns / g->fine_ns;
	uint64_t next = (n + 1) * g->fine_ns;
	struct tta_history_head *head = tta_history_head_at(seg, device);
	/* Someone recorded this interval or a later one (a writer that read
	 * its clock long ago must not label today's total with it). */
	if (ck_pr_load_64(&head->fine_latest) >= n + 1)
		return next;
	struct tta_history_slot *fine = tta_history_fine_at(seg, device, (uint32_t)(n % g->fine_count));
	if (!claim(fine, n))
		return next;
	raise_to(&head->fine_latest, n + 1);
	/* The first sample of a new coarse interval is that interval's sample
	 * too: nothing changed between its start and this moment. */
	uint64_t m = now_ns / g->coarse_ns;
	struct tta_history_slot *coarse =
		tta_history_coarse_at(seg, device, (uint32_t)(m % g->coarse_count));
	bool with_coarse = ck_pr_load_64(&head->coarse_latest) < m + 1 && claim(coarse, m);
	if (with_coarse)
		raise_to(&head->coarse_latest, m + 1);
	ck_pr_fence_store_load();
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES];
	tta_device_sum(seg, device, bytes, NULL, NULL);
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
		ck_pr_store_64(&fine->bytes[t], bytes[t]);
		if (with_coarse)
			ck_pr_store_64(&coarse->bytes[t], bytes[t]);
	}
	/* Values before the stamp that says they are complete. */
	ck_pr_fence_store();
	ck_pr_store_64(&fine->stamp, 2 * n + 2);
	if (with_coarse)
		ck_pr_store_64(&coarse->stamp, 2 * m + 2);
	return next;
}

bool tta_history_read_slot(const struct tta_history_slot *slot, uint64_t *stamp,
			   uint64_t bytes[TTA_LAYOUT_MEM_TYPES])
{
	uint64_t before = ck_pr_load_64(&slot->stamp);
	ck_pr_fence_load();
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		bytes[t] = ck_pr_load_64(&slot->bytes[t]);
	ck_pr_fence_load();
	uint64_t after = ck_pr_load_64(&slot->stamp);
	*stamp = before;
	if (before != after) {
		/* Being rewritten right now: report the newer stamp, which names
		 * the interval it is being filled for. */
		*stamp = after == 0 || (after & 1u) ? after : after - 1;
		return false;
	}
	return before != 0 && (before & 1u) == 0;
}
