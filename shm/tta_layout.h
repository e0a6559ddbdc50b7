/*
 * tta_layout.h - the binary layout of the tt-alloc telemetry segment (ABI 2).
 *
 * This is the private layout header: libtrack, the reaper and tools built from
 * this tree include it; third-party readers should use the read-side API in
 * <tt-alloc/reader.h> instead. docs/segment.md documents every field here.
 *
 * Rules that every field obeys:
 *  - No pointers. Every reference is an index or a byte offset from the start
 *    of the segment, and every reader bounds-checks it against capacities it
 *    validated itself (never against values it re-reads from the segment).
 *  - Every field that another process may read while it changes is a naturally
 *    aligned 32- or 64-bit word accessed with ck_pr loads/stores.
 *  - A cache line written on the report path is written by exactly one process.
 *  - Fixed-width types only; the layout is the same for every compiler on a
 *    64-bit little-endian host.
 */
#ifndef TTA_LAYOUT_H
#define TTA_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "tta_counters.h"

/* The family magic stays "TTALLOC1" across ABI versions, so an older or newer
 * segment is recognised as ours and refused by version, with the fix named. */
#define TTA_MAGIC UINT64_C(0x31434f4c4c415454) /* "TTALLOC1" little-endian */
#define TTA_ABI_VERSION 2u
#define TTA_READY_VALUE 0x52454459u /* "REDY": published last, release order */

#define TTA_CACHE_LINE 64
#define TTA_PAGE 4096
#define TTA_NAME_MAX 255 /* NAME_MAX of a /dev/shm entry, leading '/' excluded */

/* Memory types. 0..4 equal TT-Metal's BufferType so a call site can cast. */
enum tta_mem_type_v1 {
	TTA_LAYOUT_DRAM = 0,
	TTA_LAYOUT_L1 = 1,
	TTA_LAYOUT_SYSTEM = 2,
	TTA_LAYOUT_L1_SMALL = 3,
	TTA_LAYOUT_TRACE = 4,
	TTA_LAYOUT_CB = 5,
	TTA_LAYOUT_KERNEL = 6,
	TTA_LAYOUT_MEM_TYPES = 7
};

/* Capacity bounds a creator may ask for (checked on create and on open). */
#define TTA_MIN_DEVICES 1u
#define TTA_MAX_DEVICES 4096u
#define TTA_MIN_SLOTS 1u
#define TTA_MAX_SLOTS 16384u
#define TTA_RECORDS_PER_CHUNK 64u
#define TTA_MIN_RECORDS TTA_RECORDS_PER_CHUNK
#define TTA_MAX_RECORDS (UINT32_C(1) << 30)

#define TTA_DEFAULT_DEVICES 64u
#define TTA_DEFAULT_SLOTS 256u
#define TTA_DEFAULT_RECORDS (1u << 20)

/*
 * Slot state word: one 64-bit atomic that carries phase, owner pid and
 * generation, so claiming a slot records its owner in the same CAS and no
 * crash can leave a claimed slot without a pid.
 *   bits  0..1   phase
 *   bits  2..31  pid (in the writer's own pid namespace)
 *   bits 32..63  generation, bumped on every claim
 * A slot counts toward totals exactly while its phase is LIVE.
 */
enum tta_slot_phase {
	TTA_SLOT_FREE = 0,
	TTA_SLOT_CLAIMED = 1, /* owner is filling in identity; not yet counted */
	TTA_SLOT_LIVE = 2,
	TTA_SLOT_REAPING = 3 /* contribution already gone; records being recycled */
};
#define TTA_SLOT_PHASE(s) ((unsigned)((s) & 3u))
#define TTA_SLOT_PID(s) ((int32_t)(((s) >> 2) & 0x3fffffffu))
#define TTA_SLOT_GEN(s) ((uint32_t)((s) >> 32))
#define TTA_SLOT_STATE(phase, pid, gen)                                        \
	(((uint64_t)(gen) << 32) | ((uint64_t)((uint32_t)(pid) & 0x3fffffffu) << 2) | \
	 (uint64_t)(phase))

/*
 * Owner tag: names one incarnation of one slot (index + 1, generation), so a
 * chunk or device claim left by a dead process is recognisable after the slot
 * is reused. 0 means "nobody".
 */
#define TTA_OWNER_TAG(slot, gen) (((uint64_t)(gen) << 32) | ((uint64_t)(slot) + 1u))
#define TTA_OWNER_SLOT(tag) ((uint32_t)((tag) & 0xffffffffu) - 1u)
#define TTA_OWNER_GEN(tag) ((uint32_t)((tag) >> 32))

