/*
 * driver.c - the crash-torture driver (tt-alloc-torture).
 *
 * For a bounded time it keeps long-lived writers (1-4 threads each) churning
 * allocations on 4 devices and all 7 memory types, starts thousands of
 * short-lived writers, and meanwhile: SIGKILLs writers at random moments
 * (half of them aimed at a moment when a thread is inside a tta_report_*
 * call), SIGSTOPs and SIGCONTs them, lets writers exit holding memory, free
 * everything, or detach; writers fork children and re-exec themselves; the
 * real tt-alloc-reaper is SIGKILLed or SIGTERMed and restarted at random; a
 * reader process and the real tt-smi read all along. Everything runs on a
 * private segment /tta_torture_<pid>_<clock>.
 *
 * Checkpoints (every --checkpoint-ms) park every writer at a quiescent
 * point, wait until the reaper has reclaimed every dead slot, and check
 * exactly: per device and type, device total = sum over processes = sum of
 * live records = sum of the ledgers of the live writers; per live writer,
 * what the segment holds for it (counters and records) = its own ledger; no
 * shortfall counter moved. At the end every writer is gone and every total,
 * record and slot must be zero/free.
 *
 * Leak reports. The reaper logs one "reaped pid N ..." line per slot it
 * reclaims (with "left B buffers, X" and a "leak report: pid N" block when
 * the process held memory, else "nothing left allocated"). A death is
 * expected to produce exactly one such line when the reaper was certainly
 * the one to reclaim it: the death (between the kill or the exit decision
 * and the moment the driver saw it) does not overlap a window in which no
 * reaper was registered, and the reaper instance that was up did not die
 * before its line arrived. Otherwise a writer attaching while no reaper
 * runs may have reclaimed it silently (libtrack does that by design), so
 * zero or one line is allowed. A process that never attached, or detached
 * before exiting, must produce none. Whether the line must say "left" or
 * "nothing" follows from the dead process's ledger; when no report was in
 * flight at the death, the buffers and bytes in the line must equal the
 * ledger exactly. A line for a process that was not dead is a violation
 * (the reaper acted on a live process). These rules can fail: a missing,
 * duplicated, misattributed or wrong leak report fails the run.
 *
 * Exit status: 0 all invariants held; 1 a violation (listed); 2 usage or
 * setup error.
 */
#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "read_priv.h"
#include "tt-alloc/history.h"
#include "tt-alloc/reader.h"
#include "../tta_health.h"
#include "tta_segment.h"
#include "torture.h"

#define MAX_VIOLATIONS_SHOWN 25
#define LONG_WRITERS 6
#define SHORT_CONCURRENCY 16

struct options {
	unsigned seconds;
	unsigned long short_target;
	unsigned checkpoint_ms;
	unsigned reaper_scan_ms;
	uint64_t seed;
	int verbose;
	uint32_t inject_fault;
	char reaper[PATH_MAX];
	char smi[PATH_MAX];
};

/* Driver-side knowledge of one cell. */
struct dinfo {
	uint64_t kill_ns;     /* when the driver sent SIGKILL (0 = never) */
	bool processed;       /* death analysed */
	bool finalized;       /* lines checked at a checkpoint */
	bool exact_figures;   /* no report in flight at death */
	bool listed;          /* in the pending list of its pid */
	int8_t leak;          /* 1 must leak, 0 must not, -1 either */
	uint8_t lines_min, lines_max, lines_seen;
	bool short_kill_armed;
	bool aimed;           /* killed the moment a thread was seen in a report */
	uint64_t unborn_since;
	uint64_t short_kill_at;
	int64_t exp_buffers, exp_bytes;
	uint64_t t_lo, t_hi;
	int32_t pid;
	int next_same_pid;    /* pending-death list per pid */
};

struct pending_line {
	uint64_t t;  /* when the driver read it */
	int32_t pid;
	int kind; /* 1 left (leak), 0 nothing left, 2 report lost */
	int64_t buffers, bytes;
};

struct window {
	uint64_t start, end;
};

struct stopped {
	int pidfd;
	int cell;
	uint64_t cont_at;
};

struct reaper_proc {
	pid_t pid;
	int fd; /* read end of its stderr; -1 at EOF */
	bool exited;
	int status;
	bool sent_term, sent_kill;
	uint64_t down_since; /* window opened when it was stopped */
	char buf[8192];
	size_t len;
	unsigned lines_reaped;
	bool awaiting_block; /* a "reaped ... left" line not yet followed by its
				"leak report:" block */
};

static struct options opt = { .seconds = 180, .checkpoint_ms = 5000, .reaper_scan_ms = 500 };
static char segname[64];
static char self_exe[PATH_MAX];
static struct shared *sh;
static int shared_fd = -1;
static struct dinfo *dinfo;
static uint32_t scanned_cells;
static int *active;
static size_t n_active, cap_active;
static int *pid_head; /* pid -> first pending death cell, -1 none */
static int pid_max_value;
static struct pending_line *plines;
static size_t n_plines, cap_plines;
static struct window *windows;
static size_t n_windows, cap_windows;
static struct stopped stopped_list[64];
static size_t n_stopped;
static struct reaper_proc reapers[2]; /* current, and the one dying */
static struct reaper_proc *reaper_cur; /* NULL when none runs */
static bool reaper_registered;
static pid_t reader_pid = -1;
static pid_t smi_pids[4];
static uint64_t rng;
static uint64_t start_ns;
static struct tta_segment segmap; /* read-only view for direct checks */
static bool sighup_seen; /* the current reaper logged our SIGHUP marker */

static struct {
	unsigned long started_long, started_short, started_fork, execs, exits_leak, exits_free,
		exits_detach, kills, kills_aimed, kills_in_report, aimed_in_report, stops, reaper_starts,
		reaper_kills, reaper_terms, lines_reaped, lines_left, lines_nothing,
		leak_report_blocks, blocks_lost_to_kill, deaths, deaths_exact, deaths_ambiguous, lines_ambiguous, reaper_stalls, stall_ambiguous,
		checkpoints,
		smi_runs, warnings, history_checks;
	uint64_t reports;
	uint64_t misaccounted_bytes;
	unsigned long violations;
} st;

/* ------------------------------------------------------------------------ */

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	st.violations++;
	if (st.violations > MAX_VIOLATIONS_SHOWN && !getenv("TORTURE_ALL_VIOLATIONS"))
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "VIOLATION [%.3fs] %s\n", (double)(mono_ns() - start_ns) / 1e9, line);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	if (!opt.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[%.3fs] ", (double)(mono_ns() - start_ns) / 1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t rnd(uint64_t n)
{
	return n ? xorshift(&rng) % n : 0;
}

static void *grow(void *p, size_t *cap, size_t elem, size_t need)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(p, n * elem);
	if (q == NULL) {
		fprintf(stderr, "tt-alloc-torture: out of memory\n");
		exit(2);
	}
	*cap = n;
	return q;
}

/* ------------------------------------------------------------------------ */
/* Signals through pidfds: a cell whose process another writer already
 * collected may have a recycled pid; never signal a stranger. */

static int cell_pidfd(int idx)
{
	struct cell *c = &sh->cells[idx];
	pid_t pid = __atomic_load_n(&c->pid, __ATOMIC_ACQUIRE);
	uint32_t state = load32(&c->state);
	if (pid <= 0 || state == CELL_DEAD || state == CELL_UNUSED)
		return -1;
	int fd = pidfd_open(pid, 0);
	if (fd < 0)
		return -1;
	/* Still not recorded dead: the pid was still our process when opened. */
	if (load32(&c->state) == CELL_DEAD) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------------ */
/* Cells */

static bool cell_alive_state(uint32_t s)
{
	return s == CELL_STARTING || s == CELL_RUNNING || s == CELL_EXITING;
}

static void scan_new_cells(void)
{
	uint32_t n = load32(&sh->next_cell);
	if (n > sh->max_cells)
		n = sh->max_cells;
	for (; scanned_cells < n; scanned_cells++) {
		active = grow(active, &cap_active, sizeof *active, n_active + 1);
		active[n_active++] = (int)scanned_cells;
		dinfo[scanned_cells].next_same_pid = -1;
	}
}

/* Searches every cell handed out so far, not only the active list: a fork
 * child whose writer parent was killed is reparented to us and may be waited
 * for before the scan that adds its cell to the active list; matching only
 * active cells lost its exit and left the cell "exiting" forever. */
static int find_live_cell_by_pid(pid_t pid)
{
	uint32_t cells = load32(&sh->next_cell);
	if (cells > sh->max_cells)
		cells = sh->max_cells;
	for (uint32_t i = 0; i < cells; i++) {
		struct cell *c = &sh->cells[i];
		if (__atomic_load_n(&c->pid, __ATOMIC_ACQUIRE) == pid &&
		    load32(&c->state) != CELL_DEAD)
			return (int)i;
	}
	return -1;
}

static int pick_cell(uint32_t kind_mask, bool running_only)
{
	int candidates[256];
	int n = 0;
	for (size_t i = 0; i < n_active && n < 256; i++) {
		struct cell *c = &sh->cells[active[i]];
		uint32_t s = load32(&c->state);
		if ((running_only ? s != CELL_RUNNING : !cell_alive_state(s)) ||
		    !(kind_mask & (1u << c->kind)) || c->pid <= 0)
			continue;
		candidates[n++] = active[i];
	}
	return n ? candidates[rnd((uint64_t)n)] : -1;
}

static int spawn_writer(uint32_t kind, uint32_t nthreads, uint32_t intent, uint32_t budget,
			uint32_t may_fork, uint32_t tight)
{
	uint32_t idx = __atomic_fetch_add(&sh->next_cell, 1, __ATOMIC_ACQ_REL);
	if (idx >= sh->max_cells) {
		static bool said;
		if (!said)
			violation("out of writer cells (%u): the run cannot start its writers; "
				  "the torture's sizing is wrong",
				  sh->max_cells);
		said = true;
		return -1;
	}
	struct cell *c = &sh->cells[idx];
	c->kind = kind;
	c->nthreads = nthreads;
	c->intent = intent;
	c->budget = budget;
	c->may_fork = may_fork;
	c->tight = tight;
	c->fault = opt.inject_fault;
	c->start_ns = mono_ns();
	c->seed = xorshift(&rng);
	c->parent_cell = -1;
	c->child_cell = -1;
	for (int i = 1; i < TORTURE_THREADS; i++)
		c->th[i].exited = 1;
	store32(&c->state, CELL_STARTING);
	scan_new_cells();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		store32(&c->state, CELL_DEAD);
		store32(&c->death_recorded, 1);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
		/* A quarter of the writers record call sites (inherited by their
		 * forks and execs): symbolizing and publishing sites gets killed
		 * midway too. */
		if (idx % 4 == 0)
			setenv("TT_ALLOC_STACK_TRACE", "1", 1);
		else
			unsetenv("TT_ALLOC_STACK_TRACE");
		/* Half the writers also append every report to the event ring
		 * (and so die inside an event now and then). */
		setenv("TT_ALLOC_EVENTS", c->seed & 1 ? "1" : "0", 1);
		char arg[16];
		snprintf(arg, sizeof arg, "%u", idx);
		execl(self_exe, "tt-alloc-torture", "--writer", arg, (char *)NULL);
		_exit(127);
	}
	__atomic_store_n(&c->pid, pid, __ATOMIC_RELEASE);
	if (kind == KIND_LONG)
		st.started_long++;
	else
		st.started_short++;
	return (int)idx;
}

