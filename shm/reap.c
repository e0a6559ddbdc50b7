/*
 * reap.c - reclaiming the slot of a process that is gone.
 *
 * The order of operations is what keeps totals exact under SIGKILL:
 *  1. One CAS moves the slot from LIVE (or CLAIMED) to REAPING. Readers sum
 *     only LIVE slots, so the process's whole contribution to every device
 *     total vanishes at that instant, records and counters alike.
 *  2. Everything after that (record recycling, counter zeroing, chunk release)
 *     is invisible to readers and idempotent, so a reaper that dies midway is
 *     simply taken over by the next one.
 *  3. The slot returns to FREE last, with release ordering.
 * Several reapers (the daemon, writers reaping on attach, a --once run) may
 * race: the CAS in step 1 picks exactly one.
 */
#include <ck_pr.h>
#include <ck_sequence.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tta_record.h"
#include "tta_segment.h"
#include "tta_sites.h"

static void clear_slot_bits(struct tta_segment *seg, uint32_t slot)
{
	unsigned int mask = ~(1u << (slot % 32));
	ck_pr_and_uint(&tta_live_slot_words(seg)[slot / 32], mask);
	for (uint32_t d = 0; d < seg->geo.device_capacity; d++)
		ck_pr_and_uint(&tta_device_user_words(seg, d)[slot / 32], mask);
}

static void free_chunk(struct tta_segment *seg, uint32_t c);

/* Leaked records grouped by (tag, site), for the leak report: a small
 * open-addressing table that grows, keyed by tag << 16 | site. */
struct origin_groups {
	struct tta_reap_origin *groups;
	uint32_t *index; /* group + 1, 0 empty */
	uint32_t count, capacity;
	bool failed;     /* out of memory: the report goes without groups */
};

static bool origin_groups_grow(struct origin_groups *g)
{
	uint32_t cap = g->capacity ? g->capacity * 2 : 16;
	struct tta_reap_origin *groups = realloc(g->groups, cap * sizeof *groups);
	if (groups == NULL)
		return false;
	g->groups = groups;
	uint32_t *index = calloc((size_t)cap * 2, sizeof *index);
	if (index == NULL)
		return false;
	free(g->index);
	g->index = index;
	g->capacity = cap;
	for (uint32_t i = 0; i < g->count; i++) {
		uint32_t key = (uint32_t)groups[i].tag << 16 | groups[i].site;
		uint32_t j = (key * 2654435761u) & (cap * 2 - 1);
		while (index[j] != 0)
			j = (j + 1) & (cap * 2 - 1);
		index[j] = i + 1;
	}
	return true;
}

static void origin_groups_add(struct origin_groups *g, const struct tta_record *r)
{
	if (g->failed)
		return;
	/* Ids no block holds (a corrupt record) count with the full tables'. */
	uint16_t tag = ck_pr_load_16(&r->tag), site = ck_pr_load_16(&r->site);
	if (tag > TTA_TAGS_PER_PROCESS)
		tag = TTA_ID_OTHER;
	if (site > TTA_SITES_PER_PROCESS)
		site = TTA_ID_OTHER;
	if (g->count == g->capacity && !origin_groups_grow(g)) {
		g->failed = true;
		return;
	}
	uint32_t key = (uint32_t)tag << 16 | site, mask = g->capacity * 2 - 1;
	uint32_t j = (key * 2654435761u) & mask;
	for (; g->index[j] != 0; j = (j + 1) & mask) {
		struct tta_reap_origin *o = &g->groups[g->index[j] - 1];
		if (o->tag == tag && o->site == site)
			break;
	}
	if (g->index[j] == 0) {
		struct tta_reap_origin *o = &g->groups[g->count++];
		memset(o, 0, sizeof *o);
		o->tag = tag;
		o->site = site;
		g->index[j] = g->count;
	}
	struct tta_reap_origin *o = &g->groups[g->index[j] - 1];
	uint8_t type = ck_pr_load_8(&r->type);
	o->buffers++;
	if (type < TTA_LAYOUT_MEM_TYPES)
		o->bytes[type] += ck_pr_load_64(&r->size);
}

/* The events that end a slot: EXIT when its owner released it, else one
 * REAP per device it still held something on (leaked buffers and bytes,
 * kernel binaries excepted), or one without a device when it held nothing.
 * Reads the counter lines, so it runs before they are zeroed. */