/*
 * Segment-wide counters live in one array in the header, indexed by the ids
 * of tta_counters.h (the one table that declares them). Ids are ABI: a new
 * counter takes the next id, none is ever reused or moved.
 */
#define TTA_COUNTER_CAPACITY 32u

/* Who reaps: the registered reaper daemon, judged by pid + start time and by
 * the age of its heartbeat (see tta_reaper_judge). */
struct tta_reaper_reg {
	uint64_t pid;             /* 0 when no reaper is registered */
	uint64_t start_time;      /* its /proc starttime, to detect a stale pid */
	uint64_t heartbeat_ns;    /* CLOCK_MONOTONIC of its last loop turn */
	uint64_t registered_realtime_ns;
	uint64_t reserved[4];
};

/*
 * Region directory (ABI 2). Every region of the segment, the core ones
 * included, is listed here with its kind, format version, offset and size.
 * Readers bounds-check every entry, require the core kinds to match the
 * geometry computed from the capacities, and skip kinds they do not know, so
 * a newer writer can add regions without breaking older readers. The rule
 * for adding a region is in docs/segment.md.
 */
enum tta_region_kind {
	TTA_REGION_NONE = 0,
	TTA_REGION_DEVICES = 1,      /* struct tta_device[device_capacity] */
	TTA_REGION_SLOTS = 2,        /* struct tta_slot[slot_capacity] */
	TTA_REGION_LIVE_SLOTS = 3,   /* ck_bitmap of slot_capacity bits */
	TTA_REGION_DEVICE_USERS = 4, /* ck_bitmap[device_capacity], one per device */
	TTA_REGION_COUNTERS = 5,     /* struct tta_counter_line[slot][device] */
	TTA_REGION_CHUNKS = 6,       /* uint64_t owner_tag[record_capacity/64] */
	TTA_REGION_RECORDS = 7,      /* struct tta_record[record_capacity] */
	TTA_REGION_CORE_KINDS = 7,   /* kinds 1..7 are required */
	/* Optional regions (docs/segment.md, "Adding a region"): a segment
	 * without them is read normally and simply keeps no history, events
	 * or peaks. */
	TTA_REGION_HISTORY = 8,      /* struct tta_history_header, heads, samples */
	TTA_REGION_EVENTS = 9,       /* struct tta_event_ring_header, entries */
	TTA_REGION_PEAKS = 10,       /* struct tta_peak_line[slot][device] */
	TTA_REGION_SITES = 16        /* struct tta_site_block[slot_capacity] (tta_sites.h) */
};
#define TTA_MAX_REGIONS 32u
#define TTA_REGION_ALIGN TTA_CACHE_LINE

struct tta_region {
	uint32_t kind;            /* enum tta_region_kind; unknown kinds are skipped */
	uint32_t version;         /* format version of that region's contents */
	uint64_t offset;          /* from the start of the segment */
	uint64_t size;            /* bytes */
	uint64_t reserved;
};

struct tta_header {
	/* --- identity and layout: written once before ready, then immutable --- */
	uint64_t magic;           /*   0 */
	uint32_t abi_version;     /*   8 */
	uint32_t header_size;     /*  12: sizeof(struct tta_header) */
	uint64_t layout_word;     /*  16: TTA_LAYOUT_WORD, struct sizes */
	uint64_t segment_size;    /*  24: bytes covered by the regions (<= file size) */
	uint32_t device_capacity; /*  32 */
	uint32_t slot_capacity;   /*  36 */
	uint32_t record_capacity; /*  40: multiple of TTA_RECORDS_PER_CHUNK */
	uint32_t chunk_records;   /*  44: TTA_RECORDS_PER_CHUNK */
	uint32_t region_count;    /*  48: entries used in regions[] */
	uint32_t counter_capacity;/*  52: TTA_COUNTER_CAPACITY */
	uint64_t created_realtime_ns; /* 56 */
	uint64_t creator_pid;     /*  64 */
	uint32_t mode;            /*  72: permission bits it was created with */
	uint32_t ready;           /*  76: TTA_READY_VALUE, stored last (release) */
	uint8_t reserved0[TTA_CACHE_LINE * 3 - 80];

