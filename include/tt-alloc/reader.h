/*
 * tt-alloc/reader.h - read the telemetry segment: snapshots, counters,
 * liveness. Everything a monitoring tool (tt-smi, an exporter, nvtop, a
 * Python binding) needs, with no copy of tt-alloc internals.
 *
 * Safety: the reader maps the segment read-only and trusts nothing in it.
 * Every index is bounds-checked against capacities validated at open, every
 * string is copied and terminated, every multi-word value is validated
 * against its sequence word with bounded retries (a writer killed mid-update
 * cannot hang a reader). A segment truncated under the reader raises SIGBUS
 * inside the library, never in the caller: on the first tta_reader_open the
 * library installs a SIGBUS handler that turns a fault inside its own reads
 * into an error (-EFAULT) and hands every other SIGBUS to the handler that
 * was installed before it (or to the default action). A program that later
 * installs its own SIGBUS handler must chain to the previous one to keep that
 * protection. Once a read of a reader's mapping has faulted, every call on
 * that reader returns -EFAULT (tta_reader_status says TRUNCATED).
 *
 * Threading: a tta_reader may be used by one thread at a time; different
 * readers in different threads are independent. Snapshots are plain memory:
 * read them from any thread, free each exactly once.
 *
 * Errors: functions that can fail return 0 (or a count) on success and a
 * negative errno-style code on failure, with a one-line explanation naming
 * the fix in ERR (which may be NULL). Nothing here prints, aborts, or leaves
 * a file descriptor open across exec.
 *
 * ABI: the structs below are filled by the library in memory it owns and are
 * reached through accessor functions only. A later libttalloc.so.2 may append
 * fields at their end; never allocate them, copy them by value into arrays,
 * or index an array of them yourself.
 */
#ifndef TT_ALLOC_READER_H
#define TT_ALLOC_READER_H

#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/tt_alloc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tta_reader tta_reader;
typedef struct tta_snapshot tta_snapshot;

/* ------------------------------------------------------------------------ */
/* Opening a segment                                                         */

/* Opens segment NAME (NULL: $TT_ALLOC_SHM or "/tt_alloc") read-only.
 * Returns 0 and sets *OUT, or a negative code with a message in ERR:
 *   -ENOENT  no such segment        -EACCES  permission denied
 *   -EPROTO  not a tt-alloc segment, another ABI (an ABI-1 segment: remove
 *            it, the next writer or reaper creates an ABI-2 one) or layout
 *   -EINVAL  invalid name, or a header/region directory that contradicts
 *            itself or the file size
 *   -EAGAIN  segment not yet initialised (ready flag unset) */
int tta_reader_open(const char *name, tta_reader **out, char *err, size_t errlen);
void tta_reader_close(tta_reader *reader);

/* The resolved name ("/tt_alloc") the reader opened. */
const char *tta_reader_name(const tta_reader *reader);

enum tta_segment_status {
	TTA_SEGMENT_OK = 0,        /* the name still points at the file we mapped */
	TTA_SEGMENT_REPLACED = 1,  /* the name now points at another segment: reopen */
	TTA_SEGMENT_REMOVED = 2,   /* the name is gone; our mapping is an orphan */
	TTA_SEGMENT_TRUNCATED = 3  /* the file shrank under us: reading it would fault */
};
/* Where the segment this reader opened stands (like Varnish's VSM_Status):
 * one stat and one fstat, no mapping read. Tools that run for long call it
 * before each refresh and reopen on REPLACED. */
enum tta_segment_status tta_reader_status(tta_reader *reader);

/* The segment's device capacity (ids are 0 .. capacity-1). */
uint32_t tta_reader_device_capacity(const tta_reader *reader);

/* ------------------------------------------------------------------------ */
/* Counters: one table, iterated by name                                     */

enum tta_counter_kind {
	TTA_COUNTER_KIND_COUNTER = 0, /* only grows (Prometheus "counter") */
	TTA_COUNTER_KIND_GAUGE = 1    /* goes up and down */
};
struct tta_counter_info {
	const char *name;          /* "unknown_frees": lower case, [a-z0-9_] */
	enum tta_counter_kind kind;
	const char *unit;          /* what one step counts: "frees", "bytes", ... */
	const char *help;          /* one sentence for help texts */
};
/* Number of counters this library knows; ids are 0 .. count-1 and stable. */
unsigned tta_counter_count(void);
/* Description of counter ID, or NULL if out of range. */
const struct tta_counter_info *tta_counter_info(unsigned id);
/* The id of the counter named NAME, or -1. */
int tta_counter_find(const char *name);

