#!/usr/bin/env bash
# tt-alloc-reaper end to end: the real daemon, real writers (libtrack), real
# SIGKILLs, read back through the reader API (helper_reaper_probe).
. "$(dirname "$0")/lib.sh"

R=$TTA_BUILD/tt-alloc-reaper
W=$TTA_BUILD/tests/helper_reaper_writer
P=$TTA_BUILD/tests/helper_reaper_probe
export TT_ALLOC_TRACKING_ENABLED=0 # only the writers we start report

# probe [PID]: sets live buffers bytes records records_in_use slots_pid
# reaper_pid reaper_alive reaped leaky occupied from the reader API.
probe() {
	live= buffers= bytes= records= records_in_use= occupied= reaper_pid=
	local out
	out=$("$P" "$@" 2>/dev/null) || return 1
	eval "$out"
}
totals_zero() {
	probe && [ "$live" = 0 ] && [ "$buffers" = 0 ] && [ "$bytes" = 0 ] &&
		[ "$records" = 0 ] && [ "$records_in_use" = 0 ] && [ "$occupied" = 0 ]
}
registered_as() { probe && [ "$reaper_pid" = "$1" ]; }
proc_gone() { ! kill -0 "$1" 2>/dev/null; }

# start_reaper LOG [ARGS...]: sets $reaper; waits until it registered.
start_reaper() {
	local log=$1; shift
	"$R" "$@" 2>"$log" &
	reaper=$!
	wait_for 10 registered_as "$reaper"
}
# start_writer OUT MODE BUFFERS DEVICES SIZE: sets $writer and $writer_bytes
# (hold: waits for its "ready" line).
start_writer() {
	local out=$1; shift
	TT_ALLOC_TRACKING_ENABLED=1 "$W" "$@" >"$out" 2>&1 &
	writer=$!
	if [ "$1" = hold ]; then
		wait_for 10 grep -q '^ready' "$out" || return 1
	fi
	writer_bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$out")
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---------------------------------------------------------------------------
# 1. A SIGKILLed writer: totals exact again, one leak report, exact figures.
log1=$TTA_TMP/reaper1.log
if start_reaper "$log1"; then pass reaper_registers; else fail reaper_registers "reaper_pid never became $reaper"; fi

start_writer "$TTA_TMP/w1.out" hold 5 2 4096
probe "$writer"
if [ "$live" = 1 ] && [ "$buffers" = 10 ] && [ "$bytes" = "$writer_bytes" ] && [ "$slots_pid" = 1 ]; then
	pass writer_counted
else
	fail writer_counted "live=$live buffers=$buffers bytes=$bytes (want 1/10/$writer_bytes)"
fi
t0=$(now_ms)
kill -9 "$writer"
if wait_for 10 totals_zero; then
	t1=$(now_ms)
	echo "INFO SIGKILL -> totals exact (shell poll, includes ~20 ms poll step): $((t1 - t0)) ms"
	pass sigkill_totals_exact
else
	fail sigkill_totals_exact "live=$live buffers=$buffers bytes=$bytes records=$records records_in_use=$records_in_use occupied=$occupied"
fi
wait "$writer" 2>/dev/null
wpid=$writer
wait_for 5 grep -q "reaped pid $wpid " "$log1"
n=$(grep -c "^leak report: pid $wpid " "$log1")
if [ "$n" = 1 ]; then pass one_leak_report; else fail one_leak_report "$n reports for pid $wpid"; cat "$log1"; fi
# 5 buffers on each of 2 devices, sizes 4096*(i+1): dram i=0,2,4, l1 i=1,3.
if grep -q "^leak report: pid $wpid (helper_reaper_w) uid $(id -u) slot [0-9]*: left 10 buffers, 120KiB ($writer_bytes bytes) on 2 devices" "$log1" &&
	grep -q "^leak pid $wpid: device 0: 5 buffers: dram 36KiB (36864 bytes), l1 24KiB (24576 bytes)$" "$log1" &&
	grep -q "^leak pid $wpid: device 1: 5 buffers: dram 36KiB (36864 bytes), l1 24KiB (24576 bytes)$" "$log1" &&
	[ "$(grep -c "^leak pid $wpid: buffer on device [01]: \(dram\|l1\) at 0x10[0-4]00000, .*, age [0-9.]*s$" "$log1")" = 10 ] &&
	grep -q "^leak pid $wpid: buffer on device 1: l1 at 0x10300000, 16KiB (16384 bytes), age" "$log1" &&
	! grep -q "^leak pid $wpid: \.\.\. and" "$log1"; then
	pass leak_report_contents
else
	fail leak_report_contents "see log"
	grep "pid $wpid" "$log1"
fi

# 2. A writer that frees everything and exits leaves no leak report.
start_writer "$TTA_TMP/w2.out" free 5 2 4096
wait "$writer"
wpid=$writer
if wait_for 10 totals_zero; then pass clean_exit_totals_zero; else fail clean_exit_totals_zero "live=$live occupied=$occupied"; fi
wait_for 5 grep -q "reaped pid $wpid " "$log1"
if grep -q "reaped pid $wpid (helper_reaper_w) slot [0-9]*: .*; nothing left allocated$" "$log1" &&
	! grep -q "leak.* pid $wpid[: ]" "$log1"; then
	pass clean_exit_no_leak_report
else
	fail clean_exit_no_leak_report "$(grep "pid $wpid" "$log1")"
fi

# 3. A writer that exits normally without freeing is a leak too.
start_writer "$TTA_TMP/w3.out" exit 3 1 1000
wait "$writer"
wpid=$writer
if wait_for 10 totals_zero && wait_for 5 grep -q "^leak report: pid $wpid .*left 3 buffers, 5.9KiB (6000 bytes) on 1 device;" "$log1"; then
	pass exit_without_free_reported
else
	fail exit_without_free_reported "$(grep "pid $wpid" "$log1")"
fi

# 4. A second reaper on the same segment is refused while the first runs.
"$R" 2>"$TTA_TMP/second.log"
rc=$?
if [ "$rc" = 1 ] && grep -q "another tt-alloc-reaper (pid $reaper) already serves" "$TTA_TMP/second.log" &&
	registered_as "$reaper"; then
	pass second_reaper_refused
else
	fail second_reaper_refused "rc=$rc reaper_pid=$reaper_pid: $(cat "$TTA_TMP/second.log")"
fi

# 5. SIGTERM: exit 0, registration cleared, a goodbye line.
kill -TERM "$reaper"
wait "$reaper"
rc=$?
probe
if [ "$rc" = 0 ] && [ "$reaper_pid" = 0 ] && grep -q "^stopping on SIGTERM: reaped 3 processes (2 with leaks) since start$" "$log1"; then
	pass sigterm_clean_exit
else
	fail sigterm_clean_exit "rc=$rc reaper_pid=$reaper_pid"
fi
if grep -q "^error:" "$log1"; then fail reaper1_no_errors "$(grep '^error:' "$log1")"; else pass reaper1_no_errors; fi

# 6. A writer dies while no reaper runs; a restarted reaper reaps it at start.
start_writer "$TTA_TMP/w6.out" hold 20 1 512
wpid=$writer
kill -9 "$wpid"
wait "$wpid" 2>/dev/null
sleep 0.3
probe
if [ "$live" = 1 ] && [ "$buffers" = 20 ]; then pass dead_writer_waits_without_reaper; else fail dead_writer_waits_without_reaper "live=$live buffers=$buffers"; fi
log2=$TTA_TMP/reaper2.log
start_reaper "$log2" --max-listed 3
if wait_for 10 totals_zero && wait_for 5 grep -q "^leak report: pid $wpid " "$log2" &&
	grep -q "reaped 1 at start" "$log2"; then
	pass restart_reaps_at_start
else
	fail restart_reaps_at_start "live=$live; $(cat "$log2")"
fi
if [ "$(grep -c "^leak pid $wpid: buffer on device 0: " "$log2")" = 3 ] &&
	grep -q "^leak pid $wpid: \.\.\. and 17 more buffers$" "$log2"; then
	pass max_listed_caps_report
else
	fail max_listed_caps_report "$(grep "pid $wpid" "$log2")"
fi

# 7. SIGKILLed reaper: a stale registration; --once reaps and exits 0.
kill -9 "$reaper"
wait "$reaper" 2>/dev/null
start_writer "$TTA_TMP/w7.out" hold 2 2 8192
wpid=$writer
kill -9 "$wpid"
wait "$wpid" 2>/dev/null
"$R" --once 2>"$TTA_TMP/once.log"
rc=$?
if [ "$rc" = 0 ] && totals_zero && [ "$(grep -c "^leak report: pid $wpid .*left 4 buffers" "$TTA_TMP/once.log")" = 1 ] &&
	grep -q "^reaped 1 process (1 with leaks)$" "$TTA_TMP/once.log"; then
	pass once_reaps_and_exits
else
	fail once_reaps_and_exits "rc=$rc live=$live: $(cat "$TTA_TMP/once.log")"
fi
# --once leaves a live writer alone.
start_writer "$TTA_TMP/w7b.out" hold 1 1 100
"$R" --once 2>"$TTA_TMP/once2.log"
rc=$?
probe
if [ "$rc" = 0 ] && [ "$live" = 1 ] && kill -0 "$writer" && ! grep -q "pid $writer" "$TTA_TMP/once2.log"; then
	pass once_spares_live_writer
else
	fail once_spares_live_writer "rc=$rc live=$live"
fi
kill -9 "$writer"; wait "$writer" 2>/dev/null

# 8. 200 short-lived writers, some SIGKILLed at random moments (even while
# attaching), some exiting clean, some leaking: nothing is left behind.
log3=$TTA_TMP/reaper3.log
start_reaper "$log3" || fail churn "reaper did not start"
wait_for 10 totals_zero # the killed writer of step 7
fds_before=$(ls /proc/"$reaper"/fd | wc -l)
churn_one() { # I
	local out=$TTA_TMP/churn.$1 p
	case $(($1 % 4)) in
	0) TT_ALLOC_TRACKING_ENABLED=1 "$W" hold 3 2 1000 >/dev/null 2>&1 &
	   p=$!; sleep "0.0$((RANDOM % 10))"; kill -9 "$p"; wait "$p" ;;
	1) TT_ALLOC_TRACKING_ENABLED=1 "$W" free 3 2 1000 >/dev/null 2>&1 ;;
	2) TT_ALLOC_TRACKING_ENABLED=1 "$W" exit 2 1 1000 >/dev/null 2>&1 ;;
	3) TT_ALLOC_TRACKING_ENABLED=1 "$W" hold 4 2 1000 >"$out" 2>&1 &
	   p=$!; wait_for 10 grep -q '^ready' "$out"; kill -9 "$p"; wait "$p" ;;
	esac
} 2>/dev/null
probe; reaped_before=$reaped
for batch in $(seq 0 9); do
	for i in $(seq 0 19); do churn_one $((batch * 20 + i)) & done
	wait $(jobs -p | grep -vx "$reaper")