	/* --- mutable, each group on its own cache line --- */
	uint32_t registry_seq;    /* 192: bumped + FUTEX_WAKE when a slot goes live */
	uint32_t reserved1[15];
	uint64_t chunk_hint;      /* 256: where writers start looking for a free chunk */
	uint64_t slot_hint;       /* 264 */
	uint64_t chunk_epoch;     /* 272: bumped after every chunk claim and release, so
				   *      readers rescan chunk owners only when they changed */
	uint8_t reserved2[TTA_CACHE_LINE - 24];
	uint64_t counters[TTA_COUNTER_CAPACITY]; /* 320: indexed by enum tta_counter_id */
	struct tta_reaper_reg reaper;            /* 576 */
	uint8_t reserved3[1024 - 640];
	struct tta_region regions[TTA_MAX_REGIONS]; /* 1024: written once before ready */
	uint8_t reserved4[TTA_PAGE - 2048];
};

struct tta_device {
	uint64_t state;           /* 0 empty, TTA_DEVICE_PUBLISHED, or a claim */
	uint64_t registered_pid;
	uint64_t registered_realtime_ns;
	uint32_t num_cores;       /* worker cores, 0 if unknown */
	uint32_t l1_bytes_per_core;
	char arch[32];            /* NUL-terminated, e.g. "Wormhole_B0" */
	uint64_t capacity[8];     /* bytes per memory type, 0 = unknown */
	uint8_t reserved[256 - 64 - 64];
};
/* A claim is TTA_DEVICE_CLAIM_BIT | owner tag: writer is filling fields. */
#define TTA_DEVICE_PUBLISHED UINT64_C(1)
#define TTA_DEVICE_CLAIM_BIT (UINT64_C(1) << 63)

struct tta_slot {
	uint64_t state;           /*   0: TTA_SLOT_STATE(phase, pid, gen) */
	uint64_t start_time;      /*   8: /proc/PID/stat field 22 (clock ticks) */
	uint64_t attach_realtime_ns; /* 16 */
	uint64_t pidns_ino;       /*  24: inode of /proc/self/ns/pid */
	uint32_t uid;             /*  32 */
	uint32_t image_id;        /*  36: random per exec image: exec leaves it behind */
	char comm[16];            /*  40: NUL-terminated process name */
	char cmdline[96];         /*  56: argv joined by spaces, truncated */
	uint64_t reaper_pid;      /* 152: who is reaping (phase REAPING) */
	uint64_t reaper_start_time; /* 160 */
	uint64_t reaping_since_ns;/* 168: CLOCK_MONOTONIC, stored before the CAS to REAPING */
	uint64_t claimed_mono_ns; /* 176: CLOCK_MONOTONIC, stored before the CAS to CLAIMED */
	uint64_t proxy_tag;       /* 184: TTA_PROXY_TAG when a proxy (tt-alloc-bridge) writes
				   *      this slot on behalf of its process; 0 otherwise.
				   *      Written while CLAIMED by tta_slot_claim. */
	uint8_t reserved[256 - 192];
};

/* One cache line per (slot, device): written only by the slot's owner. */
struct tta_counter_line {
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES]; /* modulo 2^64: never clamped */
	uint64_t buffers;                     /* live allocations, kernel binaries excepted */
};

enum tta_record_state { TTA_RECORD_FREE = 0, TTA_RECORD_LIVE = 1 };

/*
 * A buffer record. Owned by the process that owns its chunk; written by that
 * process only, inside a ck_sequence write section (seq odd while writing).
 * Records are type-stable: a recycled record is only ever reused as a record.
 */
struct tta_record {
	uint32_t seq;             /*  0: ck_sequence; odd while being written */
	uint32_t generation;      /*  4: bumped on each reuse; part of a handle */
	uint64_t owner;           /*  8: owner tag of the slot that made it */
	uint64_t address;         /* 16: device address, CB id or kernel id */
	uint64_t size;            /* 24: bytes */
	uint64_t alloc_mono_ns;   /* 32: CLOCK_MONOTONIC_COARSE at allocation */
	uint16_t device;          /* 40 */
	uint8_t type;             /* 42: enum tta_mem_type_v1 */
	uint8_t state;            /* 43: enum tta_record_state */
	uint8_t kernel_kind;      /* 44: for KERNEL records */
	uint8_t by_handle;        /* 45: 1 if made by tta_report_alloc_handle */
	uint16_t tag;             /* 46: the owner's tag id (tta_sites.h), 0 untagged */
	uint64_t shadowed;        /* 48: owner-private: index + 1 of the older live record
				   *     with the same key this one hides, 0 none */
	uint32_t first_generation;/* 56: generation when the current owner first used it */
	uint16_t site;            /* 60: the owner's call-site id (tta_sites.h), 0 none */
	uint16_t reserved0;       /* 62 */
};
/* tag and site took bytes that were zero in every record of the first ABI-2
 * writers (padding, and the high half of a first_generation that held a
 * 32-bit value), so their records read as untagged and siteless, and their
 * 64-bit loads of first_generation still see the generation in the low half. */

