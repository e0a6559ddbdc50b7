/*
 * tt-alloc/tt_alloc.h - report Tenstorrent device-memory allocations into the
 * shared telemetry segment (libttalloc, the write side "libtrack").
 *
 * WRITE SIDE (instrumented processes)
 *   Tracking is on only when TT_ALLOC_TRACKING_ENABLED=1 is in the environment
 *   when the first report is made (read once). Off, every tta_report_* call
 *   is a predictable branch: no syscall, no shared-memory access.
 *   On, the first report attaches to the segment named by TT_ALLOC_SHM
 *   (default "/tt_alloc", i.e. /dev/shm/tt_alloc), creating it if missing.
 *
 *   Threading: every tta_report_* and tta_register_device function may be
 *   called from any thread at any time. They never block on another process;
 *   threads of one process share short process-local locks.
 *   Errors: report functions return nothing and never abort or print to
 *   stdout. A problem that makes tracking impossible (segment incompatible,
 *   /dev/shm full, no free slot) prints one line to stderr once and disables
 *   tracking for the rest of the process; per-call misuse (unknown address,
 *   double free, bad device) is counted in the segment's shortfall counters.
 *   fork: the child starts untracked and takes its own slot on its first
 *   report; it inherits none of the parent's records. exec: the new image
 *   reclaims the slot its previous image held.
 *   Signals: report functions are not async-signal-safe.
 *
 * READ SIDE: <tt-alloc/reader.h>. TEXT HELPERS for tools: <tt-alloc/text.h>.
 *
 * Build: cc prog.c $(pkg-config --cflags --libs tt-alloc); the library is
 * libttalloc.so.2. Structs declared in these headers that the library fills
 * through a pointer it owns may gain fields at their end in a later minor
 * version; structs the caller allocates (tta_device_info) never change.
 *
 * All sizes are bytes. Device ids are 0-based and below the segment's device
 * capacity. Memory-type numbers 0..4 equal TT-Metal's BufferType.
 */
#ifndef TT_ALLOC_H
#define TT_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TTA_API_VERSION 2

enum tta_mem_type {
	TTA_MEM_DRAM = 0,
	TTA_MEM_L1 = 1,
	TTA_MEM_SYSTEM = 2,
	TTA_MEM_L1_SMALL = 3,
	TTA_MEM_TRACE = 4,
	TTA_MEM_CB = 5,     /* circular buffers: size x cores */
	TTA_MEM_KERNEL = 6, /* kernel binaries: size x cores, no free event */
	TTA_MEM_TYPES = 7
};

enum tta_kernel_kind {
	TTA_KERNEL_APPLICATION = 0,
	TTA_KERNEL_FABRIC = 1,
	TTA_KERNEL_DISPATCH = 2
};

/* Lower-case name ("dram", "l1", "l1_small", ...) or NULL if out of range. */
const char *tta_mem_type_name(unsigned type);
/* Parses a name case-insensitively; returns the type or -1. */
int tta_mem_type_parse(const char *name);
const char *tta_kernel_kind_name(unsigned kind);

/* Memory the way the hardware holds it. Allocators report types; the bytes
 * live in pools: circular buffers and kernel binaries live in L1, L1_SMALL
 * is carved from L1 and TRACE from DRAM, SYSTEM is host memory. So a
 * device's DRAM in use is DRAM + TRACE, its L1 in use L1 + L1_SMALL + CB +
 * KERNEL, each against the capacity of its parent type. Every tool shows
 * memory by these rules (tt-smi's main view, exporters, the Python package):
 * write them down once, here. KERNEL bytes are a cumulative estimate (a
 * binary has no free or eviction event), so an L1 figure that includes them
 * is an upper bound. */
enum tta_mem_pool {
	TTA_POOL_DRAM = 0,
	TTA_POOL_L1 = 1,
	TTA_POOL_SYSTEM = 2,
	TTA_MEM_POOLS = 3
};
/* The pool memory type TYPE lives in, or -1 if TYPE is out of range. */
int tta_mem_type_pool(unsigned type);
/* "dram", "l1", "system", or NULL if POOL is out of range. */
const char *tta_mem_pool_name(unsigned pool);
/* Bytes of POOL in use: the sum of USED (indexed by memory type) over the
 * pool's types, added as two's-complement 64-bit numbers so a negative part
 * (a mis-accounting) shows in the sum instead of being hidden. 0 if POOL is
 * out of range. */
