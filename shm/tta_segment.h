/*
 * tta_segment.h - create, open, validate and reap the telemetry segment.
 *
 * Internal module shared by libtrack, the reaper and tools built in this tree.
 * Threading: a struct tta_segment is immutable after open and may be shared by
 * threads; the functions that change the segment (reap) are safe to run from
 * several processes at once: every state change is a CAS on a slot word.
 * Errors: functions return 0 / a count on success and a negative errno code on
 * failure, with a one-line message naming the fix in the caller's ERR buffer.
 * Nothing here prints, aborts or leaves a file descriptor open.
 */
#ifndef TTA_SEGMENT_H
#define TTA_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <ck_pr.h>

#include "tta_layout.h"

struct tta_site_block;

#define TTA_DEFAULT_NAME "/tt_alloc"
#define TTA_DEFAULT_MODE 0666u
#define TTA_ERR_MAX 512

struct tta_segment {
	uint8_t *base;
	size_t size;             /* bytes mapped: the header's segment_size */
	int fd;                  /* kept open (close-on-exec) to notice truncation */
	bool writable;
	struct tta_geometry geo; /* validated copy: never re-read from the segment */
	char name[TTA_NAME_MAX + 2];
	dev_t file_dev;          /* identity of the file we mapped */
	ino_t file_ino;
	/* Validated copy of the region directory, never re-read. */
	uint32_t region_count;
	struct tta_region regions[TTA_MAX_REGIONS];
	/* The optional regions (zero / 0 when the segment has none), their
	 * headers validated at open and copied here, never re-read. */
	struct tta_history_geo {
		uint32_t devices;        /* 0: no history region */
		uint32_t fine_count, coarse_count;
		uint64_t fine_ns, coarse_ns;  /* intervals */
		uint64_t off_heads, off_fine, off_coarse; /* from the segment start */
	} hist;
	struct tta_events_geo {
		uint32_t capacity;       /* 0: no event ring */
		uint64_t off_header, off_entries;
	} events;
	uint64_t off_peaks;              /* 0: no peak region */
};

struct tta_create_params {
	uint32_t devices, slots, records;
	uint32_t mode;
	/* Only the core regions: no history, events or peaks, as a creator
	 * that predates them made segments (tests use it). */
	bool core_only;
	/* Sizes of the optional regions, 0 = the defaults of tta_layout.h
	 * (the fuzz harness and its seeds use tiny ones). */
	struct tta_extra_sizes {
		uint32_t history_fine, history_coarse; /* samples per device, >= 2 */
		uint32_t event_capacity;               /* a power of two, >= 2 */
	} sizes;
};

/* Fills P from TT_ALLOC_MAX_DEVICES / _MAX_PROCESSES / _MAX_BUFFERS /
 * TT_ALLOC_SHM_MODE (octal), defaulting to 64 / 256 / 1Mi / 0666. Returns 0 or
 * -EINVAL with a message if a variable is malformed or out of bounds. */
int tta_create_params_from_env(struct tta_create_params *p, char *err, size_t errlen);

/* Validates NAME (or resolves NULL via TT_ALLOC_SHM / default) into OUT,
 * adding the leading '/' if it is missing; an empty name is an error. */
int tta_resolve_name(const char *name, char out[TTA_NAME_MAX + 2], char *err, size_t errlen);

enum {
	TTA_OPEN_WRITE = 1,  /* map PROT_READ|PROT_WRITE (else read-only) */
	TTA_OPEN_CREATE = 2, /* create with PARAMS if missing (implies WRITE) */
};

/* Opens (and with TTA_OPEN_CREATE possibly creates) the segment NAME.
 * Creation is atomic: the segment is built and space-reserved under a
 * private temporary name and then linked into place, so nobody ever sees a
 * half-built segment under NAME. Errors (negative errno):
 *   -ENOENT no segment and no CREATE      -EACCES permission denied
 *   -ENOSPC /dev/shm cannot hold the size -EPROTO foreign or other-ABI file
 *   -EINVAL bad name / header contradicts file size   -EAGAIN ready flag unset */
int tta_segment_open(const char *name, int flags, const struct tta_create_params *params,
		     struct tta_segment *out, char *err, size_t errlen);
