/*
 * proc.c - process identity from /proc.
 *
 * A pid alone does not name a process: pids are recycled. A slot therefore
 * records the pid together with the process's start time (field 22 of
 * /proc/PID/stat, clock ticks since boot), and "alive" means "that pid runs
 * and started at that time".
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tta_segment.h"

int tta_proc_start_time(pid_t pid, uint64_t *start_time)
{
	if (pid <= 0)
		return -EINVAL;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n == 0 ? -ESRCH : (e == ESRCH ? -ESRCH : -e);
	buf[n] = '\0';
	/* comm may contain spaces and ')' : the fields start after the LAST ')'. */
	char *p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -EPROTO;
	p += 2;
	char state = *p;
	if (state == 'Z' || state == 'X')
		return -ESRCH; /* exited, waiting to be collected: its slot is dead */
	/* p is at field 3 (state); starttime is field 22: skip 19 more fields. */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -EPROTO;
		p++;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno != 0 || end == p)
		return -EPROTO;
	*start_time = v;
	return 0;
}

uint64_t tta_self_pidns_ino(void)
{
	struct stat st;
	if (stat("/proc/self/ns/pid", &st) != 0)
		return 0;
	return (uint64_t)st.st_ino;
}

int tta_proc_incarnation_alive(pid_t pid, uint64_t start_time)
{
	uint64_t now_start = 0;
	int rc = tta_proc_start_time(pid, &now_start);
	if (rc == -ESRCH)
		return 0;
	if (rc != 0)
		return -1;
	return now_start == start_time ? 1 : 0;
}

bool tta_proc_is_ours(void)
{
	/* /proc/self names the reading process as /proc of ITS namespace sees it;
	 * in a pid namespace without its own /proc mount it names a host pid,
	 * and every pid we read there would belong to someone else. */
	char link[32];
	ssize_t n = readlink("/proc/self", link, sizeof link - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strtol(link, NULL, 10) == (long)getpid();
}

void tta_proc_read_text(const char *path, char *out, size_t cap, bool nul_to_space)
{
	memset(out, 0, cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, cap - 1);
	close(fd);
	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	for (ssize_t i = 0; i < n; i++) {
		if (out[i] == '\n' && !nul_to_space)
			out[i] = '\0';
		else if (out[i] == '\0' && nul_to_space && i < n - 1)
			out[i] = ' ';
	}
}