static void emit_end_events(struct tta_segment *seg, uint32_t slot, int32_t pid, bool reaped)
{
	if (seg->events.capacity == 0)
		return;
	struct tta_event_entry e = {
		.mono_ns = tta_now_coarse_ns(),
		.pid = pid,
		.slot = slot,
		.device = UINT32_MAX,
		.kind = reaped ? TTA_EVENT_KIND_REAP : TTA_EVENT_KIND_EXIT,
		.type = TTA_EVENT_NO_TYPE,
	};
	bool any = false;
	for (uint32_t d = 0; reaped && d < seg->geo.device_capacity; d++) {
		const struct tta_counter_line *line = tta_counter_at(seg, slot, d);
		uint64_t bytes = 0;
		for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			if (t != TTA_LAYOUT_KERNEL)
				bytes += ck_pr_load_64(&line->bytes[t]);
		uint64_t buffers = ck_pr_load_64(&line->buffers);
		if (bytes == 0 && buffers == 0)
			continue;
		e.device = d;
		e.size = bytes;
		e.buffers = buffers;
		tta_event_emit(seg, &e);
		any = true;
	}
	if (!any) {
		e.device = UINT32_MAX;
		e.size = 0;
		e.buffers = 0;
		tta_event_emit(seg, &e);
	}
}

/* Reclaims SLOT; COUNT_LEAKS says whether what it held was leaked (its owner
 * died or lost its image) or deliberately dropped (tta_track_detach). */
