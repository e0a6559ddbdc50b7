/*
 * tail.c - the live event tail of the watch. Contract in tail.h.
 */
#include "tail.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tt-alloc/events.h>
#include <tt-alloc/text.h>

#include "layout.h"

/* What the view shows of an event, copied out of the cursor's memory (a
 * struct tta_event may grow; only these fields are ours), or a gap of
 * MISSED events. */
struct line {
	bool gap;
	uint64_t realtime_ns;
	uint32_t kind;
	int32_t pid;
	uint32_t slot, device, type, kernel_kind;
	uint64_t address, size, buffers;
	uint64_t missed;
};

struct smi_tail {
	tta_event_cursor *cursor;
	int available;
	struct line lines[SMI_TAIL_KEEP];
	size_t next;       /* where the next line goes */
	size_t count;      /* lines held, up to SMI_TAIL_KEEP */
	uint64_t seen, missed;
};

int smi_tail_open(tta_reader *reader, struct smi_tail **out, char *err, size_t errlen)
{
	struct smi_tail *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = tta_events_open(reader, TTA_EVENTS_OLDEST, &t->cursor, err, errlen);
	if (rc < 0) {
		free(t);
		return rc;
	}
	t->available = tta_events_available(t->cursor);
	*out = t;
	return 0;
}

void smi_tail_close(struct smi_tail *tail)
{
	if (!tail)
		return;
	tta_events_close(tail->cursor);
	free(tail);
}

static struct line *push(struct smi_tail *t)
{
	struct line *l = &t->lines[t->next];
	t->next = (t->next + 1) % SMI_TAIL_KEEP;
	if (t->count < SMI_TAIL_KEEP)
		t->count++;
	memset(l, 0, sizeof *l);
	return l;
}

int smi_tail_poll(struct smi_tail *t)
{
	int gained = 0;
	/* Bounded: a ring refilled faster than we read must not keep us here. */
	for (unsigned i = 0; i < 200000; i++) {
		const struct tta_event *e = NULL;
		uint64_t missed = 0;
		int rc = tta_events_next(t->cursor, &e, &missed);
		if (rc < 0)
			return rc;
		if (missed) {
			struct line *l = push(t);
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			l->realtime_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
			l->gap = true;
			l->missed = missed;
			t->missed += missed;
			gained++;
		}
		if (rc == 0)
			break;
		struct line *l = push(t);
		l->realtime_ns = e->realtime_ns;
		l->kind = e->kind;
		l->pid = e->pid;
		l->slot = e->slot;
		l->device = e->device;
		l->type = e->type;
		l->kernel_kind = e->kernel_kind;
		l->address = e->address;
		l->size = e->size;
		l->buffers = e->buffers;
		t->seen++;
		gained++;
	}
	return gained;
}

static const struct smi_column columns[] = {
	{ "Time", 2, true },
	{ "Event", 0, true },
	{ "Device", 0, false },
	{ "PID", 0, false },
	{ "Process", 1, true },
	{ "Type", 0, true },
	{ "Size", 0, false },
	{ "Detail", 3, true },
};

/* The name of live process PID from the snapshot, cleaned; "" if unknown. */
static void process_name(const tta_snapshot *snap, int32_t pid, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < tta_snapshot_process_count(snap); i++) {
		const struct tta_process_row *row = tta_snapshot_process(snap, i);
		if (row->proc.pid == pid) {
			tta_sanitize_text(row->proc.comm, sizeof row->proc.comm, buf, len);
			return;
		}
	}
}

