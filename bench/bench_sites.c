/*
 * bench_sites.c - section k: what tags and TT_ALLOC_STACK_TRACE=1 cost per
 * allocation, measured through the real report functions in forked writer
 * children (the variable is read once per process, so each mode is its own
 * process), modes interleaved repeat by repeat so machine noise hits them
 * alike:
 *   untagged              allocate + free, no tag, no stack traces (today's path)
 *   tagged                the same with a tag set once
 *   tag set each pair     tta_set_tag (two names, alternating) before each pair
 *   stack traces          TT_ALLOC_STACK_TRACE=1, every pair from one known site
 *   new site              one allocation from a call site never seen before
 *                         (unwind, symbolize through libdw, store in the segment)
 *   first site            the first new site of a process, which also loads
 *                         libdw and reads the process's module list
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "tt-alloc/tt_alloc.h"

#define SITES_REPS_MAX 16
#define NEW_SITES 200 /* below the 256 a process keeps */

enum site_mode { M_PLAIN, M_TAGGED, M_TAG_EACH, M_STACK, M_MODES };
static const char *const mode_row[M_MODES] = {
	"pair, untagged", "pair, tagged", "pair, tag set each pair", "pair, stack traces (known site)",
};

struct sites_out {
	int ok;
	double pair_ns;
	double new_site_ns[NEW_SITES];
	double first_site_ns;
};

/* One call site for every measured pair. */
__attribute__((noinline)) static void pair_at(uint64_t address)
{
	tta_report_alloc(0, address, 4096, TTA_MEM_DRAM);
	tta_report_free(0, address);
	__asm__ volatile("" ::: "memory");
}

/* 20 x 10 distinct call stacks: inner j called from outer i. */
typedef void (*inner_fn)(uint64_t);
#define INNER(j)                                                                   \
	__attribute__((noinline)) static void inner_##j(uint64_t a)                 \
	{                                                                           \
		tta_report_alloc(0, a, 4096, TTA_MEM_DRAM);                          \
		__asm__ volatile("" ::: "memory");                                  \
	}
#define OUTER(i)                                                                   \
	__attribute__((noinline)) static void outer_##i(inner_fn f, uint64_t a)     \
	{                                                                           \
		f(a);                                                               \
		__asm__ volatile("" ::: "memory");                                  \
	}
INNER(0) INNER(1) INNER(2) INNER(3) INNER(4) INNER(5) INNER(6) INNER(7) INNER(8) INNER(9)
INNER(10) INNER(11) INNER(12) INNER(13) INNER(14) INNER(15) INNER(16) INNER(17) INNER(18)
INNER(19)
OUTER(0) OUTER(1) OUTER(2) OUTER(3) OUTER(4) OUTER(5) OUTER(6) OUTER(7) OUTER(8) OUTER(9)

static const inner_fn inners[20] = {
	inner_0, inner_1, inner_2, inner_3, inner_4, inner_5, inner_6, inner_7, inner_8, inner_9,
	inner_10, inner_11, inner_12, inner_13, inner_14, inner_15, inner_16, inner_17, inner_18,
	inner_19,
};
static void (*const outers[10])(inner_fn, uint64_t) = {
	outer_0, outer_1, outer_2, outer_3, outer_4, outer_5, outer_6, outer_7, outer_8, outer_9,
};

struct sites_job {
	enum site_mode mode;
	bool new_sites;
	struct sites_out *out;
};

