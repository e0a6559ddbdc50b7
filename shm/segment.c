/*
 * segment.c - geometry, naming, atomic creation and validation of the segment.
 *
 * Creation never exposes a half-built segment: the creator builds it under a
 * private temporary name, reserves its space with posix_fallocate (so a full
 * /dev/shm fails here, not as a SIGBUS in a writer later), publishes the ready
 * flag with release ordering, and only then link()s it to the public name.
 * link() refuses to replace, so when two processes race, exactly one segment
 * wins and the loser opens it.
 */
#include <ck_pr.h>
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tta_segment.h"

#define SHM_DIR "/dev/shm"

int tta_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

uint64_t tta_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tta_now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tta_now_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int tta_geometry_compute(uint32_t devices, uint32_t slots, uint32_t records,
			 struct tta_geometry *g)
{
	if (devices < TTA_MIN_DEVICES || devices > TTA_MAX_DEVICES || slots < TTA_MIN_SLOTS ||
	    slots > TTA_MAX_SLOTS || records < TTA_MIN_RECORDS || records > TTA_MAX_RECORDS ||
	    records % TTA_RECORDS_PER_CHUNK != 0)
		return -1;
	memset(g, 0, sizeof *g);
	g->device_capacity = devices;
	g->slot_capacity = slots;
	g->record_capacity = records;
	/* ck_bitmap: a 32-bit n_bits word followed by 32-bit map words. */
	uint64_t bitmap_bytes = align_up(4 + 4 * (((uint64_t)slots + 31) / 32), TTA_CACHE_LINE);
	uint64_t off = sizeof(struct tta_header);
	g->off_devices = off;
	off = align_up(off + (uint64_t)devices * sizeof(struct tta_device), TTA_PAGE);
	g->off_slots = off;
	off = align_up(off + (uint64_t)slots * sizeof(struct tta_slot), TTA_PAGE);
	g->off_live_slots = off;
	off += bitmap_bytes;
	g->off_device_users = off;
	g->bitmap_stride = bitmap_bytes;
	off = align_up(off + (uint64_t)devices * bitmap_bytes, TTA_PAGE);
	g->off_counters = off;
	off = align_up(off + (uint64_t)slots * devices * sizeof(struct tta_counter_line), TTA_PAGE);
	g->off_chunks = off;
	off = align_up(off + (uint64_t)(records / TTA_RECORDS_PER_CHUNK) * sizeof(uint64_t), TTA_PAGE);
	g->off_records = off;
	off = align_up(off + (uint64_t)records * sizeof(struct tta_record), TTA_PAGE);
	g->segment_size = off;
	g->mapped_size = off;
	return 0;
}

int tta_resolve_name(const char *name, char out[TTA_NAME_MAX + 2], char *err, size_t errlen)
{
	const char *source = "argument";
	if (name == NULL) {
		name = getenv("TT_ALLOC_SHM");
		source = "TT_ALLOC_SHM";
		if (name == NULL) {
			name = TTA_DEFAULT_NAME;
			source = "default";
		}
	}
	/* One rule for every component: empty is an error (never a silent
	 * default), and a name without its leading '/' gets one. */
	if (name[0] == '\0')
		return tta_fail(err, errlen, -EINVAL,
				"empty segment name (%s): give a name such as /tt_alloc%s", source,
				strcmp(source, "TT_ALLOC_SHM") == 0
					? ", or unset TT_ALLOC_SHM to use the default /tt_alloc"
					: "");
	size_t slash = name[0] == '/' ? 0 : 1;
	size_t len = strlen(name) + slash;
	const char *bare = name + (1 - slash); /* without the leading '/' */
	if (len < 2 || len > TTA_NAME_MAX + 1 || strchr(bare, '/') != NULL ||
	    strcmp(bare, ".") == 0 || strcmp(bare, "..") == 0)
		return tta_fail(err, errlen, -EINVAL,
				"invalid segment name '%s' (%s): one name of at most %d bytes with no "
				"'/' but an optional leading one, e.g. /tt_alloc",
				name, source, TTA_NAME_MAX);
	out[0] = '/';
	memcpy(out + 1, bare, len);
	return 0;
}

