/*
 * tt_smi.c - tt-smi: show what is allocated on Tenstorrent devices, from the
 * tt-alloc telemetry segment.
 *
 * This file holds the command line, opening the segment and the refresh
 * loops (the terminal, its keys and signals); what a snapshot holds and how
 * it is printed is render.c's and views.c's, the watch's frames watch.c's,
 * the query fields query.c's.
 *
 * tt-smi only ever reads the segment, through the public read API
 * (<tt-alloc/reader.h>), which maps it PROT_READ, survives a segment
 * truncated under it (reported as an error: exit status 2 with the terminal
 * restored) and says when the segment was replaced (the watch follows it).
 *
 * Exit status: 0 success; 1 --check-empty found allocations; 2 bad usage,
 * no segment, an incompatible or unreadable segment, or a write error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>

#include <tt-alloc/text.h>

#include "history.h"
#include "query.h"
#include "render.h"
#include "stream.h"
#include "views.h"
#include "watch.h"

#ifndef TT_SMI_VERSION
#define TT_SMI_VERSION "2.0.0"
#endif

enum { EXIT_OK = 0, EXIT_NOT_EMPTY = 1, EXIT_TROUBLE = 2 };

#define ERR_LEN 512
#define SEGMENT_NAME_LEN 258 /* '/', up to 255 bytes, NUL */
#define DEFAULT_INTERVAL_MS 1000

/* Most devices -i may name at once. */
#define MAX_SELECTED 4096

struct options {
	char segment[SEGMENT_NAME_LEN];
	bool have_segment;
	bool watch, json, buffers, check_empty, telemetry;
	bool by_site, by_tag;  /* group buffers (implies reading them) */
	bool loop;          /* -l / -lms: print again every interval */
	bool list_devices;  /* -L */
	long interval_ms;
	long count; /* refreshes in watch or loop mode; 0 = until stopped */
	int32_t filter_pid;    /* 0 = any */
	int32_t filter_device; /* -1 = any (one device chosen: the snapshot's filter) */
	struct smi_query *query; /* --query-device / --query-processes */
	const char *format_text; /* --format */
	struct smi_format format;
	uint32_t selected[MAX_SELECTED]; /* -i, sorted, no duplicates */
	size_t selected_count;
	struct smi_select select;
	enum smi_watch_view view; /* --view: what text shows, the watch's first view */
	bool have_view;
	bool history, events, from_start; /* stream.h's modes */
	uint32_t history_seconds;
};

/* ------------------------------------------------------------------------ */
/* Usage                                                                     */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tt-smi [OPTION]...\n"
		"Show Tenstorrent device memory in use, per device and per process, from the\n"
		"tt-alloc telemetry segment (read-only).\n"
		"\n"
		"  -w, --watch            redraw every interval until q or Ctrl-C; keys 1 main,\n"
		"                         2 charts, 3 processes (with peaks), 4 events,\n"
		"                         5 telemetry\n"
		"  -r, --interval MS      refresh interval in milliseconds (default %d)\n"
		"  -l, --loop SEC         print again every SEC seconds until stopped\n"
		"  -lms, --loop-ms MS     the same, every MS milliseconds\n"
		"  -c, --count N          with --watch or --loop: stop after N refreshes\n"
		"  -j, --json             one machine-readable snapshot (JSON); with --loop,\n"
		"                         one document per line\n"
		"      --query-device=FIELDS     CSV, one row per device (--query-device=help\n"
		"                                lists the fields)\n"
		"      --query-processes=FIELDS  CSV, one row per process and device\n"
		"      --format=csv[,noheader][,nounits]  CSV format: sizes in MiB, or in bytes\n"
		"                                with nounits\n"
		"  -i, --id ID[,ID...]    only these devices\n"
		"      --view VIEW        main, charts, processes, events or telemetry (1-5):\n"
		"                         the view printed, or the watch's first (events:\n"
		"                         --watch only)\n"
		"  -L, --list-devices     one line per device\n"
		"  -b, --buffers          list buffer records (PID, device, type, address,\n"
		"                         size, age); with --json adds a \"buffers\" array\n"
		"  -t, --telemetry        the driver's telemetry per device (temperature, power,\n"
		"                         clocks, ...), untracked processes, TT-Metal segments\n"
		"                         (--view telemetry)\n"
		"      --by-site          buffers summed per call site (needs the writer to run\n"
		"                         with TT_ALLOC_STACK_TRACE=1), largest first\n"
		"      --by-tag           buffers summed per tag (tta_set_tag), largest first;\n"
		"                         both: per tag and call site. With --json: adds\n"
		"                         \"tags\" rows (per device) and the buffers\n"
		"  -p, --pid PID          only this process\n"
		"  -d, --device N         only this device (as -i N)\n"
		"      --check-empty      exit 1 and list what is still allocated, 0 if\n"
		"                         nothing is (CI leak check)\n"
		"      --history [SECONDS]  memory use per device over the last SECONDS\n"
		"                         (default 600; beyond ~17 min one sample a minute)\n"
		"      --events           follow allocations, frees, kernel loads, attaches,\n"
		"                         exits and reaps live, one line each (with --json one\n"
		"                         JSON object each); Ctrl-C ends. --count N stops\n"
		"                         after N events\n"
		"      --from-start       with --events: begin with the oldest event held\n"
		"  -s, --segment NAME     segment to read (default $TT_ALLOC_SHM or /tt_alloc)\n"
		"\n"
		"Beside the segment, tt-smi reads the tt-kmd driver (sysfs, hwmon and\n"
		"/proc/driver/tenstorrent) and TT-Metal's /dev/shm/tt_device_*_memory files;\n"
		"TT_ALLOC_SYSFS_ROOT=DIR reads them under DIR instead. With no segment yet it\n"
		"shows what those report.\n"
		"  -h, --help             this help\n"
		"  -V, --version          version\n"
		"\n"
		"Exit status: 0 ok, 1 --check-empty found allocations, 2 usage or segment error.\n",
		DEFAULT_INTERVAL_MS);
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tt-smi: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'tt-smi --help' for more information.\n");
	exit(EXIT_TROUBLE);
}

