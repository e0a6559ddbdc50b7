/*
 * writer.c - a torture writer process (tt-alloc-torture --writer CELL).
 *
 * Churns allocations on every device and memory type through every report
 * call (address-keyed, handles, circular buffers, kernel loads and reloads),
 * from 1..TORTURE_THREADS threads, keeping its ledger in its cell (see
 * torture.h). Besides churning it may fork a child writer (waited for here),
 * re-exec itself in place (threads die wherever they are), detach, register a
 * device, and at the end of its budget exit holding memory, free everything
 * first, or detach first. It parks at a quiescent point whenever the driver
 * raises pause_req, so a checkpoint compares the segment with ledgers that are
 * exact.
 *
 * Exit status: 0 normal, 3 the writer saw something wrong (cell->msg says
 * what: tracking disabled under it, a handle refused, detach count wrong),
 * 2 setup failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "torture.h"

#define LIVE 160        /* live allocations per thread at most */
#define KERNEL_IDS 6    /* kernel ids per thread and device */
#define BURST 48        /* reports between short sleeps */

enum entry_kind { E_NONE = 0, E_ADDR, E_HANDLE, E_CB };

struct entry {
	uint64_t addr, size;
	tta_handle handle;
	uint8_t dev, type, kind;
};

struct wthread {
	struct cell *cell;
	int idx;
	struct thread_ledger *L;
	uint64_t rng;
	uint64_t held; /* live entries (kernels excepted): what detach must return */
	struct entry live[LIVE];
	uint64_t kernel_size[TORTURE_DEVICES][KERNEL_IDS];
	pthread_t thread;
};

static struct shared *sh;
static struct cell *me;
static int me_index;
static struct wthread *threads[TORTURE_THREADS];
/* Process-local: 0 run, else the enum cell_intent every thread finishes by. */
static uint32_t stop_mode;
/* The one child this process may have at a time (main thread only). */
static pid_t child_pid;
static int child_cell = -1;

