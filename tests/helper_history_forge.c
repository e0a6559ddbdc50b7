/*
 * helper_history_forge - gives a test segment a past, so a test can show
 * what a monitor started late sees without waiting a minute for it.
 *
 *   helper_history_forge DEVICE TYPE SPAN BOUNDARY OLD NEW
 *
 * Writes the fine-tier history samples of DEVICE (segment $TT_ALLOC_SHM) for
 * each of the last SPAN seconds, the current second included, as writers
 * record them (stamp 2n+2 after the values; the device's newest-interval
 * word raised, so writers do not record the current second again): memory
 * type TYPE held OLD bytes until BOUNDARY seconds ago and NEW since; every
 * other type holds its current total. Then moves the segment's creation
 * SPAN + 5 seconds back, so readers take the series as the segment's own.
 * Exits 0, or 2 with a message.
 */
#include <ck_pr.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt-alloc/tt_alloc.h"
#include "tta_segment.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s DEVICE TYPE SPAN BOUNDARY OLD NEW\n", argv[0]);
		return 2;
	}
	uint32_t device = (uint32_t)strtoul(argv[1], NULL, 0);
	int type = tta_mem_type_parse(argv[2]);
	uint64_t span = strtoull(argv[3], NULL, 0), boundary = strtoull(argv[4], NULL, 0);
	uint64_t old_value = strtoull(argv[5], NULL, 0), new_value = strtoull(argv[6], NULL, 0);
	if (type < 0 || span == 0) {
		fprintf(stderr, "bad type or span\n");
		return 2;
	}
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	const struct tta_history_geo *g = &seg.hist;
	if (device >= g->devices || span >= g->fine_count) {
		fprintf(stderr, "no history for device %" PRIu32 " or span too long\n", device);
		tta_segment_close(&seg);
		return 2;
	}
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	uint64_t n_now = now / g->fine_ns;
	uint64_t current[TTA_LAYOUT_MEM_TYPES];
	tta_device_sum(&seg, device, current, NULL, NULL);
	for (uint64_t ago = 0; ago <= span; ago++) {
		uint64_t n = n_now - ago;
		struct tta_history_slot *slot =
			tta_history_fine_at(&seg, device, (uint32_t)(n % g->fine_count));
		ck_pr_store_64(&slot->stamp, 2 * n + 1);
		ck_pr_fence_store();
		for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			ck_pr_store_64(&slot->bytes[t], current[t]);
		ck_pr_store_64(&slot->bytes[type], ago >= boundary ? old_value : new_value);
		ck_pr_fence_store();
		ck_pr_store_64(&slot->stamp, 2 * n + 2);
	}
	struct tta_history_head *head = tta_history_head_at(&seg, device);
	if (ck_pr_load_64(&head->fine_latest) < n_now + 1)
		ck_pr_store_64(&head->fine_latest, n_now + 1);
	uint64_t back = (span + 5) * 1000000000u;
	uint64_t created = clock_ns(CLOCK_REALTIME) - back;
	if (ck_pr_load_64(&tta_hdr(&seg)->created_realtime_ns) > created)
		ck_pr_store_64(&tta_hdr(&seg)->created_realtime_ns, created);
	tta_segment_close(&seg);
	return 0;
}
