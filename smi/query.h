/*
 * query.h - nvidia-smi habits for scripts: --query-device=FIELDS and
 * --query-processes=FIELDS printed as CSV (--format=csv[,noheader][,nounits]),
 * and -L, one device a line.
 *
 * Fields are declared once, in the tables of query.c: name, unit and a
 * getter each. A name may hold "<type>" or "<pool>", which stands for every
 * memory type (tta_mem_type_name) or pool (tta_mem_pool_name) the library
 * knows, so the lists never repeat the library's names. The device's
 * telemetry (<tt-alloc/sources.h>) is the library's field table under its
 * JSON names (temperature_c, power_w, card_type, serial, ...), and the
 * everyday readings under short names too (temperature, power, voltage,
 * current, aiclk, fan): numbers exact as the library formats them, in the
 * table's unit shown as its symbol (C, W, mV, mA, MHz, RPM). Adding a field
 * is one line in a table and one getter.
 *
 * CSV (like nvidia-smi's): fields separated by ", ", one row a line; the
 * header names each field with its unit in brackets ("dram.used [MiB]").
 * With units, sizes are MiB to three decimals ("1024 MiB", "0.004 MiB":
 * 1 KiB resolution, like nvidia-smi's memory.used [MiB] but finer) and
 * other figures carry their unit; with nounits, sizes are exact bytes (the
 * header then says "[B]") and other figures are bare numbers. A value that
 * is not known prints "[N/A]". Text (names, users, arch) is sanitised for
 * the terminal and, if it holds a comma, a double quote or edge spaces,
 * quoted as RFC 4180 says ("a, b" -> "\"a, b\"", '"' doubled).
 *
 * Threading: none. Errors: smi_query_parse returns -1 with a message in ERR.
 */
#ifndef TT_SMI_QUERY_H
#define TT_SMI_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "views.h"

enum smi_query_kind { SMI_QUERY_DEVICE = 0, SMI_QUERY_PROCESSES = 1 };

struct smi_format {
	bool header; /* false with noheader */
	bool units;  /* false with nounits */
};

struct smi_query;

/* Parses a comma-separated field list for KIND. Returns 0 and *OUT, or -1
 * with "unknown field 'x' for --query-device; valid fields: ..." (or an
 * empty-list message) in ERR. ERR should hold a few KiB: it lists every
 * valid field. */
int smi_query_parse(enum smi_query_kind kind, const char *fields, struct smi_query **out,
		    char *err, size_t errlen);
void smi_query_free(struct smi_query *q);

/* Parses "csv[,noheader][,nounits]" (any order after csv). Returns 0 or -1
 * with a message in ERR. */
int smi_format_parse(const char *text, struct smi_format *out, char *err, size_t errlen);

/* The CSV header line of Q. */
void smi_query_print_header(const struct smi_query *q, const struct smi_format *fmt, FILE *out);
/* The rows of Q for the moment V shows: one per device (the selected ones;
 * with -i each selected device even when idle and unregistered), or one
 * per process row (of the selected devices). */
void smi_query_print_rows(const struct smi_query *q, const struct smi_format *fmt,
			  const struct smi_view *v, FILE *out);

/* -L: "Device 0: Wormhole_B0 (12GiB DRAM, 114MiB L1, 80 cores)", one a line,
 * for every device registered or in use (and selected). */
void smi_list_devices(const struct smi_view *v, FILE *out);

#endif /* TT_SMI_QUERY_H */
