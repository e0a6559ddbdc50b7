/*
 * tta_test_util.h - helpers the core tests share: summing what a segment
 * says three ways (device totals, per process, per record) so invariant 4
 * can be asserted exactly.
 */
#ifndef TTA_TEST_UTIL_H
#define TTA_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "tt-alloc/reader.h"
#include "tta_health.h"
#include "tta_test.h"

struct tta_sums {
	int64_t device[8][TTA_MEM_TYPES]; /* from tta_reader_device */
	int64_t device_buffers[8];
	int64_t process[8][TTA_MEM_TYPES]; /* sum of tta_reader_foreach_process */
	int64_t process_buffers[8];
	int64_t records[8][TTA_MEM_TYPES]; /* sum of live records */
	int64_t record_count[8];
	int processes;
};

static int tta_sum_proc_cb(const struct tta_process_view *p, uint32_t dev, const int64_t *used,
			   int64_t buffers, void *ctx)
{
	struct tta_sums *s = ctx;
	(void)p;
	if (dev >= 8)
		return 0;
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		s->process[dev][t] += used[t];
	s->process_buffers[dev] += buffers;
	return 0;
}

static int tta_sum_buf_cb(const struct tta_buffer_view *b, void *ctx)
{
	struct tta_sums *s = ctx;
	if (b->device < 8) {
		s->records[b->device][b->type] += (int64_t)b->size;
		/* Buffers are allocations with a free event: not kernels. */
		if (b->type != TTA_MEM_KERNEL)
			s->record_count[b->device]++;
	}
	return 0;
}

/* Reads the three views of devices 0..7 of the current TT_ALLOC_SHM. */
static inline void tta_sums_read(struct tta_sums *s)
{
	memset(s, 0, sizeof *s);
	tta_reader *r;
	char err[512];
	int rc = tta_reader_open(NULL, &r, err, sizeof err);
	CHECK(rc == 0, "reader open: %s", err);
	uint32_t devs = tta_reader_device_capacity(r);
	for (uint32_t d = 0; d < 8 && d < devs; d++) {
		struct tta_device_view v;
		CHECK(tta_reader_device(r, d, &v) == 0, "device %u", d);
		memcpy(s->device[d], v.used, sizeof v.used);
		s->device_buffers[d] = v.buffers;
	}
	tta_reader_foreach_process(r, tta_sum_proc_cb, s);
	tta_reader_foreach_buffer(r, NULL, tta_sum_buf_cb, s);
	struct tta_test_health h;
	tta_test_health_read(r, &h);
	s->processes = (int)h.live_processes;
	tta_reader_close(r);
}

/* Invariant 4: device total = sum over processes = sum of live records. */
static inline void tta_sums_check_consistent(const struct tta_sums *s)
{
	for (int d = 0; d < 8; d++) {
		for (int t = 0; t < TTA_MEM_TYPES; t++) {
			CHECK(s->device[d][t] == s->process[d][t],
			      "dev %d type %d: device total %lld != process sum %lld", d, t,
			      (long long)s->device[d][t], (long long)s->process[d][t]);
			CHECK(s->device[d][t] == s->records[d][t],
			      "dev %d type %d: device total %lld != record sum %lld", d, t,
			      (long long)s->device[d][t], (long long)s->records[d][t]);
		}
		CHECK(s->device_buffers[d] == s->record_count[d],
		      "dev %d: buffers %lld != live records %lld", d,
		      (long long)s->device_buffers[d], (long long)s->record_count[d]);
	}
}

static inline int64_t tta_sums_total(const struct tta_sums *s)
{
	int64_t n = 0;
	for (int d = 0; d < 8; d++)
		for (int t = 0; t < TTA_MEM_TYPES; t++)
			n += s->device[d][t];
	return n;
}

/* Deterministic per-process random numbers (xorshift). */
static inline uint64_t tta_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

#endif
