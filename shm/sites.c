/*
 * sites.c - the per-process tag and call-site blocks of the segment.
 * Contract and format in tta_sites.h.
 */
#include <ck_pr.h>
#include <stdio.h>
#include <string.h>

#include "tta_segment.h"
#include "tta_sites.h"

struct tta_site_block *tta_sites_block(const struct tta_segment *seg, uint32_t slot)
{
	const struct tta_region *r = tta_segment_region(seg, TTA_REGION_SITES);
	if (r == NULL || r->version != TTA_SITES_VERSION ||
	    r->size != tta_sites_region_size(seg->geo.slot_capacity) ||
	    slot >= seg->geo.slot_capacity)
		return NULL;
	/* The directory entry was validated at open: inside the mapping. */
	return (struct tta_site_block *)(seg->base + r->offset) + slot;
}

/* ---- writing ---- */

void tta_sites_reset(struct tta_site_block *b, uint64_t owner)
{
	ck_pr_store_32(&b->tag_count, 0);
	ck_pr_store_32(&b->site_count, 0);
	ck_pr_store_32(&b->text_used, 0);
	ck_pr_fence_store();
	ck_pr_store_64(&b->owner, owner);
}

void tta_sites_clear(struct tta_site_block *b)
{
	ck_pr_store_64(&b->owner, 0);
	ck_pr_fence_store();
	ck_pr_store_32(&b->tag_count, 0);
	ck_pr_store_32(&b->site_count, 0);
	ck_pr_store_32(&b->text_used, 0);
}

uint16_t tta_sites_add_tag(struct tta_site_block *b, const char *name)
{
	uint32_t n = ck_pr_load_32(&b->tag_count);
	if (n >= TTA_TAGS_PER_PROCESS)
		return 0;
	char *slot = b->tags[n];
	size_t len = strnlen(name, TTA_TAG_NAME_BYTES - 1);
	memcpy(slot, name, len);
	memset(slot + len, 0, TTA_TAG_NAME_BYTES - len);
	ck_pr_fence_store(); /* the name before the count that publishes it */
	ck_pr_store_32(&b->tag_count, n + 1);
	return (uint16_t)(n + 1);
}

bool tta_sites_add_frame(struct tta_site_block *b, const char *text, uint16_t *offset)
{
	uint32_t used = ck_pr_load_32(&b->text_used);
	size_t len = strnlen(text, TTA_FRAME_TEXT_MAX - 1);
	if (used > TTA_SITE_TEXT_BYTES || len + 1 > TTA_SITE_TEXT_BYTES - used)
		return false;
	memcpy(b->text + used, text, len);
	b->text[used + len] = '\0';
	ck_pr_fence_store();
	ck_pr_store_32(&b->text_used, used + (uint32_t)len + 1);
	*offset = (uint16_t)used;
	return true;
}

uint16_t tta_sites_add_site(struct tta_site_block *b, const uint16_t *frames, unsigned n)
{
	uint32_t count = ck_pr_load_32(&b->site_count);
	if (count >= TTA_SITES_PER_PROCESS || n == 0 || n > TTA_SITE_FRAMES)
		return 0;
	struct tta_site_entry *e = &b->sites[count];
	memset(e, 0, sizeof *e);
	e->frames = (uint16_t)n;
	memcpy(e->frame, frames, n * sizeof *frames);
	ck_pr_fence_store();
	ck_pr_store_32(&b->site_count, count + 1);
	return (uint16_t)(count + 1);
}

/* ---- reading ---- */

/* The entry of ID is published for OWNER: its count covers it. */
static bool published(const struct tta_site_block *b, uint64_t owner, const uint32_t *count,
		      uint32_t capacity, uint16_t id)
{
	if (id == 0 || id == TTA_ID_OTHER || ck_pr_load_64(&b->owner) != owner || owner == 0)
		return false;
	uint32_t n = ck_pr_load_32(count);
	ck_pr_fence_load(); /* the count before what it publishes */
	return id <= n && id <= capacity;
}

/* Still OWNER's after the copy: nothing we copied belonged to a later one. */
static bool still_owned(const struct tta_site_block *b, uint64_t owner)
{
	ck_pr_fence_load();
	return ck_pr_load_64(&b->owner) == owner;
}

const char *tta_sites_tag(const struct tta_site_block *b, uint64_t owner, uint16_t id,
			  char *out, size_t outlen)
{
	if (id == 0)
		return NULL;
	if (b == NULL || outlen < TTA_TAG_NAME_BYTES ||
	    !published(b, owner, &b->tag_count, TTA_TAGS_PER_PROCESS, id))
		return TTA_TAG_OTHER_NAME;
	memcpy(out, b->tags[id - 1], TTA_TAG_NAME_BYTES);
	out[TTA_TAG_NAME_BYTES - 1] = '\0';
	if (!still_owned(b, owner))
		return TTA_TAG_OTHER_NAME;
	return out;
}

static int untracked(char *out, size_t outlen)
{
	if (outlen > 0)
		snprintf(out, outlen, "%s", TTA_SITE_UNTRACKED_NAME);
	return -1;
}

int tta_sites_site(const struct tta_site_block *b, uint64_t owner, uint16_t id, char *out,
		   size_t outlen)
{
	if (outlen > 0)
		out[0] = '\0';
	if (id == 0)
		return 0;
	if (b == NULL || outlen == 0 ||
	    !published(b, owner, &b->site_count, TTA_SITES_PER_PROCESS, id))
		return untracked(out, outlen);
	uint32_t used = ck_pr_load_32(&b->text_used);
	if (used > TTA_SITE_TEXT_BYTES)
		used = TTA_SITE_TEXT_BYTES;
	struct tta_site_entry e;
	memcpy(&e, &b->sites[id - 1], sizeof e);
	if (e.frames == 0 || e.frames > TTA_SITE_FRAMES)
		return untracked(out, outlen);
	size_t o = 0;
	for (unsigned f = 0; f < e.frames; f++) {
		uint32_t at = e.frame[f];
		if (at >= used)
			return untracked(out, outlen);
		char frame[TTA_FRAME_TEXT_MAX];
		size_t avail = used - at < sizeof frame - 1 ? used - at : sizeof frame - 1;
		memcpy(frame, b->text + at, avail);
		frame[avail] = '\0';
		size_t len = strlen(frame);
		/* One frame per line, whatever the text holds. */
		for (size_t i = 0; i < len; i++)
			if (frame[i] == '\n')
				frame[i] = ' ';
		if (o + (f ? 1 : 0) + len + 1 > outlen)
			break; /* OUT too small: keep the innermost frames */
		if (f)
			out[o++] = '\n';
		memcpy(out + o, frame, len);
		o += len;
		out[o] = '\0';
	}
	if (!still_owned(b, owner))
		return untracked(out, outlen);
	return e.frames;
}
