/*
 * tt-alloc-replay - replays an allocation trace through libtrack, exactly as
 * an instrumented process would report it.
 *
 * Contract
 *   The whole trace is parsed and checked before the first report is made: a
 *   malformed trace replays nothing and exits 2 with "FILE:LINE: why" on
 *   stderr. The tool never sets TT_ALLOC_TRACKING_ENABLED or TT_ALLOC_SHM
 *   itself; it is a client like any other, so the caller's environment
 *   decides whether and where it reports.
 *
 * Trace format (one operation a line; '#' starts a comment; numbers are
 * decimal or 0x-prefixed hex; keywords and types are case-insensitive;
 * SIZE is 1 .. 2^63-1, what the library accepts):
 *   alloc DEVICE ADDRESS SIZE TYPE   TYPE: dram l1 l1_small trace system cb kernel
 *   free DEVICE ADDRESS
 *   sleep MILLISECONDS
 *   device DEVICE ARCH [CORES]       ARCH: wormhole_b0 (or wormhole), blackhole
 * How types map onto the API:
 *   alloc ... cb      -> tta_report_cb_alloc(DEVICE, ADDRESS as the CB id, SIZE)
 *   alloc ... kernel  -> tta_report_kernel_load(DEVICE, ADDRESS as the kernel
 *                        id, SIZE, application)
 *   alloc ... other   -> tta_report_alloc
 *   free D A          -> tta_report_cb_free if (D, A) is a live CB at that
 *                        point of the trace, else tta_report_free. Freeing a
 *                        kernel is an error: kernels have no free event.
 *   device D ARCH [N] -> tta_register_device with tta_device_info_<arch>(N
 *                        cores; default 72 for Wormhole B0, 140 for Blackhole)
 * A free of something not allocated, or an alloc over a live address, is
 * replayed as written (the library counts it as unknown_frees or
 * address_collisions) and draws a warning. An alloc over a live address keeps
 * both allocations; each free of that address releases the newest live one
 * first, so two allocs and two frees leave nothing (the library's rule).
 *
 * Passes: with --repeat, what a pass leaves allocated is freed before the next
 * pass starts, so every pass begins from the same state and a trace that ends
 * with resident buffers (model weights) can loop without collisions.
 *
 * Exit status: 0 done (also when a signal ends --hold or a --repeat 0 run),
 * 1 tracking was disabled by an error the library reported, 2 usage or trace
 * error, 128+N when signal N interrupts a finite replay.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tt-alloc/text.h>
#include <tt-alloc/tt_alloc.h>

#define PROG "tt-alloc-replay"
#ifndef TT_ALLOC_REPLAY_VERSION /* the Makefile passes LIBTRACK_VERSION */
#define TT_ALLOC_REPLAY_VERSION "1.0.0"
#endif
#define MAX_REPORTED_ERRORS 20
#define WORMHOLE_B0_DEFAULT_CORES 72u
#define BLACKHOLE_DEFAULT_CORES 140u
/* The slowest --speed: the longest sleep a trace may hold (one day) scaled
 * by it stays far inside the nanoseconds a sleep is counted in. */
#define MIN_SPEED 0.001

enum op_kind {
	OP_ALLOC,
	OP_FREE,
	OP_CB_ALLOC,
	OP_CB_FREE,
	OP_KERNEL_LOAD,
	OP_SLEEP,
	OP_DEVICE,
};

enum device_arch { ARCH_WORMHOLE_B0, ARCH_BLACKHOLE };

struct op {
	uint8_t kind;     /* enum op_kind */
	uint8_t type;     /* OP_ALLOC: enum tta_mem_type; OP_DEVICE: enum device_arch */
	uint32_t device;
	uint32_t line;
	uint64_t address; /* address, CB id or kernel id */
	uint64_t size;    /* bytes; OP_SLEEP: milliseconds; OP_DEVICE: cores */
};

struct trace {
	struct op *ops;
	size_t count, capacity;
};

