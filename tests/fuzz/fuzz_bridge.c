/*
 * fuzz_bridge.c - libFuzzer harness for tt-alloc-bridge's message decoder
 * (bridge/bridge_decode.c) and the proxy writer it drives (shm/proxy.c).
 *
 * The input is a stream of 112-byte messages (a partial tail is dropped, as
 * the bridge keeps it until more bytes come). Each is decoded against a
 * small private segment; the decoder's contract is checked (an ALLOC names a
 * device in range, a size in 1..INT64_MAX and a tta type 0/1/3/4; a verdict
 * is always one of the enum), then ALLOC/FREE go through the proxy. After
 * every input, the slot's counter lines must equal the sum of its live
 * records, exactly (invariant 4), and the slot is released.
 */
#include <ck_pr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../bridge/bridge.h"
#include "tta_proxy.h"
#include "tta_record.h"
#include "tta_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tta_segment seg;
static bool ready;
static char name[64];

static void drop(void)
{
	tta_segment_close(&seg);
	shm_unlink(name);
}

static void check_totals(uint32_t slot, uint64_t owner)
{
	uint64_t bytes[4][TTA_LAYOUT_MEM_TYPES] = { { 0 } }, buffers[4] = { 0 };
	for (uint32_t c = 0; c < tta_chunk_count(&seg); c++) {
		if (ck_pr_load_64(tta_chunk_owner_at(&seg, c)) != owner)
			continue;
		for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
			const struct tta_record *r = tta_record_at(&seg, c * TTA_RECORDS_PER_CHUNK + i);
			if (r->state != TTA_RECORD_LIVE || r->owner != owner)
				continue;
			if (r->device >= 4 || r->type >= TTA_LAYOUT_MEM_TYPES)
				abort();
			bytes[r->device][r->type] += r->size;
			buffers[r->device]++;
		}
	}
	for (uint32_t d = 0; d < 4; d++) {
		const struct tta_counter_line *l = tta_counter_at(&seg, slot, d);
		if (l->buffers != buffers[d] || memcmp(l->bytes, bytes[d], sizeof bytes[d]) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready) {
		snprintf(name, sizeof name, "/tta_fuzz_bridge_%d", (int)getpid());
		struct tta_create_params p = { .devices = 4, .slots = 4, .records = 256, .mode = 0600 };
		char err[TTA_ERR_MAX];
		shm_unlink(name);
		if (tta_segment_open(name, TTA_OPEN_CREATE, &p, &seg, err, sizeof err) != 0) {
			fprintf(stderr, "fuzz_bridge: %s\n", err);
			abort();
		}
		atexit(drop);
		ready = true;
	}
	struct tta_slot_identity id;
	if (tta_proxy_identity(getpid(), 0, &id) != 0)
		abort();
	struct tta_proxy *proxy;
	if (tta_proxy_open(&seg, &id, &proxy) != 0)
		abort();
	for (size_t off = 0; off + SOCK_MSG_SIZE <= size; off += SOCK_MSG_SIZE) {
		struct bridge_cmd cmd;
		enum bridge_verdict v = bridge_decode(data + off, seg.geo.device_capacity, &cmd);
		if ((unsigned)v >= BRIDGE_VERDICTS || bridge_verdict_name(v) == NULL)
			abort();
		if (v == BRIDGE_ALLOC) {
			if (cmd.device >= seg.geo.device_capacity || cmd.size == 0 ||
			    cmd.size > (uint64_t)INT64_MAX ||
			    !(cmd.tta_type == 0 || cmd.tta_type == 1 || cmd.tta_type == 3 ||
			      cmd.tta_type == 4))
				abort();
			(void)tta_proxy_alloc(proxy, cmd.device, cmd.address, cmd.size, cmd.tta_type);
		} else if (v == BRIDGE_FREE) {
			if (cmd.device >= seg.geo.device_capacity)
				abort();
			(void)tta_proxy_free(proxy, cmd.device, cmd.address);
		}
	}
	uint32_t slot = tta_proxy_slot(proxy);
	uint64_t state = ck_pr_load_64(&tta_slot_at(&seg, slot)->state);
	check_totals(slot, TTA_OWNER_TAG(slot, TTA_SLOT_GEN(state)));
	tta_proxy_forget(proxy);
	if (tta_slot_release(&seg, slot, state) != 1)
		abort();
	return 0;
}
