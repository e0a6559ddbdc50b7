/*
 * text.c - text helpers shared by the tools (see tta_text.h).
 */
#include <inttypes.h>
#include <stdio.h>

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
