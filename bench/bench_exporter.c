/*
 * bench_exporter.c - section l: what one Prometheus scrape of
 * tt-alloc-exporter costs on a big host: 256 tracked processes, each on 4
 * of 64 devices (1024 process rows, 3072 buffers).
 *
 * Figures, same segment, same run:
 *   snapshot (+ process details, + tags)   tta_snapshot_take plain (what
 *                       /metrics takes), with TTA_SNAPSHOT_PROCESS_DETAILS
 *                       (the background snapshot's), and with
 *                       TTA_SNAPSHOT_TAGS (the tag rows of
 *                       tt_alloc_tag_used_bytes: every record read),
 *                       thread CPU time
 *   metrics text        tte_metrics_write of the plain snapshot (what /metrics
 *                       serves; details only every 5 s) into memory (the
 *                       writer the exporter serves, exporter/metrics.c,
 *                       linked here), thread CPU time
 *   HTTP scrape         GET /metrics from build/tt-alloc-exporter over a
 *                       loopback keep-alive connection (as Prometheus
 *                       reuses its own): wall time to the last byte, and
 *                       the CPU time the daemon spent on it
 * The bound: a scrape under 5 ms (target line at the end), judged
 * on the daemon's CPU per scrape; the wall time is printed beside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/tt_alloc.h>

#include "bench.h"
#include "metrics.h"

#define J_PROCESSES 256
#define J_DEVICES_EACH 4
#define J_DEVICES 64

struct j_ctl {
	int ready, failed;
};

struct j_job {
	unsigned index;
	int release_rfd, release_wfd;
	struct j_ctl *ctl;
};

/* One tracked process: DRAM, L1 and L1_SMALL buffers and a kernel on each
 * of its 4 devices, under the tags a model would use (weights, activations,
 * none), then it waits to be released. */
static int j_child(void *arg)
{
	struct j_job *job = arg;
	for (unsigned k = 0; k < J_DEVICES_EACH; k++) {
		uint32_t dev = (job->index * J_DEVICES_EACH + k) % J_DEVICES;
		struct tta_device_info info;
		tta_device_info_wormhole_b0(&info, 72);
		tta_register_device(dev, &info);
		uint64_t base = 0x100000000ull + (uint64_t)k * 0x1000000ull;
		tta_set_tag("weights");
		tta_report_alloc(dev, base, (64u + job->index) << 20, TTA_MEM_DRAM);
		tta_set_tag("activations");
		tta_report_alloc(dev, base + 0x100000, (1u + k) << 20, TTA_MEM_L1);
		tta_set_tag(NULL);
		tta_report_alloc(dev, base + 0x200000, 64u << 10, TTA_MEM_L1_SMALL);
		tta_report_kernel_load(dev, k, 12u << 10, TTA_KERNEL_APPLICATION);
	}
	if (tta_track_state() != TTA_TRACK_ATTACHED)
		__atomic_fetch_add(&job->ctl->failed, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&job->ctl->ready, 1, __ATOMIC_SEQ_CST);
	close(job->release_wfd);
	char c;
	while (read(job->release_rfd, &c, 1) < 0 && errno == EINTR)
		;
	tta_track_detach();
	return 0;
}

/* ---- a minimal HTTP/1.1 client for one keep-alive connection ------------ */

