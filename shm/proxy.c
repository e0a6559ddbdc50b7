/*
 * proxy.c - the proxy writer: reports into the segment on behalf of another
 * process (see tta_proxy.h for the contract). Same shape as libtrack's
 * writer, single-threaded: records from chunks claimed with the slot's owner
 * tag, published and retired through tta_record.h, the slot's own counter
 * lines, a private (device, address) index. Several allocations at one key
 * stack up (newest first), as in libtrack.
 */
#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tta_proxy.h"
#include "tta_record.h"

struct pnode {
	struct pnode *next;
	uint64_t address;
	uint32_t device;
	uint32_t record;
};

struct tta_proxy {
	struct tta_segment *seg;
	uint32_t slot;
	uint64_t live_state;
	uint64_t owner_tag;
	int32_t pid;
	uint64_t start_time;
	struct pnode **buckets;
	size_t nbuckets, count; /* nbuckets: power of two */
	uint32_t *free_records;
	uint32_t free_count, free_cap;
	uint8_t *device_seen;
	uint64_t *history_next;  /* per device: start of the next history interval */
	uint32_t chunk_skip;
};

static void shortfall(struct tta_proxy *p, enum tta_counter_id id)
{
	ck_pr_inc_64(&tta_hdr(p->seg)->counters[id]);
}

static uint64_t pmix(uint32_t device, uint64_t a)
{
	return tta_mix64(a ^ ((uint64_t)device << 48));
}

int tta_proxy_identity(pid_t pid, uint32_t uid, struct tta_slot_identity *id)
{
	char path[64];
	memset(id, 0, sizeof *id);
	if (pid <= 0)
		return -EINVAL;
	int rc = tta_proc_start_time(pid, &id->start_time);
	if (rc != 0)
		return rc;
	id->pid = pid;
	id->uid = uid;
	id->proxy_tag = TTA_PROXY_TAG;
	/* Never 0, never an image id libtrack draws for itself in practice. */
	id->image_id = 0x42524447u;
	/* PID is a number of OUR pid namespace (SO_PEERCRED translates it), so
	 * the slot names our namespace: that is where the reaper judges it. */
	id->pidns_ino = tta_self_pidns_ino();
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	tta_proc_read_text(path, id->comm, sizeof id->comm, false);
	if (id->comm[0] == '\0')
		snprintf(id->comm, sizeof id->comm, "pid%d", (int)pid);
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	tta_proc_read_text(path, id->cmdline, sizeof id->cmdline, true);
	/* It may have exited while we read: the start time must still match. */
	if (tta_proc_incarnation_alive(pid, id->start_time) == 0)
		return -ESRCH;
	return 0;
}

static struct tta_proxy *proxy_new(struct tta_segment *seg, uint32_t slot, uint64_t live)
{
	struct tta_proxy *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->seg = seg;
	p->slot = slot;
	p->live_state = live;
	p->owner_tag = TTA_OWNER_TAG(slot, TTA_SLOT_GEN(live));
	p->pid = TTA_SLOT_PID(live);
	p->start_time = ck_pr_load_64(&tta_slot_at(seg, slot)->start_time);
	p->nbuckets = 64;
	p->buckets = calloc(p->nbuckets, sizeof *p->buckets);
	p->device_seen = calloc(seg->geo.device_capacity, 1);
	p->history_next = calloc(seg->geo.device_capacity, sizeof *p->history_next);
	if (p->buckets == NULL || p->device_seen == NULL || p->history_next == NULL) {
		free(p->buckets);
		free(p->device_seen);
		free(p->history_next);
		free(p);
		return NULL;
	}
	return p;
}

