/*
 * tt-alloc/sources.h - what a reader sees besides the tt-alloc segment:
 *
 *  1. Device telemetry published by the tt-kmd driver, with no device lock:
 *     /sys/class/tenstorrent/tenstorrent!N/tt_* and the hwmon directory of
 *     the PCI device it links to (temperature, power, voltage, current,
 *     clocks, fan). Device N is /dev/tenstorrent/N, and N is the device id a
 *     snapshot uses. A chip without a PCIe link of its own (the remote chip
 *     of an n300, the chips behind a Galaxy's gateways) has no node, so no
 *     telemetry here.
 *  2. The driver's list of processes that hold each device open,
 *     /proc/driver/tenstorrent/N/pids (one line per open file; pid 0 for a
 *     process outside the reader's pid namespace).
 *  3. The counters-only segments TT-Metal writes by itself,
 *     /dev/shm/tt_device_<asic id>_memory (layout versions 2, 3 and 4 of
 *     tt_metal/impl/memory_tracking/memory_stats_shm.hpp; docs/tt-metal-shm.md).
 *
 * A snapshot taken with TTA_SNAPSHOT_SOURCES (<tt-alloc/reader.h>) gathers
 * all three; the accessors below reach them. Everything read is untrusted:
 * a missing file or driver leaves the value out, without an error or a
 * message; a value that does not parse, or lies outside what the hardware
 * can report, is left out too; a TT-Metal segment that is truncated, of a
 * version not listed above, not initialised, or holds counters no device
 * could hold is skipped with a note (tta_tt_metal_segment.note). Text (card
 * types, process names) is copied as found: sanitise it before printing
 * (<tt-alloc/text.h>).
 *
 * Root: TT_ALLOC_SYSFS_ROOT=DIR (read when each snapshot is taken) makes the
 * library read DIR/sys/class/tenstorrent, DIR/proc/driver/tenstorrent,
 * DIR/proc/PID (names and owners of the processes listed by the driver, and
 * whether TT-Metal's processes still run) and DIR/dev/shm instead of the
 * host's, so a captured or fabricated tree can be shown. Unset or empty: the
 * host's own.
 *
 * Never counted twice: a process that reports through tt-alloc (libtrack)
 * is shown from tt-alloc only. TT-Metal's entries for the same pid are left
 * out, and their bytes subtracted from that segment's totals.
 *
 * Threading: accessors only read the snapshot. Errors: none; absent data
 * reads as NULL, 0 or an empty list.
 * ABI: as in reader.h, the structs are library memory reached through
 * accessors and may gain fields at their end.
 */
#ifndef TT_ALLOC_SOURCES_H
#define TT_ALLOC_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include <tt-alloc/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Telemetry fields: declared once, iterated by every tool                   */

/* Field ids, stable (new ones are appended). */
enum tta_telemetry_id {
	TTA_TELEMETRY_CARD_TYPE = 0,     /* tt_card_type: "n150", "n300", "p150a", ... */
	TTA_TELEMETRY_CHIP,              /* hwmon name: "wormhole", "blackhole" */
	TTA_TELEMETRY_SERIAL,            /* tt_serial (hex, as the driver prints it) */
	TTA_TELEMETRY_ASIC_ID,           /* tt_asic_id (hex, as the driver prints it) */
	TTA_TELEMETRY_PCI_BDF,           /* the PCI device the class device links to */
	TTA_TELEMETRY_FW_BUNDLE_VER,     /* tt_fw_bundle_ver */
	TTA_TELEMETRY_M3APP_FW_VER,      /* tt_m3app_fw_ver */
	TTA_TELEMETRY_TEMPERATURE,       /* hwmon temp1_input, m°C */
	TTA_TELEMETRY_TEMPERATURE_MAX,   /* hwmon temp1_max, m°C */
	TTA_TELEMETRY_POWER,             /* hwmon power1_input, µW */
	TTA_TELEMETRY_POWER_MAX,         /* hwmon power1_max, µW */
	TTA_TELEMETRY_VOLTAGE,           /* hwmon in0_input, mV */
	TTA_TELEMETRY_VOLTAGE_MAX,       /* hwmon in0_max, mV */
	TTA_TELEMETRY_CURRENT,           /* hwmon curr1_input, mA */
	TTA_TELEMETRY_CURRENT_MAX,       /* hwmon curr1_max, mA */
	TTA_TELEMETRY_FAN,               /* hwmon fan1_input, RPM (Blackhole) */
	TTA_TELEMETRY_AICLK,             /* tt_aiclk, MHz */
	TTA_TELEMETRY_AXICLK,            /* tt_axiclk, MHz */
	TTA_TELEMETRY_ARCCLK,            /* tt_arcclk, MHz */
	TTA_TELEMETRY_HEARTBEAT,         /* tt_heartbeat: grows while the firmware runs */
	TTA_TELEMETRY_TEMPERATURE_LABEL, /* hwmon temp1_label: "asic1_temp", "asic_temp" */
	TTA_TELEMETRY_VOLTAGE_LABEL,     /* hwmon in0_label */
	TTA_TELEMETRY_CURRENT_LABEL,     /* hwmon curr1_label */
	TTA_TELEMETRY_POWER_LABEL,       /* hwmon power1_label */
	TTA_TELEMETRY_FAN_LABEL,         /* hwmon fan1_label */
	TTA_TELEMETRY_FIELDS
};