void tta_segment_close(struct tta_segment *seg);

/* Writes the header (all but the ready flag) and the bitmap headers of a
 * zero-filled segment of geometry G at BASE. The creator publishes ready
 * after it; the fuzz harness builds its segments with it too. */
void tta_segment_format(uint8_t *base, const struct tta_geometry *g, uint32_t mode);

/* The optional regions (history, events, peaks) a creator adds after the
 * core of G, sized by SIZES (NULL or zeros: the defaults): fills OUT and
 * returns how many (3), and the new end of the segment in *END. */
unsigned tta_geometry_extra_regions(const struct tta_geometry *g,
				    const struct tta_extra_sizes *sizes, struct tta_region out[3],
				    uint64_t *end);

/* Writes the headers of the optional regions for a zero-filled segment at
 * BASE whose directory already lists them (same G and SIZES as above). */
void tta_segment_format_extras(uint8_t *base, const struct tta_geometry *g,
			       const struct tta_extra_sizes *sizes);

/* The directory entries of the core regions of G, in kind order. */
void tta_geometry_core_regions(const struct tta_geometry *g,
			       struct tta_region out[TTA_REGION_CORE_KINDS]);

/* Finds the region of KIND in SEG's validated directory; NULL if absent. */
const struct tta_region *tta_segment_region(const struct tta_segment *seg, uint32_t kind);

/* Checks a header copy against FILE_SIZE; fills GEO on success. */
int tta_header_validate(const struct tta_header *h, uint64_t file_size,
			struct tta_geometry *geo, char *err, size_t errlen);

/* ---- typed access to regions (indices must already be bounds-checked) ---- */
static inline struct tta_header *tta_hdr(const struct tta_segment *s)
{
	return (struct tta_header *)s->base;
}
static inline struct tta_device *tta_device_at(const struct tta_segment *s, uint32_t dev)
{
	return (struct tta_device *)(s->base + s->geo.off_devices) + dev;
}
static inline struct tta_slot *tta_slot_at(const struct tta_segment *s, uint32_t slot)
{
	return (struct tta_slot *)(s->base + s->geo.off_slots) + slot;
}
static inline struct tta_counter_line *tta_counter_at(const struct tta_segment *s,
						      uint32_t slot, uint32_t dev)
{
	return (struct tta_counter_line *)(s->base + s->geo.off_counters) +
	       (size_t)slot * s->geo.device_capacity + dev;
}
static inline struct tta_record *tta_record_at(const struct tta_segment *s, uint32_t rec)
{
	return (struct tta_record *)(s->base + s->geo.off_records) + rec;
}
static inline uint64_t *tta_chunk_owner_at(const struct tta_segment *s, uint32_t chunk)
{
	return (uint64_t *)(s->base + s->geo.off_chunks) + chunk;
}
static inline unsigned int *tta_live_slot_words(const struct tta_segment *s)
{
	/* ck_bitmap layout: n_bits then the words */
	return (unsigned int *)(s->base + s->geo.off_live_slots) + 1;
}
static inline unsigned int *tta_device_user_words(const struct tta_segment *s, uint32_t dev)
{
	return (unsigned int *)(s->base + s->geo.off_device_users +
				(size_t)dev * s->geo.bitmap_stride) + 1;
}
static inline uint32_t tta_chunk_count(const struct tta_segment *s)
{
	return s->geo.record_capacity / TTA_RECORDS_PER_CHUNK;
}
static inline uint32_t tta_bitmap_words(const struct tta_segment *s)
{
	return (s->geo.slot_capacity + 31u) / 32u;
}
/* Optional regions: only when the matching geo field says present. */
static inline struct tta_history_head *tta_history_head_at(const struct tta_segment *s,
							  uint32_t dev)
{
	return (struct tta_history_head *)(s->base + s->hist.off_heads) + dev;
}
static inline struct tta_history_slot *tta_history_fine_at(const struct tta_segment *s,
							  uint32_t dev, uint32_t index)
{
	return (struct tta_history_slot *)(s->base + s->hist.off_fine) +
	       (size_t)dev * s->hist.fine_count + index;
}
static inline struct tta_history_slot *tta_history_coarse_at(const struct tta_segment *s,
							    uint32_t dev, uint32_t index)
{
	return (struct tta_history_slot *)(s->base + s->hist.off_coarse) +
	       (size_t)dev * s->hist.coarse_count + index;
}
static inline struct tta_event_ring_header *tta_events_header(const struct tta_segment *s)
{
	return (struct tta_event_ring_header *)(s->base + s->events.off_header);
}
static inline struct tta_event_entry *tta_event_at(const struct tta_segment *s, uint64_t pos)
{
	return (struct tta_event_entry *)(s->base + s->events.off_entries) +
	       (pos & (s->events.capacity - 1u));
}
static inline struct tta_peak_line *tta_peak_at(const struct tta_segment *s, uint32_t slot,
						uint32_t dev)
{
	return (struct tta_peak_line *)(s->base + s->off_peaks) +
	       (size_t)slot * s->geo.device_capacity + dev;
}