/* ------------------------------------------------------------------------ */
/* What is allocated right now, keyed by (device, address): tells a `free`
 * whether it releases a CB or a buffer, and lists what is left at the end of
 * a pass. Open addressing with linear probing and backward-shift deletion, so
 * heavy alloc/free churn leaves no tombstones behind.
 *
 * It mirrors the library's rule for an alloc over a live address: both stay
 * (one entry each), and a free releases the newest live allocation at the
 * address first (highest seq). The library keys buffers, CBs and kernels in
 * separate spaces, so only an alloc in the same space collides. */

struct live_entry {
	uint64_t address;
	uint64_t seq;    /* insertion order: the newest at a key is freed first */
	uint32_t device;
	uint8_t type;
	bool used;
};

struct live_map {
	struct live_entry *slots;
	size_t mask; /* capacity - 1; capacity is a power of two */
	size_t count;
	uint64_t next_seq;
};

/* The library's key spaces, as bits for live_find_in. */
#define SPACE_OF(type) (1u << ((type) == TTA_MEM_CB ? 1 : (type) == TTA_MEM_KERNEL ? 2 : 0))
#define SPACE_BUFFER_BIT SPACE_OF(TTA_MEM_DRAM)
#define SPACE_CB_BIT SPACE_OF(TTA_MEM_CB)
#define SPACE_KERNEL_BIT SPACE_OF(TTA_MEM_KERNEL)

