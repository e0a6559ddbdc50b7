/*
 * stream.h - tt-smi's history and event modes: --history [SECONDS] and
 * --events, through the public history and event APIs
 * (<tt-alloc/history.h>, <tt-alloc/events.h>); the JSON is the library's
 * (<tt-alloc/json.h>), so the exporter serves the same documents.
 *
 * Threading: the caller's thread only. Errors: a message on stderr and the
 * exit status to return (0 ok, 2 segment or write error).
 */
#ifndef TT_SMI_STREAM_H
#define TT_SMI_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tt-alloc/reader.h>

struct smi_stream_options {
	bool json;
	int32_t filter_pid;      /* 0 = any */
	int32_t filter_device;   /* -1 = any */
	uint32_t seconds;        /* --history span */
	bool from_start;         /* --events: begin with the oldest held event */
	long count;              /* --events: stop after this many (0 = never) */
};

/* Prints the history of the last OPT->seconds to OUT, as text or JSON. */
int smi_run_history(tta_reader *reader, const struct smi_stream_options *opt, FILE *out);

/* Follows the event stream on OUT until SIGINT, SIGTERM or SIGHUP (exit 0),
 * or OPT->count events. Reopens the segment NAME when it is replaced. */
int smi_run_events(tta_reader **reader, const char *name, const struct smi_stream_options *opt,
		   FILE *out);

#endif /* TT_SMI_STREAM_H */
