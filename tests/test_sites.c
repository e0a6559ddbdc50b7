/*
 * test_sites.c - tags (tta_set_tag) and call sites (TT_ALLOC_STACK_TRACE=1)
 * as readers see them: through the read API, the reap path and its leak
 * report, on real segments, with real processes (fork) and threads.
 *
 * The allocating functions below are noinline so each is a frame of its
 * own; the test is built with -g (CFLAGS), so libdw names them with
 * file:line.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"
#include "tt-alloc/reader.h"
#include "tt-alloc/tt_alloc.h"
#include "tta_segment.h"
#include "tta_sites.h"
#include "tta_test.h"

#define NOINLINE __attribute__((noinline))
/* An empty asm after the call: no tail call, so the frame stays. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

NOINLINE void alloc_from_a(uint64_t address, uint64_t size);
NOINLINE void alloc_from_b(uint64_t address, uint64_t size);

NOINLINE void alloc_from_a(uint64_t address, uint64_t size)
{
	tta_report_alloc(0, address, size, TTA_MEM_DRAM);
	KEEP_FRAME();
}

NOINLINE void alloc_from_b(uint64_t address, uint64_t size)
{
	tta_report_alloc(0, address, size, TTA_MEM_L1);
	KEEP_FRAME();
}

/* N allocations from one call site: a loop the compiler cannot unroll into
 * several calls (each unrolled call would be a call site of its own). */
NOINLINE static void from_a_times(volatile unsigned n, uint64_t first, uint64_t size)
{
	for (unsigned i = 0; i < n; i++)
		alloc_from_a(first + (uint64_t)i * 0x100, size);
	KEEP_FRAME();
}

static void tracking_on(bool stack_traces)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	if (stack_traces)
		setenv("TT_ALLOC_STACK_TRACE", "1", 1);
	else
		unsetenv("TT_ALLOC_STACK_TRACE");
}

static tta_snapshot *snap_of(int32_t pid, unsigned flags)
{
	tta_reader *r;
	tta_snapshot *s;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_take(r, pid, -1, flags, &s, err, sizeof err) == 0, "%s", err);
	tta_reader_close(r);
	return s;
}

static const struct tta_buffer_view *buffer_at(const tta_snapshot *s, uint64_t address)
{
	for (size_t i = 0; i < tta_snapshot_buffer_count(s); i++)
		if (tta_snapshot_buffer(s, i)->address == address)
			return tta_snapshot_buffer(s, i);
	CHECK(false, "no buffer at 0x%llx", (unsigned long long)address);
	return NULL;
}

static uint64_t counter(const tta_snapshot *s, const char *name)
{
	int id = tta_counter_find(name);
	CHECK(id >= 0, "counter %s", name);
	return tta_snapshot_counter(s, (unsigned)id);
}

