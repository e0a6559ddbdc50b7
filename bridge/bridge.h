/*
 * bridge.h - tt-alloc-bridge: the old allocation server's Unix-socket
 * protocol (bench/sock_proto.h: 112-byte packed messages), served from and
 * into the tt-alloc segment.
 *
 * Message types of the old protocol, as far as the public description
 * establishes them (docs: ../shared/reference): ALLOC=1, FREE=2, QUERY=3,
 * RESPONSE=4 (server to client only). No other type is documented; any other
 * value is counted as unknown and ignored.
 */
#ifndef TTA_BRIDGE_H
#define TTA_BRIDGE_H

#include <stdint.h>

#include "../bench/sock_proto.h"

enum bridge_verdict {
	BRIDGE_ALLOC = 0,      /* fields below valid */
	BRIDGE_FREE,
	BRIDGE_QUERY,
	BRIDGE_BAD_TYPE,       /* unknown type, or a RESPONSE sent to the server */
	BRIDGE_BAD_DEVICE,     /* device id < 0 or >= the segment's capacity */
	BRIDGE_BAD_MEMTYPE,    /* buffer_type not DRAM/L1/L1_SMALL/TRACE */
	BRIDGE_BAD_SIZE,       /* ALLOC of 0 bytes or of 2^63 or more */
	BRIDGE_VERDICTS
};

struct bridge_cmd {
	uint32_t device;
	uint32_t tta_type;     /* tta_mem_type (TT-Metal numbering) */
	uint64_t address, size;
	int32_t claimed_pid;   /* the pid the message says (never trusted) */
	int32_t query_device;  /* QUERY: as sent, may be out of range */
};

/* Classifies one message of exactly SOCK_MSG_SIZE bytes at RAW (any
 * alignment) against a segment of DEVICE_CAPACITY devices. Pure: no I/O. */
enum bridge_verdict bridge_decode(const void *raw, uint32_t device_capacity,
				  struct bridge_cmd *out);

/* "alloc", "free", ... for logs. */
const char *bridge_verdict_name(enum bridge_verdict v);

#endif
