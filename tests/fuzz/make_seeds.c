/*
 * make_seeds.c - writes the fuzz seed corpus: real segments, made by real
 * writer processes through libtrack, captured at several moments, in both
 * of the harness's input forms (see fuzz_segment.c).
 *
 *   tta-fuzz-seeds OUTDIR
 *
 * For each geometry of fuzz_geometry.h it creates a private segment and
 * captures it: (a) one live writer that registered a device and holds every
 * memory type on every device through every report call, with an odd
 * process name; (b) plus a writer SIGKILLed while holding memory (a dead,
 * unreaped slot) after misusing the API (shortfall counters move); (c) plus
 * writers filling every slot, one refused, and records overflowing.
 * Nothing is committed: seeds are made afresh at fuzz time from this build.
 * Exit status 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz_geometry.h"
#include "tt-alloc/reader.h"

static const char *outdir;
static unsigned seeds_written;

static int die(const char *what)
{
	fprintf(stderr, "tta-fuzz-seeds: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_file(const char *path, const uint8_t *prefix, size_t plen, const uint8_t *bytes,
		       size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(prefix, 1, plen, f) != plen || fwrite(bytes, 1, len, f) != len ||
	    fclose(f) != 0)
		die(path);
	seeds_written++;
}

/* Copies the segment file into two seeds: raw and structured. */
static void capture(const char *shm, unsigned geometry, const char *phase)
{
	char path[512];
	snprintf(path, sizeof path, "/dev/shm%s", shm);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path);
	struct stat st;
	if (fstat(fd, &st) != 0)
		die(path);
	uint8_t *buf = malloc((size_t)st.st_size);
	if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size)
		die("read segment");
	close(fd);
	uint8_t raw = 0;
	snprintf(path, sizeof path, "%s/g%u_%s_raw", outdir, geometry, phase);
	write_file(path, &raw, 1, buf, (size_t)st.st_size);
	static const uint8_t options[] = { 0x00, 0x03, 0x45 };
	for (unsigned i = 0; i < sizeof options; i++) {
		uint8_t head[3] = { 1, (uint8_t)geometry, options[i] };
		snprintf(path, sizeof path, "%s/g%u_%s_struct%u", outdir, geometry, phase, i);
		write_file(path, head, sizeof head, buf + FUZZ_MUTABLE_FROM,
			   (size_t)st.st_size - FUZZ_MUTABLE_FROM);
	}
	free(buf);
}

/* Forks a writer that runs FN, tells us when it is done through a pipe and
 * then waits to be killed. */
static pid_t writer(void (*fn)(unsigned), unsigned arg)
{
	int p[2];
	if (pipe(p) != 0)
		die("pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fn(arg);
		char c = 1;
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	if (read(p[0], &c, 1) != 1) {
		fprintf(stderr, "tta-fuzz-seeds: a writer died early\n");
		exit(1);
	}
	close(p[0]);
	return pid;
}

static void every_kind(unsigned devices)
{
	/* A name with UTF-8, a control character and no room for the NUL. */
	prctl(PR_SET_NAME, "w\xc3\xa9\x01r\xe2\x9c\x93xyzxyzx", 0, 0, 0);
	struct tta_device_info info;
	tta_device_info_wormhole_b0(&info, 72);
	tta_register_device(0, &info);
	for (uint32_t d = 0; d < devices; d++) {
		for (unsigned t = TTA_MEM_DRAM; t <= TTA_MEM_TRACE; t++)
			tta_report_alloc(d, 0x1000u * (t + 1), 4096u << t, (enum tta_mem_type)t);
		tta_report_alloc_handle(d, 0x90000, 12345, TTA_MEM_L1);
		tta_report_cb_alloc(d, 7, 2048u * 64);
		tta_report_kernel_load(d, 42, 8000, TTA_KERNEL_FABRIC);
	}
}

static void misuse_then_hold(unsigned devices)
{
	prctl(PR_SET_NAME, "\"quote\\back", 0, 0, 0);
	for (uint32_t d = 0; d < devices; d++)
		tta_report_alloc(d, 0xdead0000, (uint64_t)1 << 40, TTA_MEM_DRAM);
	tta_report_free(0, 0x1);                       /* unknown */
	tta_report_alloc(devices + 5, 1, 1, TTA_MEM_L1); /* bad device */
	tta_report_alloc(0, 1, 1, (enum tta_mem_type)99); /* bad argument */
	tta_report_alloc(0, 0xdead0000, 1, TTA_MEM_DRAM); /* collision */
	tta_handle h = tta_report_alloc_handle(0, 5, 5, TTA_MEM_TRACE);
	tta_report_free_handle(h);
	tta_report_free_handle(h); /* double */
}

static void many_records(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		tta_report_alloc(0, 0x100000u + i * 64u, 64u + i,
				 (enum tta_mem_type)(i % 5));
}

static void one_buffer(unsigned i)
{
	tta_report_alloc(0, 0x5000 + i, 100 + i, TTA_MEM_L1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: tta-fuzz-seeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		die(outdir);
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	setenv("TT_ALLOC_EVENTS", "1", 1); /* seeds hold every kind of event */
	setenv("TT_ALLOC_SHM_MODE", "0600", 1);
	for (unsigned g = 0; g < FUZZ_GEOMETRIES; g++) {
		const struct fuzz_geometry *fg = &fuzz_geometries[g];
		char shm[64], v[32];
		snprintf(shm, sizeof shm, "/tta_seed_%d_%u", (int)getpid(), g);
		setenv("TT_ALLOC_SHM", shm, 1);
		snprintf(v, sizeof v, "%u", fg->devices);
		setenv("TT_ALLOC_MAX_DEVICES", v, 1);
		snprintf(v, sizeof v, "%u", fg->slots);
		setenv("TT_ALLOC_MAX_PROCESSES", v, 1);
		snprintf(v, sizeof v, "%u", fg->records);
		setenv("TT_ALLOC_MAX_BUFFERS", v, 1);
		shm_unlink(shm);
		/* Created here with the harness's sizes, so the structured seeds
		 * line up with the segments it builds; writers attach to it. */
		struct tta_create_params params = { .devices = fg->devices, .slots = fg->slots,
						    .records = fg->records, .mode = 0600,
						    .core_only = !fg->extras, .sizes = FUZZ_SIZES };
		struct tta_segment created;
		char err[TTA_ERR_MAX];
		if (tta_segment_open(shm, TTA_OPEN_CREATE, &params, &created, err, sizeof err) != 0) {
			fprintf(stderr, "tta-fuzz-seeds: %s\n", err);
			return 1;
		}
		tta_segment_close(&created);

		pid_t pids[64];
		unsigned n = 0;
		pids[n++] = writer(every_kind, fg->devices);
		capture(shm, g, "live");
		if (fg->slots > 1) {
			pid_t victim = writer(misuse_then_hold, fg->devices);
			kill(victim, SIGKILL);
			waitpid(victim, NULL, 0);
			capture(shm, g, "dead");
		}
		while (n < fg->slots && n < 60)
			pids[n] = writer(n == 1 ? many_records : one_buffer,
					 n == 1 ? fg->records + 10 : n),
			n++;
		pid_t refused = writer(one_buffer, 99); /* no slot left: refused */
		capture(shm, g, "full");
		kill(refused, SIGKILL);
		waitpid(refused, NULL, 0);
		for (unsigned i = 0; i < n; i++) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		capture(shm, g, "alldead");
		shm_unlink(shm);
	}
	printf("tta-fuzz-seeds: %u seeds in %s\n", seeds_written, outdir);
	return 0;
}