static int env_u32(const char *var, uint32_t def, uint32_t lo, uint32_t hi, int base,
		   uint32_t *out, char *err, size_t errlen)
{
	const char *v = getenv(var);
	if (v == NULL || v[0] == '\0') {
		*out = def;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(v, &end, base);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
		return tta_fail(err, errlen, -EINVAL,
				base == 8 ? "%s='%s' is invalid: expected an octal mode from 0%o to 0%o"
					  : "%s='%s' is invalid: expected a number from %u to %u",
				var, v, lo, hi);
	*out = (uint32_t)n;
	return 0;
}

int tta_create_params_from_env(struct tta_create_params *p, char *err, size_t errlen)
{
	int rc;
	memset(p, 0, sizeof *p); /* every region, unless a caller asks otherwise */
	if ((rc = env_u32("TT_ALLOC_MAX_DEVICES", TTA_DEFAULT_DEVICES, TTA_MIN_DEVICES,
			  TTA_MAX_DEVICES, 10, &p->devices, err, errlen)) != 0)
		return rc;
	if ((rc = env_u32("TT_ALLOC_MAX_PROCESSES", TTA_DEFAULT_SLOTS, TTA_MIN_SLOTS,
			  TTA_MAX_SLOTS, 10, &p->slots, err, errlen)) != 0)
		return rc;
	if ((rc = env_u32("TT_ALLOC_MAX_BUFFERS", TTA_DEFAULT_RECORDS, TTA_MIN_RECORDS,
			  TTA_MAX_RECORDS, 10, &p->records, err, errlen)) != 0)
		return rc;
	/* Whole chunks only: round up so the promised number of buffers fits. */
	p->records = (p->records + TTA_RECORDS_PER_CHUNK - 1) / TTA_RECORDS_PER_CHUNK *
		     TTA_RECORDS_PER_CHUNK;
	if (p->records > TTA_MAX_RECORDS)
		p->records = TTA_MAX_RECORDS;
	return env_u32("TT_ALLOC_SHM_MODE", TTA_DEFAULT_MODE, 0, 0777, 8, &p->mode, err, errlen);
}

/* Sizes of the optional regions, from the capacities alone. */
static uint32_t history_devices(const struct tta_geometry *g)
{
	return g->device_capacity < TTA_HISTORY_MAX_DEVICES ? g->device_capacity
							    : TTA_HISTORY_MAX_DEVICES;
}

static uint64_t history_bytes(uint64_t devices, uint64_t fine, uint64_t coarse)
{
	return sizeof(struct tta_history_header) + devices * sizeof(struct tta_history_head) +
	       devices * (fine + coarse) * sizeof(struct tta_history_slot);
}

/* SIZES with every 0 replaced by its default. */
static struct tta_extra_sizes sizes_or_defaults(const struct tta_extra_sizes *sizes)
{
	struct tta_extra_sizes z = { 0 };
	if (sizes != NULL)
		z = *sizes;
	if (z.history_fine < 2)
		z.history_fine = TTA_HISTORY_FINE_COUNT;
	if (z.history_coarse < 2)
		z.history_coarse = TTA_HISTORY_COARSE_COUNT;
	if (z.event_capacity < 2 || (z.event_capacity & (z.event_capacity - 1)) != 0)
		z.event_capacity = TTA_EVENTS_CAPACITY;
	return z;
}

unsigned tta_geometry_extra_regions(const struct tta_geometry *g,
				    const struct tta_extra_sizes *sizes, struct tta_region out[3],
				    uint64_t *end)
{
	struct tta_extra_sizes z = sizes_or_defaults(sizes);
	const struct {
		uint32_t kind, version;
		uint64_t size;
	} extra[3] = {
		{ TTA_REGION_HISTORY, TTA_HISTORY_VERSION,
		  history_bytes(history_devices(g), z.history_fine, z.history_coarse) },
		{ TTA_REGION_EVENTS, TTA_EVENTS_VERSION,
		  sizeof(struct tta_event_ring_header) +
			  (uint64_t)z.event_capacity * sizeof(struct tta_event_entry) },
		{ TTA_REGION_PEAKS, TTA_PEAKS_VERSION,
		  (uint64_t)g->slot_capacity * g->device_capacity * sizeof(struct tta_peak_line) },
	};
	uint64_t off = g->segment_size;
	for (unsigned i = 0; i < 3; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].kind = extra[i].kind;
		out[i].version = extra[i].version;
		out[i].offset = off;
		out[i].size = extra[i].size;
		off = align_up(off + extra[i].size, TTA_PAGE);
	}
	*end = off;
	return 3;
}