static int reclaim_slot(struct tta_segment *seg, uint32_t slot, uint64_t expected_state,
			uint32_t max_records, tta_reap_fn fn, void *ctx, bool count_leaks)
{
	if (!seg->writable || slot >= seg->geo.slot_capacity)
		return -EINVAL;
	struct tta_slot *s = tta_slot_at(seg, slot);
	unsigned phase = TTA_SLOT_PHASE(expected_state);
	uint32_t gen = TTA_SLOT_GEN(expected_state);
	int32_t pid = TTA_SLOT_PID(expected_state);
	uint64_t reaping = TTA_SLOT_STATE(TTA_SLOT_REAPING, pid, gen);
	uint64_t me = (uint64_t)getpid();

	if (phase == TTA_SLOT_LIVE) {
		/* The CAS below changes the totals of every device the slot
		 * used: their history samples for this interval come first. */
		uint64_t now = tta_now_coarse_ns();
		for (uint32_t d = 0; d < seg->hist.devices; d++)
			if (ck_pr_load_uint(&tta_device_user_words(seg, d)[slot / 32]) &
			    (1u << (slot % 32)))
				(void)tta_history_record(seg, d, now);
	}
	if (phase == TTA_SLOT_LIVE || phase == TTA_SLOT_CLAIMED) {
		/* Before the CAS, so a reaper that dies right after it leaves a
		 * slot whose age anyone can judge (tta_slot_owner_dead). */
		ck_pr_store_64(&s->reaping_since_ns, tta_now_mono_ns());
		ck_pr_fence_store();
		if (!ck_pr_cas_64(&s->state, expected_state, reaping))
			return 0;
	} else if (phase == TTA_SLOT_REAPING) {
		/* Take over from a reaper that died: the CAS on reaper_pid picks one. */
		uint64_t old_reaper = ck_pr_load_64(&s->reaper_pid);
		if (ck_pr_load_64(&s->state) != expected_state ||
		    !ck_pr_cas_64(&s->reaper_pid, old_reaper, me))
			return 0;
	} else {
		return 0;
	}
	uint64_t my_start = 0;
	(void)tta_proc_start_time((pid_t)me, &my_start);
	ck_pr_store_64(&s->reaper_pid, me);
	ck_pr_store_64(&s->reaper_start_time, my_start);
	ck_pr_store_64(&s->reaping_since_ns, tta_now_mono_ns());

	clear_slot_bits(seg, slot);

	struct tta_reap_report rep;
	memset(&rep, 0, sizeof rep);
	rep.slot = slot;
	rep.pid = pid;
	rep.uid = s->uid;
	rep.start_time = s->start_time;
	rep.attach_realtime_ns = s->attach_realtime_ns;
	memcpy(rep.comm, s->comm, sizeof rep.comm);
	rep.comm[sizeof rep.comm - 1] = '\0';
	memcpy(rep.cmdline, s->cmdline, sizeof rep.cmdline);
	rep.cmdline[sizeof rep.cmdline - 1] = '\0';
	rep.devices = seg->geo.device_capacity;

	int rc = 1;
	struct tta_counter_line *used = NULL;
	struct tta_record *listed = NULL;
	uint64_t *kernels = NULL;
	struct origin_groups groups = { .failed = fn == NULL };
	struct tta_site_block *block = tta_sites_block(seg, slot), *sites = NULL;
	if (fn != NULL) {
		used = calloc(rep.devices, sizeof *used);
		kernels = calloc(rep.devices, sizeof *kernels);
		if (max_records > 0)
			listed = calloc(max_records, sizeof *listed);
		if (used == NULL || kernels == NULL || (max_records > 0 && listed == NULL))
			rc = -ENOMEM;
		/* The names die with the slot: keep a copy for the report. */
		if (block != NULL && (sites = malloc(sizeof *sites)) != NULL)
			memcpy(sites, block, sizeof *sites);
	}
	/* Kernel binaries have no free event: they go away with the process and
	 * are reported, but never make it leaky. */
	uint64_t all_buffers = 0;
	for (uint32_t d = 0; d < seg->geo.device_capacity; d++) {
		struct tta_counter_line *line = tta_counter_at(seg, slot, d);
		for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
			uint64_t b = ck_pr_load_64(&line->bytes[t]);
			if (t == TTA_LAYOUT_KERNEL)
				rep.kernel_bytes += b;
			else
				rep.bytes += b;
		}
		all_buffers += ck_pr_load_64(&line->buffers);
		if (used != NULL)
			memcpy(&used[d], line, sizeof *line);
	}

	uint64_t tag = TTA_OWNER_TAG(slot, gen);
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++) {
		uint64_t *owner = tta_chunk_owner_at(seg, c);
		if (ck_pr_load_64(owner) != tag)
			continue;
		for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
			uint32_t idx = c * TTA_RECORDS_PER_CHUNK + i;
			struct tta_record *r = tta_record_at(seg, idx);
			if (ck_pr_load_8(&r->state) == TTA_RECORD_LIVE) {
				if (ck_pr_load_8(&r->type) == TTA_LAYOUT_KERNEL) {
					rep.kernel_records++;
					uint16_t kd = ck_pr_load_16(&r->device);
					if (kernels != NULL && kd < rep.devices)
						kernels[kd]++;
				} else {
					if (listed != NULL && rep.records_listed < max_records)
						memcpy(&listed[rep.records_listed++], r, sizeof *r);
					rep.records_found++;
					origin_groups_add(&groups, r);
				}
			}
		}
		free_chunk(seg, c);
	}

	/* A device registration the dead process had started but not finished. */
	for (uint32_t d = 0; d < seg->geo.device_capacity; d++) {
		struct tta_device *dev = tta_device_at(seg, d);
		uint64_t claim = TTA_DEVICE_CLAIM_BIT | tag;
		if (ck_pr_load_64(&dev->state) == claim)
			ck_pr_cas_64(&dev->state, claim, 0);
	}

	/* Counter lines count no kernel binaries in BUFFERS (no free event), so
	 * these are the leaked buffers, records kept only in the owner's memory
	 * when the table was full included (the counters see them, the scan
	 * cannot). */
	rep.buffers = all_buffers;
	bool leaked = count_leaks && (rep.buffers != 0 || rep.bytes != 0 || rep.records_found != 0);
	if (fn != NULL && leaked) {
		rep.used = used;
		rep.kernels = kernels;
		rep.records = listed;
		if (!groups.failed) {
			rep.origins = groups.groups;
			rep.origin_count = groups.count;
		}
		rep.sites = sites;
		rep.owner = tag;
		fn(&rep, ctx);
	}

	struct tta_header *h = tta_hdr(seg);
	ck_pr_inc_64(&h->counters[count_leaks ? TTA_CTR_processes_reaped
					      : TTA_CTR_processes_detached]);
	emit_end_events(seg, slot, pid, count_leaks);
	if (leaked) {
		ck_pr_inc_64(&h->counters[TTA_CTR_leaky_processes]);
		ck_pr_add_64(&h->counters[TTA_CTR_leaked_buffers], rep.buffers);
		ck_pr_add_64(&h->counters[TTA_CTR_leaked_bytes], rep.bytes);
	}

	/* Its tags and sites go with it. */
	if (block != NULL)
		tta_sites_clear(block);
	/* Counters last: nobody sums a non-LIVE slot, and the next owner must
	 * start from zero. */
	memset(tta_counter_at(seg, slot, 0), 0,
	       (size_t)seg->geo.device_capacity * sizeof(struct tta_counter_line));
	if (seg->off_peaks != 0)
		memset(tta_peak_at(seg, slot, 0), 0,
		       (size_t)seg->geo.device_capacity * sizeof(struct tta_peak_line));
	ck_pr_store_64(&s->reaper_pid, 0);
	ck_pr_store_64(&s->reaper_start_time, 0);
	ck_pr_store_64(&s->start_time, 0);
	ck_pr_fence_store();
	ck_pr_store_64(&s->state, TTA_SLOT_STATE(TTA_SLOT_FREE, 0, gen));
	free(used);
	free(kernels);
	free(listed);
	free(groups.groups);
	free(groups.index);
	free(sites);
	return rc;
}

/* Recycles every record of chunk C that is not already free, then frees the
 * chunk. Only for chunks whose owner is gone. */
