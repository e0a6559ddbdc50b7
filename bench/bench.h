/*
 * bench.h - internals of tt-alloc-bench, the benchmark that compares
 * tt-alloc's shared-memory segment ("shm") with two baselines rebuilt from
 * public descriptions: the old socket server ("socket") and TT-Metal's
 * counters-only per-chip SHM tracker ("counters_shm"). docs/bench.md
 * describes the method and what the figures mean.
 *
 * Modules:
 *   bench_main.c     options, sections a-g, output of targets
 *   bench_util.c     clocks, statistics, the result table and its JSON,
 *                    child processes, /proc readings
 *   bench_writers.c  one "writer" per system: attach, fill a live set,
 *                    churn allocate+free pairs, detach
 *   bench_ck.c       section h: ck_ht / ck_hs / ck_rhs under churn
 *   bench_bridge.c   section i: the old socket protocol, bridge vs baseline
 *   bench_sources.c  section j: the sources beside the segment
 *   bench_sites.c    section k: cost of tags and TT_ALLOC_STACK_TRACE=1
 *   bench_exporter.c section l: a Prometheus scrape of tt-alloc-exporter
 *   bench_history.c  section m: history, peaks and events on the report path
 *   bench_workload.c section n: trace replays (tracking off, tt-alloc, socket)
 *   bench_growth.c   section o: how cost grows with buffers, processes,
 *                    devices; tt-smi; segment memory; the reaper's CPU
 *
 * Process model: the bench process itself never makes a tta_report_* call;
 * every writer runs in a forked child, so each measurement starts from a
 * fresh library state and a writer's death is a real process death.
 * Threading: single-threaded apart from the children.
 * Errors: a failed measurement is reported on stderr and left out of the
 * results (the JSON then lacks that figure); setup failures exit 1.
 */
#ifndef TTA_BENCH_H
#define TTA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- configuration ------------------------------------------------------ */

#define BENCH_MAX_LEVELS 4
#define BENCH_SECTIONS "abcdefghijklmno" /* every section letter, in print order */

struct bench_config {
	bool quick, json;
	const char *only;           /* section letters to run, NULL = all */
	const char *json_out;       /* also write the JSON here */
	char self_dir[4096];        /* where tt-alloc-bench lives */
	char server_bin[4200];
	char reaper_bin[4200];
	char bridge_bin[4200];
	char tmpdir[256];
	char socket_path[108];
	char shm_name[64];          /* libtrack segment, private to this run */
	char cshm_prefix[64];       /* counters-only model regions */

	/* a: report cost */
	uint32_t live_levels[BENCH_MAX_LEVELS];
	unsigned n_levels, headline_level;
	unsigned reps;
	uint64_t pairs_fast, pairs_socket; /* per repeat */
	/* b: processes */
	uint32_t live_scaling;
	double scaling_seconds;
	unsigned scaling_reps;
	/* c: visibility */
	unsigned visibility_samples;
	/* d: queries */
	unsigned query_holders;
	unsigned query_batch, query_batch_socket;
	/* g: crash cleanup */
	uint32_t reap_buffers;
	unsigned reap_reps_shm, reap_reps_socket;
	/* h: ck tables */
	uint32_t ck_live[2];
	double ck_seconds;          /* time budget per measured repeat */
	unsigned ck_reps;
	double load_start;          /* 1-minute load average when the run began */
	/* segment capacity for the run */
	uint32_t seg_records, seg_slots, seg_devices;
};

extern struct bench_config cfg;

bool bench_section_enabled(char letter);
/* One line on stderr ("tt-alloc-bench: ..."): progress and setup errors. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Counts a measurement that could not be set up (exit status 1). */
void bench_setup_failed(void);

/* ---- clocks and statistics ----------------------------------------------- */

uint64_t now_ns(void);             /* CLOCK_MONOTONIC */
uint64_t process_cpu_ns(void);     /* CLOCK_PROCESS_CPUTIME_ID */

struct summary {
	double median, min, max, p10, p90, p99;
	unsigned n;
};
/* Sorts V in place and summarises it (N > 0). */
struct summary summarize(double *v, unsigned n);

/* ---- results ------------------------------------------------------------- */

/* Records one figure: SECTION letter, ROW label (e.g. "100000 live"),
 * SYSTEM column, UNIT, and the summary of repeated measurements. The table
 * prints median [min..max]; the JSON carries everything. */
void result_add(char section, const char *row, const char *system, const char *unit,
		struct summary s);
void result_add_value(char section, const char *row, const char *system, const char *unit,
		      double value);
