/*
 * bench_history.c - section m: what history, peaks and events cost on the
 * report path. The same writer (address pair and handle pair, as in section
 * a) reports into three segments of one run: one with the core regions only
 * (what a segment made before issue 9 holds: no history sample to record,
 * no peak line to keep), one with history and peaks (the default), and the
 * same with TT_ALLOC_EVENTS=1 (every report also appends to the event ring).
 * Runs of the three are interleaved, one child process each, and the
 * medians compared, so machine noise hits all three alike. The target (what
 * history and peaks add to the handle pair) is judged on a finer
 * comparison: one child alternates the core and the default segment,
 * detaching and re-attaching between them, so that each difference is taken
 * on one CPU placement a few milliseconds apart (which CPU a child lands on
 * moves a pair by 15-25 ns on the test VM, more than the effect).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tt-alloc/tt_alloc.h"
#include "tta_segment.h"

enum variant { V_NONE, V_HISTORY, V_EVENTS, V_COUNT };
static const char *const variant_name[V_COUNT] = {
	[V_NONE] = "none (core segment)",
	[V_HISTORY] = "history+peaks",
	[V_EVENTS] = "history+peaks+events",
};

char bench_core_shm_name[80];

struct j_out {
	int ok;
	double pair_ns;
};

struct j_job {
	enum variant variant;
	enum sys sys;
	uint32_t live;
	struct j_out *out;
};

/* One writer of SYS on segment SHM: LIVE buffers, a warm-up, then
 * cfg.pairs_fast timed pairs; ns per pair, *OK cleared on failure. The
 * close detaches, so the next attach reads TT_ALLOC_SHM again. */
static double timed_pairs(enum sys sys, const char *shm, uint32_t live, int *ok)
{
	setenv("TT_ALLOC_SHM", shm, 1);
	struct writer w;
	if (writer_open(&w, sys, 0, live) < 0 || writer_populate(&w) < 0) {
		*ok = 0;
		return 0;
	}
	writer_churn(&w, cfg.pairs_fast / 2); /* warm-up */
	uint64_t t0 = now_ns();
	writer_churn(&w, cfg.pairs_fast);
	double ns = (double)(now_ns() - t0) / (double)cfg.pairs_fast;
	writer_close(&w);
	return ns;
}

static int j_child(void *arg)
{
	struct j_job *job = arg;
	/* Read at the first report: this child's event switch. */
	setenv("TT_ALLOC_EVENTS", job->variant == V_EVENTS ? "1" : "0", 1);
	int ok = 1;
	job->out->pair_ns = timed_pairs(job->sys,
					job->variant == V_NONE ? bench_core_shm_name : cfg.shm_name,
					job->live, &ok);
	job->out->ok = ok;
	return ok ? 0 : 1;
}

/* Differences (default segment - core segment), handle pair, one child. */
struct alt_out {
	int ok;
	unsigned n;
	double diff_ns[MAX_REPS_M];
};

struct alt_job {
	uint32_t live;
	unsigned rounds;
	struct alt_out *out;
};

static int alt_child(void *arg)
{
	struct alt_job *job = arg;
	setenv("TT_ALLOC_EVENTS", "0", 1);
	int ok = 1;
	for (unsigned r = 0; r < job->rounds && r < MAX_REPS_M && ok; r++) {
		/* Alternate which goes first, so neither always runs warmer. */
		double core, full;
		if (r % 2 == 0) {
			core = timed_pairs(SYS_SHM_HANDLE, bench_core_shm_name, job->live, &ok);
			full = timed_pairs(SYS_SHM_HANDLE, cfg.shm_name, job->live, &ok);
		} else {
			full = timed_pairs(SYS_SHM_HANDLE, cfg.shm_name, job->live, &ok);
			core = timed_pairs(SYS_SHM_HANDLE, bench_core_shm_name, job->live, &ok);
		}
		if (ok)
			job->out->diff_ns[job->out->n++] = full - core;
	}
	job->out->ok = ok;
	return ok ? 0 : 1;
}

