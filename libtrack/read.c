/*
 * read.c - the read side: consistent, non-blocking views of a segment mapped
 * read-only. Contract in <tt-alloc/reader.h>.
 *
 * Nothing read from the segment is trusted: every index is bounded by the
 * capacities validated at open (kept in our own memory, never re-read), every
 * string is copied and terminated here, and every multi-word value is taken
 * under its sequence word with a bounded number of retries, so a writer that
 * died mid-update (sequence stuck odd) or a hostile one cannot hang a reader.
 *
 * SIGBUS: a file truncated under our mapping faults on the next read past
 * its end. Every function that reads the mapping runs inside BUS_GUARD: a
 * thread-local jump buffer that the library's SIGBUS handler jumps to, so the
 * fault becomes -EFAULT. The handler chains any fault outside a guarded read
 * to whatever handler was there before it.
 */
#include <ck_pr.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


#include "tt-alloc/reader.h"
#include "origin_names.h"
#include "tta_counters.h"
#include "tta_record.h"
#include "tta_segment.h"
#include "tta_sources.h"
#include "read_priv.h"

#define TTA_EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)

_Static_assert((int)TTA_REAPER_NONE == (int)TTA_REAPER_STATUS_NONE &&
		       (int)TTA_REAPER_RUNNING == (int)TTA_REAPER_STATUS_RUNNING &&
		       (int)TTA_REAPER_STALLED == (int)TTA_REAPER_STATUS_STALLED &&
		       (int)TTA_REAPER_GONE == (int)TTA_REAPER_STATUS_GONE &&
		       (int)TTA_REAPER_UNKNOWN == (int)TTA_REAPER_STATUS_UNKNOWN,
	       "public and internal reaper status numbers agree");
_Static_assert(TTA_REAPER_STALL_MS * 1000000ull == TTA_REAPER_STALL_NS, "one stall interval");
_Static_assert((int)TTA_MEM_TYPES == (int)TTA_LAYOUT_MEM_TYPES, "one list of memory types");


/* ------------------------------------------------------------------------ */
/* SIGBUS guard                                                              */

__thread sigjmp_buf *tta_bus_jump TTA_BUS_JUMP_TLS;
static struct sigaction previous_bus_action;
static pthread_once_t bus_handler_once = PTHREAD_ONCE_INIT;

/*
 * The hot queries (tta_reader_device, tta_reader_device_totals) take no
 * guard at all: a sigsetjmp costs as much as the rest of a one-process
 * query. Instead every reader's mapping is listed here, and a fault inside
 * one (the file shrank under it) is repaired in the handler: the pages from
 * the faulting one to the end of the mapping are replaced by anonymous zero
 * pages, the reader is marked, and the load is retried and reads zero. The
 * query then sees the mark and returns -EFAULT, as does every later call
 * on that reader. Zeros are a valid segment image: every bitmap word is
 * empty and every state word FREE, so no loop can run away on them.
 * Only a truncation (or a hardware error) raises SIGBUS in a mapping, and
 * either makes the reader useless; tta_reader_status says TRUNCATED.
 */
#define BUS_REGIONS 64
static struct bus_region {
	uintptr_t base, end; /* 0, 0: free */
	int used, faulted;
} bus_regions[BUS_REGIONS];

static int bus_region_add(const void *base, size_t size)
{
	for (int i = 0; i < BUS_REGIONS; i++) {
		if (__atomic_exchange_n(&bus_regions[i].used, 1, __ATOMIC_ACQ_REL))
			continue;
		__atomic_store_n(&bus_regions[i].faulted, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&bus_regions[i].end, (uintptr_t)base + size, __ATOMIC_RELAXED);
		__atomic_store_n(&bus_regions[i].base, (uintptr_t)base, __ATOMIC_RELEASE);
		return i;
	}
	return -1;
}

static void bus_region_remove(int i)
{
	if (i < 0)
		return;
	__atomic_store_n(&bus_regions[i].base, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&bus_regions[i].end, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&bus_regions[i].used, 0, __ATOMIC_RELEASE);
}

/* Repairs a fault at ADDR inside a listed mapping (see above). */
static bool bus_region_repair(uintptr_t addr)
{
	for (int i = 0; i < BUS_REGIONS; i++) {
		uintptr_t base = __atomic_load_n(&bus_regions[i].base, __ATOMIC_ACQUIRE);
		uintptr_t end = __atomic_load_n(&bus_regions[i].end, __ATOMIC_ACQUIRE);
		if (base == 0 || addr < base || addr >= end)
			continue;
		uintptr_t page = addr & ~(uintptr_t)(TTA_PAGE - 1);
		long rc = syscall(SYS_mmap, (void *)page, (size_t)(end - page), PROT_READ,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0L);
		if (rc == -1)
			return false;
		__atomic_store_n(&bus_regions[i].faulted, 1, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

/* True if a read of R's mapping faulted (now or before). The signal fence
 * keeps the compiler from moving this check above the reads it judges. */
static inline bool reader_faulted(const tta_reader *r)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return r->bus_region >= 0 &&
	       __atomic_load_n(&bus_regions[r->bus_region].faulted, __ATOMIC_ACQUIRE) != 0;
}

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	sigjmp_buf *jump = tta_bus_jump;
	if (jump != NULL) {
		tta_bus_jump = NULL;
		siglongjmp(*jump, 1);
	}
	/* A fault (not a kill) in a reader's mapping outside a guarded read. */
	if (info != NULL && info->si_code > 0 && bus_region_repair((uintptr_t)info->si_addr))
		return;
	/* Not one of our reads: behave as if we had never been installed. */
	if (previous_bus_action.sa_flags & SA_SIGINFO) {
		previous_bus_action.sa_sigaction(sig, info, uctx);
	} else if (previous_bus_action.sa_handler != SIG_DFL &&
		   previous_bus_action.sa_handler != SIG_IGN) {
		previous_bus_action.sa_handler(sig);
	} else {
		/* Returning re-runs the faulting access, which now kills us the
		 * default way (a synchronous SIGBUS cannot be ignored). */
		signal(sig, SIG_DFL);
	}
}

static void install_bus_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &previous_bus_action);
}


/* ------------------------------------------------------------------------ */
/* Open, close, status                                                       */

