/*
 * torture_main.c - tt-alloc-torture: crash torture of libtrack, the segment
 * and tt-alloc-reaper (see tests/torture/driver.c for what it does and
 * checks). Roles are chosen by the first argument:
 *   tt-alloc-torture [--seconds N] [...]   the driver (see --help)
 *   tt-alloc-torture --writer CELL [--exec-image]   internal
 *   tt-alloc-torture --reader                       internal
 *   tt-alloc-torture --hostile SECONDS              writers corrupting what they
 *                                                   own (tests/torture/hostile.c)
 *   tt-alloc-torture --fork-storm SECONDS           fork vs reporting threads
 *                                                   (tests/torture/fork_storm.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

/*
 * LeakSanitizer's exit-time check, off in writer processes only (ASan builds;
 * elsewhere nothing calls this). The check stops the world with a tracer that
 * PTRACE_ATTACHes to every thread and waits for the SIGSTOP that attach
 * queues. The driver SIGSTOPs and SIGCONTs writers at random moments, and a
 * SIGCONT discards a pending SIGSTOP (signal(7)), so a writer whose exit check
 * is caught between the two hangs for good: its tracer waits for a stop that
 * never comes while the writer spins waiting for the tracer (seen as a writer
 * in CELL_EXITING that never exits; a SIGSTOP/SIGCONT storm on any ASan
 * program that exits hangs some 10% of them). The leak check of the library
 * itself is kept by every other ASan test and by the driver, reader and
 * hostile processes here, none of which the driver stops.
 */
static bool g_no_exit_leak_check;
int __lsan_is_turned_off(void) __attribute__((visibility("default")));
int __lsan_is_turned_off(void)
{
	return g_no_exit_leak_check;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--writer") == 0) {
		bool exec_image = argc >= 4 && strcmp(argv[3], "--exec-image") == 0;
		g_no_exit_leak_check = true;
		return torture_writer(atoi(argv[2]), exec_image);
	}
	if (argc >= 2 && strcmp(argv[1], "--reader") == 0)
		return torture_reader();
	if (argc >= 3 && strcmp(argv[1], "--hostile") == 0)
		return torture_hostile((unsigned)atoi(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "--fork-storm") == 0)
		return torture_fork_storm((unsigned)atoi(argv[2]));
	return torture_driver(argc, argv);
}