/* ---- device totals ---- */

/* DEVICE's totals: the sum of its counter lines over the LIVE slots that
 * use it, each counted only if its state word is LIVE and unchanged around
 * the read of its line (the one definition of a device total: readers'
 * queries and writers' history samples both use it). Sums are modulo 2^64.
 * Inline because it is the whole of the hot device query: every user's line
 * of one device sits a whole slot (device_capacity lines, 4 KiB by default)
 * from the next, so they share one L1 set, and the loop is kept short (no
 * calls; relaxed loads the compiler can unroll and schedule) so that
 * consecutive processes' loads overlap. */
struct tta_device_sum {
	uint64_t used[TTA_LAYOUT_MEM_TYPES];
	uint64_t buffers;
	uint32_t processes;
};
_Static_assert(offsetof(struct tta_counter_line, buffers) ==
		       TTA_LAYOUT_MEM_TYPES * sizeof(uint64_t),
	       "a counter line is bytes[] then buffers");

static inline void tta_device_sum_slot(const struct tta_segment *seg, uint32_t slot,
				       uint32_t device, struct tta_device_sum *out)
{
	const uint64_t *state = &tta_slot_at(seg, slot)->state;
	uint64_t before = __atomic_load_n(state, __ATOMIC_ACQUIRE);
	if (TTA_SLOT_PHASE(before) != TTA_SLOT_LIVE)
		return;
	const uint64_t *line = (const uint64_t *)tta_counter_at(seg, slot, device);
	uint64_t v[TTA_LAYOUT_MEM_TYPES + 1];
#pragma GCC unroll 8
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES + 1; t++)
		v[t] = __atomic_load_n(&line[t], __ATOMIC_RELAXED);
	ck_pr_fence_load(); /* the line before the second look at the state */
	if (__atomic_load_n(state, __ATOMIC_RELAXED) != before)
		return; /* reaped meanwhile: its contribution is gone */
#pragma GCC unroll 8
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		out->used[t] += v[t];
	out->buffers += v[TTA_LAYOUT_MEM_TYPES];
	out->processes++;
}

static inline void tta_device_sum_into(const struct tta_segment *seg, uint32_t device,
				       struct tta_device_sum *out)
{
	memset(out, 0, sizeof *out);
	const unsigned int *live = tta_live_slot_words(seg);
	const unsigned int *users = tta_device_user_words(seg, device);
	uint32_t words = tta_bitmap_words(seg), slots = seg->geo.slot_capacity;
	for (uint32_t w = 0; w < words; w++) {
		unsigned int bits = __atomic_load_n(&live[w], __ATOMIC_RELAXED) &
				    __atomic_load_n(&users[w], __ATOMIC_RELAXED);
		if (__builtin_expect(bits == 0, 1))
			continue;
		for (; bits != 0; bits &= bits - 1) {
			uint32_t slot = w * 32 + (uint32_t)__builtin_ctz(bits);
			if (slot >= slots)
				break;
			tta_device_sum_slot(seg, slot, device, out);
		}
	}
}

/* tta_device_sum_into for callers off the hot path, in arrays. BUFFERS and
 * PROCESSES may be NULL. */