#define TTA_LAYOUT_WORD                                                      \
	(((uint64_t)sizeof(struct tta_header) << 48) |                       \
	 ((uint64_t)sizeof(struct tta_device) << 36) |                        \
	 ((uint64_t)sizeof(struct tta_slot) << 24) |                          \
	 ((uint64_t)sizeof(struct tta_counter_line) << 12) |                  \
	 (uint64_t)sizeof(struct tta_record))

_Static_assert(sizeof(struct tta_header) == TTA_PAGE, "header is one page");
_Static_assert(offsetof(struct tta_header, registry_seq) == 192, "abi");
_Static_assert(offsetof(struct tta_header, chunk_hint) == 256, "abi");
_Static_assert(offsetof(struct tta_header, chunk_epoch) == 272, "abi");
_Static_assert(offsetof(struct tta_header, counters) == 320, "abi");
_Static_assert(offsetof(struct tta_header, reaper) == 576, "abi");
_Static_assert(offsetof(struct tta_header, regions) == 1024, "abi");
_Static_assert(sizeof(struct tta_region) == 32, "abi");
_Static_assert(TTA_COUNTER_COUNT <= TTA_COUNTER_CAPACITY, "counter table outgrew the header");
_Static_assert(sizeof(struct tta_device) == 256, "abi");
_Static_assert(offsetof(struct tta_device, capacity) == 64, "abi");
_Static_assert(sizeof(struct tta_slot) == 256, "abi");
_Static_assert(offsetof(struct tta_slot, reaper_pid) == 152, "abi");
_Static_assert(offsetof(struct tta_slot, proxy_tag) == 184, "abi");
/* "TTABRIDG": a slot a proxy writer made for another process (shm/tta_proxy.h). */
#define TTA_PROXY_TAG UINT64_C(0x4744495242415454)
_Static_assert(sizeof(struct tta_counter_line) == TTA_CACHE_LINE, "abi");
_Static_assert(sizeof(struct tta_record) == TTA_CACHE_LINE, "abi");
_Static_assert(offsetof(struct tta_record, device) == 40, "abi");
_Static_assert(offsetof(struct tta_record, first_generation) == 56, "abi");
_Static_assert(offsetof(struct tta_record, tag) == 46 && offsetof(struct tta_record, site) == 60,
	       "abi");

/*
 * History region (kind 8, version 1). Per device, two rings of samples: the
 * fine tier (one per second) and the coarse tier (one per minute). A sample
 * holds the device total per memory type at the start of its interval, and
 * a stamp naming that interval: 2n + 2 once complete, 2n + 1 while a writer
 * fills it (n = interval number on CLOCK_MONOTONIC: seconds or minutes since
 * boot). A writer claims a sample with one CAS on the stamp, so racing
 * writers never both fill one, and a writer killed mid-fill leaves an odd
 * stamp that readers skip. Interval n lives at index n % count.
 */
#define TTA_HISTORY_VERSION 1u
#define TTA_HISTORY_MAX_DEVICES 256u /* devices beyond keep no history */
#define TTA_HISTORY_FINE_COUNT 1024u  /* 17 min of seconds */
#define TTA_HISTORY_COARSE_COUNT 1536u /* 25.6 h of minutes */
#define TTA_HISTORY_FINE_INTERVAL_MS 1000u
#define TTA_HISTORY_COARSE_INTERVAL_MS 60000u

struct tta_history_header {  /* at the region's start; immutable after ready */
	uint32_t devices;         /* devices 0 .. devices-1 have history */
	uint32_t fine_count;      /* samples per device, fine tier */
	uint32_t coarse_count;    /* samples per device, coarse tier */
	uint32_t fine_interval_ms;
	uint32_t coarse_interval_ms; /* a multiple of fine_interval_ms */
	uint32_t sample_size;     /* sizeof(struct tta_history_slot) */
	uint64_t reserved[5];
};

/* Per device, one cache line written about once per interval: the newest
 * interval claimed in each tier (n + 1, 0 = none), raised with CAS-max.
 * Writers look here before claiming; readers do not need it. */
struct tta_history_head {
	uint64_t fine_latest;
	uint64_t coarse_latest;
	uint64_t reserved[6];
};

struct tta_history_slot {
	uint64_t stamp;           /* 2n+2 complete, 2n+1 being written, 0 never */
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES]; /* device total, modulo 2^64 */
};

