/*
 * tt-alloc-bridge - serves the old allocation server's Unix-socket protocol
 * (112-byte messages, bench/sock_proto.h) from and into the tt-alloc segment.
 *
 *  - ALLOC/FREE are recorded as allocations of the CLIENT process, found by
 *    SO_PEERCRED (never by the pid inside the message; a different one is
 *    counted). Each client process gets its own slot, claimed with its own
 *    identity through the proxy API (shm/tta_proxy.h), so tt-smi lists it
 *    under its pid and the reaper reaps it (with a leak report) when it
 *    dies. A client that disconnects keeps its allocations until it exits.
 *  - QUERY for device D gets a RESPONSE with the four per-type totals of the
 *    whole segment (every writer on the host) through the public reader API,
 *    and device information from registered devices.
 *  - One epoll loop, non-blocking sockets: a slow or stuck client never
 *    delays another. Bad input is counted and logged once per kind.
 *  - After traffic the loop polls without sleeping for --spin-us (default
 *    50 us) before it blocks again. An old client sends one small message
 *    per report; if the bridge slept between them, every send would pay for
 *    waking it (a context switch each way), and the client would report at
 *    about the rate of those wake-ups. While it polls it yields the CPU
 *    between polls, so a client woken on the same CPU is not kept waiting.
 *    The price is at most spin-us of CPU after each burst; an idle bridge
 *    sleeps in epoll_wait.
 *  - On start it adopts the proxy slots (marked TTA_PROXY_TAG) of clients
 *    still alive, so their later FREEs find their records.
 *
 * Exit status: 0 on SIGTERM/SIGINT, 1 runtime failure, 2 usage, segment or
 * socket error (including "a server already listens on PATH").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bridge.h"
#include "tt-alloc/reader.h"
#include "tt-alloc/text.h"
#include "tta_proxy.h"
#include "tta_segment.h"

#ifndef TT_ALLOC_BRIDGE_VERSION
#define TT_ALLOC_BRIDGE_VERSION "2.0.0"
#endif
#define NAME "tt-alloc-bridge"
#define OUT_LIMIT (64 * SOCK_MSG_SIZE) /* queued responses before a reader is dropped */
#define RCVBUF_BYTES (1 << 20)         /* a burst of reports waits in the kernel, not in send() */
#define DEFAULT_SPIN_US 50u

/* ---- logging: one line each, bad input once per kind ----------------------- */

static bool verbose;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[600], clean[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* Lines carry client process names and paths: untrusted text. */
	tta_sanitize_text(line, sizeof line, clean, sizeof clean);
	fprintf(stderr, NAME ": %s\n", clean);
}

enum bad_kind {
	BAD_PID_MISMATCH,
	BAD_PARTIAL,      /* connection closed in the middle of a message */
	BAD_NO_IDENTITY,  /* peer not visible in our /proc, or gone */
	BAD_NO_SLOT,
	BAD_UNKNOWN_FREE,
	BAD_SLOW_READER,
	BAD_STALE_SLOT,
	BAD_NO_RECORD,
	BAD_FD_LIMIT,
	BAD_KINDS
};
static const char *const bad_names[BAD_KINDS] = {
	"message pid differs from the peer's", "connection closed mid-message",
	"peer process cannot be identified", "no free process slot",
	"free of an unknown buffer id", "client does not read its responses",
	"slot reclaimed while the client runs", "no buffer record left",
	"file descriptor limit reached",
};
static uint64_t verdict_count[BRIDGE_VERDICTS];
static uint64_t bad_count[BAD_KINDS];
static bool verdict_logged[BRIDGE_VERDICTS], bad_logged[BAD_KINDS];

static void count_bad(enum bad_kind k, int32_t pid)
{
	bad_count[k]++;
	if (!bad_logged[k]) {
		bad_logged[k] = true;
		logf_("%s (pid %d); counted, logged once", bad_names[k], (int)pid);
	}
}

static void count_verdict(enum bridge_verdict v, int32_t pid)
{
	unsigned i = (unsigned)v;
	if (i >= BRIDGE_VERDICTS)
		return;
	verdict_count[i]++;
	if (i < (unsigned)BRIDGE_BAD_TYPE || verdict_logged[i])
		return;
	verdict_logged[i] = true;
	logf_("refused a message: %s (pid %d); counted, logged once", bridge_verdict_name(v),
	      (int)pid);
}