static bool starts_with(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Two functions that allocate: two sites, each naming its function first,
 * one per call site however often it allocates. */
TTA_TEST(two_functions_make_two_sites)
{
	tracking_on(true);
	from_a_times(3, 0x1000, 100);
	for (volatile int i = 0; i < 2; i++)
		alloc_from_b(0x9000 + (uint64_t)i * 0x100, 200);
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK_EQ_I64(tta_snapshot_buffer_count(s), 5);
	const char *a = buffer_at(s, 0x1000)->site, *b = buffer_at(s, 0x9000)->site;
	CHECK(starts_with(a, "alloc_from_a+0x") && strstr(a, " in test_sites at test_sites.c:"),
	      "site a: %s", a ? a : "(null)");
	CHECK(starts_with(b, "alloc_from_b+0x") && strstr(b, " in test_sites at test_sites.c:"),
	      "site b: %s", b ? b : "(null)");
	/* The next frames are the callers, then the harness up to main. */
	CHECK(strstr(a, "\nfrom_a_times") && strstr(a, "\ntwo_functions_make_two_sites+0x"),
	      "caller frames: %s", a);
	CHECK(strstr(b, "\ntwo_functions_make_two_sites+0x") != NULL, "caller frame: %s", b);
	CHECK(strstr(a, "\nmain+0x") != NULL, "ends at main: %s", a);
	/* Same call site, same string; another site, another string. */
	CHECK(buffer_at(s, 0x1100)->site == a && buffer_at(s, 0x1200)->site == a, "a shared");
	CHECK(buffer_at(s, 0x9100)->site == b && a != b, "b shared, a != b");
	CHECK_EQ_I64(counter(s, "sites_dropped"), 0);
	tta_snapshot_free(s);
}

TTA_TEST(stack_traces_off_records_no_site)
{
	tracking_on(false);
	tta_set_tag("plain");
	alloc_from_a(0x1000, 100);
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	const struct tta_buffer_view *v = buffer_at(s, 0x1000);
	CHECK(v->site == NULL, "site %s", v->site);
	CHECK(v->tag != NULL && strcmp(v->tag, "plain") == 0, "tag %s", v->tag ? v->tag : "(null)");
	tta_snapshot_free(s);
}

TTA_TEST(tag_api_contract)
{
	CHECK(tta_get_tag() == NULL, "starts untagged");
	CHECK(tta_set_tag("weights") == 0, "set");
	const char *w = tta_get_tag();
	CHECK(w != NULL && strcmp(w, "weights") == 0, "get");
	char longest[TTA_TAG_MAX_LEN + 2];
	memset(longest, 'x', sizeof longest);
	longest[TTA_TAG_MAX_LEN + 1] = '\0';
	CHECK(tta_set_tag(longest) == -EINVAL, "too long refused");
	CHECK(tta_get_tag() == w, "unchanged after a refusal");
	longest[TTA_TAG_MAX_LEN] = '\0';
	CHECK(tta_set_tag(longest) == 0 && strcmp(tta_get_tag(), longest) == 0, "31 bytes fit");
	/* Interned: the same name gives the same string, which outlives a
	 * change of tag (save and restore). */
	tta_set_tag("weights");
	CHECK(tta_get_tag() == w, "interned");
	tta_set_tag("other");
	tta_set_tag(w);
	CHECK(tta_get_tag() == w, "restored");
	CHECK(tta_set_tag(NULL) == 0 && tta_get_tag() == NULL, "NULL clears");
	tta_set_tag("x");
	CHECK(tta_set_tag("") == 0 && tta_get_tag() == NULL, "\"\" clears");
	/* Beyond the 128 names the segment keeps per process: 1, still set. */
	char name[32];
	int rc = 0;
	for (int i = 0; i < 140 && rc == 0; i++) {
		snprintf(name, sizeof name, "tag-%d", i);
		rc = tta_set_tag(name);
	}
	CHECK(rc == 1 && strcmp(tta_get_tag(), name) == 0, "rc %d at %s", rc, name);
}

struct thread_arg {
	int index;
	pthread_barrier_t *barrier;
	bool ok;
};

static void *tagged_thread(void *p)
{
	struct thread_arg *a = p;
	char tag[16];
	snprintf(tag, sizeof tag, "thread-%d", a->index);
	tta_set_tag(tag);
	pthread_barrier_wait(a->barrier); /* every thread tagged before any allocates */
	for (int k = 0; k < 200; k++) {
		uint64_t address = 0x10000000u + (uint64_t)a->index * 0x100000u + (uint64_t)k * 0x100;
		if (k % 2)
			alloc_from_a(address, 64);
		else
			tta_report_cb_alloc(0, address, 64);
	}
	a->ok = strcmp(tta_get_tag(), tag) == 0;
	return NULL;
}

/* Eight threads, eight tags, allocations interleaved: every record carries
 * its own thread's tag, and the tag rows add up per thread. */
TTA_TEST(tags_from_threads_do_not_mix)
{
	tracking_on(true);
	enum { N = 8 };
	pthread_t th[N];
	struct thread_arg args[N];
	pthread_barrier_t barrier;
	pthread_barrier_init(&barrier, NULL, N);
	for (int i = 0; i < N; i++) {
		args[i] = (struct thread_arg){ .index = i, .barrier = &barrier };
		CHECK(pthread_create(&th[i], NULL, tagged_thread, &args[i]) == 0, "thread");
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		CHECK(args[i].ok, "thread %d lost its tag", i);
	}
	CHECK(tta_get_tag() == NULL, "the main thread stays untagged");
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS);
	CHECK_EQ_I64(tta_snapshot_buffer_count(s), N * 200);
	for (size_t i = 0; i < tta_snapshot_buffer_count(s); i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(s, i);
		char want[16];
		snprintf(want, sizeof want, "thread-%d", (int)((b->address - 0x10000000u) >> 20));
		CHECK(b->tag != NULL && strcmp(b->tag, want) == 0, "0x%llx: %s, want %s",
		      (unsigned long long)b->address, b->tag ? b->tag : "(null)", want);
		/* CBs come from the thread function, DRAM through alloc_from_a. */
		CHECK(starts_with(b->site, b->type == TTA_MEM_CB ? "tagged_thread+" : "alloc_from_a+"),
		      "site %s", b->site);
	}
	CHECK_EQ_I64(tta_snapshot_tag_count(s), N);
	for (size_t i = 0; i < tta_snapshot_tag_count(s); i++) {
		const struct tta_tag_row *row = tta_snapshot_tag(s, i);
		CHECK(row->device == 0 && starts_with(row->tag, "thread-"), "row %zu", i);
		CHECK(row->used[TTA_MEM_DRAM] == 100 * 64 && row->used[TTA_MEM_CB] == 100 * 64 &&
			      row->buffers == 200,
		      "row %s", row->tag);
	}
	tta_snapshot_free(s);
}

