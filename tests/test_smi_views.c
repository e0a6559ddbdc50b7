/*
 * test_smi_views - the pieces tt-smi's views are laid out with, and the
 * library's memory pools they show:
 *  - the pool rule (<tt-alloc/tt_alloc.h>) on a real segment written by the
 *    library: DRAM in use = DRAM + TRACE, L1 in use = L1 + L1_SMALL + CB +
 *    KERNEL, against the parent type's capacity;
 *  - tables (smi/layout.h) at every width from 200 down to 20 columns: no
 *    line wider than the width while something can still be dropped, every
 *    value shown whole or not at all, columns leaving in their drop order;
 *  - wrapped lines: never wider than the width, no word lost or cut.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "tt-alloc/reader.h"
#include "tta_test.h"

static char *capture_table(const struct smi_table *t, unsigned width)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	CHECK(m != NULL, "open_memstream");
	smi_table_print(t, width, true, m);
	fclose(m);
	return text;
}

static size_t widest_line(const char *text)
{
	size_t widest = 0;
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		char *line = strndup(text, len);
		size_t w = smi_text_width(line);
		free(line);
		if (w > widest)
			widest = w;
		if (!nl)
			break;
		text = nl + 1;
	}
	return widest;
}

/* Whole words of TEXT, in order, as one space-separated string. */
static char *words(const char *text)
{
	char *out = calloc(1, strlen(text) + 2), *copy = strdup(text), *save = NULL;
	CHECK(out && copy, "memory");
	for (char *w = strtok_r(copy, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		if (*out)
			strcat(out, " ");
		strcat(out, w);
	}
	free(copy);
	return out;
}

TTA_TEST(pools_follow_the_hardware)
{
	CHECK(tta_mem_type_pool(TTA_MEM_DRAM) == TTA_POOL_DRAM, "dram");
	CHECK(tta_mem_type_pool(TTA_MEM_TRACE) == TTA_POOL_DRAM, "trace is carved from DRAM");
	CHECK(tta_mem_type_pool(TTA_MEM_L1) == TTA_POOL_L1, "l1");
	CHECK(tta_mem_type_pool(TTA_MEM_L1_SMALL) == TTA_POOL_L1, "l1_small is carved from L1");
	CHECK(tta_mem_type_pool(TTA_MEM_CB) == TTA_POOL_L1, "CBs live in L1");
	CHECK(tta_mem_type_pool(TTA_MEM_KERNEL) == TTA_POOL_L1, "kernel binaries live in L1");
	CHECK(tta_mem_type_pool(TTA_MEM_SYSTEM) == TTA_POOL_SYSTEM, "system is host memory");
	CHECK(tta_mem_type_pool(TTA_MEM_TYPES) == -1, "out of range");
	CHECK(strcmp(tta_mem_pool_name(TTA_POOL_L1), "l1") == 0, "name");
	CHECK(tta_mem_pool_name(TTA_MEM_POOLS) == NULL, "name out of range");

	/* A real writer (this process) on a real segment, read back. */
	setenv("TT_ALLOC_TRACKING_ENABLED", "1", 1);
	struct tta_device_info info;
	tta_device_info_wormhole_b0(&info, 72);
	info.capacity[TTA_MEM_L1_SMALL] = 1 << 20; /* carved: not added to L1's */
	CHECK(tta_register_device(0, &info) == 0, "register");
	tta_report_alloc(0, 0x1000, 1000, TTA_MEM_DRAM);
	tta_report_alloc(0, 0x2000, 20, TTA_MEM_TRACE);
	tta_report_alloc(0, 0x3000, 300, TTA_MEM_L1);
	tta_report_alloc(0, 0x4000, 4000, TTA_MEM_L1_SMALL);
	tta_report_cb_alloc(0, 5, 50000);
	tta_report_kernel_load(0, 6, 600000, TTA_KERNEL_APPLICATION);
	tta_report_alloc(0, 0x7000, 7, TTA_MEM_SYSTEM);

	tta_reader *r;
	tta_snapshot *s;
	char err[256];
	CHECK(tta_reader_open(NULL, &r, err, sizeof err) == 0, "%s", err);
	CHECK(tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) == 0, "%s", err);
	const struct tta_device_view *d = tta_snapshot_device(s, 0);
	CHECK(d != NULL, "device 0");
	CHECK_EQ_I64(tta_mem_pool_used(d->used, TTA_POOL_DRAM), 1020);
	CHECK_EQ_I64(tta_mem_pool_used(d->used, TTA_POOL_L1), 300 + 4000 + 50000 + 600000);
	CHECK_EQ_I64(tta_mem_pool_used(d->used, TTA_POOL_SYSTEM), 7);
	CHECK_EQ_I64(tta_mem_pool_used(d->used, TTA_MEM_POOLS), 0);
	CHECK(tta_mem_pool_capacity(d->capacity, TTA_POOL_DRAM) == 12ull << 30, "DRAM capacity");
	CHECK(tta_mem_pool_capacity(d->capacity, TTA_POOL_L1) == 72ull * 1464 * 1024,
	      "L1 capacity is L1's, L1_SMALL's is part of it");
	CHECK(tta_mem_pool_capacity(d->capacity, TTA_MEM_POOLS) == 0, "out of range");
	tta_snapshot_free(s);
	tta_reader_close(r);

	/* A negative part (a mis-accounting) shows in the sum. */
	int64_t used[TTA_MEM_TYPES] = { 0 };
	used[TTA_MEM_L1] = 100;
	used[TTA_MEM_CB] = -300;
	CHECK_EQ_I64(tta_mem_pool_used(used, TTA_POOL_L1), -200);
}

