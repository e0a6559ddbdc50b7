/*
 * bench_sources.c - section j: what reading the sources beside the segment
 * (<tt-alloc/sources.h>) costs one refresh. A fabricated host of 64 devices
 * (tt-kmd's class attributes, a hwmon directory each, the driver's pid
 * lists, /proc entries of the processes listed) and 64 TT-Metal segments,
 * under a private TT_ALLOC_SYSFS_ROOT, read by tta_snapshot_take(NULL, ...,
 * TTA_SNAPSHOT_SOURCES): the very call tt-smi and the exporter make, so the
 * figure is the library's own cost, not a model of it.
 *
 * The tree lives in /tmp (tmpfs or disk, as the machine has it). On a real
 * host each sysfs/hwmon read also reads the chip's telemetry over PCIe in
 * the driver (an ioread32 or two, about a microsecond), which this does not
 * include: the note under the section says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "tt-alloc/json.h"
#include "tt-alloc/reader.h"
#include "tt-alloc/sources.h"

#define HOST_DEVICES 64
#define REGION_BYTES 8576

static char host_root[300];

static int put(const char *rel, const void *data, size_t len)
{
	char path[600], dir[600];
	snprintf(path, sizeof path, "%s/%s", host_root, rel);
	snprintf(dir, sizeof dir, "%s", path);
	for (char *s = dir + strlen(host_root) + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			mkdir(dir, 0755);
			*s = '/';
		}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static int put_text(const char *rel, const char *text)
{
	return put(rel, text, strlen(text));
}

/* One device as tt-kmd shows a Wormhole: class attributes, hwmon, pids. */
static int make_device(unsigned n)
{
	static const char *const attrs[][2] = {
		{ "tt_card_type", "n300\n" }, { "tt_serial", "0000000100000042\n" },
		{ "tt_aiclk", "1000\n" }, { "tt_axiclk", "900\n" }, { "tt_arcclk", "540\n" },
		{ "tt_heartbeat", "12345\n" }, { "tt_fw_bundle_ver", "80.18.0.0\n" },
		{ "tt_m3app_fw_ver", "5.9.0.3\n" },
	};
	static const char *const hwmon[][2] = {
		{ "name", "wormhole\n" }, { "temp1_input", "45125\n" }, { "temp1_max", "75000\n" },
		{ "temp1_label", "asic1_temp\n" }, { "in0_input", "800\n" }, { "in0_max", "950\n" },
		{ "in0_label", "vcore1\n" }, { "curr1_input", "75000\n" }, { "curr1_max", "150000\n" },
		{ "curr1_label", "current1\n" }, { "power1_input", "60000000\n" },
		{ "power1_max", "150000000\n" }, { "power1_label", "power1\n" },
	};
	char rel[300], text[128];
	int rc = 0;
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
		snprintf(rel, sizeof rel, "sys/class/tenstorrent/tenstorrent!%u/%s", n, attrs[i][0]);
		rc |= put_text(rel, attrs[i][1]);
	}
	snprintf(rel, sizeof rel, "sys/class/tenstorrent/tenstorrent!%u/tt_asic_id", n);
	snprintf(text, sizeof text, "%016X\n", 0x1000 + n);
	rc |= put_text(rel, text);
	for (size_t i = 0; i < sizeof hwmon / sizeof hwmon[0]; i++) {
		snprintf(rel, sizeof rel, "sys/class/tenstorrent/tenstorrent!%u/device/hwmon/hwmon%u/%s",
			 n, n, hwmon[i][0]);
		rc |= put_text(rel, hwmon[i][1]);
	}
	/* Two TT-Metal processes (one file each), one that reports nothing
	 * (two files), and one of another pid namespace. */
	unsigned metal = 5000000 + 2 * n, stray = 5500000 + n;
	snprintf(rel, sizeof rel, "proc/driver/tenstorrent/%u/pids", n);
	snprintf(text, sizeof text, "%u\n%u\n%u\n%u\n0\n", metal, metal + 1, stray, stray);
	rc |= put_text(rel, text);
	unsigned pids[3] = { metal, metal + 1, stray };
	for (int i = 0; i < 3; i++) {
		snprintf(rel, sizeof rel, "proc/%u/comm", pids[i]);
		rc |= put_text(rel, i < 2 ? "python3\n" : "stray\n");
		snprintf(rel, sizeof rel, "proc/%u/status", pids[i]);
		rc |= put_text(rel, "Name:\tpython3\nUid:\t0\t0\t0\t0\n");
	}
	/* Its TT-Metal segment (version 4, docs/tt-metal-shm.md). */
	static unsigned char region[REGION_BYTES];
	memset(region, 0, sizeof region);
	uint32_t version = 4, ready = 0x52454459, unused = UINT32_MAX;
	uint64_t asic = 0x1000 + n, totals[5] = { 3u << 30, 1u << 20, 0, 1u << 24, 1u << 22 };
	memcpy(region, &version, 4);
	memcpy(region + 32, &asic, 8);
	memcpy(region + 48, totals, sizeof totals);
	for (int c = 1; c < 16; c++)
		memcpy(region + 88 + 48 * c, &unused, 4);
	for (int p = 0; p < 2; p++) {
		int32_t pid = (int32_t)(metal + (unsigned)p);
		uint64_t dram = 3ull << 29;
		memcpy(region + 856 + 120 * p, &pid, 4);
		memcpy(region + 856 + 120 * p + 8, &dram, 8);
		memcpy(region + 856 + 120 * p + 56, "python3", 7);
	}
	memcpy(region + 8536, &ready, 4);
	snprintf(rel, sizeof rel, "dev/shm/tt_device_%u_memory", 0x1000 + n);
	rc |= put(rel, region, sizeof region);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void sources_cleanup(void)
{
	if (host_root[0])
		nftw(host_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	host_root[0] = '\0';
}

/* Median µs per snapshot (taken and freed, plus JSON written if asked). */
static int time_snapshots(bool json, struct summary *out)
{
	unsigned reps = cfg.reps, batch = cfg.quick ? 3 : 20;
	double v[64];
	if (reps > 64)
		reps = 64;
	FILE *sink = json ? fopen("/dev/null", "we") : NULL;
	if (json && sink == NULL)
		return -1;
	for (unsigned r = 0; r <= reps; r++) {
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < batch; i++) {
			tta_snapshot *s;
			if (tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &s, NULL, 0) != 0) {
				if (sink)
					fclose(sink);
				return -1;
			}
			if (sink)
				tta_snapshot_write_json(s, "bench", "0", sink);
			tta_snapshot_free(s);
		}
		if (r > 0) /* the first batch warms the caches up */
			v[r - 1] = (double)(now_ns() - t0) / batch / 1000.0;
	}
	if (sink)
		fclose(sink);
	*out = summarize(v, reps);
	return 0;
}

