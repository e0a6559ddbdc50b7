/*
 * hostile.c - tt-alloc-torture --hostile SECONDS: writers that corrupt what
 * they own, while the real tt-alloc-reaper, an innocent writer, a bystander
 * process and tt-smi run.
 *
 * Each round starts a hostile writer: it attaches normally, then maps the
 * segment read-write and scribbles over its own slot (identity, and a state
 * word naming the bystander, the innocent writer, init, pid 0, the reaper or
 * nobody, with matching or garbage start times and namespaces), its counter
 * lines, its chunk owner words (including the innocent writer's tag), its
 * records (sequence words left odd, devices and types out of range), the
 * device entry it registered, and the header's shared words (hints,
 * registry word with futex wake-ups, shortfall and reaper fields). Then it
 * exits, is SIGKILLed, or keeps scribbling until killed.
 *
 * What must hold (each a failure of this run):
 *  - the reaper never crashes or hangs: a normal writer SIGKILLed in every
 *    round is reclaimed within 5 s with its leak report;
 *  - the reaper never acts on another process: the innocent writer's slot
 *    word never changes, its tracking stays attached, its own figures stay
 *    exact; the bystander is never signalled;
 *  - readers never crash or hang: the read API in this process and tt-smi
 *    (text, --json --buffers) exit normally within 10 s every round.
 * Exit status 0 all held, 1 a violation, 2 setup error.
 */
#include <ck_pr.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tt-alloc/events.h"
#include "tt-alloc/history.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "../tta_health.h"
#include "tta_segment.h"
#include "torture.h"

#define INNOCENT_BUFFERS 8

struct hostile_shared {
	int32_t innocent_pid, bystander_pid, reaper_pid;
	uint32_t innocent_lost; /* innocent writer saw its tracking go */
	uint64_t innocent_state; /* its slot word, as it saw it after attaching */
	uint32_t innocent_slot;
	uint64_t innocent_start, bystander_start, init_start, reaper_start;
	uint64_t scribbles;
};

static struct hostile_shared *hs;
static char segname[64];
static char self_dir[PATH_MAX];
static unsigned violations;
static uint64_t rng;

static void hviolation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hviolation(const char *fmt, ...)
{
	violations++;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "VIOLATION ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t r64(void)
{
	return xorshift(&rng);
}

static int wait_exit_for(pid_t pid, unsigned ms, bool *timed_out)
{
	int status = 0;
	*timed_out = false;
	for (unsigned t = 0;; t += 10) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return status;
		if (t >= ms) {
			*timed_out = true;
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return status;
		}
		sleep_us(10000);
	}
}

/* ---- the processes ---- */

static uint64_t innocent_address(unsigned i)
{
	return 0x40000000u + (uint64_t)i * 0x10000u;
}

static int64_t innocent_bytes(unsigned i)
{
	return 1000 + (int64_t)i;
}

/* Holds INNOCENT_BUFFERS buffers (device i % 4, DRAM) and keeps reporting
 * (frees of an address it never had: the report path runs, the figures do
 * not move), so a slot taken from under it would show at once. */
static void innocent_main(void)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	for (unsigned i = 0; i < INNOCENT_BUFFERS; i++)
		tta_report_alloc(i % 4, innocent_address(i), (uint64_t)innocent_bytes(i),
				 TTA_MEM_DRAM);
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(NULL, 0, NULL, &seg, err, sizeof err) == 0) {
		for (uint32_t s = 0; s < seg.geo.slot_capacity; s++) {
			uint64_t st = ck_pr_load_64(&tta_slot_at(&seg, s)->state);
			if (TTA_SLOT_PHASE(st) == TTA_SLOT_LIVE && TTA_SLOT_PID(st) == getpid()) {
				hs->innocent_state = st;
				hs->innocent_slot = s;
			}
		}
		tta_segment_close(&seg);
	}
	__atomic_store_n(&hs->innocent_pid, getpid(), __ATOMIC_RELEASE);
	for (;;) {
		tta_report_free(0, 0x77);
		if (tta_track_state() != TTA_TRACK_ATTACHED) {
			__atomic_store_n(&hs->innocent_lost, 1, __ATOMIC_RELEASE);
			for (;;)
				pause();
		}
		sleep_us(5000);
	}
}

