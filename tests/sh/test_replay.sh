#!/usr/bin/env bash
# tt-alloc-replay end to end: trace errors are reported with file:line before
# anything is replayed; good traces replay into a real segment with exactly
# the totals their "# expect:" lines state; what a process leaves behind goes
# away when it cleans up or when the reaper reclaims it.
. "$(dirname "$0")/lib.sh"

replay=$TTA_BUILD/tt-alloc-replay
reader=$TTA_BUILD/tests/helper_replay_read
reaper=$TTA_BUILD/tt-alloc-reaper
traces=$TTA_SRC/tests/traces
llm=$traces/llm_inference_2x_wormhole.trace

# Every case that replays gets a segment of its own, so one case's leftovers
# (a dead process not yet reaped still counts) cannot leak into the next.
base_segment=$TT_ALLOC_SHM
case_segments=()
new_segment() {
	export TT_ALLOC_SHM="${base_segment}_$1"
	case_segments+=("/dev/shm$TT_ALLOC_SHM")
}
replay_cleanup() {
	rm -f "${case_segments[@]}"
	tta_cleanup
}
trap replay_cleanup EXIT

# What the segment holds now, as helper_replay_read prints it (sorted).
segment_state() { "$reader" "$@" | sort; }
# The "# expect:" lines of a trace (sorted).
expected_state() { sed -n 's/^# expect: //p' "$1" | sort; }

# --- malformed traces: exit 2, FILE:LINE on stderr, nothing replayed --------
new_segment malformed
for trace in "$traces"/malformed_*.trace; do
	name=$(basename "$trace" .trace)
	line=$(sed -n 's/^# error-line: //p' "$trace")
	text=$(sed -n 's/^# error-text: //p' "$trace")
	for mode in replay check; do
		flags=(--speed 0)
		[ $mode = check ] && flags=(--check)
		TT_ALLOC_TRACKING_ENABLED=1 "$replay" "${flags[@]}" "$trace" >"$TTA_TMP/out" 2>"$TTA_TMP/err"
		rc=$?
		if [ $rc -ne 2 ]; then
			fail "$name-$mode" "exit status $rc, expected 2"
		elif ! grep -qF "$trace:$line: " "$TTA_TMP/err"; then
			fail "$name-$mode" "stderr does not name $trace:$line: $(head -c 300 "$TTA_TMP/err")"
		elif ! grep -qF "$text" "$TTA_TMP/err"; then
			fail "$name-$mode" "stderr lacks '$text': $(head -c 300 "$TTA_TMP/err")"
		elif [ -s "$TTA_TMP/out" ]; then
			fail "$name-$mode" "printed to stdout: $(head -c 200 "$TTA_TMP/out")"
		else
			pass "$name-$mode"
		fi
	done
done
# The valid allocations before each bad line must not have been reported: the
# library creates the segment on the first report, so it must not exist.
if [ -e "/dev/shm$TT_ALLOC_SHM" ]; then
	fail malformed-replays-nothing "a malformed trace created $TT_ALLOC_SHM"
else
	pass malformed-replays-nothing
fi

# Control bytes from the trace are never echoed raw: a line that would set
# the terminal's colour (ESC) is shown escaped, in every message that quotes
# the file.
printf 'alloc 0 1 1 dram\n\033[31mboom 1 2\nalloc 0 2 1 \033]0;x\007\nalloc 0 3 1\033 dram\n' >"$TTA_TMP/esc.trace"
"$replay" --check "$TTA_TMP/esc.trace" >/dev/null 2>"$TTA_TMP/err"
rc=$?
if [ $rc -eq 2 ] && ! grep -q "$(printf '[\033\007]')" "$TTA_TMP/err" &&
	grep -qF "esc.trace:2: unknown operation '\x1b[31mboom'" "$TTA_TMP/err" &&
	grep -qF "esc.trace:3: unknown type '\x1b]0;x\x07'" "$TTA_TMP/err" &&
	grep -qF "esc.trace:4: bad number '1\x1b'" "$TTA_TMP/err"; then
	pass trace-errors-escape-control-bytes