done
if wait_for 20 totals_zero; then
	pass churn_leaves_no_slot
else
	fail churn_leaves_no_slot "live=$live occupied=$occupied buffers=$buffers bytes=$bytes records=$records records_in_use=$records_in_use"
fi
probe
echo "INFO churn: reaper reaped $((reaped - reaped_before)) of 200 writers (others never attached or were reaped by writers)"
fds_after=$(ls /proc/"$reaper"/fd | wc -l)
if kill -0 "$reaper" && [ "$fds_after" = "$fds_before" ]; then
	pass churn_no_fd_leak
else
	fail churn_no_fd_leak "fds $fds_before -> $fds_after"
fi
n_reports=$(grep -c "^leak report: " "$log3")
n_uniq=$(grep "^leak report: " "$log3" | awk '{print $4}' | sort -u | wc -l)
if [ "$n_reports" = "$n_uniq" ] && [ "$n_reports" -gt 0 ] && ! grep -q "^error:" "$log3"; then
	pass churn_one_report_per_process
else
	fail churn_one_report_per_process "$n_reports reports for $n_uniq pids"
fi

# 9. The segment is removed and re-created under the reaper: it follows.
rm -f "/dev/shm$TT_ALLOC_SHM"
start_writer "$TTA_TMP/w9.out" hold 2 1 100 # creates a fresh segment
wpid=$writer
wait_for 10 registered_as "$reaper" # it registered in the new segment
kill -9 "$wpid"
wait "$wpid" 2>/dev/null
if wait_for 10 totals_zero && grep -q "was replaced by a new segment; switching to it" "$log3" &&
	grep -q "^leak report: pid $wpid " "$log3"; then
	pass follows_recreated_segment