TTA_EXPORT int tta_reader_open(const char *name, tta_reader **out, char *err, size_t errlen)
{
	*out = NULL;
	pthread_once(&bus_handler_once, install_bus_handler);
	tta_reader *r = calloc(1, sizeof *r);
	if (r == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	int rc = tta_segment_open(name, 0, NULL, &r->seg, err, errlen);
	if (rc != 0) {
		free(r);
		return rc;
	}
	r->bus_region = bus_region_add(r->seg.base, r->seg.size);
	r->reaper = (struct tta_reaper_watch)TTA_REAPER_WATCH_INIT;
	*out = r;
	return 0;
}

TTA_EXPORT void tta_reader_close(tta_reader *r)
{
	if (r == NULL)
		return;
	bus_region_remove(r->bus_region);
	tta_reaper_watch_close(&r->reaper);
	tta_segment_close(&r->seg);
	free(r->plan_ids);
	free(r->plan_bits);
	free(r->procs);
	free(r->buckets);
	free(r->order);
	free(r->slot_first);
	free(r->slot_devs);
	free(r->live_slots);
	free(r->live_mask);
	free(r->live_words);
	free(r->live_index);
	free(r->row_process);
	free(r->row_at);
	free(r->plan_sums);
	free(r->registered_ids);
	free(r);
}

TTA_EXPORT const char *tta_reader_name(const tta_reader *r)
{
	return r->seg.name;
}

/* REPLACED, REMOVED or OK: what the name points at now (one stat). */
static enum tta_segment_status name_status(const tta_reader *r)
{
	struct stat st;
	char path[sizeof "/dev/shm" + TTA_NAME_MAX + 2];
	snprintf(path, sizeof path, "/dev/shm%s", r->seg.name);
	if (stat(path, &st) != 0)
		return TTA_SEGMENT_REMOVED;
	if (st.st_dev != r->seg.file_dev || st.st_ino != r->seg.file_ino)
		return TTA_SEGMENT_REPLACED;
	return TTA_SEGMENT_OK;
}

/* tta_reader_status for every read entry point, cheaper: one fstat of our file. Its
 * size says whether it was truncated; its link count whether the name may
 * point elsewhere: the segment is created under a temporary name, linked to
 * the public one, and the temporary removed, so our file has exactly one
 * name, the one we opened, until somebody unlinks it (0) or links it again
 * (2). Only then is the name looked up (a stat costs three times an fstat
 * here, the larger part of a small snapshot). */
static enum tta_segment_status snapshot_status(tta_reader *r)
{
	struct stat st;
	if (reader_faulted(r))
		return TTA_SEGMENT_TRUNCATED;
	if (fstat(r->seg.fd, &st) != 0)
		return name_status(r);
	if ((uint64_t)st.st_size < r->seg.size)
		return TTA_SEGMENT_TRUNCATED;
	return st.st_nlink == 1 ? TTA_SEGMENT_OK : name_status(r);
}

TTA_EXPORT enum tta_segment_status tta_reader_status(tta_reader *r)
{
	struct stat st;
	if (reader_faulted(r) ||
	    (fstat(r->seg.fd, &st) == 0 && (uint64_t)st.st_size < r->seg.size))
		return TTA_SEGMENT_TRUNCATED;
	return name_status(r);
}

int tta_reader_usable(tta_reader *r, char *err, size_t errlen)
{
	enum tta_segment_status status = snapshot_status(r);
	if (status == TTA_SEGMENT_TRUNCATED)
		return tta_fail(err, errlen, -EFAULT,
				"segment %s was truncated under this reader; it is no longer usable",
				r->seg.name);
	if (status == TTA_SEGMENT_REPLACED)
		return tta_fail(err, errlen, -ESTALE,
				"segment %s was replaced by a new one; reopen it", r->seg.name);
	return 0;
}

TTA_EXPORT const char *tta_segment_name(const char *name, char *err, size_t errlen)
{
	static __thread char resolved[TTA_NAME_MAX + 2];
	if (tta_resolve_name(name, resolved, err, errlen) != 0)
		return NULL;
	return resolved;
}

TTA_EXPORT uint32_t tta_reader_device_capacity(const tta_reader *r)
{
	return r->seg.geo.device_capacity;
}

/* ------------------------------------------------------------------------ */
/* Counters and liveness                                                     */

static const struct {
	struct tta_counter_info info;
	bool stored;
} counter_table[TTA_COUNTER_COUNT] = {
#define TTA_COUNTER_ENTRY(name_, kind_, stored_, unit_, help_)                        \
	{ { .name = #name_, .kind = TTA_COUNTER_KIND_##kind_, .unit = unit_, .help = help_ }, \
	  stored_ },
	TTA_COUNTER_TABLE(TTA_COUNTER_ENTRY)
#undef TTA_COUNTER_ENTRY
};

TTA_EXPORT unsigned tta_counter_count(void)
{
	return TTA_COUNTER_COUNT;
}

TTA_EXPORT const struct tta_counter_info *tta_counter_info(unsigned id)
{
	return id < TTA_COUNTER_COUNT ? &counter_table[id].info : NULL;
}

TTA_EXPORT int tta_counter_find(const char *name)
{
	for (unsigned i = 0; name != NULL && i < TTA_COUNTER_COUNT; i++)
		if (strcmp(counter_table[i].info.name, name) == 0)
			return (int)i;
	return -1;
}

TTA_EXPORT int tta_process_alive(int32_t pid, uint64_t start_time)
{
	if (pid <= 0 || !tta_proc_is_ours())
		return -1;
	return tta_proc_incarnation_alive((pid_t)pid, start_time);
}

TTA_EXPORT const char *tta_reaper_status_name(int status)
{
	static const char *const names[] = { "none", "running", "stalled", "gone", "unknown" };
	return status >= 0 && status < (int)(sizeof names / sizeof names[0]) ? names[status] : NULL;
}

/* ------------------------------------------------------------------------ */
/* Reading slots and counter lines                                           */

static inline bool slot_is_live(uint64_t state)
{
	return TTA_SLOT_PHASE(state) == TTA_SLOT_LIVE;
}

static inline uint64_t load_slot_state(const struct tta_segment *seg, uint32_t slot)
{
	return ck_pr_load_64(&tta_slot_at(seg, slot)->state);
}

/* Copies the counter line of SLOT on DEVICE. The caller validates the slot's
 * state word around it. Sums stay modulo 2^64 in unsigned arithmetic (signed
 * overflow would be undefined on a hostile segment); read as signed, a
 * mis-accounting shows as a negative total. */
static void read_counter_line(const struct tta_segment *seg, uint32_t slot, uint32_t device,
			      int64_t *used, int64_t *buffers)
{
	const struct tta_counter_line *line = tta_counter_at(seg, slot, device);
	/* Unrolled relaxed loads (single movs, as ck_pr's): a snapshot runs
	 * this and the loops below for every row, and is bound by their
	 * instructions more than by the lines' misses. */
#pragma GCC unroll 8
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		used[t] = (int64_t)__atomic_load_n(&line->bytes[t], __ATOMIC_RELAXED);
	*buffers = (int64_t)__atomic_load_n(&line->buffers, __ATOMIC_RELAXED);
}

/* The owner's peaks for SLOT on DEVICE, never below USED (read a moment
 * earlier: an allocation in between may have raised both). A segment
 * without peaks gives USED itself. */
static void read_peak_line(const struct tta_segment *seg, uint32_t slot, uint32_t device,
			   const int64_t *used, int64_t *peak)
{
	if (seg->off_peaks == 0) {
		memcpy(peak, used, TTA_LAYOUT_MEM_TYPES * sizeof *peak);
		return;
	}
	const struct tta_peak_line *line = tta_peak_at(seg, slot, device);
#pragma GCC unroll 8
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
		int64_t p = (int64_t)__atomic_load_n(&line->peak[t], __ATOMIC_RELAXED);
		peak[t] = p > used[t] ? p : used[t];
	}
}

static void add_into(int64_t *sum, int64_t *sum_buffers, const int64_t *used, int64_t buffers)
{
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		sum[t] = (int64_t)((uint64_t)sum[t] + (uint64_t)used[t]);
	*sum_buffers = (int64_t)((uint64_t)*sum_buffers + (uint64_t)buffers);
}

/* Adds SLOT's line on DEVICE into USED/BUFFERS if the slot stays LIVE and
 * unchanged around the read. Returns true if it was counted. */
static bool add_counter_line(const struct tta_segment *seg, uint32_t slot, uint32_t device,
			     int64_t *used, int64_t *buffers)
{
	uint64_t before = load_slot_state(seg, slot);
	if (!slot_is_live(before))
		return false;
	ck_pr_fence_load();
	int64_t line[TTA_LAYOUT_MEM_TYPES], line_buffers;
	read_counter_line(seg, slot, device, line, &line_buffers);
	ck_pr_fence_load();
	if (load_slot_state(seg, slot) != before)
		return false; /* reaped meanwhile: its contribution is gone */
	add_into(used, buffers, line, line_buffers);
	return true;
}

static void read_device_identity(const struct tta_segment *seg, uint32_t device,
				 struct tta_device_view *out)
{
	memset(out, 0, sizeof *out);
	out->id = device;
	const struct tta_device *d = tta_device_at(seg, device);
	if (ck_pr_load_64(&d->state) != TTA_DEVICE_PUBLISHED)
		return;
	ck_pr_fence_load();
	out->registered = 1;
	memcpy(out->arch, d->arch, sizeof out->arch);
	out->arch[sizeof out->arch - 1] = '\0';
	out->num_cores = ck_pr_load_32(&d->num_cores);
	out->l1_bytes_per_core = ck_pr_load_32(&d->l1_bytes_per_core);
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		out->capacity[t] = ck_pr_load_64(&d->capacity[t]);
}

/* Relaxed atomic loads, not ck_pr's: the same single mov each, but visible
 * to the compiler, which can unroll and schedule them. */
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* Reads DEVICE's identity (if OUT) and totals: unguarded when R's mapping
 * is listed in bus_regions, else under the guard. 0 or -EFAULT. */
static int device_read(tta_reader *r, uint32_t device, struct tta_device_view *out,
		       struct tta_device_sum *sum)
{
	if (r->bus_region < 0) {
		sigjmp_buf jump, *outer;
		BUS_GUARD(jump, outer, return -EFAULT);
		if (out != NULL)
			read_device_identity(&r->seg, device, out);
		tta_device_sum_into(&r->seg, device, sum);
		BUS_GUARD_END(outer);
		return 0;
	}
	if (out != NULL)
		read_device_identity(&r->seg, device, out);
	tta_device_sum_into(&r->seg, device, sum);
	return reader_faulted(r) ? -EFAULT : 0;
}

TTA_EXPORT int tta_reader_device(tta_reader *r, uint32_t device, struct tta_device_view *out)
{
	if (device >= r->seg.geo.device_capacity) {
		memset(out, 0, sizeof *out);
		return -EINVAL;
	}
	/* OUT is cleared by read_device_identity: once, not twice per query. */
	struct tta_device_sum sum;
	if (device_read(r, device, out, &sum) != 0) {
		memset(out, 0, sizeof *out);
		return -EFAULT;
	}
	/* Modulo 2^64, read as signed: see read_counter_line. */
	for (int t = 0; t < TTA_MEM_TYPES; t++)
		out->used[t] = (int64_t)sum.used[t];
	out->buffers = (int64_t)sum.buffers;
	out->processes = sum.processes;
	return 0;
}

TTA_EXPORT int tta_reader_device_totals(tta_reader *r, uint32_t device,
					struct tta_device_totals *out, size_t size)
{
	if (out == NULL || size < offsetof(struct tta_device_totals, processes))
		return -EINVAL;
	struct tta_device_sum sum;
	memset(&sum, 0, sizeof sum);
	int rc = 0;
	if (device >= r->seg.geo.device_capacity) {
		rc = -EINVAL;
	} else if (device_read(r, device, NULL, &sum) != 0) {
		memset(&sum, 0, sizeof sum);
		rc = -EFAULT;
	}
	/* Same layout up to processes; signed modulo 2^64 (read_counter_line). */
	_Static_assert(offsetof(struct tta_device_totals, buffers) ==
			       offsetof(struct tta_device_sum, buffers) &&
		       offsetof(struct tta_device_totals, processes) ==
			       offsetof(struct tta_device_sum, processes),
		       "device_sum mirrors tta_device_totals");
	if (size >= sizeof *out) {
		memcpy(out, &sum, offsetof(struct tta_device_totals, reserved));
		out->reserved = 0;
	} else {
		memcpy(out, &sum, size);
	}
	return rc;
}

/* Copies SLOT's identity if it is LIVE and unchanged across the copy. */
static bool read_process(const struct tta_segment *seg, uint32_t slot,
			 struct tta_process_view *p, uint64_t *state_out)
{
	const struct tta_slot *s = tta_slot_at(seg, slot);
	uint64_t state = ck_pr_load_64(&s->state);
	if (!slot_is_live(state))
		return false;
	ck_pr_fence_load();
	/* Every field is written below; only the tail padding is zeroed here
	 * (a whole-struct memset is a `rep stos` per process). */
	memset(&p->state, 0, sizeof *p - offsetof(struct tta_process_view, state));
	p->slot = slot;
	p->pid = TTA_SLOT_PID(state);
	p->generation = TTA_SLOT_GEN(state);
	p->state = (int32_t)TTA_SLOT_PHASE(state);
	p->uid = ck_pr_load_32(&s->uid);
	p->start_time = ck_pr_load_64(&s->start_time);
	p->attach_realtime_ns = ck_pr_load_64(&s->attach_realtime_ns);
	p->pidns_ino = ck_pr_load_64(&s->pidns_ino);
	memcpy(p->comm, s->comm, sizeof p->comm);
	p->comm[sizeof p->comm - 1] = '\0';
	memcpy(p->cmdline, s->cmdline, sizeof p->cmdline);
	p->cmdline[sizeof p->cmdline - 1] = '\0';
	ck_pr_fence_load();
	*state_out = state;
	return ck_pr_load_64(&s->state) == state;
}

/* The devices somebody uses, with a copy of their user bitmaps, so each
 * process is tested against those alone instead of every device id. The
 * arrays are the reader's scratch. */
struct device_plan {
	uint32_t n, words;
	const uint32_t *ids;
	const unsigned int *bits; /* n x words */
};

/* A live bitmap as read, and the N_WORDS words of it with a bit set. */
struct live_set {
	const uint32_t *mask, *words;
	uint32_t n_words;
};

static int scratch_reserve(void **array, size_t *cap, size_t n, size_t elem);

/* One read of the live bitmap into LIVE (the reader's scratch): the live
 * slots in ascending order into r->live_slots, and each one's index there
 * into r->live_index[slot]. Returns how many, or -ENOMEM. */
static int64_t live_slots_read(tta_reader *r, struct live_set *live)
{
	const struct tta_segment *seg = &r->seg;
	uint32_t words = tta_bitmap_words(seg), slots = seg->geo.slot_capacity, n = 0, nw = 0;
	if (scratch_reserve((void **)&r->live_slots, &r->cap_live_slots, slots,
			    sizeof *r->live_slots) != 0 ||
	    scratch_reserve((void **)&r->live_index, &r->cap_live_index, slots,
			    sizeof *r->live_index) != 0 ||
	    scratch_reserve((void **)&r->live_mask, &r->cap_live_mask, words,
			    sizeof *r->live_mask) != 0 ||
	    scratch_reserve((void **)&r->live_words, &r->cap_live_words, words,
			    sizeof *r->live_words) != 0)
		return -ENOMEM;
	const unsigned int *bitmap = tta_live_slot_words(seg);
	for (uint32_t w = 0; w < words; w++) {
		unsigned int bits = ck_pr_load_uint(&bitmap[w]);
		if (w == words - 1 && slots % 32 != 0)
			bits &= (1u << (slots % 32)) - 1; /* a hostile segment's stray bits */
		r->live_mask[w] = bits;
		if (bits != 0)
			r->live_words[nw++] = w;
		for (; bits != 0; bits &= bits - 1) {
			uint32_t slot = w * 32 + (uint32_t)__builtin_ctz(bits);
			r->live_index[slot] = n;
			r->live_slots[n++] = slot;
		}
	}
	*live = (struct live_set){ r->live_mask, r->live_words, nw };
	return n;
}

/* The plan of the slots in LIVE (live_slots_read): a device is planned only
 * if one of them uses it, and only the bitmap words holding one are read. */
static int device_plan_make(tta_reader *r, const struct live_set *live, struct device_plan *plan)
{
	const struct tta_segment *seg = &r->seg;
	uint32_t cap = seg->geo.device_capacity, words = tta_bitmap_words(seg), n = 0;
	memset(plan, 0, sizeof *plan);
	plan->words = words;
	for (uint32_t d = 0; d < cap; d++) {
		const unsigned int *users = tta_device_user_words(seg, d);
		unsigned int any = 0;
		for (uint32_t j = 0; j < live->n_words; j++) {
			uint32_t w = live->words[j];
			any |= LOAD_RELAXED(&users[w]) & live->mask[w];
		}
		if (any == 0)
			continue;
		if (n == r->plan_room) {
			size_t room = r->plan_room ? r->plan_room * 2 : 8;
			uint32_t *ids = realloc(r->plan_ids, room * sizeof *ids);
			if (ids != NULL)
				r->plan_ids = ids;
			unsigned int *bits = realloc(r->plan_bits, room * words * sizeof *bits);
			if (bits != NULL)
				r->plan_bits = bits;
			if (ids == NULL || bits == NULL)
				return -ENOMEM;
			r->plan_room = room;
		}
		unsigned int *bits = &r->plan_bits[(size_t)n * words];
		memset(bits, 0, words * sizeof *bits);
		for (uint32_t j = 0; j < live->n_words; j++) {
			uint32_t w = live->words[j];
			bits[w] = LOAD_RELAXED(&users[w]) & live->mask[w];
		}
		r->plan_ids[n++] = d;
	}
	plan->n = n;
	plan->ids = r->plan_ids;
	plan->bits = r->plan_bits;
	return 0;
}

/* Whether SLOT uses planned device I. */
static inline bool plan_uses(const struct device_plan *plan, uint32_t i, uint32_t slot)
{
	return (plan->bits[(size_t)i * plan->words + slot / 32] & (1u << (slot % 32))) != 0;
}

TTA_EXPORT int tta_reader_foreach_process(tta_reader *r, tta_process_fn fn, void *ctx)
{
	const struct tta_segment *seg = &r->seg;
	sigjmp_buf jump, *outer;
	int rc = 0;
	if (reader_faulted(r))
		return -EFAULT;
	BUS_GUARD(jump, outer, return -EFAULT);
	struct live_set live;
	int64_t n_live = live_slots_read(r, &live);
	struct device_plan plan;
	rc = n_live < 0 ? (int)n_live : device_plan_make(r, &live, &plan);
	if (rc != 0)
		goto out;
	struct tta_process_view p;
	uint64_t state;
	for (int64_t k = 0; k < n_live; k++) {
		uint32_t slot = r->live_slots[k];
		if (!read_process(seg, slot, &p, &state))
			continue;
		bool any = false;
		for (uint32_t i = 0; i < plan.n; i++) {
			if (!plan_uses(&plan, i, slot))
				continue;
			int64_t used[TTA_MEM_TYPES] = { 0 }, buffers = 0;
			if (!add_counter_line(seg, slot, plan.ids[i], used, &buffers))
				break; /* reaped while we read: skip the rest */
			any = true;
			rc = fn(&p, plan.ids[i], used, buffers, ctx);
			if (rc != 0)
				goto out;
		}
		if (!any && slot_is_live(load_slot_state(seg, slot))) {
			int64_t used[TTA_MEM_TYPES] = { 0 };
			rc = fn(&p, TTA_NO_DEVICE, used, 0, ctx);
			if (rc != 0)
				goto out;
		}
	}
out:
	BUS_GUARD_END(outer);
	return rc;
}

/* Visits the consistent live records of live processes matching PID/DEVICE
 * with FN, their tags and sites named through NAMES; used by
 * tta_reader_foreach_buffer and snapshots. Runs inside the caller's guard. */
typedef int (*record_fn)(const struct tta_buffer_view *v, void *ctx);
static int visit_buffers(const struct tta_segment *seg, int32_t pid, int32_t device,
			 struct tta_origin_names *names, record_fn fn, void *ctx)
{
	uint32_t chunks = tta_chunk_count(seg);
	uint64_t now = tta_now_mono_ns();
	for (uint32_t c = 0; c < chunks; c++) {
		uint64_t tag = ck_pr_load_64(tta_chunk_owner_at(seg, c));
		if (tag == 0)
			continue;
		uint32_t slot = TTA_OWNER_SLOT(tag);
		if (slot >= seg->geo.slot_capacity)
			continue;
		uint64_t state = load_slot_state(seg, slot);
		if (!slot_is_live(state) || TTA_SLOT_GEN(state) != TTA_OWNER_GEN(tag))
			continue; /* owner gone or being reaped: not counted anywhere */
		int32_t owner_pid = TTA_SLOT_PID(state);
		if (pid != 0 && pid != owner_pid)
			continue;
		for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
			uint32_t idx = c * TTA_RECORDS_PER_CHUNK + i;
			struct tta_record rec;
			if (!tta_record_read(tta_record_at(seg, idx), &rec) ||
			    rec.state != TTA_RECORD_LIVE || rec.owner != tag)
				continue;
			if (rec.device >= seg->geo.device_capacity || rec.type >= TTA_MEM_TYPES)
				continue; /* corrupt: not ours to interpret */
			if (device >= 0 && (uint32_t)device != rec.device)
				continue;
			struct tta_buffer_view v = {
				.record = idx,
				.owner_pid = owner_pid,
				.owner_slot = slot,
				.device = rec.device,
				.type = rec.type,
				.kernel_kind = rec.kernel_kind,
				.address = rec.address,
				.size = rec.size,
				.age_ns = now > rec.alloc_mono_ns ? now - rec.alloc_mono_ns : 0,
			};
			int rc = tta_origin_names_resolve(names, slot, &rec, &v.tag, &v.site);
			if (rc == 0)
				rc = fn(&v, ctx);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

TTA_EXPORT int tta_reader_foreach_buffer(tta_reader *r, const struct tta_buffer_filter *filter,
					 tta_buffer_fn fn, void *ctx)
{
	if (reader_faulted(r))
		return -EFAULT;
	struct tta_origin_names *names = tta_origin_names_new(&r->seg);
	if (names == NULL)
		return -ENOMEM;
	sigjmp_buf jump, *outer;
	BUS_GUARD(jump, outer, goto faulted);
	int rc = visit_buffers(&r->seg, filter ? filter->pid : 0, filter ? filter->device : -1,
			       names, fn, ctx);
	BUS_GUARD_END(outer);
	tta_origin_names_free(names);
	return rc;
faulted:
	tta_origin_names_free(names);
	return -EFAULT;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                 */

struct tta_snapshot {
	struct tta_segment_info info;
	uint64_t counters[TTA_COUNTER_COUNT];
	struct tta_device_view *devices;
	size_t n_devices;
	struct tta_process_row *rows;
	size_t n_rows, cap_rows;
	struct tta_buffer_view *buffers;
	size_t n_buffers, cap_buffers;
	tta_sources *sources;     /* TTA_SNAPSHOT_SOURCES */
	struct tta_origin_names *names; /* tag and site texts, tag rows */
};

TTA_EXPORT void tta_snapshot_free(tta_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->devices);
	free(s->rows);
	free(s->buffers);
	tta_sources_free(s->sources);
	tta_origin_names_free(s->names);
	free(s);
}

const tta_sources *tta_snapshot_sources_of(const tta_snapshot *s)
{
	return s->sources;
}

/* Grows *ARRAY (of ELEM-byte items) to hold one more than COUNT. The new
 * pointer is stored before anything can fault, so a SIGBUS jump never
 * leaves the snapshot pointing at freed memory. */
static int reserve_one(void **array, size_t count, size_t *cap, size_t elem)
{
	if (count < *cap)
		return 0;
	size_t next = *cap ? *cap * 2 : 16;
	if (next > SIZE_MAX / elem)
		return -ENOMEM;
	void *grown = realloc(*array, next * elem);
	if (grown == NULL)
		return -ENOMEM;
	*array = grown;
	*cap = next;
	return 0;
}

/* Makes the reader's scratch array *ARRAY (of ELEM-byte items, capacity
 * *CAP) hold at least N items; what it held is not kept. 0 or -ENOMEM. */
static int scratch_reserve(void **array, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap)
		return 0;
	free(*array);
	*cap = 0;
	*array = n <= SIZE_MAX / elem ? malloc(n * elem) : NULL;
	if (*array == NULL)
		return -ENOMEM;
	*cap = n;
	return 0;
}

/* A process take_rows kept: where its first row is (its identity is in
 * each of its rows), and annotate_rows' judgement of it. */
struct read_process_lines {
	uint32_t first_row;
	int running; /* annotate_rows: tta_process_alive() */
};
/* A live slot in row order: (pid, slot), with the state word that gave the
 * pid (its rows are kept only if the state is still that after they are read)
 * and its index in live_slots. */
struct process_order {
	int32_t pid;
	uint32_t slot, index;
	uint64_t state;
};

/* proc.state of a row whose process was dropped mid-read (slot phases
 * are never negative). */
#define ROW_HOLE (-1)

/* Row placement: per planned device, where its next row goes. */
struct row_bucket {
	uint32_t next;
};

/* Asks for the lines take_rows will read of live slot K (its identity, its
 * counter and peak lines on its planned devices) a few processes before it
 * reads them. Every user's line of a device lies a whole slot (4 KiB) from
 * the next, so past about a hundred processes they evict each other from L2
 * and each read waits for L3; asked for ahead, those waits overlap. */
#define PREFETCH_AHEAD 8
static void prefetch_process(const struct tta_segment *seg, const tta_reader *r, uint32_t k,
			     const uint32_t *plan_ids)
{
	uint32_t slot = r->live_slots[k];
	const char *id = (const char *)tta_slot_at(seg, slot);
	__builtin_prefetch(id);
	__builtin_prefetch(id + 64);
	__builtin_prefetch(id + 128);
	for (uint32_t run = k ? r->slot_first[k - 1] : 0; run < r->slot_first[k]; run++) {
		uint32_t device = plan_ids[r->slot_devs[run]];
		__builtin_prefetch(tta_counter_at(seg, slot, device));
		if (seg->off_peaks != 0)
			__builtin_prefetch(tta_peak_at(seg, slot, device));
	}
}

/* Reads every live process once: identity, then each device line it uses,
 * then its state word again. A process reaped meanwhile is dropped whole,
 * so no row is half of one moment and half of another; one that went live
 * after the live bitmap was read is not in this snapshot. Rows come out
 * sorted (device, pid, slot). *PROCESSES: how many processes they hold. */
static int take_rows(tta_reader *r, tta_snapshot *s, uint64_t *processes)
{
	const struct tta_segment *seg = &r->seg;
	struct device_plan plan;
	*processes = 0;
	struct live_set live;
	int64_t n_read = live_slots_read(r, &live);
	if (n_read < 0)
		return (int)n_read;
	uint32_t n_live = (uint32_t)n_read, words = tta_bitmap_words(seg);
	int rc = device_plan_make(r, &live, &plan);
	if (rc != 0)
		return rc;
	/* Each live slot's planned devices, from the copied bitmaps: per live
	 * slot (by its index K in live_slots) a run of plan indices, ascending,
	 * so a process costs its own devices, not every device somebody uses.
	 * Counting sort by K. */
	if (scratch_reserve((void **)&r->slot_first, &r->cap_slot_first, (size_t)n_live + 1,
			    sizeof *r->slot_first) != 0)
		return -ENOMEM;
	uint32_t *first_of = r->slot_first;
	memset(first_of, 0, ((size_t)n_live + 1) * sizeof *first_of);
	size_t pairs = 0;
	for (uint32_t i = 0; i < plan.n; i++)
		for (uint32_t j = 0; j < live.n_words; j++) {
			uint32_t w = live.words[j];
			for (unsigned int b = plan.bits[(size_t)i * words + w]; b; b &= b - 1) {
				first_of[r->live_index[w * 32 + (uint32_t)__builtin_ctz(b)] + 1]++;
				pairs++;
			}
		}
	for (uint32_t k = 0; k < n_live; k++)
		first_of[k + 1] += first_of[k];
	if (scratch_reserve((void **)&r->slot_devs, &r->cap_slot_devs, pairs,
			    sizeof *r->slot_devs) != 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < plan.n; i++) /* fills each live slot's run in plan order */
		for (uint32_t j = 0; j < live.n_words; j++) {
			uint32_t w = live.words[j];
			for (unsigned int b = plan.bits[(size_t)i * words + w]; b; b &= b - 1)
				r->slot_devs[first_of[r->live_index[w * 32 +
								    (uint32_t)__builtin_ctz(b)]]++] = i;
		}
	/* first_of[k] now ends live slot k's run, which starts where k-1's ends.
	 * Row order is device, then pid, then slot: the pids come from the
	 * state words, so every row's place is known before anything else is
	 * read, and each process is read straight into its rows. Processes
	 * are put in (pid, slot) order by sorting small keys (the order of
	 * slot claims is about the order of pids, so an insertion sort does
	 * little work). */
	if (scratch_reserve((void **)&r->order, &r->cap_order, n_live, sizeof *r->order) != 0)
		return -ENOMEM;
	struct process_order *order = r->order;
	size_t n_order = 0;
	for (uint32_t k = 0; k < n_live; k++) {
		uint64_t state = load_slot_state(seg, r->live_slots[k]);
		if (slot_is_live(state))
			order[n_order++] = (struct process_order){ TTA_SLOT_PID(state),
								   r->live_slots[k], k, state };
	}
	for (size_t i = 1; i < n_order; i++) {
		struct process_order x = order[i];
		size_t j = i;
		for (; j > 0 && (order[j - 1].pid > x.pid ||
				 (order[j - 1].pid == x.pid && order[j - 1].slot > x.slot));
		     j--)
			order[j] = order[j - 1];
		order[j] = x;
	}
	/* One bucket per planned device, in device order (plan ids ascend),
	 * and a last one for processes on no device. */
	if (scratch_reserve((void **)&r->buckets, &r->cap_buckets, plan.n + 1,
			    sizeof *r->buckets) != 0)
		return -ENOMEM;
	struct row_bucket *bucket = r->buckets;
	memset(bucket, 0, (plan.n + 1) * sizeof *bucket);
	size_t n_rows = 0;
	for (size_t i = 0; i < n_order; i++) {
		uint32_t k = order[i].index, run = k ? first_of[k - 1] : 0;
		if (run == first_of[k])
			bucket[plan.n].next++;
		for (; run < first_of[k]; run++)
			bucket[r->slot_devs[run]].next++;
	}
	for (uint32_t b = 0; b <= plan.n; b++) {
		uint32_t n = bucket[b].next;
		bucket[b].next = (uint32_t)n_rows;
		n_rows += n;
	}
	r->rows_plan_n = 0;
	if (n_rows == 0)
		return 0;
	s->rows = malloc(n_rows * sizeof *s->rows);
	if (s->rows == NULL)
		return -ENOMEM;
	s->cap_rows = n_rows;
	if (scratch_reserve((void **)&r->row_process, &r->cap_row_process, n_rows,
			    sizeof *r->row_process) != 0 ||
	    scratch_reserve((void **)&r->procs, &r->cap_procs, n_order, sizeof *r->procs) != 0 ||
	    scratch_reserve((void **)&r->row_at, &r->cap_row_at, plan.n + 1,
			    sizeof *r->row_at) != 0)
		return -ENOMEM;
	/* Device totals are summed here, from the very rows (sum_devices). */
	if (scratch_reserve((void **)&r->plan_sums, &r->cap_plan_sums, plan.n,
			    sizeof *r->plan_sums) != 0)
		return -ENOMEM;
	if (plan.n > 0)
		memset(r->plan_sums, 0, plan.n * sizeof *r->plan_sums);
	r->rows_plan_n = plan.n;
	size_t n_procs = 0, holes = 0;
	for (size_t i = 0; i < n_order && i < PREFETCH_AHEAD; i++)
		prefetch_process(seg, r, order[i].index, plan.ids);
	for (size_t i = 0; i < n_order; i++) {
		if (i + PREFETCH_AHEAD < n_order)
			prefetch_process(seg, r, order[i + PREFETCH_AHEAD].index, plan.ids);
		uint32_t slot = order[i].slot, k = order[i].index;
		uint32_t first_run = k ? first_of[k - 1] : 0, n_runs = first_of[k] - first_run;
		const uint32_t *runs = n_runs ? &r->slot_devs[first_run] : NULL;
		/* Its rows' places; each field of a row is written once (no
		 * zeroing pass first: a `rep stos` per 360-byte row cost a
		 * quarter of a snapshot). */
		uint32_t *at = r->row_at;
		if (n_runs == 0)
			at[0] = bucket[plan.n].next++;
		for (uint32_t j = 0; j < n_runs; j++)
			at[j] = bucket[runs[j]].next++;
		struct tta_process_row *first = &s->rows[at[0]];
		uint64_t state;
		bool kept = read_process(seg, slot, &first->proc, &state) && state == order[i].state;
		for (uint32_t j = 0; kept && j < n_runs; j++) {
			struct tta_process_row *row = &s->rows[at[j]];
			uint32_t device = plan.ids[runs[j]];
			if (j > 0)
				row->proc = first->proc;
			row->device = device;
			read_counter_line(seg, slot, device, row->used, &row->buffers);
			read_peak_line(seg, slot, device, row->used, row->peak);
		}
		if (kept) {
			ck_pr_fence_load();
			kept = load_slot_state(seg, slot) == state;
		}
		if (!kept) {
			/* Reaped or replaced while we read: drop it whole. */
			for (uint32_t j = 0; j < (n_runs ? n_runs : 1); j++)
				s->rows[at[j]].proc.state = ROW_HOLE;
			holes += n_runs ? n_runs : 1;
			r->processes_dropped++;
			continue;
		}
		if (n_runs == 0) {
			first->device = TTA_NO_DEVICE;
			memset(first->used, 0, sizeof first->used);
			memset(first->peak, 0, sizeof first->peak);
			first->buffers = 0;
		}
		for (uint32_t j = 0; j < (n_runs ? n_runs : 1); j++) {
			struct tta_process_row *row = &s->rows[at[j]];
			memset(row->user, 0, sizeof row->user);
			row->running = -1;
			r->row_process[at[j]] = (uint32_t)n_procs;
		}
		for (uint32_t j = 0; j < n_runs; j++) {
			const struct tta_process_row *row = &s->rows[at[j]];
			struct tta_device_sum *sum = &r->plan_sums[runs[j]];
#pragma GCC unroll 8
			for (int t = 0; t < TTA_MEM_TYPES; t++)
				sum->used[t] += (uint64_t)row->used[t];
			sum->buffers += (uint64_t)row->buffers;
			sum->processes++;
		}
		r->procs[n_procs++] = (struct read_process_lines){ at[0], -1 };
	}
	*processes = n_procs;
	if (holes > 0) {
		/* Rare: close the gaps, keeping the order. */
		size_t kept = 0;
		for (size_t i = 0; i < n_rows; i++) {
			if (s->rows[i].proc.state == ROW_HOLE)
				continue;
			if (kept != i) {
				s->rows[kept] = s->rows[i];
				r->row_process[kept] = r->row_process[i];
			}
			kept++;
		}
		n_rows = kept;
		for (size_t p = 0; p < n_procs; p++) /* first rows moved down */
			r->procs[p].first_row = UINT32_MAX;
		for (size_t i = n_rows; i-- > 0;)
			r->procs[r->row_process[i]].first_row = (uint32_t)i;
	}
	s->n_rows = n_rows;
	return 0;
}

struct buffer_ctx {
	tta_snapshot *snap;
	int error;
};

static int collect_buffer(const struct tta_buffer_view *v, void *opaque)
{
	struct buffer_ctx *ctx = opaque;
	tta_snapshot *s = ctx->snap;
	if ((s->info.flags & TTA_SNAPSHOT_TAGS) &&
	    tta_origin_names_count_tag(s->names, v->device, v->tag, v->type, v->size) != 0) {
		ctx->error = -ENOMEM;
		return 1;
	}
	if (!(s->info.flags & TTA_SNAPSHOT_BUFFERS))
		return 0;
	if (reserve_one((void **)&s->buffers, s->n_buffers, &s->cap_buffers, sizeof *s->buffers)) {
		ctx->error = -ENOMEM;
		return 1;
	}
	s->buffers[s->n_buffers++] = *v;
	return 0;
}

/* Chunks owned, as records: rescanned only when writers said chunks moved
 * (chunk_epoch) or the last scan is a second old. */
static uint64_t records_reserved(tta_reader *r)
{
	const struct tta_segment *seg = &r->seg;
	uint64_t epoch = ck_pr_load_64(&tta_hdr(seg)->chunk_epoch);
	uint64_t now = tta_now_mono_ns();
	if (r->reserved_known && epoch == r->reserved_epoch &&
	    now - r->reserved_scanned_ns < 1000000000u)
		return r->reserved_records;
	ck_pr_fence_load();
	uint64_t reserved = 0;
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++)
		if (ck_pr_load_64(tta_chunk_owner_at(seg, c)) != 0)
			reserved += TTA_RECORDS_PER_CHUNK;
	/* Tagged with the epoch from before the scan: a claim during the scan
	 * makes the next snapshot scan again. */
	r->reserved_known = true;
	r->reserved_epoch = epoch;
	r->reserved_records = reserved;
	r->reserved_scanned_ns = now;
	return reserved;
}

static void take_counters(tta_reader *r, tta_snapshot *s, uint64_t live_processes)
{
	const struct tta_segment *seg = &r->seg;
	const struct tta_header *h = tta_hdr(seg);
	for (unsigned i = 0; i < TTA_COUNTER_COUNT; i++)
		if (counter_table[i].stored)
			s->counters[i] = ck_pr_load_64(&h->counters[i]);
	s->counters[TTA_CTR_live_processes] = live_processes;
	s->counters[TTA_CTR_records_reserved] = records_reserved(r);
	s->counters[TTA_CTR_records_capacity] = seg->geo.record_capacity;
}

static void take_info(tta_reader *r, tta_snapshot *s)
{
	const struct tta_segment *seg = &r->seg;
	const struct tta_header *h = tta_hdr(seg);
	struct tta_segment_info *info = &s->info;
	snprintf(info->name, sizeof info->name, "%s", seg->name);
	info->abi_version = TTA_ABI_VERSION;
	info->device_capacity = seg->geo.device_capacity;
	info->slot_capacity = seg->geo.slot_capacity;
	info->record_capacity = seg->geo.record_capacity;
	info->segment_size = seg->size;
	info->region_count = seg->region_count;
	info->mode = ck_pr_load_32(&h->mode);
	info->created_realtime_ns = ck_pr_load_64(&h->created_realtime_ns);
	info->creator_pid = (int64_t)ck_pr_load_64(&h->creator_pid);
	info->taken_realtime_ns = tta_now_realtime_ns();
	struct tta_reaper_judgement j;
	tta_reaper_judge_watched(seg, &r->reaper, &j);
	info->reaper_pid = j.status == TTA_REAPER_STATUS_NONE ? 0 : j.pid;
	info->reaper_status = j.status;
	info->reaper_heartbeat_age_ns = j.status == TTA_REAPER_STATUS_NONE ? 0 : j.heartbeat_age_ns;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_buffers(const void *pa, const void *pb)
{
	const struct tta_buffer_view *a = pa, *b = pb;
	int c = (a->owner_pid > b->owner_pid) - (a->owner_pid < b->owner_pid);
	if (!c)
		c = cmp_u64(a->device, b->device);
	if (!c)
		c = cmp_u64(a->address, b->address);
	if (!c)
		c = cmp_u64(a->record, b->record);
	return c;
}

/* Device totals from the rows themselves (summed by take_rows as it placed
 * them): the sums match by construction. Views exist for the devices that
 * are registered or that rows use, in id order. */
static int sum_devices(tta_reader *r, tta_snapshot *s)
{
	const struct tta_segment *seg = &r->seg;
	uint32_t cap = seg->geo.device_capacity, plan_n = r->rows_plan_n, registered = 0;
	if (scratch_reserve((void **)&r->registered_ids, &r->cap_registered, cap,
			    sizeof *r->registered_ids) != 0)
		return -ENOMEM;
	uint32_t *ids = r->registered_ids;
	for (uint32_t d = 0; d < cap; d++)
		if (ck_pr_load_64(&tta_device_at(seg, d)->state) == TTA_DEVICE_PUBLISHED)
			ids[registered++] = d;
	struct tta_device_view *all = calloc((size_t)plan_n + registered + 1, sizeof *all);
	if (all == NULL)
		return -ENOMEM;
	s->devices = all; /* freed with the snapshot even if we fault below */
	size_t n = 0;
	uint32_t reg = 0, p = 0;
	for (;;) {
		while (p < plan_n && r->plan_sums[p].processes == 0)
			p++; /* planned, but no live process of this snapshot uses it */
		uint32_t planned = p < plan_n ? r->plan_ids[p] : UINT32_MAX;
		uint32_t id = reg < registered && ids[reg] < planned ? ids[reg] : planned;
		if (id == UINT32_MAX)
			break;
		if (reg < registered && ids[reg] == id)
			reg++;
		struct tta_device_view *d = &all[n];
		read_device_identity(seg, id, d);
		if (p < plan_n && r->plan_ids[p] == id) {
			const struct tta_device_sum *sum = &r->plan_sums[p++];
			for (int t = 0; t < TTA_MEM_TYPES; t++)
				d->used[t] = (int64_t)sum->used[t];
			d->buffers = (int64_t)sum->buffers;
			d->processes = sum->processes;
		}
		if (s->info.filter_device < 0 || (uint32_t)s->info.filter_device == id)
			n++;
	}
	s->n_devices = n;
	return 0;
}

/* Keeps the rows that pass the filters (after the device sums used all). */
static void filter_rows(tta_snapshot *s)
{
	if (s->info.filter_pid == 0 && s->info.filter_device < 0)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct tta_process_row *row = &s->rows[i];
		if (s->info.filter_pid != 0 && row->proc.pid != s->info.filter_pid)
			continue;
		if (s->info.filter_device >= 0 && row->device != (uint32_t)s->info.filter_device)
			continue;
		if (kept != i)
			s->rows[kept] = *row;
		kept++;
	}
	s->n_rows = kept;
}

void tta_user_name(uint32_t uid, char *out, size_t outlen)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &found) != 0)
		found = NULL;
	if (found && found->pw_name && found->pw_name[0])
		snprintf(out, outlen, "%s", found->pw_name);
	else
		snprintf(out, outlen, "%u", uid);
}

