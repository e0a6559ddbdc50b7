/*
 * track.c - the write side of libtrack: reports into the shared segment.
 *
 * Hot path shape (one allocate + free pair):
 *   - one load of g_state decides everything when tracking is off;
 *   - an urcu-bp read-side section pins the tracker, so tta_track_detach()
 *     can unmap it while other threads report, without a lock here;
 *   - a process-local shard lock guards that shard's ck_rhs table and its
 *     stack of free record indices;
 *   - the record is written inside a ck_sequence section (readers in other
 *     processes validate against it), and the owner's private counter line
 *     gets two atomic adds. No syscall, no scan of other slots, no cache line
 *     shared with another process.
 *
 * The ck_rhs tables run in DIRECT mode. An entry is one word,
 *   bit 63 | 31-bit key fingerprint << 32 | record index + 1,
 * and the table hash is a function of the fingerprint alone, so a probe
 * compares words and touches a record only when fingerprints match, and a
 * grow rehashes without touching records at all. (Debian's ck is built
 * without pointer packing, so OBJECT mode would dereference a record on
 * every probe: a cache miss each at 100k+ live buffers.)
 *
 * Records come from 64-record chunks this process claims with one CAS on the
 * chunk's owner word, so a SIGKILL at any point leaves every chunk either
 * clearly owned (and reaped with the slot) or clearly free. When the shared
 * table is full, records come from process-local overflow blocks that share
 * the index space above record_capacity: totals stay exact, the shortfall is
 * counted, and nothing else changes.
 */
#include <ck_pr.h>
#include <ck_rhs.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
/* Inline read-side primitives: a report must not pay two PLT calls.
 * Sanitized builds call them out of line instead: liburcu-bp's registry
 * places readers at 64-byte alignment while the type asks for 128, which
 * UBSan reports at every inlined access (benign on x86; same code). */
#ifndef TTA_URCU_OUT_OF_LINE
#define _LGPL_SOURCE
#endif
#include <urcu-bp.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tt-alloc/tt_alloc.h"
#include "origins.h"
#include "tta_record.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ThreadSanitizer cannot see urcu's grace periods (membarrier); tell it that
 * everything a read-side section did happens before synchronize_rcu returns. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char rcu_tsan_token;
#define RCU_TSAN_READER_DONE() __tsan_release(&rcu_tsan_token)
#define RCU_TSAN_GRACE_DONE() __tsan_acquire(&rcu_tsan_token)
#else
#define RCU_TSAN_READER_DONE() ((void)0)
#define RCU_TSAN_GRACE_DONE() ((void)0)
#endif

enum { STATE_UNKNOWN = 0, STATE_OFF, STATE_IDLE, STATE_ATTACHED, STATE_DISABLED };

#define SHARDS 8u /* power of two: a few threads rarely meet on one lock */
/* After a failed hunt for a free chunk, allocations skip the hunt this many
 * times: a full segment must not turn every report into a table scan. */
#define CHUNK_RETRY_EVERY 1024u
#define OVERFLOW_BLOCK 1024u  /* records per process-local overflow block */
#define SHARD_BATCH 8u        /* records a shard takes from the process pool at once */
#define SHARD_KEEP 64u        /* free records a shard keeps before giving some back */
#define OVERFLOW_BLOCKS 1024u /* at most 1M overflow records per process */
/* Buckets a shard's table starts with: 16 KiB each, 128 KiB a process. ck_rhs
 * grows a table at half full, so one left to grow from 64 buckets sits at a
 * quarter to half full, where robin-hood inserts displace entries and
 * removals shift them back: at 1k live buffers (125 a shard) an address pair
 * took 1,190 instructions against 1,090 in a table started at 1,024
 * (callgrind), 87 against 77 ns in a standalone loop. */
#define TABLE_FIRST_BUCKETS 1024u

enum key_space { SPACE_BUFFER = 0, SPACE_CB = 1, SPACE_KERNEL = 2 };

#define ENTRY_TAG (UINT64_C(1) << 63) /* never set in a user-space pointer */
/* Set in every handle we issue: no small integer passes for one. */
#define HANDLE_TAG (UINT64_C(1) << 63)
#define ENTRY(fp, index) (ENTRY_TAG | ((uint64_t)(fp) << 32) | ((uint64_t)(index) + 1))
#define ENTRY_FP_BITS(e) ((uint64_t)(e) >> 32) /* tag + fingerprint */
#define ENTRY_INDEX(e) ((uint32_t)((uint64_t)(e)&0xffffffffu) - 1)

struct retired_map {
	struct retired_map *next;
};

/*
 * Shard lock: taken for a few dozen instructions on the report path. An xchg
 * to take it and a plain release store to drop it cost one locked instruction
 * per report where a pthread mutex costs two; a waiter spins briefly, then
 * yields, so a holder preempted mid-report does not burn a core. __atomic
 * builtins (not ck_pr's inline asm) so ThreadSanitizer sees the ordering.
 */
struct shard_lock {
	int held;
};

static inline bool shard_lock_try(struct shard_lock *l)
{
	return __atomic_exchange_n(&l->held, 1, __ATOMIC_ACQUIRE) == 0;
}

