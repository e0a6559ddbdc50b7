/*
 * tail.h - view 4 of the watch: the live event tail. Follows the segment's
 * event ring (<tt-alloc/events.h>) from the oldest event it still holds,
 * keeps the last SMI_TAIL_KEEP events, and shows as many of the newest as
 * the terminal has rows for, newest at the bottom like `tail -f`.
 *
 * Only events of the devices chosen (-i, -d) and the process chosen (--pid)
 * are shown; attaches and exits belong to no device and always pass -i.
 *
 * Column drop order (first to go first): process name, time, detail.
 *
 * Contract: the tail only reads (through its cursor); event fields are
 * numbers, the process names shown come from the snapshot and are
 * sanitised. Threading: one thread, with the reader's. Errors: negative
 * errno codes from the library (-EFAULT: segment truncated).
 */
#ifndef TT_SMI_TAIL_H
#define TT_SMI_TAIL_H

#include <stdint.h>
#include <stdio.h>

#include <tt-alloc/reader.h>

#include "views.h"

#define SMI_TAIL_KEEP 1000

struct smi_tail;

/* Opens a tail on READER (which must outlive it). Returns 0 or a negative
 * errno with a message in ERR. */
int smi_tail_open(tta_reader *reader, struct smi_tail **out, char *err, size_t errlen);
void smi_tail_close(struct smi_tail *tail);

/* Reads every event recorded since the last call. Returns how many lines
 * the tail gained (events, and one line per gap of missed events), or a
 * negative errno. */
int smi_tail_poll(struct smi_tail *tail);

/* View 4: the title, then the newest events that fit V's height. */
void smi_view_events(const struct smi_view *v, const struct smi_tail *tail, FILE *out);

#endif /* TT_SMI_TAIL_H */