void tta_device_sum(const struct tta_segment *seg, uint32_t device,
		    uint64_t bytes[TTA_LAYOUT_MEM_TYPES], uint64_t *buffers, uint32_t *processes);

/* ---- history (history.c) ---- */

/* Records the history sample of DEVICE for the interval NOW_NS (a
 * CLOCK_MONOTONIC_COARSE reading) falls in, unless it is already recorded
 * or claimed: to be called before a change to DEVICE's total is applied.
 * Returns the start of the next interval (when to call again), or
 * UINT64_MAX when DEVICE keeps no history. Never waits; safe from any
 * number of processes at once. */
uint64_t tta_history_record(struct tta_segment *seg, uint32_t device, uint64_t now_ns);

/* Reads one sample: true with its stamp and values if it was complete and
 * unchanged across the copy; false with *STAMP = what it saw otherwise. */
bool tta_history_read_slot(const struct tta_history_slot *slot, uint64_t *stamp,
			   uint64_t bytes[TTA_LAYOUT_MEM_TYPES]);

/* ---- events (events.c) ---- */

/* Appends E (every field but seq and check) to the event ring, if SEG has
 * one. One atomic increment and a few stores; never waits. */
void tta_event_emit(struct tta_segment *seg, const struct tta_event_entry *e);

/* The check word of entry E as complete at position POS: readers accept an
 * entry only when it matches (a torn or raced entry does not). */
uint64_t tta_event_check(const struct tta_event_entry *e, uint64_t pos);

/* CLOCK_MONOTONIC_COARSE in ns: the clock of history intervals and events. */
uint64_t tta_now_coarse_ns(void);

/* The murmur3 finaliser: spreads clustered, aligned values (addresses,
 * program counters, clock readings) over all 64 bits. One definition for
 * the index hash, the call-site table and the event check words. */
static inline uint64_t tta_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* ---- process identity (Linux /proc) ---- */

/* Reads field 22 (starttime) of /proc/PID/stat. Returns 0, -ESRCH if there is
 * no such process or it is a zombie (it has exited), or another -errno. */
int tta_proc_start_time(pid_t pid, uint64_t *start_time);
/* True if /proc is the proc of our own pid namespace (/proc/self is our
 * pid). False inside a pid namespace that kept the host's /proc: there every
 * pid looked up would name another process, so identity cannot be judged. */
bool tta_proc_is_ours(void);
/* Reads at most CAP-1 bytes of a small /proc file into OUT, always
 * terminated ("" if unreadable). NUL_TO_SPACE joins a cmdline's arguments
 * with spaces; otherwise the text ends at the first newline. */
void tta_proc_read_text(const char *path, char *out, size_t cap, bool nul_to_space);
/* Inode of /proc/self/ns/pid, or 0 if unavailable. */
uint64_t tta_self_pidns_ino(void);
/* 1 if PID is running and still the incarnation that started at START_TIME,
 * 0 if it has exited or the pid now belongs to someone else, -1 if unknown. */
int tta_proc_incarnation_alive(pid_t pid, uint64_t start_time);

/* ---- slot lifecycle, first half (slot.c): claim and go live ---- */

/* Who a slot belongs to: written into the slot while it is CLAIMED. */
struct tta_slot_identity {
	int32_t pid;              /* in the claimer's pid namespace */
	uint32_t uid;
	uint64_t start_time;      /* /proc/PID/stat field 22 */
	uint64_t pidns_ino;       /* tta_self_pidns_ino() of that namespace */
	uint32_t image_id;        /* random per exec image, never 0 */
	char comm[16];
	char cmdline[96];
	uint64_t proxy_tag;       /* 0, or TTA_PROXY_TAG for a proxy-written slot */
};

/* Claims a free slot for ID, fills in the identity and makes it LIVE, then
 * wakes the reapers. Returns 0 with *SLOT and *LIVE_STATE set, -ENOSPC when
 * every slot is taken, -EINVAL on a read-only segment or a bad pid. */
int tta_slot_claim(struct tta_segment *seg, const struct tta_slot_identity *id, uint32_t *slot,
		   uint64_t *live_state);