static const struct smi_column columns[] = {
	{ "Device", 0, false },
	{ "Name", 0, true },
	{ "Big", 0, false },
	{ "Extra", 2, false },
	{ "Minor", 1, true },
	{ "Last", 3, false },
};

TTA_TEST(tables_drop_columns_instead_of_cutting_values)
{
	struct smi_table *t = smi_table_new(columns, sizeof columns / sizeof columns[0]);
	const char *cells[3][6] = {
		{ "0", "alpha", "1.0GiB", "extra-value-0", "minor_value_0", "last0" },
		{ "12", "\u00e9t\u00e9", "12KiB", "xx9", "m7q", "last-value-1" },
		{ "3", "gamma_with_long_name", "-4.0KiB", "extra", "minor", "l5z" },
	};
	for (int r = 0; r < 3; r++) {
		for (int c = 0; c < 6; c++)
			smi_table_cell(t, "%s", cells[r][c]);
		smi_table_end_row(t);
	}
	smi_table_text(t, 2, "item one\titem two\tthird item here");

	char *full = capture_table(t, SMI_UNLIMITED);
	size_t natural = widest_line(full);
	for (int r = 0; r < 3; r++)
		for (int c = 0; c < 6; c++)
			CHECK(strstr(full, cells[r][c]), "unlimited: '%s' missing:\n%s", cells[r][c], full);
	free(full);

	/* The columns that must stay: Device, Name, Big; their width with
	 * one-space gaps is the narrowest the table can be. */
	size_t minimum = 6 + 20 + 7 + 2;
	for (unsigned width = (unsigned)natural + 5; width >= 20; width--) {
		char *text = capture_table(t, width);
		if (width >= minimum)
			CHECK(widest_line(text) <= width, "width %u: a line of %zu:\n%s", width,
			      widest_line(text), text);
		/* Each cell is either there whole or its column is gone for every
		 * row; a column goes only after every column of an earlier turn. */
		bool shown[6];
		for (int c = 0; c < 6; c++) {
			shown[c] = strstr(text, columns[c].header) != NULL;
			for (int r = 0; r < 3; r++) {
				bool whole = strstr(text, cells[r][c]) != NULL;
				if (c == 0 && cells[r][c][1] == '\0')
					continue; /* a one-digit cell is found anywhere */
				CHECK(whole == shown[c], "width %u: '%s' %s but column %s %s:\n%s", width,
				      cells[r][c], whole ? "shown" : "missing", columns[c].header,
				      shown[c] ? "shown" : "dropped", text);
			}
		}
		CHECK(shown[0] && shown[1] && shown[2], "width %u: a column that stays went:\n%s",
		      width, text);
		for (int a = 0; a < 6; a++)
			for (int b = 0; b < 6; b++)
				if (columns[a].drop && columns[b].drop > columns[a].drop)
					CHECK(!(!shown[b] && shown[a]),
					      "width %u: %s dropped before %s:\n%s", width, columns[b].header,
					      columns[a].header, text);
		/* The text line wraps between items, never inside one. */
		CHECK(strstr(text, "item one") && strstr(text, "item two") &&
			      strstr(text, "third item here"),
		      "width %u: an item was cut:\n%s", width, text);
		free(text);
	}
	smi_table_free(t);
}

TTA_TEST(wrapped_lines_keep_every_word)
{
	const char *text =
		"tt-smi 2.0.0 | 2025-01-02 03:04:05 | segment /tt_alloc | ABI 2 | 3 live processes"
		" | reaper: pid 123 running\n"
		"capacity: 64 devices, 256 process slots (3 in use), 1048576 buffer records"
		" (192 reserved)\n"
		"short line\n";
	char *want = words(text);
	for (unsigned width = 120; width >= 30; width--) {
		char *out = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&out, &len);
		smi_print_wrapped(m, width, text);
		fclose(m);
		CHECK(widest_line(out) <= width, "width %u:\n%s", width, out);
		/* Breaks at " | " drop the bar; everything else stays. */
		char *got = words(out), *expected = strdup(want);
		for (char *p; (p = strstr(expected, " | ")) != NULL;)
			memmove(p + 1, p + 3, strlen(p + 3) + 1);
		for (char *p; (p = strstr(got, " | ")) != NULL;)
			memmove(p + 1, p + 3, strlen(p + 3) + 1);
		CHECK(strcmp(got, expected) == 0, "width %u: words changed:\n%s\nvs\n%s", width, got,
		      expected);
		/* A " | " break is preferred: no line ends with a bare '|'. */
		CHECK(strstr(out, " |\n") == NULL, "width %u:\n%s", width, out);
		free(got);
		free(expected);
		free(out);
	}
	free(want);
}

TTA_TEST(bars_fill_in_proportion)
{
	static const struct {
		double fraction;
		bool utf8;
		const char *want;
	} cases[] = {
		{ 0.0, false, "[..........]" },
		{ 0.5, false, "[#####.....]" },
		{ 1.0, false, "[##########]" },
		{ 7.0, false, "[##########]" },
		{ 0.001, false, "[#.........]" }, /* any use shows */
		{ 0.5, true, "[\u2588\u2588\u2588\u2588\u2588     ]" },
		{ 0.25, true, "[\u2588\u2588\u258c       ]" },
		{ -1.0, true, "[          ]" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&out, &len);
		smi_bar(m, cases[i].fraction, 10, cases[i].utf8);
		fclose(m);
		CHECK(strcmp(out, cases[i].want) == 0, "%g: '%s', want '%s'", cases[i].fraction, out,
		      cases[i].want);
		free(out);
	}
}

TTA_TEST_MAIN(TTA_CASE(pools_follow_the_hardware),
	      TTA_CASE(tables_drop_columns_instead_of_cutting_values),
	      TTA_CASE(wrapped_lines_keep_every_word), TTA_CASE(bars_fill_in_proportion))
