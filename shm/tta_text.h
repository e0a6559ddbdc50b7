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

#endif
