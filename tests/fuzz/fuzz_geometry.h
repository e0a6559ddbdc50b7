/*
 * fuzz_geometry.h - the small segment geometries the fuzz harness builds
 * valid headers for, shared with the seed maker (make_seeds.c) so seeds in
 * structured form line up with what the harness reconstructs.
 */
#ifndef TTA_FUZZ_GEOMETRY_H
#define TTA_FUZZ_GEOMETRY_H

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
};

/* Small, so a whole segment fits in one input: 1 slot / 1 bitmap word /
 * 2 bitmap words (33 slots), 1..3 chunks. */
static const struct fuzz_geometry fuzz_geometries[] = {
	{ 1, 1, 64 },
	{ 2, 4, 128 },
	{ 3, 33, 192 },
};
#define FUZZ_GEOMETRIES (sizeof fuzz_geometries / sizeof fuzz_geometries[0])

/* A zeroed segment of geometry FG with a valid, ready header (as the
 * creator writes it). Returns malloc'd memory and its size, or NULL. */
static inline uint8_t *fuzz_build_segment(const struct fuzz_geometry *fg, size_t *size)
{
	struct tta_geometry g;
	if (tta_geometry_compute(fg->devices, fg->slots, fg->records, &g) != 0)
		return NULL;
	uint8_t *seg = calloc(1, g.segment_size);
	if (seg == NULL)
		return NULL;
	tta_segment_format(seg, &g, 0600);
	struct tta_header *h = (struct tta_header *)seg;
	/* Fixed identity: a run's inputs must replay the same way. */
	h->created_realtime_ns = UINT64_C(1700000000000000000);
	h->creator_pid = 1234;
	h->ready = TTA_READY_VALUE;
	*size = (size_t)g.segment_size;
	return seg;
}

#endif
