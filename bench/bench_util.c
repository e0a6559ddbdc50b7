/*
 * bench_util.c - clocks, statistics, result table/JSON, child processes and
 * /proc readings for tt-alloc-bench (see bench.h).
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sock_proto.h"

/* ---- clocks and statistics ----------------------------------------------- */

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted V. */
static double percentile(const double *v, unsigned n, double p)
{
	double rank = ceil(p / 100.0 * n);
	unsigned i = rank < 1 ? 0 : (unsigned)rank - 1;
	return v[i >= n ? n - 1 : i];
}

struct summary summarize(double *v, unsigned n)
{
	struct summary s = { 0 };
	if (n == 0)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.n = n;
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.p10 = percentile(v, n, 10);
	s.p90 = percentile(v, n, 90);
	s.p99 = percentile(v, n, 99);
	return s;
}

/* ---- results ------------------------------------------------------------- */

struct result {
	char section;
	char row[64], system[32], unit[24];
	struct summary s;
};

#define MAX_RESULTS 512
#define MAX_NOTES 64
static struct result results[MAX_RESULTS];
static unsigned n_results;
static struct {
	char section;
	char text[640];
} notes[MAX_NOTES];
static unsigned n_notes;
static struct target targets[32];
static unsigned n_targets;

static const char *section_title(char s)
{
	switch (s) {
	case 'a': return "a. report cost: allocate + free pair, one thread";
	case 'b': return "b. writer processes at once: aggregate reports per second";
	case 'c': return "c. visibility: report in process A until a reader in process B sees it";
	case 'd': return "d. query latency";
	case 'e': return "e. CPU per million reports (writer + server)";
	case 'f': return "f. memory per live buffer";
	case 'g': return "g. crash cleanup: SIGKILL of a writer holding buffers until totals are exact";
	case 'h': return "h. ck tables under churn (remove + put of a fresh key)";
	case 'i': return "i. old socket protocol: tt-alloc-bridge vs the baseline server";
	case 'j': return "j. sources beside the segment: driver telemetry, pid lists, TT-Metal segments";
	case 'k': return "k. tags and call sites (TT_ALLOC_STACK_TRACE=1): cost per allocation";
	case 'm': return "m. history, peaks and events: the report path with and without them";
	case 'l': return "l. tt-alloc-exporter: one Prometheus scrape, 256 processes on 64 devices";
	case 'n': return "n. real workloads: trace replays, tracking off / tt-alloc / socket baseline";
	case 'o': return "o. how cost grows";
	default: return "?";
	}
}

void result_add(char section, const char *row, const char *system, const char *unit,
		struct summary s)
{
	if (n_results == MAX_RESULTS)
		return;
	struct result *r = &results[n_results++];
	r->section = section;
	snprintf(r->row, sizeof(r->row), "%s", row);
	snprintf(r->system, sizeof(r->system), "%s", system);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	r->s = s;
}

void result_add_value(char section, const char *row, const char *system, const char *unit,
		      double value)
{
	struct summary s = { value, value, value, value, value, value, 1 };
	result_add(section, row, system, unit, s);
}

const struct summary *result_get(char section, const char *row, const char *system)
{
	for (unsigned i = 0; i < n_results; i++)
		if (results[i].section == section && !strcmp(results[i].row, row) &&
		    !strcmp(results[i].system, system))
			return &results[i].s;
	return NULL;
}

void result_note(char section, const char *fmt, ...)
{
	if (n_notes == MAX_NOTES)
		return;
	notes[n_notes].section = section;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(notes[n_notes].text, sizeof(notes[n_notes].text), fmt, ap);
	va_end(ap);
	n_notes++;
}

void target_add(const struct target *t)
{
	if (n_targets < sizeof(targets) / sizeof(targets[0]))
		targets[n_targets++] = *t;
}

/* Compact number: 3 significant digits, no exponent for the usual ranges. */
static void fmt_num(char *buf, size_t n, double v)
{
	double a = fabs(v);
	if (a >= 1e9)
		snprintf(buf, n, "%.3g", v);
	else if (a >= 100)
		snprintf(buf, n, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, n, "%.1f", v);
	else
		snprintf(buf, n, "%.2f", v);
}