static void fail_writer(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail_writer(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(me->msg, sizeof me->msg, fmt, ap);
	va_end(ap);
	store32(&me->error, 1);
	fprintf(stderr, "torture writer pid %d: %s\n", (int)getpid(), me->msg);
	_exit(3);
}

static inline void report_begin(struct wthread *w, enum pending_kind pending)
{
	store32(&w->L->pending, pending);
	store32(&w->L->in_report, 1);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void report_end(struct wthread *w)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* Whichever thread's report attached us, we hold a slot from now on. */
	if (!load32(&me->attached))
		store32(&me->attached, 1);
	store32(&w->L->in_report, 0);
	store32(&w->L->pending, PENDING_NONE);
	__atomic_store_n(&w->L->ops, w->L->ops + 1, __ATOMIC_RELAXED);
}

static inline void ledger_add(struct wthread *w, unsigned dev, unsigned type, int64_t bytes,
			      int64_t buffers)
{
	store64s(&w->L->bytes[dev][type], w->L->bytes[dev][type] + bytes);
	store64s(&w->L->buffers[dev], w->L->buffers[dev] + buffers);
}

static uint64_t tagged(struct wthread *w, uint64_t index)
{
	return ((uint64_t)(w->idx + 1) << 40) | (index << 16) | TORTURE_TAG;
}

/* Records the death of our child in its cell (so the driver learns it even
 * if we die next), then collects it. Main thread only. */
static void poll_child(bool block)
{
	if (child_pid <= 0)
		return;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
	if (waitid(P_PID, (id_t)child_pid, &si, flags) != 0 || si.si_pid == 0)
		return;
	struct cell *c = &sh->cells[child_cell];
	int status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8 : (si.si_status & 0x7f);
	c->wait_status = status;
	__atomic_store_n(&c->death_ns, mono_ns(), __ATOMIC_RELAXED);
	store32(&c->death_recorded, 1);
	store32(&c->state, CELL_DEAD);
	waitpid(child_pid, NULL, 0);
	child_pid = 0;
	child_cell = -1;
	store32((uint32_t *)&me->child_cell, (uint32_t)-1);
}

/* A writer outliving its driver (killed by a test timeout) goes too. */
static void exit_if_orphaned(void)
{
	if (kill(sh->driver_pid, 0) != 0 && errno == ESRCH)
		_exit(0);
}

static void park(struct wthread *w)
{
	uint32_t epoch = load32(&sh->pause_epoch);
	store32(&w->L->paused_epoch, epoch);
	for (unsigned n = 0; load32(&sh->pause_req) && load32(&sh->pause_epoch) == epoch; n++) {
		if (w->idx == 0)
			poll_child(false);
		if (n % 1024 == 1023)
			exit_if_orphaned();
		sleep_us(300);
	}
}

static inline void maybe_park(struct wthread *w)
{
	if (__builtin_expect(__atomic_load_n(&sh->pause_req, __ATOMIC_RELAXED) != 0, 0))
		park(w);
}

/* ---- single operations; each is one report bracketed by the ledger ---- */

static const unsigned buffer_types[] = { TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_SYSTEM,
					 TTA_MEM_L1_SMALL, TTA_MEM_TRACE };

static void op_free(struct wthread *w, struct entry *e)
{
	report_begin(w, PENDING_MINUS);
	if (e->kind == E_CB)
		tta_report_cb_free(e->dev, e->addr);
	else if (e->kind == E_HANDLE)
		tta_report_free_handle(e->handle);
	else
		tta_report_free(e->dev, e->addr);
	ledger_add(w, e->dev, e->type, -(int64_t)e->size, -1);
	e->kind = E_NONE;
	w->held--;
	report_end(w);
}

static void op_alloc(struct wthread *w, unsigned k, uint64_t x)
{
	struct entry *e = &w->live[k];
	e->dev = (uint8_t)((x >> 8) % TORTURE_DEVICES);
	e->size = 1 + (x >> 32) % (x & 0x10000 ? TORTURE_MAX_SIZE : 4096u);
	e->addr = tagged(w, k);
	unsigned pick = (unsigned)((x >> 20) % 8);
	report_begin(w, PENDING_PLUS);
	if (pick >= 6) {
		e->type = TTA_MEM_CB;
		e->kind = E_CB;
		tta_report_cb_alloc(e->dev, e->addr, e->size);
	} else {
		e->type = (uint8_t)buffer_types[pick % 5];
		if (pick == 5 || (x & 0x200)) {
			e->kind = E_HANDLE;
			e->handle = tta_report_alloc_handle(e->dev, e->addr, e->size,
							    (enum tta_mem_type)e->type);
			if (e->handle == 0)
				fail_writer("tta_report_alloc_handle returned 0 (state %d)",
					    (int)tta_track_state());
		} else {
			e->kind = E_ADDR;
			tta_report_alloc(e->dev, e->addr, e->size, (enum tta_mem_type)e->type);
		}
	}
	/* Self-test (--inject-fault): now and then "forget" an allocation, as a
	 * lost report would; the driver must notice. */
	if (!(me->fault && (w->L->ops % 5000) == 4999))
		ledger_add(w, e->dev, e->type, (int64_t)e->size, 1);
	w->held++;
	report_end(w);
}

static void op_kernel(struct wthread *w, uint64_t x)
{
	unsigned dev = (unsigned)(x % TORTURE_DEVICES), id = (unsigned)((x >> 4) % KERNEL_IDS);
	uint64_t old = w->kernel_size[dev][id];
	/* Half the reloads keep the size (answered by the lock-free lookup). */
	uint64_t size = old && (x & 0x100) ? old : 1 + (x >> 24) % 65536;
	/* Kernel binaries are never leaks: a load does not change what a
	 * death must report, so it is PENDING_SAME either way. */
	report_begin(w, PENDING_SAME);
	tta_report_kernel_load(dev, tagged(w, 0x800 + id), size,
			       (enum tta_kernel_kind)((x >> 12) % 3));
	/* Kernel binaries count in bytes, never in buffers. */
	ledger_add(w, dev, TTA_MEM_KERNEL, (int64_t)size - (int64_t)old, 0);
	if (!old)
		store64s(&w->L->kernels[dev], w->L->kernels[dev] + 1);
	w->kernel_size[dev][id] = size;
	report_end(w);
}

static void forget_everything(struct wthread *w)
{
	memset(w->live, 0, sizeof w->live);
	memset(w->kernel_size, 0, sizeof w->kernel_size);
	w->held = 0;
}

/* Detach drops the whole process's allocations: only called while no other
 * thread of ours reports (single-threaded, or the workers have stopped). */
static void op_detach(struct wthread *w)
{
	uint64_t expected = 0;
	for (int i = 0; i < TORTURE_THREADS; i++)
		if (threads[i])
			expected += threads[i]->held;
	report_begin(w, PENDING_RESET);
	long live = tta_track_detach();
	for (int i = 0; i < TORTURE_THREADS; i++) {
		memset(me->th[i].bytes, 0, sizeof me->th[i].bytes);
		memset(me->th[i].buffers, 0, sizeof me->th[i].buffers);
		memset(me->th[i].kernels, 0, sizeof me->th[i].kernels);
		if (threads[i])
			forget_everything(threads[i]);
	}
	store32(&me->attached, 0);
	store32(&w->L->in_report, 0);
	store32(&w->L->pending, PENDING_NONE);
	__atomic_store_n(&w->L->ops, w->L->ops + 1, __ATOMIC_RELAXED);
	if ((uint64_t)live != expected)
		fail_writer("tta_track_detach returned %ld, the ledger held %llu", live,
			    (unsigned long long)expected);
}

static void op_register(struct wthread *w, uint64_t x)
{
	struct tta_device_info info;
	if (x & 1)
		tta_device_info_wormhole_b0(&info, 72);
	else
		tta_device_info_blackhole(&info, 140);
	report_begin(w, PENDING_SAME);
	int rc = tta_register_device((uint32_t)((x >> 8) % TORTURE_DEVICES), &info);
	report_end(w);
	if (rc < 0)
		fail_writer("tta_register_device failed while tracking (state %d)",
			    (int)tta_track_state());
}

static void free_all(struct wthread *w)
{
	for (unsigned k = 0; k < LIVE; k++) {
		maybe_park(w);
		if (w->live[k].kind != E_NONE)
			op_free(w, &w->live[k]);
	}
}

/* Each thread tags what it allocates "wN" or "wN-b" (N its index), and
 * switches between the two now and then, so tags are interned, published
 * and used from every thread under churn and SIGKILL; the reader checks
 * every buffer carries one of these (torture.h, TORTURE_TAG_OK). */
static void retag(struct wthread *w, bool second)
{
	char tag[16];
	snprintf(tag, sizeof tag, second ? "w%d-b" : "w%d", w->idx);
	tta_set_tag(tag);
}

/* One churn step: free a live entry or fill an empty one, now and then a
 * kernel load. */
static void churn_step(struct wthread *w)
{
	uint64_t x = xorshift(&w->rng);
	if ((x & 1023) == 512)
		retag(w, (x >> 10) & 1);
	if ((x & 15) == 0) {
		op_kernel(w, x >> 4);
		return;
	}
	unsigned k = (unsigned)((x >> 4) % LIVE);
	if (w->live[k].kind != E_NONE)
		op_free(w, &w->live[k]);
	else
		op_alloc(w, k, x >> 8);
}

static void check_attached(void)
{
	enum tta_track_state st = tta_track_state();
	if (load32(&me->attached) && st != TTA_TRACK_ATTACHED)
		fail_writer("tracking is no longer attached (state %d): our slot was taken",
			    (int)st);
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
	struct wthread *w = arg;
	retag(w, false);
	for (unsigned n = 0;; n++) {
		maybe_park(w);
		uint32_t mode = __atomic_load_n(&stop_mode, __ATOMIC_ACQUIRE);
		if (mode) {
			if (mode == INTENT_EXIT_FREE)
				free_all(w);
			break;
		}
		churn_step(w);
		if (n % BURST == BURST - 1 && !me->tight)
			sleep_us(100 + (unsigned)(w->rng % 400));
	}
	store32(&w->L->exited, 1);
	return NULL;
}

static struct wthread *new_thread_state(int idx)
{
	struct wthread *w = calloc(1, sizeof *w);
	if (w == NULL) {
		fprintf(stderr, "torture writer: out of memory\n");
		_exit(2);
	}
	w->cell = me;
	w->idx = idx;
	w->L = &me->th[idx];
	w->rng = (me->seed ^ ((uint64_t)idx * 0x9e3779b97f4a7c15ull) ^ mono_ns()) | 1;
	return w;
}

static void start_workers(void)
{
	uint32_t n = me->nthreads;
	for (uint32_t i = 1; i < n && i < TORTURE_THREADS; i++) {
		struct wthread *w = new_thread_state((int)i);
		threads[i] = w;
		/* Not during a checkpoint: the new thread could not be waited for. */
		while (load32(&sh->pause_req))
			park(threads[0]);
		store32(&w->L->exited, 0);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			store32(&w->L->exited, 1);
			threads[i] = NULL;
			free(w);
		}
	}
}