static void spawn_long_writer(unsigned which)
{
	static const uint32_t threads_of[LONG_WRITERS] = { 1, 1, 2, 3, 4, 2 };
	/* Writers 1 and 5 report without pause: a SIGKILL lands mid-report. */
	static const uint32_t tight_of[LONG_WRITERS] = { 0, 1, 0, 0, 0, 1 };
	uint32_t budget = 0, intent = INTENT_FOREVER;
	if (rnd(2)) {
		static const uint32_t intents[] = { INTENT_EXIT_LEAK, INTENT_EXIT_FREE,
						    INTENT_DETACH_EXIT };
		intent = intents[rnd(3)];
		budget = 5000 + (uint32_t)rnd(200000);
	}
	spawn_writer(KIND_LONG, threads_of[which % LONG_WRITERS], intent, budget, 1,
		     tight_of[which % LONG_WRITERS]);
}

static void spawn_short_writer(void)
{
	static const uint32_t intents[] = { INTENT_EXIT_LEAK, INTENT_EXIT_FREE,
					    INTENT_DETACH_EXIT };
	int idx = spawn_writer(KIND_SHORT, rnd(5) == 0 ? 2 : 1, intents[rnd(3)],
			       5 + (uint32_t)rnd(300), rnd(10) == 0, 0);
	if (idx >= 0 && rnd(4) == 0) {
		dinfo[idx].short_kill_armed = true;
		dinfo[idx].short_kill_at = mono_ns() + rnd(40) * 1000000u;
	}
}

/* ------------------------------------------------------------------------ */
/* Reaper */

static bool intersects_down_window(uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < n_windows; i++)
		if (lo <= windows[i].end && hi >= windows[i].start)
			return true;
	return false;
}

/* Reports in flight when the reaper was seen registered (see
 * close_window_after_reports): the down window ends once each has returned. */
struct inflight {
	int cell, thread;
	uint64_t ops;
};
static struct inflight *closing;
static size_t n_closing, cap_closing;
static bool window_closing;

static void open_window(uint64_t t)
{
	if (n_windows && windows[n_windows - 1].end == UINT64_MAX) {
		window_closing = false; /* down again before the last one closed */
		return;
	}
	windows = grow(windows, &cap_windows, sizeof *windows, n_windows + 1);
	windows[n_windows].start = t;
	windows[n_windows].end = UINT64_MAX;
	n_windows++;
}

static void close_window(uint64_t t)
{
	if (n_windows && windows[n_windows - 1].end == UINT64_MAX)
		windows[n_windows - 1].end = t;
}

/*
 * A writer reaps dead slots itself (silently: no reaper line) when its
 * attach, inside its first report, judges the reaper not running; the judge
 * and the reaps are not one atomic step. A writer that judged while the
 * reaper was down and was then preempted or SIGSTOPped reaps later, after
 * the new reaper registered, taking slots (deaths the new reaper would have
 * logged) from under it: seen with a debug print in attach, "reaper pid OLD
 * status GONE" reaps landing after the driver saw the new registration. So a
 * down window only ends when every report that was in flight when the
 * registration was seen has returned (its ops count moved, or it is no longer
 * in a report, or its process died): no judgement older than the
 * registration can act after that.
 */
static void close_window_after_reports(void)
{
	n_closing = 0;
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		if (!cell_alive_state(load32(&c->state)))
			continue;
		/* Only an attach judges the reaper: a report of a process not
		 * attached yet, or the first one of a new image (PENDING_RESET). */
		bool attached = load32(&c->attached) != 0;
		for (int t = 0; t < TORTURE_THREADS; t++) {
			if (!load32(&c->th[t].in_report) ||
			    (attached && load32(&c->th[t].pending) != PENDING_RESET))
				continue;
			closing = grow(closing, &cap_closing, sizeof *closing, n_closing + 1);
			closing[n_closing].cell = active[i];
			closing[n_closing].thread = t;
			closing[n_closing].ops = __atomic_load_n(&c->th[t].ops, __ATOMIC_ACQUIRE);
			n_closing++;
		}
	}
	window_closing = true;
}

static void finish_closing_window(void)
{
	if (!window_closing)
		return;
	for (size_t i = 0; i < n_closing; i++) {
		struct cell *c = &sh->cells[closing[i].cell];
		const struct thread_ledger *L = &c->th[closing[i].thread];
		if (cell_alive_state(load32(&c->state)) && load32(&L->in_report) &&
		    __atomic_load_n(&L->ops, __ATOMIC_ACQUIRE) == closing[i].ops)
			return; /* still in the report it was in */
	}
	window_closing = false;
	close_window(mono_ns());
}

static bool reaper_alive_somewhere(void)
{
	for (int i = 0; i < 2; i++)
		if (reapers[i].pid != 0 && !reapers[i].exited)
			return true;
	return false;
}

/* Starts a reaper. The previous one must have exited (a reaper refuses to
 * start while another serves the segment) and its log must be read to EOF. */
static void start_reaper(void)
{
	struct reaper_proc *r = NULL;
	for (int i = 0; i < 2 && r == NULL; i++)
		if (reapers[i].pid == 0 || (reapers[i].exited && reapers[i].fd < 0))
			r = &reapers[i];
	if (r == NULL || reaper_alive_somewhere())
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		violation("pipe: %s", strerror(errno));
		return;
	}
	char scan[32];
	snprintf(scan, sizeof scan, "%u", opt.reaper_scan_ms);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], STDERR_FILENO);
		close(shared_fd);
		setenv("TT_ALLOC_TRACKING_ENABLED", "0", 1);
		execl(opt.reaper, "tt-alloc-reaper", "--scan-interval", scan, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		violation("fork: %s", strerror(errno));
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	memset(r, 0, sizeof *r);
	r->pid = pid;
	r->fd = p[0];
	reaper_cur = r;
	reaper_registered = false;
	st.reaper_starts++;
	note("reaper started, pid %d", (int)pid);
}

/*
 * A reaper stall: libtrack reaps dead slots itself, silently, on attach
 * whenever it judges the registered reaper not RUNNING (tta_reaper_judge),
 * and that includes a live reaper whose heartbeat is older than
 * TTA_REAPER_STALL_NS. On this machine (load 10-20 on 2 cores, ASan) the
 * reaper can go that long without a heartbeat while it works through a batch
 * (a scan, reaps, leak reports), so a writer attaching then takes the dead
 * slots the reaper has not logged yet: by design, no reaper line. The driver
 * cannot see a writer's judgement, only the heartbeat word; it samples it in
 * pump(). With B the beat read at the previous sample, no writer can have
 * judged the reaper stalled before now unless now - B > TTA_REAPER_STALL_NS
 * (the last beat at any time since that sample is at least B), so the window
 * [B + TTA_REAPER_STALL_NS, now] opened then covers every possible stall
 * judgement, however coarse the sampling. Deaths it may have reclaimed are
 * allowed no line, exactly like those of a reaper that went down.
 */
static uint64_t hb_prev_beat; /* 0: not sampled since the reaper registered */

static void allow_no_line_for_unlogged_deaths(uint64_t until)
{
	for (size_t i = 0; i < n_active; i++) {
		struct dinfo *d = &dinfo[active[i]];
		if (d->processed && !d->finalized && d->lines_seen == 0 && d->t_lo <= until &&
		    d->lines_min > 0) {
			d->lines_min = 0;
			st.deaths_exact--;
			st.deaths_ambiguous++;
			st.stall_ambiguous++;
		}
	}
}

static void watch_reaper_heartbeat(void)
{
	if (reaper_cur == NULL || !reaper_registered) {
		hb_prev_beat = 0;
		return;
	}
	const struct tta_header *h = tta_hdr(&segmap);
	uint64_t beat = ck_pr_load_64(&h->reaper.heartbeat_ns);
	uint64_t now = mono_ns(); /* after the load: the beat is at most this old */
	if (hb_prev_beat != 0 && now > hb_prev_beat + TTA_REAPER_STALL_NS) {
		uint64_t from = hb_prev_beat + TTA_REAPER_STALL_NS;
		if (n_windows && windows[n_windows - 1].end == UINT64_MAX)
			; /* a down window still open covers it */
		else if (n_windows && windows[n_windows - 1].end >= from)
			windows[n_windows - 1].end = now; /* the same stall, still going */
		else {
			open_window(from);
			close_window(now);
			st.reaper_stalls++;
			note("reaper %d may be judged stalled: no heartbeat for %.1f s",
			     (int)reaper_cur->pid, (double)(now - hb_prev_beat) / 1e9);
		}
		allow_no_line_for_unlogged_deaths(now);
	}
	if (beat > hb_prev_beat)
		hb_prev_beat = beat;
}

/* True once the current reaper has registered in the header (pid and start
 * time both stored), which is when writers stop reaping on attach. */
static bool reaper_check_registered(void)
{
	if (reaper_cur == NULL || reaper_cur->exited)
		return false;
	if (reaper_registered)
		return true;
	struct tta_header *h = tta_hdr(&segmap);
	uint64_t start = 0;
	if (ck_pr_load_64(&h->reaper.pid) != (uint64_t)reaper_cur->pid ||
	    tta_proc_start_time(reaper_cur->pid, &start) != 0 ||
	    ck_pr_load_64(&h->reaper.start_time) != start)
		return false;
	reaper_registered = true;
	close_window_after_reports();
	note("reaper %d registered", (int)reaper_cur->pid);
	return true;
}

