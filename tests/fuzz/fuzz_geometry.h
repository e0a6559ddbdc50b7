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
	struct tta_header *h = (struct tta_header *)seg;
	h->magic = TTA_MAGIC;
	h->abi_version = TTA_ABI_VERSION;
	h->header_size = sizeof *h;
	h->layout_word = TTA_LAYOUT_WORD;
	h->segment_size = g.segment_size;
	h->device_capacity = g.device_capacity;
	h->slot_capacity = g.slot_capacity;
	h->record_capacity = g.record_capacity;
	h->chunk_records = TTA_RECORDS_PER_CHUNK;
	h->off_devices = g.off_devices;
	h->off_slots = g.off_slots;
	h->off_counters = g.off_counters;
	h->off_live_slots = g.off_live_slots;
	h->off_device_users = g.off_device_users;
	h->bitmap_stride = g.bitmap_stride;
	h->off_chunks = g.off_chunks;
	h->off_records = g.off_records;
	h->created_realtime_ns = UINT64_C(1700000000000000000);
	h->creator_pid = 1234;
	h->mode = 0600;
	h->ready = TTA_READY_VALUE;
	*size = (size_t)g.segment_size;
	return seg;
}

#endif