/* Looks a figure up; returns NULL if it was not measured. */
const struct summary *result_get(char section, const char *row, const char *system);
/* Free-text remark printed under a section (and in the JSON). */
void result_note(char section, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct target {
	const char *name;
	double goal;     /* required ratio or bound */
	double measured; /* < 0: not measured */
	bool higher_is_better;
	char detail[400];
};
void target_add(const struct target *t);

/* Section j (bench_sources.c): reading the sources beside the segment.
 * Returns 0, or -1 if it could not be set up. */
int run_sources(void);
/* Removes what section j left if it was interrupted (signal-safe enough
 * for the benchmark's exit path). */
void sources_cleanup(void);

void results_print_table(void);
void results_print_json(FILE *out);

/* ---- processes and /proc ------------------------------------------------- */

/* Shared anonymous memory visible to forked children (zeroed). */
void *shared_alloc(size_t size);
/* Forks; the child runs FN(ARG) and exits with its return value. */
pid_t spawn_fn(int (*fn)(void *), void *arg);
/* Waits for PID; returns its exit status, or 128+signal. */
int wait_child(pid_t pid);
/* fork + exec ARGV with stdout/stderr to LOGFILE (NULL: /dev/null). */
pid_t spawn_exec(char *const argv[], const char *logfile);

/* RssAnon / VmRSS of PID (0 = self) in bytes; 0 if unreadable. */
uint64_t proc_rss_anon(pid_t pid);
uint64_t proc_rss_total(pid_t pid);
/* CPU time of every thread of PID in ns (/proc/PID/task/N/schedstat,
 * falling back to utime+stime). Threads that exit in between are lost, so
 * callers measure while the threads they care about are alive. */
uint64_t proc_cpu_ns(pid_t pid);

/* The machine, for the report; load = 1-minute load average or -1. */
double machine_load(void);
void machine_describe(char *cpu_model, size_t n, unsigned *ncpu, char *kernel, size_t kn);

/* ---- the socket baseline server ----------------------------------------- */

/* Spawns ARGV (logging to LOG_NAME in the bench's temp dir) and waits up to
 * 5 s until it accepts on PATH; returns its pid or -1. */
pid_t listener_start(char *const argv[], const char *log_name, const char *path);
/* Starts build/tt-alloc-socket-server on cfg.socket_path (cleanup on
 * disconnect on) and waits until it accepts. Returns its pid or -1. */
pid_t socket_server_start(void);
void socket_server_stop(pid_t pid);

/* ---- writers (bench_writers.c) ------------------------------------------- */

enum sys {
	SYS_SHM,          /* tta_report_alloc / tta_report_free */
	SYS_SHM_HANDLE,   /* tta_report_alloc_handle / tta_report_free_handle */
	SYS_COUNTERS,     /* counters-only model, through its call site */
	SYS_COUNTERS_CORE,/* counters-only model, provider methods only */
	SYS_SOCKET,       /* old AllocationClient -> socket server */
	SYS_COUNT
};
extern const char *const sys_name[SYS_COUNT];

struct writer {
	enum sys sys;
	uint32_t device;
	uint64_t *addr;   /* ring of live addresses */
	uint64_t *token;  /* handles (SYS_SHM_HANDLE) */
	uint32_t live, pos;
	uint64_t next_addr;
	void *impl;       /* counters provider / socket client */
};

/* Size and memory type (TT-Metal numbering, DRAM or L1) every system
 * reports for ADDRESS, so a free can recompute what its alloc said. */
static inline uint64_t bench_size_of(uint64_t address)
{
	return (((address >> 12) % 61u) + 1u) << 10;
}
static inline unsigned bench_type_of(uint64_t address)
{
	return (unsigned)((address >> 12) & 1u);
}

/* Attaches (counters/socket) and allocates the ring. 0 or -errno. */
int writer_open(struct writer *w, enum sys sys, uint32_t device, uint32_t live);
/* Reports LIVE allocations. */
int writer_populate(struct writer *w);
/* PAIRS times: allocate a fresh address, free the oldest live one. */
void writer_churn(struct writer *w, uint64_t pairs);
/* PAIRS times: allocate a fresh address and free it at once (the live set
 * stays as it is: a short-lived buffer among LIVE long-lived ones). */
void writer_churn_temporary(struct writer *w, uint64_t pairs);
/* Returns once every report made so far is visible to readers (socket: a
 * QUERY round trip on the writer's own connection). */
int writer_sync(struct writer *w);
/* Frees what is live, detaches and releases the ring. */
void writer_close(struct writer *w);
/* One allocation or free without the ring (sections c and g). */
void writer_alloc_one(struct writer *w, uint64_t address);
void writer_free_one(struct writer *w, uint64_t address);

/* ---- readers ------------------------------------------------------------- */

/* Fills the DRAM+L1 bytes and the buffer count of DEVICE as each system's
 * reader sees it. Socket: one QUERY round trip (buffers unknown: -1). */
struct reader;
struct reader *reader_open(enum sys sys);
int reader_device(struct reader *r, uint32_t device, int64_t *bytes, int64_t *buffers);
void reader_close(struct reader *r);

/* ---- section h (bench_ck.c) --------------------------------------------- */
void run_ck_tables(void);

/* ---- section k (bench_sites.c): tags and call sites ---------------------- */
void run_sites(void);
/* ---- section m (bench_history.c): history, peaks, events on the report path */
#define MAX_REPS_M 16
void run_history_cost(void);
/* The core-only segment section m creates (empty when none), for cleanup. */
extern char bench_core_shm_name[80];

/* ---- section l (bench_exporter.c) --------------------------------------- */
/* 256 tracked processes on 64 devices; times the snapshot, the exposition
 * and an HTTP scrape of build/tt-alloc-exporter. */
void run_exporter_scrape(void);

/* ---- section i (bench_bridge.c), n (bench_workload.c), o (bench_growth.c) */
void run_bridge(void);
void run_workloads(void);
void run_growth(void);

/* Dependent-load latency (a pointer chase over BYTES of 64-byte lines in a
 * random cyclic order), ns per load; HUGE asks for transparent huge pages.
 * The floor for anything that must touch that much memory at random. */
double pointer_chase_ns(size_t bytes, bool huge);

/* The floor of a free that loads its bucket and then its record, with both
 * working sets in play at once: a pointer chase alternating between a
 * TABLE_BYTES map on huge pages and a RECORD_BYTES one on 4 KiB pages, each
 * load's address the previous load's value; ns per bucket+record. Two
 * separate chases underestimate it whenever each set fits the cache alone
 * and both together do not. */
double bucket_record_chase_ns(size_t table_bytes, size_t record_bytes);

/* Median of V[0..N) (sorts V). */
double median_of_values(double *v, unsigned n);

#endif /* TTA_BENCH_H */