void tta_segment_format_extras(uint8_t *base, const struct tta_geometry *g,
			       const struct tta_extra_sizes *sizes)
{
	struct tta_extra_sizes z = sizes_or_defaults(sizes);
	const struct tta_header *h = (const struct tta_header *)base;
	for (uint32_t i = 0; i < h->region_count; i++) {
		const struct tta_region *r = &h->regions[i];
		if (r->kind == TTA_REGION_HISTORY) {
			struct tta_history_header *hh = (struct tta_history_header *)(base + r->offset);
			hh->devices = history_devices(g);
			hh->fine_count = z.history_fine;
			hh->coarse_count = z.history_coarse;
			hh->fine_interval_ms = TTA_HISTORY_FINE_INTERVAL_MS;
			hh->coarse_interval_ms = TTA_HISTORY_COARSE_INTERVAL_MS;
			hh->sample_size = sizeof(struct tta_history_slot);
		} else if (r->kind == TTA_REGION_EVENTS) {
			struct tta_event_ring_header *eh =
				(struct tta_event_ring_header *)(base + r->offset);
			eh->capacity = z.event_capacity;
			eh->entry_size = sizeof(struct tta_event_entry);
		}
	}
}

void tta_geometry_core_regions(const struct tta_geometry *g,
			       struct tta_region out[TTA_REGION_CORE_KINDS])
{
	const struct {
		uint32_t kind;
		uint64_t offset, size;
	} core[TTA_REGION_CORE_KINDS] = {
		{ TTA_REGION_DEVICES, g->off_devices,
		  (uint64_t)g->device_capacity * sizeof(struct tta_device) },
		{ TTA_REGION_SLOTS, g->off_slots, (uint64_t)g->slot_capacity * sizeof(struct tta_slot) },
		{ TTA_REGION_LIVE_SLOTS, g->off_live_slots, g->bitmap_stride },
		{ TTA_REGION_DEVICE_USERS, g->off_device_users,
		  (uint64_t)g->device_capacity * g->bitmap_stride },
		{ TTA_REGION_COUNTERS, g->off_counters,
		  (uint64_t)g->slot_capacity * g->device_capacity * sizeof(struct tta_counter_line) },
		{ TTA_REGION_CHUNKS, g->off_chunks,
		  (uint64_t)(g->record_capacity / TTA_RECORDS_PER_CHUNK) * sizeof(uint64_t) },
		{ TTA_REGION_RECORDS, g->off_records,
		  (uint64_t)g->record_capacity * sizeof(struct tta_record) },
	};
	for (unsigned i = 0; i < TTA_REGION_CORE_KINDS; i++) {
		memset(&out[i], 0, sizeof out[i]);
		out[i].kind = core[i].kind;
		out[i].version = 1;
		out[i].offset = core[i].offset;
		out[i].size = core[i].size;
	}
}

/* Checks the region directory of H (already known to have sane capacities
 * giving G): every entry inside SEGMENT_SIZE, aligned, disjoint from the
 * header and from every other entry; each core kind present once and where
 * G puts it. Unknown kinds are allowed and skipped by readers. */