static void fmt_cell(char *buf, size_t n, const struct result *r)
{
	char med[32], lo[32], hi[32];
	fmt_num(med, sizeof(med), r->s.median);
	if (r->s.n <= 1 || r->s.min == r->s.max) {
		snprintf(buf, n, "%s", med);
		return;
	}
	fmt_num(lo, sizeof(lo), r->s.min);
	fmt_num(hi, sizeof(hi), r->s.max);
	snprintf(buf, n, "%s [%s..%s]", med, lo, hi);
}

void results_print_table(void)
{
	static const char order[] = BENCH_SECTIONS;
	for (const char *sec = order; *sec; sec++) {
		/* Distinct columns and rows of this section, in insertion order. */
		const char *cols[8];
		const char *rows[96];
		const char *units[96];
		unsigned nc = 0, nr = 0;
		for (unsigned i = 0; i < n_results; i++) {
			const struct result *r = &results[i];
			if (r->section != *sec)
				continue;
			unsigned c;
			for (c = 0; c < nc && strcmp(cols[c], r->system); c++)
				;
			if (c == nc && nc < 8)
				cols[nc++] = r->system;
			unsigned k;
			for (k = 0; k < nr && strcmp(rows[k], r->row); k++)
				;
			if (k == nr && nr < 96) {
				units[nr] = r->unit;
				rows[nr++] = r->row;
			}
		}
		bool has_notes = false;
		for (unsigned i = 0; i < n_notes; i++)
			has_notes |= notes[i].section == *sec;
		if (nr == 0 && !has_notes)
			continue;
		printf("\n%s\n", section_title(*sec));
		if (nr > 0) {
			int roww = 10;
			for (unsigned k = 0; k < nr; k++) {
				int w = (int)(strlen(rows[k]) + strlen(units[k]) + 3);
				if (w > roww)
					roww = w;
			}
			int colw[8];
			for (unsigned c = 0; c < nc; c++) {
				colw[c] = (int)strlen(cols[c]);
				for (unsigned k = 0; k < nr; k++) {
					for (unsigned i = 0; i < n_results; i++) {
						const struct result *r = &results[i];
						if (r->section != *sec || strcmp(r->row, rows[k]) ||
						    strcmp(r->system, cols[c]))
							continue;
						char cell[128];
						fmt_cell(cell, sizeof(cell), r);
						if ((int)strlen(cell) > colw[c])
							colw[c] = (int)strlen(cell);
					}
				}
			}
			printf("  %-*s", roww, "");
			for (unsigned c = 0; c < nc; c++)
				printf("  %-*s", colw[c], cols[c]);
			printf("\n");
			for (unsigned k = 0; k < nr; k++) {
				char label[128];
				snprintf(label, sizeof(label), "%s (%s)", rows[k], units[k]);
				printf("  %-*s", roww, label);
				for (unsigned c = 0; c < nc; c++) {
					char cell[128] = "-";
					for (unsigned i = 0; i < n_results; i++) {
						const struct result *r = &results[i];
						if (r->section == *sec && !strcmp(r->row, rows[k]) &&
						    !strcmp(r->system, cols[c]))
							fmt_cell(cell, sizeof(cell), r);
					}
					printf("  %-*s", colw[c], cell);
				}
				printf("\n");
			}
		}
		for (unsigned i = 0; i < n_notes; i++)
			if (notes[i].section == *sec)
				printf("  note: %s\n", notes[i].text);
	}
	if (n_targets > 0) {
		printf("\nTargets\n");
		for (unsigned i = 0; i < n_targets; i++) {
			const struct target *t = &targets[i];
			if (t->measured < 0) {
				printf("  [ n/a ] %s: not measured\n", t->name);
				continue;
			}
			bool met = t->higher_is_better ? t->measured >= t->goal : t->measured <= t->goal;
			char m[32], g[32];
			fmt_num(m, sizeof(m), t->measured);
			fmt_num(g, sizeof(g), t->goal);
			printf("  [%s] %s: %s (goal %s %s)%s%s\n", met ? " met " : "MISSED", t->name, m,
			       t->higher_is_better ? ">=" : "<=", g, t->detail[0] ? "; " : "", t->detail);
		}
	}
}

