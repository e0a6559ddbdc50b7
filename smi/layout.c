/*
 * layout.c - tables that drop columns instead of cutting values, and lines
 * that wrap between items. Contract in layout.h.
 */
#include "layout.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum entry_kind { ENTRY_ROW, ENTRY_TEXT };

struct entry {
	enum entry_kind kind;
	unsigned indent;   /* ENTRY_TEXT */
	char *text;        /* ENTRY_TEXT */
	char **cells;      /* ENTRY_ROW: ncols cells, NULL = empty */
};

struct smi_table {
	const struct smi_column *cols;
	size_t ncols;
	struct entry *entries;
	size_t count, cap;
	char **row;        /* the row being built */
	size_t row_cells;
};

size_t smi_text_width(const char *text)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

struct smi_table *smi_table_new(const struct smi_column *cols, size_t n)
{
	struct smi_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->cols = cols;
	t->ncols = n;
	return t;
}

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; cells && i < n; i++)
		free(cells[i]);
	free(cells);
}

void smi_table_free(struct smi_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++) {
		free(t->entries[i].text);
		free_cells(t->entries[i].cells, t->ncols);
	}
	free_cells(t->row, t->ncols);
	free(t->entries);
	free(t);
}

static struct entry *new_entry(struct smi_table *t)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct entry *grown = realloc(t->entries, cap * sizeof *grown);
		if (!grown)
			return NULL;
		t->entries = grown;
		t->cap = cap;
	}
	struct entry *e = &t->entries[t->count++];
	memset(e, 0, sizeof *e);
	return e;
}

void smi_table_cell(struct smi_table *t, const char *fmt, ...)
{
	if (!t)
		return;
	if (!t->row)
		t->row = calloc(t->ncols ? t->ncols : 1, sizeof *t->row);
	if (!t->row || t->row_cells >= t->ncols)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *cell = NULL;
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	t->row[t->row_cells++] = cell;
}

void smi_table_end_row(struct smi_table *t)
{
	if (!t)
		return;
	struct entry *e = new_entry(t);
	if (!e) {
		free_cells(t->row, t->ncols);
	} else {
		e->kind = ENTRY_ROW;
		e->cells = t->row ? t->row : calloc(t->ncols ? t->ncols : 1, sizeof *e->cells);
		if (!e->cells)
			t->count--;
	}
	t->row = NULL;
	t->row_cells = 0;
}

void smi_table_text(struct smi_table *t, unsigned indent, const char *items)
{
	if (!t)
		return;
	struct entry *e = new_entry(t);
	if (!e)
		return;
	e->kind = ENTRY_TEXT;
	e->indent = indent;
	e->text = strdup(items);
	if (!e->text)
		t->count--;
}

static void spaces(FILE *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(' ', out);
}

size_t smi_print_items(FILE *out, unsigned width, unsigned indent, const char *items)
{
	size_t lines = 1, col = indent;
	bool first = true;
	spaces(out, indent);
	const char *p = items;
	for (;;) {
		const char *tab = strchr(p, '\t');
		size_t len = tab ? (size_t)(tab - p) : strlen(p);
		char *item = strndup(p, len);
		size_t w = item ? smi_text_width(item) : len;
		if (!first && width != SMI_UNLIMITED && col + 2 + w > width) {
			fputc('\n', out);
			spaces(out, indent + 2);
			col = indent + 2;
			lines++;
		} else if (!first) {
			fputs("  ", out);
			col += 2;
		}
		fwrite(p, 1, len, out);
		col += w;
		first = false;
		free(item);
		if (!tab)
			break;
		p = tab + 1;
	}
	fputc('\n', out);
	return lines;
}

/* Prints one line of LEN bytes, wrapped; see smi_print_wrapped. */
static size_t wrap_line(FILE *out, unsigned width, const char *line, size_t len)
{
	size_t lines = 0;
	unsigned indent = 0;
	for (;;) {
		unsigned room = width > indent ? width - indent : 1;
		/* Find where the first ROOM characters end, and the best break
		 * among them. */
		size_t chars = 0, i = 0, end = len;
		size_t bar = 0, comma = 0, space = 0; /* byte offsets, 0 = none */
		while (i < len) {
			if (((unsigned char)line[i] & 0xc0) != 0x80) {
				if (chars == room) {
					end = i;
					break;
				}
				chars++;
			}
			if (i > 0 && line[i] == ' ') {
				if (i + 2 < len && line[i + 1] == '|' && line[i + 2] == ' ')
					bar = i;
				else if (line[i - 1] == ',')
					comma = i;
				else
					space = i;
			}
			i++;
		}
		spaces(out, indent);
		lines++;
		if (end == len) {
			fwrite(line, 1, len, out);
			fputc('\n', out);
			return lines;
		}
		/* END itself is a break like any space (or comma, or bar) there. */
		if (line[end] == ' ') {
			if (end + 2 < len && line[end + 1] == '|' && line[end + 2] == ' ')
				bar = end;
			else if (line[end - 1] == ',')
				comma = end;
			else if (!(end >= 2 && line[end - 1] == '|' && line[end - 2] == ' '))
				space = end;
		}
		size_t cut, skip;
		if (bar) {
			cut = bar;
			skip = 3;
		} else if (comma) {
			cut = comma;
			skip = 1;
		} else if (space) {
			cut = space;
			skip = 1;
		} else {
			cut = end;
			skip = 0;
		}
		fwrite(line, 1, cut, out);
		fputc('\n', out);
		line += cut + skip;
		len -= cut + skip;
		indent = 2;
	}
}