static void free_chunk(struct tta_segment *seg, uint32_t c)
{
	for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
		struct tta_record *r = tta_record_at(seg, c * TTA_RECORDS_PER_CHUNK + i);
		if (ck_pr_load_8(&r->state) != TTA_RECORD_FREE || (ck_pr_load_uint(&r->seq) & 1u))
			tta_record_retire(r);
	}
	ck_pr_store_64(tta_chunk_owner_at(seg, c), 0);
	ck_pr_inc_64(&tta_hdr(seg)->chunk_epoch); /* readers' records_reserved is stale */
}

int tta_release_orphan_chunks(struct tta_segment *seg)
{
	if (!seg->writable)
		return 0;
	int released = 0;
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++) {
		uint64_t tag = ck_pr_load_64(tta_chunk_owner_at(seg, c));
		if (tag == 0)
			continue;
		uint32_t slot = TTA_OWNER_SLOT(tag);
		if (slot < seg->geo.slot_capacity) {
			/* Generations only grow: an older incarnation than the slot's
			 * current one will never be reaped again. */
			uint64_t state = ck_pr_load_64(&tta_slot_at(seg, slot)->state);
			if ((int32_t)(TTA_SLOT_GEN(state) - TTA_OWNER_GEN(tag)) <= 0 &&
			    !(TTA_SLOT_PHASE(state) == TTA_SLOT_FREE &&
			      TTA_SLOT_GEN(state) == TTA_OWNER_GEN(tag)))
				continue;
		}
		if (ck_pr_load_64(tta_chunk_owner_at(seg, c)) != tag)
			continue;
		free_chunk(seg, c);
		released++;
	}
	return released;
}

int tta_reap_slot(struct tta_segment *seg, uint32_t slot, uint64_t expected_state,
		  uint32_t max_records, tta_reap_fn fn, void *ctx)
{
	return reclaim_slot(seg, slot, expected_state, max_records, fn, ctx, true);
}

int tta_slot_release(struct tta_segment *seg, uint32_t slot, uint64_t expected_state)
{
	return reclaim_slot(seg, slot, expected_state, 0, NULL, NULL, false);
}

/* True once the CLAIMED or REAPING step that stamped SINCE_NS has been
 * stuck for TTA_SLOT_ABANDONED_NS: only a process that died mid-step leaves
 * one that long. */
static int abandoned(uint64_t since_ns)
{
	uint64_t now = tta_now_mono_ns();
	/* Never stamped (every claimer and reaper of ABI 2 stamps before its
	 * CAS), or stamped in the future by a corrupting writer: nothing honest
	 * is in progress there. */
	if (since_ns == 0 || since_ns > now + TTA_SLOT_ABANDONED_NS)
		return 1;
	return now >= since_ns && now - since_ns >= TTA_SLOT_ABANDONED_NS;
}

int tta_slot_owner_dead(struct tta_segment *seg, uint32_t slot, uint64_t state)
{
	if (slot >= seg->geo.slot_capacity || !tta_proc_is_ours())
		return 0; /* a /proc of another namespace would answer for others */
	struct tta_slot *s = tta_slot_at(seg, slot);
	unsigned phase = TTA_SLOT_PHASE(state);
	if (phase == TTA_SLOT_FREE)
		return 0;
	if (phase == TTA_SLOT_REAPING) {
		pid_t reaper = (pid_t)ck_pr_load_64(&s->reaper_pid);
		uint64_t start = ck_pr_load_64(&s->reaper_start_time);
		if (reaper > 0 && start != 0)
			/* Never take over from a live (maybe stopped) reaper: two
			 * reapers finishing the same slot could zero a new owner's
			 * counters. */
			return tta_proc_incarnation_alive(reaper, start) == 0;
		return abandoned(ck_pr_load_64(&s->reaping_since_ns));
	}
	uint64_t my_ns = tta_self_pidns_ino();
	uint64_t slot_ns = ck_pr_load_64(&s->pidns_ino);
	uint64_t start = ck_pr_load_64(&s->start_time);
	pid_t pid = TTA_SLOT_PID(state);
	if (phase == TTA_SLOT_CLAIMED && (slot_ns == 0 || start == 0)) {
		/* Died before writing its identity: only time tells. */
		return abandoned(ck_pr_load_64(&s->claimed_mono_ns));
	}
	if (slot_ns != my_ns || pid <= 0)
		return 0; /* another pid namespace: its pids mean nothing here */
	return tta_proc_incarnation_alive(pid, start) == 0;
}

int tta_reap_dead(struct tta_segment *seg, uint32_t max_records, tta_reap_fn fn, void *ctx)
{
	int reaped = 0;
	for (uint32_t i = 0; i < seg->geo.slot_capacity; i++) {
		uint64_t state = ck_pr_load_64(&tta_slot_at(seg, i)->state);
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_FREE)
			continue;
		if (tta_slot_owner_dead(seg, i, state) == 1 &&
		    tta_reap_slot(seg, i, state, max_records, fn, ctx) != 0)
			reaped++;
	}
	tta_release_orphan_chunks(seg);
	return reaped;
}
