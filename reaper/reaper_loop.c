/*
 * reaper_loop.c - the tt-alloc-reaper engine.
 *
 * How a dead process is noticed:
 *  - Every LIVE slot owned by a process of our pid namespace is watched
 *    through a pidfd in one epoll set; the pidfd turns readable the moment the
 *    process exits (zombie or not), and the slot is reaped at once with the
 *    state word seen when the watch was set, so a slot re-claimed meanwhile
 *    is never touched (tta_reap_slot is a CAS on that word).
 *  - Identity is checked after pidfd_open: the pid's /proc start time must
 *    equal the slot's; otherwise the pid was reused and the owner is dead.
 *  - New registrations: writers bump header->registry_seq and FUTEX_WAKE it
 *    (a shared futex). A watcher thread waits on it and pokes an eventfd in
 *    the epoll set, so a new slot is watched within milliseconds.
 *  - A periodic rescan (--scan-interval, 1 s) is the safety net: it reaps
 *    CLAIMED slots abandoned mid-attach, REAPING slots whose reaper died, and
 *    whatever could not be watched (fd limits, another tool's corruption).
 * Restart: on start the whole table is rescanned, so whatever died while no
 * reaper ran is reaped then.
 * Trust: slot contents are copied and re-validated against the state word
 * (seqlock style) before use; pids 0 and 1 are never watched; every loop is
 * bounded by the capacities validated at open. The reaper never signals.
 */
#include "reaper.h"

#include <ck_pr.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* epoll cookies: pidfds carry (serial << 32 | slot); the two fixed fds use
 * values no slot cookie can take (slots are < TTA_MAX_SLOTS). */
#define COOKIE_SIGNAL UINT64_MAX
#define COOKIE_REGISTRY (UINT64_MAX - 1)

enum reap_reason {
	REASON_EXITED,     /* its pidfd turned readable */
	REASON_GONE,       /* no such process (or a zombie) when we looked */
	REASON_PID_REUSED, /* the pid now belongs to another process */
	REASON_RESCAN      /* judged dead by the periodic rescan */
};

struct watch {
	int pidfd;           /* -1: no pidfd */
	bool settled;        /* this state word has been dealt with (watched,
				foreign namespace, untrusted pid) */
	uint32_t serial;     /* part of the epoll cookie of PIDFD */
	uint64_t state;      /* slot state word the decision was made for */
	uint64_t start_time; /* slot start time verified against /proc */
};

struct slot_snapshot {
	uint64_t start_time, pidns_ino;
	uint32_t uid;
	char comm[17];
};

struct reaper {
	const struct reaper_options *opts;
	struct tta_segment seg;
	uint32_t slots; /* validated slot capacity: bounds every table walk */
	struct watch *watch;
	uint32_t next_serial;
	uint64_t pidns_ino;
	pid_t self;
	uint64_t self_start;
	bool registered;
	int epfd, sigfd, evfd;

	pthread_t watcher;
	bool watcher_running;
	int watcher_stop; /* __atomic */

	uint64_t reaped, leaky, reaped_at_start;
	int stop_signal;

	/* leak report text of the reap in progress */
	FILE *leak_fp;
	bool report_seen;
	uint64_t report_buffers, report_bytes;

	/* log-once state */
	uint64_t foreign_ns[16];
	unsigned n_foreign_ns;
	bool warned_pidfd_enosys, warned_fd_limit, warned_proc, warned_segment_gone,
		warned_takeover;
};

static uint64_t now_ns(void)
{
	return tta_now_mono_ns();
}

/* ------------------------------------------------------------------------ */
/* Slot reading                                                              */

/* Copies the identity of SLOT and confirms its state word is still STATE
 * afterwards, so the copy belongs to that incarnation. Returns false if the
 * slot changed meanwhile. */
static bool snapshot_slot(struct reaper *r, uint32_t slot, uint64_t state,
			  struct slot_snapshot *out)
{
	struct tta_slot *s = tta_slot_at(&r->seg, slot);
	if (ck_pr_load_64(&s->state) != state)
		return false;
	ck_pr_fence_load();
	out->start_time = ck_pr_load_64(&s->start_time);
	out->pidns_ino = ck_pr_load_64(&s->pidns_ino);
	out->uid = ck_pr_load_32(&s->uid);
	char raw[sizeof s->comm];
	memcpy(raw, (const void *)s->comm, sizeof raw);
	ck_pr_fence_load();
	if (ck_pr_load_64(&s->state) != state)
		return false;
	reaper_sanitize(raw, sizeof raw, out->comm, sizeof out->comm);
	return true;
}

