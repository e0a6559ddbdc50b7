/*
 * names.c - memory-type and kernel-kind names, and device presets.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tt-alloc/tt_alloc.h"
#include "tta_layout.h"

#define TTA_EXPORT __attribute__((visibility("default")))

_Static_assert((int)TTA_MEM_DRAM == (int)TTA_LAYOUT_DRAM && (int)TTA_MEM_L1 == (int)TTA_LAYOUT_L1 &&
		       (int)TTA_MEM_SYSTEM == (int)TTA_LAYOUT_SYSTEM && (int)TTA_MEM_L1_SMALL == (int)TTA_LAYOUT_L1_SMALL &&
		       (int)TTA_MEM_TRACE == (int)TTA_LAYOUT_TRACE && (int)TTA_MEM_CB == (int)TTA_LAYOUT_CB &&
		       (int)TTA_MEM_KERNEL == (int)TTA_LAYOUT_KERNEL && (int)TTA_MEM_TYPES == (int)TTA_LAYOUT_MEM_TYPES,
	       "public and ABI memory types must agree");

static const char *const mem_type_names[TTA_MEM_TYPES] = {
	[TTA_MEM_DRAM] = "dram",	 [TTA_MEM_L1] = "l1",	  [TTA_MEM_SYSTEM] = "system",
	[TTA_MEM_L1_SMALL] = "l1_small", [TTA_MEM_TRACE] = "trace", [TTA_MEM_CB] = "cb",
	[TTA_MEM_KERNEL] = "kernel",
};

TTA_EXPORT const char *tta_mem_type_name(unsigned type)
{
	return type < TTA_MEM_TYPES ? mem_type_names[type] : NULL;
}

TTA_EXPORT int tta_mem_type_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		if (strcasecmp(name, mem_type_names[t]) == 0)
			return t;
	return -1;
}

TTA_EXPORT const char *tta_kernel_kind_name(unsigned kind)
{
	static const char *const names[] = { "application", "fabric", "dispatch" };
	return kind < sizeof names / sizeof names[0] ? names[kind] : NULL;
}

/* The pool each type lives in (<tt-alloc/tt_alloc.h> says why). */
static const unsigned char type_pool[TTA_MEM_TYPES] = {
	[TTA_MEM_DRAM] = TTA_POOL_DRAM,	 [TTA_MEM_TRACE] = TTA_POOL_DRAM,
	[TTA_MEM_L1] = TTA_POOL_L1,	 [TTA_MEM_L1_SMALL] = TTA_POOL_L1,
	[TTA_MEM_CB] = TTA_POOL_L1,	 [TTA_MEM_KERNEL] = TTA_POOL_L1,
	[TTA_MEM_SYSTEM] = TTA_POOL_SYSTEM,
};
/* The type whose capacity is the pool's. */
static const unsigned char pool_parent[TTA_MEM_POOLS] = {
	[TTA_POOL_DRAM] = TTA_MEM_DRAM, [TTA_POOL_L1] = TTA_MEM_L1,
	[TTA_POOL_SYSTEM] = TTA_MEM_SYSTEM,
};

TTA_EXPORT int tta_mem_type_pool(unsigned type)
{
	return type < TTA_MEM_TYPES ? type_pool[type] : -1;
}

TTA_EXPORT const char *tta_mem_pool_name(unsigned pool)
{
	static const char *const names[TTA_MEM_POOLS] = {
		[TTA_POOL_DRAM] = "dram", [TTA_POOL_L1] = "l1", [TTA_POOL_SYSTEM] = "system",
	};
	return pool < TTA_MEM_POOLS ? names[pool] : NULL;
}

TTA_EXPORT int64_t tta_mem_pool_used(const int64_t used[TTA_MEM_TYPES], unsigned pool)
{
	uint64_t sum = 0;
	for (unsigned t = 0; pool < TTA_MEM_POOLS && t < TTA_MEM_TYPES; t++)
		if (type_pool[t] == pool)
			sum += (uint64_t)used[t];
	return (int64_t)sum;
}

TTA_EXPORT uint64_t tta_mem_pool_capacity(const uint64_t capacity[TTA_MEM_TYPES], unsigned pool)
{
	return pool < TTA_MEM_POOLS ? capacity[pool_parent[pool]] : 0;
}

#define KIB 1024ull
#define GIB (1024ull * 1024ull * 1024ull)
#define L1_PER_CORE (1464ull * KIB)

static void fill(struct tta_device_info *info, const char *arch, uint64_t dram, uint32_t cores)
{
	memset(info, 0, sizeof *info);
	snprintf(info->arch, sizeof info->arch, "%s", arch);
	info->num_cores = cores;
	info->l1_bytes_per_core = (uint32_t)L1_PER_CORE;
	info->capacity[TTA_MEM_DRAM] = dram;
	info->capacity[TTA_MEM_L1] = L1_PER_CORE * cores;
}

TTA_EXPORT void tta_device_info_wormhole_b0(struct tta_device_info *info, uint32_t num_cores)
{
	fill(info, "Wormhole_B0", 12 * GIB, num_cores);
}

TTA_EXPORT void tta_device_info_blackhole(struct tta_device_info *info, uint32_t num_cores)
{
	fill(info, "Blackhole", 32 * GIB, num_cores);
}