static size_t live_hash(uint32_t device, uint64_t address)
{
	uint64_t h = address ^ ((uint64_t)device << 48) ^ ((uint64_t)device * 0x9e3779b97f4a7c15u);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53u;
	h ^= h >> 33;
	return (size_t)h;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

static void live_init(struct live_map *m)
{
	m->mask = 63;
	m->count = 0;
	m->slots = xcalloc(m->mask + 1, sizeof *m->slots);
}

static void live_destroy(struct live_map *m)
{
	free(m->slots);
	m->slots = NULL;
}

/* The newest entry at (DEVICE, ADDRESS) whose type is in SPACES, or NULL.
 * Every entry of a key lies in the probe run from its home slot to the
 * first empty one (backward-shift deletion keeps it so). */
static struct live_entry *live_find_in(const struct live_map *m, uint32_t device, uint64_t address,
				       unsigned spaces)
{
	struct live_entry *newest = NULL;
	for (size_t i = live_hash(device, address) & m->mask;; i = (i + 1) & m->mask) {
		struct live_entry *e = &m->slots[i];
		if (!e->used)
			return newest;
		if (e->device == device && e->address == address && (SPACE_OF(e->type) & spaces) &&
		    (newest == NULL || e->seq > newest->seq))
			newest = e;
	}
}

static void live_insert(struct live_map *m, struct live_entry e)
{
	size_t i = live_hash(e.device, e.address) & m->mask;
	while (m->slots[i].used)
		i = (i + 1) & m->mask;
	m->slots[i] = e;
	m->count++;
}

static void live_grow(struct live_map *m)
{
	struct live_map bigger = { .mask = m->mask * 2 + 1, .count = 0, .next_seq = m->next_seq };
	bigger.slots = xcalloc(bigger.mask + 1, sizeof *bigger.slots);
	for (size_t i = 0; i <= m->mask; i++)
		if (m->slots[i].used)
			live_insert(&bigger, m->slots[i]);
	free(m->slots);
	*m = bigger;
}

/* Adds one live allocation, the newest at its key (an earlier one at the
 * same key stays: see above). A kernel reload is the caller's business. */
static void live_put(struct live_map *m, uint32_t device, uint64_t address, uint8_t type)
{
	if ((m->count + 1) * 2 > m->mask + 1)
		live_grow(m);
	live_insert(m, (struct live_entry){ .address = address, .seq = ++m->next_seq, .device = device,
					    .type = type, .used = true });
}

static void live_remove(struct live_map *m, struct live_entry *e)
{
	size_t hole = (size_t)(e - m->slots);
	e->used = false;
	m->count--;
	/* Shift later members of the probe run back so lookups never stop early. */
	for (size_t i = (hole + 1) & m->mask; m->slots[i].used; i = (i + 1) & m->mask) {
		size_t home = live_hash(m->slots[i].device, m->slots[i].address) & m->mask;
		/* Move entry i into the hole unless its home lies cyclically in (hole, i]. */
		bool home_after_hole = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
		if (!home_after_hole) {
			m->slots[hole] = m->slots[i];
			m->slots[i].used = false;
			hole = i;
		}
	}
}

static void live_clear(struct live_map *m)
{
	memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
	m->count = 0;
}

/* ------------------------------------------------------------------------ */
/* Parsing */

struct parser {
	const char *file;      /* as shown in messages */
	unsigned line;
	unsigned errors;
	bool quiet;
	struct live_map live;  /* state of the trace at the current line */
	struct trace *trace;
};

/* Writes TEXT to stderr with every byte that is not printable as \xNN
 * (<tt-alloc/text.h>): messages quote the trace (and its name), and an escape
 * sequence in a trace must not reach the terminal. */
static void put_escaped(const char *text)
{
	size_t len = strlen(text), cap = 4 * len + 1;
	char *clean = malloc(cap);
	if (clean == NULL) {
		fputs("?", stderr);
		return;
	}
	tta_escape_text(text, len, clean, cap);
	fputs(clean, stderr);
	free(clean);
}

/* "FILE:LINE: PREFIXmessage", escaped, then a newline. */
static void parse_message(struct parser *p, const char *prefix, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	char *where = NULL;
	if (asprintf(&where, "%s:%u: %s", p->file, p->line, prefix) < 0)
		where = NULL;
	put_escaped(where ? where : "?: ");
	put_escaped(msg ? msg : "(out of memory)");
	fputc('\n', stderr);
	free(where);
	free(msg);
}

static void parse_error(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_error(struct parser *p, const char *fmt, ...)
{
	p->errors++;
	if (p->errors > MAX_REPORTED_ERRORS)
		return;
	va_list ap;
	va_start(ap, fmt);
	parse_message(p, "", fmt, ap);
	va_end(ap);
}

static void parse_warning(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_warning(struct parser *p, const char *fmt, ...)
{
	if (p->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	parse_message(p, "warning: ", fmt, ap);
	va_end(ap);
}

/* Decimal, or hex with a 0x prefix. No sign, no octal, no trailing junk:
 * "010" is ten and "12k" is an error, so a typo cannot silently change a size. */
static bool parse_u64(const char *s, uint64_t *out)
{
	int base = 10;
	const char *digits = s;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		digits = s + 2;
	}
	if (!(base == 16 ? isxdigit((unsigned char)digits[0]) : isdigit((unsigned char)digits[0])))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(digits, &end, base);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_field(struct parser *p, const char *tok, const char *what, uint64_t max,
			uint64_t *out)
{
	if (!parse_u64(tok, out)) {
		parse_error(p, "bad number '%s' for %s (decimal or 0x hex)", tok, what);
		return false;
	}
	if (*out > max) {
		parse_error(p, "%s %s is out of range (at most %" PRIu64 ")", what, tok, max);
		return false;
	}
	return true;
}

static void trace_push(struct trace *t, struct op op)
{
	if (t->count == t->capacity) {
		size_t cap = t->capacity ? t->capacity * 2 : 1024;
		struct op *grown = realloc(t->ops, cap * sizeof *grown);
		if (grown == NULL) {
			fprintf(stderr, PROG ": out of memory\n");
			exit(1);
		}
		t->ops = grown;
		t->capacity = cap;
	}
	t->ops[t->count++] = op;
}

/* Checks the operand count: too few and too many are both errors, naming the
 * expected form so the fix is obvious. */
static bool expect_fields(struct parser *p, char **tok, int n, int min, int max, const char *form)
{
	if (n < min) {
		parse_error(p, "missing field: expected '%s'", form);
		return false;
	}
	if (n > max) {
		parse_error(p, "unexpected '%s' after '%s'", tok[max], form);
		return false;
	}
	return true;
}

static void parse_alloc(struct parser *p, char **tok, int n)
{
	static const char form[] = "alloc DEVICE ADDRESS SIZE TYPE";
	if (!expect_fields(p, tok, n, 5, 5, form))
		return;
	uint64_t device, address, size;
	if (!parse_field(p, tok[1], "DEVICE", UINT32_MAX, &device) ||
	    !parse_field(p, tok[2], "ADDRESS", UINT64_MAX, &address) ||
	    !parse_field(p, tok[3], "SIZE", INT64_MAX, &size)) /* the library's limit */
		return;
	int type = tta_mem_type_parse(tok[4]);
	if (type < 0) {
		parse_error(p, "unknown type '%s' (dram l1 l1_small trace system cb kernel)", tok[4]);
		return;
	}
	if (size == 0) {
		parse_error(p, "SIZE must be at least 1");
		return;
	}
	struct op op = { .device = (uint32_t)device, .line = p->line, .address = address,
			 .size = size, .type = (uint8_t)type };
	op.kind = type == TTA_MEM_CB ? OP_CB_ALLOC : type == TTA_MEM_KERNEL ? OP_KERNEL_LOAD : OP_ALLOC;

	struct live_entry *prev = live_find_in(&p->live, op.device, address, SPACE_OF(type));
	if (prev != NULL && type != TTA_MEM_KERNEL)
		parse_warning(p, "device %" PRIu64 " address 0x%" PRIx64 " is already allocated (%s);"
			      " the library counts this as an address collision and keeps both"
			      " (each free releases the newest first)",
			      device, address, tta_mem_type_name(prev->type));
	if (prev == NULL || type != TTA_MEM_KERNEL) /* a kernel reload replaces */
		live_put(&p->live, op.device, address, (uint8_t)type);
	trace_push(p->trace, op);
}

static void parse_free(struct parser *p, char **tok, int n)
{
	static const char form[] = "free DEVICE ADDRESS";
	if (!expect_fields(p, tok, n, 3, 3, form))
		return;
	uint64_t device, address;
	if (!parse_field(p, tok[1], "DEVICE", UINT32_MAX, &device) ||
	    !parse_field(p, tok[2], "ADDRESS", UINT64_MAX, &address))
		return;
	struct op op = { .kind = OP_FREE, .device = (uint32_t)device, .line = p->line, .address = address };
	struct live_entry *e = live_find_in(&p->live, op.device, address, SPACE_BUFFER_BIT | SPACE_CB_BIT);
	if (e == NULL)
		e = live_find_in(&p->live, op.device, address, SPACE_KERNEL_BIT);
	if (e == NULL) {
		parse_warning(p, "free of device %" PRIu64 " address 0x%" PRIx64 ", which is not allocated"
			      " here; the library counts it as an unknown free", device, address);
	} else if (e->type == TTA_MEM_KERNEL) {
		parse_error(p, "kernel 0x%" PRIx64 " on device %" PRIu64 " cannot be freed: kernel"
			    " binaries have no free event", address, device);
		return;
	} else {
		if (e->type == TTA_MEM_CB)
			op.kind = OP_CB_FREE;
		live_remove(&p->live, e);
	}
	trace_push(p->trace, op);
}

static void parse_sleep(struct parser *p, char **tok, int n)
{
	static const char form[] = "sleep MILLISECONDS";
	if (!expect_fields(p, tok, n, 2, 2, form))
		return;
	uint64_t ms;
	/* A day is far beyond any sensible trace and keeps ns arithmetic exact. */
	if (!parse_field(p, tok[1], "MILLISECONDS", 86400000u, &ms))
		return;
	trace_push(p->trace, (struct op){ .kind = OP_SLEEP, .line = p->line, .size = ms });
}

static void parse_device(struct parser *p, char **tok, int n)
{
	static const char form[] = "device DEVICE ARCH [CORES]";
	if (!expect_fields(p, tok, n, 3, 4, form))
		return;
	uint64_t device, cores = 0;
	if (!parse_field(p, tok[1], "DEVICE", UINT32_MAX, &device))
		return;
	enum device_arch arch;
	if (strcasecmp(tok[2], "wormhole_b0") == 0 || strcasecmp(tok[2], "wormhole") == 0) {
		arch = ARCH_WORMHOLE_B0;
		cores = WORMHOLE_B0_DEFAULT_CORES;
	} else if (strcasecmp(tok[2], "blackhole") == 0) {
		arch = ARCH_BLACKHOLE;
		cores = BLACKHOLE_DEFAULT_CORES;
	} else {
		parse_error(p, "unknown arch '%s' (wormhole_b0 or blackhole)", tok[2]);
		return;
	}
	if (n == 4 && !parse_field(p, tok[3], "CORES", 1u << 16, &cores))
		return;
	trace_push(p->trace, (struct op){ .kind = OP_DEVICE, .type = (uint8_t)arch,
					  .device = (uint32_t)device, .line = p->line, .size = cores });
}

static void parse_line(struct parser *p, char *text)
{
	char *hash = strchr(text, '#');
	if (hash != NULL)
		*hash = '\0';
	char *tok[6];
	int n = 0;
	char *save = NULL;
	/* Keep one token beyond the longest form so trailing garbage is seen. */
	for (char *t = strtok_r(text, " \t\r\n\v\f", &save); t != NULL && n < 6;
	     t = strtok_r(NULL, " \t\r\n\v\f", &save))
		tok[n++] = t;
	if (n == 0)
		return;
	if (strcasecmp(tok[0], "alloc") == 0)
		parse_alloc(p, tok, n);
	else if (strcasecmp(tok[0], "free") == 0)
		parse_free(p, tok, n);
	else if (strcasecmp(tok[0], "sleep") == 0)
		parse_sleep(p, tok, n);
	else if (strcasecmp(tok[0], "device") == 0)
		parse_device(p, tok, n);
	else
		parse_error(p, "unknown operation '%s' (alloc, free, sleep, device)", tok[0]);
}

/* Returns 0 if the whole trace parsed, 2 otherwise (messages printed). */
static int parse_trace(const char *path, bool quiet, struct trace *out)
{
	bool from_stdin = strcmp(path, "-") == 0;
	FILE *f = from_stdin ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct parser p = { .file = from_stdin ? "<stdin>" : path, .quiet = quiet, .trace = out };
	live_init(&p.live);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) >= 0) {
		p.line++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			parse_error(&p, "NUL byte in line (not a text trace?)");
			continue;
		}
		parse_line(&p, line);
	}
	int read_failed = ferror(f);
	int read_errno = errno; /* why getline stopped (e.g. EISDIR for a directory) */
	free(line);
	live_destroy(&p.live);
	if (!from_stdin)
		fclose(f);
	if (read_failed) {
		fprintf(stderr, PROG ": error reading %s: %s\n", p.file, strerror(read_errno));
		return 2;
	}
	if (p.errors > MAX_REPORTED_ERRORS)
		fprintf(stderr, "%s: %u errors (first %d shown)\n", p.file, p.errors, MAX_REPORTED_ERRORS);
	return p.errors ? 2 : 0;
}

/* ------------------------------------------------------------------------ */
/* Replay */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* Signals stay blocked except inside ppoll, so a SIGTERM that lands just
 * before a wait cannot be lost: it is delivered as the wait begins. */
static sigset_t unblocked_mask;

static void install_signal_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &unblocked_mask);
	sigdelset(&unblocked_mask, SIGTERM);
	sigdelset(&unblocked_mask, SIGINT);
}