static const char *reason_text(enum reap_reason why, uint64_t state)
{
	switch (why) {
	case REASON_EXITED:
		return "exited";
	case REASON_GONE:
		return "was already gone";
	case REASON_PID_REUSED:
		return "is gone (its pid now belongs to another process)";
	case REASON_RESCAN:
		break;
	}
	switch (TTA_SLOT_PHASE(state)) {
	case TTA_SLOT_CLAIMED:
		return "died while attaching";
	case TTA_SLOT_REAPING:
		return "was being reaped by a process that died (taken over)";
	default:
		return "is gone";
	}
}

/* ------------------------------------------------------------------------ */
/* Reaping                                                                   */

static void on_report(const struct tta_reap_report *report, void *ctx)
{
	struct reaper *r = ctx;
	r->report_seen = true;
	r->report_buffers = report->buffers;
	r->report_bytes = report->bytes;
	reaper_format_leak(r->leak_fp ? r->leak_fp : stderr, report, r->seg.geo.device_capacity,
			   r->opts->max_listed, now_ns());
}

/* Reaps SLOT if its state word is still STATE; logs the outcome.
 * Returns tta_reap_slot's result. */
static int reap(struct reaper *r, uint32_t slot, uint64_t state, enum reap_reason why)
{
	struct slot_snapshot snap;
	if (!snapshot_slot(r, slot, state, &snap))
		snprintf(snap.comm, sizeof snap.comm, "?");

	char *text = NULL;
	size_t text_len = 0;
	r->leak_fp = open_memstream(&text, &text_len);
	r->report_seen = false;
	int rc = tta_reap_slot(&r->seg, slot, state, r->opts->max_listed, on_report, r);
	if (r->leak_fp)
		fclose(r->leak_fp);
	r->leak_fp = NULL;

	int pid = TTA_SLOT_PID(state);
	if (rc == 1 || rc == -ENOMEM) {
		r->reaped++;
		if (r->report_seen) {
			char b[64];
			r->leaky++;
			/* The summary line and its leak report go out in one write,
			 * so a reaper killed mid-log never leaves half a report. */
			char *whole = NULL;
			int n = asprintf(&whole,
					 "reaped pid %d (%s) slot %" PRIu32 ": %s; left %" PRId64
					 " buffer%s, %s\n%.*s",
					 pid, snap.comm, slot, reason_text(why, state),
					 (int64_t)r->report_buffers, r->report_buffers == 1 ? "" : "s",
					 reaper_fmt_bytes(r->report_bytes, b, sizeof b),
					 (int)(text ? text_len : 0), text ? text : "");
			if (n > 0)
				reaper_log_block(RLOG_NOTICE, whole, (size_t)n);
			free(whole);
		} else if (rc == -ENOMEM) {
			reaper_log(RLOG_WARN,
				   "reaped pid %d (%s) slot %" PRIu32
				   ": %s; its leak report was lost (out of memory)",
				   pid, snap.comm, slot, reason_text(why, state));
		} else {
			reaper_log(RLOG_INFO,
				   "reaped pid %d (%s) slot %" PRIu32 ": %s; nothing left allocated",
				   pid, snap.comm, slot, reason_text(why, state));
		}
	} else if (rc == 0) {
		reaper_log(RLOG_DEBUG, "slot %" PRIu32 " (pid %d) changed before we reaped it", slot,
			   pid);
	} else {
		reaper_log(RLOG_ERR, "reaping slot %" PRIu32 " (pid %d) failed: %s", slot, pid,
			   strerror(-rc));
	}
	free(text);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Watches                                                                   */

static void unwatch(struct reaper *r, uint32_t slot)
{
	struct watch *w = &r->watch[slot];
	if (w->pidfd >= 0) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
		close(w->pidfd);
	}
	w->pidfd = -1;
	w->settled = false;
	w->state = 0;
	w->start_time = 0;
}

