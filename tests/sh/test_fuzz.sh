#!/usr/bin/env bash
# The read side fuzzed (tests/fuzz/fuzz_segment.c): arbitrary bytes as the
# segment through the reader API and tt-smi's text and JSON renderers under
# ASan+UBSan, seeded with real segments. A crash, leak, sanitizer report,
# broken output contract or an input taking over 5 s fails.
#   TTA_FUZZ_SECONDS  how long (default 60; 15 in the ASan suite, which runs
#                     the same instrumented harness a second time)
. "$(dirname "$0")/lib.sh"

case "$TTA_BUILD" in
*asan*) default_seconds=15 ;;
*) default_seconds=60 ;;
esac
seconds=${TTA_FUZZ_SECONDS:-$default_seconds}
if [ ! -x "$TTA_BUILD/fuzz/fuzz_segment" ]; then
	fail fuzz_read_side "no libFuzzer harness in $TTA_BUILD/fuzz: it needs clang and its fuzzer runtime (Debian: clang libclang-rt-14-dev; run scripts/install-deps.sh, then make)"
	exit 1
fi
out=$TTA_TMP/fuzz.out
"$TTA_SRC/tests/fuzz/run-fuzz.sh" "$TTA_BUILD" "$seconds" >"$out" 2>&1
rc=$?
sed 's/^/INFO /' "$out" | grep 'INFO fuzz:'
if [ $rc -eq 0 ]; then
	pass "fuzz_read_side_${seconds}s"
else
	sed 's/^/    /' "$out" | head -n 40
	fail "fuzz_read_side_${seconds}s" "finding (exit $rc); see the reproduce line above"
fi
# Every input in tests/fuzz/regressions (crashes found and fixed) replays clean.
if [ -d "$TTA_SRC/tests/fuzz/regressions" ] && ls "$TTA_SRC/tests/fuzz/regressions" | grep -q .; then
	if "$TTA_BUILD/fuzz/fuzz_segment" -runs=1 "$TTA_SRC"/tests/fuzz/regressions/* >"$TTA_TMP/reg.out" 2>&1; then
		pass fuzz_regressions_replay_clean
	else
		tail -n 20 "$TTA_TMP/reg.out" | sed 's/^/    /'
		fail fuzz_regressions_replay_clean
	fi
fi
# The bridge's message decoder and the proxy writer behind it: 10 s from an
# empty corpus (the checks are in tests/fuzz/fuzz_bridge.c).
if [ -x "$TTA_BUILD/fuzz/fuzz_bridge" ]; then
	if "$TTA_BUILD/fuzz/fuzz_bridge" -max_total_time=10 -timeout=5 -max_len=8192 \
		-artifact_prefix="$TTA_TMP/" >"$TTA_TMP/bridge.out" 2>&1; then
		pass fuzz_bridge_decoder_10s
	else
		tail -n 30 "$TTA_TMP/bridge.out" | sed 's/^/    /'
		fail fuzz_bridge_decoder_10s "finding; input in $TTA_TMP (copy it before the test ends)"
	fi
else
	fail fuzz_bridge_decoder_10s "no $TTA_BUILD/fuzz/fuzz_bridge (needs clang with libFuzzer)"
fi
# The parsers of the sources beside the segment (TT-Metal segments, sysfs
# values, pid lists, whole host trees): 15 s from an empty corpus (the checks
# are in tests/fuzz/fuzz_sources.c).
if [ -x "$TTA_BUILD/fuzz/fuzz_sources" ]; then
	mkdir -p "$TTA_TMP/sources-corpus"
	if "$TTA_BUILD/fuzz/fuzz_sources" -max_total_time=15 -timeout=5 -max_len=16384 \
		-artifact_prefix="$TTA_TMP/" "$TTA_TMP/sources-corpus" >"$TTA_TMP/sources.out" 2>&1; then
		pass fuzz_sources_parsers_15s
	else
		tail -n 30 "$TTA_TMP/sources.out" | sed 's/^/    /'
		fail fuzz_sources_parsers_15s "finding; input in $TTA_TMP (copy it before the test ends)"
	fi
	grep -o 'stat::number_of_executed_units: *[0-9]*' "$TTA_TMP/sources.out" | sed 's/^/INFO fuzz_sources: /'
else
	fail fuzz_sources_parsers_15s "no $TTA_BUILD/fuzz/fuzz_sources (needs clang with libFuzzer)"
fi
exit $tta_failed
