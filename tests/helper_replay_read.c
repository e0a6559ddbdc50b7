/*
 * helper_replay_read - prints the totals of the segment in $TT_ALLOC_SHM in a
 * stable, line-oriented form that tests/sh/test_replay.sh compares against
 * the "# expect:" lines of a trace. Reads through the public tta_reader_* API
 * only, as any third-party tool would.
 *
 * Output, one fact a line, devices ascending, zero values omitted:
 *   device D TYPE BYTES        per memory type in use
 *   device D buffers N         live allocations
 *   processes N                live processes (only with --health)
 *   shortfall NAME N           non-zero shortfall counters (only with --health)
 * Exit status: 0, or 2 when the segment cannot be opened (message on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tt-alloc/reader.h"
#include "tta_health.h"

int main(int argc, char **argv)
{
	int health = argc > 1 && strcmp(argv[1], "--health") == 0;
	char err[512] = "";
	tta_reader *reader;
	int rc = tta_reader_open(NULL, &reader, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "helper_replay_read: %s\n", err);
		return 2;
	}
	uint32_t devices = tta_reader_device_capacity(reader);
	for (uint32_t d = 0; d < devices; d++) {
		struct tta_device_view v;
		if (tta_reader_device(reader, d, &v) != 0)
			continue;
		for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
			if (v.used[t] != 0)
				printf("device %" PRIu32 " %s %" PRId64 "\n", d, tta_mem_type_name(t), v.used[t]);
		if (v.buffers != 0)
			printf("device %" PRIu32 " buffers %" PRId64 "\n", d, v.buffers);
	}
	if (health) {
		tta_snapshot *snap;
		if (tta_snapshot_take(reader, 0, -1, 0, &snap, NULL, 0) == 0) {
			printf("processes %" PRIu64 "\n", tta_test_counter(snap, "live_processes"));
			/* The shortfall counters: every counter of the table whose
			 * help is about misuse or missing room, by its own name. */
			static const char *const shortfall[] = {
				"attach_refused", "records_unavailable", "unknown_frees",
				"double_frees", "foreign_frees", "bad_device", "bad_argument",
				"address_collisions",
			};
			for (size_t i = 0; i < sizeof shortfall / sizeof shortfall[0]; i++) {
				uint64_t v = tta_test_counter(snap, shortfall[i]);
				if (v != 0)
					printf("shortfall %s %" PRIu64 "\n", shortfall[i], v);
			}
			printf("leaky_processes %" PRIu64 "\n", tta_test_counter(snap, "leaky_processes"));
			tta_snapshot_free(snap);
		}
	}
	tta_reader_close(reader);
	return 0;
}