static int validate_regions(const struct tta_header *h, const struct tta_geometry *g,
			    uint64_t segment_size, char *err, size_t errlen)
{
	if (h->region_count < TTA_REGION_CORE_KINDS || h->region_count > TTA_MAX_REGIONS)
		return tta_fail(err, errlen, -EINVAL,
				"segment region directory has %u entries (expected %u to %u); the "
				"file is corrupt: remove it so it is recreated",
				h->region_count, TTA_REGION_CORE_KINDS, TTA_MAX_REGIONS);
	struct tta_region core[TTA_REGION_CORE_KINDS];
	tta_geometry_core_regions(g, core);
	unsigned seen_core = 0;
	for (uint32_t i = 0; i < h->region_count; i++) {
		const struct tta_region *r = &h->regions[i];
		if (r->kind == TTA_REGION_NONE || r->offset % TTA_REGION_ALIGN != 0 ||
		    r->offset < sizeof(struct tta_header) || r->size == 0 ||
		    r->offset > segment_size || r->size > segment_size - r->offset)
			return tta_fail(err, errlen, -EINVAL,
					"segment region %u (kind %u) lies outside the segment or is "
					"misaligned; the file is corrupt: remove it so it is recreated",
					i, r->kind);
		for (uint32_t j = 0; j < i; j++) {
			const struct tta_region *o = &h->regions[j];
			if (r->offset < o->offset + o->size && o->offset < r->offset + r->size)
				return tta_fail(err, errlen, -EINVAL,
						"segment regions %u and %u overlap; the file is corrupt: "
						"remove it so it is recreated",
						j, i);
		}
		if (r->kind <= TTA_REGION_CORE_KINDS) {
			const struct tta_region *want = &core[r->kind - 1];
			unsigned bit = 1u << r->kind;
			if ((seen_core & bit) || r->offset != want->offset || r->size != want->size ||
			    r->version != want->version)
				return tta_fail(err, errlen, -EINVAL,
						"segment region %u (kind %u) contradicts the segment's "
						"capacities; the file is corrupt: remove it so it is "
						"recreated",
						i, r->kind);
			seen_core |= bit;
		}
	}
	if (seen_core != ((1u << (TTA_REGION_CORE_KINDS + 1)) - 2u))
		return tta_fail(err, errlen, -EINVAL,
				"segment region directory lacks a core region; the file is corrupt: "
				"remove it so it is recreated");
	return 0;
}

int tta_header_validate(const struct tta_header *h, uint64_t file_size, struct tta_geometry *geo,
			char *err, size_t errlen)
{
	if (file_size < sizeof(struct tta_header))
		return tta_fail(err, errlen, -EINVAL,
				"segment is truncated (%llu bytes, smaller than its %zu-byte header); "
				"remove it so it is recreated",
				(unsigned long long)file_size, sizeof(struct tta_header));
	if (h->magic != TTA_MAGIC)
		return tta_fail(err, errlen, -EPROTO,
				"not a tt-alloc segment (bad magic); another program owns this name: "
				"choose another with TT_ALLOC_SHM");
	if (h->abi_version < TTA_ABI_VERSION)
		return tta_fail(err, errlen, -EPROTO,
				"segment has the older ABI %u, this build speaks %u: stop the "
				"processes that use it and remove it (rm /dev/shm/<name>); the next "
				"writer or tt-alloc-reaper creates an ABI-%u one",
				h->abi_version, TTA_ABI_VERSION, TTA_ABI_VERSION);
	if (h->abi_version != TTA_ABI_VERSION)
		return tta_fail(err, errlen, -EPROTO,
				"segment has ABI version %u, this build speaks %u: use the tt-alloc "
				"build that created it, or stop its users and remove the segment",
				h->abi_version, TTA_ABI_VERSION);
	if (h->header_size != sizeof(struct tta_header) || h->layout_word != TTA_LAYOUT_WORD ||
	    h->chunk_records != TTA_RECORDS_PER_CHUNK || h->counter_capacity != TTA_COUNTER_CAPACITY)
		return tta_fail(err, errlen, -EPROTO,
				"segment layout differs from this build (struct sizes 0x%llx, expected "
				"0x%llx): rebuild against one tt-alloc version",
				(unsigned long long)h->layout_word, (unsigned long long)TTA_LAYOUT_WORD);
	struct tta_geometry g;
	if (tta_geometry_compute(h->device_capacity, h->slot_capacity, h->record_capacity, &g) != 0)
		return tta_fail(err, errlen, -EINVAL,
				"segment header has impossible capacities (%u device%s, %u process%s, "
				"%u buffer%s); remove the segment so it is recreated",
				h->device_capacity, h->device_capacity == 1 ? "" : "s", h->slot_capacity,
				h->slot_capacity == 1 ? "" : "es", h->record_capacity,
				h->record_capacity == 1 ? "" : "s");
	if (h->segment_size < g.segment_size || h->segment_size % TTA_PAGE != 0)
		return tta_fail(err, errlen, -EINVAL,
				"segment header's size (%llu bytes) contradicts its capacities (its "
				"core regions need %llu); the file is corrupt: remove it so it is "
				"recreated",
				(unsigned long long)h->segment_size,
				(unsigned long long)g.segment_size);
	if (file_size < h->segment_size)
		return tta_fail(err, errlen, -EINVAL,
				"segment file is %llu bytes but its header describes %llu: truncated or "
				"corrupt; remove it so it is recreated",
				(unsigned long long)file_size, (unsigned long long)h->segment_size);
	int rc = validate_regions(h, &g, h->segment_size, err, errlen);
	if (rc != 0)
		return rc;
	if (ck_pr_load_32(&h->ready) != TTA_READY_VALUE)
		return tta_fail(err, errlen, -EAGAIN,
				"segment is not initialised (ready flag unset): its creator died while "
				"building it; remove it so it is recreated");
	ck_pr_fence_load();
	g.mapped_size = h->segment_size;
	*geo = g;
	return 0;
}

