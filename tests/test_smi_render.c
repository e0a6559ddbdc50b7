/*
 * test_smi_render - tt-smi's renderers against hand-made and hostile
 * segments: whatever the segment holds, taking a snapshot and rendering it
 * must not crash, text output must hold no control bytes, and JSON output
 * must be valid UTF-8 JSON. Also pins the byte formatting users read.
 *
 * Segments are built with the internal segment API (tta_segment.h), then
 * written directly, the way a buggy or hostile writer could.
 */
#include <ck_bitmap.h>
#include <stdbool.h>
#include <stdint.h>

#include "render.h"
#include "tt-alloc/text.h"
#include "tta_segment.h"
#include "tta_test.h"

/* ---- a small strict JSON checker ------------------------------------------ */

struct json_in {
	const char *p, *end;
	int depth;
};

static bool json_value(struct json_in *in);

static void json_ws(struct json_in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\t' ||
				   *in->p == '\r'))
		in->p++;
}

static bool json_lit(struct json_in *in, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0)
		return false;
	in->p += n;
	return true;
}

/* Strings: escapes as JSON defines them, no raw control bytes, valid UTF-8. */
static bool json_string_ok(struct json_in *in)
{
	if (in->p >= in->end || *in->p != '"')
		return false;
	in->p++;
	while (in->p < in->end) {
		unsigned char c = (unsigned char)*in->p;
		if (c == '"') {
			in->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			in->p++;
			if (in->p >= in->end)
				return false;
			char e = *in->p++;
			if (e == 'u') {
				for (int i = 0; i < 4; i++, in->p++)
					if (in->p >= in->end || !strchr("0123456789abcdefABCDEF", *in->p))
						return false;
			} else if (!strchr("\"\\/bfnrt", e)) {
				return false;
			}
			continue;
		}
		if (c < 0x80) {
			in->p++;
			continue;
		}
		int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
		if (n == 0 || in->end - in->p < n)
			return false;
		for (int i = 1; i < n; i++)
			if (((unsigned char)in->p[i] & 0xc0) != 0x80)
				return false;
		in->p += n;
	}
	return false;
}

static bool json_number(struct json_in *in)
{
	const char *start = in->p;
	if (in->p < in->end && *in->p == '-')
		in->p++;
	if (in->p >= in->end || *in->p < '0' || *in->p > '9')
		return false;
	if (*in->p == '0' && in->p + 1 < in->end && in->p[1] >= '0' && in->p[1] <= '9')
		return false; /* no leading zeros */
	while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
		in->p++;
	return in->p > start;
}

static bool json_value(struct json_in *in)
{
	if (++in->depth > 64)
		return false;
	json_ws(in);
	bool ok;
	if (in->p >= in->end) {
		ok = false;
	} else if (*in->p == '{' || *in->p == '[') {
		char close = *in->p == '{' ? '}' : ']';
		bool object = close == '}';
		in->p++;
		json_ws(in);
		ok = true;
		if (in->p < in->end && *in->p == close) {
			in->p++;
		} else {
			for (;;) {
				if (object) {
					json_ws(in);
					if (!json_string_ok(in)) {
						ok = false;
						break;
					}
					json_ws(in);
					if (in->p >= in->end || *in->p++ != ':') {
						ok = false;
						break;
					}
				}
				if (!json_value(in)) {
					ok = false;
					break;
				}
				json_ws(in);
				if (in->p < in->end && *in->p == ',') {
					in->p++;
					continue;
				}
				ok = in->p < in->end && *in->p++ == close;
				break;
			}
		}
	} else if (*in->p == '"') {
		ok = json_string_ok(in);
	} else if (*in->p == 't') {
		ok = json_lit(in, "true");
	} else if (*in->p == 'f') {
		ok = json_lit(in, "false");
	} else if (*in->p == 'n') {
		ok = json_lit(in, "null");
	} else {
		ok = json_number(in);
	}
	in->depth--;
	return ok;
}

static bool json_valid(const char *text, size_t len)
{
	struct json_in in = { text, text + len, 0 };
	if (!json_value(&in))
		return false;
	json_ws(&in);
	return in.p == in.end;
}