static void shard_lock_wait(struct shard_lock *l)
{
	for (unsigned spins = 0;; spins++) {
		if (__atomic_load_n(&l->held, __ATOMIC_RELAXED) == 0 && shard_lock_try(l))
			return;
		if (spins < 128)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

static inline void shard_lock_take(struct shard_lock *l)
{
	if (__builtin_expect(!shard_lock_try(l), 0))
		shard_lock_wait(l);
}

static inline void shard_lock_drop(struct shard_lock *l)
{
	__atomic_store_n(&l->held, 0, __ATOMIC_RELEASE);
}

/*
 * Staging. The newest keyed allocations of a shard wait in a small ring
 * before they enter the shard's ck_rhs table, so that:
 *  - a buffer freed soon after it was allocated (activations, scratch) never
 *    touches the table: at a million live buffers the table is far larger
 *    than the caches, and an insert into it is a miss to memory;
 *  - an insert that does reach the table (the oldest staged entry, when the
 *    ring is full) finds its bucket already in cache: the bucket was
 *    prefetched when the entry was staged, STAGE_SLOTS allocations earlier.
 * The ring holds at most one LIVE entry per key (an alloc over a staged live
 * key hides it behind the new record's `shadowed` link, as the table does).
 * Lookups look in the ring first (newest first), then in the table.
 *
 * A small table stays in cache and gains nothing from the ring, so a shard
 * stages only once its table has STAGE_MIN_BUCKETS buckets (set when the
 * table grows; a table never shrinks, so the ring is never emptied).
 *
 * Collisions with the table. An alloc whose key is live in the ring counts
 * its collision at once. Whether a staged key is also live in the table is
 * decided later, without a miss on the alloc path: the entry carries
 * `check_table`, and the question is asked when the entry leaves the ring
 * (ck_rhs_set names the hidden entry) or, for an entry freed while staged,
 * when its FREED slot is reused or its key is freed from the table, or at
 * detach. The answer cannot change meanwhile: the table gains a key only
 * from the ring entry of that key (oldest first) or from a free of that key,
 * and both settle the question first. So the count is exact, only later.
 */
#define STAGE_SLOTS 8u
#define STAGE_MIN_BUCKETS (1ul << 15) /* 512 KiB of ck_rhs slots per shard */
enum { STAGE_EMPTY = 0, STAGE_LIVE = 1, STAGE_FREED = 2 };

struct staged {
	uint64_t address;
	uint64_t entry;             /* ENTRY(fp, index) of the newest allocation (LIVE) */
	uint32_t device;
	uint8_t space;
	uint8_t check_table;        /* not yet checked against the table (see above) */
};

struct shard {
	struct shard_lock lock;
	bool staging;               /* the table is large enough to stage in front of */
	ck_rhs_t table;             /* (device, space, address) -> record entry */
	uint32_t *free_records;     /* stack of record indices this process owns */
	uint32_t free_count, free_capacity;
	/* stage_tag[i]: 0 empty, else state << 30 | 30 fingerprint bits */
	uint32_t stage_tag[STAGE_SLOTS];
	uint32_t stage_head;        /* next slot written (and evicted first) */
	struct staged stage[STAGE_SLOTS];
	/* Where the current table map keeps its slots, for prefetching only
	 * (see table_slot_hint): NULL when unknown. */
	const void *hint_map;
	const char *hint_slots;
	unsigned long hint_mask;
} __attribute__((aligned(TTA_CACHE_LINE)));

struct tracker {
	struct tta_segment seg;
	pid_t pid;
	uint32_t slot;
	uint64_t live_state;        /* our slot's state word while it is ours */
	uint64_t owner_tag;
	struct tta_slot *slot_entry;
	struct tta_counter_line *counters; /* our lines, indexed by device */
	struct tta_record *records;
	uint32_t record_capacity;
	uint32_t overflow_blocks_used;     /* grows only; blocks live until detach */
	struct tta_record **overflow_blocks; /* [OVERFLOW_BLOCKS] */
	uint8_t *device_seen;       /* 1 once our bit in device_users is set */
	struct tta_peak_line *peaks; /* our peak lines by device; NULL: none */
	/* Per device, CLOCK_MONOTONIC_COARSE at which the next history
	 * interval starts (UINT64_MAX: no history): one compare per report. */
	uint64_t *history_next;
	bool events;                /* TT_ALLOC_EVENTS=1 and the segment has a ring */
	uint32_t chunk_hunt_skip;   /* see CHUNK_RETRY_EVERY; approximate across threads */
	unsigned long hash_seed;
	uint32_t handle_salt;       /* 31 random bits per incarnation, added to a handle's generation */
	/* Free records not yet handed to a shard: shards take SHARD_BATCH at a
	 * time and give back what they hoard beyond SHARD_KEEP, so a process
	 * reserves chunks as its use grows, not one per shard. Only its lock and
	 * free stack are used. */
	struct shard pool;
	struct shard shards[SHARDS];
	uint64_t incarnation;       /* tells this tracker's magazines from older ones' */
	struct tta_origins origins; /* tags and call sites (origins.h) */
};

/* A lookup key: what compare() gets from get/remove (never tagged). */
struct lookup {
	uint64_t fp_bits;
	uint64_t address;
	uint32_t device;
	uint32_t space;
	struct tracker *t;
};

static int g_state = STATE_UNKNOWN;
static bool g_events_wanted; /* TT_ALLOC_EVENTS=1, read with TT_ALLOC_TRACKING_ENABLED */
static struct tracker *g_tracker; /* RCU-protected */
static pthread_mutex_t g_attach_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_atfork_registered;
static bool g_warned;
static unsigned g_next_shard;
/* Random per exec image, never 0: tells this image's slots from those an
 * earlier image of the same process (before exec) left behind. */
static uint32_t g_image_id;
static __thread unsigned tls_shard __attribute__((tls_model("initial-exec"))) = ~0u;
/* The tracker whose table this thread is inserting into: ck_rhs_set compares
 * two entries and has no context argument. */
static __thread struct tracker *tls_table_owner __attribute__((tls_model("initial-exec")));
/* Maps a grow retired on this thread; freed after the read-side section ends. */
static __thread struct retired_map *tls_retired __attribute__((tls_model("initial-exec")));
static __thread bool tls_in_shard __attribute__((tls_model("initial-exec")));
static uint64_t g_incarnation; /* trackers attached so far, under g_attach_lock */

/*
 * Record magazines. A thread keeps the records it freed last (up to
 * MAGAZINE_RECORDS) and takes its next ones from there, newest first,
 * whatever shard their keys hash to: a record just freed is still in cache,
 * and frees in allocation order give records back in one order, which the
 * next allocations reuse in that order and the hardware prefetcher follows.
 * (Per key shard, eight such orders interleaved and every cold free waited
 * for its record: bench a's address pair at 100k live, oldest freed, went
 * from 310 to 161-208 ns over four runs.) Only its
 * thread touches a magazine, inside a report (its shard lock held); a
 * thread's exit hands what it holds to the pool.
 */
#define MAGAZINE_RECORDS 64u
struct magazine {
	uint64_t incarnation; /* of the tracker its records belong to */
	uint32_t count;
	uint32_t index[MAGAZINE_RECORDS];
};
static __thread struct magazine *tls_magazine __attribute__((tls_model("initial-exec")));
static pthread_key_t g_magazine_key;
static pthread_once_t g_magazine_once = PTHREAD_ONCE_INIT;
static bool g_magazine_key_made;

/* ------------------------------------------------------------------------ */
/* Errors: one line on stderr, once, then tracking is off for this process. */

static void disable_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void disable_with(const char *fmt, ...)
{
	ck_pr_store_int(&g_state, STATE_DISABLED);
	if (g_warned)
		return;
	g_warned = true;
	char line[TTA_ERR_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* write(2), not stdio: never touch the host's stdio buffers or locks. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

/* ------------------------------------------------------------------------ */
/* Records by index: shared table below record_capacity, overflow above. */

static inline struct tta_record *record_at(const struct tracker *t, uint32_t index)
{
	if (LIKELY(index < t->record_capacity))
		return &t->records[index];
	uint32_t o = index - t->record_capacity;
	struct tta_record *block = ck_pr_load_ptr(&t->overflow_blocks[o / OVERFLOW_BLOCK]);
	return &block[o % OVERFLOW_BLOCK];
}

static inline bool index_is_ours(const struct tracker *t, uint64_t index)
{
	if (index < t->record_capacity)
		return ck_pr_load_64(tta_chunk_owner_at(&t->seg, (uint32_t)(index /
							TTA_RECORDS_PER_CHUNK))) == t->owner_tag;
	return index - t->record_capacity <
	       (uint64_t)ck_pr_load_32(&t->overflow_blocks_used) * OVERFLOW_BLOCK;
}

/* ------------------------------------------------------------------------ */
/* ck_rhs plumbing */

static inline unsigned key_space_of(unsigned type)
{
	return type == TTA_LAYOUT_CB ? SPACE_CB : type == TTA_LAYOUT_KERNEL ? SPACE_KERNEL
									   : SPACE_BUFFER;
}

static inline uint64_t key_hash(uint32_t device, unsigned space, uint64_t address,
				unsigned long seed)
{
	return tta_mix64(address ^ ((uint64_t)device << 48) ^ ((uint64_t)space << 44) ^ seed);
}

/* The 31-bit fingerprint a key's entry carries, and the table hash of it:
 * the fingerprint itself, 31 bits of a murmur3 finaliser, uniform as it is
 * (a second mix cost 2% of an address pair's instructions). A grow
 * rehashes from the entries alone. */
static inline uint32_t key_fingerprint(uint64_t hash)
{
	return (uint32_t)(hash & 0x7fffffffu);
}

static inline unsigned long fingerprint_hash(uint32_t fp)
{
	return (unsigned long)fp;
}

static unsigned long entry_hash_cb(const void *entry, unsigned long seed)
{
	(void)seed;
	return fingerprint_hash((uint32_t)(ENTRY_FP_BITS((uintptr_t)entry) & 0x7fffffffu));
}

/* Atomic loads: a lock-free lookup may compare against a record that another
 * thread is recycling (type-stable, so only the answer can be stale). */
static inline bool record_has_key(const struct tta_record *r, uint32_t device, unsigned space,
				  uint64_t address)
{
	return ck_pr_load_64(&r->address) == address && ck_pr_load_16(&r->device) == device &&
	       key_space_of(ck_pr_load_8(&r->type)) == space;
}

static bool entry_equal_cb(const void *stored, const void *key)
{
	uint64_t e = (uintptr_t)stored;
	if ((uintptr_t)key & ENTRY_TAG) {
		/* ck_rhs_set: two entries, equal if their records share a key. */
		uint64_t k = (uintptr_t)key;
		if (ENTRY_FP_BITS(e) != ENTRY_FP_BITS(k))
			return false;
		const struct tracker *t = tls_table_owner;
		const struct tta_record *b = record_at(t, ENTRY_INDEX(k));
		return record_has_key(record_at(t, ENTRY_INDEX(e)), ck_pr_load_16(&b->device),
				      key_space_of(ck_pr_load_8(&b->type)),
				      ck_pr_load_64(&b->address));
	}
	const struct lookup *l = key;
	return ENTRY_FP_BITS(e) == l->fp_bits &&
	       record_has_key(record_at(l->t, ENTRY_INDEX(e)), l->device, l->space, l->address);
}

/* Maps of 2 MiB and more ask for transparent huge pages: at a million live
 * buffers a probe otherwise costs a TLB miss on top of the cache miss. */
#define HUGE_MAP (2u << 20)

#ifdef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE_COMPAT MADV_POPULATE_WRITE
#else
#define MADV_POPULATE_WRITE_COMPAT 23 /* Linux 5.14 */
#endif
/* The last map this thread allocated, for table_hint_refresh. */
static __thread const void *tls_map_base __attribute__((tls_model("initial-exec")));
static __thread size_t tls_map_size __attribute__((tls_model("initial-exec")));

static void *rhs_malloc(size_t size)
{
	void *p = NULL;
	if (size < HUGE_MAP) {
		p = malloc(size);
	} else if (posix_memalign(&p, HUGE_MAP, size) == 0) {
		(void)madvise(p, size, MADV_HUGEPAGE);
	} else {
		p = NULL;
	}
	tls_map_base = p;
	tls_map_size = size;
	return p;
}

static void *rhs_realloc(void *p, size_t old_size, size_t new_size, bool defer)
{
	(void)old_size;
	(void)defer;
	return realloc(p, new_size);
}

static void rhs_free(void *p, size_t size, bool defer)
{
	(void)size;
	if (p == NULL)
		return;
	if (!defer || !tls_in_shard) {
		free(p);
		return;
	}
	/* A grow replaced this map while lock-free readers (kernel reloads) may
	 * still walk it: free it only after an RCU grace period, which must not
	 * be waited for inside our own read-side section (see end_report). */
	struct retired_map *r = p;
	r->next = tls_retired;
	tls_retired = r;
}

static struct ck_malloc rhs_allocator = {
	.malloc = rhs_malloc, .realloc = rhs_realloc, .free = rhs_free
};

/*
 * Table slot hints: where in the current ck_rhs map the probe for a hash
 * starts, so the slot can be prefetched before it is needed (staging, above).
 * ck keeps its map layout private. What this relies on is checked once per
 * process against a real table (table_hint_calibrate): a map is a header of
 * fixed size followed, on the next cache line, by one 16-byte slot per
 * bucket, the map is the block ck asked our allocator for, and a probe for
 * hash H starts at slot H & (capacity - 1). If the check fails, no hint is
 * given. A hint is only ever prefetched, never dereferenced, so even a wrong
 * one costs speed, not correctness.
 */
#define RHS_SLOT_BYTES 16u
static long g_rhs_map_header = -1; /* bytes before the slots; -1: no hints */

static void table_hint_update(struct shard *s)
{
	const void *map = s->table.map;
	s->hint_map = map;
	s->hint_slots = NULL;
	/* Without a hint the size is judged from the entries (at most half
	 * the buckets are used). */
	if (!s->staging && ck_rhs_count(&s->table) * 2 >= STAGE_MIN_BUCKETS)
		s->staging = true;
	if (g_rhs_map_header < 0 || map != tls_map_base)
		return;
	size_t header = (size_t)g_rhs_map_header, bytes = tls_map_size;
	if (bytes < header + TTA_CACHE_LINE - 1 + RHS_SLOT_BYTES)
		return;
	unsigned long buckets = (bytes - header - (TTA_CACHE_LINE - 1)) / RHS_SLOT_BYTES;
	if (buckets == 0 || (buckets & (buckets - 1)) != 0)
		return;
	uintptr_t slots = ((uintptr_t)map + header + TTA_CACHE_LINE - 1) &
			  ~(uintptr_t)(TTA_CACHE_LINE - 1);
	s->hint_slots = (const char *)slots;
	s->hint_mask = buckets - 1;
	if (buckets >= STAGE_MIN_BUCKETS)
		s->staging = true;
}

/* After any ck call that may have grown the table. */
static inline void table_hint_refresh(struct shard *s)
{
	if (UNLIKELY(s->table.map != s->hint_map))
		table_hint_update(s);
}

static inline void table_prefetch(const struct shard *s, unsigned long table_hash)
{
	if (LIKELY(s->hint_slots != NULL))
		__builtin_prefetch(s->hint_slots + (table_hash & s->hint_mask) * RHS_SLOT_BYTES, 1, 3);
}

static unsigned long calibrate_hash_cb(const void *entry, unsigned long seed)
{
	(void)seed;
	return (unsigned long)((uintptr_t)entry >> 8);
}

/* Learns ck_rhs's map header size from a table of 64 buckets, then checks
 * that entries land where hints would point. Called once, under
 * g_attach_lock. */
static void table_hint_calibrate(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	ck_rhs_t probe;
	if (!ck_rhs_init(&probe, CK_RHS_MODE_DIRECT, calibrate_hash_cb, NULL, &rhs_allocator, 64, 0))
		return;
	const char *base = (const char *)probe.map;
	size_t bytes = tls_map_size;
	long header = (long)bytes - (long)(64 * RHS_SLOT_BYTES) - (TTA_CACHE_LINE - 1);
	bool ok = (const void *)base == tls_map_base && header > 0;
	static const unsigned long homes[] = { 5, 42, 63 };
	for (unsigned i = 0; ok && i < sizeof homes / sizeof homes[0]; i++) {
		uintptr_t entry = ((uintptr_t)homes[i] << 8) | 1;
		ok = ck_rhs_put(&probe, homes[i], (void *)entry) && probe.map == (void *)base;
		if (!ok)
			break;
		uintptr_t slots = ((uintptr_t)base + (size_t)header + TTA_CACHE_LINE - 1) &
				  ~(uintptr_t)(TTA_CACHE_LINE - 1);
		const char *slot = (const char *)slots + homes[i] * RHS_SLOT_BYTES;
		/* Inside the block ck asked us for: reading it cannot fault. */
		ok = slot + RHS_SLOT_BYTES <= base + bytes &&
		     *(const uintptr_t *)(const void *)(slot + RHS_SLOT_BYTES - sizeof(uintptr_t)) ==
			     entry;
	}
	ck_rhs_destroy(&probe);
	if (ok)
		g_rhs_map_header = header;
}

static inline void shard_lock(struct shard *s)
{
	shard_lock_take(&s->lock);
	tls_in_shard = true;
}

static inline void shard_unlock(struct shard *s)
{
	tls_in_shard = false;
	shard_lock_drop(&s->lock);
}

static inline void wait_for_readers(void)
{
	synchronize_rcu();
	RCU_TSAN_GRACE_DONE();
}

static void free_retired_maps(void)
{
	struct retired_map *r = tls_retired;
	tls_retired = NULL;
	wait_for_readers();
	while (r != NULL) {
		struct retired_map *next = r->next;
		free(r);
		r = next;
	}
}

/* ------------------------------------------------------------------------ */
/* Attach */

/* Without a working reaper, writers keep the table clean themselves. */
static bool reaper_running(struct tta_segment *seg)
{
	struct tta_reaper_judgement j;
	tta_reaper_judge(seg, &j);
	return j.status == TTA_REAPER_STATUS_RUNNING;
}

static void read_identity(struct tta_slot_identity *id, pid_t pid, uint64_t start, uint64_t pidns)
{
	memset(id, 0, sizeof *id);
	id->pid = pid;
	id->uid = (uint32_t)getuid();
	id->start_time = start;
	id->pidns_ino = pidns;
	id->image_id = g_image_id;
	if (prctl(PR_GET_NAME, id->comm, 0, 0, 0) != 0)
		snprintf(id->comm, sizeof id->comm, "pid%d", (int)pid);
	id->comm[sizeof id->comm - 1] = '\0';
	tta_proc_read_text("/proc/self/cmdline", id->cmdline, sizeof id->cmdline, true);
}

static int claim_slot(struct tracker *t, const struct tta_slot_identity *id)
{
	uint32_t slot;
	uint64_t live;
	int rc = tta_slot_claim(&t->seg, id, &slot, &live);
	if (rc != 0)
		return rc;
	t->slot = slot;
	t->live_state = live;
	t->owner_tag = TTA_OWNER_TAG(slot, TTA_SLOT_GEN(live));
	t->slot_entry = tta_slot_at(&t->seg, slot);
	t->counters = tta_counter_at(&t->seg, slot, 0);
	tta_origins_init(&t->origins, &t->seg, slot, t->owner_tag);
	t->peaks = t->seg.off_peaks != 0 ? tta_peak_at(&t->seg, slot, 0) : NULL;
	return 0;
}

static void tracker_free_local(struct tracker *t)
{
	for (unsigned i = 0; i < SHARDS; i++) {
		struct shard *s = &t->shards[i];
		ck_rhs_destroy(&s->table);
		free(s->free_records);
	}
	free(t->pool.free_records);
	if (t->overflow_blocks != NULL)
		for (uint32_t b = 0; b < t->overflow_blocks_used; b++)
			free(t->overflow_blocks[b]);
	free(t->overflow_blocks);
	free(t->device_seen);
	tta_origins_fini(&t->origins);
	free(t->history_next);
	tta_segment_close(&t->seg);
	free(t);
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Called with g_attach_lock held. */
static struct tracker *attach_locked(void)
{
	char err[TTA_ERR_MAX];
	struct tracker *t = calloc(1, sizeof *t);
	if (t == NULL) {
		disable_with("tt-alloc: tracking disabled: out of memory");
		return NULL;
	}
	int rc = tta_segment_open(NULL, TTA_OPEN_CREATE, NULL, &t->seg, err, sizeof err);
	if (rc != 0) {
		free(t);
		disable_with("tt-alloc: tracking disabled: %s", err);
		return NULL;
	}
	pid_t pid = getpid();
	uint64_t start = 0, pidns = tta_self_pidns_ino();
	while (g_image_id == 0)
		g_image_id = (uint32_t)tta_mix64(tta_now_mono_ns() ^ ((uint64_t)pid << 32) ^
					     (uint64_t)(uintptr_t)&g_image_id);
	if (!tta_proc_is_ours()) {
		tta_segment_close(&t->seg);
		free(t);
		disable_with("tt-alloc: tracking disabled: /proc belongs to another pid namespace, "
			     "so this process cannot be identified; mount a /proc for this "
			     "namespace (unshare --mount-proc)");
		return NULL;
	}
	if (tta_proc_start_time(pid, &start) != 0) {
		tta_segment_close(&t->seg);
		free(t);
		disable_with("tt-alloc: tracking disabled: cannot read /proc/self/stat, "
			     "needed to identify this process");
		return NULL;
	}
	t->pid = pid;
	t->incarnation = ++g_incarnation;
	t->records = tta_record_at(&t->seg, 0);
	t->record_capacity = t->seg.geo.record_capacity;
	t->hash_seed = (unsigned long)tta_mix64(tta_now_mono_ns() ^ (uint64_t)pid);
	t->handle_salt = (uint32_t)tta_mix64(t->hash_seed ^ UINT64_C(0x68616e646c65)) & 0x7fffffffu;
	t->device_seen = calloc(t->seg.geo.device_capacity, 1);
	t->history_next = calloc(t->seg.geo.device_capacity, sizeof *t->history_next);
	t->overflow_blocks = calloc(OVERFLOW_BLOCKS, sizeof *t->overflow_blocks);
	t->events = g_events_wanted && t->seg.events.capacity != 0;
	if (t->events) {
		/* Map the ring's pages now (about a millisecond) rather than
		 * one minor fault per 64 events on the report path. Best
		 * effort: before Linux 5.14 the faults simply come later. */
		const struct tta_region *ring = tta_segment_region(&t->seg, TTA_REGION_EVENTS);
		uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
		uintptr_t from = ((uintptr_t)t->seg.base + ring->offset) & ~(page - 1);
		(void)madvise((void *)from, (size_t)ring->size + ((uintptr_t)t->seg.base + ring->offset - from),
			      MADV_POPULATE_WRITE_COMPAT);
	}
	bool ok = t->device_seen != NULL && t->overflow_blocks != NULL && t->history_next != NULL;
	unsigned inited = 0;
	table_hint_calibrate();
	for (; inited < SHARDS && ok; inited++) {
		ok = ck_rhs_init(&t->shards[inited].table, CK_RHS_MODE_DIRECT | CK_RHS_MODE_SPMC,
				 entry_hash_cb, entry_equal_cb, &rhs_allocator, TABLE_FIRST_BUCKETS,
				 t->hash_seed);
		if (ok)
			table_hint_refresh(&t->shards[inited]);
	}
	if (!ok) {
		for (unsigned i = 0; i + 1 < inited; i++)
			ck_rhs_destroy(&t->shards[i].table);
		tta_segment_close(&t->seg);
		free(t->device_seen);
		free(t->history_next);
		free(t->overflow_blocks);
		free(t);
		disable_with("tt-alloc: tracking disabled: out of memory");
		return NULL;
	}

	struct tta_slot_identity id;
	read_identity(&id, pid, start, pidns);
	tta_slot_reap_previous_images(&t->seg, &id);
	if (!reaper_running(&t->seg))
		tta_reap_dead(&t->seg, 0, NULL, NULL);

	if (claim_slot(t, &id) != 0) {
		ck_pr_inc_64(&tta_hdr(&t->seg)->counters[TTA_CTR_attach_refused]);
		uint32_t cap = t->seg.geo.slot_capacity;
		tracker_free_local(t);
		disable_with("tt-alloc: tracking disabled: all %u process slot%s of the segment "
			     "%s in use; recreate it with a larger TT_ALLOC_MAX_PROCESSES",
			     cap, cap == 1 ? "" : "s", cap == 1 ? "is" : "are");
		return NULL;
	}
	if (!g_atfork_registered) {
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		g_atfork_registered = true;
	}
	return t;
}

/* Slow path of every report: first use, or tracking off/disabled. */
static struct tracker *tracker_slow(void)
{
	int state = ck_pr_load_int(&g_state);
	if (state == STATE_OFF || state == STATE_DISABLED)
		return NULL;
	pthread_mutex_lock(&g_attach_lock);
	state = ck_pr_load_int(&g_state);
	if (state == STATE_UNKNOWN) {
		const char *v = getenv("TT_ALLOC_TRACKING_ENABLED");
		state = (v != NULL && strcmp(v, "1") == 0) ? STATE_IDLE : STATE_OFF;
		const char *ev = getenv("TT_ALLOC_EVENTS");
		g_events_wanted = ev != NULL && strcmp(ev, "1") == 0;
		ck_pr_store_int(&g_state, state);
	}
	struct tracker *t = NULL;
	if (state == STATE_IDLE) {
		t = attach_locked();
		if (t != NULL) {
			__atomic_store_n(&g_tracker, t, __ATOMIC_RELEASE);
			ck_pr_store_int(&g_state, STATE_ATTACHED);
		}
	} else if (state == STATE_ATTACHED) {
		t = g_tracker;
	}
	pthread_mutex_unlock(&g_attach_lock);
	return t;
}

static inline void end_report(void)
{
	RCU_TSAN_READER_DONE();
	rcu_read_unlock();
	if (UNLIKELY(tls_retired != NULL))
		free_retired_maps();
}

/*
 * Every report runs between begin_report and end_report. Off: one load and a
 * predictable branch. On: an urcu-bp read-side section, so detach can wait for
 * reports in flight before unmapping the tracker.
 */
static inline struct tracker *begin_report(void)
{
	if (UNLIKELY(ck_pr_load_int(&g_state) != STATE_ATTACHED)) {
		if (ck_pr_load_int(&g_state) == STATE_OFF)
			return NULL;
		if (tracker_slow() == NULL)
			return NULL;
	}
	rcu_read_lock();
	/* Acquire (not rcu_dereference) so TSan sees the publication too. */
	struct tracker *t = __atomic_load_n(&g_tracker, __ATOMIC_ACQUIRE);
	if (UNLIKELY(t == NULL)) {
		end_report();
		return NULL;
	}
	/* Our slot must still be ours: if anything reclaimed it, writing on
	 * would corrupt another process's figures. */
	if (UNLIKELY(ck_pr_load_64(&t->slot_entry->state) != t->live_state)) {
		end_report();
		disable_with("tt-alloc: tracking disabled: this process's slot %u was reclaimed "
			     "by someone else (pid namespace mismatch?)",
			     t->slot);
		return NULL;
	}
	return t;
}

/* ------------------------------------------------------------------------ */
/* Records */

static inline void count_shortfall(struct tracker *t, enum tta_counter_id id)
{
	ck_pr_inc_64(&tta_hdr(&t->seg)->counters[id]);
}
#define SHORTFALL(t, name) count_shortfall((t), TTA_CTR_##name)

static bool push_free_record(struct shard *s, uint32_t index)
{
	if (UNLIKELY(s->free_count == s->free_capacity)) {
		uint32_t cap = s->free_capacity ? s->free_capacity * 2 : 256;
		uint32_t *grown = realloc(s->free_records, cap * sizeof *grown);
		if (grown == NULL)
			return false;
		s->free_records = grown;
		s->free_capacity = cap;
	}
	s->free_records[s->free_count++] = index;
	return true;
}

/* Pushes indices FIRST .. FIRST+COUNT-1 in reverse, so they pop in order. */
static bool stock_range(struct shard *s, uint32_t first, uint32_t count)
{
	for (uint32_t i = count; i-- > 0;)
		if (!push_free_record(s, first + i))
			return s->free_count > 0;
	return true;
}

/* Claims a whole chunk for this process (one CAS on its owner word) and
 * stocks shard S with its records. Called with S locked. */
static bool stock_from_new_chunk(struct tracker *t, struct shard *s)
{
	uint32_t skip = ck_pr_load_32(&t->chunk_hunt_skip);
	if (skip > 0) {
		ck_pr_store_32(&t->chunk_hunt_skip, skip - 1);
		return false;
	}
	int64_t c = tta_chunk_claim(&t->seg, t->owner_tag);
	if (c >= 0)
		return stock_range(s, (uint32_t)c * TTA_RECORDS_PER_CHUNK, TTA_RECORDS_PER_CHUNK);
	ck_pr_store_32(&t->chunk_hunt_skip, CHUNK_RETRY_EVERY);
	return false;
}

/* Hands shard S up to SHARD_BATCH free records from the process pool,
 * claiming a new chunk for the pool when it is empty. Called with S locked;
 * the pool lock nests inside shard locks. */
/* Takes the pool lock, stocks the pool from a new chunk if it is empty, and
 * returns where its top MAX records (or fewer) start: the caller moves
 * free_records[from .. free_count), top last, so records are still handed
 * out in index order (neighbours share cache lines), then drops the lock. */
static uint32_t pool_lock_top(struct tracker *t, uint32_t max)
{
	struct shard *pool = &t->pool;
	shard_lock_take(&pool->lock);
	if (pool->free_count == 0)
		(void)stock_from_new_chunk(t, pool);
	return pool->free_count > max ? pool->free_count - max : 0;
}

static bool refill_shard(struct tracker *t, struct shard *s)
{
	struct shard *pool = &t->pool;
	uint32_t from = pool_lock_top(t, SHARD_BATCH), avail = pool->free_count, moved = 0;
	for (uint32_t i = from; i < avail; i++) {
		if (!push_free_record(s, pool->free_records[i]))
			break;
		moved++;
	}
	if (avail - from > moved) /* the shard's stack could not grow */
		memmove(&pool->free_records[from], &pool->free_records[from + moved],
			(avail - from - moved) * sizeof *pool->free_records);
	pool->free_count -= moved;
	shard_lock_drop(&pool->lock);
	return moved > 0;
}

/* Gives the pool what shard S holds beyond half of SHARD_KEEP, so records a
 * thread freed serve allocations on every shard. Called with S locked. */
static void spill_shard(struct tracker *t, struct shard *s)
{
	struct shard *pool = &t->pool;
	shard_lock_take(&pool->lock);
	while (s->free_count > SHARD_KEEP / 2 &&
	       push_free_record(pool, s->free_records[s->free_count - 1]))
		s->free_count--;
	shard_lock_drop(&pool->lock);
}

/* The segment is full: stock S with a block of private records nobody else
 * sees. Blocks are published before their indices, so record_at() from a
 * lock-free lookup always finds them. Called with S locked. */
static bool stock_from_overflow(struct tracker *t, struct shard *s)
{
	struct tta_record *block = calloc(OVERFLOW_BLOCK, sizeof *block);
	if (block == NULL)
		return false;
	for (;;) {
		uint32_t used = ck_pr_load_32(&t->overflow_blocks_used);
		if (used >= OVERFLOW_BLOCKS) {
			free(block);
			return false;
		}
		if (!ck_pr_cas_ptr(&t->overflow_blocks[used], NULL, block))
			continue; /* another shard is publishing this one */
		ck_pr_store_32(&t->overflow_blocks_used, used + 1);
		return stock_range(s, t->record_capacity + used * OVERFLOW_BLOCK, OVERFLOW_BLOCK);
	}
}

/* At thread exit: what the magazine holds goes to the pool of the tracker
 * it came from, if that is still attached. g_attach_lock keeps the tracker
 * from being detached (and freed) meanwhile. */
static void magazine_thread_exit(void *p)
{
	struct magazine *m = p;
	tls_magazine = NULL;
	pthread_mutex_lock(&g_attach_lock);
	struct tracker *t = g_tracker;
	if (t != NULL && ck_pr_load_int(&g_state) == STATE_ATTACHED &&
	    m->incarnation == t->incarnation &&
	    ck_pr_load_64(&t->slot_entry->state) == t->live_state) {
		shard_lock_take(&t->pool.lock);
		for (uint32_t i = 0; i < m->count && push_free_record(&t->pool, m->index[i]); i++)
			;
		shard_lock_drop(&t->pool.lock);
	}
	pthread_mutex_unlock(&g_attach_lock);
	free(m);
}

static void magazine_key_make(void)
{
	g_magazine_key_made = pthread_key_create(&g_magazine_key, magazine_thread_exit) == 0;
}

/* No thread exit may call into an unloaded library. */
__attribute__((destructor)) static void magazine_key_drop(void)
{
	if (g_magazine_key_made)
		pthread_key_delete(g_magazine_key);
}

/* This thread's magazine for T's records, made on first use (NULL: none,
 * out of memory; records then go straight to the shard). */
static struct magazine *magazine_slow(struct tracker *t)
{
	struct magazine *m = tls_magazine;
	if (m == NULL) {
		pthread_once(&g_magazine_once, magazine_key_make);
		if (!g_magazine_key_made || (m = malloc(sizeof *m)) == NULL)
			return NULL;
		if (pthread_setspecific(g_magazine_key, m) != 0) {
			free(m);
			return NULL;
		}
		tls_magazine = m;
	}
	/* An older tracker's records were released with it (detach, fork). */
	m->incarnation = t->incarnation;
	m->count = 0;
	return m;
}

/* Fills an empty magazine with up to half its size from the pool, in the
 * order the pool hands records out (index order from a new chunk), when
 * shard S has none of its own to give. Called with S locked; false if the
 * pool had none either. */
static bool magazine_refill(struct tracker *t, struct shard *s, struct magazine *m)
{
	if (s->free_count > 0)
		return false;
	struct shard *pool = &t->pool;
	uint32_t from = pool_lock_top(t, MAGAZINE_RECORDS / 2), n = pool->free_count - from;
	if (n > 0) { /* the pool's stack is not even allocated before its first stock */
		memcpy(m->index, &pool->free_records[from], n * sizeof *m->index);
		pool->free_count = from;
		m->count = n;
	}
	shard_lock_drop(&pool->lock);
	return n > 0;
}

static inline uint64_t coarse_now_ns(void)
{
	struct timespec ts;
	/* Coarse is enough for an age in a leak report and costs a few ns. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Takes a free record and fills it; ORIGIN is tta_origins_now()'s (tag,
 * site). Called with S locked. Returns the index, or UINT32_MAX when even
 * private memory is exhausted. */
static uint32_t new_record(struct tracker *t, struct shard *s, uint32_t device, uint64_t address,
			   uint64_t size, unsigned type, unsigned kernel_kind, bool by_handle,
			   uint32_t origin, uint64_t now)
{
	uint32_t index;
	struct magazine *m = tls_magazine;
	if (UNLIKELY(m == NULL || m->incarnation != t->incarnation))
		m = magazine_slow(t);
	if (LIKELY(m != NULL) && (LIKELY(m->count > 0) || magazine_refill(t, s, m))) {
		index = m->index[--m->count];
	} else {
		if (UNLIKELY(s->free_count == 0) && !refill_shard(t, s) &&
		    !stock_from_overflow(t, s))
			return UINT32_MAX;
		index = s->free_records[--s->free_count];
	}
	if (UNLIKELY(index >= t->record_capacity))
		SHORTFALL(t, records_unavailable);
	struct tta_record_fields f = {
		.owner = t->owner_tag,
		.address = address,
		.size = size,
		.alloc_mono_ns = now,
		.device = device,
		.type = (uint8_t)type,
		.kernel_kind = (uint8_t)kernel_kind,
		.by_handle = by_handle,
		.tag = (uint16_t)(origin >> 16),
		.site = (uint16_t)origin,
	};
	tta_record_publish(record_at(t, index), &f);
	return index;
}

/* A full magazine gives its older half to shard S (S locked). */
static void magazine_spill(struct tracker *t, struct shard *s, struct magazine *m)
{
	uint32_t half = MAGAZINE_RECORDS / 2;
	for (uint32_t i = 0; i < half; i++)
		(void)push_free_record(s, m->index[i]);
	memmove(m->index, m->index + half, (m->count - half) * sizeof *m->index);
	m->count -= half;
	if (s->free_count > SHARD_KEEP)
		spill_shard(t, s);
}

/* Returns a record to this thread's magazine, or to S's free stack. The
 * record must be ours and already out of the table (or marked free by the
 * handle path). Called with S locked. */
static void release_record(struct tracker *t, struct shard *s, uint32_t index)
{
	tta_record_retire(record_at(t, index));
	struct magazine *m = tls_magazine;
	if (UNLIKELY(m == NULL || m->incarnation != t->incarnation))
		m = magazine_slow(t);
	if (LIKELY(m != NULL)) {
		if (UNLIKELY(m->count == MAGAZINE_RECORDS))
			magazine_spill(t, s, m);
		m->index[m->count++] = index;
		return;
	}
	/* Out of memory for the stack: the record stays unused until the process
	 * exits, which costs capacity, never correctness. */
	(void)push_free_record(s, index);
	if (UNLIKELY(s->free_count > SHARD_KEEP))
		spill_shard(t, s);
}

static inline void mark_device_used(struct tracker *t, uint32_t device)
{
	if (UNLIKELY(!ck_pr_load_8(&t->device_seen[device]))) {
		ck_pr_or_uint(&tta_device_user_words(&t->seg, device)[t->slot / 32],
			      1u << (t->slot % 32));
		ck_pr_store_8(&t->device_seen[device], 1);
	}
}

static inline void counters_add(struct tracker *t, uint32_t device, unsigned type, uint64_t size)
{
	tta_counter_line_add_peak(&t->counters[device], t->peaks ? &t->peaks[device] : NULL, type,
				  size);
}

/* Before a change to DEVICE's total: the first one of a history interval
 * records the interval's sample (tta_history_record); every other one costs
 * this compare. NOW is CLOCK_MONOTONIC_COARSE. */
static inline void history_touch(struct tracker *t, uint32_t device, uint64_t now)
{
	if (UNLIKELY(now >= ck_pr_load_64(&t->history_next[device])))
		ck_pr_store_64(&t->history_next[device],
			       tta_history_record(&t->seg, device, now));
}

/* TT_ALLOC_EVENTS=1 only: one entry in the segment's event ring. */
static __attribute__((noinline)) void emit_event(struct tracker *t, unsigned kind,
						 uint32_t device, unsigned type, unsigned kernel_kind,
						 uint64_t address, uint64_t size, uint64_t now)
{
	struct tta_event_entry e = {
		.mono_ns = now,
		.pid = (int32_t)t->pid,
		.slot = t->slot,
		.device = device,
		.kind = (uint8_t)kind,
		.type = (uint8_t)type,
		.kernel_kind = (uint8_t)kernel_kind,
		.address = address,
		.size = size,
	};
	tta_event_emit(&t->seg, &e);
}

static inline unsigned alloc_event_kind(unsigned type)
{
	return type == TTA_LAYOUT_CB ? TTA_EVENT_KIND_CB_ALLOC
	       : type == TTA_LAYOUT_KERNEL ? TTA_EVENT_KIND_KERNEL_LOAD : TTA_EVENT_KIND_ALLOC;
}

static inline void counters_sub(struct tracker *t, uint32_t device, unsigned type, uint64_t size)
{
	tta_counter_line_sub(&t->counters[device], type, size);
}

static inline bool device_ok(struct tracker *t, uint32_t device)
{
	if (LIKELY(device < t->seg.geo.device_capacity))
		return true;
	SHORTFALL(t, bad_device);
	return false;
}

static inline struct shard *shard_for_hash(struct tracker *t, uint64_t hash)
{
	return &t->shards[(hash >> 58) & (SHARDS - 1)];
}

static inline struct shard *shard_for_thread(struct tracker *t)
{
	if (UNLIKELY(tls_shard == ~0u))
		tls_shard = ck_pr_faa_uint(&g_next_shard, 1) & (SHARDS - 1);
	return &t->shards[tls_shard];
}

static inline uint32_t make_lookup(struct tracker *t, uint32_t device, unsigned space,
				   uint64_t address, struct lookup *l, unsigned long *table_hash,
				   struct shard **shard)
{
	uint64_t h = key_hash(device, space, address, t->hash_seed);
	uint32_t fp = key_fingerprint(h);
	l->fp_bits = ENTRY_FP_BITS(ENTRY(fp, 0));
	l->address = address;
	l->device = device;
	l->space = space;
	l->t = t;
	*table_hash = fingerprint_hash(fp);
	*shard = shard_for_hash(t, h);
	return fp;
}

/* ------------------------------------------------------------------------ */
/* Keyed reports: buffers by address, CBs by id, kernels by id */

/* A record index we issued (shared table or one of our overflow blocks):
 * what a `shadowed` link read back from the segment must be before use. */
static inline bool index_valid(const struct tracker *t, uint64_t index)
{
	return index < t->record_capacity ||
	       index - t->record_capacity <
		       (uint64_t)ck_pr_load_32(&t->overflow_blocks_used) * OVERFLOW_BLOCK;
}

/* The older allocation record R hides, as an index, or UINT32_MAX. */
static inline uint32_t shadowed_index(const struct tracker *t, const struct tta_record *r)
{
	uint64_t link = ck_pr_load_64(&r->shadowed);
	if (LIKELY(link == 0) || !index_valid(t, link - 1))
		return UINT32_MAX;
	return (uint32_t)(link - 1);
}

/* Links the oldest allocation hidden behind record INDEX to OLDER. The
 * walk is bounded: links live in the shared segment. */
static void shadow_link_end(struct tracker *t, uint32_t index, uint32_t older)
{
	struct tta_record *r = record_at(t, index);
	for (unsigned hops = 0; hops < (1u << 16); hops++) {
		uint32_t next = shadowed_index(t, r);
		if (next == UINT32_MAX) {
			ck_pr_store_64(&r->shadowed, (uint64_t)older + 1);
			return;
		}
		r = record_at(t, next);
	}
	SHORTFALL(t, records_unavailable); /* a corrupt chain: OLDER stays counted, unreachable */
}

static inline uint32_t stage_tag_of(uint32_t fp, unsigned state)
{
	return (fp & 0x3fffffffu) | (state << 30);
}

static inline uint32_t entry_fp(uint64_t entry)
{
	return (uint32_t)(entry >> 32) & 0x7fffffffu;
}

/* Bit I set when stage_tag[I] == TAG. */
static inline unsigned stage_match(const struct shard *s, uint32_t tag)
{
#if defined(__SSE2__)
	_Static_assert(STAGE_SLOTS == 8, "two SSE2 compares");
	__m128i want = _mm_set1_epi32((int)tag);
	__m128i lo = _mm_loadu_si128((const __m128i *)(const void *)&s->stage_tag[0]);
	__m128i hi = _mm_loadu_si128((const __m128i *)(const void *)&s->stage_tag[4]);
	return (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lo, want))) |
	       (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(hi, want))) << 4;
#else
	unsigned m = 0;
	for (unsigned i = 0; i < STAGE_SLOTS; i++)
		m |= (unsigned)(s->stage_tag[i] == tag) << i;
	return m;
#endif
}

/* The ring slot holding KEY in state TAG's state, or -1. */
static inline int stage_find(const struct shard *s, uint32_t tag, uint32_t device, unsigned space,
			     uint64_t address)
{
	for (unsigned m = stage_match(s, tag); m != 0; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		const struct staged *e = &s->stage[i];
		if (e->address == address && e->device == device && e->space == space)
			return (int)i;
	}
	return -1;
}

static bool table_has_key(struct tracker *t, struct shard *s, const struct staged *e)
{
	uint32_t fp = entry_fp(e->entry);
	struct lookup l = { ENTRY_FP_BITS(ENTRY(fp, 0)), e->address, e->device, e->space, t };
	return ck_rhs_get(&s->table, fingerprint_hash(fp), &l) != NULL;
}

/* Empties the ring slot at the head: a LIVE entry moves into the table, a
 * FREED one settles its check against the table. False when the table
 * cannot grow (the entry stays where it is). Called with S locked. */
static bool stage_evict(struct tracker *t, struct shard *s)
{
	uint32_t slot = s->stage_head;
	uint32_t tag = s->stage_tag[slot];
	if (tag == 0)
		return true;
	struct staged *e = &s->stage[slot];
	if ((tag >> 30) == STAGE_FREED) {
		if (e->check_table && table_has_key(t, s, e))
			SHORTFALL(t, address_collisions);
	} else {
		void *previous = NULL;
		tls_table_owner = t;
		bool ok = ck_rhs_set(&s->table, fingerprint_hash(entry_fp(e->entry)),
				     (void *)(uintptr_t)e->entry, &previous);
		table_hint_refresh(s);
		if (UNLIKELY(!ok))
			return false;
		if (UNLIKELY(previous != NULL)) {
			/* Its key was live in the table too: allocated over it.
			 * The table now names the newest; the chain ends with the
			 * allocation that was in the table. */
			shadow_link_end(t, ENTRY_INDEX(e->entry), ENTRY_INDEX((uintptr_t)previous));
			if (e->check_table)
				SHORTFALL(t, address_collisions);
		}
	}
	s->stage_tag[slot] = 0;
	return true;
}

/* Puts record INDEX straight into the table. Kernels: a reload replaces
 * the earlier binary. Buffers and CBs: an alloc over a live key keeps both.
 * Called with S locked, after the counters were added; false when the table
 * had no room (the record and its counters are undone). */
static bool table_insert(struct tracker *t, struct shard *s, uint32_t index, uint32_t fp,
			 unsigned long table_hash, uint32_t device, unsigned type, uint64_t size)
{
	void *previous = NULL;
	tls_table_owner = t;
	bool ok = ck_rhs_set(&s->table, table_hash, (void *)(uintptr_t)ENTRY(fp, index), &previous);
	table_hint_refresh(s);
	if (UNLIKELY(!ok)) {
		/* No memory to index it: undo so totals stay exact. */
		counters_sub(t, device, type, size);
		release_record(t, s, index);
		SHORTFALL(t, records_unavailable);
		return false;
	}
	if (LIKELY(previous == NULL))
		return true;
	uint32_t old_index = ENTRY_INDEX((uintptr_t)previous);
	if (type == TTA_LAYOUT_KERNEL) {
		struct tta_record *old = record_at(t, old_index);
		counters_sub(t, old->device, old->type, old->size);
		release_record(t, s, old_index);
	} else {
		/* Alloc over a live address: the earlier one was never freed.
		 * Keep both in the totals and count it so the anomaly is visible.
		 * The table now names the new record, which links to the one it
		 * hides: frees release the newest first. */
		ck_pr_store_64(&record_at(t, index)->shadowed, (uint64_t)old_index + 1);
		SHORTFALL(t, address_collisions);
	}
	return true;
}

/* Puts record INDEX in the shard's ring (see struct staged). Called with S
 * locked, after the counters were added; false (nothing changed) when the
 * table cannot take the entry the ring must give up. */
static bool stage_insert(struct tracker *t, struct shard *s, uint32_t index, uint32_t fp,
			 unsigned long table_hash, uint32_t device, unsigned space,
			 uint64_t address)
{
	if (UNLIKELY(!stage_evict(t, s)))
		return false;
	uint8_t check_table = 1;
	int hidden = stage_find(s, stage_tag_of(fp, STAGE_LIVE), device, space, address);
	if (UNLIKELY(hidden >= 0)) {
		/* Alloc over a live staged address: as in table_insert, and the
		 * new entry inherits the hidden one's open question. */
		ck_pr_store_64(&record_at(t, index)->shadowed,
			       (uint64_t)ENTRY_INDEX(s->stage[hidden].entry) + 1);
		check_table = s->stage[hidden].check_table;
		s->stage_tag[hidden] = 0;
		SHORTFALL(t, address_collisions);
	}
	uint32_t slot = s->stage_head;
	s->stage[slot] = (struct staged){ .address = address,
					  .entry = ENTRY(fp, index),
					  .device = device,
					  .space = (uint8_t)space,
					  .check_table = check_table };
	s->stage_tag[slot] = stage_tag_of(fp, STAGE_LIVE);
	s->stage_head = (slot + 1) % STAGE_SLOTS;
	/* It reaches the table STAGE_SLOTS allocations from now, if it lives. */
	table_prefetch(s, table_hash);
	return true;
}

static void keyed_alloc(struct tracker *t, uint32_t device, uint64_t address, uint64_t size,
			unsigned type, unsigned kernel_kind, uint32_t origin)
{
	if (!device_ok(t, device))
		return;
	mark_device_used(t, device);
	uint64_t now = coarse_now_ns();
	history_touch(t, device, now);
	unsigned space = key_space_of(type);
	struct lookup l;
	unsigned long table_hash;
	struct shard *s;
	uint32_t fp = make_lookup(t, device, space, address, &l, &table_hash, &s);
	shard_lock(s);
	uint32_t index = new_record(t, s, device, address, size, type, kernel_kind, false, origin, now);
	if (UNLIKELY(index == UINT32_MAX)) {
		shard_unlock(s);
		SHORTFALL(t, records_unavailable);
		return;
	}
	/* A kernel reload adds the new size before the old one goes: its
	 * peak is noted once the line holds what is really loaded. */
	if (UNLIKELY(type == TTA_LAYOUT_KERNEL))
		tta_counter_line_add(&t->counters[device], type, size);
	else
		counters_add(t, device, type, size);
	/* Kernels never stage: a reload is answered by a lock-free table
	 * lookup (tta_report_kernel_load). */
	bool recorded;
	if (!s->staging || space == SPACE_KERNEL) {
		recorded = table_insert(t, s, index, fp, table_hash, device, type, size);
	} else {
		recorded = stage_insert(t, s, index, fp, table_hash, device, space, address);
		if (UNLIKELY(!recorded)) {
			counters_sub(t, device, type, size);
			release_record(t, s, index);
			SHORTFALL(t, records_unavailable);
		}
	}
	if (UNLIKELY(!recorded)) {
		shard_unlock(s);
		return;
	}
	if (UNLIKELY(type == TTA_LAYOUT_KERNEL) && t->peaks != NULL)
		tta_peak_note(&t->peaks[device], type, ck_pr_load_64(&t->counters[device].bytes[type]));
	shard_unlock(s);
	if (UNLIKELY(t->events))
		emit_event(t, alloc_event_kind(type), device, type, kernel_kind, address, size, now);
}

static void emit_free_event(struct tracker *t, unsigned space, uint32_t device, unsigned type,
			    uint64_t address, uint64_t size, uint64_t now)
{
	emit_event(t, space == SPACE_CB ? TTA_EVENT_KIND_CB_FREE : TTA_EVENT_KIND_FREE, device, type,
		   0, address, size, now);
}

/* Frees the staged allocation in ring slot I. Called with S locked. */
static void staged_free(struct tracker *t, struct shard *s, unsigned i, uint32_t fp)
{
	struct staged *e = &s->stage[i];
	uint32_t index = ENTRY_INDEX(e->entry);
	struct tta_record *r = record_at(t, index);
	uint32_t older = shadowed_index(t, r);
	if (UNLIKELY(older != UINT32_MAX))
		e->entry = ENTRY(fp, older); /* the hidden one is the newest again */
	else if (e->check_table)
		s->stage_tag[i] = stage_tag_of(fp, STAGE_FREED); /* keeps its question */
	else
		s->stage_tag[i] = 0;
	counters_sub(t, r->device, r->type, r->size);
	release_record(t, s, index);
}

static void keyed_free(struct tracker *t, uint32_t device, uint64_t address, unsigned space)
{
	if (!device_ok(t, device))
		return;
	uint64_t now = coarse_now_ns();
	history_touch(t, device, now);
	struct lookup l;
	unsigned long table_hash;
	struct shard *s;
	uint32_t fp = make_lookup(t, device, space, address, &l, &table_hash, &s);
	shard_lock(s);
	bool staged = s->staging && space != SPACE_KERNEL;
	if (staged) {
		int i = stage_find(s, stage_tag_of(fp, STAGE_LIVE), device, space, address);
		if (i >= 0) {
			struct tta_record *r = record_at(t, ENTRY_INDEX(s->stage[i].entry));
			unsigned type = r->type;
			uint64_t size = r->size;
			staged_free(t, s, (unsigned)i, fp);
			shard_unlock(s);
			if (UNLIKELY(t->events))
				emit_free_event(t, space, device, type, address, size, now);
			return;
		}
	}
	void *entry = ck_rhs_remove(&s->table, table_hash, &l);
	if (UNLIKELY(entry == NULL)) {
		shard_unlock(s);
		SHORTFALL(t, unknown_frees);
		return;
	}
	if (staged) {
		/* The key was live in the table: allocations of it freed while
		 * staged were made over it. Settle them before the table changes. */
		uint32_t freed_tag = stage_tag_of(fp, STAGE_FREED);
		for (int j; (j = stage_find(s, freed_tag, device, space, address)) >= 0;) {
			if (s->stage[j].check_table)
				SHORTFALL(t, address_collisions);
			s->stage_tag[j] = 0;
		}
	}
	uint32_t index = ENTRY_INDEX((uintptr_t)entry);
	struct tta_record *r = record_at(t, index);
	uint32_t older = shadowed_index(t, r);
	if (UNLIKELY(older != UINT32_MAX)) {
		/* The allocation this one hid is the newest at the key again. The
		 * remove just made room, so the put fails only when a grow finds no
		 * memory; that allocation then stays counted but unreachable. */
		tls_table_owner = t;
		bool ok = ck_rhs_put(&s->table, table_hash, (void *)(uintptr_t)ENTRY(fp, older));
		table_hint_refresh(s);
		if (!ok)
			SHORTFALL(t, records_unavailable);
	}
	unsigned type = r->type;
	uint64_t size = r->size;
	counters_sub(t, r->device, type, size);
	release_record(t, s, index);
	shard_unlock(s);
	if (UNLIKELY(t->events))
		emit_free_event(t, space, device, type, address, size, now);
}

/* Detach: the questions still open in the rings are answered now. Called
 * when no report can run (after the grace period). */
static void stage_settle_all(struct tracker *t)
{
	for (unsigned i = 0; i < SHARDS; i++) {
		struct shard *s = &t->shards[i];
		for (unsigned j = 0; j < STAGE_SLOTS; j++)
			if (s->stage_tag[j] != 0 && s->stage[j].check_table &&
			    table_has_key(t, s, &s->stage[j]))
				SHORTFALL(t, address_collisions);
	}
}

/* Totals are read as signed 64-bit figures: a size above INT64_MAX would
 * show as a negative total, so it is refused. */
static inline bool size_ok(struct tracker *t, uint64_t size)
{
	if (LIKELY(size <= (uint64_t)INT64_MAX))
		return true;
	SHORTFALL(t, bad_argument);
	return false;
}

static inline bool buffer_type_ok(struct tracker *t, unsigned type)
{
	if (LIKELY(type <= TTA_LAYOUT_TRACE))
		return true;
	SHORTFALL(t, bad_argument);
	return false;
}

TTA_EXPORT void tta_report_alloc(uint32_t device, uint64_t address, uint64_t size,
				 enum tta_mem_type type)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	if (buffer_type_ok(t, (unsigned)type) && size_ok(t, size))
		keyed_alloc(t, device, address, size, (unsigned)type, 0,
			    tta_origins_now(&t->origins));
	end_report();
}

TTA_EXPORT void tta_report_free(uint32_t device, uint64_t address)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	keyed_free(t, device, address, SPACE_BUFFER);
	end_report();
}

TTA_EXPORT void tta_report_cb_alloc(uint32_t device, uint64_t cb_id, uint64_t size)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	if (size_ok(t, size))
		keyed_alloc(t, device, cb_id, size, TTA_LAYOUT_CB, 0, tta_origins_now(&t->origins));
	end_report();
}