static void note_foreign_namespace(struct reaper *r, uint64_t ino, uint32_t slot, int pid)
{
	for (unsigned i = 0; i < r->n_foreign_ns; i++)
		if (r->foreign_ns[i] == ino)
			return;
	if (r->n_foreign_ns == sizeof r->foreign_ns / sizeof r->foreign_ns[0])
		return; /* logged plenty already */
	r->foreign_ns[r->n_foreign_ns++] = ino;
	reaper_log(RLOG_INFO,
		   "slot %" PRIu32 " (pid %d) lives in pid namespace %" PRIu64
		   ", not ours (%" PRIu64 "): its processes are left to writers in that "
		   "namespace",
		   slot, pid, ino, r->pidns_ino);
}

/* Brings the watch of SLOT in line with its current state word: watches a
 * new LIVE owner, drops the watch of a slot that is no longer LIVE, and reaps
 * at once an owner found dead or impersonated by a reused pid. */
static void sync_slot(struct reaper *r, uint32_t slot)
{
	struct watch *w = &r->watch[slot];
	struct tta_slot *s = tta_slot_at(&r->seg, slot);
	uint64_t state = ck_pr_load_64(&s->state);

	if (TTA_SLOT_PHASE(state) != TTA_SLOT_LIVE) {
		if (w->settled)
			unwatch(r, slot);
		return;
	}
	if (w->settled && w->state == state) {
		/* A start time rewritten under an unchanged state word means the
		 * identity we verified no longer holds: verify again. */
		if (w->pidfd < 0 || ck_pr_load_64(&s->start_time) == w->start_time)
			return;
	}
	unwatch(r, slot);

	struct slot_snapshot snap;
	if (!snapshot_slot(r, slot, state, &snap))
		return; /* changed under us: the next event or rescan sees it */
	int pid = TTA_SLOT_PID(state);
	if (snap.pidns_ino != r->pidns_ino) {
		note_foreign_namespace(r, snap.pidns_ino, slot, pid);
		w->settled = true;
		w->state = state;
		return;
	}
	if (pid <= 1) {
		reaper_log(RLOG_WARN,
			   "slot %" PRIu32 " claims pid %d: not a process the reaper will "
			   "watch; left to the rescan",
			   slot, pid);
		w->settled = true;
		w->state = state;
		return;
	}

	int fd = tta_pidfd_open(pid);
	if (fd < 0) {
		int e = errno;
		if (e == ESRCH) {
			reap(r, slot, state, REASON_GONE);
		} else if (e == EINVAL || e == ENOENT) {
			/* pidfd_open refuses a pid that now names a thread, not a
			 * process (EINVAL before Linux 6.9, ENOENT since): the
			 * owner is gone. /proc confirms it before we act; if it
			 * cannot, the rescan decides. */
			if (tta_proc_incarnation_alive(pid, snap.start_time) == 0)
				reap(r, slot, state, REASON_PID_REUSED);
		} else if (e == ENOSYS || e == EPERM) {
			if (!r->warned_pidfd_enosys)
				reaper_log(RLOG_WARN,
					   "pidfd_open is unavailable (%s): dead processes "
					   "are found by the periodic rescan only",
					   strerror(e));
			r->warned_pidfd_enosys = true;
			w->settled = true;
			w->state = state;
		} else {
			if (!r->warned_fd_limit)
				reaper_log(RLOG_WARN,
					   "cannot watch pid %d: pidfd_open: %s; such processes "
					   "are found by the periodic rescan",
					   pid, strerror(e));
			r->warned_fd_limit = true;
		}
		return;
	}

	/* The pidfd pins whatever process has the pid now; it is the slot's
	 * owner only if it started when the owner did. */
	uint64_t start = 0;
	int rc = tta_proc_start_time(pid, &start);
	if (rc == -ESRCH) {
		close(fd);
		reap(r, slot, state, REASON_GONE);
		return;
	}
	if (rc == 0 && start != snap.start_time) {
		close(fd);
		reaper_log(RLOG_DEBUG,
			   "slot %" PRIu32 ": pid %d started at %" PRIu64 ", the slot's owner at %" PRIu64,
			   slot, pid, start, snap.start_time);
		reap(r, slot, state, REASON_PID_REUSED);
		return;
	}
	if (rc < 0 && !r->warned_proc) {
		reaper_log(RLOG_WARN,
			   "cannot read /proc/%d/stat (%s): watching it without checking its "
			   "identity",
			   pid, strerror(-rc));
		r->warned_proc = true;
	}

	uint32_t serial = ++r->next_serial;
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.u64 = ((uint64_t)serial << 32) | slot };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		reaper_log(RLOG_WARN, "cannot watch pid %d: epoll_ctl: %s", pid, strerror(errno));
		close(fd);
		return;
	}
	w->pidfd = fd;
	w->serial = serial;
	w->settled = true;
	w->state = state;
	w->start_time = snap.start_time;
	reaper_log(RLOG_DEBUG, "watching pid %d (%s) slot %" PRIu32, pid, snap.comm, slot);
}

