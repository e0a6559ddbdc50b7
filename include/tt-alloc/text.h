/*
 * tt-alloc/text.h - formatting for tools: byte counts, ages, and untrusted
 * text (process names, command lines, trace lines, anything read from a
 * segment or a socket) made safe for a terminal or a JSON document.
 *
 * One implementation each, used by tt-smi, the reaper, the replay tool and
 * every later tool, so the same value reads the same everywhere.
 * Threading: pure functions (the JSON writer only writes to OUT).
 * Errors: none; output is truncated to the buffer given.
 */
#ifndef TT_ALLOC_TEXT_H
#define TT_ALLOC_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BYTES as "0", "512B", "1.5KiB", "450MiB", "3.0GiB": binary units, one
 * decimal below 10 of a unit, whole units above; negative values keep their
 * '-' (a mis-accounting must show). Returns BUF. */
char *tta_format_bytes(int64_t bytes, char *buf, size_t len);

/* An age as "4.2s", "3m07s", "2h05m" or "1d03h". Returns BUF. */
char *tta_format_age(uint64_t ns, char *buf, size_t len);

/* Copies the first MAXLEN bytes of SRC (or up to a NUL) into DST as text a
 * terminal shows literally: printable ASCII and valid printable UTF-8 pass,
 * every other byte (controls, escape sequences, C1, invalid UTF-8) becomes
 * '?'. DST is always terminated. Returns the number of characters written. */
size_t tta_sanitize_text(const char *src, size_t maxlen, char *dst, size_t dstlen);

/* Like tta_sanitize_text, but shows each byte that is not printable as
 * "\xNN", for messages where the exact bytes matter (a trace line quoted
 * in an error). Returns the bytes written, DST always terminated. */
size_t tta_escape_text(const char *src, size_t maxlen, char *dst, size_t dstlen);

/* Writes the first MAXLEN bytes of SRC (or up to a NUL) to OUT as a JSON
 * string, quotes included. Valid UTF-8 passes; control characters are
 * escaped; a byte that is not valid UTF-8 becomes the code point of the same
 * number (\u00XX), so the output always parses and no byte is lost. */
void tta_json_string(FILE *out, const char *src, size_t maxlen);

/* For command-line tools: TEXT as a strict decimal number, the whole string,
 * within [MIN, MAX] ("12" yes; "", "12x", " 12", "0x10" and out of range no).
 * Returns 1 and sets *OUT, or 0 (OUT untouched). One rule for every tool's
 * numeric options, so "-c 1e3" is refused the same way everywhere. */
int tta_parse_long(const char *text, long min, long max, long *out);

struct option;
/* For command-line tools: after getopt_long returned C ('?' or ':'; the
 * option string must start with ':' and opterr be 0), describes the refusal
 * as the user wrote it, into BUF:
 *   "unknown option '-z'"               (also inside a bundle such as -wz)
 *   "unknown option '--bogus'"
 *   "option '--json' takes no argument"
 *   "option '-s' needs an argument", "option '--segment' needs an argument"
 * Never names argv[0]: inside a bundle argv[optind - 1] is not the word being
 * parsed. LONGOPTS is the array given to getopt_long. Returns BUF. */
char *tta_option_error(int c, char **argv, const struct option *longopts, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* TT_ALLOC_TEXT_H */