/* 130 tags used by allocations: 128 named, the rest "(other)", each
 * dropped tag counted once. */
TTA_TEST(full_tag_table_shows_other_and_counts)
{
	tracking_on(false);
	char name[32];
	for (int i = 0; i < 130; i++) {
		snprintf(name, sizeof name, "tag-%d", i);
		tta_set_tag(name);
		tta_report_alloc(0, 0x1000 + (uint64_t)i * 0x100, 10, TTA_MEM_DRAM);
	}
	tta_report_alloc(0, 0x900000, 10, TTA_MEM_DRAM); /* "tag-129" again */
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS);
	CHECK(strcmp(buffer_at(s, 0x1000 + 127 * 0x100)->tag, "tag-127") == 0, "128th named");
	CHECK(strcmp(buffer_at(s, 0x1000 + 128 * 0x100)->tag, TTA_TAG_OTHER) == 0, "129th other");
	CHECK(strcmp(buffer_at(s, 0x900000)->tag, TTA_TAG_OTHER) == 0, "again other");
	CHECK_EQ_I64(counter(s, "tags_dropped"), 2);
	/* The rows: 128 named ones and one "(other)" of 3 buffers. */
	CHECK_EQ_I64(tta_snapshot_tag_count(s), 129);
	const struct tta_tag_row *first = tta_snapshot_tag(s, 0);
	CHECK(strcmp(first->tag, TTA_TAG_OTHER) == 0 && first->buffers == 3, "largest first");
	tta_snapshot_free(s);
}

/* 16 x 20 distinct call stacks: 256 stored, the rest untracked and counted. */
typedef void (*inner_fn)(uint64_t);
#define INNER(j)                                                                 \
	NOINLINE static void inner_##j(uint64_t a)                               \
	{                                                                        \
		tta_report_alloc(0, a, 1, TTA_MEM_DRAM);                          \
		KEEP_FRAME();                                                    \
	}
#define OUTER(i)                                                                 \
	NOINLINE static void outer_##i(inner_fn f, uint64_t a)                   \
	{                                                                        \
		f(a);                                                            \
		KEEP_FRAME();                                                    \
	}