static void init_bitmap(uint8_t *at, uint32_t bits)
{
	/* ck_bitmap_init wants the struct; n_bits + zeroed map is the same thing
	 * and the file is already zero-filled. */
	memcpy(at, &bits, sizeof bits);
}

static void add_region(struct tta_header *h, uint32_t kind, uint64_t offset, uint64_t size)
{
	struct tta_region *r = &h->regions[h->region_count++];
	r->kind = kind;
	r->version = 1;
	r->offset = offset;
	r->size = size;
}

void tta_segment_format(uint8_t *base, const struct tta_geometry *g, uint32_t mode)
{
	struct tta_header *h = (struct tta_header *)base;
	h->magic = TTA_MAGIC;
	h->abi_version = TTA_ABI_VERSION;
	h->header_size = sizeof *h;
	h->layout_word = TTA_LAYOUT_WORD;
	h->segment_size = g->segment_size;
	h->device_capacity = g->device_capacity;
	h->slot_capacity = g->slot_capacity;
	h->record_capacity = g->record_capacity;
	h->chunk_records = TTA_RECORDS_PER_CHUNK;
	h->counter_capacity = TTA_COUNTER_CAPACITY;
	h->region_count = 0;
	struct tta_region core[TTA_REGION_CORE_KINDS];
	tta_geometry_core_regions(g, core);
	for (unsigned i = 0; i < TTA_REGION_CORE_KINDS; i++)
		add_region(h, core[i].kind, core[i].offset, core[i].size);
	h->created_realtime_ns = tta_now_realtime_ns();
	h->creator_pid = (uint64_t)getpid();
	h->mode = mode;
	init_bitmap(base + g->off_live_slots, g->slot_capacity);
	for (uint32_t d = 0; d < g->device_capacity; d++)
		init_bitmap(base + g->off_device_users + d * g->bitmap_stride, g->slot_capacity);
}

/* Whether /dev/shm/ENTRY, whose name starts with "NAME.init." (PLEN bytes),
 * is provably a temporary that create_segment() left behind: the exact name
 * it makes (NAME.init.PID.HEX: PID decimal without leading zeros, 1 to 8
 * lower-case hex digits), PID dead, a regular file of our own uid, and the
 * content of a creation cut short at some step: empty (before fallocate),
 * all-zero header (before formatting), a tt-alloc header with ready unset, or
 * with ready set and that PID as its creator (died before unlinking it). A
 * valid segment that merely has such a name fails one of these. */
static bool is_abandoned_temporary(const char *entry, size_t plen)
{
	const char *p = entry + plen;
	if (*p < '1' || *p > '9')
		return false;
	char *end;
	errno = 0;
	long pid = strtol(p, &end, 10);
	if (errno != 0 || pid <= 0 || pid > INT_MAX || *end != '.')
		return false;
	size_t hex = strspn(end + 1, "0123456789abcdef");
	if (hex < 1 || hex > 8 || end[1 + hex] != '\0')
		return false;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;
	char path[sizeof SHM_DIR + TTA_NAME_MAX + 2];
	snprintf(path, sizeof path, SHM_DIR "/%s", entry);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ours = false;
	struct stat st;
	struct tta_header h;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
		memset(&h, 0, sizeof h);
		ssize_t got = st.st_size == 0 ? 0 : pread(fd, &h, sizeof h, 0);
		static const struct tta_header zero;
		if (got == 0)
			ours = true;
		else if (got == (ssize_t)sizeof h)
			ours = memcmp(&h, &zero, sizeof h) == 0 ||
			       (h.magic == TTA_MAGIC &&
				(h.ready != TTA_READY_VALUE || h.creator_pid == (uint64_t)pid));
	}
	close(fd);
	return ours;
}