TTA_EXPORT void tta_report_cb_free(uint32_t device, uint64_t cb_id)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	keyed_free(t, device, cb_id, SPACE_CB);
	end_report();
}

TTA_EXPORT void tta_report_kernel_load(uint32_t device, uint64_t kernel_id, uint64_t size,
				       enum tta_kernel_kind kind)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	if ((unsigned)kind > TTA_KERNEL_DISPATCH) {
		SHORTFALL(t, bad_argument);
		end_report();
		return;
	}
	if (!size_ok(t, size)) {
		end_report();
		return;
	}
	if (!device_ok(t, device)) {
		end_report();
		return;
	}
	/* Programs reload the same kernels constantly: answer an unchanged
	 * reload from a lock-free lookup (this is why grown ck_rhs maps are
	 * retired through RCU) without taking the shard lock. */
	struct lookup l;
	unsigned long table_hash;
	struct shard *s;
	make_lookup(t, device, SPACE_KERNEL, kernel_id, &l, &table_hash, &s);
	void *entry = ck_rhs_get(&s->table, table_hash, &l);
	bool unchanged = false;
	if (entry != NULL) {
		const struct tta_record *known = record_at(t, ENTRY_INDEX((uintptr_t)entry));
		unchanged = ck_pr_load_64(&known->size) == size &&
			    ck_pr_load_8(&known->kernel_kind) == (uint8_t)kind &&
			    ck_pr_load_8(&known->state) == TTA_RECORD_LIVE &&
			    record_has_key(known, device, SPACE_KERNEL, kernel_id);
	}
	if (!unchanged)
		keyed_alloc(t, device, kernel_id, size, TTA_LAYOUT_KERNEL, (unsigned)kind,
			    tta_origins_now(&t->origins));
	end_report();
}