static int http_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET PATH on FD; returns the body length, or -1. BUF grows as needed. */
static ssize_t http_get(int fd, const char *path, char **buf, size_t *cap)
{
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	size_t got = 0, need = 0, head = 0;
	for (;;) {
		if (got == *cap) {
			*cap = *cap ? *cap * 2 : 1 << 20;
			char *nb = realloc(*buf, *cap);
			if (!nb)
				return -1;
			*buf = nb;
		}
		ssize_t r = read(fd, *buf + got, *cap - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
		if (!head) {
			char *end = memmem(*buf, got, "\r\n\r\n", 4);
			if (!end)
				continue;
			head = (size_t)(end - *buf) + 4;
			char *cl = memmem(*buf, head, "Content-Length: ", 16);
			if (!cl || strncmp(*buf, "HTTP/1.1 200", 12) != 0)
				return -1;
			need = head + strtoull(cl + 16, NULL, 10);
		}
		if (got >= need)
			return (ssize_t)(need - head);
	}
}

/* Starts the exporter on a port it picks, with OPTION (or NULL); returns
 * its pid and the port. */
static pid_t exporter_start(int *port, char *option)
{
	char bin[4300], log[300], listen_arg[] = "127.0.0.1:0";
	snprintf(bin, sizeof bin, "%s/tt-alloc-exporter", cfg.self_dir);
	snprintf(log, sizeof log, "%s/exporter%s.log", cfg.tmpdir, option ? option : "");
	char *argv[] = { bin, "--listen", listen_arg, "--segment", cfg.shm_name, option, NULL };
	if (access(bin, X_OK) != 0)
		return -1;
	pid_t pid = spawn_exec(argv, log);
	uint64_t deadline = now_ns() + 10000000000ull;
	while (pid > 0 && now_ns() < deadline) {
		FILE *f = fopen(log, "re");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			char *at = strstr(line, "listening on http://127.0.0.1:");
			if (at) {
				*port = atoi(at + strlen("listening on http://127.0.0.1:"));
				fclose(f);
				return pid;
			}
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		wait_child(pid);
	}
	return -1;
}

#define J_MAX_REPS 64

/* CPU time of the calling thread: what the work costs, whatever else the
 * machine runs (wall time on a shared 2-core machine mostly measures the
 * queue for a core). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t write_metrics(const tta_snapshot *snap, char **buf)
{
	size_t len = 0;
	FILE *mem = open_memstream(buf, &len);
	struct tte_metrics_options opt = { .version = "bench", .per_process = true,
					   .max_tags = TTE_DEFAULT_MAX_TAGS };
	if (!mem)
		return 0;
	tte_metrics_write(snap, &opt, mem);
	fclose(mem);
	return len;
}

/* REPS scrapes of /metrics through the daemon; returns the body length. */
static ssize_t measure_http(pid_t exporter, int port, unsigned reps, const char *column)
{
	/* Through the daemon: wall time until the last byte, and the CPU the
	 * exporter spent (all its threads, /proc/PID/task/N/schedstat). */
	unsigned got = 0;
	int fd = port > 0 ? http_connect(port) : -1;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t body = -1;
	double http_ms[J_MAX_REPS];
	uint64_t cpu0 = 0;
	for (unsigned i = 0; fd >= 0 && i <= reps; i++) {
		if (i == 1)
			cpu0 = proc_cpu_ns(exporter);
		uint64_t t0 = now_ns();
		body = http_get(fd, "/metrics", &buf, &cap);
		if (body < 0)
			break;
		if (i > 0)
			http_ms[got++] = (double)(now_ns() - t0) / 1e6;
	}
	/* CPU accounting of another process's threads is updated when they
	 * sleep: one figure over the whole run, not one per scrape. */
	uint64_t cpu1 = proc_cpu_ns(exporter);
	if (fd >= 0)
		close(fd);
	free(buf);
	if (got > 0) {
		result_add('l', "HTTP scrape, wall", column, "ms", summarize(http_ms, got));
		result_add_value('l', "HTTP scrape, exporter CPU (mean)", column, "ms",
				 (double)(cpu1 - cpu0) / 1e6 / got);
	} else {
		result_note('l', "the HTTP scrape failed (is build/tt-alloc-exporter built?)");
	}
	return body;
}

static void measure(pid_t exporter, int port)
{
	tta_reader *r = NULL;
	char err[256];
	if (tta_reader_open(cfg.shm_name, &r, err, sizeof err) < 0) {
		result_note('l', "cannot open the segment: %s", err);
		return;
	}
	unsigned reps = cfg.quick ? 5 : 41;
	double plain_ms[J_MAX_REPS], details_ms[J_MAX_REPS], tags_ms[J_MAX_REPS];
	double text_ms[J_MAX_REPS];
	size_t rows = 0, tag_rows = 0, bytes = 0, samples = 0;
	unsigned done = 0;
	for (unsigned i = 0; i <= reps; i++) {
		tta_snapshot *plain = NULL, *snap = NULL, *tagged = NULL;
		uint64_t t0 = thread_cpu_ns();
		int rc = tta_snapshot_take(r, 0, -1, 0, &plain, err, sizeof err);
		uint64_t t1 = thread_cpu_ns();
		rc |= tta_snapshot_take(r, 0, -1, TTA_SNAPSHOT_PROCESS_DETAILS, &snap, err, sizeof err);
		uint64_t t2 = thread_cpu_ns();
		rc |= tta_snapshot_take(r, 0, -1, TTA_SNAPSHOT_TAGS, &tagged, err, sizeof err);
		uint64_t t2b = thread_cpu_ns();
		char *buf = NULL;
		bytes = rc == 0 ? write_metrics(tagged, &buf) : 0;
		uint64_t t3 = thread_cpu_ns();
		rows = rc == 0 ? tta_snapshot_process_count(snap) : 0;
		tag_rows = rc == 0 ? tta_snapshot_tag_count(tagged) : 0;
		samples = 0;
		for (size_t k = 0; k + 1 < bytes; k++)
			samples += buf[k] == '\n' && buf[k + 1] != '#';
		free(buf);
		tta_snapshot_free(plain);
		tta_snapshot_free(snap);
		tta_snapshot_free(tagged);
		if (rc != 0)
			break;
		if (i > 0) { /* the first round warms up */
			plain_ms[done] = (double)(t1 - t0) / 1e6;
			details_ms[done] = (double)(t2 - t1) / 1e6;
			tags_ms[done] = (double)(t2b - t2) / 1e6;
			text_ms[done] = (double)(t3 - t2b) / 1e6;
			done++;
		}
	}
	tta_reader_close(r);
	if (done == 0) {
		result_note('l', "no snapshot: %s", err);
		return;
	}
	result_add('l', "snapshot, CPU", "in-process", "ms", summarize(plain_ms, done));
	result_add('l', "snapshot + process details, CPU", "in-process", "ms",
		   summarize(details_ms, done));
	result_add('l', "snapshot + tags, CPU", "in-process", "ms", summarize(tags_ms, done));
	result_add('l', "metrics text, CPU", "in-process", "ms", summarize(text_ms, done));

	ssize_t body = measure_http(exporter, port, reps, "exporter");
	result_note('l', "%d processes x %d of %d devices: %zu process rows, %zu tag rows; "
		    "exposition %zu bytes, "
		    "%zu samples (HTTP body %zd bytes); per scrape, median [min..max] of %u. CPU "
		    "rows: thread CPU time (CLOCK_THREAD_CPUTIME_ID); exporter CPU: the daemon's "
		    "threads (schedstat); wall: request to last byte on a "
		    "keep-alive loopback connection (exporter CPU: the daemon's, all scrapes / N). "
		    "/metrics takes the snapshot with tags and without process details (the text "
		    "is of that one; 'no tags': the exporter run with --no-tag-metrics, which "
		    "takes the plain one); the exited_processes gauge comes from one with details "
		    "taken at most every 5 s",
		    J_PROCESSES, J_DEVICES_EACH, J_DEVICES, rows, tag_rows, bytes, samples, body,
		    done);
}

void run_exporter_scrape(void)
{
	struct j_ctl *ctl = shared_alloc(sizeof *ctl);
	pid_t *pids = calloc(J_PROCESSES, sizeof *pids);
	struct j_job *jobs = calloc(J_PROCESSES, sizeof *jobs);
	int release[2];
	if (!ctl || !pids || !jobs || pipe2(release, O_CLOEXEC) < 0) {
		free(pids);
		free(jobs);
		return;
	}
	fprintf(stderr, "tt-alloc-bench: l: %d tracked processes on %d devices, then scrapes\n",
		J_PROCESSES, J_DEVICES);
	for (unsigned i = 0; i < J_PROCESSES; i++) {
		jobs[i] = (struct j_job){ i, release[0], release[1], ctl };
		pids[i] = spawn_fn(j_child, &jobs[i]);
	}
	close(release[0]);
	while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) < J_PROCESSES)
		usleep(1000);
	if (ctl->failed)
		result_note('l', "%d of %d processes could not attach (segment full?)", ctl->failed,
			    J_PROCESSES);
	int port = 0;
	pid_t exporter = exporter_start(&port, NULL);
	measure(exporter, exporter > 0 ? port : -1);
	if (exporter > 0) {
		kill(exporter, SIGTERM);
		wait_child(exporter);
	}
	char no_tags[] = "--no-tag-metrics";
	exporter = exporter_start(&port, no_tags);
	if (exporter > 0) {
		measure_http(exporter, port, cfg.quick ? 5 : 41, "exporter, no tags");
		kill(exporter, SIGTERM);
		wait_child(exporter);
	}
	close(release[1]);
	for (unsigned i = 0; i < J_PROCESSES; i++)
		wait_child(pids[i]);
	free(pids);
	free(jobs);
	munmap(ctl, sizeof *ctl);
}