/* A pending stop signal is delivered here even in a trace without sleeps;
 * looking every 64 calls keeps the syscall off most operations. */
static bool stop_requested(void)
{
	static unsigned calls;
	sigset_t pending;
	if (stop_signal == 0 && calls++ % 64 == 0 && sigpending(&pending) == 0 && (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) {
		struct timespec zero = { 0, 0 };
		ppoll(NULL, 0, &zero, &unblocked_mask);
	}
	return stop_signal != 0;
}

/* Sleeps NS nanoseconds or until a stop signal. */
static void sleep_interruptible(uint64_t ns)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(ns / 1000000000u);
	end.tv_nsec += (long)(ns % 1000000000u);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (!stop_signal) {
		struct timespec now, left;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return;
		ppoll(NULL, 0, &left, &unblocked_mask);
	}
}

/* stdin ends a hold only if it can deliver an end: a pipe, socket or our own
 * terminal. A background job's stdin is /dev/null (always at EOF), so it is
 * ignored and such a job holds until signalled. */
static bool stdin_can_end_hold(bool trace_from_stdin)
{
	struct stat st;
	if (trace_from_stdin || fstat(STDIN_FILENO, &st) != 0)
		return false;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return true;
	/* Reading a terminal from a background process group would stop us. */
	return isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
}

