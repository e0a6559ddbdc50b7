/*
 * tta_health.h - test-side summary of a segment's health, read through the
 * public snapshot API: counters by their table names, liveness, reaper.
 * The tests and the torture compare these fields; the names match the
 * counter table (shm/tta_counters.h) so a renamed counter fails here loudly.
 */
#ifndef TTA_HEALTH_H
#define TTA_HEALTH_H

#include <stdint.h>
#include <string.h>

#include "tt-alloc/reader.h"

struct tta_test_health {
	uint32_t live_processes, exited_processes;
	uint64_t records_in_use; /* records reserved by processes (whole chunks) */
	uint64_t attach_refused, records_unavailable, unknown_frees, double_frees,
		foreign_frees, bad_device, bad_argument, address_collisions;
	uint64_t processes_reaped, leaky_processes, leaked_buffers, leaked_bytes;
	int64_t reaper_pid;
	int reaper_alive;  /* status RUNNING */
	int reaper_status; /* enum tta_reaper_status */
};

static inline uint64_t tta_test_counter(const tta_snapshot *s, const char *name)
{
	int id = tta_counter_find(name);
	return id < 0 ? UINT64_MAX : tta_snapshot_counter(s, (unsigned)id);
}

/* Returns 0, or the snapshot's error code (H is zeroed then). */
static inline int tta_test_health_read(tta_reader *r, struct tta_test_health *h)
{
	memset(h, 0, sizeof *h);
	tta_snapshot *s;
	int rc = tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0);
	if (rc != 0)
		return rc;
	h->live_processes = (uint32_t)tta_test_counter(s, "live_processes");
	h->exited_processes = (uint32_t)tta_test_counter(s, "exited_processes");
	h->records_in_use = tta_test_counter(s, "records_reserved");
	h->attach_refused = tta_test_counter(s, "attach_refused");
	h->records_unavailable = tta_test_counter(s, "records_unavailable");
	h->unknown_frees = tta_test_counter(s, "unknown_frees");
	h->double_frees = tta_test_counter(s, "double_frees");
	h->foreign_frees = tta_test_counter(s, "foreign_frees");
	h->bad_device = tta_test_counter(s, "bad_device");
	h->bad_argument = tta_test_counter(s, "bad_argument");
	h->address_collisions = tta_test_counter(s, "address_collisions");
	h->processes_reaped = tta_test_counter(s, "processes_reaped");
	h->leaky_processes = tta_test_counter(s, "leaky_processes");
	h->leaked_buffers = tta_test_counter(s, "leaked_buffers");
	h->leaked_bytes = tta_test_counter(s, "leaked_bytes");
	const struct tta_segment_info *info = tta_snapshot_segment(s);
	h->reaper_pid = info->reaper_pid;
	h->reaper_status = info->reaper_status;
	h->reaper_alive = info->reaper_status == TTA_REAPER_RUNNING;
	tta_snapshot_free(s);
	return 0;
}

#endif
