/*
 * tta_counters.h - the one table of segment-wide counters and gauges.
 *
 * Everything else derives from this list: the ids that index the header's
 * counters[] array (tta_layout.h), the public iteration API
 * (tta_counter_info, tta_snapshot_counter), tt-smi's text and JSON, and every
 * exporter. Adding a counter is one line here, appended at the end: ids are
 * ABI and must never move.
 *
 * X(name, kind, stored, unit, help)
 *   kind    COUNTER (only grows) or GAUGE (goes up and down)
 *   stored  1: kept in the header's counters[] array, written by writers,
 *           reapers or the reaper daemon; 0: derived by the reader at
 *           snapshot time from the tables
 *   unit    what one step counts, for help texts and exporters
 */
#ifndef TTA_COUNTERS_H
#define TTA_COUNTERS_H

#define TTA_COUNTER_TABLE(X)                                                          \
	X(attach_refused, COUNTER, 1, "processes",                                    \
	  "processes that found no free process slot and are not tracked")            \
	X(records_unavailable, COUNTER, 1, "allocations",                             \
	  "allocations tracked in counters without a record in the segment")         \
	X(unknown_frees, COUNTER, 1, "frees",                                         \
	  "frees of an address or id the process never reported (or freed already)") \
	X(double_frees, COUNTER, 1, "frees", "handles freed a second time")             \
	X(foreign_frees, COUNTER, 1, "frees",                                         \
	  "handles the library did not issue to this process incarnation")           \
	X(bad_device, COUNTER, 1, "reports", "reports naming a device beyond the capacity") \
	X(bad_argument, COUNTER, 1, "reports",                                        \
	  "reports with an unknown memory type or an impossible size")                \
	X(address_collisions, COUNTER, 1, "allocations",                              \
	  "allocations over an address the same process still holds")                \
	X(processes_reaped, COUNTER, 1, "processes",                                  \
	  "process slots reclaimed after their process ended (detaches excepted)")   \
	X(leaky_processes, COUNTER, 1, "processes",                                   \
	  "reaped processes that still held allocations")                            \
	X(leaked_buffers, COUNTER, 1, "buffers",                                      \
	  "allocations (kernel binaries excepted) left behind by reaped processes")  \
	X(leaked_bytes, COUNTER, 1, "bytes",                                          \
	  "bytes of those allocations, every type but kernel binaries")              \
	X(live_processes, GAUGE, 0, "processes",                                      \
	  "process slots held, exited but not yet reaped processes included")        \
	X(exited_processes, GAUGE, 0, "processes",                                    \
	  "processes that exited and whose slot is not reaped yet (still counted)")  \
	X(records_reserved, GAUGE, 0, "records",                                      \
	  "buffer records reserved by processes (whole chunks)")                     \
	X(records_capacity, GAUGE, 0, "records", "buffer records the segment holds")   \
	X(processes_detached, COUNTER, 1, "processes",                                \
	  "process slots released by their own process (tta_track_detach)")

enum tta_counter_id {
#define TTA_COUNTER_ID(name, kind, stored, unit, help) TTA_CTR_##name,
	TTA_COUNTER_TABLE(TTA_COUNTER_ID)
#undef TTA_COUNTER_ID
	TTA_COUNTER_COUNT
};

#endif /* TTA_COUNTERS_H */