static void add_row(struct smi_table *t, const struct smi_view *v, const struct line *l)
{
	char when[32], kind[32], type[32], size[32], name[64];
	time_t secs = (time_t)(l->realtime_ns / 1000000000u);
	struct tm tm;
	if (!localtime_r(&secs, &tm) || !strftime(when, sizeof when, "%H:%M:%S", &tm))
		snprintf(when, sizeof when, "?");
	smi_table_cell(t, "%s", when);
	if (l->gap) {
		smi_table_cell(t, "MISSED");
		smi_table_cell(t, "%s", "");
		smi_table_cell(t, "%s", "");
		smi_table_cell(t, "%s", "");
		smi_table_cell(t, "%s", "");
		smi_table_cell(t, "%s", "");
		smi_table_cell(t, "%" PRIu64 " event%s lost (ring lapped or a writer died)",
			       l->missed, l->missed == 1 ? "" : "s");
		smi_table_end_row(t);
		return;
	}
	const char *kname = tta_event_kind_name(l->kind);
	if (kname) {
		size_t i = 0;
		for (; kname[i] && i + 1 < sizeof kind; i++)
			kind[i] = (char)(kname[i] >= 'a' && kname[i] <= 'z' ? kname[i] - 'a' + 'A' : kname[i]);
		kind[i] = '\0';
	} else {
		snprintf(kind, sizeof kind, "event#%" PRIu32, l->kind);
	}
	smi_table_cell(t, "%s", kind);
	if (l->device == TTA_NO_DEVICE)
		smi_table_cell(t, "-");
	else
		smi_table_cell(t, "%" PRIu32, l->device);
	smi_table_cell(t, "%" PRId32, l->pid);
	process_name(v->snap, l->pid, name, sizeof name);
	smi_table_cell(t, "%s", name);
	const char *tname = tta_mem_type_name(l->type);
	if (tname) {
		size_t i = 0;
		for (; tname[i] && i + 1 < sizeof type; i++)
			type[i] = (char)(tname[i] >= 'a' && tname[i] <= 'z' ? tname[i] - 'a' + 'A' : tname[i]);
		type[i] = '\0';
	} else {
		snprintf(type, sizeof type, "-");
	}
	smi_table_cell(t, "%s", type);
	bool sized = l->kind != TTA_EVENT_ATTACH && l->kind != TTA_EVENT_EXIT;
	smi_table_cell(t, "%s", sized ? tta_format_bytes(l->size > INT64_MAX ? INT64_MAX
									      : (int64_t)l->size,
							   size, sizeof size)
				       : "-");
	switch (l->kind) {
	case TTA_EVENT_ALLOC:
	case TTA_EVENT_FREE:
		smi_table_cell(t, "buffer 0x%" PRIx64, l->address);
		break;
	case TTA_EVENT_CB_ALLOC:
	case TTA_EVENT_CB_FREE:
		smi_table_cell(t, "cb 0x%" PRIx64, l->address);
		break;
	case TTA_EVENT_KERNEL_LOAD: {
		const char *kk = tta_kernel_kind_name(l->kernel_kind);
		smi_table_cell(t, "kernel 0x%" PRIx64 " (%s)", l->address, kk ? kk : "?");
		break;
	}
	case TTA_EVENT_ATTACH:
		smi_table_cell(t, "slot %" PRIu32, l->slot);
		break;
	case TTA_EVENT_EXIT:
		smi_table_cell(t, "detached, slot %" PRIu32, l->slot);
		break;
	case TTA_EVENT_REAP:
		if (l->buffers || l->size)
			smi_table_cell(t, "ended, leaked %" PRIu64 " buffer%s", l->buffers,
				       l->buffers == 1 ? "" : "s");
		else
			smi_table_cell(t, "ended, nothing leaked");
		break;
	default:
		smi_table_cell(t, "address 0x%" PRIx64, l->address);
		break;
	}
	smi_table_end_row(t);
}

void smi_view_events(const struct smi_view *v, const struct smi_tail *tail, FILE *out)
{
	char what[128];
	snprintf(what, sizeof what, "events: %" PRIu64 " seen, %" PRIu64 " missed",
		 tail ? tail->seen : 0, tail ? tail->missed : 0);
	smi_view_title(v, what, out);
	fputc('\n', out);
	if (tta_snapshot_segment(v->snap)->abi_version == 0) {
		smi_print_wrapped(out, v->width, "No tt-alloc segment yet: no events to follow.");
		return;
	}
	if (!tail || !tail->available) {
		smi_print_wrapped(out, v->width, "This segment keeps no event ring (it was created"
						 " by an older tt-alloc): no events to follow.");
		return;
	}
	if (tail->count == 0) {
		smi_print_wrapped(out, v->width,
				  "No event yet. Attaches, exits and reaps are always recorded;"
				  " allocations, frees, CBs and kernel loads by processes started"
				  " with TT_ALLOC_EVENTS=1.");
		return;
	}
	/* The newest lines that fit under the title, blank and column header,
	 * of the devices (-i) and process (--pid) asked for. */
	size_t room = tail->count;
	if (v->height > 3 && room > v->height - 3)
		room = v->height - 3;
	int32_t pid = tta_snapshot_segment(v->snap)->filter_pid;
	int32_t device = tta_snapshot_segment(v->snap)->filter_device;
	size_t *picked = calloc(room ? room : 1, sizeof *picked), shown = 0;
	if (!picked)
		return;
	for (size_t back = 1; back <= tail->count && shown < room; back++) {
		size_t at = (tail->next + SMI_TAIL_KEEP - back) % SMI_TAIL_KEEP;
		const struct line *l = &tail->lines[at];
		bool on_device = l->device == TTA_NO_DEVICE ||
				 (smi_select_has(v->select, l->device) &&
				  (device < 0 || l->device == (uint32_t)device));
		if (l->gap || (on_device && (pid == 0 || l->pid == pid)))
			picked[shown++] = at;
	}
	struct smi_table *t = smi_table_new(columns, sizeof columns / sizeof columns[0]);
	for (size_t k = shown; k > 0; k--)
		add_row(t, v, &tail->lines[picked[k - 1]]);
	if (shown)
		smi_table_print(t, v->width, true, out);
	else
		smi_print_wrapped(out, v->width, "No event of the devices and processes asked for yet.");
	smi_table_free(t);
	free(picked);
}
