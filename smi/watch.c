/*
 * watch.c - frames of the interactive watch. Contract in watch.h.
 */
#include "watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layout.h"
#include "tail.h"

#define EVENT_POLL_MS 100

struct smi_watch {
	enum smi_watch_view view;
	struct smi_tail *tail;
};

struct smi_watch *smi_watch_new(enum smi_watch_view first)
{
	struct smi_watch *w = calloc(1, sizeof *w);
	if (w)
		w->view = first;
	return w;
}

void smi_watch_free(struct smi_watch *w)
{
	if (!w)
		return;
	smi_tail_close(w->tail);
	free(w);
}

int smi_watch_attach(struct smi_watch *w, tta_reader *reader, char *err, size_t errlen)
{
	smi_tail_close(w->tail);
	w->tail = NULL;
	return smi_tail_open(reader, &w->tail, err, errlen);
}

enum smi_key_action smi_watch_key(struct smi_watch *w, int key)
{
	switch (key) {
	case 'q':
	case 'Q':
		return SMI_KEY_QUIT;
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
		if (w->view == SMI_VIEW_TEXT)
			return SMI_KEY_NONE;
		w->view = (enum smi_watch_view)(key - '0');
		return SMI_KEY_REDRAW;
	default:
		return SMI_KEY_NONE;
	}
}

long smi_watch_wait_ms(const struct smi_watch *w, long interval_ms)
{
	if (w->view == SMI_VIEW_EVENTS && interval_ms > EVENT_POLL_MS)
		return EVENT_POLL_MS;
	return interval_ms;
}

int smi_watch_poll(struct smi_watch *w)
{
	return w->tail ? smi_tail_poll(w->tail) : 0;
}

static void render_view(const struct smi_watch *w, const struct smi_view *v, FILE *out)
{
	switch (w->view) {
	case SMI_VIEW_CHARTS:
		smi_view_charts(v, out);
		break;
	case SMI_VIEW_PROCESSES:
		smi_view_processes(v, out);
		break;
	case SMI_VIEW_EVENTS:
		smi_view_events(v, w->tail, out);
		break;
	case SMI_VIEW_TELEMETRY:
		smi_view_telemetry(v, out);
		break;
	case SMI_VIEW_MAIN:
	default:
		smi_view_main(v, out);
		break;
	}
}

/* The view keys (the current one in brackets) and q, in the form FORM:
 * 0 wide (a space between keys), 1 compact (none: each key is padded by a
 * space or its brackets), 2 narrow (compact, with short names), 3 digits
 * only. Returns the length written to TEXT. */
#define FOOTER_FORMS 4
static size_t footer_keys(const struct smi_watch *w, int form, char *text, size_t len)
{
	static const char *const names[2][SMI_VIEW_LAST + 1] = {
		{ "", "main", "charts", "processes", "events", "telemetry" },
		{ "", "main", "charts", "procs", "events", "telem" },
	};
	size_t used = 0;
	for (int k = 1; k <= SMI_VIEW_LAST && w->view != SMI_VIEW_TEXT; k++) {
		bool on = (int)w->view == k;
		used += (size_t)snprintf(text + used, len - used, "%s%s%d%s%s%s",
					 k > 1 && form == 0 ? " " : "", on ? "[" : " ", k,
					 form == 3 ? "" : " ", form == 3 ? "" : names[form == 2][k],
					 on ? "]" : " ");
	}
	used += (size_t)snprintf(text + used, len - used, "%sq quit",
				 used ? (form == 0 ? "  " : " ") : "");
	return used;
}

/* The footer: the view keys and q, then what fits of a note on hidden
 * lines and the refresh interval. The names go before the notes do: the
 * widest form of the keys that leaves room for the note on hidden lines is
 * used, compact rather than wide if that makes room for the interval too;
 * else the narrowest. */
static void footer(const struct smi_watch *w, long interval_ms, size_t hidden, unsigned cols,
		   FILE *out)
{
	char text[256], note[64], every[32];
	size_t used = 0;
	note[0] = '\0';
	if (hidden)
		snprintf(note, sizeof note, "  +%zu line%s below", hidden, hidden == 1 ? "" : "s");
	snprintf(every, sizeof every, "  every %ld ms", interval_ms);
	int form = -1;
	for (int f = 0; f < 2 && form < 0; f++)
		if (footer_keys(w, f, text, sizeof text) + strlen(note) + strlen(every) <= cols)
			form = f;
	for (int f = 0; f < FOOTER_FORMS && form < 0; f++)
		if (footer_keys(w, f, text, sizeof text) + strlen(note) <= cols)
			form = f;
	used = footer_keys(w, form < 0 ? FOOTER_FORMS - 1 : form, text, sizeof text);
	if (used + strlen(note) <= cols)
		used += (size_t)snprintf(text + used, sizeof text - used, "%s", note);
	if (used + strlen(every) <= cols)
		used += (size_t)snprintf(text + used, sizeof text - used, "%s", every);
	if (used > cols)
		used = cols;
	fputs("\033[7m", out);
	fwrite(text, 1, used, out);
	fputs("\033[0m\033[K", out);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void terminal_size(int fd, unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	*cols = 80;
	*rows = 24;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* Writes FRAME (lines) to the terminal FD of COLS x ROWS, footer below. */
static int draw(const struct smi_watch *w, const char *frame, size_t frame_len, unsigned cols,
		unsigned rows, long interval_ms, int fd)
{
	unsigned height = rows > 1 ? rows - 1 : 1;
	char *screen = NULL;
	size_t screen_len = 0;
	FILE *s = open_memstream(&screen, &screen_len);
	if (!s)
		return -1;
	fputs("\033[H", s);
	unsigned row = 0;
	size_t pos = 0, hidden = 0;
	while (pos < frame_len) {
		const char *nl = memchr(frame + pos, '\n', frame_len - pos);
		size_t end = nl ? (size_t)(nl - frame) : frame_len;
		if (row < height) {
			/* Views fit their lines to the width; a line that still does
			 * not (a table with nothing left to drop) is cut here
			 * rather than wrapped, so rows stay rows. */
			size_t chars = 0, i = pos;
			while (i < end && chars < cols) {
				i++;
				while (i < end && ((unsigned char)frame[i] & 0xc0) == 0x80)
					i++;
				chars++;
			}
			fwrite(frame + pos, 1, i - pos, s);
			fputs("\033[K\n", s);
			row++;
		} else {
			hidden++;
		}
		pos = end + 1;
	}
	fputs("\033[J", s);
	footer(w, interval_ms, hidden, cols, s);
	fclose(s);
	int rc = write_all(fd, screen, screen_len);
	free(screen);
	return rc;
}

int smi_watch_draw(struct smi_watch *w, struct smi_view *v, long interval_ms, int fd)
{
	unsigned cols, rows;
	terminal_size(fd, &cols, &rows);
	/* The last row is the footer's. */
	v->width = cols;
	v->height = rows > 1 ? rows - 1 : 1;
	char *frame = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&frame, &len);
	if (!m)
		return -1;
	render_view(w, v, m);
	fclose(m);
	int rc = draw(w, frame, len, cols, rows, interval_ms, fd);
	free(frame);
	return rc;
}

int smi_watch_draw_text(struct smi_watch *w, const char *text, size_t len, long interval_ms,
			int fd)
{
	unsigned cols, rows;
	terminal_size(fd, &cols, &rows);
	return draw(w, text, len, cols, rows, interval_ms, fd);
}
