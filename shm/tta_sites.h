/*
 * tta_sites.h - where memory came from: each process's tags and call sites
 * in the segment (region TTA_REGION_SITES, format version 1).
 *
 * A record carries two small ids, `tag` and `site` (tta_layout.h), that mean
 * something only next to its owner's block here: one struct tta_site_block
 * per slot, block i for slot i. The block holds the tag names the process
 * used and the call sites it allocated from, symbolized while it ran, so a
 * reader or the reaper can name them after it died.
 *
 *   id 0                  no tag / no site recorded (stack traces off)
 *   1 .. count            tags[id - 1] / sites[id - 1] of the block
 *   TTA_ID_OTHER (65535)  the block was full: shown as TTA_TAG_OTHER_NAME or
 *                         TTA_SITE_UNTRACKED_NAME (counted in tags_dropped /
 *                         sites_dropped)
 *
 * Writing (one process, its own block): tta_sites_reset when it takes the
 * slot, then entries are only appended: the entry (and for a site its frame
 * texts) first, then its count with release ordering; nothing published
 * ever changes until the slot is reclaimed (tta_sites_clear by the reaper, or
 * the next owner's reset). A record names an id only after the id is
 * published, so a reader that read a record of owner X and then sees the
 * block still owned by X finds the id's entry complete.
 *
 * Reading (anyone, untrusted): tta_sites_tag and tta_sites_site copy one
 * entry between two loads of the block's owner word and refuse it when the
 * owner is not the record's, the id was never published, an offset lies
 * outside the text area or a frame count is too large. They never read
 * outside the block and always return terminated text; the text itself is
 * untrusted (sanitise it for terminals, escape it for JSON).
 *
 * Threading: writers serialise on their process-local lock (libtrack's
 * origin lock); readers need nothing. Errors: none beyond return values.
 */
#ifndef TTA_SITES_H
#define TTA_SITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt-alloc/reader.h"
#include "tta_layout.h"

#define TTA_SITES_VERSION 1u
#define TTA_SITE_BLOCK_SIZE 32768u
#define TTA_TAGS_PER_PROCESS 128u    /* tag names a process can store */
#define TTA_TAG_NAME_BYTES 32u       /* 31 bytes and a NUL */
#define TTA_SITES_PER_PROCESS 256u   /* call sites a process can store */
#define TTA_SITE_FRAMES 7u           /* frames kept per site, innermost first */
#define TTA_FRAME_TEXT_MAX 160u      /* bytes of one frame's text, NUL included */
#define TTA_ID_OTHER 0xffffu

/* What readers show for TTA_ID_OTHER and for ids they cannot resolve (the
 * public names of <tt-alloc/reader.h>). */
#define TTA_TAG_OTHER_NAME TTA_TAG_OTHER
#define TTA_SITE_UNTRACKED_NAME TTA_SITE_UNTRACKED

struct tta_site_entry {
	uint16_t frames;                  /* 1 .. TTA_SITE_FRAMES */
	uint16_t frame[TTA_SITE_FRAMES];  /* offsets into text[] of NUL-terminated frames */
};

#define TTA_SITE_TEXT_BYTES                                                            \
	(TTA_SITE_BLOCK_SIZE - 64u - TTA_TAGS_PER_PROCESS * TTA_TAG_NAME_BYTES -       \
	 TTA_SITES_PER_PROCESS * (uint32_t)sizeof(struct tta_site_entry))

struct tta_site_block {
	uint64_t owner;           /*  0: owner tag of the incarnation these are of; 0 none */
	uint32_t tag_count;       /*  8: tags[0 .. tag_count) are published */
	uint32_t site_count;      /* 12: sites[0 .. site_count) are published */
	uint32_t text_used;       /* 16: text[0 .. text_used) is published */
	uint32_t reserved[11];
	char tags[TTA_TAGS_PER_PROCESS][TTA_TAG_NAME_BYTES]; /* 64: NUL-padded names */
	struct tta_site_entry sites[TTA_SITES_PER_PROCESS];  /* 4160 */
	char text[TTA_SITE_TEXT_BYTES];                      /* 8256: frame texts */
};
_Static_assert(sizeof(struct tta_site_block) == TTA_SITE_BLOCK_SIZE, "abi");
_Static_assert(offsetof(struct tta_site_block, tags) == 64, "abi");
_Static_assert(offsetof(struct tta_site_block, sites) == 4160, "abi");
_Static_assert(offsetof(struct tta_site_block, text) == 8256, "abi");
_Static_assert(TTA_SITE_TEXT_BYTES < 65536u, "frame offsets are 16-bit");
_Static_assert(TTA_SITE_BLOCK_SIZE % TTA_PAGE == 0, "blocks keep the region page-aligned");

struct tta_segment;

/* Size of the region for SLOTS slots. */
static inline uint64_t tta_sites_region_size(uint32_t slots)
{
	return (uint64_t)slots * TTA_SITE_BLOCK_SIZE;
}

/* SLOT's block in SEG, or NULL when SEG has no (usable) sites region: a
 * segment made by an older creator, or a region of another version or size. */
struct tta_site_block *tta_sites_block(const struct tta_segment *seg, uint32_t slot);

/* ---- writing: the owner of the block, under its process-local lock ---- */

/* Empties the block for the incarnation OWNER (before any record names an id). */
void tta_sites_reset(struct tta_site_block *b, uint64_t owner);
/* Publishes NAME (at most TTA_TAG_NAME_BYTES - 1 bytes are kept) as the next
 * tag. Returns its id, or 0 when the tag table is full. */
uint16_t tta_sites_add_tag(struct tta_site_block *b, const char *name);
/* Appends a frame's text (cut to TTA_FRAME_TEXT_MAX - 1 bytes); *OFFSET gets
 * where it starts. Returns false when the text area is full. */
bool tta_sites_add_frame(struct tta_site_block *b, const char *text, uint16_t *offset);
/* Publishes a site of N (1 .. TTA_SITE_FRAMES) frames given by their text
 * offsets. Returns its id, or 0 when the site table is full. */
uint16_t tta_sites_add_site(struct tta_site_block *b, const uint16_t *frames, unsigned n);

/* ---- reclaiming: whoever reaps the slot ---- */

/* Empties the block of a reaped slot, so nothing of its process is shown
 * for the next one (idempotent). */
void tta_sites_clear(struct tta_site_block *b);

/* ---- reading: anyone; the block may be hostile ---- */

/* The name of tag ID of the records owned by OWNER, copied into OUT (at
 * least TTA_TAG_NAME_BYTES). Returns OUT, NULL for id 0 (untagged), or
 * TTA_TAG_OTHER_NAME when the id cannot be resolved (B NULL, another owner,
 * never published, TTA_ID_OTHER). */
const char *tta_sites_tag(const struct tta_site_block *b, uint64_t owner, uint16_t id,
			  char *out, size_t outlen);

/* The frames of site ID of OWNER's records, innermost first, joined by '\n'
 * (a '\n' inside a frame's text becomes ' '), into OUT. Returns the number
 * of frames, 0 for id 0 (no site recorded: OUT is ""), or -1 when the site
 * cannot be resolved (OUT is TTA_SITE_UNTRACKED_NAME). OUTLEN of
 * TTA_SITE_FRAMES * TTA_FRAME_TEXT_MAX holds any site whole. */
int tta_sites_site(const struct tta_site_block *b, uint64_t owner, uint16_t id, char *out,
		   size_t outlen);

#endif /* TTA_SITES_H */