/* Text a terminal shows literally: newlines, printable ASCII, UTF-8. */
static bool text_clean(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n' || (c >= 0x20 && c < 0x7f) || c >= 0x80)
			continue;
		return false;
	}
	return true;
}

/* ---- helpers -------------------------------------------------------------- */

static void make_segment(struct tta_segment *seg, uint32_t devices, uint32_t slots,
			 uint32_t records)
{
	struct tta_create_params params = { devices, slots, records, 0600 };
	char err[TTA_ERR_MAX] = "";
	int rc = tta_segment_open(tta_test_segment, TTA_OPEN_CREATE, &params, seg, err,
				  sizeof err);
	CHECK(rc == 0, "create: %s", err);
}

/* Renders every view of a snapshot of the test segment; checks the output
 * and returns the JSON text (caller frees). */
static char *render_all(bool want_buffers, int32_t pid, int32_t device)
{
	tta_reader *reader;
	char err[TTA_ERR_MAX] = "";
	int rc = tta_reader_open(tta_test_segment, &reader, err, sizeof err);
	CHECK(rc == 0, "reader_open: %s", err);

	tta_snapshot *snap = NULL;
	rc = tta_snapshot_take(reader, pid, device, want_buffers ? TTA_SNAPSHOT_BUFFERS : 0, &snap,
			       err, sizeof err);
	CHECK(rc == 0, "snapshot: %s", err);

	char *text = NULL, *json = NULL;
	size_t text_len = 0, json_len = 0;
	FILE *t = open_memstream(&text, &text_len);
	FILE *j = open_memstream(&json, &json_len);
	CHECK(t && j, "open_memstream");
	smi_render_text(snap, "test", t);
	smi_render_buffers_text(snap, "test", t);
	smi_render_leaks(snap, t);
	smi_render_json(snap, "test", j);
	fclose(t);
	fclose(j);
	CHECK(text_clean(text, text_len), "control bytes in text output:\n%s", text);
	CHECK(json_valid(json, json_len), "invalid JSON:\n%s", json);
	free(text);
	tta_snapshot_free(snap);
	tta_reader_close(reader);
	return json;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Marks SLOT live for PID with the given name, on DEVICE with BYTES of DRAM. */
static void forge_process(struct tta_segment *seg, uint32_t slot, int32_t pid,
			  const char *comm, size_t comm_len, uint32_t device, int64_t bytes)
{
	struct tta_slot *s = tta_slot_at(seg, slot);
	memset(s->comm, 0, sizeof s->comm);
	memcpy(s->comm, comm, comm_len);
	s->uid = (uint32_t)getuid();
	s->state = TTA_SLOT_STATE(TTA_SLOT_LIVE, pid, 7);
	ck_bitmap_set((ck_bitmap_t *)(seg->base + seg->geo.off_live_slots), slot);
	ck_bitmap_set((ck_bitmap_t *)(seg->base + seg->geo.off_device_users +
				      (size_t)device * seg->geo.bitmap_stride), slot);
	tta_counter_at(seg, slot, device)->bytes[TTA_MEM_DRAM] = (uint64_t)bytes;
	tta_counter_at(seg, slot, device)->buffers = 1;
}

/* Gives a random live slot a chunk of records with random contents whose
 * ownership checks pass, so the buffer renderers see hostile values. */
static void forge_buffers(struct tta_segment *seg)
{
	uint32_t slot = (uint32_t)(rng() % seg->geo.slot_capacity);
	uint32_t gen = (uint32_t)rng();
	uint32_t chunk = (uint32_t)(rng() % tta_chunk_count(seg));
	uint64_t tag = TTA_OWNER_TAG(slot, gen);
	tta_slot_at(seg, slot)->state = TTA_SLOT_STATE(TTA_SLOT_LIVE, (uint32_t)rng(), gen);
	*tta_chunk_owner_at(seg, chunk) = tag;
	for (uint32_t i = 0; i < TTA_RECORDS_PER_CHUNK; i++) {
		struct tta_record *rec = tta_record_at(seg, chunk * TTA_RECORDS_PER_CHUNK + i);
		rec->seq = (uint32_t)rng() & ~1u;
		rec->owner = tag;
		rec->address = rng();
		rec->size = rng();
		rec->alloc_mono_ns = rng();
		rec->device = (uint16_t)(rng() % 5);
		rec->type = (uint8_t)(rng() % 8);
		rec->state = (uint8_t)(rng() % 3 ? TTA_RECORD_LIVE : rng());
		rec->kernel_kind = (uint8_t)rng();
	}
}

/* ---- cases ---------------------------------------------------------------- */

TTA_TEST(human_bytes)
{
	static const struct {
		int64_t bytes;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 1, "1B" },
		{ 1023, "1023B" },
		{ 1024, "1.0KiB" },
		{ 12 * 1024, "12KiB" },
		{ 10 * 1024 - 1, "10KiB" },
		{ 450ll << 20, "450MiB" },
		{ 3ll << 30, "3.0GiB" },
		{ 12ll << 30, "12GiB" },
		{ (3ll << 30) / 2, "1.5GiB" },
		{ -4096, "-4.0KiB" },
		{ INT64_MAX, "8.0EiB" },
		{ INT64_MIN, "-8.0EiB" },
	};
	char buf[32];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		tta_format_bytes(cases[i].bytes, buf, sizeof buf);
		CHECK(strcmp(buf, cases[i].want) == 0, "%" PRId64 " -> '%s', want '%s'",
		      cases[i].bytes, buf, cases[i].want);
	}
}