else
	fail trace-errors-escape-control-bytes "rc=$rc: $(cat -v "$TTA_TMP/err")"
fi

TT_ALLOC_TRACKING_ENABLED=1 "$replay" - <"$traces/malformed_bad_type.trace" >/dev/null 2>"$TTA_TMP/err"
rc=$?
if [ $rc -eq 2 ] && grep -qF "<stdin>:6: unknown type 'l2'" "$TTA_TMP/err"; then
	pass malformed-from-stdin
else
	fail malformed-from-stdin "rc=$rc stderr: $(cat "$TTA_TMP/err")"
fi

# --- usage errors ------------------------------------------------------------
usage_case() { # name, args...
	local name=$1; shift
	"$replay" "$@" >/dev/null 2>"$TTA_TMP/err"
	local rc=$?
	if [ $rc -eq 2 ] && [ -s "$TTA_TMP/err" ]; then pass "usage-$name"
	else fail "usage-$name" "exit status $rc, stderr: $(cat "$TTA_TMP/err")"; fi
}
usage_case no-trace
check_version usage-version "$replay"
# A directory (or any unreadable trace) names the reason.
"$replay" --check "$TTA_TMP" >/dev/null 2>"$TTA_TMP/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "error reading $TTA_TMP: Is a directory" "$TTA_TMP/err"; then pass usage-directory-says-why
else fail usage-directory-says-why "rc=$rc $(cat "$TTA_TMP/err")"; fi
# Counts of one are singular.
echo "alloc 0 0x1 1 dram" >"$TTA_TMP/one.trace"
"$replay" --check "$TTA_TMP/one.trace" >"$TTA_TMP/one.out" 2>&1
env -u TT_ALLOC_TRACKING_ENABLED "$replay" "$TTA_TMP/one.trace" >>"$TTA_TMP/one.out" 2>&1
grep -q "one.trace: ok, 1 operation\$" "$TTA_TMP/one.out" && grep -q "replayed 1 operation x 1 " "$TTA_TMP/one.out" &&
	pass usage-singular-operation || fail usage-singular-operation "$(cat "$TTA_TMP/one.out")"
check_singular usage-singular-replay "$TTA_TMP/one.out"
check_option_error usage-bundled-unknown "unknown option '-z'" "$replay" -zz "$traces/small.trace"
check_option_error usage-unknown-in-bundle "unknown option '-z'" "$replay" -qz "$traces/small.trace"
check_option_error usage-unknown-long "unknown option '--frobnicate'" "$replay" --frobnicate "$traces/small.trace"
check_option_error usage-bundle-needs-argument "option '-s' needs an argument" "$replay" -qs
check_option_error usage-long-needs-argument "option '--speed' needs an argument" "$replay" --speed
usage_case two-traces "$traces/small.trace" "$traces/small.trace"
usage_case unknown-option --frobnicate "$traces/small.trace"
usage_case negative-speed --speed -1 "$traces/small.trace"
usage_case bad-repeat --repeat many "$traces/small.trace"
# Speeds whose sleeps would overflow (or are not numbers) are refused, and
# the message gives the valid range.
for speed in 1e-300 0.0009 1e-6 inf nan -1e-3; do
	usage_case "speed-$speed" --check --speed "$speed" "$traces/small.trace"
	grep -qF "0.001" "$TTA_TMP/err" && pass "usage-speed-$speed-says-range" ||
		fail "usage-speed-$speed-says-range" "$(cat "$TTA_TMP/err")"
done
check usage-speed-0.001-accepted "$replay" --check --quiet --speed 0.001 "$traces/small.trace"
check usage-speed-0-accepted "$replay" --check --quiet --speed 0 "$traces/small.trace"
usage_case missing-file "$TTA_TMP/no-such.trace"
if grep -qF "$TTA_TMP/no-such.trace" "$TTA_TMP/err"; then pass usage-missing-file-named
else fail usage-missing-file-named "$(cat "$TTA_TMP/err")"; fi

