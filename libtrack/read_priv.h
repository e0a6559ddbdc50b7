/*
 * read_priv.h - what the read side's modules (read.c, history.c, events.c)
 * share and nobody else sees: the reader itself and the SIGBUS guard that
 * turns a fault inside a read of a truncated segment into -EFAULT (see
 * read.c for the handler and <tt-alloc/reader.h> for the contract).
 */
#ifndef TTA_READ_PRIV_H
#define TTA_READ_PRIV_H

#include <setjmp.h>

#include "tt-alloc/history.h"
#include "tta_segment.h"

struct tta_reader {
	struct tta_segment seg;
};

/* The jump buffer of the guarded read running on this thread, or NULL. */
extern __thread sigjmp_buf *tta_bus_jump;

/* SA_NODEFER: the jump leaves no SIGBUS blocked behind it, and sigsetjmp
 * without saving the mask costs no syscall on the normal path.
 * Guards nest (a callback may call the library again): each restores the
 * guard it found. A SIGBUS raised inside a caller's callback is reported as
 * -EFAULT by the read that called it. */
#define BUS_GUARD(jump, outer, on_fault)                                            \
	do {                                                                        \
		(outer) = tta_bus_jump;                                             \
		if (sigsetjmp(jump, 0) != 0) {                                      \
			tta_bus_jump = (outer);                                     \
			on_fault;                                                   \
		}                                                                   \
		tta_bus_jump = &(jump);                                             \
	} while (0)
#define BUS_GUARD_END(outer) (tta_bus_jump = (outer))

/* 0 if READER's segment can be read now; else a negative code with the
 * message every read entry point gives: -EFAULT truncated, -ESTALE
 * replaced (reopen). */
int tta_reader_usable(tta_reader *reader, char *err, size_t errlen);

/* tta_history_take with the clocks given: MONO_NOW (CLOCK_MONOTONIC ns,
 * the writers' interval clock) and REALTIME_NOW (UNIX ns at that moment).
 * For tests, which record samples at chosen instants instead of waiting. */
int tta_history_take_at(tta_reader *reader, int32_t device, uint32_t seconds, uint64_t mono_now,
			uint64_t realtime_now, tta_history **out, char *err, size_t errlen);

#endif /* TTA_READ_PRIV_H */