/* Every tool's numeric options go through one rule: the whole string, a
 * decimal number, inside the range; anything else is refused untouched. */
TTA_TEST(option_numbers)
{
	static const struct {
		const char *text;
		long min, max;
		int ok;
		long want;
	} cases[] = {
		{ "12", 0, 100, 1, 12 },    { "0", 0, 100, 1, 0 },      { "100", 0, 100, 1, 100 },
		{ "-3", -5, 5, 1, -3 },     { "101", 0, 100, 0, 0 },    { "-1", 0, 100, 0, 0 },
		{ "", 0, 100, 0, 0 },       { "12x", 0, 100, 0, 0 },    { " 12", 0, 100, 0, 0 },
		{ "+12", 0, 100, 0, 0 },    { "0x10", 0, 100, 0, 0 },   { "1e3", 0, 5000, 0, 0 },
		{ "99999999999999999999", 0, 100, 0, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long got = -777;
		int ok = tta_parse_long(cases[i].text, cases[i].min, cases[i].max, &got);
		CHECK(ok == cases[i].ok && got == (ok ? cases[i].want : -777),
		      "'%s' in [%ld, %ld]: ok %d got %ld", cases[i].text, cases[i].min, cases[i].max, ok,
		      got);
	}
	long untouched = 5;
	CHECK(tta_parse_long(NULL, 0, 10, &untouched) == 0 && untouched == 5, "NULL refused");
}

TTA_TEST(empty_segment_renders)
{
	struct tta_segment seg;
	make_segment(&seg, 4, 8, 256);
	char *json = render_all(true, 0, -1);
	CHECK(strstr(json, "\"processes\": []") != NULL, "%s", json);
	CHECK(strstr(json, "\"devices\": []") != NULL, "%s", json);
	CHECK(strstr(json, "\"buffers\": []") != NULL, "%s", json);
	free(json);
	tta_segment_close(&seg);
}

TTA_TEST(hostile_name_is_escaped)
{
	struct tta_segment seg;
	make_segment(&seg, 4, 8, 256);
	/* Quote, backslash, control bytes, DEL, an invalid byte, and no NUL. */
	const char comm[16] = { '"', '\\', 0x01, 0x1b, '[', '2', 'J', 0x7f, (char)0xff,
				(char)0xc3, (char)0xa9, 'x', 'x', 'x', 'x', 'x' };
	forge_process(&seg, 3, (int32_t)getpid(), comm, sizeof comm, 2, 4096);
	char *json = render_all(false, 0, -1);
	const char *want = "\"name\": \"\\\"\\\\\\u0001\\u001b[2J\\u007f\\u00ff\xc3\xa9xxxx\"";
	CHECK(strstr(json, want) != NULL, "want %s in\n%s", want, json);
	CHECK(strstr(json, "\"dram\": 4096") != NULL, "%s", json);
	free(json);
	tta_segment_close(&seg);
}

/* A negative total (a writer that freed more than it allocated) is shown as
 * such, not hidden, and --check-empty counts it. */
TTA_TEST(negative_total_is_shown)
{
	struct tta_segment seg;
	make_segment(&seg, 4, 8, 256);
	forge_process(&seg, 0, (int32_t)getpid(), "neg", 3, 1, -8192);
	char *json = render_all(false, 0, -1);
	CHECK(strstr(json, "\"dram\": -8192") != NULL, "%s", json);
	free(json);

	tta_reader *reader;
	char err[TTA_ERR_MAX];
	CHECK(tta_reader_open(tta_test_segment, &reader, err, sizeof err) == 0, "%s", err);
	tta_snapshot *snap = NULL;
	CHECK(tta_snapshot_take(reader, 0, -1, 0, &snap, err, sizeof err) == 0, "%s", err);
	CHECK(smi_render_leaks(snap, NULL) == 1, "negative total not reported as a leak");
	char *text = NULL;
	size_t len = 0;
	FILE *t = open_memstream(&text, &len);
	smi_render_text(snap, "test", t);
	fclose(t);
	CHECK(strstr(text, "-8.0KiB") != NULL, "%s", text);
	free(text);
	tta_snapshot_free(snap);
	tta_reader_close(reader);
	tta_segment_close(&seg);
}

/* Filters apply to devices, rows and buffers alike. */
TTA_TEST(filters)
{
	struct tta_segment seg;
	make_segment(&seg, 4, 8, 256);
	forge_process(&seg, 0, 11111, "one", 3, 0, 100);
	forge_process(&seg, 1, 22222, "two", 3, 3, 200);
	char *json = render_all(false, 22222, -1);
	CHECK(strstr(json, "\"pid\": 11111") == NULL && strstr(json, "\"pid\": 22222"), "%s", json);
	free(json);
	json = render_all(false, 0, 0);
	CHECK(strstr(json, "\"pid\": 11111") && strstr(json, "\"pid\": 22222") == NULL, "%s", json);
	CHECK(strstr(json, "\"id\": 3") == NULL, "%s", json);
	free(json);
	tta_segment_close(&seg);
}

/* Random bytes over everything after the header, many times over: the
 * reader must cope and the renderers must stay well-formed. */
TTA_TEST(random_segment_contents)
{
	struct tta_segment seg;
	make_segment(&seg, 4, 40, 256);
	size_t body = seg.size - sizeof(struct tta_header);
	for (int round = 0; round < 300; round++) {
		uint8_t *p = seg.base + sizeof(struct tta_header);
		if (round % 3 == 0) {
			for (size_t i = 0; i + 8 <= body; i += 8) {
				uint64_t v = rng();
				memcpy(p + i, &v, 8);
			}
		} else {
			/* Sparse damage keeps more structure (live slots, records
			 * whose owner matches) so deeper paths run too. */
			for (int k = 0; k < 64; k++) {
				size_t at = (size_t)(rng() % (body - 8)) & ~(size_t)7;
				uint64_t v = rng();
				if (v & 1)
					v = TTA_SLOT_STATE(TTA_SLOT_LIVE, (uint32_t)v >> 8, v >> 40);
				memcpy(p + at, &v, 8);
			}
		}
		if (round % 2)
			forge_buffers(&seg);
		free(render_all(true, 0, -1));
	}
	tta_segment_close(&seg);
}

TTA_TEST_MAIN(TTA_CASE(human_bytes), TTA_CASE(option_numbers), TTA_CASE(empty_segment_renders),
	      TTA_CASE(hostile_name_is_escaped), TTA_CASE(negative_total_is_shown),
	      TTA_CASE(filters), TTA_CASE(random_segment_contents))