/* Finds our slot and tag in SEG. */
static bool find_own_slot(struct tta_segment *seg, uint32_t *slot, uint64_t *state)
{
	uint64_t start = 0;
	tta_proc_start_time(getpid(), &start);
	for (uint32_t s = 0; s < seg->geo.slot_capacity; s++) {
		struct tta_slot *sl = tta_slot_at(seg, s);
		uint64_t st = ck_pr_load_64(&sl->state);
		if (TTA_SLOT_PHASE(st) == TTA_SLOT_LIVE && TTA_SLOT_PID(st) == getpid() &&
		    ck_pr_load_64(&sl->start_time) == start) {
			*slot = s;
			*state = st;
			return true;
		}
	}
	return false;
}

static void scribble_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)r64();
}

/* One pass of damage over everything this process owns. */
static void scribble(struct tta_segment *seg, uint32_t slot, uint64_t tag, uint64_t own_state)
{
	struct tta_slot *s = tta_slot_at(seg, slot);
	struct tta_header *h = tta_hdr(seg);
	uint64_t x = r64();
	/* identity fields */
	switch (x % 6) {
	case 0:
		scribble_bytes(s->comm, sizeof s->comm);
		scribble_bytes(s->cmdline, sizeof s->cmdline);
		break;
	case 1:
		ck_pr_store_64(&s->start_time, r64() % 3 ? hs->bystander_start : r64());
		break;
	case 2:
		ck_pr_store_64(&s->pidns_ino, r64() % 2 ? tta_self_pidns_ino() : r64());
		break;
	case 3:
		ck_pr_store_64(&s->reaper_pid, (uint64_t)hs->innocent_pid);
		ck_pr_store_64(&s->reaper_start_time, hs->innocent_start);
		break;
	default:
		scribble_bytes(&s->uid, sizeof s->uid + sizeof s->image_id);
		break;
	}
	/* the state word: impersonate someone, or anything at all */
	if ((x >> 8) % 4 == 0) {
		static const int who_count = 7;
		int who = (int)((x >> 12) % (uint64_t)who_count);
		int32_t pid = who == 0 ? hs->bystander_pid : who == 1 ? hs->innocent_pid
			     : who == 2 ? 1 : who == 3 ? 0 : who == 4 ? hs->reaper_pid
			     : who == 5 ? getpid() : (int32_t)(r64() & 0x3fffffff);
		uint64_t start = who == 0 ? hs->bystander_start : who == 1 ? hs->innocent_start
				: who == 2 ? hs->init_start : who == 4 ? hs->reaper_start : r64();
		unsigned phase = (unsigned)((x >> 16) % 4);
		ck_pr_store_64(&s->start_time, start);
		ck_pr_store_64(&s->state,
			       (x >> 20) % 8 == 0 ? r64()
						  : TTA_SLOT_STATE(phase, pid, TTA_SLOT_GEN(own_state)));
	}
	/* counters */
	struct tta_counter_line *lines = tta_counter_at(seg, slot, 0);
	if ((x >> 24) % 2)
		scribble_bytes(lines, seg->geo.device_capacity * sizeof *lines);
	/* our chunks and their records */
	for (uint32_t c = 0; c < tta_chunk_count(seg); c++) {
		uint64_t *owner = tta_chunk_owner_at(seg, c);
		if (ck_pr_load_64(owner) != tag)
			continue;
		for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++)
			if (r64() % 4 == 0)
				scribble_bytes(tta_record_at(seg, c * TTA_RECORDS_PER_CHUNK + i),
					       sizeof(struct tta_record));
		uint64_t y = r64() % 5;
		if (y == 0)
			ck_pr_store_64(owner, r64());
		else if (y == 1)
			ck_pr_store_64(owner, TTA_OWNER_TAG(r64() % 100000, r64()));
	}
	/* a device entry we registered (or any device, for its arch string) */
	struct tta_device *d = tta_device_at(seg, (uint32_t)(x >> 28) % seg->geo.device_capacity);
	if (ck_pr_load_64(&d->registered_pid) == (uint64_t)getpid())
		scribble_bytes(d->arch, sizeof d->arch + sizeof d->capacity);
	/* shared header words every writer may touch */
	switch ((x >> 32) % 5) {
	case 0:
		ck_pr_store_64(&h->chunk_hint, r64());
		ck_pr_store_64(&h->slot_hint, r64());
		break;
	case 1:
		ck_pr_store_32(&h->registry_seq, (uint32_t)r64());
		syscall(SYS_futex, &h->registry_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		break;
	case 2:
		scribble_bytes(&h->counters[0], 8 * sizeof(uint64_t));
		break;
	case 3:
		/* Claim the reaper's registration for the bystander. */
		ck_pr_store_64(&h->reaper.pid, (uint64_t)hs->bystander_pid);
		ck_pr_store_64(&h->reaper.start_time, hs->bystander_start);
		break;
	default:
		scribble_bytes(&h->counters[TTA_CTR_processes_reaped], 4 * sizeof(uint64_t));
		break;
	}
	/* History and events: any writer can write them, so any can forge
	 * them: stamps (odd, future, another interval's), values, the heads
	 * of the history and of the event ring, whole event entries. */
	if (seg->hist.devices != 0) {
		uint32_t dev = (uint32_t)(r64() % seg->hist.devices);
		for (int k = 0; k < 8; k++) {
			struct tta_history_slot *hs_slot =
				r64() % 2 ? tta_history_fine_at(seg, dev, (uint32_t)(r64() % seg->hist.fine_count))
					  : tta_history_coarse_at(seg, dev,
								  (uint32_t)(r64() % seg->hist.coarse_count));
			uint64_t now_n = tta_now_coarse_ns() / seg->hist.fine_ns;
			switch (r64() % 4) {
			case 0: ck_pr_store_64(&hs_slot->stamp, 2 * now_n + 1); break;
			case 1: ck_pr_store_64(&hs_slot->stamp, 2 * (now_n - r64() % 100) + 2); break;
			case 2: ck_pr_store_64(&hs_slot->stamp, r64()); break;
			default: scribble_bytes(hs_slot, sizeof *hs_slot); break;
			}
		}
		if (r64() % 4 == 0)
			scribble_bytes(tta_history_head_at(seg, dev), sizeof(struct tta_history_head));
	}
	if (seg->events.capacity != 0) {
		struct tta_event_ring_header *eh = tta_events_header(seg);
		switch (r64() % 5) {
		case 0: ck_pr_store_64(&eh->head, r64()); break;
		case 1: ck_pr_store_64(&eh->head, ck_pr_load_64(&eh->head) - r64() % 1000); break;
		case 2: ck_pr_add_64(&eh->head, r64() % 200000); break;
		default: break;
		}
		for (int k = 0; k < 16; k++) {
			uint64_t pos = ck_pr_load_64(&eh->head) - r64() % 64;
			struct tta_event_entry *e = tta_event_at(seg, pos);
			if (r64() % 2)
				scribble_bytes(e, sizeof *e);
			else
				ck_pr_store_64(&e->seq, r64() % 2 ? 2 * pos + 2 : 2 * pos + 1);
		}
	}
	__atomic_add_fetch(&hs->scribbles, 1, __ATOMIC_RELAXED);
}

