/*
 * bench_writers.c - the systems under test, behind one writer/reader shape
 * (see bench.h). Each churn loop is written out per system, so the measured
 * loop is the system's calls and nothing else: no indirect call, no switch.
 */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters_shm.h"
#include "sock_proto.h"
#include "tt-alloc/reader.h"

const char *const sys_name[SYS_COUNT] = {
	[SYS_SHM] = "shm",
	[SYS_SHM_HANDLE] = "shm_handle",
	[SYS_COUNTERS] = "counters_shm",
	[SYS_COUNTERS_CORE] = "counters_shm_core",
	[SYS_SOCKET] = "socket",
};

/* Device addresses start here and advance one 4 KiB page per allocation,
 * the alignment TT-Metal's allocator hands out; every key is fresh. */
#define FIRST_ADDRESS UINT64_C(0x10000000)

static enum cshm_type cshm_type_of(uint64_t address)
{
	return bench_type_of(address) ? CSHM_L1 : CSHM_DRAM;
}

int writer_open(struct writer *w, enum sys sys, uint32_t device, uint32_t live)
{
	memset(w, 0, sizeof(*w));
	w->sys = sys;
	w->device = device;
	w->live = live;
	w->next_addr = FIRST_ADDRESS;
	if (live > 0) {
		w->addr = calloc(live, sizeof(*w->addr));
		w->token = calloc(live, sizeof(*w->token));
		if (!w->addr || !w->token)
			return -ENOMEM;
		/* Touch the rings now so later RSS readings see only the system. */
		memset(w->addr, 1, live * sizeof(*w->addr));
		memset(w->token, 1, live * sizeof(*w->token));
	}
	switch (sys) {
	case SYS_SHM:
	case SYS_SHM_HANDLE:
		if (tta_track_state() == TTA_TRACK_OFF)
			return -ENOTSUP;
		return 0;
	case SYS_COUNTERS:
	case SYS_COUNTERS_CORE: {
		struct cshm_provider *p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		int rc = cshm_attach(p, cfg.cshm_prefix, device);
		if (rc < 0) {
			free(p);
			return rc;
		}
		w->impl = p;
		return 0;
	}
	case SYS_SOCKET: {
		struct sock_client *c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		int rc = sock_client_open(c, cfg.socket_path);
		if (rc < 0) {
			free(c);
			return rc;
		}
		w->impl = c;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

void writer_alloc_one(struct writer *w, uint64_t a)
{
	switch (w->sys) {
	case SYS_SHM:
		tta_report_alloc(w->device, a, bench_size_of(a), (enum tta_mem_type)bench_type_of(a));
		break;
	case SYS_SHM_HANDLE:
		/* Sections c/g only use address-based frees; keep the handle unused. */
		tta_report_alloc(w->device, a, bench_size_of(a), (enum tta_mem_type)bench_type_of(a));
		break;
	case SYS_COUNTERS:
		cshm_track_alloc(w->impl, bench_size_of(a), cshm_type_of(a));
		break;
	case SYS_COUNTERS_CORE:
		cshm_record_alloc(w->impl, getpid(), bench_size_of(a), cshm_type_of(a), w->device);
		break;
	case SYS_SOCKET:
		sock_client_alloc(w->impl, (int)w->device, a, bench_size_of(a),
				  sock_type_from_tta(bench_type_of(a)));
		break;
	default:
		break;
	}
}

void writer_free_one(struct writer *w, uint64_t a)
{
	switch (w->sys) {
	case SYS_SHM:
	case SYS_SHM_HANDLE:
		tta_report_free(w->device, a);
		break;
	case SYS_COUNTERS:
		cshm_track_free(w->impl, bench_size_of(a), cshm_type_of(a));
		break;
	case SYS_COUNTERS_CORE:
		cshm_record_free(w->impl, getpid(), bench_size_of(a), cshm_type_of(a), w->device);
		break;
	case SYS_SOCKET:
		sock_client_free(w->impl, (int)w->device, a);
		break;
	default:
		break;
	}
}

int writer_populate(struct writer *w)
{
	if (w->sys == SYS_SOCKET) {
		/* Setup only: batched writes fill the server faster; the measured
		 * churn below sends one message per report. */
		enum { CHUNK = 4096 };
		uint64_t sizes[CHUNK];
		int types[CHUNK];
		for (uint32_t i = 0; i < w->live; i += CHUNK) {
			uint32_t k = w->live - i < CHUNK ? w->live - i : CHUNK;
			for (uint32_t j = 0; j < k; j++) {
				uint64_t a = w->next_addr;
				w->next_addr += 4096;
				w->addr[i + j] = a;
				sizes[j] = bench_size_of(a);
				types[j] = sock_type_from_tta(bench_type_of(a));
			}
			int rc = sock_client_alloc_batch(w->impl, (int)w->device, &w->addr[i], sizes, types,
							 k);
			if (rc < 0)
				return rc;
		}
		return writer_sync(w);
	}
	for (uint32_t i = 0; i < w->live; i++) {
		uint64_t a = w->next_addr;
		w->next_addr += 4096;
		w->addr[i] = a;
		if (w->sys == SYS_SHM_HANDLE)
			w->token[i] = tta_report_alloc_handle(w->device, a, bench_size_of(a),
							      (enum tta_mem_type)bench_type_of(a));
		else
			writer_alloc_one(w, a);
	}
	return 0;
}

/* The loops: allocate a fresh address, free the oldest, keep LIVE constant. */
#define CHURN_LOOP(ALLOC, FREE)                                                 \
	do {                                                                    \
		uint64_t *ring = w->addr;                                       \
		uint32_t pos = w->pos, live = w->live, dev = w->device;         \
		uint64_t next = w->next_addr;                                   \
		(void)dev;                                                      \
		for (uint64_t i = 0; i < pairs; i++) {                          \
			uint64_t a = next;                                      \
			next += 4096;                                           \
			ALLOC;                                                  \
			uint64_t old = ring[pos];                               \
			FREE;                                                   \
			ring[pos] = a;                                          \
			if (++pos == live)                                      \
				pos = 0;                                        \
		}                                                               \
		w->pos = pos;                                                   \
		w->next_addr = next;                                            \
	} while (0)

static void churn_shm(struct writer *w, uint64_t pairs)
{
	CHURN_LOOP(tta_report_alloc(dev, a, bench_size_of(a), (enum tta_mem_type)bench_type_of(a)),
		   tta_report_free(dev, old));
}

static void churn_shm_handle(struct writer *w, uint64_t pairs)
{
	uint64_t *tokens = w->token;
	CHURN_LOOP(tta_handle h = tta_report_alloc_handle(dev, a, bench_size_of(a),
							  (enum tta_mem_type)bench_type_of(a)),
		   tta_report_free_handle(tokens[pos]); tokens[pos] = h; (void)old);
}

static void churn_counters(struct writer *w, uint64_t pairs)
{
	struct cshm_provider *p = w->impl;
	CHURN_LOOP(cshm_track_alloc(p, bench_size_of(a), cshm_type_of(a)),
		   cshm_track_free(p, bench_size_of(old), cshm_type_of(old)));
}

static void churn_counters_core(struct writer *w, uint64_t pairs)
{
	struct cshm_provider *p = w->impl;
	pid_t me = getpid();
	CHURN_LOOP(cshm_record_alloc(p, me, bench_size_of(a), cshm_type_of(a), dev),
		   cshm_record_free(p, me, bench_size_of(old), cshm_type_of(old), dev));
}

static void churn_socket(struct writer *w, uint64_t pairs)
{
	struct sock_client *c = w->impl;
	CHURN_LOOP(sock_client_alloc(c, (int)dev, a, bench_size_of(a),
				     sock_type_from_tta(bench_type_of(a))),
		   sock_client_free(c, (int)dev, old));
}

void writer_churn(struct writer *w, uint64_t pairs)
{
	if (w->live == 0)
		return;
	switch (w->sys) {
	case SYS_SHM: churn_shm(w, pairs); break;
	case SYS_SHM_HANDLE: churn_shm_handle(w, pairs); break;
	case SYS_COUNTERS: churn_counters(w, pairs); break;
	case SYS_COUNTERS_CORE: churn_counters_core(w, pairs); break;
	case SYS_SOCKET: churn_socket(w, pairs); break;
	default: break;
	}
}

/* The temporary pattern: allocate a fresh address and free it at once,
 * while the LIVE others stay put (what short-lived tensors do). */
#define TEMP_LOOP(ALLOC, FREE)                                                  \
	do {                                                                    \
		uint32_t dev = w->device;                                       \
		uint64_t next = w->next_addr;                                   \
		(void)dev;                                                      \
		for (uint64_t i = 0; i < pairs; i++) {                          \
			uint64_t a = next;                                      \
			next += 4096;                                           \
			ALLOC;                                                  \
			FREE;                                                   \
		}                                                               \
		w->next_addr = next;                                            \
	} while (0)

static void temp_shm(struct writer *w, uint64_t pairs)
{
	TEMP_LOOP(tta_report_alloc(dev, a, bench_size_of(a), (enum tta_mem_type)bench_type_of(a)),
		  tta_report_free(dev, a));
}

static void temp_shm_handle(struct writer *w, uint64_t pairs)
{
	TEMP_LOOP(tta_handle h = tta_report_alloc_handle(dev, a, bench_size_of(a),
							  (enum tta_mem_type)bench_type_of(a)),
		  tta_report_free_handle(h));
}

static void temp_counters(struct writer *w, uint64_t pairs)
{
	struct cshm_provider *p = w->impl;
	TEMP_LOOP(cshm_track_alloc(p, bench_size_of(a), cshm_type_of(a)),
		  cshm_track_free(p, bench_size_of(a), cshm_type_of(a)));
}

static void temp_counters_core(struct writer *w, uint64_t pairs)
{
	struct cshm_provider *p = w->impl;
	pid_t me = getpid();
	TEMP_LOOP(cshm_record_alloc(p, me, bench_size_of(a), cshm_type_of(a), dev),
		  cshm_record_free(p, me, bench_size_of(a), cshm_type_of(a), dev));
}

static void temp_socket(struct writer *w, uint64_t pairs)
{
	struct sock_client *c = w->impl;
	TEMP_LOOP(sock_client_alloc(c, (int)dev, a, bench_size_of(a),
				    sock_type_from_tta(bench_type_of(a))),
		  sock_client_free(c, (int)dev, a));
}

void writer_churn_temporary(struct writer *w, uint64_t pairs)
{
	switch (w->sys) {
	case SYS_SHM: temp_shm(w, pairs); break;
	case SYS_SHM_HANDLE: temp_shm_handle(w, pairs); break;
	case SYS_COUNTERS: temp_counters(w, pairs); break;
	case SYS_COUNTERS_CORE: temp_counters_core(w, pairs); break;
	case SYS_SOCKET: temp_socket(w, pairs); break;
	default: break;
	}
}

int writer_sync(struct writer *w)
{
	if (w->sys == SYS_SOCKET)
		return sock_client_query(w->impl, (int)w->device, NULL);
	return 0;
}

void writer_close(struct writer *w)
{
	switch (w->sys) {
	case SYS_SHM:
	case SYS_SHM_HANDLE:
		tta_track_detach();
		break;
	case SYS_COUNTERS:
	case SYS_COUNTERS_CORE:
		if (w->impl)
			cshm_detach(w->impl);
		break;
	case SYS_SOCKET:
		/* The bench runs the server with cleanup on disconnect, which
		 * drops what is still live when the connection closes. */
		if (w->impl)
			sock_client_close(w->impl);
		break;
	default:
		break;
	}
	free(w->impl);
	free(w->addr);
	free(w->token);
	memset(w, 0, sizeof(*w));
}

/* ---- readers -------------------------------------------------------------- */

struct reader {
	enum sys sys;
	tta_reader *shm;
	const struct cshm_region *regions[SOCK_MAX_DEVICES];
	struct sock_client sock;
};

struct reader *reader_open(enum sys sys)
{
	struct reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->sys = sys;
	r->sock.fd = -1;
	char err[256];
	int rc = 0;
	switch (sys) {
	case SYS_SHM:
	case SYS_SHM_HANDLE:
		rc = tta_reader_open(cfg.shm_name, &r->shm, err, sizeof(err));
		if (rc < 0)
			fprintf(stderr, "tt-alloc-bench: %s\n", err);
		break;
	case SYS_COUNTERS:
	case SYS_COUNTERS_CORE:
		break; /* regions are mapped on first use */
	case SYS_SOCKET:
		rc = sock_client_open(&r->sock, cfg.socket_path);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0) {
		free(r);
		return NULL;
	}
	return r;
}

int reader_device(struct reader *r, uint32_t device, int64_t *bytes, int64_t *buffers)
{
	switch (r->sys) {
	case SYS_SHM:
	case SYS_SHM_HANDLE: {
		struct tta_device_view v;
		int rc = tta_reader_device(r->shm, device, &v);
		if (rc < 0)
			return rc;
		*bytes = v.used[TTA_MEM_DRAM] + v.used[TTA_MEM_L1];
		*buffers = v.buffers;
		return 0;
	}
	case SYS_COUNTERS:
	case SYS_COUNTERS_CORE: {
		if (device >= SOCK_MAX_DEVICES)
			return -EINVAL;
		if (!r->regions[device]) {
			r->regions[device] = cshm_map_readonly(cfg.cshm_prefix, device);
			if (!r->regions[device])
				return -ENOENT;
		}
		uint64_t t[CSHM_COUNTED];
		cshm_read_totals(r->regions[device], t);
		*bytes = (int64_t)(t[0] + t[1]);
		*buffers = -1;
		return 0;
	}
	case SYS_SOCKET: {
		uint64_t t[SOCK_TYPES];
		int rc = sock_client_query(&r->sock, (int)device, t);
		if (rc < 0)
			return rc;
		*bytes = (int64_t)(t[SOCK_TYPE_DRAM] + t[SOCK_TYPE_L1]);
		*buffers = -1;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

void reader_close(struct reader *r)
{
	if (!r)
		return;
	if (r->shm)
		tta_reader_close(r->shm);
	for (unsigned i = 0; i < SOCK_MAX_DEVICES; i++)
		cshm_unmap(r->regions[i]);
	if (r->sock.fd >= 0)
		sock_client_close(&r->sock);
	free(r);
}
