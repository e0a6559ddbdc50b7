/*
 * read_priv.h - what the read side's modules (read.c, history.c, events.c)
 * share and nobody else sees: the reader itself and the SIGBUS guard that
 * turns a fault inside a read of a truncated segment into -EFAULT (see
 * read.c for the handler and <tt-alloc/reader.h> for the contract).
 */
#ifndef TTA_READ_PRIV_H
#define TTA_READ_PRIV_H

#include <setjmp.h>
#include <stdbool.h>

#include "tt-alloc/history.h"
#include "tta_segment.h"

struct device_plan;
struct read_process_lines;
struct row_bucket;
struct process_order;

struct tta_reader {
	struct tta_segment seg;
	/* Scratch memory of snapshots and streaming reads, kept between calls
	 * (a reader serves one thread at a time) and owned here, so a SIGBUS
	 * jump out of a read never loses it. */
	uint32_t *plan_ids;
	unsigned int *plan_bits;
	size_t plan_room;
	struct read_process_lines *procs;
	size_t cap_procs;
	struct row_bucket *buckets;
	size_t cap_buckets;
	struct process_order *order;
	size_t cap_order;
	/* take_rows: the live slots (ascending), the live bitmap they came
	 * from, the words of it with a bit set, each live slot's index in
	 * live_slots (by slot; only live slots' entries are meaningful), and
	 * each live slot's planned devices as runs in slot_devs. */
	uint32_t *live_slots, *live_mask, *live_words, *live_index;
	size_t cap_live_slots, cap_live_mask, cap_live_words, cap_live_index;
	uint32_t *slot_first, *slot_devs;
	size_t cap_slot_first, cap_slot_devs;
	uint32_t *row_process; /* each row's process (index in procs) */
	size_t cap_row_process;
	uint32_t *row_at; /* take_rows: where one process's rows go */
	size_t cap_row_at;
	/* Processes take_rows found changed as it read them and left out of
	 * their snapshot, since the reader was opened (for tests). */
	uint64_t processes_dropped;
	/* The last snapshot's plan: device ids and the sums of their rows. */
	uint32_t rows_plan_n;
	struct tta_device_sum *plan_sums;
	size_t cap_plan_sums;
	uint32_t *registered_ids;
	size_t cap_registered;
	/* records_reserved counts the owned chunks: a scan of every chunk owner
	 * word, kept until writers bump the header's chunk_epoch (a claim or a
	 * release) and at most a second (writers of older versions never bump). */
	bool reserved_known;
	uint64_t reserved_epoch, reserved_records, reserved_scanned_ns;
	int bus_region; /* our entry in bus_regions, or -1 (then every read is guarded) */
	struct tta_reaper_watch reaper; /* snapshots judge the reaper through it */
};

/* The jump buffer of the guarded read running on this thread, or NULL.
 * Initial-exec: every guarded read touches it, and the general-dynamic
 * model would cost a __tls_get_addr call each time in the shared library. */
#define TTA_BUS_JUMP_TLS __attribute__((tls_model("initial-exec")))
extern __thread sigjmp_buf *tta_bus_jump TTA_BUS_JUMP_TLS;

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
 * message every read entry point gives: -EFAULT truncated (or a read of it
 * faulted before), -ESTALE replaced (reopen). One fstat; a stat of the name
 * only when its link count says the name may have moved. */
int tta_reader_usable(tta_reader *reader, char *err, size_t errlen);

/* tta_history_take with the clocks given: MONO_NOW (CLOCK_MONOTONIC ns,
 * the writers' interval clock) and REALTIME_NOW (UNIX ns at that moment).
 * For tests, which record samples at chosen instants instead of waiting. */
int tta_history_take_at(tta_reader *reader, int32_t device, uint32_t seconds, uint64_t mono_now,
			uint64_t realtime_now, tta_history **out, char *err, size_t errlen);

#endif /* TTA_READ_PRIV_H */