enum { OPT_CHECK_EMPTY = 1000, OPT_BY_SITE, OPT_BY_TAG, OPT_HISTORY, OPT_EVENTS, OPT_FROM_START,
       OPT_LOOP_MS,
       OPT_QUERY_DEVICE, OPT_QUERY_PROCESSES, OPT_FORMAT, OPT_VIEW };

static void parse_view(const char *text, struct options *opt)
{
	static const char *const names[SMI_VIEW_LAST + 1] = { "", "main", "charts", "processes",
							      "events", "telemetry" };
	for (int k = 1; k <= SMI_VIEW_LAST; k++) {
		char digit[2] = { (char)('0' + k), '\0' };
		if (strcmp(text, names[k]) == 0 || strcmp(text, digit) == 0) {
			opt->view = (enum smi_watch_view)k;
			opt->have_view = true;
			return;
		}
	}
	usage_error("unknown view '%s' (main, charts, processes, events, telemetry, or 1-5)", text);
}

/* Adds the ids of LIST ("0,2,3") to the selection. */
static void parse_ids(const char *list, struct options *opt)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		usage_error("%s", "out of memory");
	for (char *word = strtok_r(copy, ",", &save); word; word = strtok_r(NULL, ",", &save)) {
		long value;
		if (!tta_parse_long(word, 0, INT32_MAX, &value))
			usage_error("invalid device id in '%s' (device numbers from 0, "
				    "separated by commas)", list);
		bool known = false;
		for (size_t i = 0; i < opt->selected_count && !known; i++)
			known = opt->selected[i] == (uint32_t)value;
		if (known)
			continue;
		if (opt->selected_count == MAX_SELECTED)
			usage_error("too many device ids in '%s'", list);
		size_t at = opt->selected_count++;
		while (at > 0 && opt->selected[at - 1] > (uint32_t)value) {
			opt->selected[at] = opt->selected[at - 1];
			at--;
		}
		opt->selected[at] = (uint32_t)value;
	}
	if (opt->selected_count == 0)
		usage_error("invalid device list '%s'", list);
	free(copy);
}

static void parse_query(enum smi_query_kind kind, const char *fields, struct options *opt)
{
	char err[4096];
	if (opt->query)
		usage_error("%s", "one query at a time: --query-device or --query-processes");
	if (strcmp(fields, "help") == 0) {
		/* The list of fields, as the error for an unknown one gives it. */
		smi_query_parse(kind, "", &opt->query, err, sizeof err);
		const char *list = strstr(err, "valid fields: ");
		printf("%s\n", list ? list + strlen("valid fields: ") : err);
		exit(EXIT_OK);
	}
	if (smi_query_parse(kind, fields, &opt->query, err, sizeof err) < 0)
		usage_error("%s", err);
}

/* nvidia-smi spells its millisecond loop "-lms": one word, one dash. */
static void rewrite_lms(int argc, char **argv)
{
	static char loop_ms[] = "--loop-ms";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return;
		if (strcmp(argv[i], "-lms") == 0)
			argv[i] = loop_ms;
	}
}

