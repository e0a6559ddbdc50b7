/*
 * watch.h - the interactive watch (tt-smi -w on a terminal): five views,
 * switched with keys 1-5, drawn at the terminal's size:
 *   1 main       devices by memory pool with the breakdown, processes
 *   2 charts     DRAM and L1 in use over the last 60 s, per device
 *   3 processes  current and peak use per process
 *   4 events     the live event tail
 *   5 telemetry  the driver's readings per device (temperature, power,
 *                voltage, current, clocks, fan), who holds each device,
 *                TT-Metal's use (the old monitor's telemetry view)
 * q quits. tt_smi.c owns the terminal (alternate screen, key mode, signals)
 * and the refresh loop; this module owns what a frame shows and how it is
 * written.
 *
 * Drawing without flicker: a frame is composed in memory and written with
 * one write(2): cursor home, each line overwritten and cleared to its end
 * (ESC[K), the rest of the screen cleared below (ESC[J), the footer last.
 * The screen is never cleared as a whole. The size is read (TIOCGWINSZ) for
 * every frame, so a resize (SIGWINCH wakes the loop) is followed at once.
 *
 * Threading: one thread. Errors: as the library's (negative errno).
 */
#ifndef TT_SMI_WATCH_H
#define TT_SMI_WATCH_H

#include <stdbool.h>

#include <tt-alloc/reader.h>

#include "views.h"

enum smi_watch_view {
	SMI_VIEW_TEXT = 0,      /* what the command line asked for (--buffers,
				 * --json), drawn as given: no view keys */
	SMI_VIEW_MAIN = 1,
	SMI_VIEW_CHARTS = 2,
	SMI_VIEW_PROCESSES = 3,
	SMI_VIEW_EVENTS = 4,
	SMI_VIEW_TELEMETRY = 5
};
#define SMI_VIEW_LAST SMI_VIEW_TELEMETRY

struct smi_watch;

struct smi_watch *smi_watch_new(enum smi_watch_view first);
void smi_watch_free(struct smi_watch *w);

/* (Re)starts the event tail on READER: at start, and when the segment was
 * replaced and reopened. Returns 0 or a negative errno (message in ERR). */
int smi_watch_attach(struct smi_watch *w, tta_reader *reader, char *err, size_t errlen);

enum smi_key_action { SMI_KEY_NONE = 0, SMI_KEY_REDRAW = 1, SMI_KEY_QUIT = 2 };
/* What key KEY does: 1-5 switch views (redraw; not in SMI_VIEW_TEXT), q/Q
 * quits. */
enum smi_key_action smi_watch_key(struct smi_watch *w, int key);

/* Milliseconds until the next frame for a refresh INTERVAL_MS: the event
 * view follows the ring ten times a second. */
long smi_watch_wait_ms(const struct smi_watch *w, long interval_ms);

/* Reads new events into the tail (every frame, whatever the view, so the
 * tail is complete when view 4 opens). Returns lines gained or -errno. */
int smi_watch_poll(struct smi_watch *w);

/* Draws the current view of V (its width and height are set here from the
 * terminal on FD) and the footer. Returns 0, or -1 if the write failed. */
int smi_watch_draw(struct smi_watch *w, struct smi_view *v, long interval_ms, int fd);
/* Draws TEXT (LEN bytes of lines) as a frame, with the footer: for
 * SMI_VIEW_TEXT. Returns 0, or -1 if the write failed. */
int smi_watch_draw_text(struct smi_watch *w, const char *text, size_t len, long interval_ms,
			int fd);

#endif /* TT_SMI_WATCH_H */
