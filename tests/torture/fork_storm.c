/*
 * fork_storm.c - tt-alloc-torture --fork-storm SECONDS: one process, three
 * threads reporting with constant hash-table growth (so maps are retired and
 * synchronize_rcu runs all the time) while the main thread forks and reaps
 * children as fast as it can. libtrack's fork handlers must never deadlock
 * against a thread waiting for an RCU grace period (they once did: prepare
 * took the shard locks, then urcu's, while a reader spun on a shard lock
 * that a synchronize_rcu caller's grace period was waiting for).
 * Exit 0 when SECONDS passed with forks and reports both progressing; 1 (and
 * a message) when either stalls for 5 s; the child of each fork reports once
 * and must attach on its own.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "torture.h"

static char storm_segment[64];

static unsigned long reports, forks;

static void *storm_worker(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg << 40;
	for (uint64_t n = 0;; n += 3000) {
		for (uint64_t i = 0; i < 3000; i++)
			tta_report_alloc(0, base | (n + i) << 12, 64, TTA_MEM_DRAM);
		for (uint64_t i = 0; i < 3000; i++)
			tta_report_free(0, base | (n + i) << 12);
		__atomic_add_fetch(&reports, 6000, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Runs in its own thread: the main thread may be the one stuck. */
static void *watchdog(void *arg)
{
	unsigned seconds = *(unsigned *)arg;
	unsigned long last_forks = 0, last_reports = 0;
	uint64_t start = mono_ns(), last_move = start;
	for (;;) {
		sleep_us(100000);
		uint64_t now = mono_ns();
		unsigned long f = __atomic_load_n(&forks, __ATOMIC_RELAXED);
		unsigned long r = __atomic_load_n(&reports, __ATOMIC_RELAXED);
		if (f != last_forks && r != last_reports)
			last_move = now;
		last_forks = f;
		last_reports = r;
		if (now - last_move > 5000000000ull) {
			fprintf(stderr, "fork storm: no progress for 5 s (%lu forks, %lu reports): "
					"deadlock between fork and reporting threads\n",
				f, r);
			_exit(1);
		}
		if (now - start > (uint64_t)seconds * 1000000000u) {
			printf("fork storm: %lu forks, %lu reports in %u s, no stall\n", f, r,
			       seconds);
			fflush(stdout);
			/* Again after the last short-lived children had time to go:
			 * one attaching late re-creates the segment. */
			shm_unlink(storm_segment);
			usleep(200000);
			shm_unlink(storm_segment);
			_exit(0);
		}
	}
	return NULL;
}

int torture_fork_storm(unsigned seconds)
{
	/* A private segment, like the main torture: a test tool run by hand
	 * must never write into the default /tt_alloc. */
	snprintf(storm_segment, sizeof storm_segment, "/tta_fork_storm_%d", (int)getpid());
	setenv("TT_ALLOC_SHM", storm_segment, 1);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	tta_report_alloc(0, 1, 1, TTA_MEM_L1);
	if (tta_track_state() != TTA_TRACK_ATTACHED) {
		fprintf(stderr, "fork storm: tracking did not attach\n");
		return 2;
	}
	pthread_t t;
	for (long i = 1; i <= 3; i++)
		pthread_create(&t, NULL, storm_worker, (void *)i);
	pthread_create(&t, NULL, watchdog, &seconds);
	for (;;) {
		pid_t pid = fork();
		if (pid == 0) {
			tta_report_alloc(1, 2, 2, TTA_MEM_L1);
			_exit(tta_track_state() == TTA_TRACK_ATTACHED ? 0 : 3);
		}
		int status = 0;
		if (pid > 0 && waitpid(pid, &status, 0) == pid &&
		    !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr, "fork storm: a child did not attach (status 0x%x)\n", status);
			_exit(1);
		}
		__atomic_add_fetch(&forks, 1, __ATOMIC_RELAXED);
	}
}