static void hostile_main(unsigned mode)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	prctl(PR_SET_NAME, "hostile", 0, 0, 0);
	struct tta_device_info info;
	tta_device_info_blackhole(&info, 140);
	tta_register_device((uint32_t)(r64() % 4), &info);
	for (unsigned i = 0; i < 100; i++) {
		tta_report_alloc(i % 4, 0x1000u * i, 64 + i, (enum tta_mem_type)(i % 5));
		tta_report_cb_alloc(i % 4, i, 10);
		tta_report_kernel_load(i % 4, i, 100, TTA_KERNEL_APPLICATION);
	}
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	uint32_t slot;
	uint64_t state;
	if (tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, &seg, err, sizeof err) != 0 ||
	    !find_own_slot(&seg, &slot, &state))
		_exit(2);
	uint64_t tag = TTA_OWNER_TAG(slot, TTA_SLOT_GEN(state));
	unsigned passes = mode == 2 ? UINT32_MAX : 1 + (unsigned)(r64() % 20);
	for (unsigned n = 0; n < passes; n++) {
		scribble(&seg, slot, tag, state);
		if (mode == 2)
			sleep_us(500);
	}
	/* Reporting on after the damage: libtrack must cope (or disable). */
	for (unsigned i = 0; i < 100; i++)
		tta_report_free(i % 4, 0x1000u * i);
	_exit(0);
}

