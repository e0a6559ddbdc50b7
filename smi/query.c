/*
 * query.c - --query-device, --query-processes and -L. Contract in query.h.
 */
#include "query.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tt-alloc/sources.h>
#include <tt-alloc/text.h>

/* ------------------------------------------------------------------------ */
/* Values                                                                    */

/* DECIMAL: a number already written out (TEXT, exact, from the library),
 * printed like an INT: with its unit unless nounits. */
enum value_kind { VALUE_NA, VALUE_TEXT, VALUE_INT, VALUE_BYTES, VALUE_REAL, VALUE_DECIMAL };

struct value {
	enum value_kind kind;
	int64_t i;          /* INT, BYTES */
	double real;        /* REAL, printed with DECIMALS */
	unsigned decimals;
	char text[256];     /* TEXT (clean), DECIMAL */
};

/* What a getter sees: the moment, and the device or process row. */
struct field_ctx {
	const struct smi_view *view;
	const struct tta_device_view *device;   /* device fields */
	const tta_telemetry *telemetry;         /* the device's, NULL if none read */
	const struct tta_process_row *process;  /* process fields */
	unsigned arg;                           /* memory type, pool or telemetry id */
};

typedef void (*getter_fn)(const struct field_ctx *c, struct value *out);

struct field {
	const char *name; /* may hold "<type>" or "<pool>"; or is "<telemetry>" or
			   * "<reading>" (see expand) */
	const char *unit; /* of INT and REAL values, NULL if none; sizes: bytes */
	getter_fn get;
};

static void set_text(struct value *out, const char *src, size_t maxlen)
{
	out->kind = VALUE_TEXT;
	tta_sanitize_text(src, maxlen, out->text, sizeof out->text);
}

static void set_int(struct value *out, int64_t v)
{
	out->kind = VALUE_INT;
	out->i = v;
}

static void set_bytes(struct value *out, int64_t v)
{
	out->kind = VALUE_BYTES;
	out->i = v;
}

static int64_t clamp_u64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* ---- device fields ------------------------------------------------------- */

static void dev_index(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->device->id);
}

static void dev_arch(const struct field_ctx *c, struct value *out)
{
	if (c->device->registered && c->device->arch[0])
		set_text(out, c->device->arch, sizeof c->device->arch);
}

static void dev_cores(const struct field_ctx *c, struct value *out)
{
	if (c->device->registered && c->device->num_cores)
		set_int(out, c->device->num_cores);
}

static void dev_processes(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->device->processes);
}

static void dev_buffers(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->device->buffers);
}

static void dev_type_used(const struct field_ctx *c, struct value *out)
{
	set_bytes(out, c->device->used[c->arg]);
}

static void dev_type_total(const struct field_ctx *c, struct value *out)
{
	if (c->device->registered && c->device->capacity[c->arg])
		set_bytes(out, clamp_u64(c->device->capacity[c->arg]));
}

static void dev_type_peak(const struct field_ctx *c, struct value *out)
{
	int64_t peak;
	if (!smi_history_type_peak(c->view->history, c->device->id, c->arg, &peak))
		return;
	set_bytes(out, peak > c->device->used[c->arg] ? peak : c->device->used[c->arg]);
}

static void dev_pool_used(const struct field_ctx *c, struct value *out)
{
	set_bytes(out, tta_mem_pool_used(c->device->used, c->arg));
}

static void dev_pool_total(const struct field_ctx *c, struct value *out)
{
	uint64_t cap = c->device->registered ? tta_mem_pool_capacity(c->device->capacity, c->arg) : 0;
	if (cap)
		set_bytes(out, clamp_u64(cap));
}

static void dev_pool_peak(const struct field_ctx *c, struct value *out)
{
	int64_t peak;
	if (smi_pool_peak(c->view, c->device, c->arg, &peak))
		set_bytes(out, peak);
}

/* A field of the library's telemetry table (<tt-alloc/sources.h>), as the
 * driver published it: numbers exact in the field's unit ("45.125"), text
 * as read; [N/A] when not read. */
