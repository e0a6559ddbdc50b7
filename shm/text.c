/*
 * text.c - text helpers shared by the tools (see tta_text.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tta_text.h"

const char *tta_format_age(uint64_t ns, char *buf, size_t len)
{
	uint64_t s = ns / 1000000000u;
	if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s, (ns / 100000000u) % 10u);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, (s / 3600) % 24);
	return buf;
}

/* "-c" for a short option character, printable or not. */
static void short_option_text(int ch, char *buf, size_t len)
{
	if (ch > 0 && ch < 256 && isprint(ch))
		snprintf(buf, len, "-%c", ch);
	else
		snprintf(buf, len, "-\\x%02x", (unsigned)ch & 0xffu);
}

const char *tta_option_error(int c, char **argv, const struct option *longopts, char *buf,
			     size_t len)
{
	const char *word = optind > 0 ? argv[optind - 1] : NULL;
	bool is_long = word != NULL && strncmp(word, "--", 2) == 0 && word[2] != '\0';
	size_t name_len = is_long ? strcspn(word, "=") : 0;
	char opt[64];
	if (c == ':') {
		/* A missing argument is always the last word parsed. */
		if (is_long)
			snprintf(opt, sizeof opt, "%.*s", (int)name_len, word);
		else
			short_option_text(optopt, opt, sizeof opt);
		snprintf(buf, len, "option '%s' needs an argument", opt);
		return buf;
	}
	if (optopt == 0 && is_long) { /* unknown (or ambiguous) long option */
		snprintf(buf, len, "unknown option '%.*s'", (int)name_len, word);
		return buf;
	}
	/* A long option that takes no argument given one ("--json=1") also
	 * reports its val in optopt; anything else is a short character. */
	if (is_long && word[name_len] == '=' && longopts != NULL) {
		for (const struct option *o = longopts; o->name != NULL; o++)
			if (o->has_arg == no_argument && o->flag == NULL && o->val == optopt &&
			    strncmp(o->name, word + 2, name_len - 2) == 0) {
				snprintf(buf, len, "option '--%s' takes no argument", o->name);
				return buf;
			}
	}
	short_option_text(optopt, opt, sizeof opt);
	snprintf(buf, len, "unknown option '%s'", opt);
	return buf;
}
