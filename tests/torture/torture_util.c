/*
 * torture_util.c - small helpers shared by the torture roles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "torture.h"

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

size_t shared_size(uint32_t max_cells)
{
	size_t n = sizeof(struct shared) + (size_t)max_cells * sizeof(struct cell);
	return (n + 4095) / 4096 * 4096;
}

struct shared *shared_map(int fd, size_t *size_out)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(struct shared))
		return NULL;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (size_out)
		*size_out = (size_t)st.st_size;
	return p;
}

void cell_ledger_sum(const struct cell *c, int64_t bytes[TORTURE_DEVICES][TORTURE_TYPES],
		     int64_t buffers[TORTURE_DEVICES])
{
	memset(bytes, 0, sizeof(int64_t) * TORTURE_DEVICES * TORTURE_TYPES);
	memset(buffers, 0, sizeof(int64_t) * TORTURE_DEVICES);
	for (int t = 0; t < TORTURE_THREADS; t++)
		for (int d = 0; d < TORTURE_DEVICES; d++) {
			for (int k = 0; k < TORTURE_TYPES; k++)
				bytes[d][k] += load64s(&c->th[t].bytes[d][k]);
			buffers[d] += load64s(&c->th[t].buffers[d]);
		}
}
