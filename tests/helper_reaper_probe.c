/*
 * helper_reaper_probe - what the reader API says about a segment, as shell
 * variable assignments, for the reaper tests:
 *
 *   live=N buffers=N bytes=N records=N record_bytes=N chunks_records=N
 *   slots_pid=N reaper_pid=N reaper_alive=N reaped=N leaky=N occupied=N
 *
 * buffers/bytes are the device totals summed over every device and type;
 * records/record_bytes the live buffer records; slots_pid the live slots of
 * the pid given as the optional argument; occupied the slots in any phase but
 * FREE (CLAIMED and REAPING ones are invisible to the reader API). Exit 2 if the segment cannot be
 * opened (message on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tt-alloc/reader.h"
#include "tta_health.h"
#include "tta_segment.h"

struct tally {
	int32_t pid;
	int64_t records, record_bytes;
	int64_t pid_slots;
	int64_t last_slot; /* FN runs once per (process, device), in slot order */
};

static int count_buffer(const struct tta_buffer_view *b, void *ctx)
{
	struct tally *t = ctx;
	t->records++;
	t->record_bytes += (int64_t)b->size;
	return 0;
}

static int count_process(const struct tta_process_view *p, uint32_t device, const int64_t *used,
			 int64_t buffers, void *ctx)
{
	(void)device, (void)used, (void)buffers;
	struct tally *t = ctx;
	if (t->pid != 0 && p->pid == t->pid && (int64_t)p->slot != t->last_slot)
		t->pid_slots++;
	t->last_slot = p->slot;
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	tta_reader *r;
	int rc = tta_reader_open(NULL, &r, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "helper_reaper_probe: %s\n", err);
		return 2;
	}
	struct tally t = { .pid = argc > 1 ? atoi(argv[1]) : 0, .last_slot = -1 };
	int64_t buffers = 0, bytes = 0;
	for (uint32_t d = 0; d < tta_reader_device_capacity(r); d++) {
		struct tta_device_view v;
		if (tta_reader_device(r, d, &v) != 0)
			continue;
		buffers += v.buffers;
		for (int k = 0; k < TTA_MEM_TYPES; k++)
			bytes += v.used[k];
	}
	tta_reader_foreach_buffer(r, NULL, count_buffer, &t);
	tta_reader_foreach_process(r, count_process, &t);
	struct tta_test_health h;
	tta_test_health_read(r, &h);
	printf("live=%" PRIu32 " buffers=%" PRId64 " bytes=%" PRId64 " records=%" PRId64
	       " record_bytes=%" PRId64 " records_in_use=%" PRIu64 " slots_pid=%" PRId64
	       " reaper_pid=%" PRId64 " reaper_alive=%d reaped=%" PRIu64 " leaky=%" PRIu64 " ",
	       h.live_processes, buffers, bytes, t.records, t.record_bytes, h.records_in_use,
	       t.pid_slots, h.reaper_pid, h.reaper_alive, h.processes_reaped, h.leaky_processes);
	tta_reader_close(r);

	struct tta_segment seg;
	if (tta_segment_open(NULL, 0, NULL, &seg, err, sizeof err) < 0) {
		fprintf(stderr, "helper_reaper_probe: %s\n", err);
		return 2;
	}
	uint32_t occupied = 0;
	for (uint32_t i = 0; i < seg.geo.slot_capacity; i++)
		occupied += TTA_SLOT_PHASE(__atomic_load_n(&tta_slot_at(&seg, i)->state,
							   __ATOMIC_ACQUIRE)) != TTA_SLOT_FREE;
	tta_segment_close(&seg);
	printf("occupied=%" PRIu32 "\n", occupied);
	return 0;
}