/* Outside the guard: reads /proc and the user database, not the segment.
 * Before the filters: exited_processes is a segment-wide gauge, like
 * live_processes, whatever rows the filters keep. Each of the PROCESSES
 * take_rows read is judged once (one /proc read, bench section l) however
 * many device rows it has; a user name is looked up once per distinct uid
 * (rows of one uid are usually adjacent: one process's, or one user's). */
static void annotate_rows(tta_reader *r, tta_snapshot *s, size_t processes)
{
	uint64_t pidns = tta_self_pidns_ino();
	bool proc_ours = tta_proc_is_ours(); /* a readlink: once, not per process */
	for (size_t i = 0; i < processes; i++) {
		struct read_process_lines *pl = &r->procs[i];
		const struct tta_process_view *p = &s->rows[pl->first_row].proc;
		if (pidns == 0 || p->pidns_ino != pidns || p->pid <= 0 || !proc_ours)
			pl->running = -1; /* its pid means something else here */
		else
			pl->running = tta_proc_incarnation_alive((pid_t)p->pid, p->start_time);
		if (pl->running == 0)
			s->counters[TTA_CTR_exited_processes]++;
	}
	for (size_t i = 0; i < s->n_rows; i++) {
		struct tta_process_row *row = &s->rows[i];
		row->running = r->procs[r->row_process[i]].running;
		size_t j = 0;
		if (i > 0 && s->rows[i - 1].proc.uid == row->proc.uid)
			j = i - 1;
		else
			while (j < i && s->rows[j].proc.uid != row->proc.uid)
				j++;
		if (j < i)
			memcpy(row->user, s->rows[j].user, sizeof row->user);
		else
			tta_user_name(row->proc.uid, row->user, sizeof row->user);
	}
}

