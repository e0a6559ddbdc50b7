/*
 * tta_record.h - the one implementation of buffer-record publication.
 *
 * A record is written only by the process that owns its chunk (or, once that
 * process is gone, by whoever reaps it), always inside a ck_sequence write
 * section: the sequence word is odd while the record changes. Readers in
 * other processes copy the fields and validate the copy against the sequence
 * (tta_record_read), with a bounded number of tries, because a writer killed
 * mid-update leaves the sequence odd forever.
 *
 * Threading: publish and retire need the record's owner to serialise its own
 * writers (libtrack holds a shard lock); tta_record_read may run anywhere at
 * any time. Records are type-stable: a retired record is only ever reused as
 * a record, so a stale reader sees a wrong answer at worst, never a fault.
 */
#ifndef TTA_RECORD_H
#define TTA_RECORD_H

#include <ck_pr.h>
#include <ck_sequence.h>
#include <stdbool.h>

#include "tta_layout.h"

/* How often a reader retries a record whose sequence moves before skipping. */
#define TTA_RECORD_READ_TRIES 16

struct tta_record_fields {
	uint64_t owner, address, size, alloc_mono_ns;
	uint32_t device;
	uint8_t type, kernel_kind;
	bool by_handle; /* made by tta_report_alloc_handle: only a handle frees it */
};

/* Fills R as a LIVE record. ck_pr stores: the owner's own lock-free lookups
 * may compare against a record while it is reused. */
static inline void tta_record_publish(struct tta_record *r, const struct tta_record_fields *f)
{
	ck_sequence_t *seq = (ck_sequence_t *)&r->seq;
	ck_sequence_write_begin(seq);
	/* Handles of this owner name generations from here on; an older one
	 * belongs to whoever held the record before (see free_handle). */
	if (ck_pr_load_64(&r->owner) != f->owner)
		ck_pr_store_64(&r->first_generation, ck_pr_load_32(&r->generation));
	ck_pr_store_8(&r->by_handle, f->by_handle ? 1 : 0);
	ck_pr_store_64(&r->shadowed, 0);
	ck_pr_store_64(&r->owner, f->owner);
	ck_pr_store_64(&r->address, f->address);
	ck_pr_store_64(&r->size, f->size);
	ck_pr_store_64(&r->alloc_mono_ns, f->alloc_mono_ns);
	ck_pr_store_16(&r->device, (uint16_t)f->device);
	ck_pr_store_8(&r->type, f->type);
	ck_pr_store_8(&r->kernel_kind, f->kernel_kind);
	ck_pr_store_8(&r->state, TTA_RECORD_LIVE);
	ck_sequence_write_end(seq);
}

/* Marks R free and bumps its generation (so handles to it go stale). Safe on
 * a record a dead writer left mid-update (sequence odd): the section it
 * opened is closed by this one. */
static inline void tta_record_retire(struct tta_record *r)
{
	ck_sequence_t *seq = (ck_sequence_t *)&r->seq;
	bool mid_write = (ck_pr_load_uint(&seq->sequence) & 1u) != 0;
	if (!mid_write)
		ck_sequence_write_begin(seq);
	ck_pr_store_8(&r->state, TTA_RECORD_FREE);
	ck_pr_store_32(&r->generation, ck_pr_load_32(&r->generation) + 1);
	ck_sequence_write_end(seq);
}

/* Copies R under its sequence word into COPY; false if it never settled. */
static inline bool tta_record_read(const struct tta_record *r, struct tta_record *copy)
{
	const ck_sequence_t *seq = (const ck_sequence_t *)&r->seq;
	for (int attempt = 0; attempt < TTA_RECORD_READ_TRIES; attempt++) {
		/* ck_sequence_read_begin would spin forever on a sequence left odd
		 * by a writer killed mid-update, so bound the wait here. */
		unsigned int version = ck_pr_load_uint(&seq->sequence);
		if (version & 1u) {
			ck_pr_stall();
			continue;
		}
		ck_pr_fence_load();
		copy->generation = ck_pr_load_32(&r->generation);
		copy->owner = ck_pr_load_64(&r->owner);
		copy->address = ck_pr_load_64(&r->address);
		copy->size = ck_pr_load_64(&r->size);
		copy->alloc_mono_ns = ck_pr_load_64(&r->alloc_mono_ns);
		copy->device = ck_pr_load_16(&r->device);
		copy->type = ck_pr_load_8(&r->type);
		copy->state = ck_pr_load_8(&r->state);
		copy->kernel_kind = ck_pr_load_8(&r->kernel_kind);
		if (!ck_sequence_read_retry(seq, version))
			return true;
	}
	return false;
}

/* The owner's counter line follows its records. "Buffers" are allocations
 * with a free event: kernel binaries count in bytes only, everywhere (totals,
 * tt-smi, leak reports, detach). Only the slot's owner (or its proxy) calls
 * these, so the line is never written by two processes. */
static inline void tta_counter_line_add(struct tta_counter_line *line, unsigned type,
					uint64_t size)
{
	ck_pr_add_64(&line->bytes[type], size);
	if (__builtin_expect(type != TTA_LAYOUT_KERNEL, 1))
		ck_pr_inc_64(&line->buffers);
}

/* The same, keeping the owner's peak line (NULL: the segment has none):
 * the add returns the new value, and a new high is stored with a CAS, so
 * threads of one process racing never lower a peak. The compare costs
 * nothing measurable; the store is taken only when use reaches a new high. */
/* Raises PEAK's TYPE to NOW, a value the counter line held (signed, as
 * readers see it: a mis-accounted, negative, line is no peak). */
static inline void tta_peak_note(struct tta_peak_line *peak, unsigned type, uint64_t now)
{
	if (peak == NULL)
		return;
	uint64_t seen = ck_pr_load_64(&peak->peak[type]);
	while (__builtin_expect((int64_t)now > (int64_t)seen, 0) &&
	       !ck_pr_cas_64_value(&peak->peak[type], seen, now, &seen))
		;
}

static inline void tta_counter_line_add_peak(struct tta_counter_line *line,
					     struct tta_peak_line *peak, unsigned type,
					     uint64_t size)
{
	uint64_t now = ck_pr_faa_64(&line->bytes[type], size) + size;
	if (__builtin_expect(type != TTA_LAYOUT_KERNEL, 1))
		ck_pr_inc_64(&line->buffers);
	tta_peak_note(peak, type, now);
}

static inline void tta_counter_line_sub(struct tta_counter_line *line, unsigned type,
					uint64_t size)
{
	ck_pr_sub_64(&line->bytes[type], size);
	if (__builtin_expect(type != TTA_LAYOUT_KERNEL, 1))
		ck_pr_dec_64(&line->buffers);
}

#endif /* TTA_RECORD_H */