static pid_t fork_role(void (*fn)(void), unsigned arg, void (*fn_arg)(unsigned))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		rng ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
		if (fn)
			fn();
		else
			fn_arg(arg);
		_exit(0);
	}
	return pid;
}

static void bystander_main(void)
{
	for (;;)
		pause();
}

static void normal_main(unsigned n)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(3, 0x50000000u + n, 4096, TTA_MEM_L1);
	for (;;)
		pause();
}

/* ---- checks ---- */

/* The innocent writer's rows: by slot and generation, since a hostile slot
 * may well carry the innocent writer's pid. */
struct row_sum {
	uint32_t slot, generation;
	int64_t dram[4];
	int rows;
};

static int sum_rows(const struct tta_process_view *p, uint32_t dev, const int64_t *used,
		    int64_t buffers, void *ctx)
{
	struct row_sum *s = ctx;
	(void)buffers;
	if (p->slot == s->slot && p->generation == s->generation && dev < 4) {
		s->dram[dev] += used[TTA_MEM_DRAM];
		s->rows++;
	}
	return 0;
}

static void check_innocent(tta_reader *r)
{
	struct row_sum s = { .slot = hs->innocent_slot,
			     .generation = TTA_SLOT_GEN(hs->innocent_state) };
	tta_reader_foreach_process(r, sum_rows, &s);
	for (unsigned d = 0; d < 4; d++) {
		int64_t want = 0;
		for (unsigned i = 0; i < INNOCENT_BUFFERS; i++)
			if (i % 4 == d)
				want += innocent_bytes(i);
		if (s.dram[d] != want)
			hviolation("innocent writer's device %u DRAM reads %lld, it holds %lld", d,
				   (long long)s.dram[d], (long long)want);
	}
}

static int count_slots_of(struct tta_segment *seg, int32_t pid, uint64_t *state_out)
{
	int n = 0;
	for (uint32_t s = 0; s < seg->geo.slot_capacity; s++) {
		uint64_t st = ck_pr_load_64(&tta_slot_at(seg, s)->state);
		if (TTA_SLOT_PHASE(st) != TTA_SLOT_FREE && TTA_SLOT_PID(st) == pid) {
			n++;
			if (state_out)
				*state_out = st;
		}
	}
	return n;
}

/* The history and a follow of the event ring, through the read API: on a
 * forged region they may say little, but never crash or hang. */
static void read_history_and_events(void)
{
	tta_reader *r;
	char err[256];
	if (tta_reader_open(segname, &r, err, sizeof err) != 0) {
		hviolation("reader refused the segment: %s", err);
		return;
	}
	uint64_t t0 = tta_now_mono_ns();
	tta_history *h;
	if (tta_history_take(r, -1, 600, &h, err, sizeof err) == 0) {
		FILE *null = fopen("/dev/null", "w");
		if (null) {
			tta_history_write_json(h, null);
			fclose(null);
		}
		tta_history_free(h);
	} else {
		hviolation("history: %s", err);
	}
	tta_history_free(NULL);
	tta_event_cursor *c;
	if (tta_events_open(r, TTA_EVENTS_OLDEST, &c, err, sizeof err) == 0) {
		char line[256];
		for (int i = 0; i < 20000; i++) {
			const struct tta_event *e;
			uint64_t missed;
			int got = tta_events_next(c, &e, &missed);
			if (got == 1)
				tta_event_format(e, line, sizeof line);
			else if (got == 0 && missed == 0 && i % 100 == 99)
				sleep_us(1000);
		}
		tta_events_close(c);
	}
	if (tta_now_mono_ns() - t0 > 10ull * 1000000000ull)
		hviolation("reading history and events took over 10 s");
	tta_reader_close(r);
}

