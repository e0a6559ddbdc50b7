/*
 * fuzz_geometry.h - the small segment geometries the fuzz harness builds
 * valid headers for, shared with the seed maker (make_seeds.c) so seeds in
 * structured form line up with what the harness reconstructs.
 */
#ifndef TTA_FUZZ_GEOMETRY_H
#define TTA_FUZZ_GEOMETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tta_layout.h"
#include "tta_segment.h"

/* Bytes before this offset are the header's identity/layout part, which the
 * harness writes itself; everything after comes from the fuzz input. */
#define FUZZ_MUTABLE_FROM 192u

struct fuzz_geometry {
	uint32_t devices, slots, records;
	bool extras; /* with history, events and peaks (tiny: FUZZ_SIZES) */
};

/* Small, so a whole segment fits in one input: 1 slot / 1 bitmap word /
 * 2 bitmap words (33 slots), 1..3 chunks; the first three with the core
 * regions only (as an older creator made them), the others with every
 * optional region, sized so the whole file stays under 64 KiB. */
static const struct fuzz_geometry fuzz_geometries[] = {
	{ 1, 1, 64, false },
	{ 2, 4, 128, false },
	{ 3, 33, 192, false },
	{ 1, 1, 64, true },
	{ 2, 4, 128, true },
};
static const struct tta_extra_sizes FUZZ_SIZES = { .history_fine = 8, .history_coarse = 4,
						   .event_capacity = 16 };
#define FUZZ_GEOMETRIES (sizeof fuzz_geometries / sizeof fuzz_geometries[0])

/* A zeroed segment of geometry FG with a valid, ready header (as the
 * creator writes it). Returns malloc'd memory and its size, or NULL. */
static inline uint8_t *fuzz_build_segment(const struct fuzz_geometry *fg, size_t *size)
{
	struct tta_geometry g;
	if (tta_geometry_compute(fg->devices, fg->slots, fg->records, &g) != 0)
		return NULL;
	struct tta_region extra[3];
	unsigned n_extra = 0;
	uint64_t total = g.segment_size;
	if (fg->extras)
		n_extra = tta_geometry_extra_regions(&g, &FUZZ_SIZES, extra, &total);
	uint8_t *seg = calloc(1, total);
	if (seg == NULL)
		return NULL;
	tta_segment_format(seg, &g, 0600);
	struct tta_header *h = (struct tta_header *)seg;
	for (unsigned i = 0; i < n_extra; i++)
		h->regions[h->region_count++] = extra[i];
	h->segment_size = total;
	tta_segment_format_extras(seg, &g, &FUZZ_SIZES);
	/* Fixed identity: a run's inputs must replay the same way. */
	h->created_realtime_ns = UINT64_C(1700000000000000000);
	h->creator_pid = 1234;
	h->ready = TTA_READY_VALUE;
	*size = (size_t)total;
	return seg;
}

#endif
