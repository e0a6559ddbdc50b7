/*
 * callsite.c - TT_ALLOC_STACK_TRACE=1: the call site of each allocation,
 * deduplicated per process, symbolized once, stored in the segment.
 *
 * Unwinding: libunwind's unw_backtrace (Debian libunwind8), which keeps a
 * per-thread cache of how to step each frame: about 150-200 ns for a
 * 10-frame stack on these machines, where glibc's backtrace() (libgcc's
 * unwinder, which re-reads the unwind tables every time) takes 1-2 us. It
 * is dlopen'ed RTLD_LOCAL when TT_ALLOC_STACK_TRACE=1, so its _Unwind_*
 * symbols never replace libgcc's for the host's C++ exceptions, and no other
 * process loads it; without it, backtrace() serves, and the process says so
 * once on stderr. The stack's frame addresses hash to a key; a per-
 * attachment index maps keys to site ids without a lock (entries are
 * published with release stores and never change).
 *
 * Symbolizing: libdw (elfutils), dlopen'ed the first time a process with
 * TT_ALLOC_STACK_TRACE=1 meets a new site, so no other process loads it
 * (or the four compression libraries it needs). It names static functions
 * too (the ELF symbol table, not only exported symbols), gives file:line
 * from DWARF, and finds separate debug files by build id. Without it,
 * dladdr() names exported symbols only; the process says so once on stderr.
 * libdw keeps the ELF files it opened open; our find_elf/find_debuginfo
 * callbacks mark every descriptor it gets close-on-exec, so none leaks into
 * the host's children.
 *
 * A frame's text is "SYMBOL+0xOFF in MODULE at FILE:LINE" (" at ..." only
 * with debug information; "MODULE+0xOFF" without a symbol). Frames below
 * main (libc's start code) are not kept. Each distinct frame's text is stored
 * once per block; a site is a list of text offsets (tta_sites.h).
 *
 * Threading: lookups of known sites are lock-free; new sites, the
 * symbolizer and the block are serialised by the origin lock (tags.c).
 */
#include <ck_pr.h>
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "origins.h"

/* backtrace() sees tta_callsite_capture and the public report function
 * before the application's frame (and, under a sanitizer, its backtrace
 * interceptor first: capture finds its own return address instead of
 * counting). */
#define SKIP_FRAMES 2
#define SLACK_FRAMES 2
#define SITE_SLOTS 4096u  /* index of stacks seen; at most half used */
#define FRAME_SLOTS 4096u /* index of frame texts stored; at most half used */

struct tta_site_index {
	uint64_t keys[SITE_SLOTS];  /* 0 empty, else the stack's hash */
	uint16_t ids[SITE_SLOTS];   /* site id, or TTA_ID_OTHER */
	uint32_t sites_used;
	uintptr_t frame_pc[FRAME_SLOTS];
	uint16_t frame_off[FRAME_SLOTS];
	uint32_t frames_used;
};

/* ------------------------------------------------------------------------ */
/* Unwinder: libunwind when it loads, glibc's backtrace() otherwise.         */

typedef int (*backtrace_fn)(void **, int);
static backtrace_fn unwinder = backtrace; /* replaced once, before any capture */

static void say_once(const char *line);