/* ---- clients (one per process) and connections ---------------------------- */

struct client {
	int32_t pid;
	uint32_t uid;
	uint64_t start_time;
	struct tta_proxy *proxy; /* NULL until its first ALLOC/FREE */
	unsigned refs;           /* open connections */
	bool dead;               /* could not be identified */
};

struct conn {
	int fd;
	struct client *client;   /* NULL when the peer has no visible pid */
	int32_t peer_pid;
	uint8_t in[SOCK_MSG_SIZE];
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_cap;
	bool want_out;
};

static struct {
	const char *socket_path;
	const char *segment;
	struct tta_segment seg;
	tta_reader *reader;
	struct client **clients;
	size_t nclients, cap_clients;
	int epfd, lfd, sigfd, tfd;
	int spare_fd;
	ino_t sock_ino;
	uint64_t connections, messages;
	uint64_t spin_ns;        /* poll this long after traffic before sleeping */
} B = { .socket_path = SOCK_DEFAULT_PATH, .spin_ns = DEFAULT_SPIN_US * 1000u };

static struct client *client_find(int32_t pid, uint64_t start_time)
{
	for (size_t i = 0; i < B.nclients; i++)
		if (B.clients[i]->pid == pid && B.clients[i]->start_time == start_time)
			return B.clients[i];
	return NULL;
}

static struct client *client_add(int32_t pid, uint32_t uid, uint64_t start_time)
{
	if (B.nclients == B.cap_clients) {
		size_t cap = B.cap_clients ? B.cap_clients * 2 : 16;
		struct client **g = realloc(B.clients, cap * sizeof *g);
		if (g == NULL)
			return NULL;
		B.clients = g;
		B.cap_clients = cap;
	}
	struct client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->pid = pid;
	c->uid = uid;
	c->start_time = start_time;
	B.clients[B.nclients++] = c;
	return c;
}

/* Drops clients nobody is connected as and whose slot is gone (reaped after
 * the process exited) or was never claimed. */
static void clients_sweep(void)
{
	for (size_t i = 0; i < B.nclients;) {
		struct client *c = B.clients[i];
		bool gone = c->proxy == NULL || !tta_proxy_valid(c->proxy);
		if (c->refs == 0 && gone) {
			if (c->proxy && verbose)
				logf_("pid %d: slot %u reaped, forgotten", (int)c->pid,
				      tta_proxy_slot(c->proxy));
			tta_proxy_forget(c->proxy);
			free(c);
			B.clients[i] = B.clients[--B.nclients];
			continue;
		}
		i++;
	}
}

/* ---- QUERY ------------------------------------------------------------------ */

/* UMD's tt::ARCH numbering (WORMHOLE_B0 = 3, BLACKHOLE = 4); 0xFF unknown. */
static uint32_t arch_number(const char *arch, uint32_t *channels)
{
	char low[32];
	size_t i = 0;
	for (; i < sizeof low - 1 && arch[i]; i++)
		low[i] = (char)((arch[i] >= 'A' && arch[i] <= 'Z') ? arch[i] + 32 : arch[i]);
	low[i] = '\0';
	if (strstr(low, "wormhole")) {
		*channels = 12;
		return 3;
	}
	if (strstr(low, "blackhole")) {
		*channels = 8;
		return 4;
	}
	if (strstr(low, "grayskull")) {
		*channels = 8;
		return 1;
	}
	*channels = 0;
	return 0xFF;
}

static uint64_t nonneg(int64_t v)
{
	return v < 0 ? 0 : (uint64_t)v; /* a negative total never reaches a u64 client */
}

