/*
 * tt-alloc/events.h - the live event stream: allocations, frees, circular
 * buffers, kernel loads, processes attaching, detaching and being reaped,
 * read from a ring in the segment like `tail -f`.
 *
 * The ring (docs/segment.md, "Event ring") holds the last 65536 events of
 * every process. Writers take a position with one atomic increment and fill
 * the entry under its own sequence stamp: they never wait for anyone, and no
 * reader can slow them down. A reader follows with a cursor; when writers
 * lapped it, it learns how many events it missed, and an entry a writer was
 * killed while filling is skipped (and counted as missed) once it has stayed
 * unfinished for TTA_EVENTS_TORN_MS. Ring positions and stamps are untrusted:
 * a hostile segment yields missed counts or nonsense fields, never a crash
 * or a hang.
 *
 * What is recorded: attach, exit and reap events always. The per-report
 * events (alloc, free, cb_alloc, cb_free, kernel_load) are recorded by a
 * process only when it starts with TT_ALLOC_EVENTS=1 (read once, like
 * TT_ALLOC_TRACKING_ENABLED): they cost a shared cache line per report,
 * more than the 10 ns budget of the report path (docs/bench.md).
 *
 * Segments without an event ring (made before it existed) are read
 * normally: a cursor on them never returns an event and
 * tta_events_available() says 0.
 *
 * Threading: a cursor belongs to one thread at a time and uses its reader,
 * which must outlive it. The formatters are pure functions.
 * Errors: negative errno codes with a one-line message in ERR (may be NULL).
 * ABI: struct tta_event is filled by the library in memory the cursor owns
 * and may grow at the end.
 */
#ifndef TT_ALLOC_EVENTS_H
#define TT_ALLOC_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tta_event_kind {
	TTA_EVENT_ALLOC = 1,       /* buffer allocated (DRAM, L1, ...) */
	TTA_EVENT_FREE = 2,        /* buffer freed: size and type of what was freed */
	TTA_EVENT_CB_ALLOC = 3,    /* circular buffer allocated (address = CB id) */
	TTA_EVENT_CB_FREE = 4,
	TTA_EVENT_KERNEL_LOAD = 5, /* kernel binary loaded (address = kernel id) */
	TTA_EVENT_ATTACH = 6,      /* a process took a slot (device TTA_NO_DEVICE) */
	TTA_EVENT_EXIT = 7,        /* a process released its slot itself
				    * (tta_track_detach): what it held is dropped,
				    * not leaked (device TTA_NO_DEVICE) */
	TTA_EVENT_REAP = 8,        /* the slot of a process that ended was
				    * reclaimed (reaper, or a writer attaching):
				    * one event per device it still held
				    * something on, SIZE leaked bytes and BUFFERS
				    * leaked buffers there (kernel binaries never
				    * leak); one event with device TTA_NO_DEVICE
				    * and zeros when it held nothing */
	TTA_EVENT_KINDS = 9        /* kinds are 1 .. TTA_EVENT_KINDS-1 */
};

/* An event entry left unfinished this long is judged torn (its writer died). */
#define TTA_EVENTS_TORN_MS 100

struct tta_event {
	uint64_t seq;             /* position in the stream, counts from 0 */
	uint64_t realtime_ns;     /* UNIX time in ns (recorded on the monotonic
				   * clock, converted when read) */
	uint32_t kind;            /* enum tta_event_kind; other values may come
				   * from newer writers: print them by number */
	int32_t pid;              /* the process (its pid namespace's number) */
	uint32_t slot;            /* its slot index */
	uint32_t device;          /* TTA_NO_DEVICE for attach and exit */
	uint32_t type;            /* enum tta_mem_type of the memory (CB for
				   * cb_*, KERNEL for kernel_load); UINT32_MAX
				   * when the kind has none */
	uint32_t kernel_kind;     /* kernel_load: enum tta_kernel_kind */
	uint64_t address;         /* buffer address, CB id or kernel id */
	uint64_t size;            /* bytes; reap: bytes leaked on DEVICE */
	uint64_t buffers;         /* reap: buffers leaked on DEVICE; else 0 */
};

typedef struct tta_event_cursor tta_event_cursor;

enum tta_events_start {
	TTA_EVENTS_OLDEST = 0,    /* the oldest event the ring still holds */
	TTA_EVENTS_NOW = 1        /* only events recorded from now on */
};

/* Opens a cursor on READER's event ring, starting at START. Returns 0 and
 * *OUT (close with tta_events_close), -EINVAL, -ENOMEM, -EFAULT. */
int tta_events_open(tta_reader *reader, enum tta_events_start start, tta_event_cursor **out,
		    char *err, size_t errlen);
void tta_events_close(tta_event_cursor *cursor);

/* 1 if the segment has an event ring, 0 if not (no event ever comes). */
int tta_events_available(const tta_event_cursor *cursor);

/*
 * The next event, without waiting. Returns 1 and sets *EVENT (valid until
 * the next call on CURSOR), 0 when there is none yet (poll again: every
 * 10-100 ms is plenty), or -EFAULT if the segment was truncated.
 * *MISSED (may be NULL) is set to the number of events lost just before
 * this one, or before now when 0 is returned: overwritten before this
 * cursor read them, or left torn by a writer that died.
 */
int tta_events_next(tta_event_cursor *cursor, const struct tta_event **event, uint64_t *missed);

/* "alloc", "free", "cb_alloc", "cb_free", "kernel_load", "attach", "exit",
 * "reap"; NULL for any other value. */
const char *tta_event_kind_name(unsigned kind);

/* One line in the old allocation server's log style, no newline, e.g.
 *   [Device 0] ALLOC: 524288 bytes DRAM by PID 12345 (buffer 0x800000000)
 *   [Device 0] FREE: 524288 bytes DRAM by PID 12345 (buffer 0x800000000)
 *   [Device 0] CB_ALLOC: 65536 bytes CB by PID 12345 (cb 0x7)
 *   [Device 0] KERNEL_LOAD: 12288 bytes KERNEL (application) by PID 12345 (kernel 0x3)
 *   ATTACH: PID 12345 (slot 3)
 *   EXIT: PID 12345 detached (slot 3)
 *   [Device 0] REAP: PID 12345 ended, leaked 2 buffers, 1048576 bytes (slot 3)
 *   REAP: PID 12345 ended, nothing leaked (slot 3)
 * Only numbers and fixed words: safe for a terminal. Returns BUF. */
char *tta_event_format(const struct tta_event *event, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_EVENTS_H */