INNER(0) INNER(1) INNER(2) INNER(3) INNER(4) INNER(5) INNER(6) INNER(7) INNER(8) INNER(9)
INNER(10) INNER(11) INNER(12) INNER(13) INNER(14) INNER(15) INNER(16) INNER(17) INNER(18)
INNER(19)
OUTER(0) OUTER(1) OUTER(2) OUTER(3) OUTER(4) OUTER(5) OUTER(6) OUTER(7) OUTER(8) OUTER(9)
OUTER(10) OUTER(11) OUTER(12) OUTER(13) OUTER(14) OUTER(15)

/* Every (outer, inner) pair once: the same 320 call stacks at each call. */
NOINLINE static void all_pairs(uint64_t *a)
{
	static const inner_fn inners[] = {
		inner_0, inner_1, inner_2, inner_3, inner_4, inner_5, inner_6,
		inner_7, inner_8, inner_9, inner_10, inner_11, inner_12, inner_13,
		inner_14, inner_15, inner_16, inner_17, inner_18, inner_19,
	};
	static void (*const outers[])(inner_fn, uint64_t) = {
		outer_0, outer_1, outer_2, outer_3, outer_4, outer_5, outer_6, outer_7,
		outer_8, outer_9, outer_10, outer_11, outer_12, outer_13, outer_14, outer_15,
	};
	for (unsigned i = 0; i < 16; i++)
		for (unsigned j = 0; j < 20; j++)
			outers[i](inners[j], *a += 0x100);
	KEEP_FRAME();
}

TTA_TEST(full_site_table_shows_untracked_and_counts)
{
	tracking_on(true);
	uint64_t a = 0x1000;
	/* The second round finds them all known (volatile: one call site, not
	 * an unrolled pair of them). */
	for (volatile int round = 0; round < 2; round++)
		all_pairs(&a);
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK_EQ_I64(tta_snapshot_buffer_count(s), 640);
	size_t untracked = 0, named = 0;
	const char *distinct[640];
	size_t n_distinct = 0;
	for (size_t k = 0; k < tta_snapshot_buffer_count(s); k++) {
		const char *site = tta_snapshot_buffer(s, k)->site;
		CHECK(site != NULL, "a site for every buffer");
		if (strcmp(site, TTA_SITE_UNTRACKED) == 0) {
			untracked++;
			continue;
		}
		CHECK(starts_with(site, "inner_") && strstr(site, "\nouter_") &&
			      strstr(site, "\nall_pairs"),
		      "site %s", site);
		named++;
		size_t d = 0;
		while (d < n_distinct && distinct[d] != site)
			d++;
		if (d == n_distinct)
			distinct[n_distinct++] = site;
	}
	CHECK_EQ_I64(n_distinct, TTA_SITES_PER_PROCESS);
	CHECK_EQ_I64(untracked, 2 * (320 - TTA_SITES_PER_PROCESS));
	CHECK_EQ_I64(named, 2 * TTA_SITES_PER_PROCESS);
	CHECK_EQ_I64(counter(s, "sites_dropped"), 320 - TTA_SITES_PER_PROCESS);
	tta_snapshot_free(s);
}

/* Opens the test's segment read-write, as a corrupting writer would. */
static void open_rw(struct tta_segment *seg)
{
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_WRITE, NULL, seg, err, sizeof err) == 0, "%s", err);
}

static uint32_t own_slot(struct tta_segment *seg)
{
	for (uint32_t i = 0; i < seg->geo.slot_capacity; i++) {
		uint64_t st = tta_slot_at(seg, i)->state;
		if (TTA_SLOT_PHASE(st) == TTA_SLOT_LIVE && TTA_SLOT_PID(st) == getpid())
			return i;
	}
	CHECK(false, "no slot of ours");
	return 0;
}

static void check_strings_bounded(const tta_snapshot *s)
{
	for (size_t i = 0; i < tta_snapshot_buffer_count(s); i++) {
		const struct tta_buffer_view *b = tta_snapshot_buffer(s, i);
		CHECK(b->tag == NULL || strlen(b->tag) < TTA_TAG_NAME_BYTES, "tag bounded");
		CHECK(b->site == NULL || strlen(b->site) < TTA_SITE_FRAMES * TTA_FRAME_TEXT_MAX,
		      "site bounded");
	}
}

