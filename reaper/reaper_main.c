/*
 * reaper_main.c - command line of tt-alloc-reaper.
 *
 * Exit status: 0 clean stop (SIGTERM/SIGINT) or --once done; 1 runtime
 * failure (another reaper already serves the segment, event loop error);
 * 2 usage or segment error.
 */
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt-alloc/reader.h"
#include "tt-alloc/text.h"

#ifndef TT_ALLOC_REAPER_VERSION /* the Makefile passes TTA_VERSION */
#define TT_ALLOC_REAPER_VERSION "2.0.0"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: " REAPER_NAME " [OPTION]...\n"
		"Reclaim the tt-alloc telemetry of processes that died without detaching:\n"
		"their device-memory totals return to exact, their buffer records are\n"
		"recycled, and one leak report per dead process lists what it left.\n"
		"\n"
		"  -s, --segment NAME     segment to serve (default $TT_ALLOC_SHM or /tt_alloc);\n"
		"                         created if missing, with TT_ALLOC_MAX_DEVICES,\n"
		"                         TT_ALLOC_MAX_PROCESSES, TT_ALLOC_MAX_BUFFERS and\n"
		"                         TT_ALLOC_SHM_MODE (default 0666)\n"
		"      --once             reap what is dead now and exit (never creates the\n"
		"                         segment: without one it says so and exits 0)\n"
		"  -n, --max-listed N     buffers listed per leak report (default %u)\n"
		"      --scan-interval MS safety-net rescan period (default %u ms)\n"
		"  -v, --verbose          also log watches and other details\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n"
		"\n"
		"Runs until SIGTERM or SIGINT (exit 0); SIGHUP rescans at once. Logs one\n"
		"line per event to stderr (journal priorities when run by systemd).\n"
		"Exit status: 0 done, 1 runtime failure (e.g. another reaper is running),\n"
		"2 usage or segment error.\n",
		REAPER_DEFAULT_MAX_LISTED, REAPER_DEFAULT_SCAN_MS);
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	if (!s || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

enum { OPT_ONCE = 256, OPT_SCAN };

/* A daemon started with a closed stdio fd would hand that number to the
 * first pidfd or segment it opens, and then log into it. */
static void ensure_stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			int null = open("/dev/null", O_RDWR);
			if (null >= 0 && null != fd) {
				dup2(null, fd);
				close(null);
			}
		}
}

int main(int argc, char **argv)
{
	ensure_stdio_open();
	struct reaper_options opts = { .max_listed = REAPER_DEFAULT_MAX_LISTED,
				       .scan_ms = REAPER_DEFAULT_SCAN_MS };
	static const struct option longopts[] = {
		{ "segment", required_argument, NULL, 's' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "max-listed", required_argument, NULL, 'n' },
		{ "scan-interval", required_argument, NULL, OPT_SCAN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:n:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opts.segment = optarg;
			break;
		case OPT_ONCE:
			opts.once = true;
			break;
		case 'n':
			if (parse_u32(optarg, 0, REAPER_MAX_MAX_LISTED, &opts.max_listed) < 0) {
				fprintf(stderr, REAPER_NAME ": --max-listed wants a number 0..%u, not '%s'\n",
					REAPER_MAX_MAX_LISTED, optarg);
				return 2;
			}
			break;
		case OPT_SCAN:
			if (parse_u32(optarg, 10, 3600000, &opts.scan_ms) < 0) {
				fprintf(stderr,
					REAPER_NAME ": --scan-interval wants milliseconds 10..3600000, not '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			opts.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(REAPER_NAME " %s (tt-alloc, segment ABI %u)\n", TT_ALLOC_REAPER_VERSION,
			       TTA_ABI_VERSION);
			return 0;
		case ':':
		default: {
			char why[128];
			fprintf(stderr, REAPER_NAME ": %s (see --help)\n",
				tta_option_error(c, argv, longopts, why, sizeof why));
			return 2;
		}
		}
	}
	if (optind < argc) {
		fprintf(stderr, REAPER_NAME ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}

	char err[TTA_ERR_MAX], name[TTA_NAME_MAX + 2];
	if (tta_resolve_name(opts.segment, name, err, sizeof err) < 0) {
		fprintf(stderr, REAPER_NAME ": %s\n", err);
		return 2;
	}
	opts.segment = name;

	reaper_log_init(opts.verbose);
	return reaper_run(&opts);
}