/* ------------------------------------------------------------------------ */
/* Liveness                                                                  */

/* 1 if PID runs and is the incarnation that started at START_TIME (clock
 * ticks since boot, /proc/PID/stat field 22), 0 if it exited (zombies count
 * as exited) or the pid now names another process, -1 if this process cannot
 * tell (another pid namespace's /proc). */
int tta_process_alive(int32_t pid, uint64_t start_time);

enum tta_reaper_status {
	TTA_REAPER_NONE = 0,     /* no reaper registered: writers reap on attach */
	TTA_REAPER_RUNNING = 1,  /* registered, running, heartbeat fresh */
	TTA_REAPER_STALLED = 2,  /* its process exists but its heartbeat is older
				  * than TTA_REAPER_STALL_MS (stopped or hung): it
				  * reaps nothing and a new reaper may take over */
	TTA_REAPER_GONE = 3,     /* registered, but that process is gone */
	TTA_REAPER_UNKNOWN = 4   /* cannot tell from this pid namespace */
};
#define TTA_REAPER_STALL_MS 5000
/* "none", "running", "stalled", "gone", "unknown"; NULL if out of range. */
const char *tta_reaper_status_name(int status);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */

enum tta_snapshot_flags {
	TTA_SNAPSHOT_BUFFERS = 1u << 0, /* also copy the buffer records (can be large) */
	/* Also fill each row's user name (user database) and running state
	 * (/proc: pid + start time), and the exited_processes gauge. Costs a
	 * /proc read per process (~10 us each); without it user is "" and
	 * running is -1, and a snapshot reads shared memory only. */
	TTA_SNAPSHOT_PROCESS_DETAILS = 1u << 1,
	/* Also read what the host says beside the segment (<tt-alloc/sources.h>):
	 * tt-kmd's telemetry and per-device pid lists, and TT-Metal's own
	 * counters-only segments. Every device present in sysfs is then listed,
	 * even if nothing reported on it. About 34 small file reads per device
	 * and one per TT-Metal segment: 9-14 ms for 64 devices and 64 segments
	 * on a loaded 2-CPU machine (tt-alloc-bench section k), 10 us on a
	 * host without the driver. With this flag READER may be NULL: a
	 * snapshot of those sources alone, for a host where no tt-alloc writer
	 * has run yet (tta_snapshot_segment then has abi_version 0 and an empty
	 * name). */
	TTA_SNAPSHOT_SOURCES = 1u << 2,
	/* Also sum the live buffer records per (device, tag): the tag rows
	 * (tta_snapshot_tag_*). Reads every record, like TTA_SNAPSHOT_BUFFERS,
	 * without keeping them. */
	TTA_SNAPSHOT_TAGS = 1u << 3
};

/*
 * Takes a consistent snapshot of the segment into library-owned memory.
 * PID (0 = all) keeps only that process's rows and buffers; DEVICE (-1 =
 * all) keeps only that device, its rows and its buffers. Device totals always
 * cover every process, so with no PID filter every device's used[] and
 * buffers equal exactly the sum of its process rows, even under churn: a
 * process is read once (identity, then each device line, then its state word
 * again) and dropped whole if it was reaped meanwhile, and the device totals
 * are summed from the very rows the snapshot holds.
 * Returns 0 and sets *OUT (free with tta_snapshot_free), or:
 *   -ENOMEM out of memory   -EFAULT the segment was truncated (read past its end)
 *   -EINVAL bad arguments (READER NULL without TTA_SNAPSHOT_SOURCES)
 *                           -ESTALE the name now points at a new segment:
 *                                   close the reader and open it again
 * A segment whose name was removed still gives snapshots of what it holds
 * (tta_reader_status says REMOVED).
 */
int tta_snapshot_take(tta_reader *reader, int32_t pid, int32_t device, unsigned flags,
		      tta_snapshot **out, char *err, size_t errlen);
void tta_snapshot_free(tta_snapshot *snapshot);