static void dev_telemetry(const struct field_ctx *c, struct value *out)
{
	const struct tta_telemetry_field *f = tta_telemetry_field(c->arg);
	const char *text;
	if (!f || !tta_telemetry_get(c->telemetry, c->arg, NULL, &text))
		return;
	if (f->kind == TTA_TELEMETRY_NUMBER) {
		if (tta_telemetry_format(c->telemetry, c->arg, out->text, sizeof out->text))
			out->kind = VALUE_DECIMAL;
	} else {
		set_text(out, text, sizeof out->text);
	}
}

/* The device fields. The telemetry comes last: every field of the
 * library's table under its JSON name, and the everyday readings under
 * short names as well (telemetry_readings). */
static const struct field device_fields[] = {
	{ "index", NULL, dev_index },
	{ "arch", NULL, dev_arch },
	{ "cores", NULL, dev_cores },
	{ "processes", NULL, dev_processes },
	{ "buffers", NULL, dev_buffers },
	{ "<type>.used", NULL, dev_type_used },
	{ "<type>.total", NULL, dev_type_total },
	{ "<type>.peak", NULL, dev_type_peak },
	{ "pool.<pool>.used", NULL, dev_pool_used },
	{ "pool.<pool>.total", NULL, dev_pool_total },
	{ "pool.<pool>.peak", NULL, dev_pool_peak },
	{ "<reading>", NULL, dev_telemetry },
	{ "<telemetry>", NULL, dev_telemetry },
};

/* Short names of the readings a script asks for most, nvidia-smi style. */
static const struct {
	const char *name;
	unsigned id;
} telemetry_readings[] = {
	{ "temperature", TTA_TELEMETRY_TEMPERATURE },
	{ "power", TTA_TELEMETRY_POWER },
	{ "voltage", TTA_TELEMETRY_VOLTAGE },
	{ "current", TTA_TELEMETRY_CURRENT },
	{ "aiclk", TTA_TELEMETRY_AICLK },
	{ "fan", TTA_TELEMETRY_FAN },
};

/* The unit a header and a value show for the library's unit name: the
 * symbols nvidia-smi users know; a unit this table does not know shows as
 * the library names it, a count as none. */
static const char *unit_symbol(const char *unit)
{
	static const struct {
		const char *name, *symbol;
	} symbols[] = {
		{ "celsius", "C" },      { "watts", "W" },       { "millivolts", "mV" },
		{ "milliamperes", "mA" }, { "megahertz", "MHz" }, { "rpm", "RPM" },
		{ "count", NULL },       { "", NULL },
	};
	if (!unit)
		return NULL;
	for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++)
		if (strcmp(unit, symbols[i].name) == 0)
			return symbols[i].symbol;
	return unit;
}

/* ---- process fields ------------------------------------------------------ */

static void proc_pid(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->process->proc.pid);
}

static void proc_name(const struct field_ctx *c, struct value *out)
{
	set_text(out, c->process->proc.comm, sizeof c->process->proc.comm);
}

static void proc_user(const struct field_ctx *c, struct value *out)
{
	if (c->process->user[0])
		set_text(out, c->process->user, sizeof c->process->user);
}

static void proc_uid(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->process->proc.uid);
}

static void proc_cmdline(const struct field_ctx *c, struct value *out)
{
	set_text(out, c->process->proc.cmdline, sizeof c->process->proc.cmdline);
}

static void proc_running(const struct field_ctx *c, struct value *out)
{
	if (c->process->running >= 0)
		set_text(out, c->process->running ? "yes" : "no", 4);
}

static void proc_device(const struct field_ctx *c, struct value *out)
{
	if (c->process->device != TTA_NO_DEVICE)
		set_int(out, c->process->device);
}

static void proc_buffers(const struct field_ctx *c, struct value *out)
{
	set_int(out, c->process->buffers);
}

static void proc_type_used(const struct field_ctx *c, struct value *out)
{
	set_bytes(out, c->process->used[c->arg]);
}

static void proc_type_peak(const struct field_ctx *c, struct value *out)
{
	set_bytes(out, c->process->peak[c->arg]);
}

static void proc_pool_used(const struct field_ctx *c, struct value *out)
{
	set_bytes(out, tta_mem_pool_used(c->process->used, c->arg));
}