enum tta_telemetry_kind {
	TTA_TELEMETRY_TEXT = 0,
	TTA_TELEMETRY_NUMBER = 1
};

struct tta_telemetry_field {
	const char *name;          /* the JSON key: "temperature_c", "power_w", "aiclk_mhz" */
	enum tta_telemetry_kind kind;
	const char *unit;          /* of the value: "celsius", "watts", "millivolts",
				    * "milliamperes", "megahertz", "rpm", "count"; "" for text */
	int64_t divisor;           /* value = raw / divisor: 1000 for m°C, 1000000 for µW, else 1 */
	const char *file;          /* where tt-kmd publishes it: "tt_aiclk", "hwmon temp1_input" */
	const char *help;          /* one sentence */
};
/* Number of fields this library knows (ids 0 .. count-1). */
unsigned tta_telemetry_field_count(void);
/* Description of field ID, or NULL if out of range. */
const struct tta_telemetry_field *tta_telemetry_field(unsigned id);
/* The id of the field named NAME, or -1. */
int tta_telemetry_field_find(const char *name);

/* One device's telemetry, as read when the snapshot was taken. */
typedef struct tta_telemetry tta_telemetry;
/* 1 if field ID was read: a NUMBER sets *RAW (in the driver's unit, see the
 * field's divisor), a TEXT sets *TEXT (terminated, untrusted); either pointer
 * may be NULL. 0 if it was not (no such file, or its content did not parse
 * or was out of range), or T is NULL or ID out of range. */
int tta_telemetry_get(const tta_telemetry *t, unsigned id, int64_t *raw, const char **text);
/* A NUMBER field as a decimal in its field's unit, exact and JSON-ready:
 * "45.125" (temperature), "60.0" (power), "1000" (aiclk). Fields whose
 * divisor is not 1 always have a fraction. Returns BUF, or NULL if absent
 * or not a number. */
