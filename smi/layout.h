/*
 * layout.h - text layout for tt-smi's views: tables whose columns drop in a
 * fixed, documented order when the terminal is too narrow, and lines of
 * items that wrap between items. A value is never cut: what does not fit is
 * left out whole (a column) or moved to the next line (an item).
 *
 * Contract
 *  - Every text given here must already be clean (tta_sanitize_text or made
 *    by tt-smi itself): the layout counts one column per UTF-8 character and
 *    uses '\t' as its item separator, which sanitised text never holds.
 *  - Out of memory never fails a caller: the table keeps what it could
 *    store and prints that.
 *  - Threading: none (one table, one thread).
 */
#ifndef TT_SMI_LAYOUT_H
#define TT_SMI_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Width 0: no limit (output to a file or a pipe). */
#define SMI_UNLIMITED 0u

struct smi_column {
	const char *header;
	/* 0: always shown. Otherwise the column's turn to go when the width is
	 * short: every column of drop 1 goes first, then those of 2, ... */
	unsigned drop;
	bool left; /* left-aligned (text); numbers are right-aligned */
};

struct smi_table;

/* A table with the N columns of COLS (kept by pointer: static arrays). */
struct smi_table *smi_table_new(const struct smi_column *cols, size_t n);
void smi_table_free(struct smi_table *t);

/* Appends one cell to the row being built (printf-style); the row ends with
 * smi_table_end_row. Missing cells at the end of a row print empty. */
void smi_table_cell(struct smi_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smi_table_end_row(struct smi_table *t);

/* A line of ITEMS ('\t' between items) among the rows, not in columns:
 * printed INDENT spaces in, two spaces between items, wrapped between items
 * to the width (continuation lines indented by INDENT + 2). */
void smi_table_text(struct smi_table *t, unsigned indent, const char *items);

/* Prints the table within WIDTH columns (SMI_UNLIMITED: all columns, widest
 * values). Columns are as wide as their widest cell or header, two spaces
 * apart; when the sum is too wide, columns leave in their drop order, and
 * only if the columns that always stay do not fit that way does the gap
 * narrow to one space (columns then leave again from the first turn, as
 * few as needed). Rows never end in spaces. Returns the number of lines
 * printed. */
size_t smi_table_print(const struct smi_table *t, unsigned width, bool with_header, FILE *out);

/* Prints ITEMS ('\t' between items) as smi_table_text does. Returns lines. */
size_t smi_print_items(FILE *out, unsigned width, unsigned indent, const char *items);

/* Prints each line of TEXT wrapped to WIDTH: a line too long breaks after
 * the last " | " that fits, else the last ", ", else the last space, and
 * continues indented by two; a single word longer than the width is cut
 * (there is nowhere else to put it). Returns lines printed. */
size_t smi_print_wrapped(FILE *out, unsigned width, const char *text);

/* Columns TEXT takes on a terminal (UTF-8 characters). */
size_t smi_text_width(const char *text);

/* Writes a usage bar of WIDTH cells for FRACTION (clamped to 0..1):
 * Unicode eighth blocks when UTF8, else '#' and '.'; between brackets. */
void smi_bar(FILE *out, double fraction, unsigned width, bool utf8);

#endif /* TT_SMI_LAYOUT_H */
