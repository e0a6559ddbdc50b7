/*
 * history.c - reading the history region (contract in <tt-alloc/history.h>).
 * Stub: the region is not read yet; every history is empty.
 */
#include <errno.h>
#include <stdlib.h>

#include "tt-alloc/history.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))

struct tta_history {
	int available;
	uint32_t interval_ms, seconds;
	size_t n_devices;
	struct tta_history_device *devices;
	struct tta_history_sample **samples;
};

TTA_EXPORT int tta_history_take(tta_reader *reader, int32_t device, uint32_t seconds,
				tta_history **out, char *err, size_t errlen)
{
	*out = NULL;
	if (reader == NULL || device < -1)
		return tta_fail(err, errlen, -EINVAL, "invalid history arguments");
	tta_history *h = calloc(1, sizeof *h);
	if (h == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	h->interval_ms = 1000;
	h->seconds = seconds ? seconds : 600;
	*out = h;
	return 0;
}

TTA_EXPORT void tta_history_free(tta_history *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_devices; i++)
		free(h->samples[i]);
	free(h->samples);
	free(h->devices);
	free(h);
}

TTA_EXPORT int tta_history_available(const tta_history *h)
{
	return h->available;
}

TTA_EXPORT uint32_t tta_history_interval_ms(const tta_history *h)
{
	return h->interval_ms;
}

TTA_EXPORT uint32_t tta_history_seconds(const tta_history *h)
{
	return h->seconds;
}

TTA_EXPORT size_t tta_history_device_count(const tta_history *h)
{
	return h->n_devices;
}

TTA_EXPORT const struct tta_history_device *tta_history_device(const tta_history *h, size_t i)
{
	return i < h->n_devices ? &h->devices[i] : NULL;
}

TTA_EXPORT const struct tta_history_sample *tta_history_sample(const tta_history *h, size_t i,
							       size_t sample)
{
	if (i >= h->n_devices || sample >= h->devices[i].sample_count)
		return NULL;
	return &h->samples[i][sample];
}
