/*
 * tt-alloc-socket-server - BASELINE: the older socket-based allocation
 * server, rebuilt in C from its public description for the benchmark.
 * It is not part of tt-alloc; docs/bench.md explains what it models.
 *
 * Structure, as described for the old server:
 *  - a Unix stream socket (default /tmp/tt_allocation_server.sock);
 *  - the main thread accept()s; each client connection gets its own
 *    detached thread that reads fixed 112-byte messages (sock_proto.h);
 *  - live allocations sit in one hash map keyed by (device, buffer id),
 *    guarded by one mutex (the old server: std::unordered_map + std::mutex;
 *    here a chained map that grows at load factor 1 like the std one);
 *  - per-device totals are atomics, so QUERY never takes the mutex;
 *  - dead processes: a background thread checks every owner pid with
 *    kill(pid, 0) every --scan-interval seconds (documented: 10 s) and drops
 *    their allocations. With --cleanup-on-disconnect a connection's handler
 *    also drops the allocations of the pids it served when the connection
 *    closes (the reference says the server "detects disconnection"); the
 *    benchmark uses that, the most favourable reading of the design.
 *
 * Usage: tt-alloc-socket-server [--socket PATH] [--scan-interval SEC]
 *                               [--cleanup-on-disconnect] [--verbose]
 * Exit status: 0 on SIGINT/SIGTERM, 2 on usage or socket errors.
 */
#include "sock_proto.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- the allocation registry: chained hash map under one mutex ---------- */

struct buffer_info {
	uint64_t buffer_id;
	int32_t device_id;
	uint64_t size;
	uint8_t type; /* old numbering */
	int32_t owner_pid;
	uint64_t alloc_time_ns;
};

struct map_node {
	struct map_node *next;
	uint64_t hash; /* cached, as libstdc++ does for non-trivial hashes */
	int32_t key_device;
	uint64_t key_buffer_id;
	struct buffer_info info;
};

struct registry {
	pthread_mutex_t lock;
	struct map_node **buckets;
	size_t bucket_count; /* power of two */
	size_t size;
};

static struct registry registry = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct device_stats {
	_Atomic uint64_t allocated[SOCK_TYPES];
	_Atomic uint64_t num_buffers;
};
static struct device_stats device_stats[SOCK_MAX_DEVICES];

static struct {
	const char *socket_path;
	unsigned scan_interval_s;
	bool cleanup_on_disconnect;
	bool verbose;
} opt = { SOCK_DEFAULT_PATH, 10, false, false };

static _Atomic uint64_t unknown_frees, bad_messages;

static uint64_t key_hash(int32_t device, uint64_t buffer_id)
{
	uint64_t x = buffer_id ^ ((uint64_t)(uint32_t)device << 56) ^ UINT64_C(0x9e3779b97f4a7c15);
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static int registry_init(void)
{
	registry.bucket_count = 16;
	registry.buckets = calloc(registry.bucket_count, sizeof(*registry.buckets));
	return registry.buckets ? 0 : -ENOMEM;
}

/* Caller holds the lock. Doubling at load factor 1 keeps chains short, as
 * std::unordered_map's default max_load_factor does. */
static void registry_grow_locked(void)
{
	size_t n = registry.bucket_count * 2;
	struct map_node **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < registry.bucket_count; i++) {
		struct map_node *node = registry.buckets[i];
		while (node) {
			struct map_node *next = node->next;
			size_t b = node->hash & (n - 1);
			node->next = nb[b];
			nb[b] = node;
			node = next;
		}
	}
	free(registry.buckets);
	registry.buckets = nb;
	registry.bucket_count = n;
}

static struct map_node **registry_find_locked(int32_t device, uint64_t buffer_id, uint64_t h)
{
	struct map_node **link = &registry.buckets[h & (registry.bucket_count - 1)];
	while (*link) {
		struct map_node *n = *link;
		if (n->hash == h && n->key_device == device && n->key_buffer_id == buffer_id)
			return link;
		link = &n->next;
	}
	return link;
}

static void stats_add(const struct buffer_info *b)
{
	struct device_stats *s = &device_stats[b->device_id];
	atomic_fetch_add_explicit(&s->allocated[b->type], b->size, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->num_buffers, 1, memory_order_relaxed);
}

static void stats_sub(const struct buffer_info *b)
{
	struct device_stats *s = &device_stats[b->device_id];
	atomic_fetch_sub_explicit(&s->allocated[b->type], b->size, memory_order_relaxed);
	atomic_fetch_sub_explicit(&s->num_buffers, 1, memory_order_relaxed);
}

