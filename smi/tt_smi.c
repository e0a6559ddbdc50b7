/*
 * tt_smi.c - tt-smi: show what is allocated on Tenstorrent devices, from the
 * tt-alloc telemetry segment.
 *
 * This file holds the command line, opening the segment and the watch loop; what a snapshot holds and how it is printed is render.c's.
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
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/sources.h>

#include "render.h"
#include "stream.h"
#include <tt-alloc/text.h>

#ifndef TT_SMI_VERSION
#define TT_SMI_VERSION "2.0.0"
#endif

enum { EXIT_OK = 0, EXIT_NOT_EMPTY = 1, EXIT_TROUBLE = 2 };

#define ERR_LEN 512
#define SEGMENT_NAME_LEN 258 /* '/', up to 255 bytes, NUL */
#define DEFAULT_INTERVAL_MS 1000

struct options {
	char segment[SEGMENT_NAME_LEN];
	bool have_segment;
	bool watch, json, buffers, check_empty, telemetry;
	long interval_ms;
	long count; /* refreshes in watch mode; 0 = until stopped */
	int32_t filter_pid;    /* 0 = any */
	int32_t filter_device; /* -1 = any */
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
		"  -w, --watch            redraw every interval until q or Ctrl-C\n"
		"  -r, --interval MS      refresh interval in milliseconds (default %d)\n"
		"  -c, --count N          with --watch: stop after N refreshes\n"
		"  -j, --json             one machine-readable snapshot (JSON)\n"
		"  -b, --buffers          list buffer records (PID, device, type, address,\n"
		"                         size, age); with --json adds a \"buffers\" array\n"
		"  -t, --telemetry        the driver's telemetry per device (temperature, power,\n"
		"                         clocks, ...), untracked processes, TT-Metal segments\n"
		"  -p, --pid PID          only this process\n"
		"  -d, --device N         only this device\n"
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

/* Strict decimal: the whole string, within [MIN, MAX]. */
static bool parse_long(const char *text, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}

enum { OPT_CHECK_EMPTY = 1000, OPT_HISTORY, OPT_EVENTS, OPT_FROM_START };

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
		{ "history", optional_argument, NULL, OPT_HISTORY },
		{ "events", no_argument, NULL, OPT_EVENTS },
		{ "from-start", no_argument, NULL, OPT_FROM_START },
		{ "segment", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	long value;
	int c;

	memset(opt, 0, sizeof *opt);
	opt->interval_ms = DEFAULT_INTERVAL_MS;
	opt->filter_device = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":wr:c:jbtp:d:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			opt->watch = true;
			break;
		case 'r':
			if (!parse_long(optarg, 10, 86400000, &value))
				usage_error("invalid interval '%s' (milliseconds, 10..86400000)",
					    optarg);
			opt->interval_ms = value;
			break;
		case 'c':
			if (!parse_long(optarg, 1, LONG_MAX, &value))
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
			if (!parse_long(optarg, 1, INT32_MAX, &value))
				usage_error("invalid pid '%s'", optarg);
			opt->filter_pid = (int32_t)value;
			break;
		case 'd':
			if (!parse_long(optarg, 0, INT32_MAX, &value))
				usage_error("invalid device '%s' (a device number from 0)", optarg);
			opt->filter_device = (int32_t)value;
			break;
		case OPT_CHECK_EMPTY:
			opt->check_empty = true;
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
				if (!parse_long(span, 1, 2 * 86400, &value))
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
	if (opt->history && opt->filter_pid)
		usage_error("%s", "--pid does not apply to --history: the history is kept per device "
			    "(use --device); a process's peak is in --json");
	if (opt->from_start && !opt->events)
		usage_error("%s", "--from-start only applies to --events");
	if (opt->count && !opt->watch && !opt->events)
		usage_error("%s", "--count only applies to --watch and --events");
	if (opt->telemetry && (opt->buffers || opt->check_empty))
		usage_error("%s", "--telemetry cannot be combined with --buffers or --check-empty");
	if (opt->telemetry && (opt->history || opt->events))
		usage_error("%s", "--telemetry cannot be combined with --history or --events");
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
 * segment was deleted and re-created), follow it. */
static int segment_follow(struct segment *seg, const struct options *opt, char *err, size_t errlen)
{
	if (seg->reader == NULL || tta_reader_status(seg->reader) != TTA_SEGMENT_REPLACED)
		return 0;
	segment_close(seg);
	return segment_open(seg, opt, err, errlen);
}

/* Without a segment (no tt-alloc writer has run yet), what the driver and
 * TT-Metal report can still be shown; with none of those either, the
 * segment's error stands. */
static bool sources_only_allowed(const struct options *opt)
{
	return !opt->buffers && !opt->check_empty;
}

static int take_snapshot(struct segment *seg, const struct options *opt, tta_snapshot **snap,
			 char *err, size_t errlen)
{
	unsigned flags = TTA_SNAPSHOT_PROCESS_DETAILS | TTA_SNAPSHOT_SOURCES |
			 (opt->buffers ? TTA_SNAPSHOT_BUFFERS : 0);
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

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* Returns what the process should exit with for this snapshot. */
static int render(const tta_snapshot *snap, const struct options *opt, FILE *out)
{
	int status = EXIT_OK;
	if (opt->check_empty && smi_render_leaks(snap, NULL) > 0)
		status = EXIT_NOT_EMPTY;
	if (opt->json) {
		smi_render_json(snap, TT_SMI_VERSION, out);
	} else if (opt->telemetry) {
		smi_render_telemetry(snap, TT_SMI_VERSION, out);
	} else if (opt->check_empty) {
		smi_render_leaks(snap, out);
		/* --check-empty --buffers: which buffers exactly, for the CI log. */
		if (opt->buffers && tta_snapshot_buffer_count(snap)) {
			fputc('\n', out);
			smi_render_buffer_table(snap, out);
		}
	} else if (opt->buffers) {
		smi_render_buffers_text(snap, TT_SMI_VERSION, out);
	} else {
		smi_render_text(snap, TT_SMI_VERSION, out);
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

/* Draws FRAME (LEN bytes of lines) from the top-left, each line cut to the
 * terminal width so nothing wraps, and the last row kept for a footer. */
static void draw_frame(const char *frame, size_t len, const struct options *opt)
{
	struct winsize ws;
	unsigned cols = 80, rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	fputs("\033[H", stdout);
	unsigned row = 0;
	size_t pos = 0, hidden = 0;
	while (pos < len) {
		const char *nl = memchr(frame + pos, '\n', len - pos);
		size_t line_end = nl ? (size_t)(nl - frame) : len;
		if (row + 1 < rows) {
			size_t chars = 0, i = pos;
			while (i < line_end && chars < cols) {
				i++;
				while (i < line_end && ((unsigned char)frame[i] & 0xc0) == 0x80)
					i++;
				chars++;
			}
			fwrite(frame + pos, 1, i - pos, stdout);
			fputs("\033[K\n", stdout);
			row++;
		} else {
			hidden++;
		}
		pos = line_end + 1;
	}
	char footer[160];
	int n = snprintf(footer, sizeof footer, "every %ld ms, q to quit%s", opt->interval_ms,
			 hidden ? " (window too small: lines hidden)" : "");
	if (n > (int)cols)
		n = (int)cols;
	fputs("\033[J\033[7m", stdout);
	fwrite(footer, 1, (size_t)(n > 0 ? n : 0), stdout);
	fputs("\033[0m\033[K", stdout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until DEADLINE (monotonic ms), a key, or a signal. Returns true to
 * quit. */
static bool wait_for_next(uint64_t deadline, bool keys, const sigset_t *wait_mask)
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
			for (ssize_t i = 0; i < got; i++)
				if (buf[i] == 'q' || buf[i] == 'Q')
					return true;
			if (got > 0)
				continue;
			keys = false; /* EOF or error on the terminal: stop reading it */
		} else if (rc > 0) {
			keys = false; /* POLLHUP/POLLERR */
		}
	}
}

static int run_watch(struct segment *seg, const struct options *opt)
{
	bool tty = isatty(STDOUT_FILENO);
	sigset_t wait_mask;
	tta_snapshot *snap = NULL;
	char err[ERR_LEN] = "";
	int status = EXIT_OK;
	char *frame = NULL;
	size_t frame_len = 0;

	install_watch_handlers(&wait_mask);
	if (tty) {
		terminal_enter();
		atexit(terminal_restore);
	}
	for (long n = 0; !stop_requested; n++) {
		uint64_t deadline = now_ms() + (uint64_t)opt->interval_ms;
		if (segment_follow(seg, opt, err, sizeof err) < 0 ||
		    take_snapshot(seg, opt, &snap, err, sizeof err) < 0) {
			status = EXIT_TROUBLE;
			break;
		}
		if (tty) {
			FILE *mem = open_memstream(&frame, &frame_len);
			if (!mem) {
				snprintf(err, sizeof err, "out of memory");
				status = EXIT_TROUBLE;
				break;
			}
			render(snap, opt, mem);
			fclose(mem);
			draw_frame(frame, frame_len, opt);
			free(frame);
			frame = NULL;
		} else {
			if (n > 0)
				fputc('\n', stdout);
			render(snap, opt, stdout);
		}
		tta_snapshot_free(snap);
		snap = NULL;
		if (flush_stdout() < 0)
			return EXIT_TROUBLE;
		if (opt->count && n + 1 >= opt->count)
			break;
		if (wait_for_next(deadline, tty && termios_changed, &wait_mask))
			break;
	}
	tta_snapshot_free(snap);
	terminal_restore();
	if (status != EXIT_OK)
		fprintf(stderr, "tt-smi: %s\n", err);
	if (stop_requested && status == EXIT_OK) {
		/* Stopped by a signal: with the terminal back in order, die of it,
		 * so a calling shell or script sees why we ended. */
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

static int run_once(struct segment *seg, const struct options *opt)
{
	tta_snapshot *snap = NULL;
	char err[ERR_LEN] = "";
	if (take_snapshot(seg, opt, &snap, err, sizeof err) < 0) {
		fprintf(stderr, "tt-smi: %s\n", err);
		return EXIT_TROUBLE;
	}
	int status = render(snap, opt, stdout);
	tta_snapshot_free(snap);
	return flush_stdout() < 0 ? EXIT_TROUBLE : status;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct segment seg = { 0 };
	char err[ERR_LEN] = "";

	parse_options(argc, argv, &opt);
	int rc = segment_open(&seg, &opt, err, sizeof err);
	if (rc < 0 && !(rc == -ENOENT && sources_only_allowed(&opt))) {
		fprintf(stderr, "tt-smi: %s\n", err);
		return EXIT_TROUBLE;
	}
	uint32_t devices = seg.reader ? tta_reader_device_capacity(seg.reader) : UINT32_MAX;
	if (opt.filter_device >= 0 && (uint32_t)opt.filter_device >= devices) {
		fprintf(stderr, "tt-smi: no device %" PRId32 ": segment %s has devices 0..%" PRIu32
			"\n", opt.filter_device, seg.name, devices ? devices - 1 : 0);
		segment_close(&seg);
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
				  : run_once(&seg, &opt);
	if (opt.history && flush_stdout() < 0)
		status = EXIT_TROUBLE;
	segment_close(&seg);
	return status;
}
