#!/usr/bin/env bash
# The crash torture inside a PID namespace whose pid_max is 1000, so pids are
# recycled every few seconds while writers die and are reaped: identity by
# pid + start time, the reaper's pidfd watches and the leak-report accounting
# must all hold under real, fast PID reuse. The torture driver is the
# namespace's init; its reaper, writers and readers all live inside.
#   TTA_PIDNS_TORTURE_SECONDS  run time (default 10; 8 under ASan)
. "$(dirname "$0")/lib.sh"

torture=$TTA_BUILD/tt-alloc-torture
case "$TTA_BUILD" in
*asan*) seconds=${TTA_PIDNS_TORTURE_SECONDS:-8} ;;
*) seconds=${TTA_PIDNS_TORTURE_SECONDS:-10} ;;
esac
if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	echo "SKIP pidns_torture: cannot create a pid namespace here (unshare --pid needs CAP_SYS_ADMIN); nothing run"
	exit 0
fi
out=$TTA_TMP/pidns-torture.out
unshare --pid --fork --mount-proc sh -c \
	'echo 1000 > /proc/sys/kernel/pid_max && exec "$0" --seconds "$1"' \
	"$torture" "$seconds" >"$out" 2>&1
rc=$?
sed -n '/summary/,$p' "$out" | sed 's/^/INFO /'
if [ $rc -eq 0 ] && grep -q '^RESULT: PASS' "$out"; then
	pass "torture_in_pid_namespace_with_fast_pid_reuse_${seconds}s"
else
	grep -m 20 'VIOLATION\|not parked\|pid_max' "$out" | sed 's/^/    /'
	fail "torture_in_pid_namespace_with_fast_pid_reuse_${seconds}s" "exit $rc"
fi
exit $tta_failed
