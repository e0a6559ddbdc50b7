# Sourced by shell tests. Gives each test its own segment and helpers that
# print PASS/FAIL lines the suite counts.
set -u
: "${TTA_BUILD:?run through tests/run-suite.sh}"
export TT_ALLOC_SHM="/tta_sh_$$_${RANDOM}"
TTA_TMP=$(mktemp -d /tmp/tta-sh.XXXXXX)
# What the library reads beside the segment (the driver's sysfs and /proc
# files, TT-Metal's /dev/shm/tt_device_*_memory) must not depend on the
# host: an empty tree, unless a test builds its own (test_sources.sh).
mkdir -p "$TTA_TMP/empty-host"
export TT_ALLOC_SYSFS_ROOT=$TTA_TMP/empty-host
tta_cleanup() {
	rm -f "/dev/shm${TT_ALLOC_SHM}"
	rm -rf "$TTA_TMP"
	# Kill what the test started in the background.
	local j; for j in $(jobs -p); do kill -9 "$j" 2>/dev/null; done
}
trap tta_cleanup EXIT
tta_failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-}"; tta_failed=1; }
# check NAME COMMAND...: PASS if the command succeeds.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi; }
# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for() { local t=$1; shift; local end=$((SECONDS + t)); until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.02; done; }
# check_option_error NAME EXPECTED COMMAND...: the command must exit 2 with
# EXPECTED in its stderr, and never name the program's path as the option.
check_option_error() {
	local n=$1 want=$2; shift 2
	local err rc
	err=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 2 ] && grep -qF -- "$want" <<<"$err" && ! grep -qF -- "'$1'" <<<"$err"; then
		pass "$n"
	else
		fail "$n" "rc=$rc, wanted 2 and \"$want\"; stderr: $err"
	fi
}
# check_version NAME COMMAND...: COMMAND --version and -V both print
# "PROGRAM VERSION" first, VERSION being the Makefile's TTA_VERSION.
check_version() {
	local n=$1; shift
	local want prog flag out
	want=$(sed -n 's/^TTA_VERSION *:= *//p' "$TTA_SRC/Makefile")
	prog=$(basename "$1")
	for flag in --version -V; do
		out=$("$@" "$flag" 2>&1)
		if [ $? -eq 0 ] && grep -q "^$prog $want\( \|\$\)" <<<"$out"; then
			pass "$n $flag"
		else
			fail "$n $flag" "wanted '$prog $want', got '$out'"
		fi
	done
}
# check_singular NAME FILE: no count of one with a plural noun in FILE.
check_singular() {
	local bad
	bad=$(grep -Eo '(^|[^0-9.,])1 (buffers|devices|processes|process slots|buffer records|bytes|operations|allocations|kernel binaries|errors|slots)\b' "$2")
	if [ -z "$bad" ]; then pass "$1"; else fail "$1" "plural after 1: $bad"; fi
}