static void handle_alloc(const struct sock_msg *m)
{
	struct buffer_info info = {
		.buffer_id = m->buffer_id,
		.device_id = m->device_id,
		.size = m->size,
		.type = m->buffer_type,
		.owner_pid = m->process_id,
		.alloc_time_ns = m->timestamp,
	};
	uint64_t h = key_hash(m->device_id, m->buffer_id);
	struct map_node *fresh = malloc(sizeof(*fresh));
	if (!fresh)
		return;
	pthread_mutex_lock(&registry.lock);
	struct map_node **link = registry_find_locked(m->device_id, m->buffer_id, h);
	if (*link) {
		/* Same address reported again: the new report replaces the old. */
		stats_sub(&(*link)->info);
		(*link)->info = info;
		pthread_mutex_unlock(&registry.lock);
		free(fresh);
	} else {
		fresh->next = NULL;
		fresh->hash = h;
		fresh->key_device = m->device_id;
		fresh->key_buffer_id = m->buffer_id;
		fresh->info = info;
		*link = fresh;
		if (++registry.size > registry.bucket_count)
			registry_grow_locked();
		pthread_mutex_unlock(&registry.lock);
	}
	stats_add(&info);
	if (opt.verbose)
		printf("[Device %d] ALLOC: %llu bytes type %u by PID %d (buffer 0x%llx)\n",
		       m->device_id, (unsigned long long)m->size, m->buffer_type, m->process_id,
		       (unsigned long long)m->buffer_id);
}

static void handle_free(const struct sock_msg *m)
{
	uint64_t h = key_hash(m->device_id, m->buffer_id);
	pthread_mutex_lock(&registry.lock);
	struct map_node **link = registry_find_locked(m->device_id, m->buffer_id, h);
	struct map_node *gone = *link;
	if (gone) {
		*link = gone->next;
		registry.size--;
	}
	pthread_mutex_unlock(&registry.lock);
	if (!gone) {
		atomic_fetch_add_explicit(&unknown_frees, 1, memory_order_relaxed);
		return;
	}
	stats_sub(&gone->info);
	if (opt.verbose)
		printf("[Device %d] FREE: buffer 0x%llx by PID %d\n", m->device_id,
		       (unsigned long long)m->buffer_id, m->process_id);
	free(gone);
}

static void handle_query(int fd, const struct sock_msg *m)
{
	struct sock_msg r;
	memset(&r, 0, sizeof(r));
	r.type = SOCK_MSG_RESPONSE;
	r.device_id = m->device_id;
	if (m->device_id >= 0 && m->device_id < SOCK_MAX_DEVICES) {
		struct device_stats *s = &device_stats[m->device_id];
		r.dram_allocated = atomic_load_explicit(&s->allocated[SOCK_TYPE_DRAM], memory_order_relaxed);
		r.l1_allocated = atomic_load_explicit(&s->allocated[SOCK_TYPE_L1], memory_order_relaxed);
		r.l1_small_allocated =
			atomic_load_explicit(&s->allocated[SOCK_TYPE_L1_SMALL], memory_order_relaxed);
		r.trace_allocated = atomic_load_explicit(&s->allocated[SOCK_TYPE_TRACE], memory_order_relaxed);
		r.is_available = 1;
	}
	r.num_devices = SOCK_MAX_DEVICES;
	(void)sock_write_full(fd, &r, sizeof(r));
}

/* Drops every allocation whose owner satisfies DEAD(pid). Walks the whole
 * map under the mutex, as an erase-if over a std::unordered_map would.
 * Returns how many were dropped. */
static size_t drop_allocations_if(bool (*dead)(int32_t pid, void *ctx), void *ctx)
{
	size_t dropped = 0;
	pthread_mutex_lock(&registry.lock);
	for (size_t b = 0; b < registry.bucket_count; b++) {
		struct map_node **link = &registry.buckets[b];
		while (*link) {
			struct map_node *n = *link;
			if (dead(n->info.owner_pid, ctx)) {
				*link = n->next;
				registry.size--;
				stats_sub(&n->info);
				free(n);
				dropped++;
			} else {
				link = &n->next;
			}
		}
	}
	pthread_mutex_unlock(&registry.lock);
	return dropped;
}

/* ---- connections -------------------------------------------------------- */

#define PIDS_PER_CONNECTION 8

struct connection {
	int fd;
	int32_t pids[PIDS_PER_CONNECTION]; /* processes this connection reported for */
	unsigned npids;
};

