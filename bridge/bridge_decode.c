/*
 * bridge_decode.c - the message decoder of tt-alloc-bridge (bridge.h).
 * Kept free of I/O so the fuzz harness can drive it directly.
 */
#include <string.h>

#include "bridge.h"

enum bridge_verdict bridge_decode(const void *raw, uint32_t device_capacity,
				  struct bridge_cmd *out)
{
	struct sock_msg m;
	memcpy(&m, raw, sizeof m);
	memset(out, 0, sizeof *out);
	out->claimed_pid = m.process_id;
	out->query_device = m.device_id;
	out->address = m.buffer_id;
	out->size = m.size;
	if (m.type == SOCK_MSG_QUERY)
		return BRIDGE_QUERY;
	if (m.type != SOCK_MSG_ALLOC && m.type != SOCK_MSG_FREE)
		return BRIDGE_BAD_TYPE;
	if (m.device_id < 0 || (uint32_t)m.device_id >= device_capacity)
		return BRIDGE_BAD_DEVICE;
	out->device = (uint32_t)m.device_id;
	if (m.type == SOCK_MSG_FREE)
		return BRIDGE_FREE;
	switch (m.buffer_type) {
	case SOCK_TYPE_DRAM: out->tta_type = 0; break;
	case SOCK_TYPE_L1: out->tta_type = 1; break;
	case SOCK_TYPE_L1_SMALL: out->tta_type = 3; break;
	case SOCK_TYPE_TRACE: out->tta_type = 4; break;
	default: return BRIDGE_BAD_MEMTYPE;
	}
	if (m.size == 0 || m.size > (uint64_t)INT64_MAX)
		return BRIDGE_BAD_SIZE;
	return BRIDGE_ALLOC;
}

const char *bridge_verdict_name(enum bridge_verdict v)
{
	static const char *const names[BRIDGE_VERDICTS] = {
		"alloc", "free", "query", "unknown message type", "device id out of range",
		"unknown buffer type", "size 0 or 2^63 and above",
	};
	return (unsigned)v < BRIDGE_VERDICTS ? names[v] : "?";
}