static void sync_all(struct reaper *r)
{
	for (uint32_t i = 0; i < r->slots; i++)
		sync_slot(r, i);
}

/* The safety net: asks the core about every occupied slot that no verified
 * pidfd covers, and reaps the dead. Returns how many it reaped. */
static unsigned reap_dead(struct reaper *r)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < r->slots; i++) {
		struct tta_slot *s = tta_slot_at(&r->seg, i);
		uint64_t state = ck_pr_load_64(&s->state);
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_FREE)
			continue;
		struct watch *w = &r->watch[i];
		if (w->pidfd >= 0 && w->state == state &&
		    ck_pr_load_64(&s->start_time) == w->start_time)
			continue; /* the pidfd will tell */
		if (tta_slot_owner_dead(&r->seg, i, state) != 1)
			continue;
		if (w->state == state)
			unwatch(r, i);
		enum reap_reason why = REASON_RESCAN;
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_LIVE) {
			uint64_t start;
			int pid = TTA_SLOT_PID(state);
			why = pid > 1 && tta_proc_start_time(pid, &start) == 0 ? REASON_PID_REUSED
									     : REASON_GONE;
		}
		int rc = reap(r, i, state, why);
		if (rc == 1 || rc == -ENOMEM)
			n++;
	}
	/* Chunks tagged for an incarnation that can never be reaped (only a
	 * corrupting writer makes them) would otherwise be lost capacity. */
	int orphans = tta_release_orphan_chunks(&r->seg);
	if (orphans > 0)
		reaper_log(RLOG_WARN, "released %d record chunk%s whose owner tag names no "
				      "live process (a writer corrupted its records)",
			   orphans, orphans == 1 ? "" : "s");
	return n;
}

static void on_pidfd_ready(struct reaper *r, uint64_t cookie)
{
	uint32_t slot = (uint32_t)cookie;
	uint32_t serial = (uint32_t)(cookie >> 32);
	if (slot >= r->slots)
		return;
	struct watch *w = &r->watch[slot];
	if (w->pidfd < 0 || w->serial != serial)
		return; /* a watch replaced earlier in this batch */
	uint64_t state = w->state;
	unwatch(r, slot);
	reap(r, slot, state, REASON_EXITED);
	/* If the slot moved on (exec, or a new owner), watch what is there now. */
	sync_slot(r, slot);
}

/* ------------------------------------------------------------------------ */
/* Registry watcher thread                                                   */

static void *registry_watcher(void *arg)
{
	struct reaper *r = arg;
	uint32_t seen = tta_registry_seq(&r->seg);
	while (!__atomic_load_n(&r->watcher_stop, __ATOMIC_ACQUIRE)) {
		uint32_t now = tta_registry_wait(&r->seg, seen, 1000);
		if (now != seen) {
			seen = now;
			uint64_t one = 1;
			ssize_t n = write(r->evfd, &one, sizeof one);
			(void)n; /* EAGAIN: the counter is already non-zero */
		}
	}
	return NULL;
}

static int start_watcher(struct reaper *r)
{
	__atomic_store_n(&r->watcher_stop, 0, __ATOMIC_RELEASE);
	int rc = pthread_create(&r->watcher, NULL, registry_watcher, r);
	if (rc != 0) {
		reaper_log(RLOG_WARN,
			   "cannot start the registry watcher (%s): new processes are noticed "
			   "by the periodic rescan only",
			   strerror(rc));
		return -rc;
	}
	r->watcher_running = true;
	return 0;
}