/* Main thread: stop the workers the way MODE says and wait for them, still
 * parking for checkpoints and collecting a child meanwhile. */
static void stop_workers(uint32_t mode)
{
	__atomic_store_n(&stop_mode, mode, __ATOMIC_RELEASE);
	for (int i = 1; i < TORTURE_THREADS; i++) {
		if (threads[i] == NULL)
			continue;
		while (!load32(&threads[i]->L->exited)) {
			maybe_park(threads[0]);
			poll_child(false);
			sleep_us(200);
		}
		pthread_join(threads[i]->thread, NULL);
	}
}

static void exec_self(bool keep_intent)
{
	char idx[16];
	snprintf(idx, sizeof idx, "%d", me_index);
	if (!keep_intent) {
		uint64_t x = xorshift(&threads[0]->rng);
		static const uint32_t after[] = { INTENT_EXIT_LEAK, INTENT_EXIT_FREE,
						  INTENT_DETACH_EXIT };
		me->intent = after[x % 3];
		me->budget = 20 + (uint32_t)((x >> 8) % 300);
	}
	__atomic_add_fetch(&me->execs, 1, __ATOMIC_RELAXED);
	execl("/proc/self/exe", "tt-alloc-torture", "--writer", idx, "--exec-image", (char *)NULL);
	fail_writer("exec of /proc/self/exe failed: %s", strerror(errno));
}

