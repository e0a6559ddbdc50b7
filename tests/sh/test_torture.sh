#!/usr/bin/env bash
# Crash torture in the suite (tests/torture/driver.c says what it does and
# checks): a short run must hold every invariant exactly, and the torture
# must be able to fail, so two more short runs break something on purpose
# and must be caught.
#   TTA_TORTURE_SECONDS  length of the main run (default 20; 15 under ASan,
#                        whose writers start slower)
. "$(dirname "$0")/lib.sh"

torture=$TTA_BUILD/tt-alloc-torture
if [ ! -x "$torture" ]; then
	fail torture_binary "$torture not built (make tests)"
	exit 1
fi
case "$TTA_BUILD" in
*asan*) default_seconds=15 ;;
*) default_seconds=20 ;;
esac
seconds=${TTA_TORTURE_SECONDS:-$default_seconds}
# Torture segments that exist already are other suites' (running now, or
# left by one that was killed): not this test's to answer for.
shm_before=" $(ls /dev/shm | grep "^tta_torture_" | tr '\n' ' ') "

# 0. fork() while other threads report and wait for RCU grace periods: the
# fork handlers must never deadlock (they did, until urcu's fork locks were
# taken before the shard locks).
if "$torture" --fork-storm 5 >"$TTA_TMP/storm.out" 2>&1; rc_storm=$?; rm -f /dev/shm/tta_fork_storm_*; [ $rc_storm -eq 0 ]; then
	pass fork_while_threads_report_never_deadlocks
	sed 's/^/INFO /' "$TTA_TMP/storm.out"
else
	sed 's/^/    /' "$TTA_TMP/storm.out"
	fail fork_while_threads_report_never_deadlocks
fi

# 1. The real run: exit 0, every checkpoint exact, nothing mis-accounted.
out=$TTA_TMP/torture.out
"$torture" --seconds "$seconds" >"$out" 2>&1
rc=$?
sed -n '/summary/,$p' "$out" | sed 's/^/INFO /'
if [ $rc -eq 0 ] && grep -q '^RESULT: PASS' "$out" && grep -q 'bytes mis-accounted: 0$' "$out" &&
	grep -q 'violations: 0$' "$out"; then
	pass "torture_${seconds}s_exact"
else
	grep -m 20 'VIOLATION\|not parked' "$out" | sed 's/^/    /'
	fail "torture_${seconds}s_exact" "exit $rc"
fi
started=$(sed -n 's/.*short-lived \([0-9]*\), forked.*/\1/p' "$out")
if [ -n "$started" ] && [ "$started" -ge $((seconds * 50)) ]; then
	pass torture_started_thousands_of_short_lived_writers
else
	fail torture_started_thousands_of_short_lived_writers "short-lived: '${started}'"
fi

# 2. Writers that drop one allocation in 5000 from their ledgers (as a lost
# report would): the checkpoints must notice.
out2=$TTA_TMP/fault.out
"$torture" --seconds 4 --checkpoint-ms 1000 --inject-fault >"$out2" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q '^RESULT: FAIL' "$out2" && grep -q 'its ledger' "$out2" &&
	! grep -q 'bytes mis-accounted: 0$' "$out2"; then
	pass torture_catches_a_lost_report
else
	tail -n 5 "$out2" | sed 's/^/    /'
	fail torture_catches_a_lost_report "exit $rc"
fi

# 3. A reaper whose log loses every third "reaped pid" line (its leak report
# blocks stay): the leak-report accounting must notice.
wrapper=$TTA_TMP/lossy-reaper
cat >"$wrapper" <<EOF
#!/usr/bin/env bash
# (a read loop, not awk: mawk buffers its input and would hold lines back)
drop_every_third() {
	local line n=0
	while IFS= read -r line; do
		case \$line in "reaped pid"*) n=\$((n + 1)); [ \$((n % 3)) -eq 0 ] && continue ;; esac
		printf '%s\n' "\$line"
	done
}
exec "$TTA_BUILD/tt-alloc-reaper" "\$@" 2> >(drop_every_third >&2)
EOF
chmod +x "$wrapper"
out3=$TTA_TMP/lossy.out
"$torture" --seconds 4 --checkpoint-ms 1000 --reaper "$wrapper" >"$out3" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'no reaper line for pid\|leak report blocks\|block without its reaped line' "$out3"; then
	pass torture_catches_a_missing_leak_report
else
	tail -n 5 "$out3" | sed 's/^/    /'
	fail torture_catches_a_missing_leak_report "exit $rc"
fi

# The torture removes its segment, also when it fails.
if ls /dev/shm | grep -q "^tta_torture_"; then
	leftover=$(ls /dev/shm | grep "^tta_torture_" | tr '\n' ' ')
	# Only ours count: other suites may be running a torture right now.
	mine=""
	for f in $leftover; do
		[[ $shm_before == *" $f "* ]] && continue
		pid=${f#tta_torture_}
		pid=${pid%%_*} # tta_torture_<pid>_<random>
		kill -0 "$pid" 2>/dev/null || mine="$mine $f"
	done
	if [ -n "$mine" ]; then fail torture_cleans_up "left:$mine"; else pass torture_cleans_up; fi
else
	pass torture_cleans_up
fi
exit $tta_failed