static void stop_reaper(int sig)
{
	struct reaper_proc *r = reaper_cur;
	if (r == NULL)
		return;
	open_window(mono_ns()); /* before the signal: conservative */
	if (sig == SIGKILL) {
		r->sent_kill = true;
		st.reaper_kills++;
	} else {
		r->sent_term = true;
		st.reaper_terms++;
	}
	r->down_since = mono_ns();
	kill(r->pid, sig);
	reaper_cur = NULL;
	reaper_registered = false;
	note("reaper %d sent signal %d", (int)r->pid, sig);
}

/* ------------------------------------------------------------------------ */
/* Deaths and reaper lines */

static void add_to_pid_list(int idx)
{
	struct dinfo *d = &dinfo[idx];
	int32_t pid = d->pid;
	if (pid <= 0 || pid > pid_max_value)
		return;
	d->next_same_pid = -1;
	d->listed = true;
	int *link = &pid_head[pid];
	while (*link >= 0)
		link = &dinfo[*link].next_same_pid;
	*link = idx;
}

static void apply_line(int idx, const struct pending_line *l)
{
	struct dinfo *d = &dinfo[idx];
	d->lines_seen++;
	if (l->kind == 2) {
		violation("reaper lost the leak report of pid %d (out of memory)", (int)l->pid);
		return;
	}
	if (d->leak == 1 && l->kind == 0)
		violation("pid %d died holding %" PRId64 " buffers / %" PRId64
			  " bytes but the reaper said nothing was left",
			  (int)l->pid, d->exp_buffers, d->exp_bytes);
	if (d->leak == 0 && l->kind == 1)
		violation("pid %d died holding nothing but the reaper reported %" PRId64
			  " buffers / %" PRId64 " bytes left",
			  (int)l->pid, l->buffers, l->bytes);
	if (d->exact_figures && l->kind == 1 &&
	    (l->buffers != d->exp_buffers || l->bytes != d->exp_bytes))
		violation("leak report of pid %d says %" PRId64 " buffers / %" PRId64
			  " bytes, its ledger %" PRId64 " / %" PRId64,
			  (int)l->pid, l->buffers, l->bytes, d->exp_buffers, d->exp_bytes);
}

/* Could death IDX have produced line L? */
static bool line_fits(int idx, const struct pending_line *l)
{
	const struct dinfo *d = &dinfo[idx];
	if (l->kind == 1 && (d->leak == 0 || (d->exact_figures && (l->buffers != d->exp_buffers ||
								     l->bytes != d->exp_bytes))))
		return false;
	return !(l->kind == 0 && d->leak == 1);
}

/* Gives line L to a death of its pid that can still take one. With PIDs
 * recycled fast, several deaths of one pid may be waiting (one reclaimed
 * silently by a writer while no reaper ran, say), and the line may arrive
 * before the driver has seen the death it belongs to: take the most recent
 * death the line fits; if none fits, wait (the line stays pending) unless
 * FORCE, then the most recent one takes it and the checks speak. */
static bool match_line(const struct pending_line *l, bool force)
{
	if (l->pid <= 0 || l->pid > pid_max_value)
		return false;
	int fit = -1, any = -1;
	for (int i = pid_head[l->pid]; i >= 0; i = dinfo[i].next_same_pid) {
		/* A line cannot be about a death that came after it. */
		if (dinfo[i].lines_seen >= dinfo[i].lines_max || dinfo[i].t_lo > l->t)
			continue;
		any = i;
		if (line_fits(i, l))
			fit = i;
	}
	int pick = fit >= 0 ? fit : force ? any : -1;
	if (pick < 0)
		return false;
	apply_line(pick, l);
	return true;
}

/* A line about pid P while a writer with pid P that started before the line
 * is not known dead yet: most likely that writer just died and the driver
 * has not collected it; wait for it rather than give the line to an older
 * death of the same pid. */
static bool line_waits_for_a_death(const struct pending_line *l)
{
	/* Every cell handed out, not only the active list: see
	 * find_live_cell_by_pid. */
	uint32_t cells = load32(&sh->next_cell);
	if (cells > sh->max_cells)
		cells = sh->max_cells;
	for (uint32_t i = 0; i < cells; i++) {
		struct cell *c = &sh->cells[i];
		if (__atomic_load_n(&c->pid, __ATOMIC_ACQUIRE) == l->pid &&
		    load32(&c->state) != CELL_DEAD && c->start_ns <= l->t)
			return true;
	}
	return false;
}

static void retry_pending_lines(int32_t pid)
{
	size_t w = 0;
	for (size_t i = 0; i < n_plines; i++) {
		if (plines[i].pid == pid && !line_waits_for_a_death(&plines[i]) &&
		    match_line(&plines[i], false))
			continue;
		plines[w++] = plines[i];
	}
	n_plines = w;
}

static void parse_reaper_line(struct reaper_proc *r, const char *line)
{
	if (opt.verbose > 1)
		fprintf(stderr, "  reaper %d| %s\n", (int)r->pid, line);
	if (strncmp(line, "reaped pid ", 11) == 0) {
		struct pending_line l = { .pid = (int32_t)strtol(line + 11, NULL, 10),
					  .t = mono_ns() };
		const char *left = strstr(line, "; left ");
		const char *last = left;
		while (last && (left = strstr(last + 1, "; left ")) != NULL)
			last = left;
		if (strstr(line, "; nothing left allocated")) {
			l.kind = 0;
		} else if (strstr(line, "its leak report was lost")) {
			l.kind = 2;
		} else if (last) {
			l.kind = 1;
			l.buffers = strtoll(last + 7, NULL, 10);
			/* "N bytes" or "x.y KiB (N bytes)" */
			const char *paren = strrchr(last, '(');
			const char *comma = strchr(last, ',');
			l.bytes = strtoll(paren ? paren + 1 : comma ? comma + 2 : last, NULL, 10);
		} else {
			violation("unparsed reaper line: %s", line);
			return;
		}
		if (r->awaiting_block)
			violation("reaper %d: leak report block missing after a reaped-with-leaks "
				  "line",
				  (int)r->pid);
		r->awaiting_block = l.kind == 1;
		st.lines_reaped++;
		r->lines_reaped++;
		if (l.kind == 1)
			st.lines_left++;
		else if (l.kind == 0)
			st.lines_nothing++;
		if (line_waits_for_a_death(&l) || !match_line(&l, false)) {
			plines = grow(plines, &cap_plines, sizeof *plines, n_plines + 1);
			plines[n_plines++] = l;
		}
	} else if (r == reaper_cur && strcmp(line, "SIGHUP: rescanning") == 0) {
		sighup_seen = true;
	} else if (strncmp(line, "leak report: pid ", 17) == 0) {
		st.leak_report_blocks++;
		if (!r->awaiting_block)
			violation("reaper %d: leak report block without its reaped line: %s",
				  (int)r->pid, line);
		r->awaiting_block = false;
	} else if (strncmp(line, "tt-alloc-reaper: warning: ", 26) == 0) {
		st.warnings++;
		fprintf(stderr, "torture: reaper %d warned: %s\n", (int)r->pid, line);
	} else if (strncmp(line, "tt-alloc-reaper: ", 17) == 0) {
		violation("reaper %d logged an error: %s", (int)r->pid, line);
	}
}

static void pump_reaper(struct reaper_proc *r)
{
	while (r->fd >= 0) {
		ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN */
		}
		if (n == 0) {
			close(r->fd);
			r->fd = -1;
			/* The line and its block are two writes: a SIGKILL may land
			 * between them, and only that may lose a block. */
			if (r->awaiting_block && !r->sent_kill)
				violation("reaper %d ended without the leak report block of its "
					  "last reap",
					  (int)r->pid);
			if (r->awaiting_block)
				st.blocks_lost_to_kill++;
			/* Deaths before it went that it never logged may have been
			 * reclaimed by a writer (or the next reaper) instead. */
			uint64_t gone = r->down_since ? r->down_since : mono_ns();
			for (size_t i = 0; i < n_active; i++) {
				struct dinfo *d = &dinfo[active[i]];
				if (d->processed && !d->finalized && d->lines_seen == 0 &&
				    d->t_lo <= gone && d->lines_min > 0) {
					d->lines_min = 0;
					st.deaths_exact--;
					st.deaths_ambiguous++;
				}
			}
			break;
		}
		r->len += (size_t)n;
		r->buf[r->len] = '\0';
		char *p = r->buf, *nl;
		while ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			parse_reaper_line(r, p);
			p = nl + 1;
		}
		r->len = strlen(p);
		memmove(r->buf, p, r->len + 1);
		if (r->len == sizeof r->buf - 1) {
			violation("reaper line longer than %zu bytes", sizeof r->buf);
			r->len = 0;
		}
	}
}

