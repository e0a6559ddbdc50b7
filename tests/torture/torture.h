/*
 * torture.h - what the crash-torture driver and its writer processes share.
 *
 * One binary, three roles (tests/torture/torture_main.c picks by argv):
 *   driver  (default)        starts everything, kills, stops, checks;
 *   writer  (--writer CELL)  a tracked process churning allocations;
 *   reader  (--reader)       loops over the read API checking sanity.
 * Writers are fork+exec'd by the driver (so exec is exercised on every
 * start), fork their own children and re-exec themselves in place.
 *
 * The shared area is an anonymous memfd the driver creates and every child
 * inherits (its fd number is in $TTA_TORTURE_FD). It holds one cell per
 * writer process ever started. A cell is written by its process only, except
 * the fields marked otherwise; the driver reads a cell's ledger only when the
 * process is parked at a quiescent point (a checkpoint) or dead.
 *
 * Kernel binaries are never leaks (they have no free event and go with the
 * process), so the ledger counts them apart: a death's expected leak report
 * is the ledger without them.
 *
 * The ledger is each thread's own account of what it holds, updated after
 * every report returns. A thread sets IN_REPORT (and PENDING, the effect the
 * call will have on its buffer count) before the call and clears it after
 * updating the ledger, so a SIGKILL leaves a ledger that is exact except for
 * at most one report in flight, which the driver knows about.
 */
#ifndef TTA_TORTURE_H
#define TTA_TORTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TORTURE_DEVICES 4  /* segment device capacity; writers use all */
#define TORTURE_TYPES 7    /* every tta_mem_type */
#define TORTURE_THREADS 4  /* most threads in one writer process */
#define TORTURE_TAG 0x7a11u /* low 16 bits of every address/id we report */
#define TORTURE_MAX_SIZE (1u << 20)

enum cell_state {
	CELL_UNUSED = 0,
	CELL_STARTING, /* allocated; the process may not run yet */
	CELL_RUNNING,
	CELL_EXITING,  /* finished its last report; about to exit */
	CELL_DEAD      /* death recorded by whoever waited for it */
};

enum cell_kind { KIND_LONG = 1, KIND_SHORT, KIND_FORK_CHILD };

/* What a process does when its op budget runs out (or the driver asks). */
enum cell_intent {
	INTENT_FOREVER = 0, /* churn until killed or asked to exit */
	INTENT_EXIT_LEAK,   /* exit normally holding memory: a leak report */
	INTENT_EXIT_FREE,   /* free everything, then exit: nothing to report */
	INTENT_DETACH_EXIT, /* tta_track_detach, then exit: no slot left at all */
	INTENT_EXEC         /* (fork children) re-exec, then churn on */
};

/* Pending effects of the report in flight (see the top comment). */
enum pending_kind {
	PENDING_NONE = 0,
	PENDING_PLUS,  /* alloc: buffers +1 */
	PENDING_MINUS, /* free: buffers -1 */
	PENDING_SAME,  /* kernel reload: buffers unchanged, bytes change */
	PENDING_RESET  /* detach or first report after exec: anything */
};

struct thread_ledger {
	int64_t bytes[TORTURE_DEVICES][TORTURE_TYPES];
	int64_t buffers[TORTURE_DEVICES]; /* kernel binaries excluded, as in the library */
	int64_t kernels[TORTURE_DEVICES]; /* of those, kernel binaries */
	uint32_t in_report;    /* 1 while inside a tta_report_* call */
	uint32_t pending;      /* enum pending_kind of that call */
	uint32_t paused_epoch; /* = shared pause_epoch while parked there */
	uint32_t exited;       /* thread not running (never started or done) */
	uint64_t ops;          /* reports made */
} __attribute__((aligned(64)));

struct cell {
	int32_t pid;        /* set by the creator after fork and by the process */
	uint32_t state;     /* enum cell_state */
	uint32_t kind;      /* enum cell_kind, set by the creator */
	uint32_t nthreads;  /* set by the creator */
	uint32_t intent;    /* set by the creator */
	uint32_t budget;    /* ops before the intent applies (0: none) */
	uint32_t may_fork;  /* set by the creator */
	uint32_t tight;     /* set by the creator: no pauses between reports */
	uint32_t fault;     /* set by the creator: self-test, see --inject-fault */
	uint32_t exit_req;  /* driver: 0, or INTENT_EXIT_LEAK/EXIT_FREE: finish now */
	int32_t parent_cell;
	int32_t child_cell;  /* the child writer this process must wait for, or -1;
				kept here so an exec'd image goes on waiting for it */
	uint32_t attached;  /* made a report that returned (since the last detach) */
	uint32_t execs;     /* exec'd images of this process so far */
	uint32_t forks;
	uint64_t seed;
	uint64_t start_ns;     /* CLOCK_MONOTONIC before the process was forked */
	/* death, written by whoever waited for the process */
	int32_t wait_status;
	uint32_t death_recorded;
	uint64_t death_ns;     /* CLOCK_MONOTONIC when the waiter saw it */
	uint64_t exit_ns;      /* CLOCK_MONOTONIC when the process chose to exit */
	uint32_t exit_how;     /* enum cell_intent actually carried out */
	uint32_t error;        /* nonzero: the writer saw something wrong (see msg) */
	char msg[120];
	struct thread_ledger th[TORTURE_THREADS];
};

struct shared {
	uint32_t pause_req;    /* driver: 1 while a checkpoint wants writers parked */
	uint32_t pause_epoch;  /* driver: bumped for every checkpoint */
	uint32_t next_cell;    /* bump allocator over cells[] (atomic) */
	uint32_t max_cells;
	uint32_t stop_forks;   /* driver: no new fork children (end of run) */
	uint32_t fork_cells;   /* driver: writers fork only below this cell index,
				  the rest is kept for the driver's own writers */
	uint32_t reader_errors;
	int32_t driver_pid;    /* writers exit when it is gone */
	uint64_t reader_passes;
	char reader_msg[160];
	/* The reader's follow of the event ring and reads of the history. */
	uint64_t reader_events, reader_events_missed, reader_history_samples;
	uint64_t pad[5];
	struct cell cells[];
};

/* Roles. */
int torture_driver(int argc, char **argv);
int torture_writer(int cell, bool exec_image);
int torture_reader(void);
int torture_fork_storm(unsigned seconds);
int torture_hostile(unsigned seconds);

/* Shared helpers (torture_util.c). */
uint64_t mono_ns(void);
void sleep_us(unsigned us);
uint64_t xorshift(uint64_t *s);
struct shared *shared_map(int fd, size_t *size_out);
size_t shared_size(uint32_t max_cells);
/* Sums the ledgers of every thread of CELL into BYTES/BUFFERS. */
void cell_ledger_sum(const struct cell *c, int64_t bytes[TORTURE_DEVICES][TORTURE_TYPES],
		     int64_t buffers[TORTURE_DEVICES]);

static inline uint32_t load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static inline void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}
static inline int64_t load64s(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void store64s(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

#endif /* TTA_TORTURE_H */