static void build_response(int32_t device, struct sock_msg *r)
{
	memset(r, 0, sizeof *r);
	r->type = SOCK_MSG_RESPONSE;
	r->device_id = device;
	uint32_t cap = tta_reader_device_capacity(B.reader);
	uint32_t registered = 0;
	for (uint32_t d = 0; d < cap; d++) {
		/* Cheap: the device table only; stops early on large tables. */
		struct tta_device *dev = tta_device_at(&B.seg, d);
		if (ck_pr_load_64(&dev->state) == TTA_DEVICE_PUBLISHED)
			registered++;
	}
	r->num_devices = registered;
	if (device < 0 || (uint32_t)device >= cap)
		return;
	struct tta_device_view v;
	if (tta_reader_device(B.reader, (uint32_t)device, &v) != 0)
		return;
	r->dram_allocated = nonneg(v.used[TTA_MEM_DRAM]);
	r->l1_allocated = nonneg(v.used[TTA_MEM_L1]);
	r->l1_small_allocated = nonneg(v.used[TTA_MEM_L1_SMALL]);
	r->trace_allocated = nonneg(v.used[TTA_MEM_TRACE]);
	if (v.registered) {
		uint32_t channels;
		r->arch_type = arch_number(v.arch, &channels);
		r->total_dram_size = v.capacity[TTA_MEM_DRAM];
		r->total_l1_size = v.capacity[TTA_MEM_L1];
		r->num_dram_channels = channels;
		uint64_t per = channels ? v.capacity[TTA_MEM_DRAM] / channels : 0;
		r->dram_size_per_channel = per <= UINT32_MAX ? (uint32_t)per : 0;
		r->l1_size_per_core = v.l1_bytes_per_core;
		r->is_available = 1;
	} else {
		r->arch_type = 0xFF;
		r->is_available = v.processes > 0 || v.buffers != 0;
	}
}

/* ---- connection I/O ------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	if (c->in_len > 0)
		count_bad(BAD_PARTIAL, c->peer_pid);
	epoll_ctl(B.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->client)
		c->client->refs--;
	free(c->out);
	free(c);
}

static void conn_want_out(struct conn *c, bool want)
{
	if (c->want_out == want)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(B.epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = want;
}

/* Returns false when the connection must close. */
static bool conn_flush(struct conn *c)
{
	size_t done = 0;
	while (done < c->out_len) {
		ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return false;
	}
	memmove(c->out, c->out + done, c->out_len - done);
	c->out_len -= done;
	conn_want_out(c, c->out_len > 0);
	return true;
}

static bool conn_queue(struct conn *c, const void *msg, size_t len)
{
	if (c->out_len + len > OUT_LIMIT) {
		count_bad(BAD_SLOW_READER, c->peer_pid);
		return false;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 4 * SOCK_MSG_SIZE;
		while (cap < c->out_len + len)
			cap *= 2;
		uint8_t *g = realloc(c->out, cap);
		if (g == NULL)
			return false;
		c->out = g;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, msg, len);
	c->out_len += len;
	return conn_flush(c);
}

static struct tta_proxy *client_proxy(struct conn *c)
{
	struct client *cl = c->client;
	if (cl == NULL || cl->dead) {
		count_bad(BAD_NO_IDENTITY, c->peer_pid);
		return NULL;
	}
	if (cl->proxy != NULL) {
		if (tta_proxy_valid(cl->proxy))
			return cl->proxy;
		/* Reaped while the process still talks to us (a reaper in another pid
		 * namespace, or an operator): start a fresh slot. */
		count_bad(BAD_STALE_SLOT, cl->pid);
		tta_proxy_forget(cl->proxy);
		cl->proxy = NULL;
	}
	struct tta_slot_identity id;
	int rc = tta_proxy_identity(cl->pid, cl->uid, &id);
	if (rc != 0 || id.start_time != cl->start_time) {
		cl->dead = true;
		count_bad(BAD_NO_IDENTITY, cl->pid);
		return NULL;
	}
	rc = tta_proxy_open(&B.seg, &id, &cl->proxy);
	if (rc != 0) {
		count_bad(BAD_NO_SLOT, cl->pid);
		return NULL;
	}
	if (verbose)
		logf_("pid %d (%s): slot %u", (int)cl->pid, id.comm, tta_proxy_slot(cl->proxy));
	return cl->proxy;
}