static void process_death(int idx)
{
	struct cell *c = &sh->cells[idx];
	struct dinfo *d = &dinfo[idx];
	d->processed = true;
	d->pid = c->pid;
	if (c->pid <= 0) { /* fork failed: never ran */
		d->finalized = true;
		return;
	}
	st.deaths++;
	if (c->kind == KIND_FORK_CHILD)
		st.started_fork++;
	int status = c->wait_status;
	uint32_t how = load32(&c->exit_how);
	bool killed = d->kill_ns != 0;
	if (WIFSIGNALED(status)) {
		if (!(killed && WTERMSIG(status) == SIGKILL))
			violation("writer pid %d (cell %d) died of signal %d%s%s", (int)c->pid, idx,
				  WTERMSIG(status), c->error ? ": " : "", c->error ? c->msg : "");
		else
			st.kills++;
	} else if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) != 0)
			violation("writer pid %d (cell %d) exited with status %d: %s", (int)c->pid,
				  idx, WEXITSTATUS(status), c->error ? c->msg : "(no message)");
		else if (how == 0)
			violation("writer pid %d (cell %d) exited without deciding to", (int)c->pid,
				  idx);
		if (how == INTENT_EXIT_LEAK)
			st.exits_leak++;
		else if (how == INTENT_EXIT_FREE)
			st.exits_free++;
		else if (how == INTENT_DETACH_EXIT)
			st.exits_detach++;
	}
	st.execs += c->execs;

	int64_t bytes[TORTURE_DEVICES][TORTURE_TYPES], buffers[TORTURE_DEVICES];
	cell_ledger_sum(c, bytes, buffers);
	/* What a leak report counts: everything but kernel binaries (which the
	 * ledger, like the library, never counts as buffers). */
	int64_t total_bytes = 0, total_buffers = 0;
	for (int dv = 0; dv < TORTURE_DEVICES; dv++) {
		total_buffers += buffers[dv];
		for (int t = 0; t < TORTURE_TYPES; t++)
			if (t != TTA_MEM_KERNEL)
				total_bytes += bytes[dv][t];
	}
	int plus = 0, minus = 0, reset = 0, in_flight = 0;
	for (int t = 0; t < TORTURE_THREADS; t++) {
		if (!c->th[t].in_report)
			continue;
		in_flight++;
		switch (c->th[t].pending) {
		case PENDING_PLUS:
			plus++;
			break;
		case PENDING_MINUS:
			minus++;
			break;
		case PENDING_RESET:
			reset++;
			break;
		default:
			break;
		}
	}
	if (in_flight && WIFSIGNALED(status)) {
		st.kills_in_report++;
		if (d->aimed)
			st.aimed_in_report++;
	}
	d->exp_buffers = total_buffers;
	d->exp_bytes = total_bytes;
	d->exact_figures = in_flight == 0;
	if (reset)
		d->leak = -1;
	else if (total_buffers - minus > 0)
		d->leak = 1;
	else if (total_buffers + plus == 0)
		d->leak = 0;
	else
		d->leak = -1;

	bool attached = load32(&c->attached) != 0;
	if (!attached && in_flight == 0) {
		d->lines_min = d->lines_max = 0; /* no slot: never attached, or detached */
	} else if (!attached || reset) {
		d->lines_min = 0;
		d->lines_max = 1;
	} else {
		d->lines_min = d->lines_max = 1;
	}
	uint64_t exit_ns = __atomic_load_n(&c->exit_ns, __ATOMIC_RELAXED);
	d->t_hi = __atomic_load_n(&c->death_ns, __ATOMIC_RELAXED);
	d->t_lo = killed ? d->kill_ns : exit_ns;
	if (killed && how && exit_ns && exit_ns < d->t_lo)
		d->t_lo = exit_ns;
	if (d->t_lo == 0 || d->t_lo > d->t_hi)
		d->t_lo = start_ns; /* unknown: assume any time */
	/* Up to now, not just t_hi: a window (a reaper down, or stalled) that
	 * opened after the death but before we got here may have let a writer
	 * reclaim it unlogged, and the retroactive passes over processed deaths
	 * (pump_reaper at EOF, watch_reaper_heartbeat) did not see this one. */
	uint64_t seen_ns = mono_ns();
	if (d->lines_max > 0 &&
	    (intersects_down_window(d->t_lo, seen_ns > d->t_hi ? seen_ns : d->t_hi) || !reaper_cur))
		d->lines_min = 0;
	if (d->lines_min == d->lines_max)
		st.deaths_exact++;
	else
		st.deaths_ambiguous++;
	add_to_pid_list(idx);
	retry_pending_lines(d->pid);
}

static void collect_children(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		bool known = false;
		for (int i = 0; i < 2; i++) {
			if (reapers[i].pid == pid && !reapers[i].exited) {
				reapers[i].exited = true;
				reapers[i].status = status;
				known = true;
				bool ok = (reapers[i].sent_kill && WIFSIGNALED(status) &&
					   WTERMSIG(status) == SIGKILL) ||
					  (reapers[i].sent_term && WIFEXITED(status) &&
					   WEXITSTATUS(status) == 0);
				if (!ok)
					violation("tt-alloc-reaper %d ended unexpectedly (status 0x%x)",
						  (int)pid, status);
				if (&reapers[i] == reaper_cur) {
					reapers[i].down_since = mono_ns();
					open_window(reapers[i].down_since);
					reaper_cur = NULL;
					reaper_registered = false;
				}
			}
		}
		if (pid == reader_pid) {
			reader_pid = -1;
			known = true;
			if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
				violation("reader process ended (status 0x%x): %s", status,
					  sh->reader_msg);
		}
		for (int i = 0; i < 4; i++)
			if (smi_pids[i] == pid) {
				smi_pids[i] = 0;
				known = true;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					violation("tt-smi exited with status 0x%x", status);
			}
		if (known)
			continue;
		int idx = find_live_cell_by_pid(pid);
		if (idx < 0)
			continue; /* an orphan its parent had already recorded */
		struct cell *c = &sh->cells[idx];
		c->wait_status = status;
		__atomic_store_n(&c->death_ns, mono_ns(), __ATOMIC_RELAXED);
		store32(&c->death_recorded, 1);
		store32(&c->state, CELL_DEAD);
	}
}

/* A fork child's cell whose parent died between claiming it and forking (or
 * before either wrote the child's pid) never runs: after a grace period in
 * which a forked child would have written its own pid, call it dead. */
static void sweep_unborn(int idx)
{
	struct cell *c = &sh->cells[idx];
	if (load32(&c->state) != CELL_STARTING || c->parent_cell < 0 ||
	    __atomic_load_n(&c->pid, __ATOMIC_ACQUIRE) != 0 ||
	    !dinfo[c->parent_cell].processed)
		return;
	uint64_t now = mono_ns();
	if (dinfo[idx].unborn_since == 0) {
		dinfo[idx].unborn_since = now;
		return;
	}
	if (now - dinfo[idx].unborn_since < 1000000000ull)
		return;
	store32(&c->death_recorded, 1);
	store32(&c->state, CELL_DEAD);
}

/* Everything the loop must keep doing, also while it waits for something. */
static void pump(void)
{
	watch_reaper_heartbeat();
	finish_closing_window();
	for (int i = 0; i < 2; i++)
		pump_reaper(&reapers[i]);
	collect_children();
	scan_new_cells();
	size_t w = 0;
	for (size_t i = 0; i < n_active; i++) {
		int idx = active[i];
		struct cell *c = &sh->cells[idx];
		sweep_unborn(idx);
		if (load32(&c->state) == CELL_DEAD && !dinfo[idx].processed)
			process_death(idx);
		if (dinfo[idx].processed && dinfo[idx].finalized)
			continue; /* drop from the active list */
		active[w++] = idx;
	}
	n_active = w;
	reaper_check_registered();
}

/* ------------------------------------------------------------------------ */
/* Checkpoints */

static bool all_parked(uint32_t epoch)
{
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		uint32_t s = load32(&c->state);
		if (s == CELL_DEAD || s == CELL_UNUSED)
			continue;
		if (s == CELL_EXITING)
			return false; /* wait until it is gone */
		uint32_t n = c->nthreads ? c->nthreads : 1;
		for (uint32_t t = 0; t < n && t < TORTURE_THREADS; t++)
			if (!load32(&c->th[t].exited) && load32(&c->th[t].paused_epoch) != epoch)
				return false;
	}
	return true;
}

/* When a writer will not finish, shows where it is: its state, each
 * thread's kernel wait channel, and (if gdb is installed) every thread's
 * stack, so a rare hang is diagnosable from one CI log. */
static void dump_stuck_process(pid_t pid)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "grep -h '^State' /proc/%d/status 2>&1 | sed 's/^/      /'; "
		 "for t in /proc/%d/task/*; do printf '      task %%s wchan %%s\\n' "
		 "\"${t##*/}\" \"$(cat $t/wchan 2>/dev/null)\"; done; "
		 "command -v gdb >/dev/null && timeout 20 gdb -p %d -batch -nx "
		 "-ex 'thread apply all bt' 2>&1 | grep -E '^(#|Thread)' | head -80 | "
		 "sed 's/^/      /'",
		 (int)pid, (int)pid, (int)pid);
	fflush(stderr);
	if (system(cmd) != 0) {
		/* diagnostics only: nothing more to do */
	}
}

/* Says which writer a checkpoint is still waiting for, and where. */
static void describe_unparked(uint32_t epoch)
{
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		uint32_t s = load32(&c->state);
		if (s == CELL_DEAD || s == CELL_UNUSED)
			continue;
		char what[256];
		int o = snprintf(what, sizeof what, "cell %d pid %d kind %u state %u parent %d:",
				 active[i], (int)c->pid, c->kind, s, c->parent_cell);
		bool waiting = s == CELL_EXITING || epoch == UINT32_MAX;
		for (uint32_t t = 0; t < TORTURE_THREADS && o < (int)sizeof what; t++) {
			o += snprintf(what + o, sizeof what - (size_t)o, " t%u[exited %u epoch %u/%u in_report %u]",
				      t, c->th[t].exited, c->th[t].paused_epoch, epoch, c->th[t].in_report);
			if (t < (c->nthreads ? c->nthreads : 1) && !c->th[t].exited &&
			    c->th[t].paused_epoch != epoch)
				waiting = true;
		}
		if (waiting) {
			fprintf(stderr, "  not parked: %s\n", what);
			if (epoch == UINT32_MAX && c->pid > 0)
				dump_stuck_process(c->pid);
		}
	}
}

static void continue_stopped(void)
{
	for (size_t i = 0; i < n_stopped; i++) {
		pidfd_send_signal(stopped_list[i].pidfd, SIGCONT, NULL, 0);
		close(stopped_list[i].pidfd);
	}
	n_stopped = 0;
}

static bool wait_until(bool (*cond)(void *), void *arg, unsigned timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		pump();
		if (cond(arg))
			return true;
		if (mono_ns() > end)
			return false;
		sleep_us(1000);
	}
}

static bool cond_parked(void *arg)
{
	return all_parked(*(uint32_t *)arg);
}

static bool cond_registered(void *arg)
{
	(void)arg;
	return reaper_check_registered();
}

static bool cond_no_reaper(void *arg)
{
	(void)arg;
	return !reaper_alive_somewhere();
}

static void ensure_reaper(void)
{
	if (reaper_cur == NULL) {
		if (!wait_until(cond_no_reaper, NULL, 15000))
			violation("a stopped tt-alloc-reaper did not exit within 15 s");
		start_reaper();
	}
	if (!wait_until(cond_registered, NULL, 15000))
		violation("tt-alloc-reaper did not register within 15 s");
}

/* Per live cell: what the segment says it holds. */
struct seg_view {
	int cell;
	int64_t bytes[TORTURE_DEVICES][TORTURE_TYPES], buffers[TORTURE_DEVICES];
	int64_t rec_bytes[TORTURE_DEVICES][TORTURE_TYPES], rec_count[TORTURE_DEVICES];
	int32_t slot;
	bool seen;
};
static struct seg_view *views;
static size_t n_views, cap_views;
static int *pid_to_view; /* pid -> index in views, -1 */

