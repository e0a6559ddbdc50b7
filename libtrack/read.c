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
#include <sys/stat.h>
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

__thread sigjmp_buf *tta_bus_jump;
static struct sigaction previous_bus_action;
static pthread_once_t bus_handler_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	sigjmp_buf *jump = tta_bus_jump;
	if (jump != NULL) {
		tta_bus_jump = NULL;
		siglongjmp(*jump, 1);
	}
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
	*out = r;
	return 0;
}

TTA_EXPORT void tta_reader_close(tta_reader *r)
{
	if (r == NULL)
		return;
	tta_segment_close(&r->seg);
	free(r);
}

TTA_EXPORT const char *tta_reader_name(const tta_reader *r)
{
	return r->seg.name;
}

TTA_EXPORT enum tta_segment_status tta_reader_status(tta_reader *r)
{
	struct stat st;
	if (fstat(r->seg.fd, &st) == 0 && (uint64_t)st.st_size < r->seg.size)
		return TTA_SEGMENT_TRUNCATED;
	char path[sizeof "/dev/shm" + TTA_NAME_MAX + 2];
	snprintf(path, sizeof path, "/dev/shm%s", r->seg.name);
	if (stat(path, &st) != 0)
		return TTA_SEGMENT_REMOVED;
	if (st.st_dev != r->seg.file_dev || st.st_ino != r->seg.file_ino)
		return TTA_SEGMENT_REPLACED;
	return TTA_SEGMENT_OK;
}

int tta_reader_usable(tta_reader *r, char *err, size_t errlen)
{
	enum tta_segment_status status = tta_reader_status(r);
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
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		used[t] = (int64_t)ck_pr_load_64(&line->bytes[t]);
	*buffers = (int64_t)ck_pr_load_64(&line->buffers);
}

/* The owner's peaks for SLOT on DEVICE, never below USED (read a moment
 * earlier: an allocation in between may have raised both). A segment
 * without peaks gives USED itself. */