/* ------------------------------------------------------------------------ */
/* Handle reports: no table, the token names the record */

TTA_EXPORT tta_handle tta_report_alloc_handle(uint32_t device, uint64_t address, uint64_t size,
					      enum tta_mem_type type)
{
	struct tracker *t = begin_report();
	if (t == NULL)
		return 0;
	tta_handle h = 0;
	if (buffer_type_ok(t, (unsigned)type) && size_ok(t, size) && device_ok(t, device)) {
		mark_device_used(t, device);
		uint32_t origin = tta_origins_now(&t->origins);
		uint64_t now = coarse_now_ns();
		history_touch(t, device, now);
		struct shard *s = shard_for_thread(t);
		shard_lock(s);
		uint32_t index = new_record(t, s, device, address, size, (unsigned)type, 0, true,
					    origin, now);
		if (LIKELY(index != UINT32_MAX)) {
			counters_add(t, device, (unsigned)type, size);
			uint32_t generation = ck_pr_load_32(&record_at(t, index)->generation);
			h = HANDLE_TAG |
			    ((uint64_t)((generation + t->handle_salt) & 0x7fffffffu) << 32) |
			    ((uint64_t)index + 1);
		}
		shard_unlock(s);
		if (h == 0)
			SHORTFALL(t, records_unavailable);
		else if (UNLIKELY(t->events))
			emit_event(t, TTA_EVENT_KIND_ALLOC, device, (unsigned)type, 0, address, size,
				   now);
	}
	end_report();
	return h;
}