static void build_views(void)
{
	for (size_t i = 0; i < n_views; i++)
		pid_to_view[sh->cells[views[i].cell].pid] = -1;
	n_views = 0;
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		uint32_t s = load32(&c->state);
		if ((s != CELL_RUNNING && s != CELL_STARTING) || c->pid <= 0 ||
		    c->pid > pid_max_value)
			continue;
		views = grow(views, &cap_views, sizeof *views, n_views + 1);
		memset(&views[n_views], 0, sizeof views[n_views]);
		views[n_views].cell = active[i];
		views[n_views].slot = -1;
		pid_to_view[c->pid] = (int)n_views;
		n_views++;
	}
}

/* Slot table agrees with who is alive: each attached live writer has exactly
 * one LIVE slot, nothing else occupies one. */
static bool slots_clean(bool report)
{
	for (size_t i = 0; i < n_views; i++)
		views[i].seen = false;
	bool ok = true;
	for (uint32_t s = 0; s < segmap.geo.slot_capacity; s++) {
		uint64_t state = ck_pr_load_64(&tta_slot_at(&segmap, s)->state);
		if (TTA_SLOT_PHASE(state) == TTA_SLOT_FREE)
			continue;
		int pid = TTA_SLOT_PID(state);
		int v = pid > 0 && pid <= pid_max_value ? pid_to_view[pid] : -1;
		if (TTA_SLOT_PHASE(state) != TTA_SLOT_LIVE || v < 0 || views[v].seen) {
			if (report)
				violation("slot %u (phase %u, pid %d) is not the one slot of a live "
					  "writer",
					  s, TTA_SLOT_PHASE(state), pid);
			ok = false;
			continue;
		}
		views[v].seen = true;
	}
	for (size_t i = 0; i < n_views; i++) {
		struct cell *c = &sh->cells[views[i].cell];
		if (views[i].seen != (load32(&c->attached) != 0)) {
			if (report)
				violation("writer pid %d (cell %d) is %sattached but has %s slot",
					  (int)c->pid, views[i].cell, c->attached ? "" : "not ",
					  views[i].seen ? "a" : "no");
			ok = false;
		}
	}
	return ok;
}

static bool cond_clean(void *arg)
{
	(void)arg;
	return slots_clean(false);
}

static int64_t g_dev[TORTURE_DEVICES][TORTURE_TYPES], g_dev_buffers[TORTURE_DEVICES];
static int64_t g_proc[TORTURE_DEVICES][TORTURE_TYPES], g_proc_buffers[TORTURE_DEVICES];
static int64_t g_rec[TORTURE_DEVICES][TORTURE_TYPES], g_rec_count[TORTURE_DEVICES];
static unsigned g_rows_foreign, g_bufs_foreign;

static int proc_cb(const struct tta_process_view *p, uint32_t dev, const int64_t *used,
		   int64_t buffers, void *ctx)
{
	(void)ctx;
	int v = p->pid > 0 && p->pid <= pid_max_value ? pid_to_view[p->pid] : -1;
	if (v < 0) {
		g_rows_foreign++;
		violation("process row for pid %d, which is not a live writer", (int)p->pid);
	} else if (views[v].slot >= 0 && views[v].slot != (int32_t)p->slot) {
		violation("pid %d has two slots (%d and %u)", (int)p->pid, views[v].slot, p->slot);
	} else {
		views[v].slot = (int32_t)p->slot;
	}
	if (dev == TTA_NO_DEVICE)
		return 0;
	if (dev >= TORTURE_DEVICES) {
		violation("process row for device %u", dev);
		return 0;
	}
	for (int t = 0; t < TORTURE_TYPES; t++) {
		g_proc[dev][t] += used[t];
		if (v >= 0)
			views[v].bytes[dev][t] += used[t];
	}
	g_proc_buffers[dev] += buffers;
	if (v >= 0)
		views[v].buffers[dev] += buffers;
	return 0;
}

static int buf_cb(const struct tta_buffer_view *b, void *ctx)
{
	(void)ctx;
	if (b->device >= TORTURE_DEVICES || b->type >= TORTURE_TYPES) {
		violation("buffer record with device %u type %u", b->device, b->type);
		return 0;
	}
	g_rec[b->device][b->type] += (int64_t)b->size;
	/* Kernel binaries are records but not buffers (no free event). */
	bool is_buffer = b->type != TTA_MEM_KERNEL;
	g_rec_count[b->device] += is_buffer;
	int v = b->owner_pid > 0 && b->owner_pid <= pid_max_value ? pid_to_view[b->owner_pid] : -1;
	if (v < 0) {
		g_bufs_foreign++;
		return 0;
	}
	views[v].rec_bytes[b->device][b->type] += (int64_t)b->size;
	views[v].rec_count[b->device] += is_buffer;
	return 0;
}

static void check_shortfall(const struct tta_test_health *h)
{
	if (h->attach_refused || h->records_unavailable || h->unknown_frees || h->double_frees ||
	    h->foreign_frees || h->bad_device || h->bad_argument || h->address_collisions)
		violation("shortfall counters moved: attach_refused %" PRIu64
			  " records_unavailable %" PRIu64 " unknown_frees %" PRIu64
			  " double_frees %" PRIu64 " foreign_frees %" PRIu64 " bad_device %" PRIu64
			  " bad_argument %" PRIu64 " address_collisions %" PRIu64,
			  h->attach_refused, h->records_unavailable, h->unknown_frees,
			  h->double_frees, h->foreign_frees, h->bad_device, h->bad_argument,
			  h->address_collisions);
}

/* The exact comparison, with every writer parked and every dead slot gone. */
static void check_exact(void)
{
	tta_reader *r;
	char err[TTA_ERR_MAX];
	if (tta_reader_open(segname, &r, err, sizeof err) != 0) {
		violation("reader open: %s", err);
		return;
	}
	memset(g_dev, 0, sizeof g_dev);
	memset(g_dev_buffers, 0, sizeof g_dev_buffers);
	memset(g_proc, 0, sizeof g_proc);
	memset(g_proc_buffers, 0, sizeof g_proc_buffers);
	memset(g_rec, 0, sizeof g_rec);
	memset(g_rec_count, 0, sizeof g_rec_count);
	g_rows_foreign = g_bufs_foreign = 0;
	for (int d = 0; d < TORTURE_DEVICES; d++) {
		struct tta_device_view v;
		if (tta_reader_device(r, (uint32_t)d, &v) != 0) {
			violation("tta_reader_device(%d) failed", d);
			continue;
		}
		memcpy(g_dev[d], v.used, sizeof g_dev[d]);
		g_dev_buffers[d] = v.buffers;
	}
	tta_reader_foreach_process(r, proc_cb, NULL);
	tta_reader_foreach_buffer(r, NULL, buf_cb, NULL);
	struct tta_test_health h;
	tta_test_health_read(r, &h);
	tta_reader_close(r);

	int64_t ledger[TORTURE_DEVICES][TORTURE_TYPES] = { { 0 } };
	int64_t ledger_buffers[TORTURE_DEVICES] = { 0 };
	unsigned attached = 0;
	for (size_t i = 0; i < n_views; i++) {
		struct seg_view *v = &views[i];
		struct cell *c = &sh->cells[v->cell];
		int64_t lb[TORTURE_DEVICES][TORTURE_TYPES], lbuf[TORTURE_DEVICES];
		cell_ledger_sum(c, lb, lbuf);
		attached += c->attached != 0;
		for (int d = 0; d < TORTURE_DEVICES; d++) {
			ledger_buffers[d] += lbuf[d];
			if (v->buffers[d] != lbuf[d] || v->rec_count[d] != lbuf[d])
				violation("pid %d device %d: segment says %" PRId64 " buffers (%" PRId64
					  " records), its ledger %" PRId64,
					  (int)c->pid, d, v->buffers[d], v->rec_count[d], lbuf[d]);
			for (int t = 0; t < TORTURE_TYPES; t++) {
				ledger[d][t] += lb[d][t];
				if (v->bytes[d][t] != lb[d][t] || v->rec_bytes[d][t] != lb[d][t])
					violation("pid %d device %d %s: segment says %" PRId64
						  " (records %" PRId64 "), its ledger %" PRId64,
						  (int)c->pid, d, tta_mem_type_name((unsigned)t),
						  v->bytes[d][t], v->rec_bytes[d][t], lb[d][t]);
			}
		}
	}
	for (int d = 0; d < TORTURE_DEVICES; d++) {
		for (int t = 0; t < TORTURE_TYPES; t++) {
			int64_t diff = g_dev[d][t] - ledger[d][t];
			st.misaccounted_bytes += (uint64_t)(diff < 0 ? -diff : diff);
			if (g_dev[d][t] != g_proc[d][t] || g_dev[d][t] != g_rec[d][t] || diff != 0)
				violation("device %d %s: device total %" PRId64 ", sum over processes %" PRId64
					  ", sum of records %" PRId64 ", sum of ledgers %" PRId64,
					  d, tta_mem_type_name((unsigned)t), g_dev[d][t], g_proc[d][t],
					  g_rec[d][t], ledger[d][t]);
		}
		if (g_dev_buffers[d] != g_proc_buffers[d] || g_dev_buffers[d] != g_rec_count[d] ||
		    g_dev_buffers[d] != ledger_buffers[d])
			violation("device %d buffers: device %" PRId64 ", processes %" PRId64
				  ", records %" PRId64 ", ledgers %" PRId64,
				  d, g_dev_buffers[d], g_proc_buffers[d], g_rec_count[d],
				  ledger_buffers[d]);
	}
	if (g_bufs_foreign)
		violation("%u buffer records belong to no live writer", g_bufs_foreign);
	if (h.live_processes != attached)
		violation("health says %u live processes, %u writers are attached",
			  h.live_processes, attached);
	check_shortfall(&h);
}

/* Every death recorded so far has been reclaimed and its reaper line (if
 * any) read: check the line counts and forget those deaths. */