/* A process may scribble over its own block and records: readers show what
 * cannot be trusted as "(other)" / "(untracked site)", never crash, never
 * read outside the block. */
TTA_TEST(forged_ids_and_offsets_never_crash_readers)
{
	tracking_on(true);
	tta_set_tag("real");
	alloc_from_a(0x1000, 100);
	alloc_from_b(0x2000, 100);
	struct tta_segment seg;
	open_rw(&seg);
	uint32_t slot = own_slot(&seg);
	struct tta_site_block *b = tta_sites_block(&seg, slot);
	CHECK(b != NULL, "a block");
	uint64_t state = tta_slot_at(&seg, slot)->state;
	uint64_t owner = TTA_OWNER_TAG(slot, TTA_SLOT_GEN(state));
	/* Records naming ids never published, or the "full" id. */
	for (uint32_t r = 0; r < seg.geo.record_capacity; r++) {
		struct tta_record *rec = tta_record_at(&seg, r);
		if (rec->owner == owner && rec->state == TTA_RECORD_LIVE && rec->address == 0x2000) {
			rec->tag = 77;
			rec->site = TTA_ID_OTHER;
		}
	}
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS);
	CHECK(strcmp(buffer_at(s, 0x2000)->tag, TTA_TAG_OTHER) == 0, "unpublished tag id");
	CHECK(strcmp(buffer_at(s, 0x2000)->site, TTA_SITE_UNTRACKED) == 0, "full site id");
	CHECK(strcmp(buffer_at(s, 0x1000)->tag, "real") == 0, "the honest one still reads");
	tta_snapshot_free(s);
	/* Offsets past the text, frame counts out of range, no NUL anywhere,
	 * counts beyond the tables. */
	b->sites[0].frame[0] = 0xffff;
	b->sites[0].frames = 3;
	memset(b->text, 'A', sizeof b->text);
	memset(b->tags, 0x1b, sizeof b->tags);
	b->text_used = 0xffffffffu;
	b->tag_count = b->site_count = 0xffffffffu;
	s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS);
	check_strings_bounded(s);
	CHECK(strcmp(buffer_at(s, 0x1000)->site, TTA_SITE_UNTRACKED) == 0, "offset past the text");
	tta_snapshot_free(s);
	b->sites[0].frame[0] = 0;
	b->sites[0].frames = 200;
	s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK(strcmp(buffer_at(s, 0x1000)->site, TTA_SITE_UNTRACKED) == 0, "too many frames");
	tta_snapshot_free(s);
	b->sites[0].frames = 1;
	s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	check_strings_bounded(s); /* text without a NUL: cut at the frame bound */
	CHECK_EQ_I64(strlen(buffer_at(s, 0x1000)->site), TTA_FRAME_TEXT_MAX - 1);
	tta_snapshot_free(s);
	/* Another owner's block: nothing of it is shown for our records. */
	b->owner ^= 1;
	s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK(strcmp(buffer_at(s, 0x1000)->tag, TTA_TAG_OTHER) == 0, "foreign block's tag");
	CHECK(strcmp(buffer_at(s, 0x1000)->site, TTA_SITE_UNTRACKED) == 0, "foreign block's site");
	tta_snapshot_free(s);
	tta_segment_close(&seg);
}

struct leak_seen {
	unsigned reports;
	char text[8192];
};

static void on_leak(const struct tta_reap_report *rep, void *ctx)
{
	struct leak_seen *seen = ctx;
	FILE *f = fmemopen(seen->text, sizeof seen->text - 1, "w");
	reaper_format_leak(f, rep, 64, 16, tta_now_mono_ns());
	fclose(f);
	seen->reports++;
}

/* A process dies holding tagged buffers from two sites: the reap report
 * groups them by site and tag with the names the dead process stored, the
 * block is emptied, and the next process in the slot starts from nothing. */