# --- good traces parse --------------------------------------------------------
for trace in "$traces"/*.trace; do
	case $trace in */malformed_*) continue;; esac
	name=check-$(basename "$trace" .trace)
	if "$replay" --check "$trace" >"$TTA_TMP/out" 2>"$TTA_TMP/err" && ! [ -s "$TTA_TMP/err" ]; then
		pass "$name"
	else
		fail "$name" "$(head -c 300 "$TTA_TMP/err")"
	fi
done
check check-stdin "$replay" --check --quiet - <"$traces/small.trace"

if command -v python3 >/dev/null; then
	if python3 "$TTA_SRC/scripts/gen-llm-trace.py" | cmp -s - "$llm"; then
		pass llm-trace-matches-generator
	else
		fail llm-trace-matches-generator "rerun scripts/gen-llm-trace.py > tests/traces/$(basename "$llm")"
	fi
	size=$(stat -c %s "$llm")
	if [ "$size" -lt 2000000 ]; then pass llm-trace-size; else fail llm-trace-size "$size bytes"; fi
else
	echo "SKIP llm-trace-matches-generator: python3 not installed"
fi

# --- tracking off: warned, nothing reported -----------------------------------
new_segment off
env -u TT_ALLOC_TRACKING_ENABLED "$replay" --speed 0 "$traces/small.trace" >/dev/null 2>"$TTA_TMP/err"
rc=$?
if [ $rc -eq 0 ] && grep -q 'TT_ALLOC_TRACKING_ENABLED' "$TTA_TMP/err" && [ "$(wc -l <"$TTA_TMP/err")" -eq 1 ] &&
	! [ -e "/dev/shm$TT_ALLOC_SHM" ]; then
	pass tracking-off-warns
else
	fail tracking-off-warns "rc=$rc, segment $( [ -e "/dev/shm$TT_ALLOC_SHM" ] && echo exists || echo absent), stderr: $(cat "$TTA_TMP/err")"
fi

# --- replay with --hold: the segment shows exactly the expected totals ------
holder_pid=
# start_holder TRACE ARGS...: replays with --hold in the background and waits
# until the whole trace has been reported.
start_holder() {
	local trace=$1; shift
	# Emptied here, not by the job's redirection: that happens in the child,
	# possibly after wait_for has already seen the previous holder's line.
	rm -f "$TTA_TMP/holder.out"
	TT_ALLOC_TRACKING_ENABLED=1 "$replay" --hold "$@" "$trace" >"$TTA_TMP/holder.out" 2>"$TTA_TMP/holder.err" </dev/null &
	holder_pid=$!
	wait_for 60 grep -q '^tt-alloc-replay: holding' "$TTA_TMP/holder.out"
}
# compare_state NAME EXPECTED-FILE [READER ARGS]: PASS if the segment matches.
compare_state() {
	local name=$1 expected=$2; shift 2
	segment_state "$@" >"$TTA_TMP/actual"
	if diff -u "$expected" "$TTA_TMP/actual" >"$TTA_TMP/diff"; then
		pass "$name"
	else
		fail "$name" "segment differs from expectation: $(tail -n +3 "$TTA_TMP/diff" | tr '\n' ' ')"
	fi
}
stop_holder() { # name: SIGTERM must end the hold with status 0
	kill -TERM "$holder_pid"
	wait "$holder_pid"
	local rc=$?
	if [ $rc -eq 0 ]; then pass "$1-sigterm-exits-0"; else fail "$1-sigterm-exits-0" "exit status $rc"; fi
}

if command -v python3 >/dev/null; then
	# The training-loop generator (bench section j): a trace the tool accepts,
	# replayed exactly: after --cleanup nothing is held, and the kernels
	# reloaded each step replaced themselves instead of piling up.
	python3 "$TTA_SRC/scripts/gen-training-trace.py" --steps 2 --layers 2 >"$TTA_TMP/train.trace"
	if "$replay" --check "$TTA_TMP/train.trace" >"$TTA_TMP/train.out" 2>&1 &&
		grep -q ': ok, [0-9]* operations' "$TTA_TMP/train.out"; then
		pass training-trace-parses
	else
		fail training-trace-parses "$(cat "$TTA_TMP/train.out")"
	fi
	new_segment training
	printf 'leaky_processes 0\nprocesses 0\n' >"$TTA_TMP/expected"
	if TT_ALLOC_TRACKING_ENABLED=1 "$replay" --speed 0 --cleanup "$TTA_TMP/train.trace" \
		>"$TTA_TMP/train.out" 2>&1; then
		compare_state training-trace-replays-clean "$TTA_TMP/expected" --health
	else
		fail training-trace-replays-clean "$(cat "$TTA_TMP/train.out")"
	fi