/* Removes temporary segments of NAME whose creator died mid-creation (their
 * names carry the creator's pid; see is_abandoned_temporary for what proves
 * one is ours). Runs only when a segment is being created. */
static void sweep_abandoned_temporaries(const char *name)
{
	DIR *dir = opendir(SHM_DIR);
	if (dir == NULL)
		return;
	char prefix[TTA_NAME_MAX + 16];
	int plen = snprintf(prefix, sizeof prefix, "%.200s.init.", name + 1);
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
			continue;
		if (is_abandoned_temporary(e->d_name, (size_t)plen)) {
			char victim[TTA_NAME_MAX + 2];
			snprintf(victim, sizeof victim, "/%s", e->d_name);
			shm_unlink(victim);
		}
	}
	closedir(dir);
}

/* Builds a fresh segment under a temporary name and links it into place.
 * Returns 0 (we created NAME), 1 (someone else created it first), or -errno. */
static int create_segment(const char *name, const struct tta_create_params *p, char *err,
			  size_t errlen)
{
	struct tta_geometry g;
	if (tta_geometry_compute(p->devices, p->slots, p->records, &g) != 0)
		return tta_fail(err, errlen, -EINVAL,
				"requested capacities out of range (%u device%s, %u process%s, %u "
				"buffer%s)",
				p->devices, p->devices == 1 ? "" : "s", p->slots,
				p->slots == 1 ? "" : "es", p->records, p->records == 1 ? "" : "s");
	sweep_abandoned_temporaries(name);
	char tmp[TTA_NAME_MAX + 2];
	snprintf(tmp, sizeof tmp, "%.200s.init.%d.%llx", name, (int)getpid(),
		 (unsigned long long)(tta_now_mono_ns() & 0xffffffffu));
	int fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return tta_fail(err, errlen, -errno, "cannot create segment %s: %s", name,
				strerror(errno));
	int rc = 0;
	void *base = MAP_FAILED;
	/* fchmod, because the mode given to shm_open is filtered by the umask. */
	if (fchmod(fd, p->mode) != 0) {
		rc = tta_fail(err, errlen, -errno, "cannot set mode %o on segment %s: %s", p->mode,
			      name, strerror(errno));
		goto out;
	}
	/* The optional regions follow the core and are reserved with it: a
	 * full /dev/shm fails here, never as a SIGBUS in a writer later. */
	struct tta_region extra[3];
	unsigned n_extra = 0;
	uint64_t total = g.segment_size;
	if (!p->core_only)
		n_extra = tta_geometry_extra_regions(&g, &p->sizes, extra, &total);
	int fa = posix_fallocate(fd, 0, (off_t)total);
	if (fa != 0) {
		rc = tta_fail(err, errlen, fa == ENOSPC ? -ENOSPC : -fa,
			      "cannot reserve %llu MiB in /dev/shm for segment %s: %s; free space "
			      "or lower TT_ALLOC_MAX_BUFFERS / TT_ALLOC_MAX_PROCESSES",
			      (unsigned long long)(total >> 20), name, strerror(fa));
		goto out;
	}
	base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		rc = tta_fail(err, errlen, -errno, "cannot map new segment %s: %s", name,
			      strerror(errno));
		goto out;
	}
	tta_segment_format(base, &g, p->mode);
	struct tta_header *h = base;
	for (unsigned i = 0; i < n_extra; i++)
		h->regions[h->region_count++] = extra[i];
	h->segment_size = total;
	tta_segment_format_extras(base, &g, &p->sizes);
	/* Everything above must be visible before anyone can see ready. */
	ck_pr_fence_store();
	ck_pr_store_32(&h->ready, TTA_READY_VALUE);
	if (msync(base, sizeof *h, MS_SYNC) != 0) {
		/* tmpfs makes this a no-op; failure would mean something odd */
	}
	char tmp_path[sizeof SHM_DIR + TTA_NAME_MAX + 2], final_path[sizeof SHM_DIR + TTA_NAME_MAX + 2];
	snprintf(tmp_path, sizeof tmp_path, SHM_DIR "%s", tmp);
	snprintf(final_path, sizeof final_path, SHM_DIR "%s", name);
	if (link(tmp_path, final_path) != 0) {
		if (errno == EEXIST)
			rc = 1;
		else
			rc = tta_fail(err, errlen, -errno, "cannot publish segment %s: %s", name,
				      strerror(errno));
	}