int64_t tta_mem_pool_used(const int64_t used[TTA_MEM_TYPES], unsigned pool);
/* Capacity of POOL from CAPACITY (indexed by memory type, 0 = unknown): the
 * parent type's, since a carved type's own capacity, when a device
 * registers one, is part of its parent's. 0 if unknown or out of range. */
uint64_t tta_mem_pool_capacity(const uint64_t capacity[TTA_MEM_TYPES], unsigned pool);

/* ------------------------------------------------------------------------ */
/* Write side                                                                */

/* Opaque token naming one allocation; 0 means "not tracked". */
typedef uint64_t tta_handle;

/* Sizes: every call below that takes a SIZE accepts 0 .. INT64_MAX
 * (2^63 - 1) bytes; the totals are signed 64-bit figures, so a larger size is
 * refused, counted as bad_argument, and changes nothing. */

/* Reports an allocation of SIZE bytes at ADDRESS on DEVICE. A later
 * tta_report_free(DEVICE, ADDRESS) releases it. Types CB and KERNEL have
 * their own calls below; passing them here is counted as bad_argument. */
void tta_report_alloc(uint32_t device, uint64_t address, uint64_t size,
		      enum tta_mem_type type);

/* Releases the allocation reported at (DEVICE, ADDRESS) by this process.
 * An address this process does not hold is counted as unknown_frees.
 * Alloc over a live address: a tta_report_alloc at a (DEVICE, ADDRESS) this
 * process already holds keeps both allocations (both count, both are listed)
 * and counts address_collisions; each free of that address releases the
 * newest live allocation there first, so N allocs need N frees. (Memory
 * types share one address space per device here: an allocator that reuses
 * numbers across types should use handles.) CB ids follow the same rule. */
void tta_report_free(uint32_t device, uint64_t address);

/* Fastest path: like tta_report_alloc but returns a handle to pass to
 * tta_report_free_handle instead of looking the address up. Allocations made
 * this way are not found by tta_report_free. Returns 0 when tracking is off
 * (tta_report_free_handle(0) is a no-op). */
tta_handle tta_report_alloc_handle(uint32_t device, uint64_t address,
				   uint64_t size, enum tta_mem_type type);
/* Releases a handle. A handle already freed counts as double_frees; one this
 * process incarnation never issued (another process's, an earlier
 * incarnation's, a made-up number, or one naming an address-keyed allocation)
 * counts as foreign_frees. Neither changes any total.
 * Limit: a double free raced by two threads at the very moment the record is
 * reused for a new handle allocation may release that new allocation (the
 * totals still match the records; the new handle's own free then counts as
 * double_frees). Free each handle from one thread. */
void tta_report_free_handle(tta_handle handle);

/* Circular buffers: ID is any caller-chosen 64-bit identity, SIZE the total
 * bytes (per-core size x cores). */
void tta_report_cb_alloc(uint32_t device, uint64_t cb_id, uint64_t size);
void tta_report_cb_free(uint32_t device, uint64_t cb_id);

/* Kernel binary loaded: no free event. Loading the same (DEVICE, ID) again
 * replaces the earlier size; the bytes go away when the process does. */
void tta_report_kernel_load(uint32_t device, uint64_t kernel_id, uint64_t size,
			    enum tta_kernel_kind kind);

struct tta_device_info {
	char arch[32];              /* e.g. "Wormhole_B0" */
	uint32_t num_cores;         /* worker cores, 0 if unknown */
	uint32_t l1_bytes_per_core; /* 0 if unknown */
	uint64_t capacity[TTA_MEM_TYPES]; /* bytes per type, 0 = unknown */
};

/* Registers what DEVICE is. The first registration of a device wins; later
 * ones return 1 and change nothing. Returns 0 on success, 1 if already
 * registered, -1 if tracking is off/disabled or DEVICE is out of range. */
int tta_register_device(uint32_t device, const struct tta_device_info *info);