static int cmp_devices(const void *pa, const void *pb)
{
	const struct tta_device_view *a = pa, *b = pb;
	return (a->id > b->id) - (a->id < b->id);
}

/* Lists every sysfs device the device filter lets through, in use or not,
 * then binds the sources to the final list. */
static int add_source_devices(tta_snapshot *s)
{
	const uint32_t *ids;
	size_t n = tta_sources_device_ids(s->sources, &ids), added = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->info.filter_device >= 0 && ids[i] != (uint32_t)s->info.filter_device)
			continue;
		bool listed = false;
		for (size_t d = 0; d < s->n_devices && !listed; d++)
			listed = s->devices[d].id == ids[i];
		if (listed)
			continue;
		void *grown = realloc(s->devices, (s->n_devices + 1) * sizeof *s->devices);
		if (grown == NULL)
			return -ENOMEM;
		s->devices = grown;
		struct tta_device_view *dev = &s->devices[s->n_devices++];
		memset(dev, 0, sizeof *dev);
		dev->id = ids[i];
		added++;
	}
	if (added && s->n_devices > 1)
		qsort(s->devices, s->n_devices, sizeof *s->devices, cmp_devices);
	return tta_sources_bind(s->sources, s->devices, s->n_devices, s->info.filter_pid,
				s->info.filter_device);
}

