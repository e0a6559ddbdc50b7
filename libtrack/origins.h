/*
 * origins.h - libtrack's side of "where did this memory come from": the tag
 * the calling thread set (tags.c) and, with TT_ALLOC_STACK_TRACE=1, the call
 * site it allocated from (callsite.c), turned into the two ids a record
 * carries (tta_layout.h) and published in the process's block of the
 * segment (tta_sites.h).
 *
 * track.c embeds one struct tta_origins per attachment (tracker), calls
 * tta_origins_init after claiming its slot and tta_origins_fini with the
 * tracker, and asks tta_origins_now(), at the top of every public
 * allocation call, for the ids of the allocation being reported.
 *
 * Cost: without stack traces, a thread-local load and a compare (the tag's
 * name reaches the segment on its first use only). With them, one
 * backtrace() and a lock-free lookup per allocation; a site seen for the
 * first time is symbolized under the origin lock (callsite.c).
 *
 * Threading: any thread. One process-wide lock (the origin lock) serialises
 * interning tags and writing the block; track.c's atfork handlers take it
 * after urcu's and release it after (tta_origins_atfork_*), because a
 * report holds urcu's read side while it waits for it.
 */
#ifndef TTA_ORIGINS_H
#define TTA_ORIGINS_H

#include <stdbool.h>
#include <stdint.h>

#include "tta_segment.h"
#include "tta_sites.h"

struct tta_site_index;

struct tta_origins {
	struct tta_site_block *block;  /* ours; NULL when the segment has no sites region */
	uint64_t *counters;            /* the header's counter array */
	uint32_t tags_published;       /* local tag ids 1 .. this are in the block */
	bool stack_traces;             /* TT_ALLOC_STACK_TRACE=1 and a block to keep sites in */
	struct tta_site_index *sites;  /* call stacks seen -> site ids; NULL until the first */
	uint8_t tag_dropped[128];      /* bitmap: local tag ids already counted as dropped */
};

/* The calling thread's tag as a local id: 0 none, 1 .. TTA_TAGS_LOCAL. */
#define TTA_TAGS_LOCAL 1024u
extern __thread uint16_t tta_tls_tag __attribute__((tls_model("initial-exec")));

/* Sets O up for the slot SLOT of SEG, just claimed by incarnation OWNER. */
void tta_origins_init(struct tta_origins *o, struct tta_segment *seg, uint32_t slot,
		      uint64_t owner);
void tta_origins_fini(struct tta_origins *o);

/* Slow paths of tta_origins_now. */
uint16_t tta_origins_publish_tag(struct tta_origins *o, uint16_t local);
uint16_t tta_callsite_capture(struct tta_origins *o);

/* The (tag, site) ids of an allocation reported now by the calling thread,
 * as TAG << 16 | SITE. Must be inlined into the public report function the
 * application called: the site's frames are counted from there. */
static inline __attribute__((always_inline)) uint32_t tta_origins_now(struct tta_origins *o)
{
	uint16_t local = tta_tls_tag;
	uint32_t tag = 0, site = 0;
	if (__builtin_expect(local != 0, 0))
		tag = local <= __atomic_load_n(&o->tags_published, __ATOMIC_ACQUIRE)
			      ? local
			      : tta_origins_publish_tag(o, local);
	if (__builtin_expect(o->stack_traces, 0))
		site = tta_callsite_capture(o);
	return tag << 16 | site;
}

/* fork: taken in track.c's prepare handler after urcu's locks. */
void tta_origins_atfork_prepare(void);
void tta_origins_atfork_parent(void);
void tta_origins_atfork_child(void);

/* The origin lock, for tags.c and callsite.c. */
void tta_origin_lock(void);
void tta_origin_unlock(void);

/* Interned names of local tag ids 1 .. tta_tags_count() (tags.c); valid for
 * the life of the process. */
const char *tta_tag_name(uint16_t local);

#endif /* TTA_ORIGINS_H */
