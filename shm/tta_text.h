/*
 * tta_text.h - text helpers shared by the tools built in this tree (reaper,
 * tt-smi). Internal: not part of libtrack's documented API.
 * Threading: pure functions. Errors: none; output is truncated to LEN.
 */
#ifndef TTA_TEXT_H
#define TTA_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Formats an age as "4.2s", "3m07s", "2h05m" or "1d03h" into BUF; returns BUF. */
const char *tta_format_age(uint64_t ns, char *buf, size_t len);

struct option;
/* After getopt_long returned C ('?' or ':'; the option string must start with
 * ':' and opterr be 0), describes the refusal as the user wrote it, into BUF:
 *   "unknown option '-z'"               (also inside a bundle such as -wz)
 *   "unknown option '--bogus'"
 *   "option '--json' takes no argument"
 *   "option '-s' needs an argument", "option '--segment' needs an argument"
 * Never names argv[0]: inside a bundle argv[optind - 1] is not the word being
 * parsed. LONGOPTS is the array given to getopt_long. Returns BUF. */
const char *tta_option_error(int c, char **argv, const struct option *longopts, char *buf,
			     size_t len);

#endif