static void hold(bool watch_stdin)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	while (!stop_signal) {
		int r = ppoll(&pfd, watch_stdin ? 1 : 0, NULL, &unblocked_mask);
		if (r <= 0 || !watch_stdin)
			continue;
		char buf[4096];
		ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
		if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

struct replay {
	const struct trace *trace;
	struct live_map live;   /* what this process holds right now */
	double speed;           /* sleeps are divided by it; 0 skips them */
};

static void exec_op(struct replay *r, const struct op *op)
{
	switch ((enum op_kind)op->kind) {
	case OP_ALLOC:
		tta_report_alloc(op->device, op->address, op->size, (enum tta_mem_type)op->type);
		live_put(&r->live, op->device, op->address, op->type);
		break;
	case OP_CB_ALLOC:
		tta_report_cb_alloc(op->device, op->address, op->size);
		live_put(&r->live, op->device, op->address, TTA_MEM_CB);
		break;
	case OP_KERNEL_LOAD:
		tta_report_kernel_load(op->device, op->address, op->size, TTA_KERNEL_APPLICATION);
		if (live_find_in(&r->live, op->device, op->address, SPACE_KERNEL_BIT) == NULL)
			live_put(&r->live, op->device, op->address, TTA_MEM_KERNEL);
		break;
	case OP_FREE:
	case OP_CB_FREE: {
		if (op->kind == OP_CB_FREE)
			tta_report_cb_free(op->device, op->address);
		else
			tta_report_free(op->device, op->address);
		struct live_entry *e = live_find_in(&r->live, op->device, op->address,
						    op->kind == OP_CB_FREE ? SPACE_CB_BIT : SPACE_BUFFER_BIT);
		if (e != NULL)
			live_remove(&r->live, e);
		break;
	}
	case OP_SLEEP:
		if (r->speed > 0)
			sleep_interruptible((uint64_t)((double)op->size * 1e6 / r->speed));
		break;
	case OP_DEVICE: {
		struct tta_device_info info;
		if (op->type == ARCH_BLACKHOLE)
			tta_device_info_blackhole(&info, (uint32_t)op->size);
		else
			tta_device_info_wormhole_b0(&info, (uint32_t)op->size);
		/* 1 (already registered by someone else) is the normal case for a
		 * second process on the same chip; -1 means tracking is off. */
		(void)tta_register_device(op->device, &info);
		break;
	}
	}
}

/* Frees everything this process still holds except kernels (which have no
 * free event), as a process tearing its buffers down would. */
static size_t free_everything(struct replay *r)
{
	size_t freed = 0;
	for (size_t i = 0; i <= r->live.mask; i++) {
		const struct live_entry *e = &r->live.slots[i];
		if (!e->used || e->type == TTA_MEM_KERNEL)
			continue;
		if (e->type == TTA_MEM_CB)
			tta_report_cb_free(e->device, e->address);
		else
			tta_report_free(e->device, e->address);
		freed++;
	}
	live_clear(&r->live);
	return freed;
}

/* Kernel binaries in the model; everything else is a "buffer" (has a free
 * event), the definition the reaper's leak reports use too. */
static size_t live_kernels(const struct live_map *m)
{
	size_t n = 0;
	for (size_t i = 0; i <= m->mask; i++)
		n += m->slots[i].used && m->slots[i].type == TTA_MEM_KERNEL;
	return n;
}

static bool tracking_failed(void)
{
	if (tta_track_state() != TTA_TRACK_DISABLED)
		return false;
	fprintf(stderr, PROG ": tracking was disabled by the error above; stopping\n");
	return true;
}

/* ------------------------------------------------------------------------ */

struct options {
	uint64_t repeat;   /* passes; 0 = until signalled */
	bool hold, check, quiet, cleanup;
	double speed;
	const char *path;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " [OPTIONS] TRACE\n"
		"Replays an allocation trace (TRACE, or - for stdin) through libtrack, as an\n"
		"instrumented process would. Reports go where TT_ALLOC_SHM says, and only\n"
		"when TT_ALLOC_TRACKING_ENABLED=1.\n"
		"\n"
		"  -n, --repeat N   replay N passes (default 1; 0 = until SIGTERM/SIGINT);\n"
		"                   what a pass leaves allocated is freed before the next\n"
		"  -H, --hold       after the trace, stay alive until SIGTERM/SIGINT or end\n"
		"                   of stdin (when stdin is a pipe, socket or terminal)\n"
		"  -s, --speed X    divide every sleep by X (default 1; 0 = do not sleep;\n"
		"                   otherwise at least 0.001)\n"
		"  -c, --check      parse and check the trace only; report nothing\n"
		"      --cleanup    before exiting, free what is still allocated and release\n"
		"                   the process slot, as a clean shutdown would (without it\n"
		"                   leftovers stay until the reaper reclaims them as a leak)\n"
		"  -q, --quiet      no progress lines or warnings, only errors\n"
		"  -h, --help       this text\n"
		"  -V, --version    print the version\n"
		"\n"
		"Trace lines ('#' comments; numbers decimal or 0x hex; case-insensitive):\n"
		"  alloc DEVICE ADDRESS SIZE TYPE   dram l1 l1_small trace system cb kernel\n"
		"  free DEVICE ADDRESS              a CB id frees the CB; kernels are never freed\n"
		"  sleep MILLISECONDS\n"
		"  device DEVICE ARCH [CORES]       wormhole_b0 (72 cores) or blackhole (140)\n"
		"\n"
		"Exit status: 0 ok, 1 tracking disabled by an error, 2 usage or trace error,\n"
		"128+N interrupted by signal N (a signal ending --hold or --repeat 0 is 0).\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "repeat", required_argument, NULL, 'n' },
		{ "hold", no_argument, NULL, 'H' },
		{ "speed", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'c' },
		{ "cleanup", no_argument, NULL, 'C' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){ .repeat = 1, .speed = 1.0 };
	int c;
	opterr = 0; /* our own message: getopt's names argv[0], a path */
	while ((c = getopt_long(argc, argv, ":n:Hs:cqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_u64(optarg, &o->repeat)) {
				fprintf(stderr, PROG ": --repeat needs a count, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'H':
			o->hold = true;
			break;
		case 's': {
			char *end;
			errno = 0;
			o->speed = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !isfinite(o->speed) ||
			    (o->speed != 0 && !(o->speed >= MIN_SPEED))) {
				fprintf(stderr, PROG ": --speed needs 0 (no sleeps) or a finite factor of at"
						" least %g, not '%s'\n", MIN_SPEED, optarg);
				return 2;
			}
			break;
		}
		case 'c':
			o->check = true;
			break;
		case 'C':
			o->cleanup = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", TT_ALLOC_REPLAY_VERSION);
			exit(0);
		default: {
			char why[128];
			fprintf(stderr, PROG ": %s\nTry '" PROG " --help'.\n",
				tta_option_error(c, argv, longopts, why, sizeof why));
			return 2;
		}
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, PROG ": %s\nTry '" PROG " --help'.\n",
			optind == argc ? "missing TRACE (a file, or - for stdin)" : "only one TRACE may be given");
		return 2;
	}
	o->path = argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	struct options opt;
	int rc = parse_options(argc, argv, &opt);
	if (rc != 0)
		return rc;

	struct trace trace = { 0 };
	rc = parse_trace(opt.path, opt.quiet, &trace);
	if (rc != 0 || opt.check) {
		if (rc == 0 && !opt.quiet)
			printf("%s: ok, %zu operation%s\n", strcmp(opt.path, "-") == 0 ? "<stdin>" : opt.path,
			       trace.count, trace.count == 1 ? "" : "s");
		free(trace.ops);
		return rc;
	}

	const char *enabled = getenv("TT_ALLOC_TRACKING_ENABLED");
	if (enabled == NULL || strcmp(enabled, "1") != 0)
		fprintf(stderr, PROG ": warning: TT_ALLOC_TRACKING_ENABLED is not 1, so tracking is off"
				" and this replay reports nothing\n");

	install_signal_handlers();
	struct replay r = { .trace = &trace, .speed = opt.speed };
	live_init(&r.live);
	bool forever = opt.repeat == 0;
	uint64_t pass = 0;
	size_t done_in_pass = 0;
	rc = 0;
	while ((forever || pass < opt.repeat) && !stop_requested()) {
		if (pass > 0)
			free_everything(&r);
		pass++;
		for (done_in_pass = 0; done_in_pass < trace.count; done_in_pass++) {
			if (stop_requested())
				break;
			exec_op(&r, &trace.ops[done_in_pass]);
		}
		if (tracking_failed()) {
			rc = 1;
			break;
		}
	}
	if (rc == 0 && stop_signal) {
		if (!opt.quiet)
			fprintf(stderr, PROG ": stopped by signal %d in pass %" PRIu64 " after %zu of %zu"
					" operation%s\n", (int)stop_signal, pass, done_in_pass, trace.count,
				trace.count == 1 ? "" : "s");
		if (!forever)
			rc = 128 + stop_signal;
	}
	if (rc == 0 && !stop_signal) {
		if (!opt.quiet)
			printf(PROG ": replayed %zu operation%s x %" PRIu64 " from %s\n", trace.count,
			       trace.count == 1 ? "" : "s", pass,
			       strcmp(opt.path, "-") == 0 ? "<stdin>" : opt.path);
		if (opt.hold) {
			bool watch_stdin = stdin_can_end_hold(strcmp(opt.path, "-") == 0);
			size_t kernels = live_kernels(&r.live), buffers = r.live.count - kernels;
			if (!opt.quiet)
				printf(PROG ": holding %zu buffer%s and %zu kernel binar%s (pid %d); %s\n",
				       buffers, buffers == 1 ? "" : "s", kernels, kernels == 1 ? "y" : "ies",
				       (int)getpid(),
				       watch_stdin ? "SIGTERM, SIGINT or end of stdin ends" : "SIGTERM or SIGINT ends");
			fflush(stdout);
			hold(watch_stdin);
		}
	}
	if (opt.cleanup && rc != 1) {
		size_t freed = free_everything(&r);
		long dropped = tta_track_detach();
		if (dropped < 0)
			dropped = 0;
		if (!opt.quiet)
			printf(PROG ": cleanup freed %zu buffer%s and released the slot (%ld kernel"
			       " binar%s dropped)\n", freed, freed == 1 ? "" : "s", dropped,
			       dropped == 1 ? "y" : "ies");
	}
	fflush(stdout);
	live_destroy(&r.live);
	free(trace.ops);
	return rc;
}