static FILE *jf;

static void fputc_jf(int c)
{
	fputc(c, jf);
}

static void json_string(const char *s)
{
	fputc_jf('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(jf, "\\%c", c);
		else if (c < 0x20)
			fprintf(jf, "\\u%04x", c);
		else
			fputc_jf(c);
	}
	fputc_jf('"');
}

static void json_number(double v)
{
	if (isfinite(v))
		fprintf(jf, "%.6g", v);
	else
		fprintf(jf, "null");
}

static void json_summary_value(char section, const char *row, const char *system)
{
	const struct summary *s = result_get(section, row, system);
	if (s)
		json_number(s->median);
	else
		fprintf(jf, "null");
}

void results_print_json(FILE *out)
{
	jf = out;
	char cpu[256], kernel[256];
	unsigned ncpu;
	machine_describe(cpu, sizeof(cpu), &ncpu, kernel, sizeof(kernel));
	char headline[32];
	snprintf(headline, sizeof(headline), "%u live", cfg.live_levels[cfg.headline_level]);

	fprintf(jf, "{\n  \"machine\": {\"nproc\": %u, \"cpu\": ", ncpu);
	json_string(cpu);
	fprintf(jf, ", \"kernel\": ");
	json_string(kernel);
	fprintf(jf, ", \"load_at_start\": %.2f, \"load_at_end\": %.2f},\n", cfg.load_start, machine_load());
	fprintf(jf, "  \"mode\": \"%s\",\n", cfg.quick ? "quick" : "default");
	fprintf(jf, "  \"segment\": ");
	json_string(cfg.shm_name);
	fprintf(jf, ",\n  \"socket_path\": ");
	json_string(cfg.socket_path);
	fprintf(jf, ",\n  \"report_pair_live\": %u,\n", cfg.live_levels[cfg.headline_level]);
	fprintf(jf, "  \"report_pair_ns_by_live\": {");
	for (unsigned li = 0; li < cfg.n_levels; li++) {
		char row[32];
		snprintf(row, sizeof(row), "%u live", cfg.live_levels[li]);
		fprintf(jf, "%s\"%u\": {", li ? ", " : "", cfg.live_levels[li]);
		for (unsigned sy = 0; sy < SYS_COUNT; sy++) {
			fprintf(jf, "%s\"%s\": ", sy ? ", " : "", sys_name[sy]);
			json_summary_value('a', row, sys_name[sy]);
		}
		fprintf(jf, "}");
	}
	fprintf(jf, "},\n");
	fprintf(jf, "  \"report_pair_ns\": {\"shm\": ");
	json_summary_value('a', headline, sys_name[SYS_SHM]);
	fprintf(jf, ", \"shm_handle\": ");
	json_summary_value('a', headline, sys_name[SYS_SHM_HANDLE]);
	fprintf(jf, ", \"socket\": ");
	json_summary_value('a', headline, sys_name[SYS_SOCKET]);
	fprintf(jf, ", \"counters_shm\": ");
	json_summary_value('a', headline, sys_name[SYS_COUNTERS]);
	fprintf(jf, ", \"counters_shm_core\": ");
	json_summary_value('a', headline, sys_name[SYS_COUNTERS_CORE]);
	char shared[64];
	snprintf(shared, sizeof(shared), "device totals, %u processes", cfg.query_holders);
	fprintf(jf, "},\n  \"report_pair_free_newest_ns\": {");
	char newest[64];
	snprintf(newest, sizeof(newest), "%s, free newest", headline);
	for (unsigned sy = 0; sy < SYS_COUNT; sy++) {
		fprintf(jf, "%s\"%s\": ", sy ? ", " : "", sys_name[sy]);
		json_summary_value('a', newest, sys_name[sy]);
	}
	fprintf(jf, "},\n  \"query_ns\": {\"shm\": ");
	json_summary_value('d', "device totals, 1 process", "shm");
	fprintf(jf, ", \"socket\": ");
	json_summary_value('d', "device totals, 1 process", "socket");
	fprintf(jf, ", \"socket_fastest_connection\": ");
	json_summary_value('d', "totals: fastest connection", "socket");
	fprintf(jf, ", \"counters_shm\": ");
	json_summary_value('d', "device totals, 1 process", "counters_shm");
	fprintf(jf, ", \"shm_shared_device\": ");
	json_summary_value('d', shared, "shm");
	fprintf(jf, ", \"shared_device_processes\": %u", cfg.query_holders);
	fprintf(jf, "},\n  \"snapshot_ns\": {\"shm\": ");
	json_summary_value('d', "full snapshot", "shm");
	fprintf(jf, ", \"socket\": ");
	json_summary_value('d', "full snapshot", "socket");
	fprintf(jf, ", \"counters_shm\": ");
	json_summary_value('d', "full snapshot", "counters_shm");
	fprintf(jf, "},\n  \"scaling_2proc\": ");
	json_summary_value('b', "2/1 processes", "shm");
	fprintf(jf, ",\n  \"scaling_4proc\": ");
	json_summary_value('b', "4/1 processes", "shm");
	fprintf(jf, ",\n  \"reap_ms\": {");
	const struct summary *g = result_get('g', "SIGKILL -> exact", "shm");
	if (g)
		fprintf(jf, "\"p50\": %.6g, \"p99\": %.6g, \"max\": %.6g, \"n\": %u", g->median, g->p99,
		       g->max, g->n);
	fprintf(jf, "},\n  \"socket_reap_ms\": {");
	g = result_get('g', "SIGKILL -> exact", "socket");
	if (g)
		fprintf(jf, "\"p50\": %.6g, \"p99\": %.6g, \"max\": %.6g, \"n\": %u", g->median, g->p99,
		       g->max, g->n);
	/* m: the report path with and without history, peaks and events. */
	fprintf(jf, "},\n  \"history_cost_ns\": {");
	static const char *const variants[][2] = { { "none", "none (core segment)" },
						   { "history_peaks", "history+peaks" },
						   { "history_peaks_events", "history+peaks+events" } };
	for (int pair = 0; pair < 2; pair++) {
		char row[64];
		snprintf(row, sizeof(row), "%s pair, %s", pair ? "handle" : "address", headline);
		fprintf(jf, "%s\"%s_pair\": {", pair ? ", " : "", pair ? "handle" : "address");
		for (int v = 0; v < 3; v++) {
			fprintf(jf, "%s\"%s\": ", v ? ", " : "", variants[v][0]);
			json_summary_value('m', row, variants[v][1]);
		}
		fprintf(jf, "}");
	}
	fprintf(jf, ", \"events_per_report\": ");
	json_summary_value('m', "events: ns per report (handle pair / 2)", variants[2][1]);
	fprintf(jf, ", \"handle_pair_added_one_process\": ");
	json_summary_value('m', "handle pair, one process: history+peaks - core", variants[1][1]);
	fprintf(jf, "},\n  \"report_pair_floor_ns\": {");
	for (unsigned li = 0; li < cfg.n_levels; li++) {
		char row[96];
		snprintf(row, sizeof(row), "%u live: load in records (4 KiB pages)", cfg.live_levels[li]);
		fprintf(jf, "%s\"%u\": {\"records_load\": ", li ? ", " : "", cfg.live_levels[li]);
		json_summary_value('a', row, "shm");
		snprintf(row, sizeof(row), "%u live: load in table (huge pages)", cfg.live_levels[li]);
		fprintf(jf, ", \"table_load\": ");
		json_summary_value('a', row, "shm");
		snprintf(row, sizeof(row), "%u live: two-access floor", cfg.live_levels[li]);
		fprintf(jf, ", \"two_access\": ");
		json_summary_value('a', row, "shm");
		snprintf(row, sizeof(row), "%u live: two-access floor, both sets at once",
			 cfg.live_levels[li]);
		fprintf(jf, ", \"two_access_both_sets\": ");
		json_summary_value('a', row, "shm");
		fprintf(jf, "}");
	}
	fprintf(jf, "},\n  \"report_pair_vs_counters_same_round\": {");
	for (unsigned li = 0; li < cfg.n_levels; li++) {
		char row[96];
		snprintf(row, sizeof(row), "%u live: counters_shm / shm, same round", cfg.live_levels[li]);
		fprintf(jf, "%s\"%u\": {\"oldest_freed\": ", li ? ", " : "", cfg.live_levels[li]);
		json_summary_value('a', row, "shm");
		snprintf(row, sizeof(row), "%u live, free newest: counters_shm / shm, same round",
			 cfg.live_levels[li]);
		fprintf(jf, ", \"newest_freed\": ");
		json_summary_value('a', row, "shm");
		fprintf(jf, "}");
	}
	fprintf(jf, "},\n  \"query_totals_ns\": {\"one_process\": ");
	json_summary_value('d', "totals only, 1 process", "shm");
	snprintf(shared, sizeof(shared), "totals only, %u processes", cfg.query_holders);
	fprintf(jf, ", \"shared_device\": ");
	json_summary_value('d', shared, "shm");
	fprintf(jf, "},\n  \"snapshot_take_ns\": ");
	json_summary_value('d', "tta_snapshot_take", "shm");
	fprintf(jf, ",\n  \"scaling_2proc_same_round\": ");
	json_summary_value('b', "2/1, same round", "shm");
	fprintf(jf, ",\n  \"scaling_impossible_rounds\": ");
	json_summary_value('b', "impossible rounds", "shm");
	fprintf(jf, ",\n  \"bridge_reports_kps\": {\"socket\": ");
	json_summary_value('i', "old-protocol reports", "socket");
	fprintf(jf, ", \"bridge\": ");
	json_summary_value('i', "old-protocol reports", "bridge");
	fprintf(jf, ", \"bridge_no_spin\": ");
	json_summary_value('i', "old-protocol reports", "bridge, --spin-us 0");
	fprintf(jf, ", \"ceiling\": ");
	json_summary_value('i', "old-protocol reports", "ceiling (reads only)");
	fprintf(jf, "},\n  \"bridge_vs_socket_same_round\": ");
	json_summary_value('i', "reports vs socket, same round", "bridge");
	fprintf(jf, ",\n  \"bridge_vs_ceiling_same_round\": {\"bridge\": ");
	json_summary_value('i', "reports vs the ceiling, same round", "bridge");
	fprintf(jf, ", \"socket\": ");
	json_summary_value('i', "reports vs the ceiling, same round", "socket");
	fprintf(jf, "}");
	fprintf(jf, ",\n  \"workload_added_ns_per_op\": {");
	static const char *const traces[] = { "LLM inference", "training loop" };
	for (unsigned i = 0; i < 2; i++) {
		char row[96];
		snprintf(row, sizeof(row), "%s: added per operation", traces[i]);
		fprintf(jf, "%s\"%s\": {\"shm\": ", i ? ", " : "", i ? "training_loop" : "llm_inference");
		json_summary_value('n', row, "shm");
		fprintf(jf, ", \"socket\": ");
		json_summary_value('n', row, "socket");
		fprintf(jf, "}");
	}
	fprintf(jf, "},\n  \"results\": [");
	for (unsigned i = 0; i < n_results; i++) {
		const struct result *r = &results[i];
		fprintf(jf, "%s\n    {\"section\": \"%c\", \"row\": ", i ? "," : "", r->section);
		json_string(r->row);
		fprintf(jf, ", \"system\": ");
		json_string(r->system);
		fprintf(jf, ", \"unit\": ");
		json_string(r->unit);
		fprintf(jf, ", \"median\": ");
		json_number(r->s.median);
		fprintf(jf, ", \"min\": ");
		json_number(r->s.min);
		fprintf(jf, ", \"max\": ");
		json_number(r->s.max);
		fprintf(jf, ", \"p10\": ");
		json_number(r->s.p10);
		fprintf(jf, ", \"p90\": ");
		json_number(r->s.p90);
		fprintf(jf, ", \"p99\": ");
		json_number(r->s.p99);
		fprintf(jf, ", \"n\": %u}", r->s.n);
	}
	fprintf(jf, "\n  ],\n  \"notes\": [");
	for (unsigned i = 0; i < n_notes; i++) {
		fprintf(jf, "%s\n    {\"section\": \"%c\", \"text\": ", i ? "," : "", notes[i].section);
		json_string(notes[i].text);
		fprintf(jf, "}");
	}
	fprintf(jf, "\n  ],\n  \"targets\": [");
	for (unsigned i = 0; i < n_targets; i++) {
		const struct target *t = &targets[i];
		fprintf(jf, "%s\n    {\"name\": ", i ? "," : "");
		json_string(t->name);
		fprintf(jf, ", \"goal\": ");
		json_number(t->goal);
		fprintf(jf, ", \"measured\": ");
		if (t->measured < 0)
			fprintf(jf, "null, \"met\": null");
		else
			fprintf(jf, "%.6g, \"met\": %s", t->measured,
			       (t->higher_is_better ? t->measured >= t->goal : t->measured <= t->goal)
				       ? "true"
				       : "false");
		fprintf(jf, ", \"detail\": ");
		json_string(t->detail);
		fprintf(jf, "}");
	}
	fprintf(jf, "\n  ]\n}\n");
}

