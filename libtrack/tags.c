/*
 * tags.c - tta_set_tag / tta_get_tag: a per-thread current tag, interned per
 * process, and its publication in the process's block of the segment.
 *
 * Interning: names live in a fixed table for the life of the process
 * (TTA_TAGS_LOCAL entries, ids 1..), found through an open-addressing index
 * that readers probe without a lock; a new name is added under the origin
 * lock, its text before the index entry that makes it findable (release).
 * A thread's current tag is one thread-local 16-bit id, so setting a known
 * tag is a hash and a compare: no lock, no syscall, no segment access.
 *
 * The segment sees a tag only when an allocation first uses it
 * (tta_origins_publish_tag): block ids equal local ids, published in order,
 * so the first TTA_TAGS_PER_PROCESS local ids always fit and later ones are
 * recorded as TTA_ID_OTHER and counted once each in tags_dropped.
 */
#include <ck_pr.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "tt-alloc/tt_alloc.h"
#include "origins.h"

#define TTA_EXPORT __attribute__((visibility("default")))

_Static_assert(TTA_TAG_MAX_LEN + 1 == TTA_TAG_NAME_BYTES, "one tag length everywhere");

/* Local id of every name beyond TTA_TAGS_LOCAL: shown as "(other)". */
#define TAG_OVERFLOW (TTA_TAGS_LOCAL + 1u)
#define INDEX_SLOTS 2048u /* twice TTA_TAGS_LOCAL: probes stay short */

__thread uint16_t tta_tls_tag __attribute__((tls_model("initial-exec")));

static pthread_mutex_t origin_lock = PTHREAD_MUTEX_INITIALIZER;
static char tag_names[TTA_TAGS_LOCAL][TTA_TAG_NAME_BYTES];
static uint32_t tag_count;
static uint16_t tag_index[INDEX_SLOTS]; /* 0 empty, else a local id */

void tta_origin_lock(void)
{
	pthread_mutex_lock(&origin_lock);
}

void tta_origin_unlock(void)
{
	pthread_mutex_unlock(&origin_lock);
}

void tta_origins_atfork_prepare(void)
{
	pthread_mutex_lock(&origin_lock);
}

void tta_origins_atfork_parent(void)
{
	pthread_mutex_unlock(&origin_lock);
}

void tta_origins_atfork_child(void)
{
	pthread_mutex_unlock(&origin_lock);
}

const char *tta_tag_name(uint16_t local)
{
	if (local == TAG_OVERFLOW)
		return TTA_TAG_OTHER_NAME;
	if (local == 0 || local > ck_pr_load_32(&tag_count))
		return NULL;
	return tag_names[local - 1];
}

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

/* The local id of NAME (LEN bytes), or 0; *FREE_SLOT gets the index slot
 * where it would go. Lock-free: an id in the index has its name complete. */
static uint16_t find_tag(const char *name, size_t len, uint32_t *free_slot)
{
	for (uint32_t i = name_hash(name, len) & (INDEX_SLOTS - 1);; i = (i + 1) & (INDEX_SLOTS - 1)) {
		uint16_t id = __atomic_load_n(&tag_index[i], __ATOMIC_ACQUIRE);
		if (id == 0) {
			*free_slot = i;
			return 0;
		}
		const char *known = tag_names[id - 1];
		if (memcmp(known, name, len) == 0 && known[len] == '\0')
			return id;
	}
}

static uint16_t intern_tag(const char *name, size_t len)
{
	uint32_t slot;
	uint16_t id = find_tag(name, len, &slot);
	if (id != 0)
		return id;
	pthread_mutex_lock(&origin_lock);
	id = find_tag(name, len, &slot); /* someone may have added it meanwhile */
	if (id == 0) {
		uint32_t n = ck_pr_load_32(&tag_count);
		if (n < TTA_TAGS_LOCAL) {
			memcpy(tag_names[n], name, len);
			memset(tag_names[n] + len, 0, TTA_TAG_NAME_BYTES - len);
			ck_pr_store_32(&tag_count, n + 1);
			id = (uint16_t)(n + 1);
			__atomic_store_n(&tag_index[slot], id, __ATOMIC_RELEASE);
		} else {
			id = TAG_OVERFLOW;
		}
	}
	pthread_mutex_unlock(&origin_lock);
	return id;
}

TTA_EXPORT int tta_set_tag(const char *tag)
{
	if (tag == NULL || tag[0] == '\0') {
		tta_tls_tag = 0;
		return 0;
	}
	size_t len = strnlen(tag, TTA_TAG_MAX_LEN + 1);
	if (len > TTA_TAG_MAX_LEN)
		return -EINVAL;
	uint16_t id = intern_tag(tag, len);
	tta_tls_tag = id;
	return id > TTA_TAGS_PER_PROCESS ? 1 : 0;
}

TTA_EXPORT const char *tta_get_tag(void)
{
	return tta_tag_name(tta_tls_tag);
}

uint16_t tta_origins_publish_tag(struct tta_origins *o, uint16_t local)
{
	if (o->block == NULL)
		return 0; /* a segment without the region: nothing can name it */
	if (local > TTA_TAGS_PER_PROCESS) {
		uint8_t bit = (uint8_t)(1u << (local % 8));
		uint8_t *word = &o->tag_dropped[(local / 8) % sizeof o->tag_dropped];
		if ((__atomic_fetch_or(word, bit, __ATOMIC_RELAXED) & bit) == 0)
			ck_pr_inc_64(&o->counters[TTA_CTR_tags_dropped]);
		return TTA_ID_OTHER;
	}
	pthread_mutex_lock(&origin_lock);
	uint32_t have = __atomic_load_n(&o->tags_published, __ATOMIC_RELAXED);
	while (have < local) {
		const char *name = tta_tag_name((uint16_t)(have + 1));
		/* Block ids must equal local ids; a block changed under us (only a
		 * process corrupting its own block does that) gets no more tags. */
		if (name == NULL || tta_sites_add_tag(o->block, name) != have + 1)
			break;
		have++;
		__atomic_store_n(&o->tags_published, have, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&origin_lock);
	return local <= have ? local : TTA_ID_OTHER;
}