else
	echo "SKIP training-trace-parses: python3 not installed"
fi

smi=$TTA_BUILD/tt-smi
smi_json_to_lines='
import json, sys
for dev in json.load(sys.stdin)["devices"]:
    for mtype, used in dev["used"].items():
        if used:
            print("device %d %s %d" % (dev["id"], mtype, used))
    if dev["buffers"]:
        print("device %d buffers %d" % (dev["id"], dev["buffers"]))
'
for trace in "$traces/small.trace" "$traces/every_type.trace" "$llm"; do
	name=$(basename "$trace" .trace)
	new_segment "hold_$name"
	expected_state "$trace" >"$TTA_TMP/expected"
	if ! [ -s "$TTA_TMP/expected" ]; then
		fail "$name-totals" "trace has no '# expect:' lines"
		continue
	fi
	if ! start_holder "$trace" --speed 0; then
		fail "$name-totals" "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
		continue
	fi
	# Traces that state no buffer counts are compared on bytes only.
	grep -q ' buffers ' "$TTA_TMP/expected" || filter='/ buffers /d'
	segment_state | sed -e "${filter:-}" >"$TTA_TMP/actual"
	if diff -u "$TTA_TMP/expected" "$TTA_TMP/actual" >"$TTA_TMP/diff"; then
		pass "$name-totals"
	else
		fail "$name-totals" "$(tail -n +3 "$TTA_TMP/diff" | tr '\n' ' ')"
	fi
	# A well-formed trace frees only what it allocated and never allocates
	# twice: no shortfall counter may move.
	"$reader" --health | grep -v '^device ' | sort >"$TTA_TMP/health"
	if [ "$(cat "$TTA_TMP/health")" = "$(printf 'leaky_processes 0\nprocesses 1')" ]; then
		pass "$name-no-shortfall"
	else
		fail "$name-no-shortfall" "$(tr '\n' ' ' <"$TTA_TMP/health")"
	fi
	# What users look at must agree: tt-smi --json, in the same line form.
	: >"$TTA_TMP/diff"
	if [ -x "$smi" ] && command -v python3 >/dev/null; then
		if "$smi" --json >"$TTA_TMP/smi.json" 2>"$TTA_TMP/smi.err" &&
			python3 -c "$smi_json_to_lines" <"$TTA_TMP/smi.json" | sort | sed -e "${filter:-}" >"$TTA_TMP/actual" &&
			diff -u "$TTA_TMP/expected" "$TTA_TMP/actual" >"$TTA_TMP/diff"; then
			pass "$name-tt-smi-json-totals"
		else
			fail "$name-tt-smi-json-totals" "$(cat "$TTA_TMP/smi.err") $(tail -n +3 "$TTA_TMP/diff" | tr '\n' ' ')"
		fi
	fi
	unset filter
	if [ "$name" = small ]; then
		# 6 buffers and 1 kernel binary, named as the reaper names them.
		grep -q '^tt-alloc-replay: holding 6 buffers and 1 kernel binary (pid ' "$TTA_TMP/holder.out" &&
			pass small-holding-message || fail small-holding-message "$(cat "$TTA_TMP/holder.out")"
	fi
	stop_holder "$name"
done

# --repeat: each pass starts from the same state, so three passes end where
# one does, and no pass frees what it did not allocate or allocates twice.
new_segment repeat
expected_state "$traces/every_type.trace" >"$TTA_TMP/expected"
echo "processes 1" >>"$TTA_TMP/expected"
echo "leaky_processes 0" >>"$TTA_TMP/expected"
sort -o "$TTA_TMP/expected" "$TTA_TMP/expected"
if start_holder "$traces/every_type.trace" --speed 0 --repeat 3; then
	compare_state repeat-3-same-end-state "$TTA_TMP/expected" --health
	stop_holder repeat