/* ---- processes ----------------------------------------------------------- */

void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "tt-alloc-bench: mmap of %zu shared bytes failed: %s\n", size,
			strerror(errno));
		exit(1);
	}
	return p;
}

pid_t spawn_fn(int (*fn)(void *), void *arg)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "tt-alloc-bench: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		_exit(fn(arg));
	}
	return pid;
}

int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

pid_t spawn_exec(char *const argv[], const char *logfile)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logfile ? logfile : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* ---- /proc --------------------------------------------------------------- */

static uint64_t status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	uint64_t v = 0;
	size_t fl = strlen(field);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtoull(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v * 1024;
}

uint64_t proc_rss_anon(pid_t pid)
{
	return status_kib(pid, "RssAnon");
}

uint64_t proc_rss_total(pid_t pid)
{
	return status_kib(pid, "VmRSS");
}

uint64_t proc_cpu_ns(pid_t pid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	uint64_t sum = 0;
	bool any = false;
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[320];
			snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
			FILE *f = fopen(p, "re");
			if (!f)
				continue;
			unsigned long long ns;
			if (fscanf(f, "%llu", &ns) == 1) {
				sum += ns;
				any = true;
			}
			fclose(f);
		}
		closedir(d);
	}
	if (any)
		return sum;
	/* No schedstat: utime + stime in clock ticks (fields 14 and 15). */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	unsigned long long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

