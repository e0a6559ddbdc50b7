#!/usr/bin/env bash
# run-fuzz.sh BUILD_DIR SECONDS - fuzz the read side for SECONDS.
# Seeds are made afresh (tta-fuzz-seeds: real segments from this build); the
# corpus the fuzzer grows is kept in BUILD_DIR/fuzz/corpus between runs, and
# a crash, leak or hang (-timeout) leaves its input in BUILD_DIR/fuzz/artifacts.
# Prints "fuzz: N executions in S s, ..." and exits non-zero on a finding.
set -u
build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-300}
fuzzer=$build/fuzz/fuzz_segment
if [ ! -x "$fuzzer" ]; then
	echo "run-fuzz: $fuzzer is not built: it needs clang with libFuzzer (Debian packages clang" \
	     "and libclang-rt-14-dev; scripts/install-deps.sh installs them)" >&2
	exit 2
fi
dir=$build/fuzz
rm -rf "$dir/seeds"
mkdir -p "$dir/corpus" "$dir/artifacts"
"$dir/tta-fuzz-seeds" "$dir/seeds" 2>"$dir/seeds.log" || { cat "$dir/seeds.log" >&2; exit 2; }
log=$dir/last-run.log
# -timeout: an input taking 5 s is a hang. Leak checking stays on (the reader
# API and the snapshot must free what they allocate).
"$fuzzer" -max_total_time="$seconds" -timeout=5 -max_len=65536 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
	"$dir/corpus" "$dir/seeds" >"$log" 2>&1
rc=$?
rm -f /dev/shm/tta_fuzz_* 2>/dev/null # only a crashed run leaves its segment
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
corpus=$(ls "$dir/corpus" | wc -l)
echo "fuzz: ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?} edges, corpus $corpus inputs, exit $rc"
if [ $rc -ne 0 ]; then
	grep -m 1 -A 30 'ERROR\|==[0-9]*==\|fuzz_segment:\|deadly signal\|timeout' "$log" >&2
	ls -t "$dir/artifacts" | head -n 3 | sed "s|^|fuzz: reproduce with $fuzzer $dir/artifacts/|" >&2
fi
exit $rc
