/*
 * sock_client.c - client side of the socket baseline (see sock_proto.h).
 *
 * Models the old AllocationClient's per-report work: zero a message, fill
 * getpid() and a wall-clock timestamp, take the process's socket mutex and
 * do one blocking send(). Nothing here batches or caches beyond what that
 * client did, so the measured cost is the design's, not a strawman's.
 */
#include "sock_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int sock_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sock_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n == 0)
			return -ENODATA;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sock_connect(const char *path)
{
	struct sockaddr_un addr;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int sock_client_open(struct sock_client *c, const char *path)
{
	int fd = sock_connect(path);
	if (fd < 0)
		return fd;
	int sndbuf = 1 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->fd = fd;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void sock_client_close(struct sock_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	pthread_mutex_destroy(&c->lock);
}

static uint64_t wall_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int send_locked(struct sock_client *c, const struct sock_msg *m)
{
	pthread_mutex_lock(&c->lock);
	int rc = sock_write_full(c->fd, m, sizeof(*m));
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int sock_client_alloc(struct sock_client *c, int device, uint64_t address, uint64_t size,
		      int sock_type)
{
	struct sock_msg m;
	memset(&m, 0, sizeof(m));
	m.type = SOCK_MSG_ALLOC;
	m.device_id = device;
	m.size = size;
	m.buffer_type = (uint8_t)sock_type;
	m.process_id = getpid();
	m.buffer_id = address;
	m.timestamp = wall_clock_ns();
	return send_locked(c, &m);
}

int sock_client_free(struct sock_client *c, int device, uint64_t address)
{
	struct sock_msg m;
	memset(&m, 0, sizeof(m));
	m.type = SOCK_MSG_FREE;
	m.device_id = device;
	m.process_id = getpid();
	m.buffer_id = address;
	m.timestamp = wall_clock_ns();
	return send_locked(c, &m);
}

int sock_client_query(struct sock_client *c, int device, uint64_t *totals)
{
	struct sock_msg m;
	memset(&m, 0, sizeof(m));
	m.type = SOCK_MSG_QUERY;
	m.device_id = device;
	pthread_mutex_lock(&c->lock);
	int rc = sock_write_full(c->fd, &m, sizeof(m));
	if (rc == 0)
		rc = sock_read_full(c->fd, &m, sizeof(m));
	pthread_mutex_unlock(&c->lock);
	if (rc != 0)
		return rc;
	if (m.type != SOCK_MSG_RESPONSE)
		return -EPROTO;
	if (totals) {
		totals[SOCK_TYPE_DRAM] = m.dram_allocated;
		totals[SOCK_TYPE_L1] = m.l1_allocated;
		totals[SOCK_TYPE_L1_SMALL] = m.l1_small_allocated;
		totals[SOCK_TYPE_TRACE] = m.trace_allocated;
	}
	return 0;
}

int sock_client_alloc_batch(struct sock_client *c, int device, const uint64_t *addresses,
			    const uint64_t *sizes, const int *types, size_t n)
{
	enum { BATCH = 256 };
	struct sock_msg msgs[BATCH];
	int32_t pid = getpid();
	while (n > 0) {
		size_t k = n < BATCH ? n : BATCH;
		memset(msgs, 0, k * sizeof(msgs[0]));
		uint64_t now = wall_clock_ns();
		for (size_t i = 0; i < k; i++) {
			msgs[i].type = SOCK_MSG_ALLOC;
			msgs[i].device_id = device;
			msgs[i].size = sizes[i];
			msgs[i].buffer_type = (uint8_t)types[i];
			msgs[i].process_id = pid;
			msgs[i].buffer_id = addresses[i];
			msgs[i].timestamp = now;
		}
		pthread_mutex_lock(&c->lock);
		int rc = sock_write_full(c->fd, msgs, k * sizeof(msgs[0]));
		pthread_mutex_unlock(&c->lock);
		if (rc != 0)
			return rc;
		addresses += k;
		sizes += k;
		types += k;
		n -= k;
	}
	return 0;
}