static int sites_child(void *arg)
{
	struct sites_job *job = arg;
	struct sites_out *out = job->out;
	if (job->mode == M_STACK || job->new_sites)
		setenv("TT_ALLOC_STACK_TRACE", "1", 1);
	else
		unsetenv("TT_ALLOC_STACK_TRACE");
	if (job->mode == M_TAGGED)
		tta_set_tag("bench");
	if (job->new_sites) {
		/* The very first site of the process, then each new one alone. */
		uint64_t t0 = now_ns();
		pair_at(0x100000);
		out->first_site_ns = (double)(now_ns() - t0);
		for (unsigned k = 0; k < NEW_SITES; k++) {
			uint64_t a = 0x200000 + (uint64_t)k * 0x1000;
			t0 = now_ns();
			outers[k / 20](inners[k % 20], a);
			out->new_site_ns[k] = (double)(now_ns() - t0);
		}
		out->ok = tta_track_state() == TTA_TRACK_ATTACHED;
		return 0;
	}
	uint64_t pairs = cfg.pairs_fast;
	for (uint64_t i = 0; i < pairs / 4; i++) /* attach and warm up */
		pair_at(0x100000 + (i & 1023) * 0x1000);
	uint64_t t0 = now_ns();
	if (job->mode == M_TAG_EACH) {
		for (uint64_t i = 0; i < pairs; i++) {
			tta_set_tag(i & 1 ? "weights" : "kv_cache");
			pair_at(0x100000 + (i & 1023) * 0x1000);
		}
	} else {
		for (uint64_t i = 0; i < pairs; i++)
			pair_at(0x100000 + (i & 1023) * 0x1000);
	}
	out->pair_ns = (double)(now_ns() - t0) / (double)pairs;
	out->ok = tta_track_state() == TTA_TRACK_ATTACHED;
	return 0;
}

static bool run_child(struct sites_job *job)
{
	memset(job->out, 0, sizeof *job->out);
	pid_t pid = spawn_fn(sites_child, job);
	return pid > 0 && wait_child(pid) == 0 && job->out->ok;
}

void run_sites(void)
{
	unsigned reps = cfg.reps;
	if (reps > SITES_REPS_MAX)
		reps = SITES_REPS_MAX;
	struct sites_out *out = shared_alloc(sizeof *out);
	double pair[M_MODES][SITES_REPS_MAX];
	unsigned got[M_MODES] = { 0 };
	double *fresh = calloc((size_t)reps * NEW_SITES, sizeof *fresh);
	double first[SITES_REPS_MAX];
	unsigned n_fresh = 0, n_first = 0;
	if (out == NULL || fresh == NULL) {
		free(fresh);
		result_note('k', "out of memory, not measured");
		return;
	}
	for (unsigned r = 0; r < reps; r++) {
		for (int m = 0; m < M_MODES; m++) {
			struct sites_job job = { .mode = (enum site_mode)m, .out = out };
			if (run_child(&job))
				pair[m][got[m]++] = out->pair_ns;
		}
		struct sites_job job = { .mode = M_PLAIN, .new_sites = true, .out = out };
		if (run_child(&job)) {
			memcpy(fresh + n_fresh, out->new_site_ns, sizeof out->new_site_ns);
			n_fresh += NEW_SITES;
			first[n_first++] = out->first_site_ns;
		}
	}
	for (int m = 0; m < M_MODES; m++)
		if (got[m] > 0)
			result_add('k', mode_row[m], "shm", "ns", summarize(pair[m], got[m]));
	if (n_fresh > 0)
		result_add('k', "new site (one allocation)", "shm", "ns", summarize(fresh, n_fresh));
	if (n_first > 0)
		result_add('k', "first site of a process (loads libdw)", "shm", "ns",
			   summarize(first, n_first));
	const struct summary *plain = result_get('k', mode_row[M_PLAIN], "shm");
	const struct summary *tagged = result_get('k', mode_row[M_TAGGED], "shm");
	const struct summary *stack = result_get('k', mode_row[M_STACK], "shm");
	if (plain && tagged && stack)
		result_note('k', "medians: a tag costs %+.1f ns per pair (x%.2f); stack traces "
			    "on a known site %+.0f ns per pair (x%.2f); single thread, one call site, "
			    "%u repeats interleaved by mode",
			    tagged->median - plain->median, tagged->median / plain->median,
			    stack->median - plain->median, stack->median / plain->median, reps);
	free(fresh);
}