static int run_process(bool exec_image);

static void maybe_fork(struct wthread *w)
{
	if (child_pid > 0 || load32(&sh->stop_forks))
		return;
	if (load32(&sh->next_cell) >= sh->fork_cells)
		return;
	uint32_t idx = __atomic_fetch_add(&sh->next_cell, 1, __ATOMIC_ACQ_REL);
	if (idx >= sh->max_cells)
		return;
	struct cell *c = &sh->cells[idx];
	uint64_t x = xorshift(&w->rng);
	c->kind = KIND_FORK_CHILD;
	c->nthreads = 1;
	static const uint32_t intents[] = { INTENT_EXIT_LEAK, INTENT_EXIT_FREE,
					    INTENT_DETACH_EXIT, INTENT_EXEC };
	c->intent = intents[x % 4];
	c->budget = 10 + (uint32_t)((x >> 8) % 400);
	c->seed = x >> 3;
	c->parent_cell = me_index;
	c->child_cell = -1;
	c->fault = me->fault;
	c->start_ns = mono_ns();
	for (int i = 1; i < TORTURE_THREADS; i++)
		c->th[i].exited = 1;
	store32(&c->state, CELL_STARTING);
	pid_t pid = fork();
	if (pid < 0) {
		store32(&c->state, CELL_DEAD); /* never ran: nothing to expect */
		store32(&c->death_recorded, 1);
		return;
	}
	if (pid == 0) {
		/* The child: a new writer in its own cell, from scratch. */
		me = c;
		me_index = (int)idx;
		memset(threads, 0, sizeof threads);
		child_pid = 0;
		child_cell = -1;
		stop_mode = 0;
		__atomic_store_n(&me->pid, getpid(), __ATOMIC_RELEASE);
		_exit(run_process(false));
	}
	__atomic_store_n(&c->pid, pid, __ATOMIC_RELEASE);
	__atomic_add_fetch(&me->forks, 1, __ATOMIC_RELAXED);
	child_pid = pid;
	child_cell = (int)idx;
	store32((uint32_t *)&me->child_cell, idx);
}

static void finish(uint32_t how)
{
	stop_workers(how);
	struct wthread *w = threads[0];
	if (how == INTENT_EXIT_FREE)
		free_all(w);
	else if (how == INTENT_DETACH_EXIT && load32(&me->attached))
		op_detach(w);
	while (child_pid > 0) {
		maybe_park(w);
		poll_child(false);
		sleep_us(200);
	}
	maybe_park(w);
	store32(&me->exit_how, how);
	__atomic_store_n(&me->exit_ns, mono_ns(), __ATOMIC_RELAXED);
	store32(&me->state, CELL_EXITING);
}