else
	fail follows_recreated_segment "live=$live reaper_pid=$reaper_pid"
fi

# 10. SIGINT ends it cleanly too.
kill -INT "$reaper"
wait "$reaper"
rc=$?
probe
if [ "$rc" = 0 ] && [ "$reaper_pid" = 0 ] && grep -q "^stopping on SIGINT: " "$log3"; then pass sigint_clean_exit; else fail sigint_clean_exit "rc=$rc reaper_pid=$reaper_pid"; fi

# 11. Command line: --segment, creation mode, usage errors.
other="/tta_sh_other_$$_${RANDOM}"
( umask 077; TT_ALLOC_SHM_MODE=0640 exec "$R" --segment "$other" 2>"$TTA_TMP/seg.log" ) &
other_reaper=$!
wait_for 10 grep -q "^serving $other: " "$TTA_TMP/seg.log"
kill -TERM "$other_reaper"
wait "$other_reaper"
rc=$?
mode=$(stat -c %a "/dev/shm$other" 2>/dev/null)
if [ "$rc" = 0 ] && [ "$mode" = 640 ] && grep -q "^serving $other: " "$TTA_TMP/seg.log"; then
	pass segment_option_creates_with_mode
else
	fail segment_option_creates_with_mode "rc=$rc mode=$mode"