TTA_EXPORT void tta_report_free_handle(tta_handle handle)
{
	if (handle == 0)
		return;
	struct tracker *t = begin_report();
	if (t == NULL)
		return;
	uint64_t index = (handle & 0xffffffffu) - 1;
	if (UNLIKELY((handle & HANDLE_TAG) == 0 || (handle & 0xffffffffu) == 0 ||
		     !index_is_ours(t, index))) {
		SHORTFALL(t, foreign_frees);
		end_report();
		return;
	}
	struct tta_record *r = record_at(t, (uint32_t)index);
	/* Generations this incarnation issued handles for on this record run
	 * from first_generation to the current one (mod 2^31). Older: a stale
	 * handle of ours (double free). Outside: never issued to us (another
	 * process, an earlier incarnation, a forgery). The current generation
	 * of a record the handle path did not make was never a handle either. */
	uint32_t generation = ((uint32_t)(handle >> 32) - t->handle_salt) & 0x7fffffffu;
	uint32_t current = ck_pr_load_32(&r->generation) & 0x7fffffffu;
	uint32_t first = ck_pr_load_32(&r->first_generation) & 0x7fffffffu;
	if (UNLIKELY(ck_pr_load_64(&r->owner) != t->owner_tag ||
		     ((generation - first) & 0x7fffffffu) > ((current - first) & 0x7fffffffu) ||
		     (generation == current && !ck_pr_load_8(&r->by_handle)))) {
		SHORTFALL(t, foreign_frees);
		end_report();
		return;
	}
	/* The CAS on state makes exactly one of two racing frees win. */
	if (UNLIKELY(generation != current ||
		     !ck_pr_cas_8(&r->state, TTA_RECORD_LIVE, TTA_RECORD_FREE))) {
		SHORTFALL(t, double_frees);
		end_report();
		return;
	}
	uint32_t device = r->device;
	unsigned type = r->type;
	uint64_t size = r->size;
	uint64_t now = coarse_now_ns();
	history_touch(t, device, now);
	counters_sub(t, device, type, size);
	struct shard *s = shard_for_thread(t);
	shard_lock(s);
	uint64_t address = UNLIKELY(t->events) ? r->address : 0;
	release_record(t, s, (uint32_t)index);
	shard_unlock(s);
	if (UNLIKELY(t->events))
		emit_event(t, TTA_EVENT_KIND_FREE, device, type, 0, address, size, now);
	end_report();
}