void run_history_cost(void)
{
	snprintf(bench_core_shm_name, sizeof bench_core_shm_name, "%s_core", cfg.shm_name);
	struct tta_create_params params = { cfg.seg_devices, cfg.seg_slots, cfg.seg_records, 0600,
					    .core_only = true };
	struct tta_segment seg;
	char err[TTA_ERR_MAX];
	if (tta_segment_open(bench_core_shm_name, TTA_OPEN_CREATE, &params, &seg, err, sizeof err) <
	    0) {
		fprintf(stderr, "tt-alloc-bench: j: cannot create %s: %s\n", bench_core_shm_name, err);
		bench_core_shm_name[0] = '\0';
		return;
	}
	tta_segment_close(&seg);

	static const enum sys systems[] = { SYS_SHM, SYS_SHM_HANDLE };
	uint32_t live = cfg.live_levels[cfg.headline_level];
	double ns[2][V_COUNT][MAX_REPS_M];
	unsigned got[2][V_COUNT] = { { 0 } };
	struct j_out *out = shared_alloc(sizeof *out);
	for (unsigned r = 0; r < cfg.reps && r < MAX_REPS_M; r++) {
		for (unsigned si = 0; si < 2; si++) {
			for (unsigned v = 0; v < V_COUNT; v++) {
				memset(out, 0, sizeof *out);
				struct j_job job = { (enum variant)v, systems[si], live, out };
				pid_t pid = spawn_fn(j_child, &job);
				if (pid <= 0 || wait_child(pid) != 0 || !out->ok) {
					fprintf(stderr, "tt-alloc-bench: j: %s %s run %u failed\n",
						sys_name[systems[si]], variant_name[v], r);
					continue;
				}
				ns[si][v][got[si][v]++] = out->pair_ns;
			}
		}
	}
	munmap(out, sizeof *out);
	struct alt_out *alt = shared_alloc(sizeof *alt);
	memset(alt, 0, sizeof *alt);
	struct alt_job alt_job = { live, cfg.reps, alt };
	pid_t alt_pid = spawn_fn(alt_child, &alt_job);
	if (alt_pid <= 0 || wait_child(alt_pid) != 0 || !alt->ok)
		fprintf(stderr, "tt-alloc-bench: m: the alternating run failed\n");
	unsigned alt_n = alt->ok ? alt->n : 0;
	double alt_diff[MAX_REPS_M];
	memcpy(alt_diff, alt->diff_ns, sizeof alt_diff);
	munmap(alt, sizeof *alt);
	shm_unlink(bench_core_shm_name);
	bench_core_shm_name[0] = '\0';

	double median[2][V_COUNT] = { { 0 } };
	for (unsigned si = 0; si < 2; si++) {
		char row[64];
		snprintf(row, sizeof row, "%s pair, %u live", si ? "handle" : "address", live);
		for (unsigned v = 0; v < V_COUNT; v++) {
			if (got[si][v] == 0)
				continue;
			struct summary s = summarize(ns[si][v], got[si][v]);
			median[si][v] = s.median;
			result_add('m', row, variant_name[v], "ns/pair", s);
		}
	}
	result_note('m', "the writer of section a (fresh address, free the oldest live one) at %u "
		    "live, into a core-only segment, a default segment (history samples + peak "
		    "lines) and the same with TT_ALLOC_EVENTS=1; median [min..max] of %u interleaved "
		    "runs of %llu pairs, one process each",
		    live, cfg.reps, (unsigned long long)cfg.pairs_fast);
	for (unsigned si = 0; si < 2; si++) {
		if (median[si][V_NONE] <= 0)
			continue;
		const char *what = si ? "handle" : "address";
		result_note('m', "%s pair: history+peaks %+.1f ns, events %+.1f ns more", what,
			    median[si][V_HISTORY] - median[si][V_NONE],
			    median[si][V_EVENTS] - median[si][V_HISTORY]);
	}
	double same = -1;
	if (alt_n > 0) {
		struct summary d = summarize(alt_diff, alt_n);
		same = d.median;
		result_add('m', "handle pair, one process: history+peaks - core", "history+peaks",
			   "ns/pair", d);
		result_note('m', "one process alternates the core and the default segment %u "
			    "times (detach, re-attach, %llu pairs each): the median of the "
			    "differences is what the target judges",
			    alt_n, (unsigned long long)cfg.pairs_fast);
	}
	struct target t;
	memset(&t, 0, sizeof t);
	t.name = "handle pair: ns added by history + peaks (always on)";
	t.goal = 10;
	t.higher_is_better = false;
	/* A negative difference is noise, not a saving: it counts as 0 added
	 * (a negative figure would read as "not measured"); the detail keeps it. */
	double added = median[1][V_HISTORY] - median[1][V_NONE];
	t.measured = alt_n > 0 ? (same > 0 ? same : 0) : -1;
	snprintf(t.detail, sizeof t.detail, "one process, median of %u same-placement differences: "
		 "%+.1f ns per pair at %u live; separate processes: %.1f -> %.1f ns (%+.1f ns); "
		 "address pair %.1f -> %.1f ns", alt_n, same, live, median[1][V_NONE],
		 median[1][V_HISTORY], added, median[0][V_NONE], median[0][V_HISTORY]);
	target_add(&t);
	/* Events are a decision, not a target: above 10 ns a report they are
	 * opt-in (TT_ALLOC_EVENTS=1), as the library does. */
	if (median[1][V_HISTORY] > 0 && median[1][V_EVENTS] > 0) {
		double per_report = (median[1][V_EVENTS] - median[1][V_HISTORY]) / 2;
		result_add_value('m', "events: ns per report (handle pair / 2)", variant_name[V_EVENTS],
				 "ns/report", per_report);
		result_note('m', "events cost %.1f ns per report: %s the 10 ns budget, so per-report "
			    "events are opt-in (TT_ALLOC_EVENTS=1); attach, exit and reap events are "
			    "always recorded", per_report, per_report > 10 ? "above" : "within");
	}
}
