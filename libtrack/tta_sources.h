/*
 * tta_sources.h - private side of <tt-alloc/sources.h>: the parsers of the
 * driver's files and of TT-Metal's segments (libtrack/sources.c), and what a
 * snapshot keeps of them. Used by read.c, and by the fuzz harness, the
 * benchmark and the tests, which link the internal archive.
 *
 * Every parser takes bytes and a length, trusts neither, and never reads
 * past the length. Threading: none of its own state; a struct tta_sources
 * belongs to one snapshot.
 */
#ifndef TTA_SOURCES_H
#define TTA_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt-alloc/sources.h"

/* ---- the parsers ---- */

/* A sysfs/hwmon number: optional '-' (SIGNED only), digits of BASE (10 or 16;
 * 16 also takes a "0x" prefix), then nothing but trailing whitespace. False
 * for anything else: empty, other bytes, overflow of int64 (or of uint64 for
 * an unsigned hex value, returned in *OUT as the same 64 bits). */
bool tta_parse_sysfs_number(const char *text, size_t len, int base, bool is_signed,
			    int64_t *out);

/* Lines of the driver's pids file: each a decimal pid 0..INT32_MAX. Lines
 * that are not are skipped. Stores up to MAX pids in PIDS, in order (so
 * duplicates stay). Returns the number of valid lines, even beyond MAX. */
size_t tta_parse_pid_lines(const char *text, size_t len, int32_t *pids, size_t max);

/* TT-Metal's DeviceMemoryRegion (docs/tt-metal-shm.md). */
#define TTA_TTM_PROCESSES_V2 8536u  /* bytes up to the end of the process table */
#define TTA_TTM_SIZE_V4 8540u       /* ... plus v4's init_state */
#define TTA_TTM_FILE_SIZE 8576u     /* sizeof, aligned to 64 */
#define TTA_TTM_MAX_PROCESSES 64u
#define TTA_TTM_READY 0x52454459u   /* init_state "REDY" */
/* No device holds 2^50 bytes (1 PiB): a counter above it is corrupt. */
#define TTA_TTM_PLAUSIBLE_BYTES (1ull << 50)

/* Parses the LEN bytes of one segment file named for ASIC_ID. Fills SEG
 * (usable, note, version, totals, chips; shown = total) and up to
 * TTA_TTM_MAX_PROCESSES entries into PROCS (pid, name, used,
 * last_update_ns; the rest is left to the caller), setting *N_PROCS.
 * Returns 0 if usable, or -1 with SEG->note saying why it was skipped. */
int tta_tt_metal_parse(const unsigned char *buf, size_t len, uint64_t asic_id,
		       struct tta_tt_metal_segment *seg, struct tta_tt_metal_process *procs,
		       uint32_t *n_procs);

/* "tt_device_<decimal>_memory" exactly, no leading zero, fits 64 bits. */
bool tta_tt_metal_name(const char *name, uint64_t *asic_id);

/* ---- what one snapshot read ---- */

struct tta_telemetry {
	uint64_t present;                        /* bit ID: field ID was read */
	int64_t raw[TTA_TELEMETRY_FIELDS];
	char text[TTA_TELEMETRY_FIELDS][48];
};

/* Reads one device's telemetry from its class directory CLASS_DIR (an open
 * directory fd of .../tenstorrent!N). */
void tta_telemetry_read(int class_dir, struct tta_telemetry *out);

struct tta_process_row;
struct tta_device_view;
typedef struct tta_sources tta_sources;

/* Reads every source under $TT_ALLOC_SYSFS_ROOT (or the host's). ROWS are
 * the snapshot's tt-alloc rows before any filter: who is tracked. Returns 0
 * and sets *OUT, or -ENOMEM. Missing or unreadable sources are not errors. */
int tta_sources_take(const struct tta_process_row *rows, size_t n_rows, tta_sources **out);
void tta_sources_free(tta_sources *src);

/* Device ids found in sysfs (ascending) for the snapshot to list. */
size_t tta_sources_device_ids(const tta_sources *src, const uint32_t **ids);

/* Binds the per-device data to the snapshot's final device list (DEVS, by
 * index) and applies the snapshot's filters to the process lists. Returns 0
 * or -ENOMEM. */
int tta_sources_bind(tta_sources *src, const struct tta_device_view *devs, size_t n_devs,
		     int32_t filter_pid, int32_t filter_device);

/* The snapshot's sources (read.c), NULL if none. */
const tta_sources *tta_snapshot_sources_of(const tta_snapshot *snap);

/* Login name of UID, or the number (read.c). */
void tta_user_name(uint32_t uid, char *out, size_t outlen);

#endif /* TTA_SOURCES_H */
