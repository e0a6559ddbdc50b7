/*
 * origin_names.c - record ids to tag and site text, and the per-tag rows of
 * a snapshot. Contract in origin_names.h.
 *
 * Each owner's entries are read from the segment once per snapshot and then
 * served from a per-slot cache (keyed by the owner's incarnation), so a site
 * shared by a million buffers costs one read of its frames.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "origin_names.h"
#include "tta_sites.h"

#define ARENA_CHUNK 65536u

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	char data[];
};

struct slot_cache {
	uint64_t owner;
	const char *tags[TTA_TAGS_PER_PROCESS + 1];   /* NULL: not looked up yet */
	const char *sites[TTA_SITES_PER_PROCESS + 1];
};

struct tta_origin_names {
	const struct tta_segment *seg; /* only while the snapshot is taken */
	uint32_t slot_capacity;     /* a snapshot outlives its reader: a copy */
	struct arena_chunk *arena;
	const char **strings;       /* interned strings, open addressing */
	size_t n_strings, cap_strings;
	struct slot_cache **slots;  /* [slot_capacity], allocated when first needed */
	struct tta_tag_row *rows;
	size_t n_rows, cap_rows;
	uint32_t *row_index;        /* open addressing: row + 1, 0 empty */
	size_t cap_index;
};

struct tta_origin_names *tta_origin_names_new(const struct tta_segment *seg)
{
	struct tta_origin_names *n = calloc(1, sizeof *n);
	if (n == NULL)
		return NULL;
	n->seg = seg;
	n->slot_capacity = seg->geo.slot_capacity;
	n->slots = calloc(n->slot_capacity, sizeof *n->slots);
	if (n->slots == NULL) {
		free(n);
		return NULL;
	}
	return n;
}