struct tta_segment_info {
	char name[260];            /* "/tt_alloc" (as opened, not from the segment) */
	uint32_t abi_version;
	uint32_t device_capacity, slot_capacity, record_capacity;
	uint64_t segment_size;     /* bytes mapped */
	uint32_t region_count;     /* entries of the region directory */
	uint32_t mode;             /* permission bits it was created with */
	uint64_t created_realtime_ns;
	int64_t creator_pid;
	uint64_t taken_realtime_ns; /* when this snapshot was taken */
	int32_t reaper_pid;        /* 0 when none is registered */
	int32_t reaper_status;     /* enum tta_reaper_status */
	uint64_t reaper_heartbeat_age_ns;
	int32_t filter_pid;        /* the filters the snapshot was taken with */
	int32_t filter_device;
	unsigned flags;
};
const struct tta_segment_info *tta_snapshot_segment(const tta_snapshot *snapshot);

/* Value of counter ID (see tta_counter_info) in this snapshot; 0 if out of
 * range. */
uint64_t tta_snapshot_counter(const tta_snapshot *snapshot, unsigned id);

struct tta_device_view {
	uint32_t id;
	int registered;           /* arch and capacities are meaningful */
	char arch[32];
	uint32_t num_cores, l1_bytes_per_core;
	uint64_t capacity[TTA_MEM_TYPES];
	/* Current use: sum over live processes. Signed so a mis-accounting
	 * shows up as a negative number instead of being hidden. */
	int64_t used[TTA_MEM_TYPES];
	int64_t buffers;          /* live allocations with a free event: kernel
				   * binaries are counted in bytes (used[KERNEL])
				   * only, here and everywhere */
	uint32_t processes;       /* live processes that reported on it */
};
/* Devices that are registered or in use, by id. */
size_t tta_snapshot_device_count(const tta_snapshot *snapshot);
const struct tta_device_view *tta_snapshot_device(const tta_snapshot *snapshot, size_t index);

struct tta_process_view {
	uint32_t slot;
	int32_t pid;              /* in the writer's pid namespace */
	uint32_t uid;
	uint32_t generation;
	uint64_t start_time;      /* /proc starttime, clock ticks since boot */
	uint64_t attach_realtime_ns;
	uint64_t pidns_ino;
	char comm[16];            /* untrusted: sanitise before printing */
	char cmdline[96];         /* untrusted: sanitise before printing */
	int32_t state;            /* 2 live (only live slots are listed) */
};
#define TTA_NO_DEVICE UINT32_MAX
struct tta_process_row {
	struct tta_process_view proc;
	uint32_t device;          /* TTA_NO_DEVICE: has reported on no device yet */
	int64_t used[TTA_MEM_TYPES];
	int64_t buffers;
	char user[64];            /* login name of uid, or the uid as a number
				   * (TTA_SNAPSHOT_PROCESS_DETAILS; else "") */
	int running;              /* tta_process_alive(): 1, 0 (exited, slot not
				   * reaped yet: still counted), -1 unknown or
				   * not asked (TTA_SNAPSHOT_PROCESS_DETAILS) */
	/* Highest use of this process on this device since it attached, per
	 * type (like PyTorch's max_memory_allocated), never below used[].
	 * Kept by the process itself beside its counters. A segment made
	 * before peaks existed has none: then equal to used[]. */
	int64_t peak[TTA_MEM_TYPES];
};
/* One row per process and device it reported on, sorted by device, then pid. */
size_t tta_snapshot_process_count(const tta_snapshot *snapshot);
const struct tta_process_row *tta_snapshot_process(const tta_snapshot *snapshot, size_t index);

struct tta_buffer_view {
	uint32_t record;          /* record index */
	int32_t owner_pid;
	uint32_t owner_slot;
	uint32_t device;
	uint32_t type;            /* enum tta_mem_type */
	uint32_t kernel_kind;
	uint64_t address;
	uint64_t size;
	uint64_t age_ns;          /* now - allocation time (CLOCK_MONOTONIC) */
	/* Where it came from (tta_set_tag, TT_ALLOC_STACK_TRACE=1; see
	 * tt_alloc.h). Untrusted text from the writer: sanitise it before
	 * printing. Owned by the snapshot (or, in tta_reader_foreach_buffer,
	 * valid during the callback); equal texts share one pointer. */
	const char *tag;          /* NULL: no tag was set; TTA_TAG_OTHER: the
				   * owner's tag table was full (or the tag is
				   * unreadable) */
	const char *site;         /* NULL: no call site recorded (stack traces
				   * off); else its frames, innermost (the caller
				   * of tta_report_*) first, one per line
				   * ('\n'-separated): "SYMBOL+0xOFF in MODULE at
				   * FILE:LINE"; TTA_SITE_UNTRACKED when the
				   * owner's site table was full */
};
#define TTA_TAG_OTHER "(other)"
#define TTA_SITE_UNTRACKED "(untracked site)"
/* With TTA_SNAPSHOT_BUFFERS: live buffer records, sorted by pid, device,
 * address. Zero otherwise. */