static void parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "buffers", no_argument, NULL, 'b' },
		{ "telemetry", no_argument, NULL, 't' },
		{ "pid", required_argument, NULL, 'p' },
		{ "device", required_argument, NULL, 'd' },
		{ "check-empty", no_argument, NULL, OPT_CHECK_EMPTY },
		{ "by-site", no_argument, NULL, OPT_BY_SITE },
		{ "by-tag", no_argument, NULL, OPT_BY_TAG },
		{ "history", optional_argument, NULL, OPT_HISTORY },
		{ "events", no_argument, NULL, OPT_EVENTS },
		{ "from-start", no_argument, NULL, OPT_FROM_START },
		{ "loop", required_argument, NULL, 'l' },
		{ "loop-ms", required_argument, NULL, OPT_LOOP_MS },
		{ "id", required_argument, NULL, 'i' },
		{ "list-devices", no_argument, NULL, 'L' },
		{ "query-device", required_argument, NULL, OPT_QUERY_DEVICE },
		{ "query-processes", required_argument, NULL, OPT_QUERY_PROCESSES },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "segment", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long value;
	int c;

	memset(opt, 0, sizeof *opt);
	opt->interval_ms = DEFAULT_INTERVAL_MS;
	opt->view = SMI_VIEW_MAIN;
	opt->filter_device = -1;
	opterr = 0;
	rewrite_lms(argc, argv);
	while ((c = getopt_long(argc, argv, ":wr:c:jbtp:d:s:hVl:i:L", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			opt->watch = true;
			break;
		case 'r':
			if (!tta_parse_long(optarg, 10, 86400000, &value))
				usage_error("invalid interval '%s' (milliseconds, 10..86400000)",
					    optarg);
			opt->interval_ms = value;
			break;
		case 'l':
			if (!tta_parse_long(optarg, 1, 86400, &value))
				usage_error("invalid loop interval '%s' (seconds, 1..86400)", optarg);
			opt->interval_ms = value * 1000;
			opt->loop = true;
			break;
		case OPT_LOOP_MS:
			if (!tta_parse_long(optarg, 10, 86400000, &value))
				usage_error("invalid loop interval '%s' (milliseconds, 10..86400000)",
					    optarg);
			opt->interval_ms = value;
			opt->loop = true;
			break;
		case 'i':
			parse_ids(optarg, opt);
			break;
		case 'L':
			opt->list_devices = true;
			break;
		case OPT_QUERY_DEVICE:
			parse_query(SMI_QUERY_DEVICE, optarg, opt);
			break;
		case OPT_QUERY_PROCESSES:
			parse_query(SMI_QUERY_PROCESSES, optarg, opt);
			break;
		case OPT_FORMAT:
			opt->format_text = optarg;
			break;
		case OPT_VIEW:
			parse_view(optarg, opt);
			break;
		case 'c':
			if (!tta_parse_long(optarg, 1, LONG_MAX, &value))
				usage_error("invalid count '%s' (a positive number)", optarg);
			opt->count = value;
			break;
		case 'j':
			opt->json = true;
			break;
		case 'b':
			opt->buffers = true;
			break;
		case 't':
			opt->telemetry = true;
			break;
		case 'p':
			if (!tta_parse_long(optarg, 1, INT32_MAX, &value))
				usage_error("invalid pid '%s'", optarg);
			opt->filter_pid = (int32_t)value;
			break;
		case 'd':
			if (!tta_parse_long(optarg, 0, INT32_MAX, &value))
				usage_error("invalid device '%s' (a device number from 0)", optarg);
			parse_ids(optarg, opt);
			break;
		case OPT_CHECK_EMPTY:
			opt->check_empty = true;
			break;
		case OPT_BY_SITE:
			opt->by_site = true;
			break;
		case OPT_BY_TAG:
			opt->by_tag = true;
			break;
		case OPT_HISTORY: {
			/* "--history 300" as well as "--history=300": a following
			 * word that is a number is the span. */
			const char *span = optarg;
			if (span == NULL && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				span = argv[optind++];
			opt->history = true;
			opt->history_seconds = 600;
			if (span != NULL) {
				if (!tta_parse_long(span, 1, 2 * 86400, &value))
					usage_error("invalid history span '%s' (seconds, 1..172800)",
						    span);
				opt->history_seconds = (uint32_t)value;
			}
			break;
		}
		case OPT_EVENTS:
			opt->events = true;
			break;
		case OPT_FROM_START:
			opt->from_start = true;
			break;
		case 's':
			/* Resolved (and checked) like every component's: see
			 * tta_segment_name. */
			if (snprintf(opt->segment, sizeof opt->segment, "%s", optarg) >=
			    (int)sizeof opt->segment)
				usage_error("segment name too long: '%s'", optarg);
			opt->have_segment = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("tt-smi %s (tt-alloc segment ABI, read API %d)\n", TT_SMI_VERSION,
			       TTA_API_VERSION);
			exit(EXIT_OK);
		case ':':
		default: {
			char why[128];
			usage_error("%s", tta_option_error(c, argv, longopts, why, sizeof why));
		}
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (opt->check_empty && opt->watch)
		usage_error("%s", "--check-empty takes one snapshot; it cannot be combined with --watch");
	if (opt->history + opt->events + opt->watch + opt->check_empty > 1)
		usage_error("%s", "choose one of --watch, --history, --events and --check-empty");
	if ((opt->history || opt->events) && opt->buffers)
		usage_error("%s", "--buffers does not apply to --history or --events");
	if ((opt->history || opt->events) &&
	    (opt->loop || opt->query || opt->list_devices || opt->have_view ||
	     opt->selected_count > 1))
		usage_error("%s", "--history and --events take --json, --pid and one device (-d, -i)"
			    " only");
	if (opt->history && opt->filter_pid)
		usage_error("%s", "--pid does not apply to --history: the history is kept per device "
			    "(use --device); a process's peak is in --json");
	if (opt->from_start && !opt->events)
		usage_error("%s", "--from-start only applies to --events");
	if (opt->count && !opt->watch && !opt->loop && !opt->events)
		usage_error("%s", "--count only applies to --watch, --loop and --events");
	if (opt->check_empty && opt->loop)
		usage_error("%s", "--check-empty takes one snapshot; it cannot be combined with --loop");
	if (opt->format_text) {
		char err[256];
		if (!opt->query)
			usage_error("%s", "--format applies to --query-device and --query-processes");
		if (smi_format_parse(opt->format_text, &opt->format, err, sizeof err) < 0)
			usage_error("%s", err);
	} else {
		opt->format = (struct smi_format){ .header = true, .units = true };
	}
	if (opt->query && (opt->json || opt->buffers || opt->check_empty || opt->list_devices))
		usage_error("%s", "a query prints CSV; it cannot be combined with --json, --buffers,"
			    " --check-empty or -L");
	if (opt->query && opt->watch)
		usage_error("%s", "a query is not a screen: repeat it with -l SEC or -lms MS");
	if (opt->list_devices && (opt->json || opt->buffers || opt->check_empty || opt->watch ||
				  opt->loop))
		usage_error("%s", "-L lists devices once; it cannot be combined with other views");
	if (opt->have_view && (opt->json || opt->buffers || opt->check_empty || opt->query ||
			       opt->list_devices))
		usage_error("%s", "--view chooses a text view; it cannot be combined with --json,"
			    " --buffers, --check-empty, a query or -L");
	if (opt->view == SMI_VIEW_EVENTS && !opt->watch)
		usage_error("%s", "--view events is the watch's live tail (-w); to print events,"
			    " follow them with --events");
	/* One device: the snapshot's own filter (also for JSON, buffers and the
	 * leak check). Several: the views and queries choose among all. */
	if (opt->selected_count == 1)
		opt->filter_device = (int32_t)opt->selected[0];
	if (opt->selected_count > 1 && (opt->json || opt->buffers || opt->check_empty))
		usage_error("%s", "several devices apply to the text views, queries and -L; --json,"
			    " --buffers and --check-empty take one device (-i N) or all");
	opt->select = (struct smi_select){ .count = opt->selected_count, .ids = opt->selected };
	if (opt->check_empty && (opt->by_site || opt->by_tag))
		usage_error("%s", "--check-empty lists what is left; use --buffers with it, not --by-site "
			    "or --by-tag");
	if ((opt->history || opt->events) && (opt->by_site || opt->by_tag))
		usage_error("%s", "--by-site and --by-tag do not apply to --history or --events");
	if (opt->telemetry && (opt->buffers || opt->check_empty || opt->history || opt->events))
		usage_error("%s", "--telemetry cannot be combined with --buffers, --check-empty, "
			    "--history or --events");
	/* -t is view 5: printed once, or the watch's first view. */
	if (opt->telemetry && opt->have_view && opt->view != SMI_VIEW_TELEMETRY)
		usage_error("%s", "--telemetry is --view telemetry; choose one view");
	if (opt->telemetry)
		opt->view = SMI_VIEW_TELEMETRY;
}

/* ------------------------------------------------------------------------ */
/* Terminal state and signals                                               */

static struct termios saved_termios;
static volatile sig_atomic_t termios_changed; /* stdin is in key mode */
static volatile sig_atomic_t screen_active;   /* alternate screen is up */
static volatile sig_atomic_t stop_requested; /* the signal that asked us to stop */
static volatile sig_atomic_t resize_requested, suspend_requested;

static const char enter_screen[] = "\033[?1049h\033[?25l\033[H\033[2J";
static const char leave_screen[] = "\033[?25h\033[?1049l";

/* Async-signal-safe: write(2) and tcsetattr(3) only. */
static void terminal_restore(void)
{
	if (screen_active) {
		ssize_t ignored = write(STDOUT_FILENO, leave_screen, sizeof leave_screen - 1);
		(void)ignored;
		screen_active = 0;
	}
	if (termios_changed) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
		termios_changed = 0;
	}
}

static void terminal_enter(void)
{
	fflush(stdout);
	/* Keys arrive one by one without echo; ISIG stays on so Ctrl-C and
	 * Ctrl-Z still reach us as signals (handled below). */
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
		struct termios keys = saved_termios;
		keys.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		keys.c_cc[VMIN] = 0;
		keys.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSADRAIN, &keys) == 0)
			termios_changed = 1;
	}
	ssize_t ignored = write(STDOUT_FILENO, enter_screen, sizeof enter_screen - 1);
	(void)ignored;
	screen_active = 1;
}

