/*
 * fuzz_check.h - the output contracts every fuzz harness holds the renderers
 * to (smi/render.h, <tt-alloc/json.h>): text is printable ASCII or valid
 * UTF-8 with no control character but newlines; JSON is one syntactically
 * valid document (RFC 8259) in valid UTF-8. A breach abort()s with the
 * offending bytes on stderr, which libFuzzer reports as a finding.
 * Define FUZZ_NAME (the harness's name, for the message) before including.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_NAME
#define FUZZ_NAME "fuzz"
#endif

static void finding(const char *what, const char *out, size_t len, size_t at)
{
	fprintf(stderr, FUZZ_NAME ": %s at byte %zu of %zu:\n", what, at, len);
	size_t from = at > 80 ? at - 80 : 0;
	fwrite(out + from, 1, (at + 80 < len ? at + 80 : len) - from, stderr);
	fputc('\n', stderr);
	abort();
}

/* Length of the valid UTF-8 sequence at S (0 if invalid). */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static void check_text(const char *out, size_t len)
{
	const unsigned char *s = (const unsigned char *)out;
	for (size_t i = 0; i < len;) {
		if (s[i] == '\n' || (s[i] >= 0x20 && s[i] < 0x7f)) {
			i++;
			continue;
		}
		if (s[i] < 0x80)
			finding("control character in text output", out, len, i);
		size_t n = utf8_len(s + i, len - i);
		if (n == 0)
			finding("invalid UTF-8 in text output", out, len, i);
		i += n;
	}
}

/* A small JSON syntax checker (RFC 8259), enough to hold the renderer to
 * its promise; depth-limited so hostile nesting cannot recurse deep. */
struct json {
	const char *s;
	size_t len, i;
};

static void json_fail(struct json *j, const char *what)
{
	finding(what, j->s, j->len, j->i);
}

static void json_ws(struct json *j)
{
	while (j->i < j->len && strchr(" \t\r\n", j->s[j->i]) && j->s[j->i])
		j->i++;
}

static void json_value(struct json *j, int depth);

static void json_string_lit(struct json *j)
{
	if (j->i >= j->len || j->s[j->i] != '"')
		json_fail(j, "JSON: string expected");
	j->i++;
	for (;;) {
		if (j->i >= j->len)
			json_fail(j, "JSON: unterminated string");
		unsigned char c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			return;
		}
		if (c < 0x20)
			json_fail(j, "JSON: raw control character in string");
		if (c == '\\') {
			j->i++;
			if (j->i >= j->len)
				json_fail(j, "JSON: bad escape");
			char e = j->s[j->i];
			if (e == 'u') {
				for (int k = 1; k <= 4; k++)
					if (j->i + (size_t)k >= j->len ||
					    !strchr("0123456789abcdefABCDEF", j->s[j->i + (size_t)k]) ||
					    !j->s[j->i + (size_t)k])
						json_fail(j, "JSON: bad \\u escape");
				j->i += 5;
			} else if (strchr("\"\\/bfnrt", e) && e) {
				j->i++;
			} else {
				json_fail(j, "JSON: bad escape");
			}
			continue;
		}
		size_t n = utf8_len((const unsigned char *)j->s + j->i, j->len - j->i);
		if (n == 0)
			json_fail(j, "JSON: invalid UTF-8 in string");
		j->i += n;
	}
}