static void stop_watcher(struct reaper *r)
{
	if (!r->watcher_running)
		return;
	__atomic_store_n(&r->watcher_stop, 1, __ATOMIC_RELEASE);
	/* Wake it now rather than at its 1 s timeout. Other reapers waiting on
	 * the same word see a spurious wake-up and just wait again. */
	tta_registry_notify(&r->seg);
	pthread_join(r->watcher, NULL);
	r->watcher_running = false;
}

/* ------------------------------------------------------------------------ */
/* Registration in the header                                                */

static const char *reaper_status_word(int status)
{
	switch (status) {
	case TTA_REAPER_STATUS_STALLED:
		return "stalled (its heartbeat stopped)";
	case TTA_REAPER_STATUS_GONE:
		return "gone";
	default:
		return "not visible from here";
	}
}

static int register_self(struct reaper *r)
{
	struct tta_reaper_judgement previous;
	int rc = tta_reaper_register(&r->seg, r->self, r->self_start, &previous);
	if (rc == -EBUSY) {
		reaper_log(RLOG_ERR, "another tt-alloc-reaper (pid %" PRId32 ") already serves %s; "
			   "stop it first", previous.pid, r->seg.name);
		return rc;
	}
	if (rc != 0) {
		reaper_log(RLOG_ERR, "cannot register in %s: the reaper field keeps changing",
			   r->seg.name);
		return rc;
	}
	if (previous.status != TTA_REAPER_STATUS_NONE && previous.pid != r->self)
		reaper_log(RLOG_INFO, "previous reaper (pid %" PRId32 ") is %s; taking over",
			   previous.pid, reaper_status_word(previous.status));
	r->registered = true;
	r->warned_takeover = false;
	return 0;
}

static void heartbeat(struct reaper *r)
{
	if (!r->registered || tta_reaper_heartbeat(&r->seg, r->self))
		return;
	if (!r->warned_takeover) {
		struct tta_reaper_judgement holder;
		tta_reaper_judge(&r->seg, &holder);
		reaper_log(RLOG_WARN,
			   "pid %" PRId32 " took over the reaper registration of %s; still reaping",
			   holder.pid, r->seg.name);
	}
	r->warned_takeover = true;
}

static void unregister_self(struct reaper *r)
{
	if (!r->registered)
		return;
	tta_reaper_unregister(&r->seg, r->self);
	r->registered = false;
}

/* ------------------------------------------------------------------------ */
/* Segment lifetime                                                          */

static int open_segment(struct reaper *r)
{
	char err[TTA_ERR_MAX];
	struct tta_create_params params;
	int rc = tta_create_params_from_env(&params, err, sizeof err);
	if (rc < 0) {
		reaper_log(RLOG_ERR, "%s", err);
		return rc;
	}
	/* --once only inspects: it never creates a segment (a missing one has
	 * nothing to reap). */
	int flags = r->opts->once ? TTA_OPEN_WRITE : TTA_OPEN_CREATE;
	for (int attempt = 0;; attempt++) {
		rc = tta_segment_open(r->opts->segment, flags, &params, &r->seg, err, sizeof err);
		if (rc != -EAGAIN || attempt >= 20)
			break;
		/* Its creator has not published it yet: give it a moment. */
		struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	if (rc == -ENOENT && r->opts->once) {
		reaper_log(RLOG_INFO, "no segment %s (/dev/shm%s): nothing to reap", r->opts->segment,
			   r->opts->segment);
		return rc;
	}
	if (rc < 0) {
		reaper_log(RLOG_ERR, "%s", err);
		return rc;
	}
	r->slots = r->seg.geo.slot_capacity;
	r->watch = calloc(r->slots, sizeof *r->watch);
	if (!r->watch) {
		reaper_log(RLOG_ERR, "out of memory for %" PRIu32 " slot watches", r->slots);
		tta_segment_close(&r->seg);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < r->slots; i++)
		r->watch[i].pidfd = -1;
	return 0;
}

static void close_segment(struct reaper *r)
{
	stop_watcher(r);
	if (r->watch) {
		for (uint32_t i = 0; i < r->slots; i++)
			unwatch(r, i);
		free(r->watch);
		r->watch = NULL;
	}
	unregister_self(r);
	tta_segment_close(&r->seg);
	r->slots = 0;
}

/* True if the segment's name now refers to another file than ours (it was
 * removed and re-created): the reaper must follow the new one. */
static bool segment_replaced(struct reaper *r)
{
	char path[sizeof r->seg.name + 16];
	snprintf(path, sizeof path, "/dev/shm%s", r->seg.name);
	struct stat st;
	if (stat(path, &st) < 0) {
		if (!r->warned_segment_gone)
			reaper_log(RLOG_WARN,
				   "%s was removed; still serving the old segment until a new "
				   "one appears",
				   r->seg.name);
		r->warned_segment_gone = true;
		return false;
	}
	r->warned_segment_gone = false;
	return st.st_dev != r->seg.file_dev || st.st_ino != r->seg.file_ino;
}

static void raise_fd_limit(uint32_t slots)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)slots + 64;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		reaper_log(RLOG_WARN,
			   "open-file limit %llu is below one pidfd per slot (%u); processes "
			   "beyond it are found by the periodic rescan",
			   (unsigned long long)rl.rlim_cur, slots);
}