static void on_stop_signal(int sig)
{
	if (sig == SIGWINCH)
		resize_requested = 1;
	else if (sig == SIGTSTP)
		suspend_requested = 1;
	else
		stop_requested = sig;
}

static const int watch_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGTSTP };

/* Handlers without SA_RESTART so they interrupt ppoll; the signals stay
 * blocked except inside ppoll, so none is lost between check and wait. */
static void install_watch_handlers(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof watch_signals / sizeof watch_signals[0]; i++) {
		sigaction(watch_signals[i], &sa, NULL);
		sigaddset(&block, watch_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (size_t i = 0; i < sizeof watch_signals / sizeof watch_signals[0]; i++)
		sigdelset(wait_mask, watch_signals[i]);
}

/* ------------------------------------------------------------------------ */
/* Segment                                                                   */

struct segment {
	tta_reader *reader;
	char name[SEGMENT_NAME_LEN];
};

static int segment_open(struct segment *seg, const struct options *opt, char *err, size_t errlen)
{
	const char *name = tta_segment_name(opt->have_segment ? opt->segment : NULL, err, errlen);
	if (!name)
		return -EINVAL;
	snprintf(seg->name, sizeof seg->name, "%s", name);
	int rc = tta_reader_open(seg->name, &seg->reader, err, errlen);
	if (rc < 0) {
		seg->reader = NULL;
		if (!err[0])
			snprintf(err, errlen, "cannot open segment %s: %s", seg->name, strerror(-rc));
		return rc;
	}
	return 0;
}

static void segment_close(struct segment *seg)
{
	if (seg->reader)
		tta_reader_close(seg->reader);
	seg->reader = NULL;
}

/* A watch outlives segments: when the name now points at another file (the
 * segment was deleted and re-created), follow it. Returns 1 when it did
 * (a new reader), 0 when nothing changed, or a negative errno. */
static int segment_follow(struct segment *seg, const struct options *opt, char *err, size_t errlen)
{
	if (seg->reader == NULL || tta_reader_status(seg->reader) != TTA_SEGMENT_REPLACED)
		return 0;
	segment_close(seg);
	int rc = segment_open(seg, opt, err, errlen);
	return rc < 0 ? rc : 1;
}

/* Without a segment (no tt-alloc writer has run yet), what the driver and
 * TT-Metal report can still be shown; with none of those either, the
 * segment's error stands. */
static bool sources_only_allowed(const struct options *opt)
{
	return !opt->buffers && !opt->check_empty && !opt->by_site && !opt->by_tag;
}

static int take_snapshot(struct segment *seg, const struct options *opt, tta_snapshot **snap,
			 char *err, size_t errlen)
{
	unsigned flags = TTA_SNAPSHOT_PROCESS_DETAILS | TTA_SNAPSHOT_SOURCES;
	if (opt->buffers || opt->by_site || opt->by_tag)
		flags |= TTA_SNAPSHOT_BUFFERS;
	if (opt->by_tag && opt->json)
		flags |= TTA_SNAPSHOT_TAGS;
	if (seg->reader == NULL) {
		int rc = segment_open(seg, opt, err, errlen); /* a writer may have come */
		if (rc == -ENOENT && sources_only_allowed(opt)) {
			rc = tta_snapshot_take(NULL, opt->filter_pid, opt->filter_device, flags, snap,
					       NULL, 0);
			const struct tta_sources_info *si = rc == 0 ? tta_snapshot_sources(*snap) : NULL;
			if (si && (si->sysfs_devices || si->tt_metal_segments))
				return 0;
			tta_snapshot_free(*snap);
			*snap = NULL;
			return -ENOENT; /* ERR still says why there is no segment */
		}
		if (rc < 0)
			return rc;
	}
	return tta_snapshot_take(seg->reader, opt->filter_pid, opt->filter_device, flags, snap, err,
				 errlen);
}

/* What one refresh reads: the snapshot and, for the views that show peaks
 * or charts, the history the segment keeps. */
struct moment {
	tta_snapshot *snap;
	struct smi_history *history;
};

/* JSON is the library's document (peaks included); buffer lists, the leak
 * check and -L show no history. */
static bool needs_history(const struct options *opt)
{
	return !opt->json && !opt->buffers && !opt->check_empty && !opt->list_devices;
}

static int take_moment(struct segment *seg, const struct options *opt, struct moment *m,
		       char *err, size_t errlen)
{
	m->snap = NULL;
	m->history = NULL;
	int rc = take_snapshot(seg, opt, &m->snap, err, errlen);
	if (rc < 0)
		return rc;
	/* Without a segment (the sources alone) there is no history: no peaks. */
	if (needs_history(opt) && seg->reader &&
	    (rc = smi_history_load(seg->reader, SMI_PEAK_SECONDS, &m->history, err, errlen)) < 0) {
		tta_snapshot_free(m->snap);
		m->snap = NULL;
	}
	return rc;
}

static void moment_free(struct moment *m)
{
	tta_snapshot_free(m->snap);
	smi_history_free(m->history);
	m->snap = NULL;
	m->history = NULL;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static bool utf8_locale; /* LC_CTYPE is UTF-8: Unicode bars and charts */

static struct smi_view view_of(const struct moment *m, const struct options *opt)
{
	return (struct smi_view){ .snap = m->snap, .history = m->history, .select = &opt->select,
				  .width = SMI_UNLIMITED, .utf8 = utf8_locale,
				  .version = TT_SMI_VERSION };
}

/* The JSON document on one line (for --loop: one document per line). Valid
 * JSON holds no raw newline inside a string, so every newline of the
 * library's document, with the indentation after it, is layout. */
static void json_one_line(const tta_snapshot *snap, FILE *out)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&doc, &len);
	if (!m) {
		smi_render_json(snap, TT_SMI_VERSION, out);
		return;
	}
	smi_render_json(snap, TT_SMI_VERSION, m);
	fclose(m);
	for (size_t i = 0; i < len; i++) {
		if (doc[i] != '\n') {
			fputc(doc[i], out);
			continue;
		}
		while (i + 1 < len && doc[i + 1] == ' ')
			i++;
	}
	fputc('\n', out);
	free(doc);
}

