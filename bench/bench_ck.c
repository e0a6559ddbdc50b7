/*
 * bench_ck.c - section h: Concurrency Kit hash tables under allocate/free
 * churn, the evidence for the table libtrack uses to map (device, address)
 * to a record.
 *
 * Workload: fill a table with LIVE fresh keys, then repeatedly remove the
 * oldest key and put a new, never-seen one (the address stream an allocator
 * produces: page-aligned, ever-increasing), so the live count stays LIVE.
 * Tables are created small and grow as ck grows them, as libtrack's do.
 * Each configuration runs in a forked child (its memory goes away with it)
 * with a time budget per repeat, because some tables degrade by orders of
 * magnitude as tombstones pile up; a warm-up of the same budget comes first.
 */
#include "bench.h"

#include <ck_hs.h>
#include <ck_ht.h>
#include <ck_rhs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum ck_kind { CK_HT_DIRECT, CK_HS_DIRECT, CK_RHS_DIRECT, CK_RHS_OBJECT, CK_RHS_FP, CK_KINDS };
static const char *const ck_kind_name[CK_KINDS] = {
	[CK_HT_DIRECT] = "ck_ht DIRECT",
	[CK_HS_DIRECT] = "ck_hs DIRECT|DELETE",
	[CK_RHS_DIRECT] = "ck_rhs DIRECT",
	[CK_RHS_OBJECT] = "ck_rhs OBJECT",
	[CK_RHS_FP] = "ck_rhs DIRECT+fp",
};

static void *ck_malloc_fn(size_t n)
{
	return malloc(n);
}

static void *ck_realloc_fn(void *p, size_t old, size_t n, bool defer)
{
	(void)old;
	(void)defer;
	return realloc(p, n);
}

static void ck_free_fn(void *p, size_t n, bool defer)
{
	(void)n;
	(void)defer;
	free(p);
}

static struct ck_malloc allocator = { ck_malloc_fn, ck_realloc_fn, ck_free_fn };

static inline unsigned long mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return (unsigned long)x;
}

static unsigned long hash_direct(const void *key, unsigned long seed)
{
	return mix64((uint64_t)(uintptr_t)key ^ seed);
}

/* OBJECT mode entries: a pointer to a {device, address} object. libtrack used
 * this before moving to DIRECT entries with fingerprints (docs/design.md):
 * without ck's pointer packing every probe dereferences the object. */
struct ck_obj {
	uint64_t address;
	uint32_t device;
	uint32_t pad;
};

static unsigned long hash_obj(const void *o, unsigned long seed)
{
	const struct ck_obj *k = o;
	return mix64(k->address ^ ((uint64_t)k->device << 52) ^ seed);
}

static bool compare_obj(const void *a, const void *b)
{
	const struct ck_obj *x = a, *y = b;
	return x->address == y->address && x->device == y->device;
}

/*
 * DIRECT+fp: the scheme libtrack uses. An entry is one word, tag bit 63 |
 * 31-bit key fingerprint << 32 | object index + 1, hashed by its fingerprint
 * alone; a lookup passes a pointer to a fp_lookup (tag bit clear), and the
 * compare dereferences an object only when the fingerprints match. The
 * objects live in fp_objects (the records, in libtrack).
 */
#define FP_TAG (UINT64_C(1) << 63)
#define FP_ENTRY(fp, index) (FP_TAG | ((uint64_t)(fp) << 32) | ((uint64_t)(index) + 1))
#define FP_OF(e) ((uint32_t)(((uint64_t)(e) >> 32) & 0x7fffffffu))
#define FP_INDEX(e) ((uint32_t)((uint64_t)(e) & 0xffffffffu) - 1)

struct fp_lookup {
	uint32_t fp;
	struct ck_obj key;
};

static struct ck_obj *fp_objects;

static inline uint64_t key_mix(uint64_t address, uint32_t device)
{
	return mix64(address ^ ((uint64_t)device << 52) ^ 0x5eed);
}

static unsigned long fp_hash(uint32_t fp)
{
	return mix64((uint64_t)fp * UINT64_C(0x9e3779b97f4a7c15));
}

static unsigned long hash_fp_entry(const void *entry, unsigned long seed)
{
	(void)seed;
	return fp_hash(FP_OF((uintptr_t)entry));
}

static bool compare_fp(const void *stored, const void *key)
{
	uint64_t e = (uintptr_t)stored;
	if ((uintptr_t)key & FP_TAG) /* entry against entry (set/put) */
		return e == (uintptr_t)key;
	const struct fp_lookup *l = key;
	if (FP_OF(e) != l->fp)
		return false;
	const struct ck_obj *o = &fp_objects[FP_INDEX(e)];
	return o->address == l->key.address && o->device == l->key.device;
}