double machine_load(void)
{
	double load = -1;
	FILE *f = fopen("/proc/loadavg", "re");
	if (f) {
		if (fscanf(f, "%lf", &load) != 1)
			load = -1;
		fclose(f);
	}
	return load;
}

void machine_describe(char *cpu_model, size_t n, unsigned *ncpu, char *kernel, size_t kn)
{
	snprintf(cpu_model, n, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (f) {
		char line[512];
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "model name", 10)) {
				char *c = strchr(line, ':');
				if (c) {
					c++;
					while (*c == ' ' || *c == '\t')
						c++;
					c[strcspn(c, "\n")] = 0;
					snprintf(cpu_model, n, "%s", c);
				}
				break;
			}
		}
		fclose(f);
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	*ncpu = cpus > 0 ? (unsigned)cpus : 1;
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(kernel, kn, "%s %s %s", u.sysname, u.release, u.machine);
	else
		snprintf(kernel, kn, "unknown");
}

/* ---- socket server ------------------------------------------------------- */

pid_t listener_start(char *const argv[], const char *log_name, const char *path)
{
	char log[400];
	snprintf(log, sizeof(log), "%s/%s", cfg.tmpdir, log_name);
	pid_t pid = spawn_exec(argv, log);
	if (pid < 0)
		return -1;
	uint64_t deadline = now_ns() + 5000000000ull;
	while (now_ns() < deadline) {
		int fd = sock_connect(path);
		if (fd >= 0) {
			close(fd);
			return pid;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "tt-alloc-bench: %s exited at start (see %s)\n", argv[0], log);
			return -1;
		}
		usleep(2000);
	}
	fprintf(stderr, "tt-alloc-bench: %s did not listen on %s within 5 s\n", argv[0], path);
	kill(pid, SIGKILL);
	wait_child(pid);
	return -1;
}