static void finalize_deaths(void)
{
	/* Make the current reaper print a marker: everything it reaped before
	 * the slots were all clean was logged before it. */
	if (reaper_cur && reaper_registered) {
		sighup_seen = false;
		kill(reaper_cur->pid, SIGHUP);
		uint64_t end = mono_ns() + 10000000000ull;
		while (!sighup_seen && mono_ns() < end) {
			pump();
			sleep_us(1000);
			if (reaper_cur == NULL)
				break;
		}
		if (!sighup_seen)
			violation("reaper did not acknowledge SIGHUP within 10 s");
	}
	/* Dead reapers: their pipes must be at EOF. */
	for (int i = 0; i < 2; i++) {
		uint64_t end = mono_ns() + 5000000000ull;
		while (reapers[i].fd >= 0 && reapers[i].exited == false && &reapers[i] != reaper_cur &&
		       reapers[i].pid != 0 && mono_ns() < end) {
			pump();
			sleep_us(1000);
		}
		if (&reapers[i] != reaper_cur)
			pump_reaper(&reapers[i]);
	}
	/* Lines that fit no death: give them to one that can take them. (A line
	 * about a writer still alive and parked stays: the reaper acted on a
	 * live process.) */
	size_t w = 0;
	for (size_t i = 0; i < n_plines; i++)
		if (line_waits_for_a_death(&plines[i]) || !match_line(&plines[i], true))
			plines[w++] = plines[i];
	n_plines = w;
	/* How many deaths still wait under each pid, counted before the loop
	 * below unlinks them. */
	int *same_pid_deaths = calloc((size_t)pid_max_value + 1, sizeof *same_pid_deaths);
	for (size_t i = 0; same_pid_deaths && i < n_active; i++) {
		const struct dinfo *d = &dinfo[active[i]];
		if (d->processed && !d->finalized && d->pid > 0 && d->pid <= pid_max_value)
			same_pid_deaths[d->pid]++;
	}
	for (size_t i = 0; i < n_active; i++) {
		int idx = active[i];
		struct dinfo *d = &dinfo[idx];
		if (!d->processed || d->finalized)
			continue;
		if (d->lines_seen < d->lines_min) {
			/* A reaper line names only a pid. When another death of the
			 * same pid is still waiting here, the line may have gone to
			 * it: attribution is ambiguous (pids recycle every few seconds
			 * in the pid_max=1000 namespace run), not a missing report. */
			int same_pid = same_pid_deaths && d->pid > 0 && d->pid <= pid_max_value
					       ? same_pid_deaths[d->pid] : 0;
			if (same_pid > 1)
				st.lines_ambiguous++;
			else
				violation("no reaper line for pid %d (cell %d, kind %u, %s, ledger %" PRId64
					  " buffers), which died while the reaper was up",
					  (int)d->pid, idx, sh->cells[idx].kind,
					  d->kill_ns ? "killed" : "exited", d->exp_buffers);
		}
		d->finalized = true;
		if (d->pid > 0 && d->pid <= pid_max_value)
			pid_head[d->pid] = -1;
	}
	free(same_pid_deaths);
	for (size_t i = 0; i < n_plines; i++)
		violation("reaper reclaimed pid %d, which had not died (or not as often)",
			  (int)plines[i].pid);
	n_plines = 0;
}

/*
 * History at a quiet moment: with every writer parked, every dead slot
 * reaped and the totals just proven exact (g_dev), wait into a new second
 * and record its sample the way a writer's report or a reap does: it must
 * read back known, recorded, and equal to the exact totals. Samples that
 * writers recorded under churn (some killed mid-sample) are checked by the
 * reader process: never negative, never torn.
 */
static void check_history_quiet(void)
{
	uint64_t now = mono_ns();
	sleep_us((unsigned)((1000000000ull - now % 1000000000ull) / 1000u) + 20000u);
	struct tta_segment rw;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(segname, TTA_OPEN_WRITE, NULL, &rw, err, sizeof err) != 0) {
		violation("history check: %s", err);
		return;
	}
	uint64_t at = tta_now_coarse_ns();
	for (uint32_t d = 0; d < TORTURE_DEVICES; d++)
		tta_history_record(&rw, d, at);
	tta_segment_close(&rw);
	tta_reader *r;
	if (tta_reader_open(segname, &r, err, sizeof err) != 0) {
		violation("history check: %s", err);
		return;
	}
	/* Realtime = monotonic: sample times are the intervals' own instants. */
	uint64_t mono = mono_ns();
	tta_history *h;
	if (tta_history_take_at(r, -1, 10, mono, mono, &h, err, sizeof err) != 0) {
		violation("history take: %s", err);
		tta_reader_close(r);
		return;
	}
	uint64_t n = at / 1000000000ull;
	for (uint32_t d = 0; d < TORTURE_DEVICES; d++) {
		const struct tta_history_device *dev = NULL;
		size_t di = 0;
		for (; di < tta_history_device_count(h) && dev == NULL; di++)
			if (tta_history_device(h, di)->id == d)
				dev = tta_history_device(h, di);
		di--; /* the index of DEV, when found */
		if (dev == NULL || dev->sample_count == 0) {
			bool idle = true;
			for (int t = 0; t < TORTURE_TYPES; t++)
				idle &= g_dev[d][t] == 0;
			if (!idle)
				violation("history: device %u in use but not in the history", d);
			continue;
		}
		const struct tta_history_sample *s = NULL;
		for (size_t i = 0; i < dev->sample_count; i++)
			if (tta_history_sample(h, di, i)->realtime_ns == n * 1000000000ull)
				s = tta_history_sample(h, di, i);
		if (s == NULL || !s->known || !s->recorded) {
			violation("history: device %u second %" PRIu64 " not recorded at a quiet moment",
				  d, n);
			continue;
		}
		st.history_checks++;
		for (int t = 0; t < TORTURE_TYPES; t++)
			if (s->used[t] != g_dev[d][t])
				violation("history: device %u %s sample %" PRId64 ", exact total %" PRId64,
					  d, tta_mem_type_name((unsigned)t), s->used[t], g_dev[d][t]);
	}
	tta_history_free(h);
	tta_reader_close(r);
}

static void checkpoint(bool final)
{
	continue_stopped();
	uint32_t epoch = load32(&sh->pause_epoch) + 1;
	store32(&sh->pause_epoch, epoch);
	store32(&sh->pause_req, 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!wait_until(cond_parked, &epoch, 30000)) {
		violation("writers did not reach a quiescent point within 30 s (hung in a report?)");
		describe_unparked(epoch);
	}
	ensure_reaper();
	build_views();
	if (!wait_until(cond_clean, NULL, 20000))
		slots_clean(true);
	finalize_deaths();
	build_views();
	check_exact();
	if (st.checkpoints % 2 == 0)
		check_history_quiet();
	st.checkpoints++;
	if (!final)
		store32(&sh->pause_req, 0);
	note("checkpoint %lu: %zu live writers", st.checkpoints, n_views);
}

/* ------------------------------------------------------------------------ */
/* Readers */

static void start_reader(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("TT_ALLOC_TRACKING_ENABLED", "0", 1);
		char arg[16];
		snprintf(arg, sizeof arg, "%d", shared_fd);
		setenv("TTA_TORTURE_FD", arg, 1);
		execl(self_exe, "tt-alloc-torture", "--reader", (char *)NULL);
		_exit(127);
	}
	reader_pid = pid;
}