char *tta_telemetry_format(const tta_telemetry *t, unsigned id, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* A snapshot's sources (TTA_SNAPSHOT_SOURCES)                               */

struct tta_sources_info {
	char root[256];            /* $TT_ALLOC_SYSFS_ROOT as used, "" for the host's */
	int driver;                /* ROOT/sys/class/tenstorrent exists (tt-kmd loaded) */
	int kernel_pids;           /* ROOT/proc/driver/tenstorrent exists (ttkmd 2.5+) */
	uint32_t sysfs_devices;    /* class devices found */
	uint32_t tt_metal_segments; /* tt_device_*_memory files found */
	uint32_t tt_metal_skipped;  /* of which not read (each says why in its note) */
};
/* NULL if SNAP was taken without TTA_SNAPSHOT_SOURCES. */
const struct tta_sources_info *tta_snapshot_sources(const tta_snapshot *snap);

/* What the sources say about device INDEX of the snapshot (the index of
 * tta_snapshot_device). With TTA_SNAPSHOT_SOURCES every device that exists
 * in sysfs is in the snapshot's device list, whether or not anything
 * reported on it. */
struct tta_device_sources {
	int in_sysfs;              /* /sys/class/tenstorrent/tenstorrent!<id> exists */
	int32_t open_files;        /* lines of the driver's pids file; -1 unreadable */
	uint32_t untracked;        /* untracked processes that hold it open (before
				    * the pid filter, like the device's processes) */
	/* TT-Metal's segments whose asic id matched this device: their totals
	 * minus processes tt-alloc reports (clamped at 0, as TT-Metal clamps),
	 * indexed by enum tta_mem_type (DRAM, L1, L1_SMALL, TRACE, CB; the other
	 * types are not counted by TT-Metal and stay 0). Shown beside the
	 * device's used[], never added into it: used[] stays the exact sum of
	 * tt-alloc's rows. */
	int64_t tt_metal_used[TTA_MEM_TYPES];
	uint32_t tt_metal_processes; /* TT-Metal processes listed for it (before the
				      * pid filter) */
	uint32_t tt_metal_segments;
};
/* NULL if INDEX is out of range or the snapshot has no sources. */
const struct tta_device_sources *tta_snapshot_device_sources(const tta_snapshot *snap,
							     size_t index);
/* Telemetry of device INDEX, or NULL (not in sysfs, or no sources). */
const tta_telemetry *tta_snapshot_device_telemetry(const tta_snapshot *snap, size_t index);

/* A process that holds a device open (driver's pids file) and reports
 * through neither tt-alloc nor TT-Metal's segments. One entry per device and
 * pid: the driver lists a pid once per open file, and those lines are
 * collapsed into OPEN_FILES. Pid 0 gathers the processes of other pid
 * namespaces (the driver cannot name them here). */
struct tta_untracked_process {
	uint32_t device;
	int32_t pid;
	uint32_t open_files;
	int have_uid;              /* uid and user are known */
	uint32_t uid;
	char user[64];             /* login name, or the uid as a number */
	char name[64];             /* ROOT/proc/PID/comm, "" if unknown; untrusted */
};
/* Sorted by device, then pid. The snapshot's pid and device filters apply. */
size_t tta_snapshot_untracked_count(const tta_snapshot *snap);
const struct tta_untracked_process *tta_snapshot_untracked(const tta_snapshot *snap, size_t index);

#define TTA_TT_METAL_MAX_CHIPS 16
struct tta_tt_metal_chip {
	uint32_t chip_id;          /* TT-Metal's chip id */
	int remote;                /* reached through the segment's (gateway) chip */
	int64_t used[TTA_MEM_TYPES];
};

/* One /dev/shm/tt_device_<asic id>_memory file. */
struct tta_tt_metal_segment {
	char path[320];            /* as opened (under ROOT) */
	uint64_t asic_id;          /* from the file name: UMD's chip_unique_id */
	uint32_t device;           /* snapshot device whose tt_asic_id equals ASIC_ID,
				    * or TTA_NO_DEVICE (shown under its asic id) */
	int usable;                /* 1 read; 0 skipped (NOTE says why) */
	char note[160];            /* why it was skipped, or what was left out of it */
	uint32_t version;          /* layout version found (0 if unreadable) */
	uint32_t metal_device_id;  /* TT-Metal's logical device id */
	uint32_t active_processes; /* num_active_processes as written */
	uint64_t last_update_ns;   /* realtime ns of the last report */
	/* Device totals as TT-Metal keeps them (all its processes and chips) */
	int64_t total[TTA_MEM_TYPES];
	/* TOTAL minus the entries of processes tt-alloc reports, clamped at 0:
	 * what is added to the device's tt_metal_used */
	int64_t shown[TTA_MEM_TYPES];
	uint32_t processes;        /* its entries in tta_snapshot_tt_metal_process */
	uint32_t chip_count;
	struct tta_tt_metal_chip chips[TTA_TT_METAL_MAX_CHIPS];
};
/* Every file found, sorted by asic id; skipped ones included. The filters
 * do not apply. */
size_t tta_snapshot_tt_metal_segment_count(const tta_snapshot *snap);
const struct tta_tt_metal_segment *tta_snapshot_tt_metal_segment(const tta_snapshot *snap,
								  size_t index);

/* A process entry of a TT-Metal segment (not one tt-alloc reports). */
struct tta_tt_metal_process {
	uint32_t segment;          /* index for tta_snapshot_tt_metal_segment */
	uint32_t device;           /* as the segment's */
	uint64_t asic_id;
	int32_t pid;               /* as TT-Metal wrote it (its getpid()) */
	int running;               /* ROOT/proc/PID exists: 1, 0; TT-Metal reaps
				    * dead entries only when a process attaches */
	int have_uid;
	uint32_t uid;
	char user[64];
	char name[72];             /* process_name (64 bytes, maybe unterminated);
				    * untrusted */
	int64_t used[TTA_MEM_TYPES]; /* DRAM, L1, L1_SMALL, TRACE, CB */
	uint64_t last_update_ns;
};
/* Sorted by device (unmatched last), asic id, pid. The filters apply. */
size_t tta_snapshot_tt_metal_process_count(const tta_snapshot *snap);
const struct tta_tt_metal_process *tta_snapshot_tt_metal_process(const tta_snapshot *snap,
								  size_t index);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_SOURCES_H */
