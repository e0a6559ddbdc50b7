/*
 * history.h - what tt-smi's views and queries take from the history the
 * segment keeps (<tt-alloc/history.h>): peaks per type and per pool (memory
 * as the hardware holds it, <tt-alloc/tt_alloc.h>), and the series the
 * charts draw. The only file of tt-smi that reads tta_history.
 *
 * Contract
 *  - A segment without history (made before history existed) loads as an
 *    empty history: every query answers "not known" (false / 0 samples),
 *    never an error.
 *  - Errors from loading are the library's (negative errno, message in ERR).
 *  - Threading: none.
 */
#ifndef TT_SMI_HISTORY_H
#define TT_SMI_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/reader.h>

struct smi_history;

/* The window of peaks: the fine tier's reach, and the default of
 * tt-smi --history. */
#define SMI_PEAK_SECONDS 600u

/* Loads the last SECONDS of every device's history. Returns 0 or a negative
 * errno (-ESTALE: the segment was replaced; reopen). */
int smi_history_load(tta_reader *reader, uint32_t seconds, struct smi_history **out, char *err,
		     size_t errlen);
void smi_history_free(struct smi_history *h);

/* True if the segment keeps history. */
bool smi_history_available(const struct smi_history *h);
/* The window loaded, in seconds. */
uint32_t smi_history_seconds(const struct smi_history *h);

/* Highest use of memory TYPE on DEVICE in the window (the live total
 * included). False when there is no history for DEVICE. */
bool smi_history_type_peak(const struct smi_history *h, uint32_t device, unsigned type,
			   int64_t *peak);
/* Highest use of POOL (enum tta_mem_pool) on DEVICE in the window: the
 * highest sum at one instant, not the sum of each type's peak. */
bool smi_history_pool_peak(const struct smi_history *h, uint32_t device, unsigned pool,
			   int64_t *peak);

/* The last N seconds of POOL on DEVICE, one value a second, oldest first:
 * VALUES[N-1] is the current second. KNOWN[i] is false where the history
 * holds nothing (before the segment existed, or a torn sample). Returns the
 * number of known values (0: no history for DEVICE). */
size_t smi_history_pool_series(const struct smi_history *h, uint32_t device, unsigned pool,
			       size_t n, int64_t *values, bool *known);

#endif /* TT_SMI_HISTORY_H */
