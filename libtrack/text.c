/*
 * text.c - formatting for tools: bytes, ages, sanitising untrusted text for
 * terminals and JSON. Contract in <tt-alloc/text.h>.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt-alloc/text.h"

#define TTA_EXPORT __attribute__((visibility("default")))

TTA_EXPORT char *tta_format_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	/* Magnitude in unsigned so INT64_MIN does not overflow. */
	uint64_t mag = bytes < 0 ? (uint64_t)0 - (uint64_t)bytes : (uint64_t)bytes;
	const char *sign = bytes < 0 ? "-" : "";

	if (mag == 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	unsigned unit = 0;
	double value = (double)mag;
	while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
		value /= 1024.0;
		unit++;
	}
	if (unit == 0)
		snprintf(buf, len, "%s%" PRIu64 "B", sign, mag);
	else if (value < 9.95)
		snprintf(buf, len, "%s%.1f%s", sign, value, units[unit]);
	else
		snprintf(buf, len, "%s%.0f%s", sign, value, units[unit]);
	return buf;
}

TTA_EXPORT char *tta_format_age(uint64_t ns, char *buf, size_t len)
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

/* Length of the valid UTF-8 sequence at S (at most AVAIL bytes) encoding a
 * printable character, or 0. Rejects overlongs, surrogates, C1 controls. */
static size_t utf8_printable_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	if (c >= 0x20 && c < 0x7f)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

TTA_EXPORT size_t tta_sanitize_text(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	if (dstlen == 0)
		return 0;
	const unsigned char *s = (const unsigned char *)src;
	size_t len = strnlen(src, maxlen), in = 0, out = 0, chars = 0;
	while (in < len && out + 1 < dstlen) {
		size_t n = utf8_printable_len(s + in, len - in);
		if (n == 0) {
			dst[out++] = '?';
			in++;
		} else {
			if (out + n >= dstlen)
				break;
			memcpy(dst + out, s + in, n);
			out += n;
			in += n;
		}
		chars++;
	}
	dst[out] = '\0';
	return chars;
}

TTA_EXPORT size_t tta_escape_text(const char *src, size_t maxlen, char *dst, size_t dstlen)
{
	if (dstlen == 0)
		return 0;
	const unsigned char *s = (const unsigned char *)src;
	size_t len = strnlen(src, maxlen), in = 0, out = 0;
	while (in < len) {
		size_t n = utf8_printable_len(s + in, len - in);
		if (n == 0) {
			if (out + 4 >= dstlen)
				break;
			snprintf(dst + out, 5, "\\x%02x", s[in]);
			out += 4;
			in++;
		} else {
			if (out + n >= dstlen)
				break;
			memcpy(dst + out, s + in, n);
			out += n;
			in += n;
		}
	}
	dst[out] = '\0';
	return out;
}

TTA_EXPORT void tta_json_string(FILE *out, const char *src, size_t maxlen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t len = strnlen(src, maxlen);
	fputc('"', out);
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
			i++;
		} else if (c >= 0x20 && c < 0x7f) {
			fputc(c, out);
			i++;
		} else if (c < 0x80) {
			fprintf(out, "\\u%04x", c);
			i++;
		} else {
			size_t n = utf8_printable_len(s + i, len - i);
			if (n) {
				fwrite(s + i, 1, n, out);
				i += n;
			} else {
				fprintf(out, "\\u%04x", c);
				i++;
			}
		}
	}
	fputc('"', out);
}

/* "-c" for a short option character, printable or not. */
static void short_option_text(int ch, char *buf, size_t len)
{
	if (ch > 0 && ch < 256 && isprint(ch))
		snprintf(buf, len, "-%c", ch);
	else
		snprintf(buf, len, "-\\x%02x", (unsigned)ch & 0xffu);
}

TTA_EXPORT char *tta_option_error(int c, char **argv, const struct option *longopts, char *buf,
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

TTA_EXPORT int tta_parse_long(const char *text, long min, long max, long *out)
{
	if (text == NULL)
		return 0;
	char *end;
	int saved = errno;
	errno = 0;
	long value = strtol(text, &end, 10);
	bool starts_as_number = (*text >= '0' && *text <= '9') || *text == '-';
	int ok = errno == 0 && starts_as_number && end != text && *end == '\0' && value >= min &&
		 value <= max;
	errno = saved;
	if (ok)
		*out = value;
	return ok;
}