fi
# --once only inspects: on an existing segment it checks it, and without
# one it says so, exits 0 and creates nothing.
"$R" --once --segment "$other" 2>"$TTA_TMP/seg.log"
rc=$?
rm -f "/dev/shm$other"
if [ "$rc" = 0 ] && grep -q "^checking $other: " "$TTA_TMP/seg.log"; then pass once_checks_existing_segment
else fail once_checks_existing_segment "rc=$rc $(cat "$TTA_TMP/seg.log")"; fi
"$R" --once --segment "$other" 2>"$TTA_TMP/seg.log"
rc=$?
if [ "$rc" = 0 ] && [ ! -e "/dev/shm$other" ] && grep -q "^no segment $other .*nothing to reap" "$TTA_TMP/seg.log"; then
	pass once_never_creates_a_segment
else
	fail once_never_creates_a_segment "rc=$rc exists=$([ -e "/dev/shm$other" ] && echo yes) $(cat "$TTA_TMP/seg.log")"
fi
rm -f "/dev/shm$other"
# Segment names: the leading '/' is added when missing, an empty name is an
# error (never a silent default), in --segment and TT_ALLOC_SHM alike.
"$R" --once --segment "${other#/}" 2>"$TTA_TMP/seg.log"
rc=$?
if [ "$rc" = 0 ] && grep -q "^no segment $other " "$TTA_TMP/seg.log"; then pass name_without_slash_gets_one
else fail name_without_slash_gets_one "rc=$rc $(cat "$TTA_TMP/seg.log")"; fi
for how in env arg; do
	if [ $how = env ]; then TT_ALLOC_SHM= "$R" --once 2>"$TTA_TMP/seg.log"; else "$R" --once --segment '' 2>"$TTA_TMP/seg.log"; fi
	rc=$?
	if [ "$rc" = 2 ] && grep -q "^tt-alloc-reaper: empty segment name" "$TTA_TMP/seg.log" &&
		[ "$(wc -l <"$TTA_TMP/seg.log")" = 1 ]; then
		pass "empty_segment_name_is_an_error_$how"
	else
		fail "empty_segment_name_is_an_error_$how" "rc=$rc $(cat "$TTA_TMP/seg.log")"
	fi