/* Reaps (silently) the slots the same process held in an earlier exec
 * image: same pid, start time and pid namespace, another image id. Returns
 * how many it reaped. */
int tta_slot_reap_previous_images(struct tta_segment *seg, const struct tta_slot_identity *id);

/* Claims a free chunk of TTA_RECORDS_PER_CHUNK records for OWNER_TAG with
 * one CAS on its owner word (a SIGKILL leaves it clearly owned or clearly
 * free; reap.c releases it with the slot). Starts at the shared hint.
 * Returns the chunk index, or -1 when every chunk is owned: a full scan, so
 * callers that fail should not retry on every report. */
int64_t tta_chunk_claim(struct tta_segment *seg, uint64_t owner_tag);

/* The registry futex: bumped and woken whenever a slot goes live, so a
 * reaper starts watching a new process within milliseconds. */
void tta_registry_notify(struct tta_segment *seg);
uint32_t tta_registry_seq(const struct tta_segment *seg);
/* Waits up to TIMEOUT_MS while the sequence still equals SEEN; returns it. */
uint32_t tta_registry_wait(const struct tta_segment *seg, uint32_t seen, unsigned timeout_ms);

/* ---- the reaper daemon's registration (liveness.c) ---- */

/* The daemon heartbeats at least this often; one whose heartbeat is older
 * than TTA_REAPER_STALL_NS is judged stalled (stopped or hung). */
#define TTA_REAPER_HEARTBEAT_NS (1000ull * 1000000ull)
#define TTA_REAPER_STALL_NS (5000ull * 1000000ull)

/* Same numbers as the public enum tta_reaper_status. */
enum {
	TTA_REAPER_STATUS_NONE = 0,    /* no reaper registered */
	TTA_REAPER_STATUS_RUNNING = 1, /* its process runs and its heartbeat is fresh */
	TTA_REAPER_STATUS_STALLED = 2, /* its process exists, heartbeat too old */
	TTA_REAPER_STATUS_GONE = 3,    /* registered, but that process is gone */
	TTA_REAPER_STATUS_UNKNOWN = 4  /* cannot tell from this pid namespace */
};
struct tta_reaper_judgement {
	int32_t pid;
	int status;
	uint64_t start_time;
	uint64_t heartbeat_age_ns;
};
void tta_reaper_judge(const struct tta_segment *seg, struct tta_reaper_judgement *out);
/* A reader's memory of the reaper it last judged alive: a pidfd on that
 * incarnation (pid + start time), so that the next judgement is one poll(2)
 * instead of a read of /proc/PID/stat (about 7 µs: most of a snapshot).
 * Start with TTA_REAPER_WATCH_INIT; not shared between threads. */
struct tta_reaper_watch {
	int32_t pid;
	uint64_t start_time;
	int pidfd; /* -1: none */
};
#define TTA_REAPER_WATCH_INIT { 0, 0, -1 }
/* tta_reaper_judge, the same answers, through WATCH: an exit seen on the
 * pidfd is confirmed in /proc before it is believed. */
void tta_reaper_judge_watched(const struct tta_segment *seg, struct tta_reaper_watch *watch,
			      struct tta_reaper_judgement *out);
void tta_reaper_watch_close(struct tta_reaper_watch *watch);
/* pidfd_open(2) (Linux 5.3): a close-on-exec fd that polls readable once PID
 * has exited; -1 with errno (ENOSYS on older kernels). */
int tta_pidfd_open(pid_t pid);
/* Registers PID as the reaper unless a RUNNING one holds the registration
 * (-EBUSY; PREVIOUS says who). A stalled or gone holder is taken over. */
int tta_reaper_register(struct tta_segment *seg, int32_t pid, uint64_t start_time,
			struct tta_reaper_judgement *previous);
/* Refreshes the heartbeat; false if another reaper took the registration. */
bool tta_reaper_heartbeat(struct tta_segment *seg, int32_t pid);
void tta_reaper_unregister(struct tta_segment *seg, int32_t pid);

/* ---- slot lifecycle, second half (reap.c): reap, release, recycle ---- */

