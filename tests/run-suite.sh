#!/usr/bin/env bash
# Runs every test of the suite against the build in $1 and prints
# "N passed, N failed". C tests: $BUILD/tests/test_*; shell tests:
# tests/sh/test_*.sh (they get TTA_BUILD). TTA_SUITE_FILTER keeps only the
# test files whose name contains it.
set -u
build=${1:-build}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export TTA_BUILD=$build TTA_SRC=$(dirname "$here")
filter=${TTA_SUITE_FILTER:-}
suite=${TTA_SUITE_NAME:-default}
log=$(mktemp -d /tmp/tta-suite.XXXXXX)
passed=0 failed=0
failures=()

run_one() { # name, command...
	local name=$1; shift
	local out="$log/$(basename "$name").out"
	local start=$SECONDS
	timeout --kill-after=10 "${TTA_TEST_TIMEOUT:-300}" "$@" >"$out" 2>&1
	local rc=$?
	local p f
	p=$(grep -c '^PASS ' "$out"); f=$(grep -c '^FAIL ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $(basename "$name"): exit status $rc" >>"$out"; fi
	passed=$((passed + p)); failed=$((failed + f))
	printf '%-40s %3d passed %3d failed  (%ds)\n' "$(basename "$name")" "$p" "$f" $((SECONDS - start))
	if [ "$f" -ne 0 ]; then
		failures+=("$name")
		sed -e 's/^/    | /' "$out" | tail -n 40
	fi
}

echo "== tt-alloc suite ($suite) on $build"
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d|*.o) continue;; esac
	[ -n "$filter" ] && [[ "$(basename "$t")" != *"$filter"* ]] && continue
	run_one "$t" "$t"
done
for t in "$here"/sh/test_*.sh; do
	[ -f "$t" ] || continue
	[ -n "$filter" ] && [[ "$(basename "$t")" != *"$filter"* ]] && continue
	run_one "$t" bash "$t"
done
rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