done
usage_rc() { "$R" "$@" >/dev/null 2>"$TTA_TMP/usage.err"; echo $?; }
if [ "$(usage_rc --bogus)" = 2 ] && [ "$(usage_rc --max-listed x)" = 2 ] &&
	[ "$(usage_rc --segment 'bad/name')" = 2 ] && [ "$(usage_rc --scan-interval 0)" = 2 ] &&
	[ "$(usage_rc extra)" = 2 ] && [ "$(usage_rc --segment)" = 2 ] &&
	[ "$(TT_ALLOC_MAX_PROCESSES=nope usage_rc --once --segment "/tta_sh_bad_$$")" = 2 ] &&
	[ ! -e "/dev/shm/tta_sh_bad_$$" ] && [ "$(wc -l <"$TTA_TMP/usage.err")" = 1 ]; then
	pass usage_errors_exit_2
else
	fail usage_errors_exit_2 "$(cat "$TTA_TMP/usage.err")"
fi
check_option_error bad_option_bundled "unknown option '-z'" "$R" -zz
check_option_error bad_option_in_bundle "unknown option '-z'" "$R" -vz
check_option_error bad_option_long "unknown option '--bogus'" "$R" --bogus
check_option_error bad_option_bundle_needs_argument "option '-s' needs an argument" "$R" -vs
check_option_error bad_option_long_needs_argument "option '--segment' needs an argument" "$R" --segment
check_version version "$R"
# Errors start with the program's name, like every tool's (not "error:").
bad_seg="${TT_ALLOC_SHM}_junk"
head -c 8192 /dev/urandom >"/dev/shm$bad_seg"
"$R" --once --segment "$bad_seg" 2>"$TTA_TMP/junk.log"
rc=$?
rm -f "/dev/shm$bad_seg"
if [ "$rc" = 2 ] && grep -q "^tt-alloc-reaper: segment $bad_seg: not a tt-alloc segment" "$TTA_TMP/junk.log" &&
	! grep -q "^error:" "$TTA_TMP/junk.log"; then
	pass errors_start_with_program_name
else
	fail errors_start_with_program_name "rc=$rc $(cat "$TTA_TMP/junk.log")"
fi
if "$R" --help | grep -q "^Usage: tt-alloc-reaper" && "$R" --version >/dev/null; then
	pass help_and_version
else
	fail help_and_version
fi

# 12. No privilege needed (the unit drops every capability): a reaper running
# as nobody reaps a root writer (segment mode 0666).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	rm -f "/dev/shm$TT_ALLOC_SHM"
	start_writer "$TTA_TMP/w12.out" hold 2 1 100
	wpid=$writer
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$R" 2>"$TTA_TMP/nobody.log" &
	reaper=$!
	wait_for 10 registered_as "$reaper"
	kill -9 "$wpid"
	wait "$wpid" 2>/dev/null
	if wait_for 10 totals_zero && wait_for 5 grep -q "^leak report: pid $wpid .*uid 0 " "$TTA_TMP/nobody.log"; then
		pass unprivileged_reaper_reaps_root_writer
	else
		fail unprivileged_reaper_reaps_root_writer "live=$live: $(cat "$TTA_TMP/nobody.log")"
	fi
	kill -TERM "$reaper"
	wait "$reaper"
else
	echo "NOTE not root or no setpriv: unprivileged reaper not tested"
fi

# 13. The systemd unit is valid (with ExecStart pointing at the built binary).
if command -v systemd-analyze >/dev/null; then
	unit=$TTA_TMP/tt-alloc-reaper.service
	sed "s|@PREFIX@/bin/tt-alloc-reaper|$R|" "$TTA_SRC/reaper/tt-alloc-reaper.service" >"$unit"
	out=$(systemd-analyze verify "$unit" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ] && ! grep -q '@PREFIX@' "$unit" &&
		grep -q '^ReadWritePaths=/dev/shm$' "$unit" && ! grep -q '^ProtectProc=invisible' "$unit"; then
		pass systemd_unit_verifies
	else
		fail systemd_unit_verifies "rc=$rc $out"
	fi
else
	echo "NOTE systemd-analyze not installed: unit not verified"
fi

exit $tta_failed