struct ck_table {
	enum ck_kind kind;
	ck_ht_t ht;
	ck_hs_t hs;
	ck_rhs_t rhs;
};

static bool table_init(struct ck_table *t, enum ck_kind kind)
{
	t->kind = kind;
	switch (kind) {
	case CK_HT_DIRECT:
		return ck_ht_init(&t->ht, CK_HT_MODE_DIRECT, NULL, &allocator, 64, 0x5eed);
	case CK_HS_DIRECT:
		return ck_hs_init(&t->hs, CK_HS_MODE_DIRECT | CK_HS_MODE_SPMC | CK_HS_MODE_DELETE,
				  hash_direct, NULL, &allocator, 64, 0x5eed);
	case CK_RHS_DIRECT:
		return ck_rhs_init(&t->rhs, CK_RHS_MODE_DIRECT | CK_RHS_MODE_SPMC, hash_direct, NULL,
				   &allocator, 64, 0x5eed);
	case CK_RHS_OBJECT:
		return ck_rhs_init(&t->rhs, CK_RHS_MODE_OBJECT | CK_RHS_MODE_SPMC, hash_obj,
				   compare_obj, &allocator, 64, 0x5eed);
	case CK_RHS_FP:
		return ck_rhs_init(&t->rhs, CK_RHS_MODE_DIRECT | CK_RHS_MODE_SPMC, hash_fp_entry,
				   compare_fp, &allocator, 64, 0x5eed);
	default:
		return false;
	}
}

static void table_destroy(struct ck_table *t)
{
	switch (t->kind) {
	case CK_HT_DIRECT: ck_ht_destroy(&t->ht); break;
	case CK_HS_DIRECT: ck_hs_destroy(&t->hs); break;
	default: ck_rhs_destroy(&t->rhs); break;
	}
}

/* Puts KEY (DIRECT) or OBJ (OBJECT). */
static inline bool table_put(struct ck_table *t, uint64_t key, struct ck_obj *obj)
{
	switch (t->kind) {
	case CK_HT_DIRECT: {
		ck_ht_hash_t h;
		ck_ht_entry_t e;
		ck_ht_hash_direct(&h, &t->ht, (uintptr_t)key);
		ck_ht_entry_set_direct(&e, h, (uintptr_t)key, (uintptr_t)key);
		return ck_ht_put_spmc(&t->ht, h, &e);
	}
	case CK_HS_DIRECT:
		return ck_hs_put(&t->hs, hash_direct((void *)(uintptr_t)key, t->hs.seed),
				 (void *)(uintptr_t)key);
	case CK_RHS_DIRECT:
		return ck_rhs_put(&t->rhs, hash_direct((void *)(uintptr_t)key, t->rhs.seed),
				  (void *)(uintptr_t)key);
	case CK_RHS_OBJECT:
		return ck_rhs_put(&t->rhs, hash_obj(obj, t->rhs.seed), obj);
	case CK_RHS_FP: {
		uint32_t fp = (uint32_t)(key_mix(obj->address, obj->device) & 0x7fffffffu);
		uint64_t e = FP_ENTRY(fp, (uint32_t)(obj - fp_objects));
		return ck_rhs_put(&t->rhs, fp_hash(fp), (void *)(uintptr_t)e);
	}
	default:
		return false;
	}
}

static inline bool table_remove(struct ck_table *t, uint64_t key, struct ck_obj *obj)
{
	switch (t->kind) {
	case CK_HT_DIRECT: {
		ck_ht_hash_t h;
		ck_ht_entry_t e;
		ck_ht_hash_direct(&h, &t->ht, (uintptr_t)key);
		ck_ht_entry_key_set_direct(&e, (uintptr_t)key);
		return ck_ht_remove_spmc(&t->ht, h, &e);
	}
	case CK_HS_DIRECT:
		return ck_hs_remove(&t->hs, hash_direct((void *)(uintptr_t)key, t->hs.seed),
				    (void *)(uintptr_t)key) != NULL;
	case CK_RHS_DIRECT:
		return ck_rhs_remove(&t->rhs, hash_direct((void *)(uintptr_t)key, t->rhs.seed),
				     (void *)(uintptr_t)key) != NULL;
	case CK_RHS_OBJECT:
		return ck_rhs_remove(&t->rhs, hash_obj(obj, t->rhs.seed), obj) != NULL;
	case CK_RHS_FP: {
		/* By key, as a free by address does: the index is not known. */
		struct fp_lookup l = { (uint32_t)(key_mix(key, 0) & 0x7fffffffu), { key, 0, 0 } };
		return ck_rhs_remove(&t->rhs, fp_hash(l.fp), &l) != NULL;
	}
	default:
		return false;
	}
}