static void start_smi(void)
{
	if (opt.smi[0] == '\0')
		return;
	int slot = -1;
	for (int i = 0; i < 4; i++)
		if (smi_pids[i] == 0)
			slot = i;
	if (slot < 0)
		return;
	unsigned which = (unsigned)rnd(3);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		close(shared_fd);
		setenv("TT_ALLOC_TRACKING_ENABLED", "0", 1);
		if (which == 0)
			execl(opt.smi, "tt-smi", "--json", "--buffers", (char *)NULL);
		else if (which == 1)
			execl(opt.smi, "tt-smi", (char *)NULL);
		else
			execl(opt.smi, "tt-smi", "--buffers", (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		smi_pids[slot] = pid;
		st.smi_runs++;
	}
}

/* ------------------------------------------------------------------------ */
/* Events */

static void kill_writer(int idx, bool aimed)
{
	struct cell *c = &sh->cells[idx];
	int fd = cell_pidfd(idx);
	if (fd < 0)
		return;
	if (aimed) {
		/* Wait (briefly) for a thread to be inside a report call. */
		uint64_t end = mono_ns() + 2000000u;
		uint32_t n = c->nthreads ? c->nthreads : 1;
		bool inside = false;
		while (!inside && mono_ns() < end)
			for (uint32_t t = 0; t < n && t < TORTURE_THREADS; t++)
				if (__atomic_load_n(&c->th[t].in_report, __ATOMIC_RELAXED))
					inside = true;
		st.kills_aimed++;
		dinfo[idx].aimed = true;
	}
	if (dinfo[idx].kill_ns == 0)
		dinfo[idx].kill_ns = mono_ns();
	pidfd_send_signal(fd, SIGKILL, NULL, 0);
	close(fd);
}

static void stop_writer(int idx, uint64_t now)
{
	if (n_stopped == sizeof stopped_list / sizeof stopped_list[0])
		return;
	int fd = cell_pidfd(idx);
	if (fd < 0)
		return;
	if (pidfd_send_signal(fd, SIGSTOP, NULL, 0) != 0) {
		close(fd);
		return;
	}
	stopped_list[n_stopped].pidfd = fd;
	stopped_list[n_stopped].cell = idx;
	stopped_list[n_stopped].cont_at = now + (10 + rnd(300)) * 1000000u;
	n_stopped++;
	st.stops++;
}

static void continue_due(uint64_t now)
{
	size_t w = 0;
	for (size_t i = 0; i < n_stopped; i++) {
		if (stopped_list[i].cont_at <= now) {
			pidfd_send_signal(stopped_list[i].pidfd, SIGCONT, NULL, 0);
			close(stopped_list[i].pidfd);
			continue;
		}
		stopped_list[w++] = stopped_list[i];
	}
	n_stopped = w;
}

static unsigned count_alive(uint32_t kind)
{
	unsigned n = 0;
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		if (c->kind == kind && cell_alive_state(load32(&c->state)))
			n++;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* End of run */

static bool cond_all_dead(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n_active; i++) {
		struct cell *c = &sh->cells[active[i]];
		uint32_t s = load32(&c->state);
		if (cell_alive_state(s) || (s == CELL_DEAD && !dinfo[active[i]].processed))
			return false;
	}
	return true;
}

static bool cond_no_slots(void *arg)
{
	(void)arg;
	for (uint32_t s = 0; s < segmap.geo.slot_capacity; s++)
		if (TTA_SLOT_PHASE(ck_pr_load_64(&tta_slot_at(&segmap, s)->state)) != TTA_SLOT_FREE)
			return false;
	return true;
}

static void wind_down(void)
{
	store32(&sh->stop_forks, 1);
	continue_stopped();
	store32(&sh->pause_req, 0);
	for (size_t i = 0; i < n_active; i++) {
		int idx = active[i];
		struct cell *c = &sh->cells[idx];
		if (!cell_alive_state(load32(&c->state)))
			continue;
		uint64_t x = rnd(3);
		if (x == 0)
			kill_writer(idx, rnd(2));
		else
			store32(&c->exit_req, x == 1 ? INTENT_EXIT_LEAK : INTENT_EXIT_FREE);
	}
	/* Fork children started meanwhile get the same treatment. */
	uint64_t end = mono_ns() + 60000000000ull;
	while (!cond_all_dead(NULL) && mono_ns() < end) {
		pump();
		for (size_t i = 0; i < n_active; i++) {
			struct cell *c = &sh->cells[active[i]];
			if (cell_alive_state(load32(&c->state)) && !load32(&c->exit_req))
				store32(&c->exit_req, INTENT_EXIT_LEAK);
		}
		sleep_us(2000);
	}
	if (!cond_all_dead(NULL)) {
		violation("writers still alive 60 s after being asked to exit");
		describe_unparked(UINT32_MAX);
	}
	ensure_reaper();
	if (!wait_until(cond_no_slots, NULL, 20000))
		violation("slots still occupied 20 s after every writer died");
	n_views = 0;
	finalize_deaths();
	memset(pid_to_view, 0xff, sizeof(int) * ((size_t)pid_max_value + 1));
	check_exact();

	/* Nothing at all may be left. */
	for (uint32_t c = 0; c < tta_chunk_count(&segmap); c++)
		if (ck_pr_load_64(tta_chunk_owner_at(&segmap, c)) != 0) {
			violation("record chunk %u still owned (tag 0x%" PRIx64 ")", c,
				  ck_pr_load_64(tta_chunk_owner_at(&segmap, c)));
			break;
		}
	for (uint32_t d = 0; d < segmap.geo.device_capacity; d++) {
		uint64_t s = ck_pr_load_64(&tta_device_at(&segmap, d)->state);
		if (s != 0 && s != TTA_DEVICE_PUBLISHED)
			violation("device %u left with a half-done registration claim", d);
		for (uint32_t w = 0; w < tta_bitmap_words(&segmap); w++)
			if (ck_pr_load_uint(&tta_device_user_words(&segmap, d)[w]) != 0) {
				violation("device %u user bitmap not empty", d);
				break;
			}
	}
	for (uint32_t w = 0; w < tta_bitmap_words(&segmap); w++)
		if (ck_pr_load_uint(&tta_live_slot_words(&segmap)[w]) != 0) {
			violation("live-slot bitmap not empty");
			break;
		}
	for (uint32_t s = 0; s < segmap.geo.slot_capacity; s++)
		for (uint32_t d = 0; d < segmap.geo.device_capacity; d++) {
			const struct tta_counter_line *l = tta_counter_at(&segmap, s, d);
			for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
				if (l->bytes[t] || l->buffers) {
					violation("counters of free slot %u device %u not zero", s, d);
					s = segmap.geo.slot_capacity;
					break;
				}
		}
	for (uint32_t i = 0; i < segmap.geo.record_capacity; i++) {
		const struct tta_record *rec = tta_record_at(&segmap, i);
		if (rec->state != TTA_RECORD_FREE || (rec->seq & 1u)) {
			violation("record %u left live or mid-write", i);
			break;
		}
	}
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tt-alloc-torture [OPTION]...\n"
		"Crash torture of libtrack + tt-alloc-reaper on a private segment; checks\n"
		"totals, ledgers and leak reports exactly (see tests/torture/driver.c).\n"
		"\n"
		"  --seconds N          run time (default $TORTURE_SECONDS or 180)\n"
		"  --short-lived N      short-lived writers to start (default 56 per second)\n"
		"  --checkpoint-ms MS   time between exact checks (default 5000, 3000 under 60 s)\n"
		"  --reaper PATH        tt-alloc-reaper binary (default: next to this one)\n"
		"  --smi PATH           tt-smi binary run as a reader (default: next to this one;\n"
		"                       '' for none)\n"
		"  --seed N             random seed (default: time)\n"
		"  -v, --verbose        narrate (twice: echo the reaper's log)\n"
		"  --inject-fault       self-test: writers drop one allocation in 5000 from\n"
		"                       their ledgers; the run must then fail\n"
		"Exit status: 0 every invariant held, 1 violation, 2 usage or setup error.\n");
}

static void cleanup(void)
{
	if (segname[0])
		shm_unlink(segname);
}

static void on_fatal_signal(int sig)
{
	if (segname[0])
		shm_unlink(segname);
	signal(sig, SIG_DFL);
	raise(sig); /* children die with us (PR_SET_PDEATHSIG / driver_pid) */
}

static void sibling_path(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s", self_exe);
	char *slash = strrchr(out, '/');
	if (slash)
		snprintf(slash + 1, (size_t)(PATH_MAX - (slash + 1 - out)), "%s", name);
}

static int parse_args(int argc, char **argv)
{
	const char *env = getenv("TORTURE_SECONDS");
	if (env && *env)
		opt.seconds = (unsigned)strtoul(env, NULL, 10);
	bool have_checkpoint = false, have_short = false;
	sibling_path(opt.reaper, "tt-alloc-reaper");
	sibling_path(opt.smi, "tt-smi");
	if (access(opt.smi, X_OK) != 0)
		opt.smi[0] = '\0';
	opt.seed = mono_ns() ^ ((uint64_t)getpid() << 32);
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "short-lived", required_argument, NULL, 'n' },
		{ "checkpoint-ms", required_argument, NULL, 'c' },
		{ "reaper", required_argument, NULL, 'r' },
		{ "smi", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "inject-fault", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			opt.seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			opt.short_target = strtoul(optarg, NULL, 10);
			have_short = true;
			break;
		case 'c':
			opt.checkpoint_ms = (unsigned)strtoul(optarg, NULL, 10);
			have_checkpoint = true;
			break;
		case 'r':
			snprintf(opt.reaper, sizeof opt.reaper, "%s", optarg);
			break;
		case 'm':
			snprintf(opt.smi, sizeof opt.smi, "%s", optarg);
			break;
		case 'S':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			opt.verbose++;
			break;
		case 'F':
			opt.inject_fault = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || opt.seconds == 0 || opt.checkpoint_ms < 100) {
		usage(stderr);
		return 2;
	}
	if (!have_short)
		opt.short_target = (unsigned long)opt.seconds * 56;
	if (!have_checkpoint && opt.seconds < 60)
		opt.checkpoint_ms = 3000;
	if (access(opt.reaper, X_OK) != 0) {
		fprintf(stderr, "tt-alloc-torture: no reaper binary at %s (use --reaper)\n",
			opt.reaper);
		return 2;
	}
	return 0;
}

static int setup(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0) {
		fprintf(stderr, "tt-alloc-torture: cannot read /proc/self/exe\n");
		return 2;
	}
	self_exe[n] = '\0';
	return 0;
}

static int read_pid_max(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	int v = 4194304;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 4194304;
		fclose(f);
	}
	return v;
}

