/*
 * liveness.c - is the reaper there, and is it working? One answer for
 * libtrack (should writers reap dead slots themselves?), the read API (what
 * tt-smi and the exporter show) and the reaper daemon (may it take over?).
 *
 * A registered reaper is judged by its pid + start time (a recycled pid is not
 * it) and by the age of its heartbeat, which the daemon refreshes at least
 * every TTA_REAPER_HEARTBEAT_NS. A reaper whose process exists but whose
 * heartbeat is older than TTA_REAPER_STALL_NS (SIGSTOPped, hung, swapped out
 * for good) is STALLED: it reaps nothing, so writers reap for themselves and
 * a new reaper may take its registration over.
 */
#include <ck_pr.h>
#include <errno.h>
#include <stdint.h>

#include "tta_segment.h"

void tta_reaper_judge(const struct tta_segment *seg, struct tta_reaper_judgement *out)
{
	const struct tta_reaper_reg *reg = &tta_hdr(seg)->reaper;
	uint64_t pid = ck_pr_load_64(&reg->pid);
	uint64_t start = ck_pr_load_64(&reg->start_time);
	uint64_t beat = ck_pr_load_64(&reg->heartbeat_ns);
	uint64_t now = tta_now_mono_ns();
	out->pid = pid <= INT32_MAX ? (int32_t)pid : -1;
	out->start_time = start;
	out->heartbeat_age_ns = now > beat ? now - beat : 0;
	if (pid == 0) {
		out->status = TTA_REAPER_STATUS_NONE;
		return;
	}
	int alive = pid <= 0x3fffffff ? tta_proc_incarnation_alive((pid_t)pid, start) : 0;
	if (alive == 0)
		out->status = TTA_REAPER_STATUS_GONE;
	else if (alive < 0)
		out->status = TTA_REAPER_STATUS_UNKNOWN;
	else if (out->heartbeat_age_ns > TTA_REAPER_STALL_NS)
		out->status = TTA_REAPER_STATUS_STALLED;
	else
		out->status = TTA_REAPER_STATUS_RUNNING;
}

int tta_reaper_register(struct tta_segment *seg, int32_t pid, uint64_t start_time,
			struct tta_reaper_judgement *previous)
{
	struct tta_reaper_reg *reg = &tta_hdr(seg)->reaper;
	for (int tries = 0; tries < 16; tries++) {
		tta_reaper_judge(seg, previous);
		uint64_t old = ck_pr_load_64(&reg->pid);
		if (old != 0 && old != (uint64_t)pid && previous->status == TTA_REAPER_STATUS_RUNNING)
			return -EBUSY;
		/* Heartbeat first, so nobody judges the new holder stalled by the
		 * old holder's age in between. */
		ck_pr_store_64(&reg->heartbeat_ns, tta_now_mono_ns());
		if (ck_pr_cas_64(&reg->pid, old, (uint64_t)pid)) {
			ck_pr_store_64(&reg->start_time, start_time);
			ck_pr_store_64(&reg->registered_realtime_ns, tta_now_realtime_ns());
			return 0;
		}
	}
	return -EAGAIN;
}

bool tta_reaper_heartbeat(struct tta_segment *seg, int32_t pid)
{
	struct tta_reaper_reg *reg = &tta_hdr(seg)->reaper;
	if (ck_pr_load_64(&reg->pid) != (uint64_t)pid)
		return false;
	ck_pr_store_64(&reg->heartbeat_ns, tta_now_mono_ns());
	return true;
}

void tta_reaper_unregister(struct tta_segment *seg, int32_t pid)
{
	/* Only if it is still ours; the start time stays (pid 0 means none),
	 * since clearing it could clobber a successor's. */
	ck_pr_cas_64(&tta_hdr(seg)->reaper.pid, (uint64_t)pid, 0);
}
