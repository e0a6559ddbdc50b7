/*
 * counters_shm.c - BASELINE model of TT-Metal's counters-only per-chip SHM
 * tracker (see counters_shm.h for what is modelled and why).
 *
 * Written from the design's public description; the hot path keeps every
 * step that design takes per report (slot scan, chip scan, three counter
 * sets, two wall-clock reads, clamped CAS subtraction) and adds nothing.
 */
#include "counters_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSHM_VERSION 4u

static void region_name(char *out, size_t n, const char *prefix, uint32_t device_id)
{
	snprintf(out, n, "%s_chip%u", prefix, device_id);
}

/* The design's "nanoseconds since epoch" timestamp: a wall-clock read. */
static uint64_t wall_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int counted_index(enum cshm_type type)
{
	switch (type) {
	case CSHM_DRAM: return 0;
	case CSHM_L1: return 1;
	case CSHM_L1_SMALL: return 2;
	case CSHM_TRACE: return 3;
	case CSHM_CB: return 4;
	default: return -1;
	}
}

static void saturating_sub(_Atomic uint64_t *counter, uint64_t amount)
{
	uint64_t cur = atomic_load_explicit(counter, memory_order_relaxed);
	uint64_t next;
	do {
		next = cur >= amount ? cur - amount : 0;
	} while (!atomic_compare_exchange_weak_explicit(counter, &cur, next, memory_order_relaxed,
							 memory_order_relaxed));
}

static void initialize_region(struct cshm_region *r, uint32_t device_id)
{
	atomic_store_explicit(&r->init_state, 1, memory_order_relaxed);
	atomic_store_explicit(&r->version, CSHM_VERSION, memory_order_relaxed);
	atomic_store_explicit(&r->last_update_ns, wall_clock_ns(), memory_order_relaxed);
	atomic_store_explicit(&r->device_id, device_id, memory_order_relaxed);
	for (int c = 0; c < CSHM_MAX_CHIPS; c++)
		atomic_store_explicit(&r->chips[c].chip_id, CSHM_CHIP_UNUSED, memory_order_relaxed);
	atomic_store_explicit(&r->chips[0].chip_id, device_id, memory_order_relaxed);
	atomic_store_explicit(&r->init_state, CSHM_READY, memory_order_release);
}

static bool process_is_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* Moves a dead (or our own) slot's bytes out of the totals and frees it. */
static void release_slot(struct cshm_region *r, struct cshm_process *slot, int32_t owner)
{
	int32_t expected = owner;
	if (!atomic_compare_exchange_strong(&slot->pid, &expected, -1))
		return; /* someone else released it */
	for (int t = 0; t < CSHM_COUNTED; t++) {
		uint64_t v = atomic_exchange_explicit(&slot->allocated[t], 0, memory_order_relaxed);
		if (v) {
			saturating_sub(&r->total[t], v);
			saturating_sub(&r->chips[0].allocated[t], v);
		}
	}
	atomic_fetch_sub(&r->num_active_processes, 1);
	atomic_fetch_sub(&r->reference_count, 1);
	atomic_store_explicit(&slot->pid, 0, memory_order_release);
}

static void comm_of(char *out, size_t n)
{
	out[0] = 0;
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t k = read(fd, out, n - 1);
	close(fd);
	if (k > 0) {
		out[k] = 0;
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = 0;
	} else {
		out[0] = 0;
	}
}

static struct cshm_process *claim_own_slot(struct cshm_region *r, int32_t pid)
{
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++)
		if (atomic_load_explicit(&r->processes[i].pid, memory_order_relaxed) == pid)
			return &r->processes[i];
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++) {
		struct cshm_process *s = &r->processes[i];
		int32_t expected = 0;
		if (atomic_compare_exchange_strong(&s->pid, &expected, pid)) {
			for (int t = 0; t < CSHM_COUNTED; t++)
				atomic_store_explicit(&s->allocated[t], 0, memory_order_relaxed);
			atomic_store_explicit(&s->last_update_ns, wall_clock_ns(), memory_order_relaxed);
			comm_of(s->name, sizeof(s->name));
			atomic_fetch_add(&r->reference_count, 1);
			atomic_fetch_add(&r->num_active_processes, 1);
			return s;
		}
	}
	return NULL;
}