static void read_peak_line(const struct tta_segment *seg, uint32_t slot, uint32_t device,
			   const int64_t *used, int64_t *peak)
{
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		peak[t] = used[t];
	if (seg->off_peaks == 0)
		return;
	const struct tta_peak_line *line = tta_peak_at(seg, slot, device);
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++) {
		int64_t p = (int64_t)ck_pr_load_64(&line->peak[t]);
		if (p > peak[t])
			peak[t] = p;
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

static int device_totals(const struct tta_segment *seg, uint32_t device,
			 struct tta_device_view *out)
{
	read_device_identity(seg, device, out);
	uint64_t bytes[TTA_LAYOUT_MEM_TYPES], buffers;
	tta_device_sum(seg, device, bytes, &buffers, &out->processes);
	for (int t = 0; t < TTA_LAYOUT_MEM_TYPES; t++)
		out->used[t] = (int64_t)bytes[t];
	out->buffers = (int64_t)buffers;
	return 0;
}

TTA_EXPORT int tta_reader_device(tta_reader *r, uint32_t device, struct tta_device_view *out)
{
	memset(out, 0, sizeof *out);
	if (device >= r->seg.geo.device_capacity)
		return -EINVAL;
	sigjmp_buf jump, *outer;
	BUS_GUARD(jump, outer, return -EFAULT);
	device_totals(&r->seg, device, out);
	BUS_GUARD_END(outer);
	return 0;
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
	memset(p, 0, sizeof *p);
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

static inline bool slot_uses_device(const struct tta_segment *seg, uint32_t slot, uint32_t device)
{
	unsigned int user = ck_pr_load_uint(&tta_device_user_words(seg, device)[slot / 32]);
	return (user & (1u << (slot % 32))) != 0;
}

/* The first slot at or after FROM whose live bit is set, or UINT32_MAX. */
static uint32_t next_live_slot(const struct tta_segment *seg, uint32_t from)
{
	const unsigned int *live = tta_live_slot_words(seg);
	uint32_t words = tta_bitmap_words(seg);
	for (uint32_t w = from / 32; w < words; w++) {
		unsigned int bits = ck_pr_load_uint(&live[w]);
		if (w == from / 32)
			bits &= ~0u << (from % 32);
		if (bits == 0)
			continue;
		uint32_t slot = w * 32 + (uint32_t)__builtin_ctz(bits);
		return slot < seg->geo.slot_capacity ? slot : UINT32_MAX;
	}
	return UINT32_MAX;
}

/* The first slot at or after FROM holding a live process whose identity
 * copies consistently into P (and its state word into STATE), or UINT32_MAX. */
static uint32_t next_live_process(const struct tta_segment *seg, uint32_t from,
				  struct tta_process_view *p, uint64_t *state)
{
	for (uint32_t slot = from; slot < seg->geo.slot_capacity; slot++) {
		slot = next_live_slot(seg, slot);
		if (slot == UINT32_MAX)
			break;
		if (read_process(seg, slot, p, state))
			return slot;
	}
	return UINT32_MAX;
}

TTA_EXPORT int tta_reader_foreach_process(tta_reader *r, tta_process_fn fn, void *ctx)
{
	const struct tta_segment *seg = &r->seg;
	sigjmp_buf jump, *outer;
	int rc = 0;
	BUS_GUARD(jump, outer, return -EFAULT);
	struct tta_process_view p;
	uint64_t state;
	for (uint32_t slot = next_live_process(seg, 0, &p, &state); slot != UINT32_MAX;
	     slot = next_live_process(seg, slot + 1, &p, &state)) {
		bool any = false;
		for (uint32_t d = 0; d < seg->geo.device_capacity; d++) {
			if (!slot_uses_device(seg, slot, d))
				continue;
			int64_t used[TTA_MEM_TYPES] = { 0 }, buffers = 0;
			if (!add_counter_line(seg, slot, d, used, &buffers))
				break; /* reaped while we read: skip the rest */
			any = true;
			rc = fn(&p, d, used, buffers, ctx);
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

/* Reads every live process once: identity, then each device line it uses,
 * then its state word again. A process reaped meanwhile is dropped whole,
 * so no row is half of one moment and half of another. */
static int take_rows(const struct tta_segment *seg, tta_snapshot *s)
{
	int64_t (*used)[TTA_MEM_TYPES] = NULL;
	int64_t (*peak)[TTA_MEM_TYPES] = NULL;
	int64_t *buffers = NULL;
	uint32_t *devs = NULL;
	uint32_t cap = seg->geo.device_capacity;
	used = malloc(cap * sizeof *used);
	peak = malloc(cap * sizeof *peak);
	buffers = malloc(cap * sizeof *buffers);
	devs = malloc(cap * sizeof *devs);
	int rc = 0;
	if (used == NULL || peak == NULL || buffers == NULL || devs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	struct tta_process_view p;
	uint64_t state;
	for (uint32_t slot = next_live_process(seg, 0, &p, &state); slot != UINT32_MAX;
	     slot = next_live_process(seg, slot + 1, &p, &state)) {
		uint32_t n = 0;
		for (uint32_t d = 0; d < cap; d++) {
			if (!slot_uses_device(seg, slot, d))
				continue;
			read_counter_line(seg, slot, d, used[n], &buffers[n]);
			read_peak_line(seg, slot, d, used[n], peak[n]);
			devs[n++] = d;
		}
		ck_pr_fence_load();
		if (load_slot_state(seg, slot) != state)
			continue;
		for (uint32_t i = 0; i < (n ? n : 1); i++) {
			if (reserve_one((void **)&s->rows, s->n_rows, &s->cap_rows, sizeof *s->rows)) {
				rc = -ENOMEM;
				goto out;
			}
			struct tta_process_row *row = &s->rows[s->n_rows++];
			memset(row, 0, sizeof *row);
			row->proc = p;
			row->device = n ? devs[i] : TTA_NO_DEVICE;
			if (n) {
				memcpy(row->used, used[i], sizeof row->used);
				memcpy(row->peak, peak[i], sizeof row->peak);
				row->buffers = buffers[i];
			}
		}
	}
out:
	free(used);
	free(peak);
	free(buffers);
	free(devs);
	return rc;
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

static void take_counters(const struct tta_segment *seg, tta_snapshot *s)
{
	const struct tta_header *h = tta_hdr(seg);
	for (unsigned i = 0; i < TTA_COUNTER_COUNT; i++)
		if (counter_table[i].stored)
			s->counters[i] = ck_pr_load_64(&h->counters[i]);
	uint64_t live = 0;
	for (uint32_t slot = 0; slot < seg->geo.slot_capacity; slot++)
		live += slot_is_live(load_slot_state(seg, slot));
	uint64_t reserved = 0;
	uint32_t chunks = tta_chunk_count(seg);
	for (uint32_t c = 0; c < chunks; c++)
		if (ck_pr_load_64(tta_chunk_owner_at(seg, c)) != 0)
			reserved += TTA_RECORDS_PER_CHUNK;
	s->counters[TTA_CTR_live_processes] = live;
	s->counters[TTA_CTR_records_reserved] = reserved;
	s->counters[TTA_CTR_records_capacity] = seg->geo.record_capacity;
}

static void take_info(const struct tta_segment *seg, tta_snapshot *s)
{
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
	tta_reaper_judge(seg, &j);
	info->reaper_pid = j.status == TTA_REAPER_STATUS_NONE ? 0 : j.pid;
	info->reaper_status = j.status;
	info->reaper_heartbeat_age_ns = j.status == TTA_REAPER_STATUS_NONE ? 0 : j.heartbeat_age_ns;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_rows(const void *pa, const void *pb)
{
	const struct tta_process_row *a = pa, *b = pb;
	int c = cmp_u64(a->device, b->device);
	if (!c)
		c = (a->proc.pid > b->proc.pid) - (a->proc.pid < b->proc.pid);
	if (!c)
		c = cmp_u64(a->proc.slot, b->proc.slot);
	return c;
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

static bool device_in_use(const struct tta_device_view *dev)
{
	if (dev->registered || dev->buffers != 0 || dev->processes != 0)
		return true;
	for (unsigned t = 0; t < TTA_MEM_TYPES; t++)
		if (dev->used[t] != 0)
			return true;
	return false;
}

/* Device totals from the rows themselves: the sums match by construction. */
static int sum_devices(const struct tta_segment *seg, tta_snapshot *s)
{
	uint32_t cap = seg->geo.device_capacity;
	struct tta_device_view *all = calloc(cap, sizeof *all);
	if (all == NULL)
		return -ENOMEM;
	s->devices = all; /* freed with the snapshot even if we fault below */
	for (uint32_t d = 0; d < cap; d++)
		read_device_identity(seg, d, &all[d]);
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct tta_process_row *row = &s->rows[i];
		if (row->device >= cap)
			continue;
		struct tta_device_view *d = &all[row->device];
		add_into(d->used, &d->buffers, row->used, row->buffers);
		d->processes++;
	}
	size_t kept = 0;
	for (uint32_t d = 0; d < cap; d++) {
		if (s->info.filter_device >= 0 && (uint32_t)s->info.filter_device != d)
			continue;
		if (device_in_use(&all[d]))
			all[kept++] = all[d];
	}
	s->n_devices = kept;
	return 0;
}

/* Keeps the rows that pass the filters (after the device sums used all). */
static void filter_rows(tta_snapshot *s)
{
	size_t kept = 0;
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct tta_process_row *row = &s->rows[i];
		if (s->info.filter_pid != 0 && row->proc.pid != s->info.filter_pid)
			continue;
		if (s->info.filter_device >= 0 && row->device != (uint32_t)s->info.filter_device)
			continue;
		s->rows[kept++] = *row;
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
 * Costs one /proc read per process (bench section l); the rest is kept
 * linear: rows of one process are adjacent (take_rows walks slot by slot,
 * filter_rows keeps the order), so a process is judged on its first row, and
 * a user name is looked up once per distinct uid. */
static void annotate_rows(tta_snapshot *s)
{
	uint64_t pidns = tta_self_pidns_ino();
	bool proc_ours = tta_proc_is_ours(); /* a readlink: once, not per process */
	for (size_t i = 0; i < s->n_rows; i++) {
		struct tta_process_row *row = &s->rows[i];
		const struct tta_process_row *prev = i ? &s->rows[i - 1] : NULL;
		size_t j = 0;
		if (prev && prev->proc.uid == row->proc.uid)
			j = i - 1;
		else
			while (j < i && s->rows[j].proc.uid != row->proc.uid)
				j++;
		if (j < i)
			memcpy(row->user, s->rows[j].user, sizeof row->user);
		else
			tta_user_name(row->proc.uid, row->user, sizeof row->user);
		if (prev && prev->proc.slot == row->proc.slot &&
		    prev->proc.generation == row->proc.generation) {
			row->running = prev->running;
			continue; /* the same process: judged and counted once */
		}
		if (pidns == 0 || row->proc.pidns_ino != pidns || row->proc.pid <= 0 || !proc_ours)
			row->running = -1; /* its pid means something else here */
		else
			row->running = tta_proc_incarnation_alive((pid_t)row->proc.pid,
								 row->proc.start_time);
		if (row->running == 0)
			s->counters[TTA_CTR_exited_processes]++;
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
	if (seg != NULL) {
		sigjmp_buf jump, *outer;
		BUS_GUARD(jump, outer, goto faulted);
		take_info(seg, s);
		take_counters(seg, s);
		rc = take_rows(seg, s);
		if (rc == 0)
			rc = sum_devices(seg, s);
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
	/* Before filtering: exited_processes is a segment-wide gauge, like
	 * live_processes, whatever rows the filters keep. */
	if (flags & TTA_SNAPSHOT_PROCESS_DETAILS)
		annotate_rows(s);
	else
		for (size_t i = 0; i < s->n_rows; i++)
			s->rows[i].running = -1;
	filter_rows(s);
	if (s->n_rows > 1)
		qsort(s->rows, s->n_rows, sizeof *s->rows, cmp_rows);
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
