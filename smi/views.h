/*
 * views.h - tt-smi's text views of one moment: the main view (devices by
 * memory pool with the breakdown per type, then processes), the process
 * view (current and peak use), the charts (chart.c), the event tail
 * (tail.c) and the telemetry view (telemetry_view.c). Plain `tt-smi` prints the main view at unlimited width; the
 * watch mode (watch.c) draws any of them at the terminal's size.
 *
 * Narrow terminals: tables drop whole columns in a fixed order rather than
 * cut a value (layout.h); the orders are listed at each view (views.c,
 * telemetry_view.c, tail.h) and in the README.
 *
 * Contract: as render.h's. Views only read the snapshot and the history,
 * write to OUT and never fail on their own; every text from the segment is
 * sanitised (tta_sanitize_text) before it is laid out. Threading: none.
 */
#ifndef TT_SMI_VIEWS_H
#define TT_SMI_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tt-alloc/reader.h>

#include "history.h"
#include "layout.h"

/* Devices chosen with -i: COUNT sorted ids; COUNT 0 means every device. */
struct smi_select {
	size_t count;
	const uint32_t *ids;
};
bool smi_select_has(const struct smi_select *sel, uint32_t id);

struct smi_view {
	const tta_snapshot *snap;
	const struct smi_history *history; /* NULL: no peaks, no charts */
	const struct smi_select *select;   /* NULL: every device */
	unsigned width;                    /* SMI_UNLIMITED for files and pipes */
	unsigned height;                   /* rows the view may fill; 0: any */
	bool utf8;                         /* Unicode blocks, else ASCII */
	const char *version;
};

/* The snapshot's header (render.c's), wrapped to the width. */
void smi_view_header(const struct smi_view *v, FILE *out);
/* One line for views 2-4: time, segment, and what the view shows. */
void smi_view_title(const struct smi_view *v, const char *what, FILE *out);

/* View 1: header, each device's DRAM and L1 in use (DRAM + TRACE, L1 +
 * L1_SMALL + CB + KERNEL) against capacity with the breakdown under it and
 * the peak of the history window, then the process table. */
void smi_view_main(const struct smi_view *v, FILE *out);
/* View 3: every process row with its current and peak use per type. */
void smi_view_processes(const struct smi_view *v, FILE *out);
/* View 2 (chart.c): per device, DRAM and L1 in use over the last
 * SMI_CHART_SECONDS, from the segment's history. */
#define SMI_CHART_SECONDS 60u
void smi_view_charts(const struct smi_view *v, FILE *out);

/* View 5 (telemetry_view.c): per device (those in sysfs or matched by a
 * TT-Metal segment), every telemetry field tt-kmd published (name, value,
 * unit, the file it comes from; the library's table, <tt-alloc/sources.h>),
 * the driver's count of open files, the processes that hold the device
 * without reporting, TT-Metal's use of it; then the notes on TT-Metal
 * segments. Bound to key 5 of the watch, --view telemetry and -t. */
void smi_view_telemetry(const struct smi_view *v, FILE *out);

/* For the views and the query fields: a device's row of the snapshot, or
 * NULL when it is neither registered nor in use. */
const struct tta_device_view *smi_find_device(const tta_snapshot *snap, uint32_t id);
/* Highest use of POOL on D in the history window, at least the current
 * use. False when the history does not know (no history kept). */
bool smi_pool_peak(const struct smi_view *v, const struct tta_device_view *d, unsigned pool,
		   int64_t *peak);

#endif /* TT_SMI_VIEWS_H */