size_t smi_print_wrapped(FILE *out, unsigned width, const char *text)
{
	size_t lines = 0;
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		if (width == SMI_UNLIMITED) {
			fwrite(text, 1, len, out);
			fputc('\n', out);
			lines++;
		} else {
			lines += wrap_line(out, width, text, len);
		}
		if (!nl)
			break;
		text = nl + 1;
	}
	return lines;
}

static size_t cell_width(const char *cell)
{
	return cell ? smi_text_width(cell) : 0;
}

/* Sum of shown widths plus GAP between shown columns. */
static size_t total_width(const size_t *w, const bool *shown, size_t n, size_t gap)
{
	size_t sum = 0, count = 0;
	for (size_t c = 0; c < n; c++) {
		if (!shown[c])
			continue;
		sum += w[c];
		count++;
	}
	return count ? sum + gap * (count - 1) : 0;
}

static void print_row(FILE *out, const struct smi_table *t, const char *const *cells,
		      const size_t *w, const bool *shown, size_t gap)
{
	/* Built in memory so the trailing spaces can be trimmed. */
	char *line = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&line, &len);
	if (!m)
		return;
	bool first = true;
	for (size_t c = 0; c < t->ncols; c++) {
		if (!shown[c])
			continue;
		const char *cell = cells[c] ? cells[c] : "";
		size_t pad = w[c] - cell_width(cell);
		if (!first)
			spaces(m, gap);
		first = false;
		if (!t->cols[c].left)
			spaces(m, pad);
		fputs(cell, m);
		if (t->cols[c].left)
			spaces(m, pad);
	}
	fclose(m);
	while (len > 0 && line[len - 1] == ' ')
		len--;
	fwrite(line, 1, len, out);
	fputc('\n', out);
	free(line);
}

size_t smi_table_print(const struct smi_table *t, unsigned width, bool with_header, FILE *out)
{
	if (!t || t->ncols == 0)
		return 0;
	size_t n = t->ncols, lines = 0;
	size_t *w = calloc(n, sizeof *w);
	bool *shown = calloc(n, sizeof *shown);
	const char **headers = calloc(n, sizeof *headers);
	if (!w || !shown || !headers)
		goto out;
	unsigned last_drop = 0;
	for (size_t c = 0; c < n; c++) {
		shown[c] = true;
		headers[c] = t->cols[c].header;
		if (with_header)
			w[c] = cell_width(t->cols[c].header);
		if (t->cols[c].drop > last_drop)
			last_drop = t->cols[c].drop;
	}
	for (size_t i = 0; i < t->count; i++)
		for (size_t c = 0; t->entries[i].kind == ENTRY_ROW && c < n; c++)
			if (cell_width(t->entries[i].cells[c]) > w[c])
				w[c] = cell_width(t->entries[i].cells[c]);

	/* Columns leave in their turns with two spaces between them; only when
	 * all of them gone is not enough does the gap narrow to one, and the
	 * turns start again. */
	size_t gap = 2;
	for (size_t try_gap = 2; width != SMI_UNLIMITED && try_gap >= 1; try_gap--) {
		gap = try_gap;
		bool fits = false;
		for (unsigned level = 0; level <= last_drop && !fits; level++) {
			for (size_t c = 0; c < n; c++)
				shown[c] = t->cols[c].drop == 0 || t->cols[c].drop > level;
			fits = total_width(w, shown, n, gap) <= width;
		}
		if (fits)
			break;
	}
	if (with_header) {
		print_row(out, t, headers, w, shown, gap);
		lines++;
	}
	for (size_t i = 0; i < t->count; i++) {
		const struct entry *e = &t->entries[i];
		if (e->kind == ENTRY_ROW) {
			print_row(out, t, (const char *const *)e->cells, w, shown, gap);
			lines++;
		} else {
			lines += smi_print_items(out, width, e->indent, e->text);
		}
	}
out:
	free(w);
	free(shown);
	free(headers);
	return lines;
}

void smi_bar(FILE *out, double fraction, unsigned width, bool utf8)
{
	static const char *const eighths[8] = { "", "\u258f", "\u258e", "\u258d",
						"\u258c", "\u258b", "\u258a", "\u2589" };
	if (!(fraction > 0))
		fraction = 0; /* also NaN */
	if (fraction > 1)
		fraction = 1;
	unsigned steps = (unsigned)(fraction * width * 8 + 0.5);
	/* Any use at all shows: a sliver rather than an empty bar. */
	if (steps == 0 && fraction > 0)
		steps = 1;
	fputc('[', out);
	for (unsigned i = 0; i < width; i++) {
		unsigned fill = steps >= (i + 1) * 8 ? 8 : steps > i * 8 ? steps - i * 8 : 0;
		if (utf8)
			fputs(fill == 8 ? "\u2588" : fill ? eighths[fill] : " ", out);
		else
			fputc(fill >= 4 || (fill && i == 0 && steps < 8) ? '#' : '.', out);
	}
	fputc(']', out);
}
