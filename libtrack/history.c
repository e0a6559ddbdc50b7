/*
 * history.c - reading the history region (contract in <tt-alloc/history.h>;
 * the region's layout and how writers record it: docs/segment.md and
 * shm/history.c).
 *
 * A recorded sample for interval n holds the device total at n's start
 * (B(n)); nothing is recorded for an interval without a change. So for an
 * interval without a sample, B(n) equals the next recorded sample's value
 * (nothing changed in between), or the live total when no later sample
 * exists: the series is filled from the newest end. A sample a writer
 * claimed but never finished (odd stamp) makes B(n) unknowable for its
 * interval and the idle ones before it, back to the previous recorded
 * sample: those are marked unknown, never guessed.
 */
#include <ck_pr.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt-alloc/history.h"
#include "read_priv.h"
#include "tta_segment.h"

#define TTA_EXPORT __attribute__((visibility("default")))

#define DEFAULT_SECONDS 600u
#define MAX_SECONDS (2u * 86400u)

struct tta_history {
	int available;
	uint32_t interval_ms, seconds;
	size_t n_devices;
	struct tta_history_device *devices;
	struct tta_history_sample **samples; /* [n_devices][sample_count] */
};

enum seen { SEEN_NONE = 0, SEEN_RECORDED, SEEN_TORN };

struct raw {
	uint8_t seen;
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES];
};

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

static int64_t total_of(const int64_t *used)
{
	uint64_t sum = 0;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		sum += (uint64_t)used[t];
	return (int64_t)sum;
}

/* Fills SAMPLES[0..K-1] (intervals FIRST..FIRST+K-1) of device D from RAW and
 * LIVE; returns whether anything was recorded or torn in the window. */
static bool fill_device(struct tta_history_device *dev, struct tta_history_sample *samples,
			const struct raw *raw, size_t k, uint64_t first, uint64_t interval_ns,
			int64_t rt_offset_ns, const uint64_t live[TTA_LAYOUT_MEM_TYPES])
{
	bool any = false;
	uint64_t carry[TTA_LAYOUT_MEM_TYPES];
	memcpy(carry, live, sizeof carry);
	int known = 1;
	for (size_t i = k; i-- > 0;) {
		struct tta_history_sample *s = &samples[i];
		if (raw[i].seen == SEEN_RECORDED) {
			memcpy(carry, raw[i].bytes, sizeof carry);
			known = 1;
			dev->recorded_count++;
			any = true;
		} else if (raw[i].seen == SEEN_TORN) {
			known = 0;
			any = true;
		}
		/* Modulo 2^64: a forged clock or stamp gives a wrong time, never UB. */
		s->realtime_ns = (first + i) * interval_ns + (uint64_t)rt_offset_ns;
		for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			s->used[t] = (int64_t)carry[t];
		s->known = known;
		s->recorded = raw[i].seen == SEEN_RECORDED;
	}
	/* Unknown stretches repeat the last known earlier value (the only
	 * figure a chart can draw without inventing one); zeros if none. */
	const struct tta_history_sample *last_known = NULL;
	for (size_t i = 0; i < k; i++) {
		struct tta_history_sample *s = &samples[i];
		if (s->known)
			last_known = s;
		else if (last_known != NULL)
			memcpy(s->used, last_known->used, sizeof s->used);
		else
			memset(s->used, 0, sizeof s->used);
		s->total = total_of(s->used);
	}
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		dev->peak[t] = (int64_t)live[t];
	int64_t live_used[TTA_MEM_TYPES];
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		live_used[t] = (int64_t)live[t];
	dev->peak_total = total_of(live_used);
	for (size_t i = 0; i < k; i++) {
		if (!samples[i].known)
			continue;
		for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
			if (samples[i].used[t] > dev->peak[t])
				dev->peak[t] = samples[i].used[t];
		if (samples[i].total > dev->peak_total)
			dev->peak_total = samples[i].total;
	}
	return any;
}

static bool device_shown(const struct tta_segment *seg, uint32_t d,
			 const uint64_t live[TTA_LAYOUT_MEM_TYPES], uint32_t processes)
{
	if (ck_pr_load_64(&tta_device_at(seg, d)->state) == TTA_DEVICE_PUBLISHED || processes)
		return true;
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		if (live[t] != 0)
			return true;
	return false;
}

