/*
 * helper_sites - a tracked process whose call chain is known, for the call
 * site and tag tests (tests/sh/test_sites.sh, tests/test_sites.c).
 *
 *   helper_sites [WEIGHTS [KV]]
 *
 * Registers device 0, then, under tag "weights", load_weights() allocates
 * WEIGHTS (default 3) DRAM buffers of 1 MiB, and under tag "kv_cache"
 * grow_kv_cache() allocates KV (default 2) DRAM buffers of 4 MiB. Each
 * function calls tta_report_alloc itself, so with
 * TT_ALLOC_STACK_TRACE=1 the two make two distinct call sites whose first
 * frame names them. Prints "ready PID" and waits to be killed (or exits 0 on
 * SIGTERM without freeing: a leak).
 *
 * Build (tests/module.mk): -g for file:line (libdw reads DWARF) and -rdynamic
 * so even without libdw (dladdr) the functions have names; noinline keeps
 * each function a frame of its own.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tt-alloc/tt_alloc.h"

__attribute__((noinline)) void load_weights(unsigned n);
__attribute__((noinline)) void grow_kv_cache(unsigned n);

__attribute__((noinline)) void load_weights(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tta_report_alloc(0, 0x10000000u + i * 0x100000u, 1u << 20, TTA_MEM_DRAM);
	__asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
}

__attribute__((noinline)) void grow_kv_cache(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tta_report_alloc(0, 0x40000000u + i * 0x400000u, 4u << 20, TTA_MEM_DRAM);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	unsigned weights = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	unsigned kv = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
	struct tta_device_info info;
	tta_device_info_wormhole_b0(&info, 72);
	tta_register_device(0, &info);
	tta_set_tag("weights");
	load_weights(weights);
	tta_set_tag("kv_cache");
	grow_kv_cache(kv);
	tta_set_tag(NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}