TTA_EXPORT int tta_snapshot_take(tta_reader *r, int32_t pid, int32_t device, unsigned flags,
				 tta_snapshot **out, char *err, size_t errlen)
{
	*out = NULL;
	const unsigned known = TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_PROCESS_DETAILS | TTA_SNAPSHOT_SOURCES |
			       TTA_SNAPSHOT_TAGS;
	if ((r == NULL && !(flags & TTA_SNAPSHOT_SOURCES)) || pid < 0 || device < -1 ||
	    (flags & ~known))
		return tta_fail(err, errlen, -EINVAL, "invalid snapshot arguments");
	const struct tta_segment *seg = r ? &r->seg : NULL;
	if (r != NULL) {
		int usable = tta_reader_usable(r, err, errlen);
		if (usable != 0)
			return usable;
	}
	tta_snapshot *s = calloc(1, sizeof *s);
	if (s == NULL)
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	s->info.filter_pid = pid;
	s->info.filter_device = device;
	s->info.flags = flags;
	s->info.taken_realtime_ns = tta_now_realtime_ns();
	bool records = seg != NULL && (flags & (TTA_SNAPSHOT_BUFFERS | TTA_SNAPSHOT_TAGS)) != 0;
	if (records && (s->names = tta_origin_names_new(seg)) == NULL) {
		free(s);
		return tta_fail(err, errlen, -ENOMEM, "out of memory");
	}
	int rc = 0;
	uint64_t live_processes = 0;
	if (seg != NULL) {
		sigjmp_buf jump, *outer;
		BUS_GUARD(jump, outer, goto faulted);
		take_info(r, s);
		rc = take_rows(r, s, &live_processes);
		take_counters(r, s, live_processes);
		if (rc == 0)
			rc = sum_devices(r, s);
		if (rc == 0 && records) {
			struct buffer_ctx ctx = { .snap = s, .error = 0 };
			rc = visit_buffers(seg, pid, device, s->names, collect_buffer, &ctx);
			if (ctx.error)
				rc = ctx.error;
		}
		BUS_GUARD_END(outer);
	}
	/* Files, not the segment: outside the guard. Who is tracked is decided
	 * on every row, before the filters drop some. */
	if (rc == 0 && (flags & TTA_SNAPSHOT_SOURCES)) {
		rc = tta_sources_take(s->rows, s->n_rows, &s->sources);
		if (rc == 0)
			rc = add_source_devices(s);
	}
	if (rc != 0) {
		tta_snapshot_free(s);
		if (seg == NULL)
			return tta_fail(err, errlen, rc, "cannot take a snapshot: %s", strerror(-rc));
		return tta_fail(err, errlen, rc, "cannot take a snapshot of segment %s: %s",
				seg->name, strerror(-rc));
	}
	if ((flags & TTA_SNAPSHOT_PROCESS_DETAILS) && s->n_rows > 0)
		annotate_rows(r, s, (size_t)live_processes); /* else running stays -1 (take_rows) */
	filter_rows(s); /* keeps take_rows' order: device, pid, slot */
	if (s->n_buffers > 1)
		qsort(s->buffers, s->n_buffers, sizeof *s->buffers, cmp_buffers);
	if (s->names != NULL)
		tta_origin_names_finish(s->names);
	*out = s;
	return 0;
faulted:
	tta_snapshot_free(s);
	return tta_fail(err, errlen, -EFAULT,
			"segment %s became unreadable (SIGBUS: truncated under the reader)",
			seg->name);
}