static bool run_smi(const char *arg1, const char *arg2)
{
	char bin[PATH_MAX + 16];
	snprintf(bin, sizeof bin, "%s/tt-smi", self_dir);
	if (access(bin, X_OK) != 0)
		return true;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		execl(bin, "tt-smi", arg1, arg2, (char *)NULL);
		_exit(127);
	}
	bool timed_out;
	int st = wait_exit_for(pid, 10000, &timed_out);
	if (timed_out || WIFSIGNALED(st) || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		hviolation("tt-smi %s %s: %s (status 0x%x)", arg1 ? arg1 : "", arg2 ? arg2 : "",
			   timed_out ? "hung" : "failed", st);
		return false;
	}
	return true;
}

int torture_hostile(unsigned seconds)
{
	ssize_t n = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
	if (n <= 0)
		return 2;
	self_dir[n] = '\0';
	*strrchr(self_dir, '/') = '\0';
	rng = mono_ns() | 1;
	hs = mmap(NULL, sizeof *hs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hs == MAP_FAILED)
		return 2;
	snprintf(segname, sizeof segname, "/tta_hostile_%d", (int)getpid());
	setenv("TT_ALLOC_SHM", segname, 1);
	setenv("TT_ALLOC_MAX_DEVICES", "4", 1);
	setenv("TT_ALLOC_MAX_PROCESSES", "64", 1);
	setenv("TT_ALLOC_MAX_BUFFERS", "16384", 1);
	setenv("TT_ALLOC_SHM_MODE", "0600", 1);
	unsetenv("TT_ALLOC_TRACKING_ENABLED");
	tta_proc_start_time(1, &hs->init_start);

	char log_path[] = "/tmp/tta-hostile-reaper.XXXXXX";
	int log_fd = mkstemp(log_path);
	if (log_fd < 0)
		return 2;
	unlink(log_path);
	char reaper_bin[PATH_MAX + 32];
	snprintf(reaper_bin, sizeof reaper_bin, "%s/tt-alloc-reaper", self_dir);
	fflush(NULL);
	pid_t reaper = fork();
	if (reaper == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(log_fd, STDERR_FILENO);
		execl(reaper_bin, "tt-alloc-reaper", "--scan-interval", "200", (char *)NULL);
		_exit(127);
	}
	hs->reaper_pid = reaper;
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	int opened = -1;
	for (int i = 0; i < 200 && opened != 0; i++) {
		opened = tta_segment_open(segname, 0, NULL, &seg, err, sizeof err);
		if (opened != 0)
			sleep_us(20000);
	}
	if (opened != 0) {
		fprintf(stderr, "hostile: %s\n", err);
		return 2;
	}
	tta_proc_start_time(reaper, &hs->reaper_start);
	pid_t bystander = fork_role(bystander_main, 0, NULL);
	hs->bystander_pid = bystander;
	sleep_us(20000);
	tta_proc_start_time(bystander, &hs->bystander_start);
	pid_t innocent = fork_role(innocent_main, 0, NULL);
	while (__atomic_load_n(&hs->innocent_pid, __ATOMIC_ACQUIRE) == 0)
		sleep_us(1000);
	tta_proc_start_time(innocent, &hs->innocent_start);

	unsigned rounds = 0, normal_reaped = 0;
	pid_t scribblers[8] = { 0 };
	uint64_t end = mono_ns() + (uint64_t)seconds * 1000000000u;
	while (mono_ns() < end && violations < 20) {
		rounds++;
		unsigned mode = (unsigned)(r64() % 3); /* 0 exit, 1 killed, 2 scribble on */
		pid_t h = fork_role(NULL, mode, hostile_main);
		if (mode == 1) {
			sleep_us((unsigned)(r64() % 20000));
			kill(h, SIGKILL);
		}
		if (mode == 2) {
			unsigned k = rounds % 8;
			if (scribblers[k] > 0) {
				kill(scribblers[k], SIGKILL);
				waitpid(scribblers[k], NULL, 0);
			}
			scribblers[k] = h;
		} else {
			bool timed_out;
			wait_exit_for(h, 10000, &timed_out);
			if (timed_out)
				hviolation("a hostile writer hung in libtrack after damaging its slot");
		}
		/* The reaper must still do its job: a normal writer dies, and is
		 * reclaimed with a leak report, within 5 s. */
		pid_t w = fork_role(NULL, rounds, normal_main);
		for (int i = 0; i < 500 && count_slots_of(&seg, w, NULL) == 0; i++)
			sleep_us(10000);
		kill(w, SIGKILL);
		waitpid(w, NULL, 0);
		bool reaped = false;
		for (int i = 0; i < 500 && !reaped; i++) {
			reaped = count_slots_of(&seg, w, NULL) == 0;
			if (!reaped)
				sleep_us(10000);
		}
		if (!reaped)
			hviolation("round %u: the reaper did not reclaim a dead writer within 5 s "
				   "(reaper %s)",
				   rounds, kill(reaper, 0) == 0 ? "alive" : "gone");
		else
			normal_reaped++;
		/* Nobody else was touched. */
		if (__atomic_load_n(&hs->innocent_lost, __ATOMIC_ACQUIRE))
			hviolation("the innocent writer lost its slot (tracking disabled under it)");
		if (ck_pr_load_64(&tta_slot_at(&seg, hs->innocent_slot)->state) != hs->innocent_state)
			hviolation("the innocent writer's slot word changed");
		if (waitpid(bystander, NULL, WNOHANG) != 0 || kill(bystander, 0) != 0)
			hviolation("the bystander process was signalled");
		if (waitpid(reaper, NULL, WNOHANG) != 0)
			hviolation("tt-alloc-reaper died");
		tta_reader *r;
		if (tta_reader_open(segname, &r, err, sizeof err) == 0) {
			struct tta_test_health hl;
			tta_test_health_read(r, &hl);
			for (uint32_t d = 0; d < 4; d++) {
				struct tta_device_view v;
				tta_reader_device(r, d, &v);
			}
			check_innocent(r);
			tta_reader_close(r);
		} else {
			hviolation("reader refused the segment: %s", err);
		}
		run_smi(rounds % 2 ? "--json" : "--buffers", rounds % 2 ? "--buffers" : NULL);
		run_smi("--history", rounds % 2 ? "--json" : NULL);
		read_history_and_events();
	}
	for (unsigned k = 0; k < 8; k++)
		if (scribblers[k] > 0) {
			kill(scribblers[k], SIGKILL);
			waitpid(scribblers[k], NULL, 0);
		}
	/* The innocent writer dies too: its own leak report, exactly. */
	kill(innocent, SIGKILL);
	waitpid(innocent, NULL, 0);
	char needle[64];
	snprintf(needle, sizeof needle, "leak report: pid %d ", (int)innocent);
	bool reported = false;
	for (int i = 0; i < 500 && !reported; i++) {
		char buf[1 << 16];
		ssize_t got = pread(log_fd, buf, sizeof buf - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		/* The log may be longer than BUF: search its tail too. */
		off_t size = lseek(log_fd, 0, SEEK_END);
		if (size > (off_t)sizeof buf - 1) {
			got = pread(log_fd, buf, sizeof buf - 1, size - (off_t)sizeof buf + 1);
			buf[got > 0 ? got : 0] = '\0';
		}
		reported = strstr(buf, needle) != NULL;
		if (!reported)
			sleep_us(10000);
	}
	if (!reported)
		hviolation("no leak report for the innocent writer");
	kill(bystander, SIGKILL);
	waitpid(bystander, NULL, 0);
	kill(reaper, SIGTERM);
	bool timed_out;
	int st = wait_exit_for(reaper, 10000, &timed_out);
	if (timed_out || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		hviolation("tt-alloc-reaper did not stop cleanly (status 0x%x%s)", st,
			   timed_out ? ", hung" : "");
	if (violations) {
		char buf[4096];
		ssize_t got = pread(log_fd, buf, sizeof buf - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		fprintf(stderr, "reaper log (start):\n%s\n", buf);
	}
	tta_segment_close(&seg);
	shm_unlink(segname);
	printf("hostile: %u rounds, %llu damage passes, %u dead writers reclaimed beside them, "
	       "%u violations\n",
	       rounds, (unsigned long long)hs->scribbles, normal_reaped, violations);
	printf("%s\n", violations ? "RESULT: FAIL" : "RESULT: PASS");
	return violations ? 1 : 0;
}