else
	fail repeat-3-same-end-state "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
fi

# Alloc over a live address: both are kept and each free releases the newest
# first, in the library and in the tool's own model (which warns, and frees
# what a pass left before the next): two allocs and two frees hold nothing.
printf 'alloc 0 0x10 100 dram\nalloc 0 0x10 200 dram\nfree 0 0x10\nfree 0 0x10\n' >"$TTA_TMP/coll2.trace"
"$replay" --check "$TTA_TMP/coll2.trace" >/dev/null 2>"$TTA_TMP/err"
if [ "$(grep -c warning "$TTA_TMP/err")" -eq 1 ] && grep -q "coll2.trace:2: warning: .*collision" "$TTA_TMP/err"; then
	pass collision-warns-at-alloc-only
else
	fail collision-warns-at-alloc-only "$(cat "$TTA_TMP/err")"
fi
new_segment collision_two_frees
printf 'shortfall address_collisions 3\nprocesses 1\nleaky_processes 0\n' | sort >"$TTA_TMP/expected"
if start_holder "$TTA_TMP/coll2.trace" --speed 0 --repeat 3; then
	compare_state collision-two-frees-hold-nothing "$TTA_TMP/expected" --health
	grep -q 'holding 0 buffers ' "$TTA_TMP/holder.out" && pass collision-model-holds-nothing ||
		fail collision-model-holds-nothing "$(cat "$TTA_TMP/holder.out")"
	stop_holder collision
else
	fail collision-two-frees-hold-nothing "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
fi
# One free of two: the older allocation stays, and every pass starts clean.
head -n 3 "$TTA_TMP/coll2.trace" >"$TTA_TMP/coll1.trace"
new_segment collision_one_free
printf 'device 0 dram 100\ndevice 0 buffers 1\nshortfall address_collisions 3\nprocesses 1\nleaky_processes 0\n' |
	sort >"$TTA_TMP/expected"
if start_holder "$TTA_TMP/coll1.trace" --speed 0 --repeat 3; then
	compare_state collision-repeat-keeps-one "$TTA_TMP/expected" --health
	stop_holder collision-one
else
	fail collision-repeat-keeps-one "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
fi

# --cleanup: a clean shutdown leaves nothing behind, without any reaper, and
# is not a leak. (Kernel loads have no free event; a trace without them keeps
# this case about buffers.)
new_segment cleanup
grep -vw kernel "$traces/small.trace" >"$TTA_TMP/no_kernels.trace"
TT_ALLOC_TRACKING_ENABLED=1 "$replay" --quiet --speed 0 --cleanup "$TTA_TMP/no_kernels.trace"
rc=$?
printf 'leaky_processes 0\nprocesses 0\n' >"$TTA_TMP/expected"
if [ $rc -eq 0 ]; then
	compare_state cleanup-leaves-nothing "$TTA_TMP/expected" --health
else
	fail cleanup-leaves-nothing "exit status $rc"
fi
# With kernels loaded, --cleanup still takes every byte off the totals.
new_segment cleanup_kernels
TT_ALLOC_TRACKING_ENABLED=1 "$replay" --quiet --speed 0 --cleanup "$traces/small.trace"
rc=$?
if [ $rc -eq 0 ]; then
	: >"$TTA_TMP/expected"
	compare_state cleanup-drops-kernels "$TTA_TMP/expected"
else
	fail cleanup-drops-kernels "exit status $rc"
fi

# stdin: the end of a piped stdin ends --hold; /dev/null (a background job's
# stdin) does not.
new_segment stdin
( wait_for 30 grep -q '^tt-alloc-replay: holding' "$TTA_TMP/pipe.out" ) |
	TT_ALLOC_TRACKING_ENABLED=1 "$replay" --hold --speed 0 --cleanup "$traces/small.trace" >"$TTA_TMP/pipe.out" 2>&1 &
pipe_pid=$!
if wait_for 30 sh -c "! kill -0 $pipe_pid 2>/dev/null"; then
	wait "$pipe_pid"
	rc=$?
	if [ $rc -eq 0 ]; then pass hold-ends-at-stdin-eof; else fail hold-ends-at-stdin-eof "exit status $rc"; fi