static void log_startup(struct reaper *r)
{
	uint32_t live = 0, watched = 0, foreign = 0;
	for (uint32_t i = 0; i < r->slots; i++) {
		uint64_t state = ck_pr_load_64(&tta_slot_at(&r->seg, i)->state);
		if (TTA_SLOT_PHASE(state) != TTA_SLOT_LIVE)
			continue;
		live++;
		if (r->watch[i].pidfd >= 0)
			watched++;
		else if (r->watch[i].settled)
			foreign++;
	}
	char size[64];
	reaper_log(RLOG_INFO,
		   "%s %s: %" PRIu32 " device%s, %" PRIu32 " process slot%s, %" PRIu32
		   " buffer records, %s; %" PRIu32 " live process%s (%" PRIu32
		   " watched, %" PRIu32 " not watchable from here); reaped %" PRIu64 " at start",
		   r->opts->once ? "checking" : "serving", r->seg.name, r->seg.geo.device_capacity,
		   r->seg.geo.device_capacity == 1 ? "" : "s", r->slots, r->slots == 1 ? "" : "s",
		   r->seg.geo.record_capacity,
		   reaper_fmt_bytes(r->seg.size, size, sizeof size), live, live == 1 ? "" : "es",
		   watched, foreign, r->reaped_at_start);
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */

enum serve_result { SERVE_STOP, SERVE_REOPEN, SERVE_FAIL };

static void drain_eventfd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof v) > 0) {
	}
}

static enum serve_result serve(struct reaper *r)
{
	uint64_t scan_ns = (uint64_t)r->opts->scan_ms * 1000000u;
	uint64_t next_scan = now_ns() + scan_ns;
	struct epoll_event events[64];

	for (;;) {
		uint64_t now = now_ns();
		int timeout_ms = next_scan > now ? (int)((next_scan - now + 999999u) / 1000000u) : 0;
		/* Wake for the heartbeat even when the rescan is further off, or
		 * readers would judge this reaper stalled. */
		if (timeout_ms > (int)(TTA_REAPER_HEARTBEAT_NS / 1000000u))
			timeout_ms = (int)(TTA_REAPER_HEARTBEAT_NS / 1000000u);
		int n = epoll_wait(r->epfd, events, (int)(sizeof events / sizeof events[0]),
				   timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			reaper_log(RLOG_ERR, "epoll_wait: %s", strerror(errno));
			return SERVE_FAIL;
		}
		heartbeat(r);
		bool resync = false, rescan = false;
		for (int i = 0; i < n; i++) {
			uint64_t cookie = events[i].data.u64;
			if (cookie == COOKIE_SIGNAL) {
				struct signalfd_siginfo si;
				while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
					if (si.ssi_signo == SIGHUP) {
						reaper_log(RLOG_INFO, "SIGHUP: rescanning");
						rescan = true;
					} else {
						r->stop_signal = (int)si.ssi_signo;
					}
				}
			} else if (cookie == COOKIE_REGISTRY) {
				drain_eventfd(r->evfd);
				resync = true;
			} else {
				on_pidfd_ready(r, cookie);
			}
		}
		if (r->stop_signal)
			return SERVE_STOP;
		if (resync)
			sync_all(r);
		now = now_ns();
		if (rescan || now >= next_scan) {
			reap_dead(r);
			sync_all(r);
			if (segment_replaced(r)) {
				reaper_log(RLOG_INFO, "%s was replaced by a new segment; switching to it",
					   r->seg.name);
				return SERVE_REOPEN;
			}
			next_scan = now + scan_ns;
		}
	}
}

