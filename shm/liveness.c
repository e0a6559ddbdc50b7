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
#include <poll.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tta_segment.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int tta_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0u);
}

void tta_reaper_watch_close(struct tta_reaper_watch *w)
{
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	w->pid = 0;
	w->start_time = 0;
}

/* tta_proc_incarnation_alive for the reaper, through W when there is one. */
static int reaper_alive(pid_t pid, uint64_t start, struct tta_reaper_watch *w)
{
	if (w == NULL)
		return tta_proc_incarnation_alive(pid, start);
	if (w->pidfd >= 0 && w->pid == pid && w->start_time == start) {
		struct pollfd p = { .fd = w->pidfd, .events = POLLIN };
		int n = poll(&p, 1, 0);
		if (n == 0)
			return 1; /* the incarnation we verified has not exited */
		/* Exited, or the fd is no longer ours (closed under the library):
		 * ask /proc, and watch afresh below. */
	}
	tta_reaper_watch_close(w);
	int alive = tta_proc_incarnation_alive(pid, start);
	if (alive != 1)
		return alive;
	int fd = tta_pidfd_open(pid);
	if (fd < 0)
		return alive;
	/* The pid may have died and been reused between the check and the
	 * open: only a second check after it proves the fd names this one. */
	if (tta_proc_incarnation_alive(pid, start) != 1) {
		close(fd);
		return tta_proc_incarnation_alive(pid, start);
	}
	w->pidfd = fd;
	w->pid = pid;
	w->start_time = start;
	return 1;
}

static void judge(const struct tta_segment *seg, struct tta_reaper_watch *watch,
		  struct tta_reaper_judgement *out)
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
	int alive = pid <= 0x3fffffff ? reaper_alive((pid_t)pid, start, watch) : 0;
	if (alive == 0)
		out->status = TTA_REAPER_STATUS_GONE;
	else if (alive < 0)
		out->status = TTA_REAPER_STATUS_UNKNOWN;
	else if (out->heartbeat_age_ns > TTA_REAPER_STALL_NS)
		out->status = TTA_REAPER_STATUS_STALLED;
	else
		out->status = TTA_REAPER_STATUS_RUNNING;
}

void tta_reaper_judge(const struct tta_segment *seg, struct tta_reaper_judgement *out)
{
	judge(seg, NULL, out);
}

void tta_reaper_judge_watched(const struct tta_segment *seg, struct tta_reaper_watch *watch,
			      struct tta_reaper_judgement *out)
{
	judge(seg, watch, out);
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
