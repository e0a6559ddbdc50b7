/*
 * helper_reaper_writer - a tracked process for the reaper tests.
 *
 *   helper_reaper_writer MODE BUFFERS DEVICES SIZE
 *
 * Reports BUFFERS allocations on each of devices 0..DEVICES-1 through
 * libtrack (needs TT_ALLOC_TRACKING_ENABLED=1): buffer i has SIZE*(i+1)
 * bytes, type DRAM for even i and L1 for odd i. Then, by MODE:
 *   hold  print "ready pid=P buffers=B bytes=X", then sleep until killed
 *   free  free everything, print "done pid=P", exit 0
 *   exit  print "done pid=P ...", exit 0 without freeing (a leak)
 * Exit status 3 if tracking did not attach (so a test fails loudly).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt-alloc/reader.h"

static uint64_t address_of(uint32_t i)
{
	return UINT64_C(0x10000000) + (uint64_t)i * UINT64_C(0x100000);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s hold|free|exit BUFFERS DEVICES SIZE\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	uint32_t buffers = (uint32_t)strtoul(argv[2], NULL, 10);
	uint32_t devices = (uint32_t)strtoul(argv[3], NULL, 10);
	uint64_t size = strtoull(argv[4], NULL, 10);

	uint64_t total = 0;
	for (uint32_t d = 0; d < devices; d++)
		for (uint32_t i = 0; i < buffers; i++) {
			tta_report_alloc(d, address_of(i), size * (i + 1),
					 (i % 2) ? TTA_MEM_L1 : TTA_MEM_DRAM);
			total += size * (i + 1);
		}
	if (buffers * devices > 0 && tta_track_state() != TTA_TRACK_ATTACHED) {
		fprintf(stderr, "helper_reaper_writer: tracking is not attached (state %d)\n",
			(int)tta_track_state());
		return 3;
	}
	if (strcmp(mode, "hold") == 0) {
		printf("ready pid=%d buffers=%" PRIu32 " bytes=%" PRIu64 "\n", (int)getpid(),
		       buffers * devices, total);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (strcmp(mode, "free") == 0) {
		for (uint32_t d = 0; d < devices; d++)
			for (uint32_t i = 0; i < buffers; i++)
				tta_report_free(d, address_of(i));
		printf("done pid=%d\n", (int)getpid());
		return 0;
	}
	if (strcmp(mode, "exit") == 0) {
		printf("done pid=%d buffers=%" PRIu32 " bytes=%" PRIu64 "\n", (int)getpid(),
		       buffers * devices, total);
		return 0;
	}
	fprintf(stderr, "helper_reaper_writer: unknown mode '%s'\n", mode);
	return 2;
}
