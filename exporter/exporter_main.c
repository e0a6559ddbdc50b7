/*
 * exporter_main.c - tt-alloc-exporter: Prometheus metrics and a live web
 * dashboard of the tt-alloc segment, read through the public read API only.
 *
 * This file holds the command line, the listening socket, the log and the
 * signals; the routes are http.c's, the segment source.c's, the exposition
 * metrics.c's.
 *
 * Exit status: 0 after SIGTERM/SIGINT/SIGHUP; 1 when it cannot listen or
 * start; 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tt-alloc/reader.h>
#include <tt-alloc/text.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "periodic.h"
#include "source.h"

#ifndef TT_ALLOC_EXPORTER_VERSION
#define TT_ALLOC_EXPORTER_VERSION "2.0.0"
#endif

/* Outside the exporter range of Prometheus' port registry (9100-9999, full
 * since 2023; later allocations continue above 10000) and outside Linux's
 * ephemeral range (32768-60999); 19400 echoes dcgm-exporter's 9400, the GPU
 * memory exporter fleet operators already know. See docs/design.md. */
#define DEFAULT_LISTEN "127.0.0.1:19400"
#define DEFAULT_MAX_CONNECTIONS 128
#define DEFAULT_IDLE_TIMEOUT_S 30
#define ERR_LEN 512
/* The background snapshot's period (periodic.h): telemetry and
 * exited_processes are at most this old in a scrape. */
#define PERIODIC_MS 5000

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

void tte_log(const char *fmt, ...)
{
	char raw[1024], line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	tta_sanitize_text(raw, sizeof raw, line, sizeof line);
	fprintf(stderr, "tt-alloc-exporter: %s\n", line);
}

struct options {
	const char *listen;
	const char *segment;     /* NULL: $TT_ALLOC_SHM or /tt_alloc */
	bool per_process;
	long max_tags;           /* 0: --no-tag-metrics */
	long max_connections;
	long idle_timeout_s;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tt-alloc-exporter [OPTION]...\n"
		"Serve the tt-alloc segment as Prometheus metrics (/metrics), JSON\n"
		"(/api/snapshot) and a live dashboard (/), read-only.\n"
		"\n"
		"  -l, --listen ADDR:PORT   where to listen (default %s); ADDR may be an\n"
		"                           IPv4 address, [IPv6], a host name, or empty\n"
		"                           for every address (:19400); PORT 0 picks one\n"
		"  -s, --segment NAME       segment to read (default $TT_ALLOC_SHM or /tt_alloc)\n"
		"      --no-process-metrics no per-process series (devices and counters only)\n"
		"      --max-tags N         tt_alloc_tag_used_bytes: the N largest tags of each\n"
		"                           device get a series, the rest are summed into\n"
		"                           tag=\"(other)\" (default %d, 1..1000)\n"
		"      --no-tag-metrics     no tt_alloc_tag_used_bytes (and no read of every\n"
		"                           buffer record per scrape)\n"
		"      --max-connections N  connections served at once (default %d)\n"
		"      --idle-timeout SEC   close connections idle this long (default %d)\n"
		"  -h, --help               this help\n"
		"  -V, --version            version\n"
		"\n"
		"Logs go to stderr. SIGTERM, SIGINT or SIGHUP end it cleanly (exit 0).\n"
		"A missing segment is not an error: /metrics says tt_alloc_up 0 until\n"
		"it appears.\n",
		DEFAULT_LISTEN, TTE_DEFAULT_MAX_TAGS, DEFAULT_MAX_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_S);
}

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tt-alloc-exporter: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'tt-alloc-exporter --help' for more information.\n");
	exit(EXIT_USAGE);
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into HOST (empty = every
 * address) and PORT. */
static bool split_listen(const char *spec, char *host, size_t hostlen, long *port)
{
	const char *colon;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= hostlen)
			return false;
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= hostlen || memchr(spec, ':', (size_t)(colon - spec)))
			return false;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	return tta_parse_long(colon + 1, 0, 65535, port);
}

enum { OPT_NO_PROCESS = 1000, OPT_MAX_CONN, OPT_IDLE, OPT_MAX_TAGS, OPT_NO_TAGS };