struct tta_reap_report {
	uint32_t slot;
	int32_t pid;
	uint32_t uid;
	uint64_t start_time, attach_realtime_ns;
	char comm[16];
	char cmdline[96];
	/* One definition everywhere in a report: "buffers" are allocations with
	 * a free event, i.e. every type but KERNEL; kernel binaries (no free
	 * event, gone with the process, never a leak) are counted apart.
	 * What the process held, from its counters: exact per device and type
	 * (USED[d].bytes includes kernel bytes; USED[d].buffers does not: the
	 * kernel records found on D are in KERNELS[d]). */
	uint32_t devices;                  /* entries in USED (device capacity) */
	const struct tta_counter_line *used; /* [devices], copy taken while reaping */
	const uint64_t *kernels;           /* [devices]: kernel binaries per device */
	/* What it leaked: buffers and their bytes, summed over USED. */
	uint64_t buffers, bytes;
	uint64_t kernel_records, kernel_bytes;
	/* Live non-kernel records found, in record order, at most MAX_RECORDS. */
	const struct tta_record *records;
	uint32_t records_listed;
	uint64_t records_found;
	/* Where they came from: every record found, grouped by its (tag, site)
	 * ids (ids a block cannot hold are grouped as TTA_ID_OTHER), in no
	 * particular order; names through tta_sites_tag / tta_sites_site on
	 * SITES (a copy of the slot's block taken while reaping, NULL if the
	 * segment has none) with OWNER. */
	const struct tta_reap_origin *origins;
	uint32_t origin_count;
	const struct tta_site_block *sites;
	uint64_t owner;
};
struct tta_reap_origin {
	uint16_t tag, site;
	uint64_t buffers;
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES];
};
typedef void (*tta_reap_fn)(const struct tta_reap_report *report, void *ctx);

/* Reclaims SLOT if its state word still equals EXPECTED_STATE (LIVE, CLAIMED,
 * or REAPING being taken over): its contribution to every total vanishes in
 * one CAS, then its records and chunks are recycled and its counters zeroed.
 * FN (may be NULL) receives a report when the process leaked allocations,
 * listing up to MAX_RECORDS records. Returns 1 if this call reaped the slot,
 * 0 if the state had changed (someone else got there), -ENOMEM for the
 * report only (the slot is still reaped). */
int tta_reap_slot(struct tta_segment *seg, uint32_t slot, uint64_t expected_state,
		  uint32_t max_records, tta_reap_fn fn, void *ctx);

/* Like tta_reap_slot for a slot its owner gives up on purpose
 * (tta_track_detach): what it still held is dropped, not counted as leaked,
 * and no report is made. */
int tta_slot_release(struct tta_segment *seg, uint32_t slot, uint64_t expected_state);

/* Decides whether the owner of SLOT (state word STATE) is gone: 1 dead,
 * 0 alive or undecidable from this pid namespace. A CLAIMED slot without
 * identity, or a REAPING one without a reaper identity, is dead once its
 * claim (reap) is older than TTA_SLOT_ABANDONED_NS: both move on within
 * microseconds. REAPING slots are dead when their reaper is dead. The answer
 * depends only on the segment and /proc, never on earlier calls. */
#define TTA_SLOT_ABANDONED_NS (2000ull * 1000000ull)
int tta_slot_owner_dead(struct tta_segment *seg, uint32_t slot, uint64_t state);

/* Reaps every slot whose owner is dead (as judged above), in this pid
 * namespace only, then releases orphaned chunks. Returns the number reaped. */
int tta_reap_dead(struct tta_segment *seg, uint32_t max_records, tta_reap_fn fn, void *ctx);

/* Releases chunks whose owner tag can never be reaped: a slot index out of
 * range, or an incarnation older than the slot's current one (only a
 * corrupting writer leaves these). Their records are recycled first.
 * Returns the number of chunks released. */
int tta_release_orphan_chunks(struct tta_segment *seg);

/* CLOCK_MONOTONIC / CLOCK_REALTIME in nanoseconds. */
uint64_t tta_now_mono_ns(void);
uint64_t tta_now_realtime_ns(void);

/* snprintf into ERR if non-NULL; returns CODE, for "return tta_fail(...)". */
int tta_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* TTA_SEGMENT_H */