out:
	if (base != MAP_FAILED)
		munmap(base, total);
	shm_unlink(tmp);
	close(fd);
	return rc;
}

/* Locates the optional regions of an opened SEG (directory validated) and
 * checks their headers, read from the mapping once and kept in SEG. A region
 * of another version or with a header that does not fit its directory entry
 * is ignored: the segment then simply keeps no history / events / peaks.
 * The headers were written before ready and never change. */
static void find_extras(struct tta_segment *seg, int fd)
{
	const struct tta_region *r = tta_segment_region(seg, TTA_REGION_HISTORY);
	if (r != NULL && r->version == TTA_HISTORY_VERSION &&
	    r->size >= sizeof(struct tta_history_header)) {
		struct tta_history_header hh;
		memset(&hh, 0, sizeof hh);
		/* pread, not the mapping: a file truncated since the size check
		 * must not fault here, outside any SIGBUS guard. */
		if (pread(fd, &hh, sizeof hh, (off_t)r->offset) != (ssize_t)sizeof hh)
			memset(&hh, 0, sizeof hh);
		uint64_t fine_ns = (uint64_t)hh.fine_interval_ms * 1000000u;
		uint64_t coarse_ns = (uint64_t)hh.coarse_interval_ms * 1000000u;
		if (hh.devices >= 1 && hh.devices <= seg->geo.device_capacity &&
		    hh.devices <= TTA_HISTORY_MAX_DEVICES && hh.fine_count >= 2 &&
		    hh.fine_count <= (1u << 20) && hh.coarse_count >= 2 &&
		    hh.coarse_count <= (1u << 20) && fine_ns > 0 && coarse_ns >= fine_ns &&
		    coarse_ns % fine_ns == 0 && hh.sample_size == sizeof(struct tta_history_slot) &&
		    history_bytes(hh.devices, hh.fine_count, hh.coarse_count) <= r->size) {
			seg->hist.devices = hh.devices;
			seg->hist.fine_count = hh.fine_count;
			seg->hist.coarse_count = hh.coarse_count;
			seg->hist.fine_ns = fine_ns;
			seg->hist.coarse_ns = coarse_ns;
			seg->hist.off_heads = r->offset + sizeof(struct tta_history_header);
			seg->hist.off_fine = seg->hist.off_heads +
					     (uint64_t)hh.devices * sizeof(struct tta_history_head);
			seg->hist.off_coarse = seg->hist.off_fine + (uint64_t)hh.devices *
									    hh.fine_count *
									    sizeof(struct tta_history_slot);
		}
	}
	r = tta_segment_region(seg, TTA_REGION_EVENTS);
	if (r != NULL && r->version == TTA_EVENTS_VERSION &&
	    r->size >= sizeof(struct tta_event_ring_header)) {
		struct tta_event_ring_header eh;
		if (pread(fd, &eh, sizeof eh, (off_t)r->offset) != (ssize_t)sizeof eh)
			memset(&eh, 0, sizeof eh);
		uint32_t cap = eh.capacity;
		if (cap >= 2 && cap <= (1u << 24) && (cap & (cap - 1)) == 0 &&
		    eh.entry_size == sizeof(struct tta_event_entry) &&
		    sizeof eh + (uint64_t)cap * sizeof(struct tta_event_entry) <= r->size) {
			seg->events.capacity = cap;
			seg->events.off_header = r->offset;
			seg->events.off_entries = r->offset + sizeof eh;
		}
	}
	r = tta_segment_region(seg, TTA_REGION_PEAKS);
	if (r != NULL && r->version == TTA_PEAKS_VERSION &&
	    r->size >= (uint64_t)seg->geo.slot_capacity * seg->geo.device_capacity *
			       sizeof(struct tta_peak_line))
		seg->off_peaks = r->offset;
}

