/*
 * render.h - tt-smi's snapshot of a segment and the renderers that print it.
 *
 * A snapshot is taken in one pass over the segment through the public read
 * API (libtrack/tt_alloc.h) and copied into process memory; every renderer
 * then works on that copy only. So a renderer never touches the segment, the
 * output of one refresh is internally consistent (device, process and buffer
 * figures come from the same pass), and a fuzz harness can drive
 * smi_snapshot_take() + any renderer on a reader of a hand-made segment.
 *
 * Contract
 *  - smi_snapshot_take() only reads the segment. Reading a segment that was
 *    truncated after it was opened raises SIGBUS: a caller that must survive
 *    that (tt-smi does) arms its own SIGBUS guard around this call, and on the
 *    jump calls smi_snapshot_free() (the snapshot is always left freeable).
 *    Values that make no sense (unknown memory type, negative totals, names
 *    without a NUL, arbitrary bytes) are kept as they are and rendered
 *    harmlessly: nothing in the segment is trusted to be well-formed.
 *  - smi_snapshot_annotate() looks uids up in the user database (getpwuid_r;
 *    may read files or ask NSS) and processes up in /proc. It does not touch
 *    the segment, so it runs outside the SIGBUS guard.
 *  - Renderers write to a FILE * and never fail on their own; write errors
 *    show up in ferror(OUT). Text output holds printable ASCII and valid UTF-8
 *    only (other bytes of untrusted names become '?'); JSON output is valid
 *    UTF-8 JSON (invalid bytes become \u00XX, control characters \uXXXX).
 *  - Threading: none. Errors: smi_snapshot_take() returns 0 or a negative
 *    errno-style code with a one-line message in ERR (out of memory, or the
 *    reader refused the segment).
 */
#ifndef TT_SMI_RENDER_H
#define TT_SMI_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tt_alloc.h"

/* Which part of the segment a snapshot covers. */
struct smi_filter {
	int32_t pid;         /* processes and buffers of this pid only; 0 = any */
	int32_t device;      /* devices, processes and buffers of this device; -1 = any */
	bool want_buffers;   /* also copy the buffer records (can be large) */
};

/* One row of the process table: one process's use of one device
 * (TTA_NO_DEVICE for a process that has reported on none yet). */
struct smi_process_row {
	struct tta_process_view proc;
	uint32_t device;
	int64_t used[TTA_MEM_TYPES];
	int64_t buffers;
	/* Filled by smi_snapshot_annotate: */
	char user[64];       /* login name, or the uid as a number; "" before */
	int running;         /* 1 running, 0 exited (slot not reaped yet), -1 unknown */
};

struct smi_snapshot {
	struct smi_filter filter;
	uint64_t taken_realtime_ns;
	struct tta_health health;
	uint32_t device_capacity;

	/* Devices that are registered or in use (and pass the filter), by id. */
	struct tta_device_view *devices;
	size_t n_devices, cap_devices;

	/* Sorted by device, then pid. */
	struct smi_process_row *rows;
	size_t n_rows, cap_rows;

	/* Only with filter.want_buffers; sorted by pid, device, address. */
	struct tta_buffer_view *buffers;
	size_t n_buffers, cap_buffers;
};

/* Zeroes SNAP so that smi_snapshot_free() is always safe on it. */
void smi_snapshot_init(struct smi_snapshot *snap);

/* Fills SNAP (which must have been through smi_snapshot_init or
 * smi_snapshot_free) from READER. See the contract above about SIGBUS. */
int smi_snapshot_take(tta_reader *reader, const struct smi_filter *filter,
		      struct smi_snapshot *snap, char *err, size_t errlen);

/* Fills rows[].user (login name of the uid, or the number) and
 * rows[].running (checked against /proc when the process lives in our pid
 * namespace: same pid and start time). */
void smi_snapshot_annotate(struct smi_snapshot *snap);

/* Releases what SNAP holds and zeroes it again. */
void smi_snapshot_free(struct smi_snapshot *snap);

/* nvidia-smi-like text: header, device blocks, process table. */
void smi_render_text(const struct smi_snapshot *snap, const char *version, FILE *out);

/* Header plus the buffer table (PID, device, type, address, size, age). */
void smi_render_buffers_text(const struct smi_snapshot *snap, const char *version,
			     FILE *out);
/* The buffer table alone, ending with a "N buffers" line. */
void smi_render_buffer_table(const struct smi_snapshot *snap, FILE *out);

/* One JSON object: "segment", "devices", "processes", and "buffers" when the
 * snapshot holds them. Ends with a newline. */
void smi_render_json(const struct smi_snapshot *snap, const char *version, FILE *out);

/* For leak checks: counts what is still allocated in SNAP (a process row or
 * a device total that is not all zero). When OUT is non-NULL, lists it (or
 * says that nothing is). Returns the number of entries listed. */
size_t smi_render_leaks(const struct smi_snapshot *snap, FILE *out);

/* Formats BYTES as "0", "512B", "12KiB", "450MiB", "3.0GiB": binary units,
 * one decimal below 10 of a unit, whole units above. Negative values get a
 * '-' (a mis-accounting must show). Returns BUF. */
char *smi_human_bytes(int64_t bytes, char *buf, size_t len);

#endif /* TT_SMI_RENDER_H */