/* ------------------------------------------------------------------------ */
/* Devices, state, detach */

TTA_EXPORT int tta_register_device(uint32_t device, const struct tta_device_info *info)
{
	if (info == NULL)
		return -1;
	struct tracker *t = begin_report();
	if (t == NULL)
		return -1;
	int rc = -1;
	if (!device_ok(t, device))
		goto out;
	struct tta_device *d = tta_device_at(&t->seg, device);
	uint64_t claim = TTA_DEVICE_CLAIM_BIT | t->owner_tag;
	if (!ck_pr_cas_64(&d->state, 0, claim)) {
		rc = 1;
		goto out;
	}
	d->registered_pid = (uint64_t)t->pid;
	d->registered_realtime_ns = tta_now_realtime_ns();
	d->num_cores = info->num_cores;
	d->l1_bytes_per_core = info->l1_bytes_per_core;
	memset(d->arch, 0, sizeof d->arch);
	memcpy(d->arch, info->arch, strnlen(info->arch, sizeof d->arch - 1));
	for (unsigned i = 0; i < 8; i++)
		d->capacity[i] = i < TTA_MEM_TYPES ? info->capacity[i] : 0;
	ck_pr_fence_store();
	ck_pr_store_64(&d->state, TTA_DEVICE_PUBLISHED);
	rc = 0;
out:
	end_report();
	return rc;
}

