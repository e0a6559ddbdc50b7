/*
 * stream.c - tt-smi --history and --events (contract in stream.h).
 */
#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/events.h>
#include <tt-alloc/history.h>
#include <tt-alloc/json.h>
#include <tt-alloc/text.h>

#define ERR_LEN 512
#define POLL_MS 50

/* Memory types in the order a user scans them (as the other views). */
static const unsigned columns[TTA_MEM_TYPES] = {
	TTA_MEM_DRAM, TTA_MEM_L1, TTA_MEM_L1_SMALL, TTA_MEM_TRACE,
	TTA_MEM_SYSTEM, TTA_MEM_CB, TTA_MEM_KERNEL,
};

static void clock_text(uint64_t realtime_ns, bool millis, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ns / 1000000000u);
	struct tm tm;
	char hms[16];
	if (!localtime_r(&secs, &tm) || !strftime(hms, sizeof hms, "%H:%M:%S", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	if (millis)
		snprintf(buf, len, "%.8s.%03u", hms, (unsigned)((realtime_ns / 1000000u) % 1000u));
	else
		snprintf(buf, len, "%s", hms);
}

static void history_row(FILE *out, const char *when, const int64_t *used)
{
	fprintf(out, "  %-8s", when);
	for (unsigned c = 0; c < TTA_MEM_TYPES; c++) {
		char b[32];
		fprintf(out, "  %9s", tta_format_bytes(used[columns[c]], b, sizeof b));
	}
	fputc('\n', out);
}

/* Text: per device its peaks, then a row per sample whose value differs
 * from the row before (the first and last always): idle stretches fold. */
static void history_text(const tta_history *h, FILE *out)
{
	if (!tta_history_available(h)) {
		fprintf(out, "This segment keeps no history (created by an older tt-alloc); "
			     "it is recreated with history once removed.\n");
		return;
	}
	fprintf(out, "History: last %" PRIu32 " s, one sample every %" PRIu32 " ms\n",
		tta_history_seconds(h), tta_history_interval_ms(h));
	if (tta_history_device_count(h) == 0)
		fprintf(out, "No device registered, in use or recorded\n");
	for (size_t i = 0; i < tta_history_device_count(h); i++) {
		const struct tta_history_device *d = tta_history_device(h, i);
		char b[32];
		fprintf(out, "\nDevice %" PRIu32 ": %zu samples (%zu recorded), peak total %s\n", d->id,
			d->sample_count, d->recorded_count,
			tta_format_bytes(d->peak_total, b, sizeof b));
		fprintf(out, "  %-8s", "Time");
		for (unsigned c = 0; c < TTA_MEM_TYPES; c++) {
			char label[16];
			const char *name = tta_mem_type_name(columns[c]);
			size_t k = 0;
			for (; name && name[k] && k + 1 < sizeof label; k++)
				label[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
			label[k] = '\0';
			fprintf(out, "  %9s", label);
		}
		fputc('\n', out);
		history_row(out, "peak", d->peak);
		const struct tta_history_sample *prev = NULL;
		for (size_t k = 0; k < d->sample_count; k++) {
			const struct tta_history_sample *s = tta_history_sample(h, i, k);
			char when[32];
			if (!s->known) {
				clock_text(s->realtime_ns, false, when, sizeof when);
				fprintf(out, "  %-8s  (unknown: its writer died while recording it)\n",
					when);
				prev = NULL;
				continue;
			}
			bool last = k + 1 == d->sample_count;
			if (prev && !last && memcmp(prev->used, s->used, sizeof s->used) == 0)
				continue;
			clock_text(s->realtime_ns, false, when, sizeof when);
			history_row(out, when, s->used);
			prev = s;
		}
	}
}

int smi_run_history(tta_reader *reader, const struct smi_stream_options *opt, FILE *out)
{
	char err[ERR_LEN] = "";
	tta_history *h = NULL;
	if (tta_history_take(reader, opt->filter_device, opt->seconds, &h, err, sizeof err) < 0) {
		fprintf(stderr, "tt-smi: %s\n", err);
		return 2;
	}
	if (opt->json)
		tta_history_write_json(h, out);
	else
		history_text(h, out);
	tta_history_free(h);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

static volatile sig_atomic_t stop_events;

static void on_stop(int sig)
{
	(void)sig;
	stop_events = 1;
}

static bool wanted(const struct tta_event *e, const struct smi_stream_options *opt)
{
	if (opt->filter_pid != 0 && e->pid != opt->filter_pid)
		return false;
	if (opt->filter_device >= 0 && e->device != (uint32_t)opt->filter_device)
		return false;
	return true;
}

static void print_missed(uint64_t missed, const struct smi_stream_options *opt, FILE *out)
{
	if (opt->json) {
		tta_events_write_missed_json(missed, out);
	} else {
		struct timespec ts;
		char when[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		clock_text((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, true, when,
			   sizeof when);
		fprintf(out, "%s MISSED: %" PRIu64 " event%s (the reader fell behind or a writer "
			"died mid-event)\n", when, missed, missed == 1 ? "" : "s");
	}
}

int smi_run_events(tta_reader **reader, const char *name, const struct smi_stream_options *opt,
		   FILE *out)
{
	char err[ERR_LEN] = "";
	tta_event_cursor *cursor = NULL;
	int status = 0;
	sigset_t block, wait_mask;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	const int stops[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
		sigaction(stops[i], &sa, NULL);
		sigaddset(&block, stops[i]);
	}
	/* Blocked except inside ppoll: no stop is lost between check and wait. */
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
		sigdelset(&wait_mask, stops[i]);

	if (tta_events_open(*reader, opt->from_start ? TTA_EVENTS_OLDEST : TTA_EVENTS_NOW, &cursor,
			    err, sizeof err) < 0) {
		fprintf(stderr, "tt-smi: %s\n", err);
		return 2;
	}
	if (!tta_events_available(cursor))
		fprintf(stderr, "tt-smi: segment %s has no event ring (created by an older "
			"tt-alloc): no event will come\n", name);
	long shown = 0;
	unsigned polls = 0;
	while (!stop_events) {
		const struct tta_event *e;
		uint64_t missed = 0;
		int rc;
		while ((rc = tta_events_next(cursor, &e, &missed)) != 0 || missed) {
			if (missed)
				print_missed(missed, opt, out);
			if (rc < 0) {
				fprintf(stderr, "tt-smi: segment %s became unreadable (truncated)\n", name);
				status = 2;
				goto out;
			}
			if (rc == 0)
				break;
			if (!wanted(e, opt))
				continue;
			if (opt->json) {
				tta_event_write_json(e, out);
			} else {
				char when[32], line[256];
				clock_text(e->realtime_ns, true, when, sizeof when);
				fprintf(out, "%s %s\n", when, tta_event_format(e, line, sizeof line));
			}
			if (opt->count && ++shown >= opt->count)
				goto out;
		}
		if (fflush(out) != 0 || ferror(out)) {
			fprintf(stderr, "tt-smi: cannot write the output: %s\n", strerror(errno));
			status = 2;
			goto out;
		}
		/* About once a second: follow a segment that was replaced. */
		if (++polls % (1000 / POLL_MS) == 0 &&
		    tta_reader_status(*reader) == TTA_SEGMENT_REPLACED) {
			tta_reader *fresh = NULL;
			if (tta_reader_open(name, &fresh, err, sizeof err) == 0) {
				tta_events_close(cursor);
				cursor = NULL;
				tta_reader_close(*reader);
				*reader = fresh;
				if (tta_events_open(fresh, TTA_EVENTS_OLDEST, &cursor, err,
						    sizeof err) < 0) {
					fprintf(stderr, "tt-smi: %s\n", err);
					status = 2;
					goto out;
				}
			}
		}
		struct timespec pause = { .tv_sec = 0, .tv_nsec = POLL_MS * 1000000L };
		ppoll(NULL, 0, &pause, &wait_mask);
	}
out:
	fflush(out);
	tta_events_close(cursor);
	return status;
}