/* Returns false when the connection must close. */
static bool handle_message(struct conn *c, const uint8_t *raw)
{
	struct bridge_cmd cmd;
	enum bridge_verdict v = bridge_decode(raw, B.seg.geo.device_capacity, &cmd);
	B.messages++;
	count_verdict(v, c->peer_pid);
	if (v == BRIDGE_QUERY) {
		/* Answered all the same (zeros, is_available 0): the client waits. */
		if (cmd.query_device < 0 || (uint32_t)cmd.query_device >= B.seg.geo.device_capacity)
			count_verdict(BRIDGE_BAD_DEVICE, c->peer_pid);
		struct sock_msg r;
		build_response(cmd.query_device, &r);
		return conn_queue(c, &r, sizeof r);
	}
	if (v != BRIDGE_ALLOC && v != BRIDGE_FREE) {
		/* Counted in the segment too, so tt-smi shows it. */
		enum tta_counter_id id = v == BRIDGE_BAD_DEVICE ? TTA_CTR_bad_device
								: TTA_CTR_bad_argument;
		ck_pr_inc_64(&tta_hdr(&B.seg)->counters[id]);
		return true;
	}
	if (cmd.claimed_pid != c->peer_pid)
		count_bad(BAD_PID_MISMATCH, c->peer_pid);
	struct tta_proxy *p = client_proxy(c);
	if (p == NULL)
		return true;
	int rc = v == BRIDGE_ALLOC ? tta_proxy_alloc(p, cmd.device, cmd.address, cmd.size,
						     cmd.tta_type)
				   : tta_proxy_free(p, cmd.device, cmd.address);
	if (rc == -ENOENT)
		count_bad(BAD_UNKNOWN_FREE, c->peer_pid);
	else if (rc == -ENOSPC)
		count_bad(BAD_NO_RECORD, c->peer_pid);
	else if (rc == -ESTALE)
		count_bad(BAD_STALE_SLOT, c->peer_pid);
	return true;
}

static void conn_readable(struct conn *c)
{
	uint8_t buf[256 * SOCK_MSG_SIZE];
	/* Bounded work per wakeup: level-triggered epoll brings us back, and
	 * every other client gets its turn in between. */
	for (int round = 0; round < 4; round++) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n == 0) {
			conn_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_close(c);
			return;
		}
		size_t off = 0;
		while (off < (size_t)n) {
			size_t take = SOCK_MSG_SIZE - c->in_len;
			if (take > (size_t)n - off)
				take = (size_t)n - off;
			memcpy(c->in + c->in_len, buf + off, take);
			c->in_len += take;
			off += take;
			if (c->in_len == SOCK_MSG_SIZE) {
				c->in_len = 0;
				if (!handle_message(c, c->in)) {
					conn_close(c);
					return;
				}
			}
		}
		if ((size_t)n < sizeof buf)
			return;
	}
}

static void accept_all(void)
{
	for (;;) {
		int fd = accept4(B.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && B.spare_fd >= 0) {
				/* Out of descriptors: accept with the spare and close at once,
				 * so the listening socket does not stay readable forever. */
				count_bad(BAD_FD_LIMIT, 0);
				close(B.spare_fd);
				int x = accept4(B.lfd, NULL, NULL, SOCK_CLOEXEC);
				if (x >= 0)
					close(x);
				B.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				continue;
			}
			return; /* EAGAIN, or a transient error: epoll calls again */
		}
		struct conn *c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		int rcvbuf = RCVBUF_BYTES;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
		struct ucred cred;
		socklen_t len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0) {
			c->peer_pid = cred.pid;
			uint64_t start;
			if (tta_proc_start_time(cred.pid, &start) == 0) {
				struct client *cl = client_find(cred.pid, start);
				if (cl == NULL)
					cl = client_add(cred.pid, cred.uid, start);
				if (cl != NULL) {
					cl->refs++;
					c->client = cl;
				}
			}
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(B.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			if (c->client)
				c->client->refs--;
			close(fd);
			free(c);
			continue;
		}
		B.connections++;
	}
}

/* ---- start and stop ----------------------------------------------------------- */