int run_sources(void)
{
	snprintf(host_root, sizeof host_root, "%s/host", cfg.tmpdir);
	if (mkdir(host_root, 0755) != 0) {
		fprintf(stderr, "tt-alloc-bench: j: %s: %s\n", host_root, strerror(errno));
		return -1;
	}
	int rc = 0;
	fprintf(stderr, "tt-alloc-bench: j: a host of %d devices and %d TT-Metal segments\n",
		HOST_DEVICES, HOST_DEVICES);
	for (unsigned n = 0; n < HOST_DEVICES && rc == 0; n++)
		rc = make_device(n);
	const char *saved = getenv("TT_ALLOC_SYSFS_ROOT");
	char *restore = saved ? strdup(saved) : NULL;
	struct summary s;
	if (rc == 0) {
		setenv("TT_ALLOC_SYSFS_ROOT", host_root, 1);
		/* Check what is timed reads what was made. */
		tta_snapshot *snap;
		if (tta_snapshot_take(NULL, 0, -1, TTA_SNAPSHOT_SOURCES, &snap, NULL, 0) != 0) {
			rc = -1;
		} else {
			const struct tta_sources_info *si = tta_snapshot_sources(snap);
			if (si->sysfs_devices != HOST_DEVICES || si->tt_metal_segments != HOST_DEVICES ||
			    si->tt_metal_skipped != 0 ||
			    tta_snapshot_untracked_count(snap) != 2 * HOST_DEVICES ||
			    tta_snapshot_tt_metal_process_count(snap) != 2 * HOST_DEVICES)
				result_note('j', "the fake host read back wrong: %u devices, %u segments",
					    si->sysfs_devices, si->tt_metal_segments);
			tta_snapshot_free(snap);
		}
	}
	char row[96];
	snprintf(row, sizeof row, "%d devices + %d TT-Metal segments", HOST_DEVICES, HOST_DEVICES);
	if (rc == 0 && time_snapshots(false, &s) == 0)
		result_add('j', row, "snapshot", "us", s);
	else
		rc = -1;
	if (rc == 0 && time_snapshots(true, &s) == 0)
		result_add('j', row, "snapshot+JSON", "us", s);
	/* A host without the driver or TT-Metal: what every refresh pays. */
	char empty[320];
	snprintf(empty, sizeof empty, "%s/empty", cfg.tmpdir);
	mkdir(empty, 0755);
	setenv("TT_ALLOC_SYSFS_ROOT", empty, 1);
	if (rc == 0 && time_snapshots(false, &s) == 0)
		result_add('j', "no driver, no TT-Metal", "snapshot", "us", s);
	rmdir(empty);
	if (restore) {
		setenv("TT_ALLOC_SYSFS_ROOT", restore, 1);
		free(restore);
	} else {
		unsetenv("TT_ALLOC_SYSFS_ROOT");
	}
	sources_cleanup();
	result_note('j', "tta_snapshot_take(NULL, ..., TTA_SNAPSHOT_SOURCES) and free, as tt-smi and "
		    "the exporter call it: per device 9 class attributes, 13 hwmon files, a pids file "
		    "of 5 lines (3 processes: /proc comm and status each), a TT-Metal segment of 2 "
		    "entries; files on the machine's /tmp. A real sysfs read adds the driver's PCIe "
		    "telemetry read (about 1 us per attribute, ~1.4 ms for 64 devices)");
	return rc;
}