static const struct field process_fields[] = {
	{ "pid", NULL, proc_pid },
	{ "name", NULL, proc_name },
	{ "user", NULL, proc_user },
	{ "uid", NULL, proc_uid },
	{ "cmdline", NULL, proc_cmdline },
	{ "running", NULL, proc_running },
	{ "device", NULL, proc_device },
	{ "buffers", NULL, proc_buffers },
	{ "<type>.used", NULL, proc_type_used },
	{ "<type>.peak", NULL, proc_type_peak },
	{ "pool.<pool>.used", NULL, proc_pool_used },
};

/* ------------------------------------------------------------------------ */
/* Field lists                                                               */

/* One field of a query, pattern expanded. */
struct chosen {
	const struct field *field;
	unsigned arg;
	const char *unit; /* of its INT, REAL and DECIMAL values, NULL if none */
	char name[64];
};

struct smi_query {
	enum smi_query_kind kind;
	size_t count;
	struct chosen fields[];
};

static const struct field *table_of(enum smi_query_kind kind, size_t *n)
{
	if (kind == SMI_QUERY_DEVICE) {
		*n = sizeof device_fields / sizeof device_fields[0];
		return device_fields;
	}
	*n = sizeof process_fields / sizeof process_fields[0];
	return process_fields;
}

/* Expands pattern F for its I-th name into BUF, and the argument its getter
 * takes into *ARG; returns false past the last one. A name without a
 * pattern has exactly one. "<telemetry>" stands for every field of the
 * library's telemetry table (its JSON name), "<reading>" for the short names
 * of telemetry_readings. */
static bool expand(const struct field *f, unsigned i, char *buf, size_t len, unsigned *arg)
{
	const char *at;
	const char *word;
	*arg = i;
	if (strcmp(f->name, "<telemetry>") == 0) {
		const struct tta_telemetry_field *t = tta_telemetry_field(i);
		return t && snprintf(buf, len, "%s", t->name) < (int)len;
	}
	if (strcmp(f->name, "<reading>") == 0) {
		if (i >= sizeof telemetry_readings / sizeof telemetry_readings[0])
			return false;
		*arg = telemetry_readings[i].id;
		return snprintf(buf, len, "%s", telemetry_readings[i].name) < (int)len;
	}
	if ((at = strstr(f->name, "<type>")) != NULL)
		word = tta_mem_type_name(i);
	else if ((at = strstr(f->name, "<pool>")) != NULL)
		word = tta_mem_pool_name(i);
	else
		return i == 0 && snprintf(buf, len, "%s", f->name) < (int)len;
	if (!word)
		return false;
	snprintf(buf, len, "%.*s%s%s", (int)(at - f->name), f->name, word, at + 6);
	return true;
}

static void list_valid(enum smi_query_kind kind, char *buf, size_t len)
{
	size_t n, used = 0;
	const struct field *table = table_of(kind, &n);
	char name[64];
	buf[0] = '\0';
	unsigned arg;
	for (size_t k = 0; k < n; k++)
		for (unsigned i = 0; expand(&table[k], i, name, sizeof name, &arg); i++) {
			int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
			if (w < 0 || (size_t)w >= len - used)
				return;
			used += (size_t)w;
		}
}

static const char *option_name(enum smi_query_kind kind)
{
	return kind == SMI_QUERY_DEVICE ? "--query-device" : "--query-processes";
}