/* Fills a tta_device_info for a Wormhole B0 chip (12 GiB DRAM, 1464 KiB L1 x
 * NUM_CORES) or Blackhole (32 GiB, 1464 KiB x NUM_CORES). */
void tta_device_info_wormhole_b0(struct tta_device_info *info, uint32_t num_cores);
void tta_device_info_blackhole(struct tta_device_info *info, uint32_t num_cores);

enum tta_track_state {
	TTA_TRACK_OFF = 0,      /* TT_ALLOC_TRACKING_ENABLED is not 1 */
	TTA_TRACK_IDLE = 1,     /* enabled, no report made yet */
	TTA_TRACK_ATTACHED = 2, /* reporting into the segment */
	TTA_TRACK_DISABLED = 3  /* an error disabled tracking; see stderr */
};
/* Where tracking stands for this process. Never attaches. */
enum tta_track_state tta_track_state(void);

/* Releases this process's slot now instead of at exit: allocations still held
 * are dropped from the totals (and not reported as leaks). Later reports
 * attach again. Returns the number of allocations that were still live. */
long tta_track_detach(void);

/* ------------------------------------------------------------------------ */
/* Tags: what an allocation is for ("weights", "kv_cache", "activations")   */

/* The longest tag, in bytes. */
#define TTA_TAG_MAX_LEN 31

/* Sets the calling thread's current tag: every allocation this thread
 * reports from now on (buffers, circular buffers, kernel binaries) carries
 * it, and readers show device memory per tag (tt-smi --buffers, --by-tag,
 * the "tags" rows of a snapshot, the exporter). NULL or "" clears it. Any
 * bytes but NUL are allowed (readers sanitise them for display).
 * Tags are interned per process: setting one is a hash lookup in process
 * memory (no syscall, no lock once the name is known) and works whether
 * tracking is on or off; the name reaches the segment when an allocation
 * first uses it. Each thread has its own tag; a new thread starts untagged.
 * Returns 0; 1 when this process already named more distinct tags than the
 * segment keeps per process (128): the tag still applies here
 * (tta_get_tag returns it) but readers show its allocations as "(other)"
 * and the segment counts it in tags_dropped; -EINVAL if TAG is longer than
 * TTA_TAG_MAX_LEN bytes (the current tag is left as it was). */
int tta_set_tag(const char *tag);

/* The calling thread's current tag, or NULL. The string is the library's
 * and stays valid for the life of the process, so a scope can save and
 * restore it:
 *     const char *saved = tta_get_tag();
 *     tta_set_tag("kv_cache"); ... ; tta_set_tag(saved);
 * Beyond 1024 distinct names in one process, new names read "(other)". */
const char *tta_get_tag(void);

/* ------------------------------------------------------------------------ */
/* Call sites (TT_ALLOC_STACK_TRACE=1)                                       */
/*
 * With TT_ALLOC_STACK_TRACE=1 in the environment when tracking attaches
 * (read once per process), every allocation also records its call stack
 * (up to 7 frames, starting at the function that called tta_report_*).
 * Stacks are deduplicated per process into call sites; a site is
 * symbolized the first time it is seen (module, symbol and offset, and
 * file:line where debug information is installed, through libdw from
 * elfutils, loaded only then) and stored in the segment, so readers and the
 * reaper's leak report name it even after the process died. Symbols of an
 * executable come from its symbol table: do not strip it (or keep its debug
 * information); without libdw, only exported symbols are named (link the
 * executable with -rdynamic). A process keeps at most 256 sites; later ones
 * show as "(untracked site)" and are counted in sites_dropped.
 * Cost: without the variable, none. With it, about one backtrace() per
 * allocation (tens of ns for a known site, see make bench section j) and
 * the symbolization once per new site.
 */

/* Resolves the segment name the way every component does: NAME if non-NULL,
 * else $TT_ALLOC_SHM if set, else "/tt_alloc". A name without a leading '/'
 * gets one ("tt_alloc" is "/tt_alloc"). Returns NULL (and fills ERR) if the
 * result is empty (an empty TT_ALLOC_SHM is an error, not the default) or
 * not a valid shm name (no other '/', at most 255 bytes after the '/'). */
const char *tta_segment_name(const char *name, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_H */