static void parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "segment", required_argument, NULL, 's' },
		{ "no-process-metrics", no_argument, NULL, OPT_NO_PROCESS },
		{ "max-tags", required_argument, NULL, OPT_MAX_TAGS },
		{ "no-tag-metrics", no_argument, NULL, OPT_NO_TAGS },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "idle-timeout", required_argument, NULL, OPT_IDLE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, no_tags_seen = 0;
	memset(opt, 0, sizeof *opt);
	opt->listen = DEFAULT_LISTEN;
	opt->per_process = true;
	opt->max_tags = TTE_DEFAULT_MAX_TAGS;
	opt->max_connections = DEFAULT_MAX_CONNECTIONS;
	opt->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			opt->listen = optarg;
			break;
		case 's':
			opt->segment = optarg;
			break;
		case OPT_NO_PROCESS:
			opt->per_process = false;
			break;
		case OPT_MAX_TAGS:
			if (!tta_parse_long(optarg, 1, 1000, &opt->max_tags))
				usage_error("invalid --max-tags '%s' (1..1000)", optarg);
			no_tags_seen |= 2;
			break;
		case OPT_NO_TAGS:
			no_tags_seen |= 1;
			break;
		case OPT_MAX_CONN:
			if (!tta_parse_long(optarg, 1, 4096, &opt->max_connections))
				usage_error("invalid --max-connections '%s' (1..4096)", optarg);
			break;
		case OPT_IDLE:
			if (!tta_parse_long(optarg, 1, 3600, &opt->idle_timeout_s))
				usage_error("invalid --idle-timeout '%s' (seconds, 1..3600)", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("tt-alloc-exporter %s (tt-alloc read API %d)\n", TT_ALLOC_EXPORTER_VERSION,
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
	if (no_tags_seen == 3)
		usage_error("%s", "--max-tags and --no-tag-metrics contradict each other");
	if (no_tags_seen == 1)
		opt->max_tags = 0;
	char host[256];
	long port;
	if (!split_listen(opt->listen, host, sizeof host, &port))
		usage_error("invalid --listen '%s' (HOST:PORT, [IPv6]:PORT or :PORT, PORT 0..65535)",
			    opt->listen);
}

/* ------------------------------------------------------------------------ */
/* Listening socket                                                          */

/* Binds and listens; returns the socket and the address it got (port 0
 * resolved) in SHOWN, or -1 with ERR. */
static int open_listener(const char *spec, char *shown, size_t shownlen, char *err, size_t errlen)
{
	char host[256], portstr[8];
	long port;
	if (!split_listen(spec, host, sizeof host, &port)) {
		snprintf(err, errlen, "invalid --listen '%s'", spec); /* checked by parse_options */
		return -1;
	}
	snprintf(portstr, sizeof portstr, "%ld", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "cannot resolve listen address '%s': %s", spec, gai_strerror(gai));
		return -1;
	}
	/* Every address: prefer the IPv6 wildcard, which takes IPv4 too. */
	struct addrinfo *pick = res;
	for (struct addrinfo *a = res; !host[0] && a; a = a->ai_next)
		if (a->ai_family == AF_INET6) {
			pick = a;
			break;
		}
	int fd = socket(pick->ai_family, pick->ai_socktype | SOCK_CLOEXEC, pick->ai_protocol);
	int one = 1, zero = 0;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (pick->ai_family == AF_INET6 && !host[0])
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	}
	if (fd < 0 || bind(fd, pick->ai_addr, pick->ai_addrlen) != 0 || listen(fd, 128) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[INET6_ADDRSTRLEN + 2] = "?", serv[8] = "?";
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof addr, serv, sizeof serv,
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(shown, shownlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", addr, serv);
	return fd;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct options opt;
	char err[ERR_LEN] = "", shown[300];
	parse_options(argc, argv, &opt);

	const char *name = tta_segment_name(opt.segment, err, sizeof err);
	if (!name) {
		fprintf(stderr, "tt-alloc-exporter: %s\n", err);
		return EXIT_USAGE;
	}
	/* The stop signals are taken by sigwait below; blocked before any
	 * thread starts, so every thread inherits the mask. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	int fd = open_listener(opt.listen, shown, sizeof shown, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "tt-alloc-exporter: %s\n", err);
		return EXIT_FAIL;
	}
	struct tte_source source;
	tte_source_init(&source, name);
	/* One attempt now, so the log says at once whether the segment is there. */
	tta_snapshot *snap = NULL;
	if (tte_source_snapshot(&source, 0, &snap, err, sizeof err) == 0)
		tta_snapshot_free(snap);

	/* Telemetry and process details, every 5 s in the background. */
	struct tte_periodic *periodic = NULL;
	if (tte_periodic_start(&periodic, name, PERIODIC_MS, err, sizeof err) < 0) {
		fprintf(stderr, "tt-alloc-exporter: %s\n", err);
		close(fd);
		tte_source_fini(&source);
		return EXIT_FAIL;
	}
	struct tte_http_config http = {
		.source = &source,
		.periodic = periodic,
		.version = TT_ALLOC_EXPORTER_VERSION,
		.per_process = opt.per_process,
		.max_tags = (unsigned)opt.max_tags,
		.max_connections = (unsigned)opt.max_connections,
		.idle_timeout_s = (unsigned)opt.idle_timeout_s,
		.listen_fd = fd,
	};
	if (tte_http_start(&http, err, sizeof err) < 0) {
		fprintf(stderr, "tt-alloc-exporter: %s\n", err);
		close(fd);
		tte_periodic_stop(periodic);
		tte_source_fini(&source);
		return EXIT_FAIL;
	}
	tte_log("listening on http://%s/ (metrics at /metrics), segment %s, version %s", shown, name,
		TT_ALLOC_EXPORTER_VERSION);

	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
	tte_log("%s: stopping", strsignal(sig));
	tte_http_stop();
	tte_periodic_stop(periodic);
	tte_source_fini(&source);
	tte_log("stopped");
	return EXIT_OK;
}