static int listen_on(const char *path)
{
	struct sockaddr_un addr;
	if (strlen(path) >= sizeof addr.sun_path) {
		logf_("socket path too long: %s", path);
		return -1;
	}
	int probe = sock_connect(path);
	if (probe >= 0) {
		close(probe);
		logf_("a server already listens on %s; stop it first (this one exits)", path);
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			logf_("%s exists and is not a socket; remove it or choose --socket", path);
			return -1;
		}
		logf_("replacing the stale socket %s (nobody listens on it)", path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		logf_("socket: %s", strerror(errno));
		return -1;
	}
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	mode_t old = umask(0);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	/* Old clients of every user connected to the old server: 0666 like it. */
	if (rc < 0 || chmod(path, 0666) < 0 || listen(fd, 1024) < 0) {
		logf_("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (stat(path, &st) == 0)
		B.sock_ino = st.st_ino;
	return fd;
}

static void adopt_slots(void)
{
	unsigned adopted = 0;
	for (uint32_t i = 0; i < B.seg.geo.slot_capacity; i++) {
		struct tta_slot *s = tta_slot_at(&B.seg, i);
		uint64_t st = ck_pr_load_64(&s->state);
		if (TTA_SLOT_PHASE(st) != TTA_SLOT_LIVE ||
		    ck_pr_load_64(&s->proxy_tag) != TTA_PROXY_TAG)
			continue;
		int32_t pid = TTA_SLOT_PID(st);
		uint64_t start = ck_pr_load_64(&s->start_time);
		if (tta_proc_incarnation_alive(pid, start) != 1)
			continue; /* dead: the reaper's (or the next writer's) job */
		struct tta_proxy *p;
		if (tta_proxy_adopt(&B.seg, i, st, &p) != 0)
			continue;
		struct client *c = client_add(pid, ck_pr_load_32(&s->uid), start);
		if (c == NULL) {
			tta_proxy_forget(p);
			continue;
		}
		c->proxy = p;
		adopted++;
		logf_("adopted slot %u of pid %d (%llu live buffers)", i, (int)pid,
		      (unsigned long long)tta_proxy_live_buffers(p));
	}
	if (adopted && verbose)
		logf_("adopted %u slots", adopted);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static bool reaper_running(void)
{
	struct tta_reaper_judgement j;
	tta_reaper_judge(&B.seg, &j);
	return j.status == TTA_REAPER_STATUS_RUNNING;
}

static void log_summary(void)
{
	char line[512];
	int n = snprintf(line, sizeof line, "stopping: %llu connections, %llu messages",
			 (unsigned long long)B.connections, (unsigned long long)B.messages);
	for (int v = BRIDGE_BAD_TYPE; v < BRIDGE_VERDICTS && n < (int)sizeof line; v++)
		if (verdict_count[v])
			n += snprintf(line + n, sizeof line - (size_t)n, ", %llu %s",
				      (unsigned long long)verdict_count[v], bridge_verdict_name(v));
	for (int k = 0; k < BAD_KINDS && n < (int)sizeof line; k++)
		if (bad_count[k])
			n += snprintf(line + n, sizeof line - (size_t)n, ", %llu %s",
				      (unsigned long long)bad_count[k], bad_names[k]);
	logf_("%s", line);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " NAME " [OPTION]...\n"
		"Serve the old allocation server's socket protocol from the tt-alloc segment:\n"
		"old reporters (ALLOC/FREE) appear in tt-smi under their own pid, old query\n"
		"clients (QUERY) read totals that include every writer on the host.\n"
		"\n"
		"      --socket PATH      listen here (default %s)\n"
		"  -s, --segment NAME     segment (default $TT_ALLOC_SHM or /tt_alloc), created\n"
		"                         if missing\n"
		"      --spin-us N        after traffic, poll N microseconds before sleeping\n"
		"                         (default %u; 0: sleep at once). Saves the client a\n"
		"                         wake-up per message, costs up to N us of CPU a burst\n"
		"  -v, --verbose          also log new clients and reaped ones\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n"
		"\n"
		"Runs until SIGTERM or SIGINT (exit 0). Exit status 2: usage, segment or\n"
		"socket error (a live server already on PATH).\n",
		SOCK_DEFAULT_PATH, DEFAULT_SPIN_US);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "segment", required_argument, NULL, 's' },
		{ "spin-us", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":s:vhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'S':
			B.socket_path = optarg;
			break;
		case 's':
			B.segment = optarg;
			break;
		case 'P': {
			char *end;
			errno = 0;
			unsigned long us = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || us > 1000000) {
				fprintf(stderr, NAME ": --spin-us takes 0 to 1000000, got '%s'\n",
					optarg);
				return 2;
			}
			B.spin_ns = (uint64_t)us * 1000u;
			break;
		}
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(NAME " " TT_ALLOC_BRIDGE_VERSION "\n");
			return 0;
		default: {
			char msg[128];
			fprintf(stderr, NAME ": %s\n",
				tta_option_error(ch, argv, longopts, msg, sizeof msg));
			usage(stderr);
			return 2;
		}
		}
	}
	if (optind != argc) {
		fprintf(stderr, NAME ": unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	char err[TTA_ERR_MAX];
	struct tta_create_params params;
	if (tta_create_params_from_env(&params, err, sizeof err) != 0 ||
	    tta_segment_open(B.segment, TTA_OPEN_CREATE, &params, &B.seg, err, sizeof err) != 0) {
		logf_("%s", err);
		return 2;
	}
	/* One bridge per segment: two would both adopt the same client slots and
	 * write them concurrently. The lock goes with the process, even on
	 * SIGKILL, so a restarted bridge always gets it. */
	int lockfd = shm_open(B.seg.name, O_RDONLY | O_CLOEXEC, 0); /* kept open */
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		logf_("another tt-alloc-bridge serves segment %s (one bridge per segment)",
		      B.seg.name);
		return 2;
	}
	if (tta_reader_open(B.seg.name, &B.reader, err, sizeof err) != 0) {
		logf_("%s", err);
		return 2;
	}
	B.lfd = listen_on(B.socket_path);
	if (B.lfd < 0)
		return 2;
	adopt_slots();

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	B.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	B.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	timerfd_settime(B.tfd, 0, &its, NULL);
	B.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	B.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (B.sigfd < 0 || B.tfd < 0 || B.epfd < 0) {
		logf_("cannot set up the event loop: %s", strerror(errno));
		unlink(B.socket_path);
		return 1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &B.lfd };
	epoll_ctl(B.epfd, EPOLL_CTL_ADD, B.lfd, &ev);
	ev.data.ptr = &B.sigfd;
	epoll_ctl(B.epfd, EPOLL_CTL_ADD, B.sigfd, &ev);
	ev.data.ptr = &B.tfd;
	epoll_ctl(B.epfd, EPOLL_CTL_ADD, B.tfd, &ev);
	logf_("listening on %s, segment %s", B.socket_path, B.seg.name);

	bool running = true;
	uint64_t spin_until = 0; /* poll without sleeping until then */
	while (running) {
		struct epoll_event evs[64];
		int n = epoll_wait(B.epfd, evs, 64, spin_until ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			logf_("epoll_wait: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			if (tta_now_mono_ns() >= spin_until)
				spin_until = 0; /* quiet for spin-us: sleep in epoll_wait */
			else
				sched_yield(); /* a client woken on this CPU runs first */
			continue;
		}
		bool traffic = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &B.lfd) {
				accept_all();
			} else if (p == &B.sigfd) {
				struct signalfd_siginfo si;
				while (read(B.sigfd, &si, sizeof si) == sizeof si)
					running = false;
			} else if (p == &B.tfd) {
				uint64_t ticks;
				while (read(B.tfd, &ticks, sizeof ticks) > 0) {
				}
				if (!reaper_running())
					tta_reap_dead(&B.seg, 0, NULL, NULL);
				clients_sweep();
			} else {
				struct conn *c = p;
				if (evs[i].events & EPOLLOUT) {
					if (!conn_flush(c)) {
						conn_close(c);
						continue;
					}
				}
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
					conn_readable(c);
					traffic = true;
				}
			}
		}
		if (traffic && B.spin_ns > 0)
			spin_until = tta_now_mono_ns() + B.spin_ns;
	}
	/* Remove the socket only if it is still ours (not a successor's). */
	struct stat st;
	if (stat(B.socket_path, &st) == 0 && st.st_ino == B.sock_ino)
		unlink(B.socket_path);
	log_summary();
	/* Client slots stay LIVE: the processes still run, and a restarted
	 * bridge adopts them; the reaper reaps them when they exit. */
	for (size_t i = 0; i < B.nclients; i++) {
		tta_proxy_forget(B.clients[i]->proxy);
		free(B.clients[i]);
	}
	free(B.clients);
	tta_reader_close(B.reader);
	tta_segment_close(&B.seg);
	return 0;
}