/* The body of tta_history_take, inside the SIGBUS guard. */
static int read_history(const struct tta_segment *seg, tta_history *h, int32_t device,
			uint64_t mono_now, int64_t rt_offset, bool fine)
{
	const struct tta_history_geo *g = &seg->hist;
	uint64_t interval_ns = fine ? g->fine_ns : g->coarse_ns;
	uint32_t count = fine ? g->fine_count : g->coarse_count;
	uint64_t want = ((uint64_t)h->seconds * 1000000000u + interval_ns - 1) / interval_ns;
	/* count - 2: the interval being written and the oldest (maybe being
	 * overwritten) are never mistaken for one another. */
	if (want > count - 2u)
		want = count - 2u;
	if (want == 0)
		want = 1;
	uint64_t now_n = mono_now / interval_ns;
	uint64_t first = now_n + 1 >= want ? now_n + 1 - want : 0;
	/* Nothing was recorded before the segment existed (its creation time
	 * is untrusted: unsigned arithmetic, and only a moment in the window
	 * counts). */
	uint64_t created_mono =
		ck_pr_load_64(&tta_hdr(seg)->created_realtime_ns) - (uint64_t)rt_offset;
	if (created_mono <= mono_now && created_mono / interval_ns > first)
		first = created_mono / interval_ns;
	size_t k = (size_t)(now_n - first + 1);

	struct raw *raw = calloc(k, sizeof *raw);
	if (raw == NULL)
		return -ENOMEM;
	uint32_t lo = device >= 0 ? (uint32_t)device : 0;
	uint32_t hi = device >= 0 ? (uint32_t)device + 1 : g->devices;
	if (hi > g->devices)
		hi = g->devices;
	int rc = 0;
	for (uint32_t d = lo; d < hi; d++) {
		uint64_t live[TTA_LAYOUT_MEM_TYPES];
		uint32_t processes = 0;
		tta_device_sum(seg, d, live, NULL, &processes);
		bool any = false;
		for (size_t i = 0; i < k; i++) {
			uint64_t n = first + i, stamp;
			const struct tta_history_slot *slot =
				fine ? tta_history_fine_at(seg, d, (uint32_t)(n % count))
				     : tta_history_coarse_at(seg, d, (uint32_t)(n % count));
			bool complete = tta_history_read_slot(slot, &stamp, raw[i].bytes);
			raw[i].seen = complete && stamp == 2 * n + 2 ? SEEN_RECORDED
				      : stamp == 2 * n + 1	     ? SEEN_TORN
								     : SEEN_NONE;
			any |= raw[i].seen != SEEN_NONE;
		}
		if (device < 0 && !any && !device_shown(seg, d, live, processes))
			continue;
		struct tta_history_sample *samples = calloc(k, sizeof *samples);
		if (samples == NULL) {
			rc = -ENOMEM;
			break;
		}
		/* Stored before anything else can fault: freed with H. */
		h->samples[h->n_devices] = samples;
		struct tta_history_device *dev = &h->devices[h->n_devices++];
		memset(dev, 0, sizeof *dev);
		dev->id = d;
		dev->sample_count = k;
		fill_device(dev, samples, raw, k, first, interval_ns, rt_offset, live);
	}
	free(raw);
	return rc;
}

int tta_history_take_at(tta_reader *r, int32_t device, uint32_t seconds, uint64_t mono_now,
			uint64_t realtime_now, tta_history **out, char *err, size_t errlen)
{
	*out = NULL;
	if (seconds == 0)
		seconds = DEFAULT_SECONDS;
	if (r == NULL || device < -1 ||
	    (device >= 0 && (uint32_t)device >= r->seg.geo.device_capacity))
		return tta_fail(err, errlen, -EINVAL, "invalid history arguments (device %d)",
				(int)device);
	if (seconds > MAX_SECONDS)
		return tta_fail(err, errlen, -EINVAL,
				"history span of %u s is too long: at most %u s (%u days)", seconds,
				MAX_SECONDS, MAX_SECONDS / 86400u);
	int rc = tta_reader_usable(r, err, errlen);
	if (rc != 0)
		return rc;
	const struct tta_segment *seg = &r->seg;
	tta_history *h = calloc(1, sizeof *h);
	if (h == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	h->seconds = seconds;
	h->interval_ms = TTA_HISTORY_FINE_MS;
	if (seg->hist.devices == 0) {
		*out = h; /* an older segment: no history, not an error */
		return 0;
	}
	h->available = 1;
	bool fine = (uint64_t)seconds * 1000000000u <=
		    (uint64_t)(seg->hist.fine_count - 2u) * seg->hist.fine_ns;
	h->interval_ms = (uint32_t)((fine ? seg->hist.fine_ns : seg->hist.coarse_ns) / 1000000u);
	h->devices = calloc(seg->hist.devices, sizeof *h->devices);
	h->samples = calloc(seg->hist.devices, sizeof *h->samples);
	if (h->devices == NULL || h->samples == NULL) {
		tta_history_free(h);
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	}
	int64_t rt_offset = (int64_t)(realtime_now - mono_now);
	sigjmp_buf jump, *outer;
	BUS_GUARD(jump, outer, goto faulted);
	rc = read_history(seg, h, device, mono_now, rt_offset, fine);
	BUS_GUARD_END(outer);
	if (rc != 0) {
		tta_history_free(h);
		return tta_fail(err, errlen, rc, "cannot read the history of segment %s: out of memory",
				seg->name);
	}
	*out = h;
	return 0;
faulted:
	tta_history_free(h);
	return tta_fail(err, errlen, -EFAULT,
			"segment %s became unreadable (SIGBUS: truncated under the reader)", seg->name);
}

TTA_EXPORT int tta_history_take(tta_reader *r, int32_t device, uint32_t seconds, tta_history **out,
				char *err, size_t errlen)
{
	/* Both clocks at one moment: their difference places the samples
	 * (monotonic instants) on the UNIX time line. */
	struct timespec mono, rt;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	return tta_history_take_at(r, device, seconds,
				   (uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec,
				   (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec, out, err,
				   errlen);
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