int tta_segment_open(const char *name, int flags, const struct tta_create_params *params,
		     struct tta_segment *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->fd = -1;
	int rc = tta_resolve_name(name, out->name, err, errlen);
	if (rc != 0)
		return rc;
	if (flags & TTA_OPEN_CREATE)
		flags |= TTA_OPEN_WRITE;
	bool writable = (flags & TTA_OPEN_WRITE) != 0;
	int fd = -1;
	for (int attempt = 0; attempt < 3; attempt++) {
		/* O_NONBLOCK: a FIFO planted under the name must not hang a reader. */
		fd = shm_open(out->name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK, 0);
		if (fd >= 0 || errno != ENOENT || !(flags & TTA_OPEN_CREATE))
			break;
		struct tta_create_params defaults;
		if (params == NULL) {
			rc = tta_create_params_from_env(&defaults, err, errlen);
			if (rc != 0)
				return rc;
			params = &defaults;
		}
		rc = create_segment(out->name, params, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return tta_fail(err, errlen, -ENOENT,
					"no tt-alloc segment %s (/dev/shm%s): no tracked process has "
					"run yet; start tt-alloc-reaper or a process with "
					"TT_ALLOC_TRACKING_ENABLED=1",
					out->name, out->name);
		if (e == EACCES)
			return tta_fail(err, errlen, -EACCES,
					"permission denied opening segment %s for %s: ask its owner to "
					"recreate it with a wider TT_ALLOC_SHM_MODE, or use your own "
					"segment via TT_ALLOC_SHM",
					out->name, writable ? "writing" : "reading");
		return tta_fail(err, errlen, -e, "cannot open segment %s: %s", out->name, strerror(e));
	}
	struct stat st;
	struct tta_header h;
	if (fstat(fd, &st) != 0) {
		rc = tta_fail(err, errlen, -errno, "cannot stat segment %s: %s", out->name,
			      strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = tta_fail(err, errlen, -EPROTO,
			      "segment %s is not a regular file (something else owns /dev/shm%s): "
			      "remove it or choose another name with TT_ALLOC_SHM",
			      out->name, out->name);
		goto fail;
	}
	memset(&h, 0, sizeof h);
	ssize_t got = pread(fd, &h, sizeof h, 0);
	if (got < 0) {
		rc = tta_fail(err, errlen, -errno, "cannot read segment %s: %s", out->name,
			      strerror(errno));
		goto fail;
	}
	rc = tta_header_validate(&h, (uint64_t)st.st_size, &out->geo, err, errlen);
	if (rc != 0) {
		/* Prefix the name so the one line says which segment is bad. */
		if (err != NULL && errlen > 0) {
			char msg[TTA_ERR_MAX];
			snprintf(msg, sizeof msg, "%s", err);
			snprintf(err, errlen, "segment %s: %s", out->name, msg);
		}
		goto fail;
	}
	void *base = mmap(NULL, out->geo.mapped_size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
			  MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		rc = tta_fail(err, errlen, -errno, "cannot map segment %s: %s", out->name,
			      strerror(errno));
		goto fail;
	}
	memcpy(out->regions, h.regions, sizeof out->regions);
	out->region_count = h.region_count;
	find_extras(out, fd);
	/* A reader keeps its fd (close-on-exec) to notice truncation; a writer,
	 * a guest in someone else's process, keeps none. */
	if (writable) {
		close(fd);
		fd = -1;
	}
	out->fd = fd;
	out->base = base;
	out->size = out->geo.mapped_size;
	out->writable = writable;
	out->file_dev = st.st_dev;
	out->file_ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return rc;
}

const struct tta_region *tta_segment_region(const struct tta_segment *seg, uint32_t kind)
{
	for (uint32_t i = 0; i < seg->region_count && i < TTA_MAX_REGIONS; i++)
		if (seg->regions[i].kind == kind)
			return &seg->regions[i];
	return NULL;
}

void tta_segment_close(struct tta_segment *seg)
{
	/* Only an opened segment has a mapping, and then always its fd. */
	if (seg->base != NULL) {
		munmap(seg->base, seg->size);
		if (seg->fd >= 0)
			close(seg->fd);
	}
	seg->fd = -1;
	seg->base = NULL;
	seg->size = 0;
}