int torture_driver(int argc, char **argv)
{
	if (setup() != 0)
		return 2;
	int rc = parse_args(argc, argv);
	if (rc)
		return rc;
	rng = opt.seed | 1;
	start_ns = mono_ns();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	setvbuf(stdout, NULL, _IOLBF, 0);

	pid_max_value = read_pid_max();
	pid_head = malloc(sizeof(int) * ((size_t)pid_max_value + 1));
	pid_to_view = malloc(sizeof(int) * ((size_t)pid_max_value + 1));
	if (!pid_head || !pid_to_view) {
		fprintf(stderr, "tt-alloc-torture: out of memory\n");
		return 2;
	}
	memset(pid_head, 0xff, sizeof(int) * ((size_t)pid_max_value + 1));
	memset(pid_to_view, 0xff, sizeof(int) * ((size_t)pid_max_value + 1));

	/* Cells are never reused: one per process ever started. Writers' fork
	 * children may use all but what the driver's own writers need. */
	uint32_t driver_cells = (uint32_t)(opt.short_target + 2048 + opt.seconds * 10);
	uint32_t max_cells = driver_cells + 4096 + opt.seconds * 120;
	shared_fd = memfd_create("tta-torture", 0);
	size_t size = shared_size(max_cells);
	if (shared_fd < 0 || ftruncate(shared_fd, (off_t)size) != 0 ||
	    (sh = shared_map(shared_fd, NULL)) == NULL) {
		fprintf(stderr, "tt-alloc-torture: cannot make the shared area: %s\n",
			strerror(errno));
		return 2;
	}
	sh->max_cells = max_cells;
	sh->fork_cells = max_cells - driver_cells;
	sh->driver_pid = getpid();
	dinfo = calloc(max_cells, sizeof *dinfo);
	if (!dinfo) {
		fprintf(stderr, "tt-alloc-torture: out of memory\n");
		return 2;
	}
	char fdtext[16];
	snprintf(fdtext, sizeof fdtext, "%d", shared_fd);
	setenv("TTA_TORTURE_FD", fdtext, 1);
	unsetenv("TT_ALLOC_TRACKING_ENABLED"); /* the driver itself never reports */

	/* The pid alone is not unique: as init of a pid namespace every run is
	 * pid 1, and /dev/shm is shared with runs in other namespaces. */
	snprintf(segname, sizeof segname, "/tta_torture_%d_%llx", (int)getpid(),
		 (unsigned long long)(mono_ns() & 0xffffffffffull));
	setenv("TT_ALLOC_SHM", segname, 1);
	setenv("TT_ALLOC_MAX_DEVICES", "4", 1);
	setenv("TT_ALLOC_MAX_PROCESSES", "256", 1);
	setenv("TT_ALLOC_MAX_BUFFERS", "131072", 1);
	setenv("TT_ALLOC_SHM_MODE", "0600", 1);
	atexit(cleanup);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGPIPE, SIG_IGN);
	{
		struct tta_create_params p;
		char err[TTA_ERR_MAX];
		struct tta_segment rw;
		if (tta_create_params_from_env(&p, err, sizeof err) != 0 ||
		    tta_segment_open(segname, TTA_OPEN_CREATE, &p, &rw, err, sizeof err) != 0) {
			fprintf(stderr, "tt-alloc-torture: %s\n", err);
			return 2;
		}
		tta_segment_close(&rw);
		if (tta_segment_open(segname, 0, NULL, &segmap, err, sizeof err) != 0) {
			fprintf(stderr, "tt-alloc-torture: %s\n", err);
			return 2;
		}
	}

	printf("tt-alloc-torture: %u s, seed 0x%" PRIx64 ", segment %s, %lu short-lived writers "
	       "planned, checkpoints every %u ms\n",
	       opt.seconds, opt.seed, segname, opt.short_target, opt.checkpoint_ms);

	start_reaper();
	ensure_reaper();
	start_reader();
	int long_cells[LONG_WRITERS];
	for (unsigned i = 0; i < LONG_WRITERS; i++) {
		spawn_long_writer(i);
		long_cells[i] = (int)sh->next_cell - 1;
	}

	uint64_t run_ns = (uint64_t)opt.seconds * 1000000000u;
	uint64_t overtime_ns = run_ns; /* up to 2x to start every short-lived writer */
	uint64_t next_checkpoint = start_ns + (uint64_t)opt.checkpoint_ms * 1000000u;
	uint64_t next_long_kill = start_ns + 500000000u + rnd(1000) * 1000000u;
	uint64_t next_child_kill = start_ns + rnd(2000) * 1000000u;
	uint64_t next_stop = start_ns + rnd(300) * 1000000u;
	uint64_t next_reaper_kill = start_ns + (2000 + rnd(6000)) * 1000000u;
	uint64_t reaper_restart_at = 0;
	uint64_t next_smi = start_ns + 500000000u;
	uint64_t next_status = start_ns + 10000000000ull;

	for (;;) {
		uint64_t now = mono_ns();
		uint64_t elapsed = now - start_ns;
		bool time_up = elapsed >= run_ns;
		if (time_up && (st.started_short >= opt.short_target || elapsed >= run_ns + overtime_ns))
			break;
		struct pollfd pf[1];
		int npf = 0;
		if (reaper_cur && reaper_cur->fd >= 0) {
			pf[0].fd = reaper_cur->fd;
			pf[0].events = POLLIN;
			npf = 1;
		}
		poll(pf, (nfds_t)npf, 1);
		pump();
		now = mono_ns();

		/* Keep the long-lived writers going. */
		for (unsigned i = 0; i < LONG_WRITERS; i++) {
			uint32_t s = load32(&sh->cells[long_cells[i]].state);
			if (s == CELL_DEAD && !time_up) {
				spawn_long_writer(i);
				long_cells[i] = (int)sh->next_cell - 1;
				if ((uint32_t)long_cells[i] >= sh->max_cells)
					long_cells[i] = 0;
			}
		}
		/* Short-lived writers at the planned rate. */
		uint64_t due = opt.short_target * (elapsed < run_ns ? elapsed : run_ns) / run_ns;
		for (int burst = 0; burst < 4 && st.started_short < due &&
				    count_alive(KIND_SHORT) < SHORT_CONCURRENCY;
		     burst++)
			spawn_short_writer();
		for (size_t i = 0; i < n_active; i++) {
			struct dinfo *d = &dinfo[active[i]];
			if (d->short_kill_armed && d->short_kill_at <= now) {
				d->short_kill_armed = false;
				kill_writer(active[i], false);
			}
		}
		if (time_up)
			continue;
		if (now >= next_long_kill) {
			int idx = pick_cell(1u << KIND_LONG, true);
			if (idx >= 0)
				kill_writer(idx, rnd(2) == 0);
			next_long_kill = now + (100 + rnd(400)) * 1000000u;
		}
		if (now >= next_child_kill) {
			int idx = pick_cell(1u << KIND_FORK_CHILD | 1u << KIND_SHORT, true);
			if (idx >= 0)
				kill_writer(idx, rnd(2) == 0);
			next_child_kill = now + (50 + rnd(300)) * 1000000u;
		}
		if (now >= next_stop) {
			int idx = pick_cell(1u << KIND_LONG | 1u << KIND_SHORT | 1u << KIND_FORK_CHILD,
					    true);
			if (idx >= 0)
				stop_writer(idx, now);
			next_stop = now + (20 + rnd(250)) * 1000000u;
		}
		continue_due(now);
		if (reaper_cur && now >= next_reaper_kill) {
			stop_reaper(rnd(4) == 0 ? SIGTERM : SIGKILL);
			reaper_restart_at = now + rnd(1500) * 1000000u;
			next_reaper_kill = now + (1500 + rnd(4500)) * 1000000u;
		}
		if (!reaper_cur && now >= reaper_restart_at && !reaper_alive_somewhere())
			start_reaper();
		if (now >= next_smi) {
			start_smi();
			next_smi = now + (700 + rnd(800)) * 1000000u;
		}
		if (now >= next_checkpoint) {
			checkpoint(false);
			next_checkpoint = mono_ns() + (uint64_t)opt.checkpoint_ms * 1000000u;
		}
		if (now >= next_status) {
			printf("  ... %.0f s: %lu writers started, %lu killed, %lu checkpoints, %lu "
			       "violations\n",
			       (double)elapsed / 1e9,
			       st.started_long + st.started_short + st.started_fork, st.kills,
			       st.checkpoints, st.violations);
			next_status = now + 30000000000ull;
		}
	}

	/* The final check: one more checkpoint with everything alive, then
	 * everybody goes (leaking, freeing, killed) and nothing may remain. */
	checkpoint(true);
	wind_down();
	for (size_t i = 0; i < sh->next_cell && i < sh->max_cells; i++)
		for (int t = 0; t < TORTURE_THREADS; t++)
			st.reports += sh->cells[i].th[t].ops;
	if (reader_pid > 0) {
		kill(reader_pid, SIGKILL);
		waitpid(reader_pid, NULL, 0);
		reader_pid = -1;
	}
	if (sh->reader_errors)
		violation("reader saw %u impossible values, first: %s", sh->reader_errors,
			  sh->reader_msg);
	if (reaper_cur) {
		struct reaper_proc *r = reaper_cur;
		stop_reaper(SIGTERM);
		uint64_t end = mono_ns() + 10000000000ull;
		while (!r->exited && mono_ns() < end) {
			pump();
			sleep_us(1000);
		}
		if (!r->exited)
			violation("tt-alloc-reaper did not stop on SIGTERM within 10 s");
		pump_reaper(r);
	}
	for (int i = 0; i < 4; i++)
		if (smi_pids[i] > 0)
			waitpid(smi_pids[i], NULL, 0);
	if (st.lines_left != st.leak_report_blocks + st.blocks_lost_to_kill)
		violation("%lu reaps with leaks but %lu leak report blocks", st.lines_left,
			  st.leak_report_blocks);

	struct tta_test_health h;
	{
		tta_reader *r;
		char err[TTA_ERR_MAX];
		memset(&h, 0, sizeof h);
		if (tta_reader_open(segname, &r, err, sizeof err) == 0) {
			tta_test_health_read(r, &h);
			tta_reader_close(r);
		}
	}
	double secs = (double)(mono_ns() - start_ns) / 1e9;
	printf("tt-alloc-torture summary (%.1f s, seed 0x%" PRIx64 "):\n", secs, opt.seed);
	printf("  writer processes started: %lu (long-lived %lu, short-lived %lu, forked by "
	       "writers %lu); exec'd images %lu\n",
	       st.started_long + st.started_short + st.started_fork, st.started_long,
	       st.started_short, st.started_fork, st.execs);
	printf("  SIGKILLed writers: %lu; %lu died inside a report call (%lu of the %lu kills "
	       "aimed at one); SIGSTOP/SIGCONT: %lu\n",
	       st.kills, st.kills_in_report, st.aimed_in_report, st.kills_aimed, st.stops);
	printf("  normal exits: %lu holding memory, %lu after freeing all, %lu after detach\n",
	       st.exits_leak, st.exits_free, st.exits_detach);
	printf("  reports made: %" PRIu64 "\n", st.reports);
	printf("  reaper: %lu starts (%lu SIGKILLed, %lu SIGTERMed), %lu reaps logged (%lu with "
	       "a leak report, %lu with nothing left), %lu warnings\n",
	       st.reaper_starts, st.reaper_kills, st.reaper_terms, st.lines_reaped, st.lines_left,
	       st.lines_nothing, st.warnings);
	if (st.blocks_lost_to_kill)
		printf("  (%lu leak report block%s cut off by a reaper SIGKILL between its two "
		       "writes)\n",
		       st.blocks_lost_to_kill, st.blocks_lost_to_kill == 1 ? "" : "s");
	printf("  segment: %" PRIu64 " processes reaped in all (%" PRIu64 " leaky) by the reaper "
	       "and by writers\n",
	       h.processes_reaped, h.leaky_processes);
	printf("  deaths checked against the reaper log: %lu exactly (one line or none), %lu "
	       "allowed either (reaper down or report in flight)\n",
	       st.deaths_exact, st.deaths_ambiguous);
	if (st.reaper_stalls)
		printf("  reaper heartbeat older than the stall limit %lu time%s (writers may reap "
		       "then): %lu more deaths allowed no line\n",
		       st.reaper_stalls, st.reaper_stalls == 1 ? "" : "s", st.stall_ambiguous);
	if (st.lines_ambiguous)
		printf("  deaths whose reaper line may have gone to an earlier death of the same pid: %lu\n",
		       st.lines_ambiguous);
	printf("  checkpoints: %lu; reader passes: %" PRIu64 "; tt-smi runs: %lu\n",
	       st.checkpoints, __atomic_load_n(&sh->reader_passes, __ATOMIC_RELAXED), st.smi_runs);
	printf("  history: %lu quiet samples equal to the exact totals; reader checked %" PRIu64
	       " samples\n",
	       st.history_checks, __atomic_load_n(&sh->reader_history_samples, __ATOMIC_RELAXED));
	printf("  events: reader followed %" PRIu64 ", missed %" PRIu64 " (lapped, or torn by a "
	       "kill), none malformed\n",
	       __atomic_load_n(&sh->reader_events, __ATOMIC_RELAXED),
	       __atomic_load_n(&sh->reader_events_missed, __ATOMIC_RELAXED));
	printf("  bytes mis-accounted: %" PRIu64 "\n", st.misaccounted_bytes);
	printf("  violations: %lu\n", st.violations);
	printf("%s\n", st.violations ? "RESULT: FAIL" : "RESULT: PASS");
	return st.violations ? 1 : 0;
}
