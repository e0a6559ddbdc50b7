/*
 * slot.c - the process-slot lifecycle's first half (claim, go live) and the
 * registry futex that tells reapers about new slots. The second half (reap,
 * release, recycle) is reap.c's. Both are used by libtrack, the reaper and
 * the tests; nothing else writes a slot's state word.
 *
 * Claiming is two CASes on the slot's state word: FREE -> CLAIMED (pid and a
 * new generation in the same word), identity written, CLAIMED -> LIVE. The
 * claim time is stored before the first CAS, so a claimer that dies before
 * writing its identity leaves a slot that anyone can judge abandoned from
 * the segment alone (tta_slot_owner_dead), without remembering anything.
 */
#include <ck_pr.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tta_segment.h"

void tta_registry_notify(struct tta_segment *seg)
{
	struct tta_header *h = tta_hdr(seg);
	ck_pr_inc_32(&h->registry_seq);
	/* Shared futex: reapers of every process (and pid namespace) wait on it. */
	syscall(SYS_futex, &h->registry_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

uint32_t tta_registry_seq(const struct tta_segment *seg)
{
	return ck_pr_load_32(&tta_hdr(seg)->registry_seq);
}

uint32_t tta_registry_wait(const struct tta_segment *seg, uint32_t seen, unsigned timeout_ms)
{
	uint32_t *word = &tta_hdr(seg)->registry_seq;
	struct timespec timeout = { .tv_sec = timeout_ms / 1000,
				    .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	long rc = syscall(SYS_futex, word, FUTEX_WAIT, seen, &timeout, NULL, 0);
	if (rc < 0 && errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR) {
		struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
		nanosleep(&pause, NULL); /* never spin on a persistent error */
	}
	return ck_pr_load_32(word);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memset(dst, 0, cap);
	memcpy(dst, src, n);
}

int tta_slot_claim(struct tta_segment *seg, const struct tta_slot_identity *id, uint32_t *slot_out,
		   uint64_t *live_state_out)
{
	if (!seg->writable || id->pid <= 0)
		return -EINVAL;
	struct tta_header *h = tta_hdr(seg);
	uint32_t cap = seg->geo.slot_capacity;
	uint32_t first = (uint32_t)(ck_pr_faa_64(&h->slot_hint, 1) % cap);
	for (uint32_t n = 0; n < cap; n++) {
		uint32_t i = (first + n) % cap;
		struct tta_slot *s = tta_slot_at(seg, i);
		uint64_t st = ck_pr_load_64(&s->state);
		if (TTA_SLOT_PHASE(st) != TTA_SLOT_FREE)
			continue;
		uint32_t gen = TTA_SLOT_GEN(st) + 1;
		uint64_t claimed = TTA_SLOT_STATE(TTA_SLOT_CLAIMED, id->pid, gen);
		/* A losing racer may overwrite this with its own "now": just as
		 * good, since only its age matters. */
		ck_pr_store_64(&s->claimed_mono_ns, tta_now_mono_ns());
		ck_pr_fence_store();
		if (!ck_pr_cas_64(&s->state, st, claimed))
			continue;
		/* Identity first: until both are set, only the claim's age can
		 * judge us. */
		ck_pr_store_64(&s->start_time, id->start_time);
		ck_pr_store_64(&s->pidns_ino, id->pidns_ino);
		ck_pr_store_32(&s->uid, id->uid);
		ck_pr_store_32(&s->image_id, id->image_id);
		ck_pr_store_64(&s->attach_realtime_ns, tta_now_realtime_ns());
		copy_text(s->comm, sizeof s->comm, id->comm);
		copy_text(s->cmdline, sizeof s->cmdline, id->cmdline);
		ck_pr_store_64(&s->proxy_tag, id->proxy_tag);
		/* The reaper zeroes a slot's lines before freeing it; do it again in
		 * case a crash left something behind. */
		memset(tta_counter_at(seg, i, 0), 0,
		       (size_t)seg->geo.device_capacity * sizeof(struct tta_counter_line));
		if (seg->off_peaks != 0)
			memset(tta_peak_at(seg, i, 0), 0,
			       (size_t)seg->geo.device_capacity * sizeof(struct tta_peak_line));
		uint64_t live = TTA_SLOT_STATE(TTA_SLOT_LIVE, id->pid, gen);
		ck_pr_fence_store();
		if (!ck_pr_cas_64(&s->state, claimed, live))
			continue; /* judged abandoned while we were stopped: try again */
		ck_pr_or_uint(&tta_live_slot_words(seg)[i / 32], 1u << (i % 32));
		*slot_out = i;
		*live_state_out = live;
		tta_registry_notify(seg);
		struct tta_event_entry attach = {
			.mono_ns = tta_now_coarse_ns(),
			.pid = id->pid,
			.slot = i,
			.device = UINT32_MAX,
			.kind = TTA_EVENT_KIND_ATTACH,
			.type = TTA_EVENT_NO_TYPE,
		};
		tta_event_emit(seg, &attach);
		return 0;
	}
	return -ENOSPC;
}

int tta_slot_reap_previous_images(struct tta_segment *seg, const struct tta_slot_identity *id)
{
	int reaped = 0;
	for (uint32_t i = 0; i < seg->geo.slot_capacity; i++) {
		struct tta_slot *s = tta_slot_at(seg, i);
		uint64_t st = ck_pr_load_64(&s->state);
		if (TTA_SLOT_PHASE(st) != TTA_SLOT_LIVE && TTA_SLOT_PHASE(st) != TTA_SLOT_CLAIMED)
			continue;
		if (TTA_SLOT_PID(st) != id->pid || ck_pr_load_64(&s->start_time) != id->start_time ||
		    ck_pr_load_64(&s->pidns_ino) != id->pidns_ino ||
		    ck_pr_load_32(&s->image_id) == id->image_id ||
		    ck_pr_load_64(&s->proxy_tag) != 0) /* a proxy's slot is not an image */
			continue;
		if (tta_reap_slot(seg, i, st, 0, NULL, NULL) == 1)
			reaped++;
	}
	return reaped;
}

int64_t tta_chunk_claim(struct tta_segment *seg, uint64_t owner_tag)
{
	struct tta_header *h = tta_hdr(seg);
	uint32_t chunks = tta_chunk_count(seg);
	uint32_t first = (uint32_t)(ck_pr_load_64(&h->chunk_hint) % chunks);
	for (uint32_t n = 0; n < chunks; n++) {
		uint32_t c = (first + n) % chunks;
		uint64_t *owner = tta_chunk_owner_at(seg, c);
		if (ck_pr_load_64(owner) != 0 || !ck_pr_cas_64(owner, 0, owner_tag))
			continue;
		ck_pr_store_64(&h->chunk_hint, (uint64_t)c + 1);
		ck_pr_inc_64(&h->chunk_epoch); /* readers' records_reserved is stale */
		return c;
	}
	return -1;
}