/* Returns what the process should exit with for this moment. FIRST: the
 * first of a loop (the CSV header goes with it). */
static int render(const struct moment *m, const struct options *opt, bool first, FILE *out)
{
	const tta_snapshot *snap = m->snap;
	struct smi_view v = view_of(m, opt);
	int status = EXIT_OK;
	if (opt->list_devices) {
		smi_list_devices(&v, out);
		return status;
	}
	if (opt->query) {
		if (first && opt->format.header)
			smi_query_print_header(opt->query, &opt->format, out);
		smi_query_print_rows(opt->query, &opt->format, &v, out);
		return status;
	}
	if (opt->check_empty && smi_render_leaks(snap, NULL) > 0)
		status = EXIT_NOT_EMPTY;
	if (opt->json) {
		/* Repeated into a file or pipe: JSON lines. On a terminal's
		 * watch: the document as it reads best. */
		if (opt->loop || (opt->watch && !isatty(STDOUT_FILENO)))
			json_one_line(snap, out);
		else
			smi_render_json(snap, TT_SMI_VERSION, out);
	} else if (opt->check_empty) {
		smi_render_leaks(snap, out);
		/* --check-empty --buffers: which buffers exactly, for the CI log. */
		if (opt->buffers && tta_snapshot_buffer_count(snap)) {
			fputc('\n', out);
			smi_render_buffer_table(snap, out);
		}
	} else if (opt->by_site || opt->by_tag) {
		smi_render_header(snap, TT_SMI_VERSION, out);
		fputc('\n', out);
		smi_render_groups(snap, opt->by_tag, opt->by_site, out);
	} else if (opt->buffers) {
		smi_render_buffers_text(snap, TT_SMI_VERSION, out);
	} else if (opt->view == SMI_VIEW_CHARTS) {
		smi_view_charts(&v, out);
	} else if (opt->view == SMI_VIEW_PROCESSES) {
		smi_view_processes(&v, out);
	} else if (opt->view == SMI_VIEW_TELEMETRY) {
		smi_view_telemetry(&v, out);
	} else {
		smi_view_main(&v, out);
	}
	return status;
}