/*
 * Event ring (kind 9, version 1). Writers take position p with one atomic
 * increment of head and fill entry p % capacity under its stamp: seq =
 * 2p + 1 while filling, 2p + 2 once complete (release). A reader at p reads
 * the entry, and accepts it when seq is 2p + 2 before and after the copy.
 */
#define TTA_EVENTS_VERSION 1u
/* Kinds: the same numbers as the public enum tta_event_kind. */
enum tta_event_kind_v1 {
	TTA_EVENT_KIND_ALLOC = 1,
	TTA_EVENT_KIND_FREE = 2,
	TTA_EVENT_KIND_CB_ALLOC = 3,
	TTA_EVENT_KIND_CB_FREE = 4,
	TTA_EVENT_KIND_KERNEL_LOAD = 5,
	TTA_EVENT_KIND_ATTACH = 6,
	TTA_EVENT_KIND_EXIT = 7,
	TTA_EVENT_KIND_REAP = 8
};
#define TTA_EVENTS_CAPACITY 65536u   /* entries, a power of two */
#define TTA_EVENT_NO_TYPE 0xffu

struct tta_event_ring_header {
	uint32_t capacity;        /* entries, a power of two; immutable */
	uint32_t entry_size;      /* sizeof(struct tta_event_entry) */
	uint8_t reserved0[TTA_CACHE_LINE - 8];
	uint64_t head;            /* 64: positions handed out so far */
	uint8_t reserved1[TTA_CACHE_LINE - 8];
};

struct tta_event_entry {
	uint64_t seq;             /*  0: 2p+2 complete, 2p+1 being written */
	uint64_t mono_ns;         /*  8: CLOCK_MONOTONIC_COARSE */
	int32_t pid;              /* 16 */
	uint32_t slot;            /* 20 */
	uint32_t device;          /* 24: UINT32_MAX for none */
	uint8_t kind;             /* 28: enum tta_event_kind (public header) */
	uint8_t type;             /* 29: memory type, TTA_EVENT_NO_TYPE for none */
	uint8_t kernel_kind;      /* 30 */
	uint8_t reserved0;
	uint64_t address;         /* 32 */
	uint64_t size;            /* 40 */
	uint64_t buffers;         /* 48 */
	uint64_t check;           /* 56: tta_event_check() of the complete entry */
};

/* Peaks (kind 10, version 1): one line per (slot, device), indexed like the
 * counter lines, written only by the slot's owner: the highest value each
 * bytes[] of its counter line reached since the slot was claimed. */
#define TTA_PEAKS_VERSION 1u
struct tta_peak_line {
	uint64_t peak[TTA_LAYOUT_MEM_TYPES];
	uint64_t reserved;
};

_Static_assert(sizeof(struct tta_history_header) == TTA_CACHE_LINE, "abi");
_Static_assert(sizeof(struct tta_history_head) == TTA_CACHE_LINE, "abi");
_Static_assert(sizeof(struct tta_history_slot) == TTA_CACHE_LINE, "abi");
_Static_assert(sizeof(struct tta_event_ring_header) == 2 * TTA_CACHE_LINE, "abi");
_Static_assert(offsetof(struct tta_event_ring_header, head) == TTA_CACHE_LINE, "abi");
_Static_assert(sizeof(struct tta_event_entry) == TTA_CACHE_LINE, "abi");
_Static_assert(offsetof(struct tta_event_entry, address) == 32, "abi");
_Static_assert(sizeof(struct tta_peak_line) == TTA_CACHE_LINE, "abi");

/* Where every region sits for a given set of capacities. */
struct tta_geometry {
	uint32_t device_capacity, slot_capacity, record_capacity;
	uint64_t off_devices, off_slots, off_counters, off_live_slots;
	uint64_t off_device_users, bitmap_stride, off_chunks, off_records;
	uint64_t segment_size;    /* what this build creates: the core and its optional
				   * regions (tta_geometry_extra_regions) */
	uint64_t mapped_size;     /* what the header declares (>= core_size) */
	uint64_t core_size;       /* end of the core regions: the least a header may declare */
	uint64_t off_sites;       /* where this build puts the TTA_REGION_SITES region */
};

/*
 * Computes the geometry for the given capacities. Returns 0, or -1 when a
 * capacity is outside its bounds. Creator and validator both call this, so a
 * header whose offsets disagree with its capacities is refused.
 */
int tta_geometry_compute(uint32_t devices, uint32_t slots, uint32_t records,
			 struct tta_geometry *out);

#endif /* TTA_LAYOUT_H */