size_t tta_snapshot_buffer_count(const tta_snapshot *snapshot);
const struct tta_buffer_view *tta_snapshot_buffer(const tta_snapshot *snapshot, size_t index);

/* With TTA_SNAPSHOT_TAGS: device memory per tag, from the live buffer
 * records (the PID and DEVICE filters apply). One row per (device, tag) in
 * use, sorted by device, then largest total (all types) first. Kernel
 * binaries count in used[TTA_MEM_KERNEL] only, not in buffers, as
 * everywhere. Allocations that got no record (records_unavailable) are not
 * in any row. Processes may use many tags: an exporter should keep the
 * largest few per device and add up the rest. */
struct tta_tag_row {
	uint32_t device;
	const char *tag;          /* NULL: allocations made with no tag set;
				   * TTA_TAG_OTHER: beyond a process's tag table.
				   * Untrusted text, owned by the snapshot */
	int64_t used[TTA_MEM_TYPES]; /* bytes per memory type */
	int64_t buffers;          /* live allocations, kernel binaries excepted */
};
size_t tta_snapshot_tag_count(const tta_snapshot *snapshot);
const struct tta_tag_row *tta_snapshot_tag(const tta_snapshot *snapshot, size_t index);

/* ------------------------------------------------------------------------ */
/* Streaming reads (no snapshot; for the fastest queries)                    */

/* Totals of DEVICE, read now: the cheapest query. Returns 0, -EINVAL if out
 * of range, -EFAULT if the segment was truncated. Figures of different
 * devices (or of a later call) are not taken at one moment: use a snapshot
 * when they must add up. */
int tta_reader_device(tta_reader *reader, uint32_t device, struct tta_device_view *out);

/* The cheapest query: DEVICE's totals and nothing else, read now (no
 * identity, no capacities, no snapshot). OUT is caller memory of SIZE bytes,
 * normally sizeof(struct tta_device_totals); a later library may append
 * fields, and writes only the first SIZE bytes (SIZE must cover at least
 * used[] and buffers). Returns 0, -EINVAL (device out of range, OUT NULL or
 * SIZE too small; OUT is zeroed when it can be) or -EFAULT (segment
 * truncated). As with tta_reader_device, used[] and buffers are the sum over
 * the live processes using the device, read one process at a time. */
struct tta_device_totals {
	int64_t used[TTA_MEM_TYPES]; /* bytes per memory type, signed (see tta_device_view) */
	int64_t buffers;            /* live allocations with a free event */
	uint32_t processes;         /* live processes that reported on it */
	uint32_t reserved;          /* 0 */
};
int tta_reader_device_totals(tta_reader *reader, uint32_t device,
			     struct tta_device_totals *out, size_t size);

/* Calls FN for every live process, in slot order, once per device it has
 * reported on (or once with DEVICE == TTA_NO_DEVICE and zeros if none yet).
 * FN returns 0 to go on, non-zero to stop (that value is returned). The
 * processes are those live when the call began. FN may use other readers,
 * not READER (the walk keeps its state there). */
typedef int (*tta_process_fn)(const struct tta_process_view *proc, uint32_t device,
			      const int64_t *used, int64_t buffers, void *ctx);
int tta_reader_foreach_process(tta_reader *reader, tta_process_fn fn, void *ctx);

struct tta_buffer_filter {
	int32_t pid;              /* 0 = any */
	int32_t device;           /* -1 = any */
};
/* Calls FN for every consistent live buffer record of a live process that
 * matches FILTER (NULL = all), with its tag and site (valid during the
 * call). Same return convention as above; also -EFAULT if the segment was
 * truncated, -ENOMEM if there was no memory to name tags and sites. */
typedef int (*tta_buffer_fn)(const struct tta_buffer_view *buf, void *ctx);
int tta_reader_foreach_buffer(tta_reader *reader, const struct tta_buffer_filter *filter,
			      tta_buffer_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_READER_H */
