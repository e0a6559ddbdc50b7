/*
 * origin_names.h - the read side of tags and call sites: turns a record's
 * (tag, site) ids into text, for snapshots and buffer walks (read.c), and
 * sums live records per (device, tag) for the tag rows of a snapshot.
 *
 * Every string handed out is owned by the struct tta_origin_names and lives
 * until it is freed; equal strings share one copy, so tools may compare
 * pointers as well as text. Text comes from the segment through
 * tta_sites_tag / tta_sites_site (tta_sites.h), which bound every read; it is
 * untrusted and terminated, never sanitised here (that is the caller's job
 * at display time).
 *
 * Threading: one object per thread. Errors: -ENOMEM only.
 */
#ifndef TTA_ORIGIN_NAMES_H
#define TTA_ORIGIN_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "tt-alloc/reader.h"
#include "tta_segment.h"

struct tta_origin_names;

struct tta_origin_names *tta_origin_names_new(const struct tta_segment *seg);
void tta_origin_names_free(struct tta_origin_names *n);

/* The tag and site of live record REC, owned by slot SLOT: *TAG NULL when
 * untagged, *SITE NULL when no site was recorded. Reads the segment: call it
 * inside the read guard. Returns 0 or -ENOMEM. */
int tta_origin_names_resolve(struct tta_origin_names *n, uint32_t slot, const struct tta_record *rec,
			     const char **tag, const char **site);

/* Adds a buffer of SIZE bytes and TYPE on DEVICE to the row of (DEVICE, TAG)
 * (TAG as returned by resolve). Returns 0 or -ENOMEM. */
int tta_origin_names_count_tag(struct tta_origin_names *n, uint32_t device, const char *tag,
			       uint32_t type, uint64_t size);
/* Ends the take: sorts the rows (by device, then largest total first, then
 * by name) and frees what only resolving needed. The strings and rows stay;
 * resolve and count_tag must not be called again. */
void tta_origin_names_finish(struct tta_origin_names *n);
size_t tta_origin_names_tag_count(const struct tta_origin_names *n);
const struct tta_tag_row *tta_origin_names_tag(const struct tta_origin_names *n, size_t i);

#endif /* TTA_ORIGIN_NAMES_H */
