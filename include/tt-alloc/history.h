/*
 * tt-alloc/history.h - memory use over time, per device and memory type, as
 * the segment itself records it: a monitor started late still sees the past.
 *
 * What the segment keeps (docs/segment.md, "History region"): for every
 * device, a fine tier of samples one second apart covering at least ten
 * minutes (1024 s), and a coarse tier one minute apart covering at least a
 * day (1536 min). Writers record a sample as they report: the first change
 * a device sees in a new second first records the device total as it stood
 * at that second's start (summed from the processes' counter lines, exactly
 * as tta_reader_device sums it); the reaper does the same before it removes a
 * dead process's contribution. Nothing is recorded while nothing changes:
 * the total of an idle stretch is the one the next change found, and this
 * library fills idle seconds in (see tta_history_take). So history is kept
 * whether or not a reaper or any reader runs.
 *
 * Time: every sample names an instant, a multiple of the tier's interval on
 * the kernel's monotonic clock (which never jumps), given to callers as UNIX
 * time (CLOCK_REALTIME at that instant, computed with the offset between
 * the two clocks when the history is taken, so it has a fraction).
 *
 * Safety: as for every read (<tt-alloc/reader.h>): the segment is mapped
 * read-only and trusted in nothing. A sample a writer was killed while
 * writing (or is writing right now) is detected by its stamp and never
 * shown; the instants it would have told are marked unknown.
 *
 * Segments without history: an ABI-2 segment made by a creator that predates
 * history has no history region. It is still read normally; a history taken
 * from it is empty and tta_history_available() says 0.
 *
 * Threading: a tta_history is plain library memory, read from any thread,
 * freed once. tta_history_take uses the reader (one thread at a time).
 * Errors: negative errno codes with a one-line message in ERR (may be NULL).
 * ABI: the structs are filled by the library and reached through accessors;
 * they may grow at the end. Never allocate or copy them into arrays.
 */
#ifndef TT_ALLOC_HISTORY_H
#define TT_ALLOC_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tta_history tta_history;

/* Tiers: the fine one is used when the requested span fits in it. */
#define TTA_HISTORY_FINE_MS 1000u     /* fine tier interval */
#define TTA_HISTORY_COARSE_MS 60000u  /* coarse tier interval */

struct tta_history_sample {
	uint64_t realtime_ns;     /* the instant, UNIX time in ns */
	int64_t used[TTA_MEM_TYPES]; /* device total at that instant (signed:
				   * a mis-accounting shows as negative) */
	int64_t total;            /* sum of used[] over every type */
	int known;                /* 1: exact (recorded or filled from a
				   * recorded one); 0: unknown, because the
				   * writer that recorded it died mid-write
				   * (used[] then repeats the last known
				   * earlier value; JSON leaves it out) */
	int recorded;             /* 1: a writer or reaper recorded this very
				   * instant; 0: filled in (nothing changed) */
};

struct tta_history_device {
	uint32_t id;
	size_t sample_count;      /* samples, oldest first, one interval apart */
	/* Highest known value in the window, per type, and of the total; the
	 * current live total included. */
	int64_t peak[TTA_MEM_TYPES];
	int64_t peak_total;
	size_t recorded_count;    /* samples a writer recorded in the window */
};

/*
 * Takes the last SECONDS seconds (1 .. 86400 * 2; 0 means 600) of history of
 * DEVICE (-1: every device registered, in use, or with a recorded sample in
 * the window) into library memory. The span picks the tier: up to the fine
 * tier's reach (at least 600 s) one sample a second, beyond it one a minute
 * (tta_history_interval_ms says which). The last sample is the instant the
 * current interval started; the series starts no earlier than the segment's
 * creation, so it may hold fewer samples than asked. Each device's samples
 * are filled from the recorded ones: an instant with no sample takes the
 * next recorded sample's value (nothing changed in between), and instants
 * after the last recorded sample take the live total read now.
 * Returns 0 and sets *OUT (free with tta_history_free), or:
 *   -EINVAL bad arguments (device out of range, SECONDS too large)
 *   -ENOMEM out of memory    -EFAULT the segment was truncated (SIGBUS)
 *   -ESTALE the name now points at a new segment: reopen the reader
 * A segment without a history region gives an empty history (no devices),
 * not an error.
 */
int tta_history_take(tta_reader *reader, int32_t device, uint32_t seconds, tta_history **out,
		     char *err, size_t errlen);
void tta_history_free(tta_history *history);

/* 1 if the segment keeps history, 0 if it has no history region. */
int tta_history_available(const tta_history *history);
/* Interval between samples of HISTORY: TTA_HISTORY_FINE_MS or _COARSE_MS. */
uint32_t tta_history_interval_ms(const tta_history *history);
/* The span asked for, in seconds (after defaulting). */
uint32_t tta_history_seconds(const tta_history *history);

size_t tta_history_device_count(const tta_history *history);
/* Device INDEX (0 .. count-1, by id), or NULL if out of range. */
const struct tta_history_device *tta_history_device(const tta_history *history, size_t index);
/* Sample SAMPLE (0 = oldest) of device INDEX, or NULL if out of range. */
const struct tta_history_sample *tta_history_sample(const tta_history *history, size_t index,
						    size_t sample);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_HISTORY_H */