int cshm_attach(struct cshm_provider *p, const char *name_prefix, uint32_t device_id)
{
	memset(p, 0, sizeof(*p));
	region_name(p->name, sizeof(p->name), name_prefix, device_id);
	p->device_id = device_id;
	bool creator = true;
	int fd = shm_open(p->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST) {
		creator = false;
		fd = shm_open(p->name, O_RDWR | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	if (creator && ftruncate(fd, sizeof(struct cshm_region)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct stat st;
	if (!creator) {
		/* The creator may not have sized it yet. */
		for (int i = 0; i < 1000; i++) {
			if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(struct cshm_region))
				break;
			usleep(1000);
		}
	}
	void *m = mmap(NULL, sizeof(struct cshm_region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	struct cshm_region *r = m;
	if (creator) {
		initialize_region(r, device_id);
	} else {
		for (int i = 0; i < 1000 && atomic_load_explicit(&r->init_state, memory_order_acquire) !=
							 CSHM_READY; i++)
			usleep(1000);
		if (atomic_load_explicit(&r->init_state, memory_order_acquire) != CSHM_READY) {
			munmap(m, sizeof(*r));
			return -EAGAIN;
		}
	}
	/* Attach-time reaping: the only moment the design looks for the dead. */
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++) {
		int32_t pid = atomic_load_explicit(&r->processes[i].pid, memory_order_relaxed);
		if (pid > 0 && !process_is_alive(pid))
			release_slot(r, &r->processes[i], pid);
	}
	if (!claim_own_slot(r, getpid())) {
		munmap(m, sizeof(*r));
		return -ENOSPC;
	}
	p->region = r;
	return 0;
}

void cshm_detach(struct cshm_provider *p)
{
	if (!p->region)
		return;
	int32_t me = getpid();
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++)
		if (atomic_load_explicit(&p->region->processes[i].pid, memory_order_relaxed) == me)
			release_slot(p->region, &p->region->processes[i], me);
	munmap(p->region, sizeof(*p->region));
	p->region = NULL;
}

void cshm_unlink(const char *name_prefix, uint32_t device_id)
{
	char name[128];
	region_name(name, sizeof(name), name_prefix, device_id);
	shm_unlink(name);
}

static struct cshm_process *find_pid_entry(struct cshm_region *r, pid_t pid)
{
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++)
		if (atomic_load_explicit(&r->processes[i].pid, memory_order_relaxed) == pid)
			return &r->processes[i];
	return claim_own_slot(r, pid);
}

static struct cshm_chip *find_chip_entry(struct cshm_region *r, uint32_t chip_id)
{
	for (int c = 0; c < CSHM_MAX_CHIPS; c++)
		if (atomic_load_explicit(&r->chips[c].chip_id, memory_order_relaxed) == chip_id)
			return &r->chips[c];
	for (int c = 0; c < CSHM_MAX_CHIPS; c++) {
		uint32_t expected = CSHM_CHIP_UNUSED;
		if (atomic_compare_exchange_strong(&r->chips[c].chip_id, &expected, chip_id))
			return &r->chips[c];
	}
	return NULL;
}

void cshm_record_alloc(struct cshm_provider *p, pid_t pid, uint64_t size, enum cshm_type type,
		       uint32_t chip_id)
{
	struct cshm_region *r = p->region;
	if (!r)
		return;
	struct cshm_process *slot = find_pid_entry(r, pid);
	if (!slot)
		return;
	int t = counted_index(type);
	if (t >= 0)
		atomic_fetch_add_explicit(&r->total[t], size, memory_order_relaxed);
	struct cshm_chip *chip = find_chip_entry(r, chip_id);
	if (chip && t >= 0)
		atomic_fetch_add_explicit(&chip->allocated[t], size, memory_order_relaxed);
	atomic_store_explicit(&r->last_update_ns, wall_clock_ns(), memory_order_relaxed);
	if (t >= 0)
		atomic_fetch_add_explicit(&slot->allocated[t], size, memory_order_relaxed);
	atomic_store_explicit(&slot->last_update_ns, wall_clock_ns(), memory_order_relaxed);
}

void cshm_record_free(struct cshm_provider *p, pid_t pid, uint64_t size, enum cshm_type type,
		      uint32_t chip_id)
{
	struct cshm_region *r = p->region;
	if (!r)
		return;
	struct cshm_process *slot = find_pid_entry(r, pid);
	if (!slot)
		return;
	int t = counted_index(type);
	if (t >= 0)
		saturating_sub(&r->total[t], size);
	struct cshm_chip *chip = find_chip_entry(r, chip_id);
	if (chip && t >= 0)
		saturating_sub(&chip->allocated[t], size);
	atomic_store_explicit(&r->last_update_ns, wall_clock_ns(), memory_order_relaxed);
	if (t >= 0)
		saturating_sub(&slot->allocated[t], size);
	atomic_store_explicit(&slot->last_update_ns, wall_clock_ns(), memory_order_relaxed);
}

static pthread_mutex_t tracking_lock = PTHREAD_MUTEX_INITIALIZER;

void cshm_track_alloc(struct cshm_provider *p, uint64_t size, enum cshm_type type)
{
	pthread_mutex_lock(&tracking_lock);
	cshm_record_alloc(p, getpid(), size, type, p->device_id);
	pthread_mutex_unlock(&tracking_lock);
}

void cshm_track_free(struct cshm_provider *p, uint64_t size, enum cshm_type type)
{
	pthread_mutex_lock(&tracking_lock);
	cshm_record_free(p, getpid(), size, type, p->device_id);
	pthread_mutex_unlock(&tracking_lock);
}

const struct cshm_region *cshm_map_readonly(const char *name_prefix, uint32_t device_id)
{
	char name[128];
	region_name(name, sizeof(name), name_prefix, device_id);
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct cshm_region)) {
		close(fd);
		return NULL;
	}
	void *m = mmap(NULL, sizeof(struct cshm_region), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

void cshm_unmap(const struct cshm_region *r)
{
	if (r)
		munmap((void *)r, sizeof(*r));
}

void cshm_read_totals(const struct cshm_region *r, uint64_t *out)
{
	for (int t = 0; t < CSHM_COUNTED; t++)
		out[t] = atomic_load_explicit((_Atomic uint64_t *)&r->total[t], memory_order_relaxed);
}

unsigned cshm_read_processes(const struct cshm_region *r, cshm_process_fn fn, void *ctx)
{
	unsigned n = 0;
	for (int i = 0; i < CSHM_MAX_PROCESSES; i++) {
		const struct cshm_process *s = &r->processes[i];
		int32_t pid = atomic_load_explicit((_Atomic int32_t *)&s->pid, memory_order_relaxed);
		if (pid <= 0)
			continue;
		uint64_t v[CSHM_COUNTED];
		for (int t = 0; t < CSHM_COUNTED; t++)
			v[t] = atomic_load_explicit((_Atomic uint64_t *)&s->allocated[t],
						    memory_order_relaxed);
		char name[64];
		memcpy(name, s->name, sizeof(name));
		name[63] = 0;
		if (fn)
			fn(pid, v, name, ctx);
		n++;
	}
	return n;
}
