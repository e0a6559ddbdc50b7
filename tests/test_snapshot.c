/*
 * test_snapshot.c - the public read library as a tool author meets it:
 * snapshots that add up under churn, a segment truncated under the reader,
 * replaced or removed, process liveness, and the counter table.
 * Everything here goes through <tt-alloc/reader.h>; the writers are real
 * processes reporting through the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tta_segment.h"
#include "tta_test.h"

static tta_reader *open_reader(void)
{
	tta_reader *r;
	char err[512];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	return r;
}

/* A writer that allocates and frees on two devices until killed. */
static pid_t start_churner(unsigned seed)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid != 0)
		return pid;
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	uint64_t x = seed * 2654435761u + 1;
	tta_handle held[64] = { 0 };
	for (;;) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned i = (unsigned)(x % 64);
		if (held[i]) {
			tta_report_free_handle(held[i]);
			held[i] = 0;
		} else {
			held[i] = tta_report_alloc_handle((uint32_t)(x >> 8) & 1, x & 0xffff0,
							  1 + (x >> 20) % 100000, TTA_MEM_DRAM + (x >> 40) % 2);
		}
		if ((x & 0xff) == 0) {
			tta_report_cb_alloc(1, x, 4096);
			tta_report_cb_free(1, x);
		}
	}
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* With three writers churning, every snapshot's device totals equal the sum
 * of its process rows exactly (the seed's tt-smi failed this 192 times in
 * 200), and the buffer records of a snapshot never exceed the counters. */
TTA_TEST(totals_equal_rows_under_churn)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t w[3];
	for (unsigned i = 0; i < 3; i++)
		w[i] = start_churner(i + 1);
	tta_reader *r = NULL;
	for (int t = 0; t < 200 && r == NULL; t++) {
		struct timespec ms = { .tv_nsec = 10000000 };
		nanosleep(&ms, NULL);
		char err[256];
		if (tta_reader_open(NULL, &r, err, sizeof err) != 0)
			r = NULL;
	}
	CHECK(r != NULL, "segment appeared");
	/* All three at work before the first look (and none killed while still
	 * creating its own candidate segment). */
	uint64_t live = 0;
	for (int t = 0; t < 500 && live < 3; t++) {
		tta_snapshot *s;
		CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
		live = tta_snapshot_counter(s, (unsigned)tta_counter_find("live_processes"));
		tta_snapshot_free(s);
		struct timespec ms = { .tv_nsec = 10000000 };
		nanosleep(&ms, NULL);
	}
	CHECK_EQ_I64(live, 3);
	unsigned busy = 0;
	for (int n = 0; n < 200; n++) {
		tta_snapshot *s;
		char err[256];
		CHECK(tta_snapshot_take(r, 0, -1, n % 2 ? TTA_SNAPSHOT_BUFFERS : 0, &s, err,
					sizeof err) == 0,
		      "%s", err);
		for (size_t i = 0; i < tta_snapshot_device_count(s); i++) {
			const struct tta_device_view *d = tta_snapshot_device(s, i);
			int64_t sum[TTA_MEM_TYPES] = { 0 }, buffers = 0;
			uint32_t procs = 0;
			for (size_t j = 0; j < tta_snapshot_process_count(s); j++) {
				const struct tta_process_row *row = tta_snapshot_process(s, j);
				if (row->device != d->id)
					continue;
				for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
					sum[t] += row->used[t];
				buffers += row->buffers;
				procs++;
			}
			for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
				CHECK(sum[t] == d->used[t], "snapshot %d device %u type %u: %lld != %lld",
				      n, d->id, t, (long long)d->used[t], (long long)sum[t]);
			CHECK_EQ_I64(buffers, d->buffers);
			CHECK_EQ_I64(procs, d->processes);
			busy += d->buffers > 0;
		}
		tta_snapshot_free(s);
	}
	CHECK(busy > 0, "the writers were seen at work");
	for (unsigned i = 0; i < 3; i++)
		stop(w[i]);
	tta_reader_close(r);
}

static void make_segment(void)
{
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
		tta_track_detach();
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

static volatile sig_atomic_t host_handler_ran;
static void host_sigbus(int sig)
{
	(void)sig;
	host_handler_ran = true;
}

/* The library turns a SIGBUS from its own reads of a truncated segment into
 * an error; the caller installs nothing. A SIGBUS elsewhere still reaches the
 * handler the host had installed before. */
TTA_TEST(truncated_segment_is_an_error_not_a_crash)
{
	struct sigaction sa = { .sa_handler = host_sigbus };
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0, "host handler");
	make_segment();
	tta_reader *r = open_reader();
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_OK);
	char path[128];
	snprintf(path, sizeof path, "/dev/shm%s", tta_test_segment);
	CHECK(truncate(path, 4096) == 0, "truncate");
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_TRUNCATED);
	struct tta_device_view v;
	/* These read the mapping past the new end: SIGBUS inside the library. */
	CHECK_EQ_I64(tta_reader_device(r, 0, &v), -EFAULT);
	CHECK_EQ_I64(tta_reader_foreach_buffer(r, NULL, NULL, NULL), -EFAULT);
	tta_snapshot *s = NULL;
	char err[256] = "";
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err), -EFAULT);
	CHECK(s == NULL && strstr(err, "truncated"), "message: %s", err);
	CHECK(!host_handler_ran, "the library's faults are its own");
	kill(getpid(), SIGBUS); /* delivered before kill returns */
	CHECK(host_handler_ran, "a SIGBUS outside the library reached the host's handler");
	tta_reader_close(r);
}