static void json_number(struct json *j)
{
	size_t start = j->i;
	if (j->i < j->len && j->s[j->i] == '-')
		j->i++;
	if (j->i >= j->len || j->s[j->i] < '0' || j->s[j->i] > '9')
		json_fail(j, "JSON: bad number");
	if (j->s[j->i] == '0')
		j->i++;
	else
		while (j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	if (j->i < j->len && j->s[j->i] == '.') {
		j->i++;
		if (j->i >= j->len || j->s[j->i] < '0' || j->s[j->i] > '9')
			json_fail(j, "JSON: bad fraction");
		while (j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->len && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->len && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (j->i >= j->len || j->s[j->i] < '0' || j->s[j->i] > '9')
			json_fail(j, "JSON: bad exponent");
		while (j->i < j->len && j->s[j->i] >= '0' && j->s[j->i] <= '9')
			j->i++;
	}
	(void)start;
}

static void json_value(struct json *j, int depth)
{
	if (depth > 64)
		json_fail(j, "JSON: nested too deep");
	json_ws(j);
	if (j->i >= j->len)
		json_fail(j, "JSON: value expected");
	char c = j->s[j->i];
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->i++;
		json_ws(j);
		if (j->i < j->len && j->s[j->i] == close) {
			j->i++;
			return;
		}
		for (;;) {
			if (c == '{') {
				json_ws(j);
				json_string_lit(j);
				json_ws(j);
				if (j->i >= j->len || j->s[j->i] != ':')
					json_fail(j, "JSON: ':' expected");
				j->i++;
			}
			json_value(j, depth + 1);
			json_ws(j);
			if (j->i < j->len && j->s[j->i] == ',') {
				j->i++;
				continue;
			}
			if (j->i < j->len && j->s[j->i] == close) {
				j->i++;
				return;
			}
			json_fail(j, "JSON: ',' or close expected");
		}
	}
	if (c == '"') {
		json_string_lit(j);
		return;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		json_number(j);
		return;
	}
	static const char *const words[] = { "true", "false", "null" };
	for (int w = 0; w < 3; w++) {
		size_t n = strlen(words[w]);
		if (j->len - j->i >= n && memcmp(j->s + j->i, words[w], n) == 0) {
			j->i += n;
			return;
		}
	}
	json_fail(j, "JSON: unexpected character");
}

static void check_json(const char *out, size_t len)
{
	struct json j = { out, len, 0 };
	json_ws(&j);
	if (j.i >= len || out[j.i] != '{')
		json_fail(&j, "JSON: output is not an object");
	json_value(&j, 0);
	json_ws(&j);
	if (j.i != len)
		json_fail(&j, "JSON: trailing bytes after the object");
}

/* The Prometheus text format, line by line. */
static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static void check_exposition(const char *out, size_t len)
{
	const unsigned char *u = (const unsigned char *)out;
	for (size_t i = 0; i < len;) {
		if (u[i] == '\n' || (u[i] >= 0x20 && u[i] < 0x7f)) {
			i++;
			continue;
		}
		if (u[i] < 0x80)
			finding("exposition: control byte", out, len, i);
		size_t n = utf8_len(u + i, len - i);
		if (n == 0)
			finding("exposition: invalid UTF-8", out, len, i);
		i += n;
	}
	if (len == 0 || out[len - 1] != '\n')
		finding("exposition: does not end with a line feed", out, len, len);
	for (size_t i = 0; i < len;) {
		size_t start = i, end = i;
		while (end < len && out[end] != '\n')
			end++;
		if (out[i] == '#') {
			if (strncmp(out + i, "# HELP ", 7) && strncmp(out + i, "# TYPE ", 7))
				finding("exposition: unknown comment", out, len, i);
			i = end + 1;
			continue;
		}
		if (!name_char(out[i], true))
			finding("exposition: bad metric name", out, len, i);
		while (i < end && name_char(out[i], false))
			i++;
		if (i < end && out[i] == '{') {
			i++;
			while (i < end && out[i] != '}') {
				if (!name_char(out[i], true) || out[i] == ':')
					finding("exposition: bad label name", out, len, i);
				while (i < end && name_char(out[i], false))
					i++;
				if (i + 1 >= end || out[i] != '=' || out[i + 1] != '"')
					finding("exposition: label without =\"", out, len, i);
				i += 2;
				while (i < end && out[i] != '"') {
					if (out[i] == '\\') {
						if (i + 1 >= end || !strchr("\\\"n", out[i + 1]) || !out[i + 1])
							finding("exposition: bad escape in label", out, len, i);
						i++;
					}
					i++;
				}
				if (i >= end)
					finding("exposition: unterminated label value", out, len, start);
				i++;
				if (i < end && out[i] == ',')
					i++;
				else if (i >= end || out[i] != '}')
					finding("exposition: expected , or }", out, len, i);
			}
			i++;
		}
		if (i >= end || out[i] != ' ')
			finding("exposition: no value", out, len, i);
		char number[64];
		size_t n = end - i - 1;
		if (n == 0 || n >= sizeof number)
			finding("exposition: bad value", out, len, i);
		memcpy(number, out + i + 1, n);
		number[n] = '\0';
		char *stop;
		double v = strtod(number, &stop);
		if (*stop || v != v)
			finding("exposition: value is not a number", out, len, i);
		i = end + 1;
	}
}


#endif /* FUZZ_CHECK_H */
