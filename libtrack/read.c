/*
 * read.c - the read side of libtrack: consistent, non-blocking views of a
 * segment mapped read-only.
 *
 * Nothing read from the segment is trusted: every index is bounded by the
 * capacities validated at open (kept in our own memory, never re-read), every
 * string is copied and terminated here, and every multi-word value is taken
 * under its sequence word with a bounded number of retries, so a writer that
 * died mid-update (sequence stuck odd) or a hostile one cannot hang a reader.
 */
#include <ck_pr.h>
#include <ck_sequence.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_alloc.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))
/* A record mid-update is retried this often before it is skipped. */
#define SEQ_READ_TRIES 16

struct tta_reader {
	struct tta_segment seg;
};

TTA_EXPORT int tta_reader_open(const char *name, tta_reader **out, char *err, size_t errlen)
{
	*out = NULL;
	tta_reader *r = calloc(1, sizeof *r);
	if (r == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	int rc = tta_segment_open(name, 0, NULL, &r->seg, err, errlen);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

TTA_EXPORT void tta_reader_close(tta_reader *r)
{
	if (r == NULL)
		return;
	tta_segment_close(&r->seg);
	free(r);
}

TTA_EXPORT const char *tta_segment_name(const char *name, char *err, size_t errlen)
{
	static __thread char resolved[TTA_NAME_MAX + 2];
	if (tta_resolve_name(name, resolved, err, errlen) != 0)
		return NULL;
	return resolved;
}

TTA_EXPORT uint32_t tta_reader_device_capacity(const tta_reader *r)
{
	return r->seg.geo.device_capacity;
}

static inline bool slot_is_live(uint64_t state)
{
	return TTA_SLOT_PHASE(state) == TTA_SLOT_LIVE;
}

static inline uint64_t load_slot_state(const struct tta_segment *seg, uint32_t slot)
{
	return ck_pr_load_64(&tta_slot_at(seg, slot)->state);
}

/* Adds the counter line of SLOT on DEVICE into USED/BUFFERS if the slot stays
 * LIVE and unchanged around the read. Returns true if it was counted. */
static bool add_counter_line(const struct tta_segment *seg, uint32_t slot, uint32_t device,
			     int64_t *used, int64_t *buffers)
{
	uint64_t before = load_slot_state(seg, slot);
	if (!slot_is_live(before))
		return false;
	ck_pr_fence_load();
	const struct tta_counter_line *line = tta_counter_at(seg, slot, device);
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES];
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		bytes[t] = ck_pr_load_64(&line->bytes[t]);
	uint64_t bufs = ck_pr_load_64(&line->buffers);
	ck_pr_fence_load();
	if (load_slot_state(seg, slot) != before)
		return false; /* reaped meanwhile: its contribution is gone */
	/* Sum modulo 2^64 in unsigned arithmetic (signed overflow would be
	 * undefined on a hostile segment); read as signed, a mis-accounting
	 * shows as a negative total. */
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		used[t] = (int64_t)((uint64_t)used[t] + bytes[t]);
	*buffers = (int64_t)((uint64_t)*buffers + bufs);
	return true;
}

TTA_EXPORT int tta_reader_device(tta_reader *r, uint32_t device, struct tta_device_view *out)
{
	const struct tta_segment *seg = &r->seg;
	memset(out, 0, sizeof *out);
	if (device >= seg->geo.device_capacity)
		return -EINVAL;
	out->id = device;
	const struct tta_device *d = tta_device_at(seg, device);
	if (ck_pr_load_64(&d->state) == TTA_DEVICE_PUBLISHED) {
		ck_pr_fence_load();
		out->registered = 1;
		memcpy(out->arch, d->arch, sizeof out->arch);
		out->arch[sizeof out->arch - 1] = '\0';
		out->num_cores = ck_pr_load_32(&d->num_cores);
		out->l1_bytes_per_core = ck_pr_load_32(&d->l1_bytes_per_core);
		for (int t = 0; t < TTA_MEM_TYPES; t++)
			out->capacity[t] = ck_pr_load_64(&d->capacity[t]);
	}
	const unsigned int *live = tta_live_slot_words(seg);
	const unsigned int *users = tta_device_user_words(seg, device);
	uint32_t words = tta_bitmap_words(seg);
	for (uint32_t w = 0; w < words; w++) {
		unsigned int bits = ck_pr_load_uint(&live[w]) & ck_pr_load_uint(&users[w]);
		while (bits != 0) {
			uint32_t slot = w * 32 + (uint32_t)__builtin_ctz(bits);
			bits &= bits - 1;
			if (slot >= seg->geo.slot_capacity)
				break;
			if (add_counter_line(seg, slot, device, out->used, &out->buffers))
				out->processes++;
		}
	}
	return 0;
}

/* Copies SLOT's identity if it is LIVE and unchanged across the copy. */
static bool read_process(const struct tta_segment *seg, uint32_t slot,
			 struct tta_process_view *p)
{
	const struct tta_slot *s = tta_slot_at(seg, slot);
	uint64_t state = ck_pr_load_64(&s->state);
	if (!slot_is_live(state))
		return false;
	ck_pr_fence_load();
	memset(p, 0, sizeof *p);
	p->slot = slot;
	p->pid = TTA_SLOT_PID(state);
	p->generation = TTA_SLOT_GEN(state);
	p->state = (int32_t)TTA_SLOT_PHASE(state);
	p->uid = ck_pr_load_32(&s->uid);
	p->start_time = ck_pr_load_64(&s->start_time);
	p->attach_realtime_ns = ck_pr_load_64(&s->attach_realtime_ns);
	p->pidns_ino = ck_pr_load_64(&s->pidns_ino);
	memcpy(p->comm, s->comm, sizeof p->comm);
	p->comm[sizeof p->comm - 1] = '\0';
	memcpy(p->cmdline, s->cmdline, sizeof p->cmdline);
	p->cmdline[sizeof p->cmdline - 1] = '\0';
	ck_pr_fence_load();
	return ck_pr_load_64(&s->state) == state;
}

TTA_EXPORT int tta_reader_foreach_process(tta_reader *r, tta_process_fn fn, void *ctx)
{
	const struct tta_segment *seg = &r->seg;
	const unsigned int *live = tta_live_slot_words(seg);
	uint32_t words = tta_bitmap_words(seg);
	for (uint32_t w = 0; w < words; w++) {
		unsigned int bits = ck_pr_load_uint(&live[w]);
		while (bits != 0) {
			uint32_t slot = w * 32 + (uint32_t)__builtin_ctz(bits);
			bits &= bits - 1;
			if (slot >= seg->geo.slot_capacity)
				break;
			struct tta_process_view p;
			if (!read_process(seg, slot, &p))
				continue;
			bool any = false;
			for (uint32_t d = 0; d < seg->geo.device_capacity; d++) {
				unsigned int user = ck_pr_load_uint(
					&tta_device_user_words(seg, d)[slot / 32]);
				if (!(user & (1u << (slot % 32))))
					continue;
				int64_t used[TTA_MEM_TYPES] = { 0 }, buffers = 0;
				if (!add_counter_line(seg, slot, d, used, &buffers))
					break; /* reaped while we read: skip the rest */
				any = true;
				int rc = fn(&p, d, used, buffers, ctx);
				if (rc != 0)
					return rc;
			}
			if (!any && slot_is_live(load_slot_state(seg, slot))) {
				int64_t used[TTA_MEM_TYPES] = { 0 };
				int rc = fn(&p, TTA_NO_DEVICE, used, 0, ctx);
				if (rc != 0)
					return rc;
			}
		}
	}
	return 0;
}

/* Copies record IDX under its sequence word; false if it never settled. */
static bool read_record(const struct tta_segment *seg, uint32_t idx, struct tta_record *copy)
{
	const struct tta_record *rec = tta_record_at(seg, idx);
	const ck_sequence_t *seq = (const ck_sequence_t *)&rec->seq;
	for (int attempt = 0; attempt < SEQ_READ_TRIES; attempt++) {
		/* ck_sequence_read_begin would spin forever on a sequence left odd
		 * by a writer killed mid-update, so bound the wait here. */
		unsigned int version = ck_pr_load_uint(&seq->sequence);
		if (version & 1u) {
			ck_pr_stall();
			continue;
		}
		ck_pr_fence_load();
		copy->owner = ck_pr_load_64(&rec->owner);
		copy->address = ck_pr_load_64(&rec->address);
		copy->size = ck_pr_load_64(&rec->size);
		copy->alloc_mono_ns = ck_pr_load_64(&rec->alloc_mono_ns);
		copy->device = ck_pr_load_16(&rec->device);
		copy->type = ck_pr_load_8(&rec->type);
		copy->state = ck_pr_load_8(&rec->state);
		copy->kernel_kind = ck_pr_load_8(&rec->kernel_kind);
		if (!ck_sequence_read_retry(seq, version))
			return true;
	}
	return false;
}

TTA_EXPORT int tta_reader_foreach_buffer(tta_reader *r, const struct tta_buffer_filter *filter,
					 tta_buffer_fn fn, void *ctx)
{
	const struct tta_segment *seg = &r->seg;
	uint32_t chunks = tta_chunk_count(seg);
	uint64_t now = tta_now_mono_ns();
	for (uint32_t c = 0; c < chunks; c++) {
		uint64_t tag = ck_pr_load_64(tta_chunk_owner_at(seg, c));
		if (tag == 0)
			continue;
		uint32_t slot = TTA_OWNER_SLOT(tag);
		if (slot >= seg->geo.slot_capacity)
			continue;
		uint64_t state = load_slot_state(seg, slot);
		if (!slot_is_live(state) || TTA_SLOT_GEN(state) != TTA_OWNER_GEN(tag))
			continue; /* owner gone or being reaped: not counted anywhere */
		int32_t pid = TTA_SLOT_PID(state);
		if (filter != NULL && filter->pid != 0 && filter->pid != pid)
			continue;
		for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
			uint32_t idx = c * TTA_RECORDS_PER_CHUNK + i;
			struct tta_record rec;
			if (!read_record(seg, idx, &rec) || rec.state != TTA_RECORD_LIVE ||
			    rec.owner != tag)
				continue;
			if (rec.device >= seg->geo.device_capacity || rec.type >= TTA_MEM_TYPES)
				continue; /* corrupt: not ours to interpret */
			if (filter != NULL && filter->device >= 0 &&
			    (uint32_t)filter->device != rec.device)
				continue;
			struct tta_buffer_view v = {
				.record = idx,
				.owner_pid = pid,
				.owner_slot = slot,
				.device = rec.device,
				.type = rec.type,
				.kernel_kind = rec.kernel_kind,
				.address = rec.address,
				.size = rec.size,
				.age_ns = now > rec.alloc_mono_ns ? now - rec.alloc_mono_ns : 0,
			};
			int rc = fn(&v, ctx);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

TTA_EXPORT int tta_reader_health(tta_reader *r, struct tta_health *out)
{
	const struct tta_segment *seg = &r->seg;
	const struct tta_header *h = tta_hdr(seg);
	memset(out, 0, sizeof *out);
	out->abi_version = TTA_ABI_VERSION;
	out->device_capacity = seg->geo.device_capacity;
	out->slot_capacity = seg->geo.slot_capacity;
	out->record_capacity = seg->geo.record_capacity;
	out->segment_size = seg->geo.segment_size;
	out->created_realtime_ns = ck_pr_load_64(&h->created_realtime_ns);
	out->creator_pid = (int64_t)ck_pr_load_64(&h->creator_pid);
	out->mode = ck_pr_load_32(&h->mode);
	memcpy(out->name, seg->name, sizeof out->name - 1);
	out->name[sizeof out->name - 1] = '\0';
	for (uint32_t s = 0; s < seg->geo.slot_capacity; s++)
		if (slot_is_live(load_slot_state(seg, s)))
			out->live_processes++;
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++)
		if (ck_pr_load_64(tta_chunk_owner_at(seg, c)) != 0)
			out->records_in_use += TTA_RECORDS_PER_CHUNK;
	const struct tta_shortfall *sf = &h->shortfall;
	out->attach_refused = ck_pr_load_64(&sf->attach_refused);
	out->records_unavailable = ck_pr_load_64(&sf->records_unavailable);
	out->unknown_frees = ck_pr_load_64(&sf->unknown_frees);
	out->double_frees = ck_pr_load_64(&sf->double_frees);
	out->foreign_frees = ck_pr_load_64(&sf->foreign_frees);
	out->bad_device = ck_pr_load_64(&sf->bad_device);
	out->bad_argument = ck_pr_load_64(&sf->bad_argument);
	out->address_collisions = ck_pr_load_64(&sf->address_collisions);
	const struct tta_reaper_stats *rs = &h->reaper;
	out->processes_reaped = ck_pr_load_64(&rs->processes_reaped);
	out->leaky_processes = ck_pr_load_64(&rs->leaky_processes);
	out->leaked_buffers = ck_pr_load_64(&rs->leaked_buffers);
	out->leaked_bytes = ck_pr_load_64(&rs->leaked_bytes);
	out->reaper_pid = (int64_t)ck_pr_load_64(&rs->reaper_pid);
	uint64_t start = ck_pr_load_64(&rs->reaper_start_time);
	out->reaper_alive = out->reaper_pid > 0 && out->reaper_pid <= 0x3fffffff &&
			    tta_proc_incarnation_alive((pid_t)out->reaper_pid, start) == 1;
	return 0;
}