TTA_EXPORT const struct tta_segment_info *tta_snapshot_segment(const tta_snapshot *s)
{
	return &s->info;
}

TTA_EXPORT uint64_t tta_snapshot_counter(const tta_snapshot *s, unsigned id)
{
	return id < TTA_COUNTER_COUNT ? s->counters[id] : 0;
}

TTA_EXPORT size_t tta_snapshot_device_count(const tta_snapshot *s)
{
	return s->n_devices;
}

TTA_EXPORT const struct tta_device_view *tta_snapshot_device(const tta_snapshot *s, size_t i)
{
	return i < s->n_devices ? &s->devices[i] : NULL;
}

TTA_EXPORT size_t tta_snapshot_process_count(const tta_snapshot *s)
{
	return s->n_rows;
}

TTA_EXPORT const struct tta_process_row *tta_snapshot_process(const tta_snapshot *s, size_t i)
{
	return i < s->n_rows ? &s->rows[i] : NULL;
}

TTA_EXPORT size_t tta_snapshot_buffer_count(const tta_snapshot *s)
{
	return s->n_buffers;
}

TTA_EXPORT const struct tta_buffer_view *tta_snapshot_buffer(const tta_snapshot *s, size_t i)
{
	return i < s->n_buffers ? &s->buffers[i] : NULL;
}

TTA_EXPORT size_t tta_snapshot_tag_count(const tta_snapshot *s)
{
	return (s->info.flags & TTA_SNAPSHOT_TAGS) ? tta_origin_names_tag_count(s->names) : 0;
}

TTA_EXPORT const struct tta_tag_row *tta_snapshot_tag(const tta_snapshot *s, size_t i)
{
	return (s->info.flags & TTA_SNAPSHOT_TAGS) ? tta_origin_names_tag(s->names, i) : NULL;
}
