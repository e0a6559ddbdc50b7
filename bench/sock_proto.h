/*
 * sock_proto.h - wire format and client side of the socket baseline.
 *
 * BASELINE, rebuilt from the public description of the older socket-based
 * tracker that tt-alloc replaces (see docs/bench.md). It is not tt-alloc code
 * and nothing outside bench/ uses it.
 *
 * Wire format: one fixed 112-byte packed message per event, in both
 * directions, on a Unix stream socket. Integers are host order (the old
 * system never left the host). The QUERY/RESPONSE pair reuses the same
 * struct: the server answers a QUERY with a RESPONSE carrying the four
 * per-type totals of the queried device.
 *
 * Buffer types use the OLD protocol's numbering (DRAM=0, L1=1, L1_SMALL=2,
 * TRACE=3), not TT-Metal's BufferType; sock_type_from_tta() converts.
 *
 * Client contract (sock_client_*): one connection per process, one blocking
 * send() per report under a process-local mutex, with getpid() and a
 * wall-clock timestamp filled in per message, the way the old
 * AllocationClient did. Functions return 0 or a negative errno; they never
 * print.
 */
#ifndef TTA_BENCH_SOCK_PROTO_H
#define TTA_BENCH_SOCK_PROTO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SOCK_DEFAULT_PATH "/tmp/tt_allocation_server.sock"
#define SOCK_MSG_SIZE 112
#define SOCK_MAX_DEVICES 64 /* the old server had 8, "configurable to 100s" */

enum sock_msg_type {
	SOCK_MSG_ALLOC = 1,
	SOCK_MSG_FREE = 2,
	SOCK_MSG_QUERY = 3,
	SOCK_MSG_RESPONSE = 4
};

enum sock_buffer_type {
	SOCK_TYPE_DRAM = 0,
	SOCK_TYPE_L1 = 1,
	SOCK_TYPE_L1_SMALL = 2,
	SOCK_TYPE_TRACE = 3,
	SOCK_TYPES = 4
};

struct __attribute__((packed)) sock_msg {
	uint8_t type;           /*   0 */
	uint8_t pad1[3];
	int32_t device_id;      /*   4 */
	uint64_t size;          /*   8 */
	uint8_t buffer_type;    /*  16 */
	uint8_t pad2[3];
	int32_t process_id;     /*  20 */
	uint64_t buffer_id;     /*  24: the device address */
	uint64_t timestamp;     /*  32: ns since the epoch */
	/* RESPONSE only */
	uint64_t dram_allocated;     /*  40 */
	uint64_t l1_allocated;       /*  48 */
	uint64_t l1_small_allocated; /*  56 */
	uint64_t trace_allocated;    /*  64 */
	/* device information, unused by this baseline's QUERY */
	uint64_t total_dram_size;    /*  72 */
	uint64_t total_l1_size;      /*  80 */
	uint32_t arch_type;          /*  88 */
	uint32_t num_dram_channels;  /*  92 */
	uint32_t dram_size_per_channel; /* 96 */
	uint32_t l1_size_per_core;   /* 100 */
	uint32_t is_available;       /* 104 */
	uint32_t num_devices;        /* 108 */
};
_Static_assert(sizeof(struct sock_msg) == SOCK_MSG_SIZE, "the old protocol's message is 112 bytes");
_Static_assert(offsetof(struct sock_msg, buffer_id) == 24, "wire layout");
_Static_assert(offsetof(struct sock_msg, dram_allocated) == 40, "wire layout");
_Static_assert(offsetof(struct sock_msg, num_devices) == 108, "wire layout");

/* Maps a tta_mem_type number (TT-Metal BufferType) to the old numbering;
 * returns -1 for types the old protocol could not carry in ALLOC. */
static inline int sock_type_from_tta(unsigned tta_type)
{
	switch (tta_type) {
	case 0: return SOCK_TYPE_DRAM;
	case 1: return SOCK_TYPE_L1;
	case 3: return SOCK_TYPE_L1_SMALL;
	case 4: return SOCK_TYPE_TRACE;
	default: return -1;
	}
}

/* Writes/reads exactly LEN bytes, retrying on EINTR and short transfers.
 * Return 0, -EPIPE/-ECONNRESET/... on error, or -ENODATA on EOF (read). */
int sock_write_full(int fd, const void *buf, size_t len);
int sock_read_full(int fd, void *buf, size_t len);

/* Connects to PATH; returns the fd (close-on-exec) or a negative errno. */
int sock_connect(const char *path);

struct sock_client {
	int fd;
	pthread_mutex_t lock; /* serialises writes of one process's threads */
};

/* Connects and sizes the send buffer to 1 MiB, as the old client did. */
int sock_client_open(struct sock_client *c, const char *path);
void sock_client_close(struct sock_client *c);
int sock_client_alloc(struct sock_client *c, int device, uint64_t address, uint64_t size,
		      int sock_type);
int sock_client_free(struct sock_client *c, int device, uint64_t address);
/* Sends a QUERY for DEVICE on this connection and waits for the RESPONSE:
 * since the server handles one connection in order, every report sent
 * before it has been applied when it returns. TOTALS gets SOCK_TYPES
 * values (may be NULL). */
int sock_client_query(struct sock_client *c, int device, uint64_t *totals);

/* Sends several pre-built ALLOC messages in one write (bench setup only:
 * fills a live set quickly; the measured paths use one send per report). */
int sock_client_alloc_batch(struct sock_client *c, int device, const uint64_t *addresses,
			    const uint64_t *sizes, const int *types, size_t n);

#endif /* TTA_BENCH_SOCK_PROTO_H */