TTA_TEST(leak_report_names_sites_and_tags_and_the_slot_forgets_them)
{
	setenv("TT_ALLOC_MAX_PROCESSES", "1", 1);
	tracking_on(true);
	pid_t child = fork();
	if (child == 0) {
		tta_set_tag("weights");
		from_a_times(3, 0x1000, 1000);
		tta_set_tag("kv_cache");
		alloc_from_b(0x9000, 5000);
		_exit(0); /* without freeing: a leak */
	}
	int st;
	waitpid(child, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
	struct tta_segment seg;
	open_rw(&seg);
	struct tta_site_block *b = tta_sites_block(&seg, 0);
	CHECK(b != NULL, "no block");
	CHECK(b->owner != 0 && b->tag_count == 2 && b->site_count == 2,
	      "the dead process's block: owner %llx, %u tags, %u sites",
	      (unsigned long long)b->owner, b->tag_count, b->site_count);
	struct leak_seen seen = { 0 };
	CHECK(tta_reap_dead(&seg, 16, on_leak, &seen) == 1, "reaped");
	CHECK(seen.reports == 1, "one report");
	CHECK(b->owner == 0 && b->tag_count == 0 && b->site_count == 0 && b->text_used == 0,
	      "block emptied with the slot");
	/* Largest first: kv_cache (5000 bytes) before weights (3000). */
	char *kv = strstr(seen.text, ":   1 buffer, 4.9KiB (5000 bytes) of l1, tag kv_cache, from "
					"alloc_from_b+0x");
	char *w = strstr(seen.text, ":   3 buffers, 2.9KiB (3000 bytes) of dram, tag weights, from "
				       "alloc_from_a+0x");
	CHECK(kv != NULL && w != NULL && kv < w, "groups:\n%s", seen.text);
	CHECK(strstr(w, " < from_a_times") != NULL &&
		      strstr(w, " < leak_report_names_sites_and_tags_and_the_slot_forgets_them+0x"),
	      "frames on one line:\n%s", seen.text);
	CHECK(strstr(seen.text, "dram at 0x1000, 1000 bytes, age ") &&
		      strstr(seen.text, "s, tag weights\n"),
	      "buffer lines name the tag:\n%s", seen.text);
	tta_segment_close(&seg);
	/* The next process in the only slot: its own names only. */
	child = fork();
	if (child == 0) {
		tta_set_tag("second");
		alloc_from_b(0x9000, 10);
		tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
		bool ok = tta_snapshot_buffer_count(s) == 1 &&
			  strcmp(tta_snapshot_buffer(s, 0)->tag, "second") == 0 &&
			  starts_with(tta_snapshot_buffer(s, 0)->site, "alloc_from_b+");
		tta_snapshot_free(s);
		_exit(ok ? 0 : 1);
	}
	waitpid(child, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second process sees its own names");
}

/* A forked child takes its own slot and block: its sites and tags are its
 * own, and the parent's still read. */
TTA_TEST(fork_child_has_its_own_sites_and_tags)
{
	tracking_on(true);
	tta_set_tag("parent");
	alloc_from_a(0x1000, 10);
	pid_t child = fork();
	if (child == 0) {
		bool kept = strcmp(tta_get_tag(), "parent") == 0; /* the thread's tag is inherited */
		tta_set_tag("child");
		alloc_from_b(0x2000, 10);
		tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
		bool ok = kept && tta_snapshot_buffer_count(s) == 1 &&
			  strcmp(tta_snapshot_buffer(s, 0)->tag, "child") == 0 &&
			  starts_with(tta_snapshot_buffer(s, 0)->site, "alloc_from_b+");
		tta_snapshot_free(s);
		_exit(ok ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
	alloc_from_a(0x3000, 10);
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK(strcmp(buffer_at(s, 0x3000)->tag, "parent") == 0, "parent tag");
	/* Another call site (another caller line), the same allocating frame. */
	const char *x = buffer_at(s, 0x1000)->site, *y = buffer_at(s, 0x3000)->site;
	CHECK(starts_with(x, "alloc_from_a+") && x != y &&
		      strncmp(x, y, strcspn(x, "\n") + 1) == 0,
	      "parent's sites: %s | %s", x, y);
	tta_snapshot_free(s);
}

/* Detach and attach again: a new slot, the names published anew. */
TTA_TEST(reattach_publishes_names_again)
{
	tracking_on(true);
	tta_set_tag("before");
	alloc_from_a(0x1000, 10);
	CHECK(tta_track_detach() == 1, "detach");
	alloc_from_a(0x2000, 10);
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK_EQ_I64(tta_snapshot_buffer_count(s), 1);
	CHECK(strcmp(buffer_at(s, 0x2000)->tag, "before") == 0, "tag");
	CHECK(starts_with(buffer_at(s, 0x2000)->site, "alloc_from_a+"), "site");
	tta_snapshot_free(s);
}

/* An ABI-2 segment made before the sites region existed: writers with tags
 * and stack traces work on it, readers show no tag and no site. */
TTA_TEST(segment_without_the_sites_region)
{
	struct tta_segment seg;
	char err[512];
	CHECK(tta_segment_open(NULL, TTA_OPEN_CREATE, NULL, &seg, err, sizeof err) == 0, "%s", err);
	struct tta_header *h = tta_hdr(&seg);
	uint32_t at = h->region_count;
	for (uint32_t i = 0; i < h->region_count; i++)
		if (h->regions[i].kind == TTA_REGION_SITES)
			at = i;
	CHECK(at < h->region_count, "the sites region is listed");
	memmove(&h->regions[at], &h->regions[at + 1],
		(h->region_count - at - 1) * sizeof h->regions[0]);
	h->region_count--;
	memset(&h->regions[h->region_count], 0, sizeof h->regions[0]);
	tta_segment_close(&seg);
	tracking_on(true);
	tta_set_tag("unseen");
	alloc_from_a(0x1000, 10);
	CHECK(tta_track_state() == TTA_TRACK_ATTACHED, "attached");
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS);
	const struct tta_buffer_view *v = buffer_at(s, 0x1000);
	CHECK(v->tag == NULL && v->site == NULL, "no names without the region");
	CHECK_EQ_I64(tta_snapshot_tag_count(s), 1);
	CHECK(tta_snapshot_tag(s, 0)->tag == NULL, "one untagged row");
	tta_snapshot_free(s);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* libdw keeps ELF files open: never into the host's children. */
TTA_TEST(symbolizer_descriptors_are_close_on_exec)
{
	tracking_on(true);
	bool before[1024];
	for (int fd = 0; fd < 1024; fd++)
		before[fd] = fd_open(fd);
	alloc_from_a(0x1000, 10);
	alloc_from_b(0x2000, 10);
	int opened = 0;
	for (int fd = 0; fd < 1024; fd++) {
		if (before[fd] || !fd_open(fd))
			continue;
		opened++;
		CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
	}
	/* Proof that the symbolizer ran with libdw (it opens the executable). */
	tta_snapshot *s = snap_of(getpid(), TTA_SNAPSHOT_BUFFERS);
	CHECK(strstr(buffer_at(s, 0x1000)->site, " at test_sites.c:") != NULL, "libdw in use");
	tta_snapshot_free(s);
	CHECK(opened > 0, "libdw opened nothing?");
}

TTA_TEST_MAIN(TTA_CASE(two_functions_make_two_sites), TTA_CASE(stack_traces_off_records_no_site),
	      TTA_CASE(tag_api_contract), TTA_CASE(tags_from_threads_do_not_mix),
	      TTA_CASE(full_tag_table_shows_other_and_counts),
	      TTA_CASE(full_site_table_shows_untracked_and_counts),
	      TTA_CASE(forged_ids_and_offsets_never_crash_readers),
	      TTA_CASE(leak_report_names_sites_and_tags_and_the_slot_forgets_them),
	      TTA_CASE(fork_child_has_its_own_sites_and_tags),
	      TTA_CASE(reattach_publishes_names_again), TTA_CASE(segment_without_the_sites_region),
	      TTA_CASE(symbolizer_descriptors_are_close_on_exec))