TTA_EXPORT enum tta_track_state tta_track_state(void)
{
	switch (ck_pr_load_int(&g_state)) {
	case STATE_ATTACHED:
		return TTA_TRACK_ATTACHED;
	case STATE_DISABLED:
		return TTA_TRACK_DISABLED;
	case STATE_IDLE:
		return TTA_TRACK_IDLE;
	case STATE_OFF:
		return TTA_TRACK_OFF;
	default: {
		const char *v = getenv("TT_ALLOC_TRACKING_ENABLED");
		return (v != NULL && strcmp(v, "1") == 0) ? TTA_TRACK_IDLE : TTA_TRACK_OFF;
	}
	}
}

TTA_EXPORT long tta_track_detach(void)
{
	pthread_mutex_lock(&g_attach_lock);
	struct tracker *t = g_tracker;
	if (t == NULL || ck_pr_load_int(&g_state) != STATE_ATTACHED) {
		pthread_mutex_unlock(&g_attach_lock);
		return 0;
	}
	ck_pr_store_int(&g_state, STATE_IDLE);
	__atomic_store_n(&g_tracker, NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&g_attach_lock);
	/* Wait out every report that still uses T. */
	wait_for_readers();
	stage_settle_all(t);
	long live = 0;
	for (uint32_t d = 0; d < t->seg.geo.device_capacity; d++)
		live += (long)ck_pr_load_64(&t->counters[d].buffers);
	tta_slot_release(&t->seg, t->slot, t->live_state);
	tracker_free_local(t);
	return live;
}