int smi_query_parse(enum smi_query_kind kind, const char *fields, struct smi_query **out,
		    char *err, size_t errlen)
{
	size_t n, words = 1;
	const struct field *table = table_of(kind, &n);
	for (const char *p = fields; *p; p++)
		words += *p == ',';
	struct smi_query *q = calloc(1, sizeof *q + words * sizeof q->fields[0]);
	char *copy = strdup(fields);
	if (!q || !copy) {
		free(q);
		free(copy);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	q->kind = kind;
	char *save = NULL;
	for (char *word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		while (*word == ' ')
			word++;
		size_t wl = strlen(word);
		while (wl && word[wl - 1] == ' ')
			word[--wl] = '\0';
		if (!*word)
			continue;
		bool found = false;
		char name[64];
		unsigned arg;
		for (size_t k = 0; k < n && !found; k++)
			for (unsigned i = 0; expand(&table[k], i, name, sizeof name, &arg); i++)
				if (strcasecmp(name, word) == 0) {
					struct chosen *c = &q->fields[q->count++];
					c->field = &table[k];
					c->arg = arg;
					c->unit = c->field->unit;
					if (c->field->get == dev_telemetry)
						c->unit = unit_symbol(tta_telemetry_field(arg)->unit);
					snprintf(c->name, sizeof c->name, "%s", name);
					found = true;
					break;
				}
		if (!found) {
			char valid[4096], shown[64];
			list_valid(kind, valid, sizeof valid);
			tta_sanitize_text(word, 48, shown, sizeof shown);
			snprintf(err, errlen, "unknown field '%s' for %s; valid fields: %s", shown,
				 option_name(kind), valid);
			free(copy);
			free(q);
			return -1;
		}
	}
	free(copy);
	if (q->count == 0) {
		char valid[4096];
		list_valid(kind, valid, sizeof valid);
		snprintf(err, errlen, "%s needs a list of fields; valid fields: %s", option_name(kind),
			 valid);
		free(q);
		return -1;
	}
	*out = q;
	return 0;
}

void smi_query_free(struct smi_query *q)
{
	free(q);
}

int smi_format_parse(const char *text, struct smi_format *out, char *err, size_t errlen)
{
	char *copy = strdup(text), *save = NULL;
	bool csv = false;
	out->header = true;
	out->units = true;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		while (*word == ' ')
			word++;
		if (strcmp(word, "csv") == 0) {
			csv = true;
		} else if (strcmp(word, "noheader") == 0) {
			out->header = false;
		} else if (strcmp(word, "nounits") == 0) {
			out->units = false;
		} else {
			char shown[64];
			tta_sanitize_text(word, 48, shown, sizeof shown);
			snprintf(err, errlen, "unknown format '%s' (--format=csv[,noheader][,nounits])",
				 shown);
			free(copy);
			return -1;
		}
	}
	free(copy);
	if (!csv) {
		snprintf(err, errlen, "--format needs csv (--format=csv[,noheader][,nounits])");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* CSV                                                                       */

static bool is_size_field(const struct chosen *c)
{
	/* Every field of the type and pool patterns is a size; the getters
	 * say so too (VALUE_BYTES), but the header is printed before any. */
	return strstr(c->field->name, "<type>") || strstr(c->field->name, "<pool>");
}

void smi_query_print_header(const struct smi_query *q, const struct smi_format *fmt, FILE *out)
{
	for (size_t k = 0; k < q->count; k++) {
		const struct chosen *c = &q->fields[k];
		fprintf(out, "%s%s", k ? ", " : "", c->name);
		if (is_size_field(c))
			fputs(fmt->units ? " [MiB]" : " [B]", out);
		else if (c->unit)
			fprintf(out, " [%s]", c->unit);
	}
	fputc('\n', out);
}

/* BYTES as MiB to three decimals, trailing zeros dropped: "1024", "0.004". */
static void print_mib(FILE *out, int64_t bytes)
{
	const uint64_t mib = 1u << 20;
	uint64_t mag = bytes < 0 ? (uint64_t)0 - (uint64_t)bytes : (uint64_t)bytes;
	uint64_t whole = mag / mib, frac = ((mag % mib) * 1000 + mib / 2) / mib;
	if (frac == 1000) {
		whole++;
		frac = 0;
	}
	if (bytes < 0 && (whole || frac))
		fputc('-', out);
	fprintf(out, "%" PRIu64, whole);
	if (frac) {
		char digits[8];
		snprintf(digits, sizeof digits, "%03" PRIu64, frac);
		for (int i = 2; i > 0 && digits[i] == '0'; i--)
			digits[i] = '\0';
		fprintf(out, ".%s", digits);
	}
}

static void print_csv_text(FILE *out, const char *text)
{
	size_t len = strlen(text);
	bool quote = strpbrk(text, ",\"") != NULL ||
		     (len && (text[0] == ' ' || text[len - 1] == ' '));
	if (!quote) {
		fputs(text, out);
		return;
	}
	fputc('"', out);
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void print_value(FILE *out, const struct value *v, const char *unit,
			const struct smi_format *fmt)
{
	switch (v->kind) {
	case VALUE_NA:
		fputs("[N/A]", out);
		break;
	case VALUE_TEXT:
		print_csv_text(out, v->text);
		break;
	case VALUE_INT:
		fprintf(out, "%" PRId64, v->i);
		if (fmt->units && unit)
			fprintf(out, " %s", unit);
		break;
	case VALUE_REAL:
		fprintf(out, "%.*f", (int)v->decimals, v->real);
		if (fmt->units && unit)
			fprintf(out, " %s", unit);
		break;
	case VALUE_DECIMAL:
		fputs(v->text, out);
		if (fmt->units && unit)
			fprintf(out, " %s", unit);
		break;
	case VALUE_BYTES:
		if (fmt->units) {
			print_mib(out, v->i);
			fputs(" MiB", out);
		} else {
			fprintf(out, "%" PRId64, v->i);
		}
		break;
	}
}

static void print_row(const struct smi_query *q, const struct smi_format *fmt,
		      struct field_ctx *ctx, FILE *out)
{
	for (size_t k = 0; k < q->count; k++) {
		struct value v;
		memset(&v, 0, sizeof v);
		ctx->arg = q->fields[k].arg;
		q->fields[k].field->get(ctx, &v);
		if (k)
			fputs(", ", out);
		print_value(out, &v, q->fields[k].unit, fmt);
	}
	fputc('\n', out);
}

void smi_query_print_rows(const struct smi_query *q, const struct smi_format *fmt,
			  const struct smi_view *v, FILE *out)
{
	struct field_ctx ctx = { .view = v };
	const tta_snapshot *snap = v->snap;
	if (q->kind == SMI_QUERY_PROCESSES) {
		for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
			ctx.process = tta_snapshot_process(snap, i);
			if (v->select && v->select->count &&
			    (ctx.process->device == TTA_NO_DEVICE ||
			     !smi_select_has(v->select, ctx.process->device)))
				continue;
			print_row(q, fmt, &ctx, out);
		}
		return;
	}
	if (v->select && v->select->count) {
		/* Every device asked for, idle and unregistered ones too: their
		 * use is zero, their capacities unknown. */
		for (size_t k = 0; k < v->select->count; k++) {
			struct tta_device_view idle;
			ctx.device = smi_find_device(snap, v->select->ids[k]);
			ctx.telemetry = NULL;
			for (size_t i = 0; ctx.device && i < tta_snapshot_device_count(snap); i++)
				if (tta_snapshot_device(snap, i) == ctx.device)
					ctx.telemetry = tta_snapshot_device_telemetry(snap, i);
			if (!ctx.device) {
				memset(&idle, 0, sizeof idle);
				idle.id = v->select->ids[k];
				ctx.device = &idle;
			}
			print_row(q, fmt, &ctx, out);
		}
		return;
	}
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		ctx.device = tta_snapshot_device(snap, i);
		ctx.telemetry = tta_snapshot_device_telemetry(snap, i);
		print_row(q, fmt, &ctx, out);
	}
}

/* ------------------------------------------------------------------------ */
/* -L                                                                        */

void smi_list_devices(const struct smi_view *v, FILE *out)
{
	const tta_snapshot *snap = v->snap;
	for (size_t i = 0; i < tta_snapshot_device_count(snap); i++) {
		const struct tta_device_view *d = tta_snapshot_device(snap, i);
		char arch[64], dram[32], l1[32];
		if (!smi_select_has(v->select, d->id))
			continue;
		if (!d->registered) {
			fprintf(out, "Device %" PRIu32 ": unregistered (in use by %" PRIu32
				" process%s)\n", d->id, d->processes, d->processes == 1 ? "" : "es");
			continue;
		}
		tta_sanitize_text(d->arch, sizeof d->arch, arch, sizeof arch);
		fprintf(out, "Device %" PRIu32 ": %s (%s DRAM, %s L1", d->id, arch[0] ? arch : "?",
			tta_format_bytes(clamp_u64(tta_mem_pool_capacity(d->capacity, TTA_POOL_DRAM)),
					 dram, sizeof dram),
			tta_format_bytes(clamp_u64(tta_mem_pool_capacity(d->capacity, TTA_POOL_L1)),
					 l1, sizeof l1));
		if (d->num_cores)
			fprintf(out, ", %" PRIu32 " core%s", d->num_cores, d->num_cores == 1 ? "" : "s");
		fputs(")\n", out);
	}
}
