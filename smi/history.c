/*
 * history.c - tt-smi's window on the segment's history. Contract in
 * history.h.
 */
#include "history.h"

#include <errno.h>
#include <stdlib.h>

#include <tt-alloc/history.h>

struct smi_history {
	tta_history *h;
};

int smi_history_load(tta_reader *reader, uint32_t seconds, struct smi_history **out, char *err,
		     size_t errlen)
{
	struct smi_history *sh = calloc(1, sizeof *sh);
	if (!sh)
		return -ENOMEM;
	int rc = tta_history_take(reader, -1, seconds, &sh->h, err, errlen);
	if (rc < 0) {
		free(sh);
		return rc;
	}
	*out = sh;
	return 0;
}

void smi_history_free(struct smi_history *h)
{
	if (!h)
		return;
	tta_history_free(h->h);
	free(h);
}

bool smi_history_available(const struct smi_history *h)
{
	return h && tta_history_available(h->h);
}

uint32_t smi_history_seconds(const struct smi_history *h)
{
	return h ? tta_history_seconds(h->h) : 0;
}

/* Index of DEVICE among the history's devices, or -1. */
static long find(const struct smi_history *h, uint32_t device)
{
	if (!h)
		return -1;
	size_t n = tta_history_device_count(h->h);
	for (size_t i = 0; i < n; i++)
		if (tta_history_device(h->h, i)->id == device)
			return (long)i;
	return -1;
}

bool smi_history_type_peak(const struct smi_history *h, uint32_t device, unsigned type,
			   int64_t *peak)
{
	long i = find(h, device);
	if (i < 0 || type >= TTA_MEM_TYPES)
		return false;
	*peak = tta_history_device(h->h, (size_t)i)->peak[type];
	return true;
}

bool smi_history_pool_peak(const struct smi_history *h, uint32_t device, unsigned pool,
			   int64_t *peak)
{
	long i = find(h, device);
	if (i < 0 || pool >= TTA_MEM_POOLS)
		return false;
	const struct tta_history_device *d = tta_history_device(h->h, (size_t)i);
	bool any = false;
	int64_t best = 0;
	for (size_t s = 0; s < d->sample_count; s++) {
		const struct tta_history_sample *sample = tta_history_sample(h->h, (size_t)i, s);
		if (!sample || !sample->known)
			continue;
		int64_t v = tta_mem_pool_used(sample->used, pool);
		if (!any || v > best)
			best = v;
		any = true;
	}
	if (any)
		*peak = best;
	return any;
}

size_t smi_history_pool_series(const struct smi_history *h, uint32_t device, unsigned pool,
			       size_t n, int64_t *values, bool *known)
{
	for (size_t k = 0; k < n; k++) {
		values[k] = 0;
		known[k] = false;
	}
	long i = find(h, device);
	if (i < 0 || pool >= TTA_MEM_POOLS || tta_history_interval_ms(h->h) != TTA_HISTORY_FINE_MS)
		return 0;
	const struct tta_history_device *d = tta_history_device(h->h, (size_t)i);
	size_t count = d->sample_count, got = 0;
	/* The newest sample is the current second: align it with VALUES[N-1]. */
	for (size_t k = 0; k < n && k < count; k++) {
		const struct tta_history_sample *sample =
			tta_history_sample(h->h, (size_t)i, count - 1 - k);
		if (!sample || !sample->known)
			continue;
		values[n - 1 - k] = tta_mem_pool_used(sample->used, pool);
		known[n - 1 - k] = true;
		got++;
	}
	return got;
}