static int flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		terminal_restore();
		fprintf(stderr, "tt-smi: cannot write the output: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until DEADLINE (monotonic ms), a key, or a signal. Keys go to the
 * watch W (NULL: only q quits). Returns true to quit. */
static bool wait_for_next(uint64_t deadline, bool keys, const sigset_t *wait_mask,
			  struct smi_watch *w)
{
	for (;;) {
		if (stop_requested)
			return true;
		if (resize_requested) {
			resize_requested = 0;
			return false;
		}
		if (suspend_requested) {
			suspend_requested = 0;
			bool had_screen = screen_active;
			terminal_restore();
			fflush(stdout);
			raise(SIGSTOP);
			/* Continued: take the screen again and redraw now. */
			if (had_screen)
				terminal_enter();
			return false;
		}
		uint64_t now = now_ms();
		if (now >= deadline)
			return false;
		uint64_t left = deadline - now;
		struct timespec timeout = { .tv_sec = (time_t)(left / 1000),
					    .tv_nsec = (long)(left % 1000) * 1000000L };
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int rc = ppoll(&pfd, keys ? 1 : 0, &timeout, wait_mask);
		if (rc > 0 && (pfd.revents & POLLIN)) {
			char buf[64];
			ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
			bool redraw = false;
			for (ssize_t i = 0; i < got; i++) {
				enum smi_key_action a =
					w ? smi_watch_key(w, (unsigned char)buf[i])
					  : buf[i] == 'q' || buf[i] == 'Q' ? SMI_KEY_QUIT : SMI_KEY_NONE;
				if (a == SMI_KEY_QUIT)
					return true;
				redraw |= a == SMI_KEY_REDRAW;
			}
			if (redraw)
				return false;
			if (got > 0)
				continue;
			keys = false; /* EOF or error on the terminal: stop reading it */
		} else if (rc > 0) {
			keys = false; /* POLLHUP/POLLERR */
		}
	}
}

/* The end of a watch or loop: the error, if any, once the terminal is
 * back; stopped by a signal, die of it, so a calling shell or script sees
 * why we ended. */
static int finish(int status, const char *err)
{
	terminal_restore();
	if (status != EXIT_OK)
		fprintf(stderr, "tt-smi: %s\n", err);
	if (stop_requested && status == EXIT_OK) {
		int sig = (int)stop_requested;
		sigset_t unblock;
		fflush(stdout);
		signal(sig, SIG_DFL);
		sigemptyset(&unblock);
		sigaddset(&unblock, sig);
		raise(sig);
		sigprocmask(SIG_UNBLOCK, &unblock, NULL);
		status = 128 + sig;
	}
	return status;
}

/* --loop, and --watch without a terminal: the output again every interval,
 * until stopped or COUNT times. */
static int run_loop(struct segment *seg, const struct options *opt)
{
	sigset_t wait_mask;
	struct moment m = { 0 };
	char err[ERR_LEN] = "";
	int status = EXIT_OK;
	bool separate = !opt->json && !opt->query && !opt->list_devices;

	install_watch_handlers(&wait_mask);
	for (long n = 0; !stop_requested; n++) {
		uint64_t deadline = now_ms() + (uint64_t)opt->interval_ms;
		if (segment_follow(seg, opt, err, sizeof err) < 0 ||
		    take_moment(seg, opt, &m, err, sizeof err) < 0) {
			status = EXIT_TROUBLE;
			break;
		}
		if (n > 0 && separate)
			fputc('\n', stdout);
		render(&m, opt, n == 0, stdout);
		moment_free(&m);
		if (flush_stdout() < 0)
			return EXIT_TROUBLE;
		if (opt->count && n + 1 >= opt->count)
			break;
		if (wait_for_next(deadline, false, &wait_mask, NULL))
			break;
	}
	return finish(status, err);
}

/* --watch on a terminal: the interactive views (watch.h). */
static int run_watch(struct segment *seg, const struct options *opt)
{
	if (!isatty(STDOUT_FILENO))
		return run_loop(seg, opt);
	sigset_t wait_mask;
	struct moment m = { 0 };
	char err[ERR_LEN] = "";
	int status = EXIT_OK;

	install_watch_handlers(&wait_mask);
	/* --buffers and --json are drawn as they print; the views otherwise. */
	bool as_text = opt->json || opt->buffers;
	struct smi_watch *w = smi_watch_new(as_text ? SMI_VIEW_TEXT : opt->view);
	if (!w) {
		fprintf(stderr, "tt-smi: out of memory\n");
		return EXIT_TROUBLE;
	}
	/* Without a segment yet (the sources alone), the tail starts when one
	 * appears. */
	if (seg->reader && smi_watch_attach(w, seg->reader, err, sizeof err) < 0) {
		smi_watch_free(w);
		return finish(EXIT_TROUBLE, err);
	}
	terminal_enter();
	atexit(terminal_restore);
	for (long n = 0; !stop_requested; n++) {
		uint64_t deadline = now_ms() + (uint64_t)smi_watch_wait_ms(w, opt->interval_ms);
		bool had_reader = seg->reader != NULL;
		int rc = segment_follow(seg, opt, err, sizeof err);
		/* A new reader (the segment was replaced, or appeared: the
		 * snapshot opens it) gets a new tail. */
		if (rc < 0 || take_moment(seg, opt, &m, err, sizeof err) < 0 ||
		    ((rc > 0 || !had_reader) && seg->reader &&
		     smi_watch_attach(w, seg->reader, err, sizeof err) < 0)) {
			moment_free(&m);
			status = EXIT_TROUBLE;
			break;
		}
		rc = smi_watch_poll(w);
		if (rc < 0) {
			snprintf(err, sizeof err, "cannot follow the events of %s: %s", seg->name,
				 strerror(-rc));
			moment_free(&m);
			status = EXIT_TROUBLE;
			break;
		}
		if (as_text) {
			char *text = NULL;
			size_t len = 0;
			FILE *mem = open_memstream(&text, &len);
			if (mem) {
				render(&m, opt, true, mem);
				fclose(mem);
			}
			rc = mem ? smi_watch_draw_text(w, text, len, opt->interval_ms, STDOUT_FILENO) : -1;
			free(text);
		} else {
			struct smi_view v = view_of(&m, opt);
			rc = smi_watch_draw(w, &v, opt->interval_ms, STDOUT_FILENO);
		}
		moment_free(&m);
		if (rc < 0) {
			snprintf(err, sizeof err, "cannot write the output: %s", strerror(errno));
			status = EXIT_TROUBLE;
			break;
		}
		if (opt->count && n + 1 >= opt->count)
			break;
		if (wait_for_next(deadline, termios_changed, &wait_mask, w))
			break;
	}
	smi_watch_free(w);
	return finish(status, err);
}

static int run_once(struct segment *seg, const struct options *opt)
{
	struct moment m = { 0 };
	char err[ERR_LEN] = "";
	if (take_moment(seg, opt, &m, err, sizeof err) < 0) {
		fprintf(stderr, "tt-smi: %s\n", err);
		return EXIT_TROUBLE;
	}
	int status = render(&m, opt, true, stdout);
	moment_free(&m);
	return flush_stdout() < 0 ? EXIT_TROUBLE : status;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct segment seg = { 0 };
	char err[ERR_LEN] = "";

	/* The character set only (bars and charts); numbers stay in C. */
	setlocale(LC_CTYPE, "");
	utf8_locale = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	parse_options(argc, argv, &opt);
	int rc = segment_open(&seg, &opt, err, sizeof err);
	if (rc < 0 && !(rc == -ENOENT && sources_only_allowed(&opt))) {
		fprintf(stderr, "tt-smi: %s\n", err);
		smi_query_free(opt.query);
		return EXIT_TROUBLE;
	}
	uint32_t devices = seg.reader ? tta_reader_device_capacity(seg.reader) : UINT32_MAX;
	for (size_t i = 0; i < opt.selected_count; i++) {
		if (opt.selected[i] < devices)
			continue;
		fprintf(stderr, "tt-smi: no device %" PRIu32 ": segment %s has devices 0..%" PRIu32
			"\n", opt.selected[i], seg.name, devices ? devices - 1 : 0);
		segment_close(&seg);
		smi_query_free(opt.query);
		return EXIT_TROUBLE;
	}
	struct smi_stream_options stream = {
		.json = opt.json,
		.filter_pid = opt.filter_pid,
		.filter_device = opt.filter_device,
		.seconds = opt.history_seconds,
		.from_start = opt.from_start,
		.count = opt.count,
	};
	int status = opt.history ? smi_run_history(seg.reader, &stream, stdout)
		     : opt.events ? smi_run_events(&seg.reader, seg.name, &stream, stdout)
		     : opt.watch  ? run_watch(&seg, &opt)
		     : opt.loop   ? run_loop(&seg, &opt)
				  : run_once(&seg, &opt);
	if (opt.history && flush_stdout() < 0)
		status = EXIT_TROUBLE;
	segment_close(&seg);
	smi_query_free(opt.query);
	return status;
}