pid_t socket_server_start(void)
{
	char *argv[] = { cfg.server_bin, "--socket", cfg.socket_path, "--cleanup-on-disconnect",
			 NULL };
	return listener_start(argv, "socket-server.log", cfg.socket_path);
}

void socket_server_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	wait_child(pid);
	unlink(cfg.socket_path);
}

/* ---- memory latency ---------------------------------------------------------- */

double median_of_values(double *v, unsigned n)
{
	return n ? summarize(v, n).median : 0;
}

/* A private map of BYTES (rounded up to 2 MiB), zeroed, on transparent
 * huge pages or explicitly not; NULL on failure. */
static char *chase_map(size_t bytes, bool huge, size_t *map_bytes)
{
	*map_bytes = (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
	char *p = mmap(NULL, *map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, *map_bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 0, *map_bytes);
	return p;
}

/* 0..N-1 in a random order (xorshift from SEED), or NULL. */
static uint32_t *chase_order(size_t n, uint64_t rng)
{
	uint32_t *order = malloc(n * sizeof *order);
	if (order == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		size_t j = (size_t)(rng % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	return order;
}

/* Follows the pointer cycle from START: once around (LOADS loads) to warm
 * the caches and TLBs as far as they go, then STEPS timed loads; ns a load. */
static double chase_time(char *start, size_t loads, size_t steps)
{
	char *q = start;
	for (size_t i = 0; i < loads; i++)
		q = *(char **)(void *)q;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < steps; i++)
		q = *(char **)(void *)q;
	uint64_t t1 = now_ns();
	__asm__ volatile("" : : "r"(q));
	return (double)(t1 - t0) / (double)steps;
}

double pointer_chase_ns(size_t bytes, bool huge)
{
	size_t lines = bytes / 64, map_bytes;
	if (lines < 2)
		return 0;
	char *p = chase_map(bytes, huge, &map_bytes);
	uint32_t *order = chase_order(lines, 0x9e3779b97f4a7c15ull);
	double ns = 0;
	if (p != NULL && order != NULL) {
		/* One random cycle through every line: each load's address is
		 * the previous load's value, so no two loads overlap. */
		for (size_t i = 0; i < lines; i++)
			*(char **)(void *)(p + (size_t)order[i] * 64) =
				p + (size_t)order[(i + 1) % lines] * 64;
		ns = chase_time(p + (size_t)order[0] * 64, lines, lines < 2000000 ? 2000000 : lines);
	}
	if (p != NULL)
		munmap(p, map_bytes);
	free(order);
	return ns;
}

double bucket_record_chase_ns(size_t table_bytes, size_t record_bytes)
{
	size_t nt = table_bytes / 64, nr = record_bytes / 64, tmap, rmap;
	if (nt < 2 || nr < 2)
		return 0;
	/* Every record line is visited once a cycle; a table line is visited
	 * n / nt times and keeps each visit's pointer in its own word. */
	size_t n = nr > nt ? nr : nt;
	if ((n + nt - 1) / nt > 8)
		return 0;
	char *table = chase_map(table_bytes, true, &tmap);
	char *records = chase_map(record_bytes, false, &rmap);
	uint32_t *tord = chase_order(nt, 0x9e3779b97f4a7c15ull);
	uint32_t *rord = chase_order(nr, 0x2545f4914f6cdd1dull);
	double ns = 0;
	if (table != NULL && records != NULL && tord != NULL && rord != NULL) {
#define BUCKET(k) (table + (size_t)tord[(k) % nt] * 64 + ((k) / nt) * 8)
#define RECORD(k) (records + (size_t)rord[(k) % nr] * 64 + ((k) / nr) * 8)
		for (size_t k = 0; k < n; k++) {
			*(char **)(void *)BUCKET(k) = RECORD(k);
			*(char **)(void *)RECORD(k) = BUCKET((k + 1) % n);
		}
		ns = 2 * chase_time(BUCKET(0), 2 * n, 4000000);
#undef BUCKET
#undef RECORD
	}
	if (table != NULL)
		munmap(table, tmap);
	if (records != NULL)
		munmap(records, rmap);
	free(tord);
	free(rord);
	return ns;
}
