/*
 * tta_proxy.h - writing into the segment on behalf of ANOTHER process.
 *
 * The one internal API for proxy writers (tt-alloc-bridge): a slot claimed
 * with the client's identity (pid, start time, uid, pid namespace, comm,
 * cmdline), so tt-smi lists it under the client's pid and the reaper reaps it
 * and writes its leak report when the client dies, exactly as for a libtrack
 * writer. Records come from chunks claimed with the slot's owner tag and are
 * published/retired through tta_record.h only; the slot's counter lines and
 * device-user bits are written by the proxy, which is the slot's only writer.
 *
 * Marking: such a slot carries TTA_PROXY_TAG in tta_slot.proxy_tag (offset
 * 184, tta_layout.h). A restarted proxy adopts the LIVE marked slots whose
 * owner still runs (tta_proxy_adopt) and rebuilds its private (device,
 * address) index from the slot's live records, so later frees find them.
 * libtrack's exec cleanup (tta_slot_reap_previous_images) skips marked slots.
 *
 * Identity: the pid is the client's pid as seen from the proxy's pid
 * namespace (SO_PEERCRED translates it), so the slot records the proxy's
 * namespace; a client whose pid is not visible there cannot be proxied.
 *
 * Known window: a client that dies with reports still queued in the socket
 * can be reaped between tta_proxy_valid() and the write that follows. The
 * write then lands in a slot no longer LIVE (not counted anywhere; its lines
 * are zeroed at the next claim) or in a chunk claimed under the dead
 * incarnation's tag (released by tta_release_orphan_chunks). No total is
 * wrong; a chunk can stay reserved until the next reap pass.
 *
 * Threading: a struct tta_proxy belongs to one thread (the bridge's event
 * loop). Different proxies may run in different threads.
 * Errors: negative errno; misuse by the client is counted in the segment's
 * shortfall counters (bad_device, bad_argument, unknown_frees,
 * address_collisions, records_unavailable) and changes no total.
 */
#ifndef TTA_PROXY_H
#define TTA_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tta_segment.h"

struct tta_proxy;

/* Fills ID for process PID from /proc (start time, comm, cmdline) with UID
 * (from SO_PEERCRED), our pid namespace and the proxy mark. Returns 0, or
 * -ESRCH if PID is gone, or another -errno. */
int tta_proxy_identity(pid_t pid, uint32_t uid, struct tta_slot_identity *id);

/* Claims a slot for ID in SEG (writable, kept open by the caller for the
 * proxy's lifetime). Returns 0 and *OUT, -ENOSPC (attach_refused counted),
 * -ENOMEM. */
int tta_proxy_open(struct tta_segment *seg, const struct tta_slot_identity *id,
		   struct tta_proxy **out);

/* Adopts SLOT (state word STATE, LIVE and marked) after a proxy restart:
 * rebuilds the private index and the free-record stack from the records of
 * the chunks the slot owns. Returns 0, -EINVAL if the slot is not a marked
 * LIVE slot in that state, -ENOMEM. */
int tta_proxy_adopt(struct tta_segment *seg, uint32_t slot, uint64_t state,
		    struct tta_proxy **out);

/* Reports for the proxied process. TYPE is a tta_mem_type 0..4. Return 0, or
 * a negative errno after counting the shortfall: -ENODEV bad device,
 * -EINVAL bad type or size (0, or above INT64_MAX), -ENOENT unknown free,
 * -ENOSPC no record, -ESTALE the slot was reaped (process gone). */
int tta_proxy_alloc(struct tta_proxy *p, uint32_t device, uint64_t address, uint64_t size,
		    unsigned type);
int tta_proxy_free(struct tta_proxy *p, uint32_t device, uint64_t address);

/* True while the slot is still the one this proxy claimed (not reaped). */
bool tta_proxy_valid(const struct tta_proxy *p);
int32_t tta_proxy_pid(const struct tta_proxy *p);
uint64_t tta_proxy_start_time(const struct tta_proxy *p);
uint32_t tta_proxy_slot(const struct tta_proxy *p);
uint64_t tta_proxy_live_buffers(const struct tta_proxy *p);

/* Forgets the proxy's private state; the slot stays LIVE (the reaper reaps
 * it when the process exits). */
void tta_proxy_forget(struct tta_proxy *p);

#endif /* TTA_PROXY_H */