void tta_origin_names_free(struct tta_origin_names *n)
{
	if (n == NULL)
		return;
	for (struct arena_chunk *c = n->arena, *next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	for (uint32_t i = 0; n->slots != NULL && i < n->slot_capacity; i++)
		free(n->slots[i]);
	free(n->slots);
	free(n->strings);
	free(n->rows);
	free(n->row_index);
	free(n);
}

static uint64_t text_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static char *arena_copy(struct tta_origin_names *n, const char *s, size_t len)
{
	struct arena_chunk *c = n->arena;
	if (c == NULL || c->size - c->used < len + 1) {
		size_t size = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		c = malloc(sizeof *c + size);
		if (c == NULL)
			return NULL;
		c->next = n->arena;
		c->used = 0;
		c->size = size;
		n->arena = c;
	}
	char *p = c->data + c->used;
	memcpy(p, s, len);
	p[len] = '\0';
	c->used += len + 1;
	return p;
}

static int grow_strings(struct tta_origin_names *n)
{
	size_t cap = n->cap_strings ? n->cap_strings * 2 : 256;
	const char **grown = calloc(cap, sizeof *grown);
	if (grown == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n->cap_strings; i++) {
		const char *s = n->strings[i];
		if (s == NULL)
			continue;
		size_t j = text_hash(s) & (cap - 1);
		while (grown[j] != NULL)
			j = (j + 1) & (cap - 1);
		grown[j] = s;
	}
	free(n->strings);
	n->strings = grown;
	n->cap_strings = cap;
	return 0;
}

/* The one copy of S. */
static const char *intern(struct tta_origin_names *n, const char *s)
{
	if ((n->n_strings + 1) * 2 > n->cap_strings && grow_strings(n) != 0)
		return NULL;
	size_t j = text_hash(s) & (n->cap_strings - 1);
	for (; n->strings[j] != NULL; j = (j + 1) & (n->cap_strings - 1))
		if (strcmp(n->strings[j], s) == 0)
			return n->strings[j];
	char *copy = arena_copy(n, s, strlen(s));
	if (copy == NULL)
		return NULL;
	n->strings[j] = copy;
	n->n_strings++;
	return copy;
}

static struct slot_cache *cache_of(struct tta_origin_names *n, uint32_t slot, uint64_t owner)
{
	struct slot_cache *c = n->slots[slot];
	if (c == NULL) {
		c = calloc(1, sizeof *c);
		if (c == NULL)
			return NULL;
		n->slots[slot] = c;
	}
	if (c->owner != owner) {
		/* Another incarnation of the slot: nothing cached applies. */
		memset(c, 0, sizeof *c);
		c->owner = owner;
	}
	return c;
}

int tta_origin_names_resolve(struct tta_origin_names *n, uint32_t slot, const struct tta_record *rec,
			     const char **tag, const char **site)
{
	*tag = NULL;
	*site = NULL;
	if (rec->tag == 0 && rec->site == 0)
		return 0;
	if (slot >= n->slot_capacity)
		return 0;
	const struct tta_site_block *b = tta_sites_block(n->seg, slot);
	struct slot_cache *c = cache_of(n, slot, rec->owner);
	if (c == NULL)
		return -ENOMEM;
	if (rec->tag != 0) {
		const char **cached = rec->tag <= TTA_TAGS_PER_PROCESS ? &c->tags[rec->tag] : NULL;
		if (cached != NULL && *cached != NULL) {
			*tag = *cached;
		} else {
			char buf[TTA_TAG_NAME_BYTES];
			const char *name = tta_sites_tag(b, rec->owner, rec->tag, buf, sizeof buf);
			if ((*tag = intern(n, name)) == NULL)
				return -ENOMEM;
			if (cached != NULL)
				*cached = *tag;
		}
	}
	if (rec->site != 0) {
		const char **cached = rec->site <= TTA_SITES_PER_PROCESS ? &c->sites[rec->site] : NULL;
		if (cached != NULL && *cached != NULL) {
			*site = *cached;
		} else {
			char buf[TTA_SITE_FRAMES * TTA_FRAME_TEXT_MAX];
			tta_sites_site(b, rec->owner, rec->site, buf, sizeof buf);
			if ((*site = intern(n, buf)) == NULL)
				return -ENOMEM;
			if (cached != NULL)
				*cached = *site;
		}
	}
	return 0;
}

/* ---- tag rows ---- */

static size_t row_hash(uint32_t device, const char *tag)
{
	uint64_t h = ((uint64_t)(uintptr_t)tag * 0x9e3779b97f4a7c15ull) ^ device;
	return (size_t)(h ^ (h >> 29));
}

static int grow_rows(struct tta_origin_names *n)
{
	size_t cap = n->cap_rows ? n->cap_rows * 2 : 16;
	struct tta_tag_row *rows = realloc(n->rows, cap * sizeof *rows);
	if (rows == NULL)
		return -ENOMEM;
	n->rows = rows;
	n->cap_rows = cap;
	uint32_t *index = calloc(cap * 2, sizeof *index);
	if (index == NULL)
		return -ENOMEM;
	free(n->row_index);
	n->row_index = index;
	n->cap_index = cap * 2;
	for (size_t r = 0; r < n->n_rows; r++) {
		size_t j = row_hash(rows[r].device, rows[r].tag) & (n->cap_index - 1);
		while (index[j] != 0)
			j = (j + 1) & (n->cap_index - 1);
		index[j] = (uint32_t)r + 1;
	}
	return 0;
}

int tta_origin_names_count_tag(struct tta_origin_names *n, uint32_t device, const char *tag,
			       uint32_t type, uint64_t size)
{
	if (type >= TTA_MEM_TYPES)
		return 0;
	if (n->n_rows == n->cap_rows && grow_rows(n) != 0)
		return -ENOMEM;
	size_t j = row_hash(device, tag) & (n->cap_index - 1);
	struct tta_tag_row *row = NULL;
	for (; n->row_index[j] != 0; j = (j + 1) & (n->cap_index - 1)) {
		struct tta_tag_row *r = &n->rows[n->row_index[j] - 1];
		if (r->device == device && r->tag == tag) {
			row = r;
			break;
		}
	}
	if (row == NULL) {
		row = &n->rows[n->n_rows++];
		memset(row, 0, sizeof *row);
		row->device = device;
		row->tag = tag;
		n->row_index[j] = (uint32_t)n->n_rows;
	}
	/* Modulo 2^64 like every total: a hostile size cannot overflow. */
	row->used[type] = (int64_t)((uint64_t)row->used[type] + size);
	if (type != TTA_MEM_KERNEL)
		row->buffers++;
	return 0;
}

static uint64_t row_total(const struct tta_tag_row *r)
{
	uint64_t sum = 0;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		sum += (uint64_t)r->used[t];
	return sum;
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct tta_tag_row *a = pa, *b = pb;
	if (a->device != b->device)
		return a->device < b->device ? -1 : 1;
	uint64_t ta = row_total(a), tb = row_total(b);
	if (ta != tb)
		return ta > tb ? -1 : 1;
	if (a->tag == NULL || b->tag == NULL)
		return (a->tag != NULL) - (b->tag != NULL);
	return strcmp(a->tag, b->tag);
}

void tta_origin_names_finish(struct tta_origin_names *n)
{
	if (n->n_rows > 1)
		qsort(n->rows, n->n_rows, sizeof *n->rows, cmp_rows);
	/* Only the strings and the rows outlive the take. */
	free(n->row_index);
	n->row_index = NULL;
	n->cap_index = 0;
	for (uint32_t i = 0; i < n->slot_capacity; i++)
		free(n->slots[i]);
	free(n->slots);
	n->slots = NULL;
	n->slot_capacity = 0;
	free(n->strings);
	n->strings = NULL;
	n->cap_strings = n->n_strings = 0;
	n->seg = NULL;
}

size_t tta_origin_names_tag_count(const struct tta_origin_names *n)
{
	return n ? n->n_rows : 0;
}

const struct tta_tag_row *tta_origin_names_tag(const struct tta_origin_names *n, size_t i)
{
	return n && i < n->n_rows ? &n->rows[i] : NULL;
}
