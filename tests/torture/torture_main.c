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

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--writer") == 0) {
		bool exec_image = argc >= 4 && strcmp(argv[3], "--exec-image") == 0;
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