/* After an exec: the first report reclaims the slot of our previous image
 * (libtrack does that on attach), so from its return on we hold exactly what
 * it allocated. Until then the old slot is LIVE and matches the old ledger. */
static void first_report_after_exec(struct wthread *w)
{
	report_begin(w, PENDING_RESET);
	uint64_t x = xorshift(&w->rng);
	struct entry *e = &w->live[0];
	e->dev = (uint8_t)(x % TORTURE_DEVICES);
	e->type = TTA_MEM_DRAM;
	e->size = 1 + (x >> 16) % 4096;
	e->addr = tagged(w, 0);
	e->kind = E_ADDR;
	tta_report_alloc(e->dev, e->addr, e->size, TTA_MEM_DRAM);
	for (int i = 0; i < TORTURE_THREADS; i++) {
		memset(me->th[i].bytes, 0, sizeof me->th[i].bytes);
		memset(me->th[i].buffers, 0, sizeof me->th[i].buffers);
		memset(me->th[i].kernels, 0, sizeof me->th[i].kernels);
		if (i > 0) {
			me->th[i].in_report = 0;
			me->th[i].pending = 0;
			store32(&me->th[i].exited, 1);
		}
	}
	ledger_add(w, e->dev, e->type, (int64_t)e->size, 1);
	w->held = 1;
	report_end(w);
}

static int run_process(bool exec_image)
{
	char name[16];
	snprintf(name, sizeof name, "ttw-%s%d",
		 me->kind == KIND_LONG ? "L" : me->kind == KIND_SHORT ? "S" : "F", me_index);
	prctl(PR_SET_NAME, name, 0, 0, 0);
	store32(&me->state, CELL_RUNNING);
	struct wthread *w = new_thread_state(0);
	threads[0] = w;
	retag(w, false);
	if (exec_image)
		first_report_after_exec(w);
	maybe_park(w);
	start_workers();
	if ((w->rng & 7) == 0)
		op_register(w, xorshift(&w->rng));

	uint32_t ops = 0;
	bool single = me->nthreads <= 1;
	for (;;) {
		maybe_park(w);
		uint32_t req = load32(&me->exit_req);
		if (req) {
			finish(req);
			break;
		}
		if (me->budget && ops >= me->budget) {
			if (me->intent == INTENT_EXEC)
				exec_self(false);
			if (me->intent != INTENT_FOREVER) {
				finish(me->intent);
				break;
			}
		}
		churn_step(w);
		ops++;
		uint64_t x = w->rng;
		if ((ops & 255) == 0) {
			check_attached();
			poll_child(false);
		}
		if ((ops & 4095) == 0)
			exit_if_orphaned();
		if (me->may_fork && (x & 0x7fff) == 7)
			maybe_fork(w);
		/* Re-exec in place: every thread dies wherever it is. */
		if (me->kind == KIND_LONG && (x & 0x3ffff) == 11)
			exec_self(true);
		if (single && (x & 0x1fff) == 5)
			op_detach(w);
		if (ops % BURST == 0 && me->kind == KIND_LONG && !me->tight)
			sleep_us(100 + (unsigned)(x % 400));
	}
	return 0;
}

int torture_writer(int cell, bool exec_image)
{
	const char *fd_text = getenv("TTA_TORTURE_FD");
	if (fd_text == NULL) {
		fprintf(stderr, "torture writer: TTA_TORTURE_FD not set (internal mode)\n");
		return 2;
	}
	sh = shared_map(atoi(fd_text), NULL);
	if (sh == NULL || cell < 0 || (uint32_t)cell >= sh->max_cells) {
		fprintf(stderr, "torture writer: bad shared area or cell %d\n", cell);
		return 2;
	}
	me = &sh->cells[cell];
	me_index = cell;
	__atomic_store_n(&me->pid, getpid(), __ATOMIC_RELEASE);
	int32_t child = (int32_t)load32((uint32_t *)&me->child_cell);
	if (exec_image && child >= 0 && (uint32_t)child < sh->max_cells) {
		/* A child the previous image forked is still ours to wait for. */
		child_cell = child;
		child_pid = __atomic_load_n(&sh->cells[child].pid, __ATOMIC_ACQUIRE);
	}
	return run_process(exec_image);
}