/* Like Varnish's VSM_Status: a tool learns that the name now points at a new
 * segment (and reopens), or that it was removed (its mapping still reads). */
TTA_TEST(replaced_and_removed_segments_are_reported)
{
	make_segment();
	tta_reader *r = open_reader();
	shm_unlink(tta_test_segment);
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_REMOVED);
	tta_snapshot *s = NULL;
	char err[256];
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "removed still reads: %s",
	      err);
	tta_snapshot_free(s);
	make_segment();
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_REPLACED);
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err), -ESTALE);
	CHECK(strstr(err, "reopen") != NULL, "%s", err);
	tta_reader_close(r);
	r = open_reader();
	CHECK_EQ_I64(tta_reader_status(r), TTA_SEGMENT_OK);
	tta_reader_close(r);
}

TTA_TEST(process_liveness_is_pid_and_start_time)
{
	uint64_t start;
	CHECK(tta_proc_start_time(getpid(), &start) == 0, "own start time");
	CHECK_EQ_I64(tta_process_alive(getpid(), start), 1);
	CHECK_EQ_I64(tta_process_alive(getpid(), start + 1), 0); /* a reused pid */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	uint64_t child_start = 0;
	tta_proc_start_time(child, &child_start); /* may already be a zombie */
	waitpid(child, NULL, 0);
	CHECK_EQ_I64(tta_process_alive(child, child_start), 0);
	CHECK_EQ_I64(tta_process_alive(0, 0), -1);
}

/* The counter table is the API: names are unique identifiers, ids stable,
 * lookups by name round-trip, every snapshot has a value for each. */
TTA_TEST(counters_iterate_by_name)
{
	unsigned n = tta_counter_count();
	CHECK(n >= 16, "%u counters", n);
	for (unsigned i = 0; i < n; i++) {
		const struct tta_counter_info *c = tta_counter_info(i);
		CHECK(c && c->name && c->unit && c->help && c->help[0], "counter %u described", i);
		CHECK(strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(c->name),
		      "name %s", c->name);
		CHECK_EQ_I64(tta_counter_find(c->name), i);
	}
	CHECK(tta_counter_info(n) == NULL && tta_counter_find("no_such") == -1, "bounds");
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	pid_t pid = fork();
	if (pid == 0) {
		tta_report_free(0, 0x1234); /* unknown free */
		tta_report_free(0, 0x1234);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	tta_reader *r = open_reader();
	tta_snapshot *s;
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, NULL, 0) == 0, "snapshot");
	CHECK_EQ_I64(tta_snapshot_counter(s, (unsigned)tta_counter_find("unknown_frees")), 2);
	CHECK_EQ_I64(tta_snapshot_counter(s, (unsigned)tta_counter_find("records_capacity")),
		     tta_snapshot_segment(s)->record_capacity);
	CHECK_EQ_I64(tta_snapshot_counter(s, n), 0);
	tta_snapshot_free(s);
	tta_reader_close(r);
}

TTA_TEST(bad_snapshot_arguments_are_refused)
{
	make_segment();
	tta_reader *r = open_reader();
	tta_snapshot *s = (tta_snapshot *)1;
	char err[128];
	CHECK_EQ_I64(tta_snapshot_take(r, -5, -1, 0, &s, err, sizeof err), -EINVAL);
	CHECK(s == NULL, "no snapshot on error");
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -7, 0, &s, err, sizeof err), -EINVAL);
	CHECK_EQ_I64(tta_snapshot_take(r, 0, -1, 0x100, &s, err, sizeof err), -EINVAL);
	CHECK(tta_snapshot_take(r, 0, 63, TTA_SNAPSHOT_BUFFERS, &s, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_device(s, 0) == NULL && tta_snapshot_process(s, 0) == NULL &&
		      tta_snapshot_buffer(s, 0) == NULL,
	      "accessors bounds-check");
	tta_snapshot_free(s);
	tta_snapshot_free(NULL);
	tta_reader_close(r);
}

TTA_TEST_MAIN(TTA_CASE(totals_equal_rows_under_churn),
	      TTA_CASE(truncated_segment_is_an_error_not_a_crash),
	      TTA_CASE(replaced_and_removed_segments_are_reported),
	      TTA_CASE(process_liveness_is_pid_and_start_time), TTA_CASE(counters_iterate_by_name),
	      TTA_CASE(bad_snapshot_arguments_are_refused))
