/*
 * counters_shm.h - BASELINE: a C model of the counters-only, per-chip
 * shared-memory tracker that TT-Metal ships today (design notes, section 4).
 * Benchmark code only; not part of tt-alloc.
 *
 * What it models, per the public description and source of that design:
 *  - one region per chip (here: NAME_PREFIX + "_chip<N>"), holding
 *    device-wide totals per memory type, a table of 16 per-chip entries and
 *    a table of 64 process slots, each with per-type counters, a wall-clock
 *    timestamp and a name;
 *  - a process claims a slot (CAS on the pid word) when it attaches, reaping
 *    slots of processes that kill(pid, 0) says are gone;
 *  - every report: a linear scan of the 64 slots for the caller's pid, a scan
 *    of the chip table, fetch_add on the totals, on the chip entry and on the
 *    process slot, and two wall-clock reads (region and slot timestamps);
 *  - every free: the same, but subtraction is a CAS loop clamped at zero;
 *  - no buffer records: the caller passes the size back on free;
 *  - the call site (cshm_track_*) holds a process-wide mutex and passes
 *    getpid(), as TT-Metal's tracking processor does.
 *
 * Threading: cshm_track_* may be called from any thread; cshm_record_* are
 * the provider's own methods (thread-safe, lock-free). Errors: attach returns
 * a negative errno; report functions silently do nothing when detached.
 */
#ifndef TTA_BENCH_COUNTERS_SHM_H
#define TTA_BENCH_COUNTERS_SHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CSHM_MAX_PROCESSES 64
#define CSHM_MAX_CHIPS 16
#define CSHM_CHIP_UNUSED UINT32_MAX
#define CSHM_READY 0x52454459u

/* The design's buffer types (its ShmBufferType, = TT-Metal BufferType + CB). */
enum cshm_type { CSHM_DRAM = 0, CSHM_L1 = 1, CSHM_SYSTEM = 2, CSHM_L1_SMALL = 3,
		 CSHM_TRACE = 4, CSHM_CB = 5 };
#define CSHM_COUNTED 5 /* dram, l1, l1_small, trace, cb */

struct cshm_chip {
	_Atomic uint32_t chip_id;
	_Atomic uint32_t is_remote;
	_Atomic uint64_t allocated[CSHM_COUNTED];
};

struct cshm_process {
	_Atomic int32_t pid; /* 0 free, -1 being released */
	_Atomic uint64_t allocated[CSHM_COUNTED];
	_Atomic uint64_t last_update_ns;
	char name[64];
};

struct cshm_region {
	_Atomic uint32_t version;
	_Atomic uint32_t num_active_processes;
	_Atomic uint64_t last_update_ns;
	_Atomic uint32_t reference_count;
	_Atomic uint64_t board_serial;
	_Atomic uint64_t asic_id;
	_Atomic uint32_t device_id;
	_Atomic uint64_t total[CSHM_COUNTED];
	struct cshm_chip chips[CSHM_MAX_CHIPS];
	struct cshm_process processes[CSHM_MAX_PROCESSES];
	_Atomic uint32_t init_state;
};

struct cshm_provider {
	struct cshm_region *region;
	uint32_t device_id;
	char name[128];
};

/* Opens (creating and initialising if needed) the region of DEVICE_ID under
 * NAME_PREFIX and claims this process's slot. Returns 0 or -errno. */
int cshm_attach(struct cshm_provider *p, const char *name_prefix, uint32_t device_id);
/* Releases this process's slot (its bytes leave the totals) and unmaps. */
void cshm_detach(struct cshm_provider *p);
/* shm_unlink of the region of DEVICE_ID under NAME_PREFIX. */
void cshm_unlink(const char *name_prefix, uint32_t device_id);

/* The provider's methods: caller passes its pid and, on free, the size. */
void cshm_record_alloc(struct cshm_provider *p, pid_t pid, uint64_t size, enum cshm_type type,
		       uint32_t chip_id);
void cshm_record_free(struct cshm_provider *p, pid_t pid, uint64_t size, enum cshm_type type,
		      uint32_t chip_id);

/* The call site: process-wide mutex + getpid() around the provider call. */
void cshm_track_alloc(struct cshm_provider *p, uint64_t size, enum cshm_type type);
void cshm_track_free(struct cshm_provider *p, uint64_t size, enum cshm_type type);

/* Maps the region of DEVICE_ID read-only for a reader; NULL on error. */
const struct cshm_region *cshm_map_readonly(const char *name_prefix, uint32_t device_id);
void cshm_unmap(const struct cshm_region *r);

/* Readers: device totals (CSHM_COUNTED values), and the live process slots. */
void cshm_read_totals(const struct cshm_region *r, uint64_t *out);
typedef void (*cshm_process_fn)(int32_t pid, const uint64_t *allocated, const char *name,
				void *ctx);
unsigned cshm_read_processes(const struct cshm_region *r, cshm_process_fn fn, void *ctx);

#endif /* TTA_BENCH_COUNTERS_SHM_H */
