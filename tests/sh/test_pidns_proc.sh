#!/usr/bin/env bash
# A pid namespace that kept the host's /proc: pids read there name other
# processes, so writers must disable themselves and the reaper must refuse
# to run, each with one line naming the fix. Needs unshare (root here).
. "$(dirname "$0")/lib.sh"
if ! unshare --pid --fork true 2>/dev/null; then
	echo "SKIP pid namespaces unavailable here (unshare --pid failed); nothing asserted"
	exit 0
fi
B=$TTA_BUILD
TT_ALLOC_TRACKING_ENABLED=1 unshare --pid --fork "$B/tt-alloc-replay" "$TTA_SRC/tests/traces/small.trace" \
	>"$TTA_TMP/w.out" 2>"$TTA_TMP/w.err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "another pid namespace" "$TTA_TMP/w.err" &&
	[ "$(grep -c "another pid namespace" "$TTA_TMP/w.err")" = 1 ]; then
	pass writer_disables_with_foreign_proc
else
	fail writer_disables_with_foreign_proc "rc=$rc: $(cat "$TTA_TMP/w.err")"
fi
# Nothing of it was counted: no slot was taken.
if [ -e "/dev/shm$TT_ALLOC_SHM" ]; then
	live=$("$B/tt-smi" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["segment"]["counters"]["live_processes"])')
	[ "$live" = 0 ] && pass no_slot_taken || fail no_slot_taken "live=$live"
else
	pass no_slot_taken
fi
unshare --pid --fork "$B/tt-alloc-reaper" --once 2>"$TTA_TMP/r.err"
rc=$?
[ "$rc" = 2 ] && grep -q "another pid namespace" "$TTA_TMP/r.err" &&
	pass reaper_refuses_foreign_proc || fail reaper_refuses_foreign_proc "rc=$rc: $(cat "$TTA_TMP/r.err")"
# With its own /proc the same namespace works.
TT_ALLOC_TRACKING_ENABLED=1 unshare --pid --fork --mount-proc "$B/tt-alloc-replay" --quiet \
	"$TTA_SRC/tests/traces/small.trace" 2>"$TTA_TMP/ok.err"
rc=$?
[ "$rc" = 0 ] && ! grep -q "disabled" "$TTA_TMP/ok.err" && pass own_proc_works ||
	fail own_proc_works "rc=$rc: $(cat "$TTA_TMP/ok.err")"
exit $tta_failed