int tta_proxy_open(struct tta_segment *seg, const struct tta_slot_identity *id,
		   struct tta_proxy **out)
{
	uint32_t slot;
	uint64_t live;
	int rc = tta_slot_claim(seg, id, &slot, &live);
	if (rc == -ENOSPC)
		ck_pr_inc_64(&tta_hdr(seg)->counters[TTA_CTR_attach_refused]);
	if (rc != 0)
		return rc;
	struct tta_proxy *p = proxy_new(seg, slot, live);
	if (p == NULL) {
		tta_slot_release(seg, slot, live);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

static int index_grow(struct tta_proxy *p)
{
	size_t n = p->nbuckets * 2;
	struct pnode **nb = calloc(n, sizeof *nb);
	if (nb == NULL)
		return -ENOMEM;
	/* Walk each chain tail-first so the newest-first order is kept. */
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct pnode *rev = NULL, *e = p->buckets[i];
		while (e) {
			struct pnode *next = e->next;
			e->next = rev;
			rev = e;
			e = next;
		}
		while (rev) {
			struct pnode *next = rev->next;
			size_t b = pmix(rev->device, rev->address) & (n - 1);
			rev->next = nb[b];
			nb[b] = rev;
			rev = next;
		}
	}
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
	return 0;
}

/* Inserts at the head: the newest allocation at a key is found first.
 * Returns 1 if the key was already held, 0 if not, -ENOMEM. */
static int index_put(struct tta_proxy *p, uint32_t device, uint64_t address, uint32_t record)
{
	if (p->count >= p->nbuckets)
		(void)index_grow(p); /* longer chains if it fails */
	struct pnode *n = malloc(sizeof *n);
	if (n == NULL)
		return -ENOMEM;
	size_t b = pmix(device, address) & (p->nbuckets - 1);
	int dup = 0;
	for (struct pnode *e = p->buckets[b]; e; e = e->next)
		if (e->address == address && e->device == device) {
			dup = 1;
			break;
		}
	n->address = address;
	n->device = device;
	n->record = record;
	n->next = p->buckets[b];
	p->buckets[b] = n;
	p->count++;
	return dup;
}

static bool index_take(struct tta_proxy *p, uint32_t device, uint64_t address, uint32_t *record)
{
	struct pnode **link = &p->buckets[pmix(device, address) & (p->nbuckets - 1)];
	for (; *link; link = &(*link)->next) {
		struct pnode *e = *link;
		if (e->address == address && e->device == device) {
			*record = e->record;
			*link = e->next;
			free(e);
			p->count--;
			return true;
		}
	}
	return false;
}

static bool push_free(struct tta_proxy *p, uint32_t index)
{
	if (p->free_count == p->free_cap) {
		uint32_t cap = p->free_cap ? p->free_cap * 2 : 128;
		uint32_t *g = realloc(p->free_records, cap * sizeof *g);
		if (g == NULL)
			return false;
		p->free_records = g;
		p->free_cap = cap;
	}
	p->free_records[p->free_count++] = index;
	return true;
}

/* Claims one free chunk with the slot's owner tag (one CAS). */
static bool claim_chunk(struct tta_proxy *p)
{
	if (p->chunk_skip > 0) {
		p->chunk_skip--;
		return false;
	}
	int64_t c = tta_chunk_claim(p->seg, p->owner_tag);
	if (c >= 0) {
		for (uint32_t i = TTA_RECORDS_PER_CHUNK; i-- > 0;)
			if (!push_free(p, (uint32_t)c * TTA_RECORDS_PER_CHUNK + i))
				break;
		return p->free_count > 0;
	}
	p->chunk_skip = 1024;
	return false;
}

bool tta_proxy_valid(const struct tta_proxy *p)
{
	return ck_pr_load_64(&tta_slot_at(p->seg, p->slot)->state) == p->live_state;
}

/* Before a change to DEVICE's total (see tta_history_record). */
static void history_touch(struct tta_proxy *p, uint32_t device, uint64_t now)
{
	if (now >= p->history_next[device])
		p->history_next[device] = tta_history_record(p->seg, device, now);
}

/* The bridge records every allocation and free in the event ring, as the
 * old server logged them: next to a socket message per report, an event
 * costs nothing worth an opt-in. */
static void emit(struct tta_proxy *p, unsigned kind, uint32_t device, unsigned type,
		 uint64_t address, uint64_t size, uint64_t now)
{
	struct tta_event_entry e = {
		.mono_ns = now,
		.pid = p->pid,
		.slot = p->slot,
		.device = device,
		.kind = (uint8_t)kind,
		.type = (uint8_t)type,
		.address = address,
		.size = size,
	};
	tta_event_emit(p->seg, &e);
}

int tta_proxy_alloc(struct tta_proxy *p, uint32_t device, uint64_t address, uint64_t size,
		    unsigned type)
{
	if (!tta_proxy_valid(p))
		return -ESTALE;
	if (device >= p->seg->geo.device_capacity) {
		shortfall(p, TTA_CTR_bad_device);
		return -ENODEV;
	}
	if (type > TTA_LAYOUT_TRACE || size == 0 || size > (uint64_t)INT64_MAX) {
		shortfall(p, TTA_CTR_bad_argument);
		return -EINVAL;
	}
	if (p->free_count == 0 && !claim_chunk(p)) {
		shortfall(p, TTA_CTR_records_unavailable);
		return -ENOSPC;
	}
	uint32_t index = p->free_records[p->free_count - 1];
	int dup = index_put(p, device, address, index);
	if (dup < 0) {
		shortfall(p, TTA_CTR_records_unavailable);
		return -ENOSPC;
	}
	p->free_count--;
	uint64_t now = tta_now_coarse_ns();
	history_touch(p, device, now);
	if (!p->device_seen[device]) {
		ck_pr_or_uint(&tta_device_user_words(p->seg, device)[p->slot / 32],
			      1u << (p->slot % 32));
		p->device_seen[device] = 1;
	}
	struct tta_record_fields f = {
		.owner = p->owner_tag,
		.address = address,
		.size = size,
		.alloc_mono_ns = now,
		.device = device,
		.type = (uint8_t)type,
	};
	tta_record_publish(tta_record_at(p->seg, index), &f);
	tta_counter_line_add_peak(tta_counter_at(p->seg, p->slot, device),
				  p->seg->off_peaks ? tta_peak_at(p->seg, p->slot, device) : NULL, type,
				  size);
	if (dup)
		shortfall(p, TTA_CTR_address_collisions);
	emit(p, TTA_EVENT_KIND_ALLOC, device, type, address, size, now);
	return 0;
}

int tta_proxy_free(struct tta_proxy *p, uint32_t device, uint64_t address)
{
	if (!tta_proxy_valid(p))
		return -ESTALE;
	if (device >= p->seg->geo.device_capacity) {
		shortfall(p, TTA_CTR_bad_device);
		return -ENODEV;
	}
	uint32_t index;
	if (!index_take(p, device, address, &index)) {
		shortfall(p, TTA_CTR_unknown_frees);
		return -ENOENT;
	}
	struct tta_record *r = tta_record_at(p->seg, index);
	unsigned type = ck_pr_load_8(&r->type);
	uint64_t size = ck_pr_load_64(&r->size);
	uint64_t now = tta_now_coarse_ns();
	history_touch(p, device, now);
	tta_counter_line_sub(tta_counter_at(p->seg, p->slot, device), type, size);
	tta_record_retire(r);
	emit(p, TTA_EVENT_KIND_FREE, device, type, address, size, now);
	(void)push_free(p, index); /* no memory: the record idles until the slot goes */
	return 0;
}

int tta_proxy_adopt(struct tta_segment *seg, uint32_t slot, uint64_t state, struct tta_proxy **out)
{
	if (slot >= seg->geo.slot_capacity || TTA_SLOT_PHASE(state) != TTA_SLOT_LIVE)
		return -EINVAL;
	struct tta_slot *s = tta_slot_at(seg, slot);
	if (ck_pr_load_64(&s->state) != state || ck_pr_load_64(&s->proxy_tag) != TTA_PROXY_TAG)
		return -EINVAL;
	struct tta_proxy *p = proxy_new(seg, slot, state);
	if (p == NULL)
		return -ENOMEM;
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++) {
		if (ck_pr_load_64(tta_chunk_owner_at(seg, c)) != p->owner_tag)
			continue;
		for (uint32_t i = TTA_RECORDS_PER_CHUNK; i-- > 0;) {
			uint32_t index = c * TTA_RECORDS_PER_CHUNK + i;
			struct tta_record *r = tta_record_at(seg, index);
			/* We are the only writer: a sequence left odd means the
			 * previous bridge died mid-write; retire closes it. */
			bool odd = (ck_pr_load_32(&r->seq) & 1u) != 0;
			/* Only what a proxy writes is adopted: a device in range and
			 * a buffer type (a later free indexes the counter line by
			 * both). Anything else is not ours to trust. */
			uint32_t d = ck_pr_load_16(&r->device);
			if (!odd && ck_pr_load_8(&r->state) == TTA_RECORD_LIVE &&
			    ck_pr_load_64(&r->owner) == p->owner_tag && d < seg->geo.device_capacity &&
			    ck_pr_load_8(&r->type) <= TTA_LAYOUT_TRACE &&
			    index_put(p, d, ck_pr_load_64(&r->address), index) >= 0) {
				p->device_seen[d] = 1;
				continue;
			}
			if (odd || ck_pr_load_8(&r->state) != TTA_RECORD_FREE)
				tta_record_retire(r);
			(void)push_free(p, index);
		}
	}
	*out = p;
	return 0;
}

int32_t tta_proxy_pid(const struct tta_proxy *p) { return p->pid; }
uint64_t tta_proxy_start_time(const struct tta_proxy *p) { return p->start_time; }
uint32_t tta_proxy_slot(const struct tta_proxy *p) { return p->slot; }
uint64_t tta_proxy_live_buffers(const struct tta_proxy *p) { return p->count; }

void tta_proxy_forget(struct tta_proxy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nbuckets; i++) {
		struct pnode *e = p->buckets[i];
		while (e) {
			struct pnode *next = e->next;
			free(e);
			e = next;
		}
	}
	free(p->buckets);
	free(p->free_records);
	free(p->device_seen);
	free(p->history_next);
	free(p);
}