static int setup_fds(struct reaper *r, sigset_t *mask)
{
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->sigfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
	r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->epfd < 0 || r->sigfd < 0 || r->evfd < 0) {
		reaper_log(RLOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	struct epoll_event sig = { .events = EPOLLIN, .data.u64 = COOKIE_SIGNAL };
	struct epoll_event reg = { .events = EPOLLIN, .data.u64 = COOKIE_REGISTRY };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->sigfd, &sig) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &reg) < 0) {
		reaper_log(RLOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void close_fds(struct reaper *r)
{
	if (r->evfd >= 0)
		close(r->evfd);
	if (r->sigfd >= 0)
		close(r->sigfd);
	if (r->epfd >= 0)
		close(r->epfd);
	r->evfd = r->sigfd = r->epfd = -1;
}

int reaper_run(const struct reaper_options *opts)
{
	struct reaper r = { .opts = opts, .epfd = -1, .sigfd = -1, .evfd = -1 };
	r.self = getpid();
	if (!tta_proc_is_ours()) {
		reaper_log(RLOG_ERR, "/proc belongs to another pid namespace, so no process here "
				     "can be identified: mount a /proc for this namespace "
				     "(unshare --mount-proc)");
		return 2;
	}
	r.pidns_ino = tta_self_pidns_ino();
	if (tta_proc_start_time(r.self, &r.self_start) < 0)
		r.self_start = 0;
	if (r.pidns_ino == 0)
		reaper_log(RLOG_WARN, "cannot read /proc/self/ns/pid: assuming every writer "
				      "shares this pid namespace");

	/* Signals arrive through the signalfd; block them before the watcher
	 * thread exists so it inherits the mask and never takes them. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stderr must not kill the reaper */

	int status = 0;
	if (setup_fds(&r, &mask) < 0) {
		close_fds(&r);
		return 1;
	}

	for (bool first = true;; first = false) {
		int rc = open_segment(&r);
		if (rc == -ENOENT && opts->once)
			break; /* no segment: nothing to reap, status 0 */
		if (rc < 0) {
			status = first ? 2 : 1;
			break;
		}
		if (!opts->once) {
			raise_fd_limit(r.slots);
			if (register_self(&r) < 0) {
				close_segment(&r);
				status = 1;
				break;
			}
			start_watcher(&r); /* before the first sync: no wake-up is lost */
		}
		uint64_t before = r.reaped;
		reap_dead(&r);
		sync_all(&r);
		r.reaped_at_start = r.reaped - before;
		log_startup(&r);

		if (opts->once) {
			/* Owners that exited between the scan and the watch. */
			struct epoll_event events[64];
			int n;
			while ((n = epoll_wait(r.epfd, events, 64, 0)) > 0) {
				bool progressed = false;
				for (int i = 0; i < n; i++)
					if (events[i].data.u64 != COOKIE_SIGNAL &&
					    events[i].data.u64 != COOKIE_REGISTRY) {
						on_pidfd_ready(&r, events[i].data.u64);
						progressed = true;
					}
				if (!progressed)
					break;
			}
			reaper_log(RLOG_INFO, "reaped %" PRIu64 " process%s (%" PRIu64 " with leaks)",
				   r.reaped, r.reaped == 1 ? "" : "es", r.leaky);
			close_segment(&r);
			break;
		}

		enum serve_result res = serve(&r);
		close_segment(&r);
		if (res == SERVE_STOP) {
			const char *sig = sigabbrev_np(r.stop_signal);
			reaper_log(RLOG_INFO,
				   "stopping on SIG%s: reaped %" PRIu64 " process%s (%" PRIu64
				   " with leaks) since start",
				   sig ? sig : "?", r.reaped, r.reaped == 1 ? "" : "es", r.leaky);
			break;
		}
		if (res == SERVE_FAIL) {
			status = 1;
			break;
		}
	}
	close_fds(&r);
	return status;
}