/* ------------------------------------------------------------------------ */
/* fork: the child must not inherit locks held mid-report, nor the parent's
 * slot and records. */

static void atfork_prepare(void)
{
	/* urcu's locks first: a thread in synchronize_rcu holds them while it
	 * waits for readers, and a reader may be waiting for a shard lock. */
	urcu_bp_before_fork();
	tta_origins_atfork_prepare();
	pthread_mutex_lock(&g_attach_lock);
	struct tracker *t = g_tracker;
	if (t != NULL) {
		for (unsigned i = 0; i < SHARDS; i++)
			shard_lock_take(&t->shards[i].lock);
		shard_lock_take(&t->pool.lock);
	}
}

static void atfork_parent(void)
{
	urcu_bp_after_fork_parent();
	struct tracker *t = g_tracker;
	if (t != NULL) {
		shard_lock_drop(&t->pool.lock);
		for (unsigned i = SHARDS; i-- > 0;)
			shard_lock_drop(&t->shards[i].lock);
	}
	pthread_mutex_unlock(&g_attach_lock);
	tta_origins_atfork_parent();
}

static void atfork_child(void)
{
	urcu_bp_after_fork_child();
	struct tracker *t = g_tracker;
	if (t != NULL) {
		/* The parent's slot and records stay the parent's; our copy of the
		 * process-local state goes. The child attaches on its first report. */
		g_tracker = NULL;
		tracker_free_local(t);
		ck_pr_store_int(&g_state, STATE_IDLE);
	}
	tls_retired = NULL;
	tls_in_shard = false;
	pthread_mutex_unlock(&g_attach_lock);
	tta_origins_atfork_child();
}