else
	fail hold-ends-at-stdin-eof "still holding 30 s after stdin closed"
fi
if start_holder "$traces/small.trace" --speed 0 --cleanup; then
	sleep 0.3
	if kill -0 "$holder_pid" 2>/dev/null; then pass hold-ignores-dev-null; else fail hold-ignores-dev-null "exited"; fi
	stop_holder devnull
else
	fail hold-ignores-dev-null "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
fi

# --- what a process leaves behind is reaped --------------------------------
# Wait a little in case the reaper is still being built beside this suite.
wait_for 5 test -x "$reaper"
if [ -x "$reaper" ]; then
	printf 'leaky_processes 1\nprocesses 0\n' >"$TTA_TMP/expected"
	# A normal exit with allocations left, then a SIGKILL while holding.
	new_segment exit_leaves
	TT_ALLOC_TRACKING_ENABLED=1 "$replay" --quiet --speed 0 "$traces/small.trace"
	rc=$?
	if [ $rc -ne 0 ]; then
		fail exit-leftovers-reaped "replay exit status $rc"
	else
		"$reaper" --once >"$TTA_TMP/reaper.out" 2>&1
		compare_state exit-leftovers-reaped "$TTA_TMP/expected" --health
		# One definition of "buffers" (allocations with a free event: all but
		# kernel binaries) in the reaped line, the leak report's header and its
		# per-device lines; kernel binaries are reported separately.
		# small.trace leaves 3 + 3 buffers and 1 kernel binary on device 0.
		out=$TTA_TMP/reaper.out
		reaped=$(sed -n 's/^reaped pid .*; left \([0-9]*\) buffers\{0,1\}, .*/\1/p' "$out")
		header=$(sed -n 's/^leak report: pid .*: left \([0-9]*\) buffers\{0,1\}, .*/\1/p' "$out")
		per_device=$(sed -n 's/^leak pid [0-9]*: device [0-9]*: \([0-9]*\) buffers\{0,1\}[:;].*/\1/p' "$out" |
			awk '{ s += $1 } END { print s + 0 }')
		if [ "$reaped" = 6 ] && [ "$header" = 6 ] && [ "$per_device" = 6 ]; then
			pass leak-report-buffers-add-up
		else
			fail leak-report-buffers-add-up "reaped line $reaped, header $header, devices $per_device: $(cat "$out")"
		fi
		if grep -q '^leak report: .*; 1 kernel binary, 64KiB (65536 bytes) (no free event, not a leak);' "$out" &&
			grep -q '^leak pid [0-9]*: device 0: 3 buffers: dram 1.0MiB (1048576 bytes), l1 2.0KiB (2048 bytes), trace 512 bytes; 1 kernel binary, 64KiB (65536 bytes)$' "$out" &&
			grep -q '^leak pid [0-9]*: device 1: 3 buffers: ' "$out" && ! grep -q '^leak pid [0-9]*: device 1: .*kernel' "$out"; then
			pass leak-report-kernels-separate
		else
			fail leak-report-kernels-separate "$(cat "$out")"
		fi
	fi

	new_segment killed
	if start_holder "$traces/small.trace" --speed 0; then
		kill -KILL "$holder_pid"
		wait "$holder_pid" 2>/dev/null
		"$reaper" --once >"$TTA_TMP/reaper.out" 2>&1
		compare_state sigkill-leftovers-reaped "$TTA_TMP/expected" --health
		if grep -qw "$holder_pid" "$TTA_TMP/reaper.out"; then
			pass sigkill-leak-report-names-pid
		else
			fail sigkill-leak-report-names-pid "reaper output: $(head -c 400 "$TTA_TMP/reaper.out")"
		fi
	else
		fail sigkill-leftovers-reaped "did not reach --hold: $(cat "$TTA_TMP/holder.err")"
	fi
else
	echo "SKIP exit-leftovers-reaped: $reaper not built"
	echo "SKIP sigkill-leftovers-reaped: $reaper not built"
fi

exit "$tta_failed"