static void load_unwinder(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	/* Sanitizer runtimes and libunwind do not mix: its per-thread cache is
	 * freed by a TSD destructor that locks a mutex after ThreadSanitizer let
	 * go of the thread (a crash), and LeakSanitizer's exit-time tracer
	 * crashes when threads are stopped inside unw_backtrace. Sanitized
	 * builds unwind with backtrace(), which the sanitizers intercept. */
	return;
#endif
	void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	backtrace_fn fn = lib ? (backtrace_fn)dlsym(lib, "unw_backtrace") : NULL;
	if (fn == NULL) {
		say_once("tt-alloc: TT_ALLOC_STACK_TRACE: cannot load libunwind.so.8 (Debian package "
			 "libunwind8); unwinding with glibc's backtrace(), about ten times slower\n");
		return;
	}
	/* backtrace() and unw_backtrace() both load what they need on their
	 * first call: pay it here, not in a report. */
	void *warm[2];
	(void)fn(warm, 2);
	__atomic_store_n(&unwinder, fn, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------------ */
/* Symbolizer: libdw when it loads, dladdr otherwise. Origin lock held.      */

static struct {
	bool tried, loaded;
	Dwfl *dwfl;
	__typeof__(dwfl_begin) *begin;
	__typeof__(dwfl_end) *end;
	__typeof__(dwfl_report_begin) *report_begin;
	__typeof__(dwfl_report_end) *report_end;
	__typeof__(dwfl_linux_proc_report) *proc_report;
	__typeof__(dwfl_linux_proc_find_elf) *proc_find_elf;
	__typeof__(dwfl_standard_find_debuginfo) *find_debuginfo;
	__typeof__(dwfl_addrmodule) *addrmodule;
	__typeof__(dwfl_module_info) *module_info;
	__typeof__(dwfl_module_addrinfo) *addrinfo;
	__typeof__(dwfl_module_getsrc) *getsrc;
	__typeof__(dwfl_lineinfo) *lineinfo;
	char *(*demangle)(const char *, char *, size_t *, int *);
	bool refreshed_for_unknown; /* re-read the module list once per miss streak */
} dw;

/* One line on stderr per kind of trouble, ever (write(2): no stdio). */
static void say_once(const char *line)
{
	static const char *said[4];
	for (unsigned i = 0; i < 4; i++) {
		const char *none = NULL;
		if (__atomic_compare_exchange_n(&said[i], &none, line, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			ssize_t w = write(STDERR_FILENO, line, strlen(line));
			(void)w;
			return;
		}
		if (none == line)
			return;
	}
}

static void cloexec(int fd)
{
	if (fd >= 0) {
		int flags = fcntl(fd, F_GETFD);
		if (flags >= 0)
			fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	}
}

static int find_elf_cloexec(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
			    char **file_name, Elf **elfp)
{
	int fd = dw.proc_find_elf(mod, userdata, name, base, file_name, elfp);
	cloexec(fd);
	return fd;
}

static int find_debuginfo_cloexec(Dwfl_Module *mod, void **userdata, const char *name,
				  Dwarf_Addr base, const char *file_name, const char *debuglink,
				  GElf_Word crc, char **debuginfo_file_name)
{
	int fd = dw.find_debuginfo(mod, userdata, name, base, file_name, debuglink, crc,
				   debuginfo_file_name);
	cloexec(fd);
	return fd;
}

static char *debuginfo_path; /* NULL: libdw's default (.debug, /usr/lib/debug) */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = find_elf_cloexec,
	.find_debuginfo = find_debuginfo_cloexec,
	.debuginfo_path = &debuginfo_path,
};

static bool report_modules(void)
{
	dw.report_begin(dw.dwfl);
	int rc = dw.proc_report(dw.dwfl, getpid());
	dw.report_end(dw.dwfl, NULL, NULL);
	return rc == 0;
}

#define LOAD(field, name) ok = ok && (*(void **)&dw.field = dlsym(lib, name)) != NULL

static void load_libdw(void)
{
	dw.tried = true;
	void *lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	bool ok = lib != NULL;
	LOAD(begin, "dwfl_begin");
	LOAD(end, "dwfl_end");
	LOAD(report_begin, "dwfl_report_begin");
	LOAD(report_end, "dwfl_report_end");
	LOAD(proc_report, "dwfl_linux_proc_report");
	LOAD(proc_find_elf, "dwfl_linux_proc_find_elf");
	LOAD(find_debuginfo, "dwfl_standard_find_debuginfo");
	LOAD(addrmodule, "dwfl_addrmodule");
	LOAD(module_info, "dwfl_module_info");
	LOAD(addrinfo, "dwfl_module_addrinfo");
	LOAD(getsrc, "dwfl_module_getsrc");
	LOAD(lineinfo, "dwfl_lineinfo");
	if (ok)
		ok = (dw.dwfl = dw.begin(&dwfl_callbacks)) != NULL && report_modules();
	if (!ok) {
		if (dw.dwfl != NULL)
			dw.end(dw.dwfl);
		dw.dwfl = NULL;
		/* The library stays loaded if it was: unloading code that may
		 * have registered anything is not worth the risk. */
		say_once("tt-alloc: TT_ALLOC_STACK_TRACE: cannot use libdw.so.1 (Debian package "
			 "libdw1); call sites name exported symbols only\n");
		return;
	}
	/* C++ names read better demangled; libstdc++ is there in C++ hosts. */
	*(void **)&dw.demangle = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	dw.loaded = true;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* "name@@GLIBC_2.34" -> "name" (LEN bytes of NAME kept). */
static size_t symbol_length(const char *name)
{
	const char *at = strchr(name, '@');
	return at ? (size_t)(at - name) : strlen(name);
}

static void frame_text_libdw(uintptr_t pc, char *out, size_t len)
{
	/* A return address: the call is the byte before it. */
	Dwarf_Addr at = (Dwarf_Addr)pc - 1;
	Dwfl_Module *m = dw.addrmodule(dw.dwfl, at);
	if (m == NULL) {
		/* Loaded after we last looked (dlopen): read the maps again. */
		report_modules();
		m = dw.addrmodule(dw.dwfl, at);
	}
	if (m == NULL) {
		snprintf(out, len, "0x%lx", (unsigned long)pc);
		return;
	}
	Dwarf_Addr start = 0;
	const char *module = dw.module_info(m, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	module = module ? base_name(module) : "?";
	GElf_Off offset = 0;
	GElf_Sym sym;
	const char *name = dw.addrinfo(m, at, &offset, &sym, NULL, NULL, NULL);
	char *demangled = NULL;
	int status = -1;
	if (name != NULL && dw.demangle != NULL && name[0] == '_' && name[1] == 'Z') {
		demangled = dw.demangle(name, NULL, NULL, &status);
		if (status == 0 && demangled != NULL)
			name = demangled;
	}
	int n;
	if (name != NULL)
		n = snprintf(out, len, "%.*s+0x%lx in %s", (int)symbol_length(name), name,
			     (unsigned long)offset + 1, module);
	else
		n = snprintf(out, len, "%s+0x%lx", module, (unsigned long)(pc - start));
	free(demangled);
	Dwfl_Line *line = dw.getsrc(m, at);
	int lineno = 0;
	const char *file = line ? dw.lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	if (file != NULL && lineno > 0 && n >= 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, " at %s:%d", base_name(file), lineno);
}

static void frame_text_dladdr(uintptr_t pc, char *out, size_t len)
{
	Dl_info info;
	if (dladdr((void *)(pc - 1), &info) == 0 || info.dli_fname == NULL) {
		snprintf(out, len, "0x%lx", (unsigned long)pc);
		return;
	}
	const char *module = base_name(info.dli_fname);
	if (info.dli_sname != NULL && info.dli_saddr != NULL)
		snprintf(out, len, "%.*s+0x%lx in %s", (int)symbol_length(info.dli_sname),
			 info.dli_sname, (unsigned long)(pc - (uintptr_t)info.dli_saddr), module);
	else
		snprintf(out, len, "%s+0x%lx", module, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
}

static void frame_text(uintptr_t pc, char *out, size_t len)
{
	if (!dw.tried)
		load_libdw();
	if (dw.loaded)
		frame_text_libdw(pc, out, len);
	else
		frame_text_dladdr(pc, out, len);
}

/* main is the last frame worth showing; libc's start code follows it. */
static bool is_main(const char *text)
{
	return strncmp(text, "main+", 5) == 0;
}

/* ------------------------------------------------------------------------ */
/* The index and the block                                                   */

static uint64_t stack_hash(void *const *pcs, int n)
{
	uint64_t h = (uint64_t)n;
	for (int i = 0; i < n; i++)
		h = tta_mix64(h ^ (uint64_t)(uintptr_t)pcs[i]);
	return h ? h : 1;
}

/* The slot of KEY in the index, or of the empty slot where it would go. */
static uint32_t site_slot(const struct tta_site_index *x, uint64_t key, bool *found)
{
	for (uint32_t i = (uint32_t)key & (SITE_SLOTS - 1);; i = (i + 1) & (SITE_SLOTS - 1)) {
		uint64_t k = __atomic_load_n(&x->keys[i], __ATOMIC_ACQUIRE);
		if (k == key || k == 0) {
			*found = k == key;
			return i;
		}
	}
}

/* The text offset of the frame at PC in the block, storing it if new.
 * Returns false when the block's text area is full. */
static bool frame_offset(struct tta_origins *o, uintptr_t pc, const char *text, uint16_t *off)
{
	struct tta_site_index *x = o->sites;
	uint32_t i = (uint32_t)tta_mix64(pc) & (FRAME_SLOTS - 1);
	for (;; i = (i + 1) & (FRAME_SLOTS - 1)) {
		if (x->frame_pc[i] == pc) {
			*off = x->frame_off[i];
			return true;
		}
		if (x->frame_pc[i] == 0)
			break;
	}
	if (!tta_sites_add_frame(o->block, text, off))
		return false;
	if (x->frames_used < FRAME_SLOTS / 2) {
		x->frame_pc[i] = pc;
		x->frame_off[i] = *off;
		x->frames_used++;
	}
	return true;
}

/* Symbolizes and stores the stack PCS[0..N) as a new site. Origin lock held. */
static uint16_t store_site(struct tta_origins *o, void *const *pcs, int n)
{
	if (ck_pr_load_32(&o->block->site_count) >= TTA_SITES_PER_PROCESS)
		return TTA_ID_OTHER;
	uint16_t offs[TTA_SITE_FRAMES];
	unsigned kept = 0;
	char text[TTA_FRAME_TEXT_MAX];
	for (int i = 0; i < n && kept < TTA_SITE_FRAMES; i++) {
		uintptr_t pc = (uintptr_t)pcs[i];
		frame_text(pc, text, sizeof text);
		if (!frame_offset(o, pc, text, &offs[kept]))
			return TTA_ID_OTHER;
		kept++;
		if (is_main(text))
			break;
	}
	uint16_t id = kept ? tta_sites_add_site(o->block, offs, kept) : 0;
	return id ? id : TTA_ID_OTHER;
}

static __attribute__((noinline, cold)) uint16_t new_site(struct tta_origins *o, void *const *pcs,
							  int n, uint64_t key)
{
	uint16_t id = TTA_ID_OTHER;
	tta_origin_lock();
	struct tta_site_index *x = o->sites;
	if (x == NULL) {
		x = calloc(1, sizeof *x);
		if (x == NULL)
			goto out; /* no memory: untracked, and nothing to remember */
		__atomic_store_n(&o->sites, x, __ATOMIC_RELEASE);
	}
	bool found;
	uint32_t slot = site_slot(x, key, &found);
	if (found) {
		id = x->ids[slot];
		goto out;
	}
	id = store_site(o, pcs, n);
	if (id == TTA_ID_OTHER)
		ck_pr_inc_64(&o->counters[TTA_CTR_sites_dropped]);
	/* Remembered even when dropped, so each site is counted once; a full
	 * index forgets, and such sites are looked up (and counted) again. */
	if (x->sites_used < SITE_SLOTS / 2) {
		x->ids[slot] = id;
		__atomic_store_n(&x->keys[slot], key, __ATOMIC_RELEASE);
		x->sites_used++;
	}
out:
	tta_origin_unlock();
	return id;
}

__attribute__((noinline)) uint16_t tta_callsite_capture(struct tta_origins *o)
{
	void *pcs[SLACK_FRAMES + SKIP_FRAMES + TTA_SITE_FRAMES];
	backtrace_fn unwind = __atomic_load_n(&unwinder, __ATOMIC_ACQUIRE);
	/* Each frame costs (some 25 ns with libunwind): only backtrace() may
	 * have an interceptor's frame to skip as well. */
	int want = SKIP_FRAMES + TTA_SITE_FRAMES + (unwind == backtrace ? SLACK_FRAMES : 0);
	int n = unwind(pcs, want);
	/* The application's frame follows the report function's, whose pc is
	 * our return address. */
	void *report_fn = __builtin_return_address(0);
	int skip = SKIP_FRAMES;
	for (int i = 0; i <= SLACK_FRAMES + 1 && i < n; i++)
		if (pcs[i] == report_fn) {
			skip = i + 1;
			break;
		}
	if (n <= skip)
		return TTA_ID_OTHER;
	void *const *mine = pcs + skip;
	n -= skip;
	if (n > (int)TTA_SITE_FRAMES)
		n = TTA_SITE_FRAMES;
	uint64_t key = stack_hash(mine, n);
	const struct tta_site_index *x = __atomic_load_n(&o->sites, __ATOMIC_ACQUIRE);
	if (x != NULL) {
		bool found;
		uint32_t slot = site_slot(x, key, &found);
		if (found)
			return x->ids[slot];
	}
	return new_site(o, mine, n, key);
}

/* ------------------------------------------------------------------------ */
/* Per attachment                                                            */

static bool stack_traces_on;

static void read_stack_trace_env(void)
{
	const char *v = getenv("TT_ALLOC_STACK_TRACE");
	stack_traces_on = v != NULL && strcmp(v, "1") == 0;
}

static void read_stack_trace_env_and_load(void)
{
	read_stack_trace_env();
	if (stack_traces_on)
		load_unwinder();
}

/* TT_ALLOC_STACK_TRACE, read once per process (and the unwinder loaded). */
static bool stack_traces_wanted(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, read_stack_trace_env_and_load);
	return stack_traces_on;
}

void tta_origins_init(struct tta_origins *o, struct tta_segment *seg, uint32_t slot,
		      uint64_t owner)
{
	memset(o, 0, sizeof *o);
	o->counters = tta_hdr(seg)->counters;
	o->block = tta_sites_block(seg, slot);
	if (o->block == NULL)
		return;
	tta_sites_reset(o->block, owner);
	o->stack_traces = stack_traces_wanted();
	if (o->stack_traces && unwinder == backtrace) {
		/* backtrace()'s first call loads libgcc_s: pay it here, once. */
		void *warm[2];
		(void)backtrace(warm, 2);
	}
}

void tta_origins_fini(struct tta_origins *o)
{
	free(o->sites);
	o->sites = NULL;
}