#define CK_MAX_REPS 16

struct ck_out {
	int ok;
	unsigned n;
	double pair_ns[CK_MAX_REPS];
	uint64_t pairs_done; /* over warm-up and repeats, to show turnover */
};

struct ck_job {
	enum ck_kind kind;
	uint32_t live;
	struct ck_out *out;
};

static int ck_child(void *arg)
{
	struct ck_job *job = arg;
	struct ck_table t;
	if (!table_init(&t, job->kind))
		return 1;
	uint32_t live = job->live;
	uint64_t *keys = malloc(live * sizeof(*keys));
	bool with_objects = job->kind == CK_RHS_OBJECT || job->kind == CK_RHS_FP;
	struct ck_obj *objs = with_objects ? calloc(live, sizeof(*objs)) : NULL;
	if (!keys || (with_objects && !objs))
		return 1;
	fp_objects = objs;
	uint64_t next = UINT64_C(0x10000000);
	for (uint32_t i = 0; i < live; i++, next += 4096) {
		keys[i] = next;
		if (objs)
			objs[i] = (struct ck_obj){ next, 0, 0 };
		if (!table_put(&t, next, objs ? &objs[i] : NULL))
			return 1;
	}
	uint64_t budget = (uint64_t)(cfg.ck_seconds * 1e9);
	uint32_t pos = 0;
	bool failed = false;
	for (unsigned r = 0; r <= cfg.ck_reps && !failed; r++) {
		uint64_t t0 = now_ns(), pairs = 0, elapsed;
		do {
			for (unsigned k = 0; k < 64; k++) {
				struct ck_obj *o = objs ? &objs[pos] : NULL;
				if (!table_remove(&t, keys[pos], o))
					failed = true;
				keys[pos] = next;
				if (o)
					o->address = next;
				if (!table_put(&t, next, o))
					failed = true;
				next += 4096;
				if (++pos == live)
					pos = 0;
			}
			pairs += 64;
			elapsed = now_ns() - t0;
		} while (elapsed < budget);
		job->out->pairs_done += pairs;
		if (r > 0) /* repeat 0 is the warm-up */
			job->out->pair_ns[job->out->n++] = (double)elapsed / pairs;
	}
	table_destroy(&t);
	free(keys);
	free(objs);
	if (failed)
		return 1;
	job->out->ok = 1;
	return 0;
}

void run_ck_tables(void)
{
	struct ck_out *out = shared_alloc(sizeof(*out));
	for (unsigned li = 0; li < 2; li++) {
		uint32_t live = cfg.ck_live[li];
		char row[64];
		snprintf(row, sizeof(row), "%u live", live);
		for (unsigned k = 0; k < CK_KINDS; k++) {
			fprintf(stderr, "tt-alloc-bench: h: %s, %u live\n", ck_kind_name[k], live);
			memset(out, 0, sizeof(*out));
			struct ck_job job = { (enum ck_kind)k, live, out };
			pid_t pid = spawn_fn(ck_child, &job);
			int st = pid > 0 ? wait_child(pid) : -1;
			if (st != 0 || !out->ok || out->n == 0) {
				fprintf(stderr, "tt-alloc-bench: h: %s at %u live failed\n", ck_kind_name[k],
					live);
				continue;
			}
			result_add('h', row, ck_kind_name[k], "ns/pair", summarize(out->pair_ns, out->n));
			char trow[64];
			snprintf(trow, sizeof(trow), "%u live: turnover", live);
			result_add_value('h', trow, ck_kind_name[k], "x live set",
					 (double)out->pairs_done / live);
		}
	}
	result_note('h', "remove the oldest key + put a fresh page-aligned one, tables created at 64 "
		    "entries and grown by ck; warm-up then %u repeats of %.2f s each; 'turnover' = "
		    "pairs done / live keys (tombstones accumulate with turnover); DIRECT modes "
		    "hash the key with a 64-bit mixer (ck_ht: its own hash); OBJECT = a pointer to "
		    "a {device, address} object, compared on every probe (libtrack's earlier "
		    "design); DIRECT+fp = libtrack's current scheme rebuilt here: one word per entry "
		    "(31-bit key fingerprint + object index), hashed by the fingerprint, removal by "
		    "key dereferencing an object only on a fingerprint match",
		    cfg.ck_reps, cfg.ck_seconds);
	munmap(out, sizeof(*out));
}