static void remember_pid(struct connection *c, int32_t pid)
{
	for (unsigned i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			return;
	if (c->npids < PIDS_PER_CONNECTION)
		c->pids[c->npids++] = pid;
}

static bool pid_in_connection(int32_t pid, void *ctx)
{
	const struct connection *c = ctx;
	for (unsigned i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			return true;
	return false;
}

static bool message_valid(const struct sock_msg *m)
{
	if (m->type == SOCK_MSG_QUERY)
		return true;
	if (m->device_id < 0 || m->device_id >= SOCK_MAX_DEVICES)
		return false;
	if (m->type == SOCK_MSG_ALLOC)
		return m->buffer_type < SOCK_TYPES;
	return m->type == SOCK_MSG_FREE;
}

static void *connection_main(void *arg)
{
	struct connection *c = arg;
	struct sock_msg m;
	while (sock_read_full(c->fd, &m, sizeof(m)) == 0) {
		if (!message_valid(&m)) {
			atomic_fetch_add_explicit(&bad_messages, 1, memory_order_relaxed);
			continue;
		}
		switch (m.type) {
		case SOCK_MSG_ALLOC:
			remember_pid(c, m.process_id);
			handle_alloc(&m);
			break;
		case SOCK_MSG_FREE:
			remember_pid(c, m.process_id);
			handle_free(&m);
			break;
		case SOCK_MSG_QUERY:
			handle_query(c->fd, &m);
			break;
		}
	}
	if (opt.cleanup_on_disconnect && c->npids > 0) {
		size_t n = drop_allocations_if(pid_in_connection, c);
		if (opt.verbose && n > 0)
			printf("connection closed: dropped %zu allocations\n", n);
	}
	close(c->fd);
	free(c);
	return NULL;
}

/* ---- background dead-process scan --------------------------------------- */

struct pid_set {
	int32_t *pids;
	size_t n, cap;
};

static bool pid_set_has(const struct pid_set *s, int32_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->pids[i] == pid)
			return true;
	return false;
}

static bool pid_is_dead(int32_t pid, void *ctx)
{
	return pid_set_has(ctx, pid);
}

static void *scanner_main(void *arg)
{
	(void)arg;
	for (;;) {
		sleep(opt.scan_interval_s);
		struct pid_set owners = { 0 }, dead = { 0 };
		pthread_mutex_lock(&registry.lock);
		for (size_t b = 0; b < registry.bucket_count; b++)
			for (struct map_node *n = registry.buckets[b]; n; n = n->next) {
				if (pid_set_has(&owners, n->info.owner_pid))
					continue;
				if (owners.n == owners.cap) {
					size_t cap = owners.cap ? owners.cap * 2 : 16;
					int32_t *p = realloc(owners.pids, cap * sizeof(*p));
					if (!p)
						break;
					owners.pids = p;
					owners.cap = cap;
				}
				owners.pids[owners.n++] = n->info.owner_pid;
			}
		pthread_mutex_unlock(&registry.lock);
		dead.pids = malloc((owners.n + 1) * sizeof(int32_t));
		if (dead.pids) {
			for (size_t i = 0; i < owners.n; i++)
				if (kill(owners.pids[i], 0) < 0 && errno == ESRCH)
					dead.pids[dead.n++] = owners.pids[i];
			if (dead.n > 0) {
				size_t dropped = drop_allocations_if(pid_is_dead, &dead);
				if (opt.verbose)
					printf("scan: %zu dead processes, dropped %zu allocations\n", dead.n,
					       dropped);
			}
		}
		free(dead.pids);
		free(owners.pids);
	}
	return NULL;
}

/* ---- main --------------------------------------------------------------- */

static void on_terminate(int sig)
{
	(void)sig;
	unlink(opt.socket_path);
	_exit(0);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tt-alloc-socket-server [--socket PATH] [--scan-interval SEC]\n"
		"                              [--cleanup-on-disconnect] [--verbose]\n"
		"Benchmark baseline: the old socket-based allocation server (see docs/bench.md).\n"
		"  --socket PATH            listen here (default %s)\n"
		"  --scan-interval SEC      dead-process scan period, 0 = never (default 10)\n"
		"  --cleanup-on-disconnect  also drop a connection's allocations when it closes\n"
		"  --verbose                print every event\n",
		SOCK_DEFAULT_PATH);
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "tt-alloc-socket-server: socket path too long: %s\n", path);
		return -1;
	}
	int probe = sock_connect(path);
	if (probe >= 0) {
		close(probe);
		fprintf(stderr, "tt-alloc-socket-server: a server already listens on %s\n", path);
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* stale socket of a server that died */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "tt-alloc-socket-server: socket: %s\n", strerror(errno));
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "tt-alloc-socket-server: cannot listen on %s: %s\n", path,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "scan-interval", required_argument, NULL, 'i' },
		{ "cleanup-on-disconnect", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "s:i:cvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			opt.socket_path = optarg;
			break;
		case 'i': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v > 86400) {
				fprintf(stderr, "tt-alloc-socket-server: bad --scan-interval: %s\n", optarg);
				return 2;
			}
			opt.scan_interval_s = (unsigned)v;
			break;
		}
		case 'c':
			opt.cleanup_on_disconnect = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (registry_init() != 0) {
		fprintf(stderr, "tt-alloc-socket-server: out of memory\n");
		return 2;
	}
	int lfd = listen_on(opt.socket_path);
	if (lfd < 0)
		return 2;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_terminate;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opt.verbose)
		setvbuf(stdout, NULL, _IOLBF, 0);

	pthread_attr_t detached;
	pthread_attr_init(&detached);
	pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
	pthread_t tid;
	if (opt.scan_interval_s > 0 && pthread_create(&tid, &detached, scanner_main, NULL) != 0) {
		fprintf(stderr, "tt-alloc-socket-server: cannot start the scan thread\n");
		return 2;
	}
	printf("tt-alloc-socket-server: listening on %s\n", opt.socket_path);
	fflush(stdout);

	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(10000);
				continue;
			}
			fprintf(stderr, "tt-alloc-socket-server: accept: %s\n", strerror(errno));
			unlink(opt.socket_path);
			return 2;
		}
		struct connection *c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		if (pthread_create(&tid, &detached, connection_main, c) != 0) {
			close(cfd);
			free(c);
		}
	}
}
