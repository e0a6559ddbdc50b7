#!/usr/bin/env bash
# Hostile and broken segments, end to end with the real binaries:
#  1. writers that corrupt everything they own while the reaper, an innocent
#     writer, a bystander and tt-smi run (tt-alloc-torture --hostile);
#  2. things another local user can plant under the segment's name in the
#     world-writable /dev/shm (FIFO, symlink, directory, empty or foreign
#     file): every component refuses within seconds with one line, never
#     hangs, never follows the link;
#  3. a segment owned by another user: readable or not as its mode says,
#     never writable by a writer or reaper of another uid.
#   TTA_HOSTILE_SECONDS  length of part 1 (default 10; 8 under ASan)
. "$(dirname "$0")/lib.sh"

torture=$TTA_BUILD/tt-alloc-torture
smi=$TTA_BUILD/tt-smi
reaper=$TTA_BUILD/tt-alloc-reaper
writer=$TTA_BUILD/tests/helper_reaper_writer
case "$TTA_BUILD" in
*asan*) seconds=${TTA_HOSTILE_SECONDS:-8} ;;
*) seconds=${TTA_HOSTILE_SECONDS:-10} ;;
esac

# 1. -------------------------------------------------------------------------
out=$TTA_TMP/hostile.out
"$torture" --hostile "$seconds" >"$out" 2>&1
rc=$?
grep -a '^hostile:' "$out" | sed 's/^/INFO /'
if [ $rc -eq 0 ] && grep -qa '^RESULT: PASS' "$out"; then
	pass writers_corrupting_what_they_own_harm_nobody
else
	grep -a -m 20 'VIOLATION' "$out" | sed 's/^/    /'
	fail writers_corrupting_what_they_own_harm_nobody "exit $rc"
fi

# 2. -------------------------------------------------------------------------
shm_file=/dev/shm/${TT_ALLOC_SHM#/}
# A real segment to point a symlink at (it must not be followed).
TT_ALLOC_TRACKING_ENABLED=1 TT_ALLOC_MAX_BUFFERS=1024 "$writer" exit 1 1 100 >/dev/null
real_copy=$TTA_TMP/real-segment
cp "$shm_file" "$real_copy"
rm -f "$shm_file"
sum_before=$(md5sum <"$real_copy")

# expect_refusal CASE: tt-smi exits 2 with one stderr line, a writer runs on
# untracked (one line), a reaper exits 2; all within 10 s.
expect_refusal() {
	local what=$1 ok=1 rc lines
	timeout 10 "$smi" >/dev/null 2>"$TTA_TMP/e"
	rc=$?
	lines=$(wc -l <"$TTA_TMP/e")
	if [ $rc -ne 2 ] || [ "$lines" -ne 1 ]; then
		ok=0
		echo "    tt-smi on $what: exit $rc, $lines stderr lines: $(head -c 300 "$TTA_TMP/e")"
	fi
	TT_ALLOC_TRACKING_ENABLED=1 timeout 10 "$writer" exit 1 1 100 >/dev/null 2>"$TTA_TMP/e"
	rc=$?
	lines=$(grep -c 'tt-alloc:' "$TTA_TMP/e")
	if [ $rc -ne 3 ] || [ "$lines" -ne 1 ]; then
		ok=0
		echo "    writer on $what: exit $rc (3 = ran untracked), $lines library lines: $(head -c 300 "$TTA_TMP/e")"
	fi
	timeout 10 "$reaper" --once >/dev/null 2>"$TTA_TMP/e"
	rc=$?
	if [ $rc -ne 2 ]; then
		ok=0
		echo "    reaper on $what: exit $rc: $(head -c 300 "$TTA_TMP/e")"
	fi
	if [ $ok -eq 1 ]; then pass "refused_without_hanging_$what"; else fail "refused_without_hanging_$what"; fi
}

mkfifo "$shm_file" && expect_refusal fifo
rm -f "$shm_file"
ln -s "$real_copy" "$shm_file" && expect_refusal symlink
rm -f "$shm_file"
if [ "$(md5sum <"$real_copy")" = "$sum_before" ]; then
	pass symlink_target_untouched
else
	fail symlink_target_untouched "the file behind the symlink changed"
fi
mkdir "$shm_file" && expect_refusal directory
rmdir "$shm_file"
: >"$shm_file" && expect_refusal empty_file
head -c 100000 /dev/urandom >"$shm_file" && expect_refusal random_bytes
rm -f "$shm_file"

# 3. -------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "SKIP other_user_segments: needs root and setpriv to act as another user; nothing run"
	exit $tta_failed
fi
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# (the binaries must be reachable by nobody: copy them to a world-readable place)
bin=$TTA_TMP/bin
mkdir -p "$bin" && cp "$smi" "$reaper" "$writer" "$bin/" && chmod 755 "$TTA_TMP" "$bin" "$bin"/*
name=$(basename "$writer")

# A root-owned segment, mode 0644: another user reads it, cannot write it.
rm -f "$shm_file"
# (the writer creates it: tt-alloc-reaper --once never creates a segment)
TT_ALLOC_SHM_MODE=0644 TT_ALLOC_TRACKING_ENABLED=1 TT_ALLOC_MAX_BUFFERS=1024 "$writer" hold 2 1 100 >"$TTA_TMP/holder" &
holder=$!
wait_for 10 grep -q ready "$TTA_TMP/holder"
owner=$(stat -c %U "$shm_file")
if as_nobody "$bin/tt-smi" --json >"$TTA_TMP/j" 2>"$TTA_TMP/e" && grep -q '"processes"' "$TTA_TMP/j"; then
	pass other_users_0644_segment_is_readable
else
	fail other_users_0644_segment_is_readable "owner $owner: $(cat "$TTA_TMP/e")"
fi
TT_ALLOC_TRACKING_ENABLED=1 as_nobody "$bin/$name" exit 1 1 100 >/dev/null 2>"$TTA_TMP/e"
rc=$?
if [ $rc -eq 3 ] && [ "$(grep -c 'tt-alloc:.*permission denied' "$TTA_TMP/e")" -eq 1 ]; then
	pass other_users_segment_refuses_a_writer_with_one_line
else
	fail other_users_segment_refuses_a_writer_with_one_line "exit $rc: $(cat "$TTA_TMP/e")"
fi
as_nobody "$bin/tt-alloc-reaper" --once >/dev/null 2>"$TTA_TMP/e"
rc=$?
if [ $rc -eq 2 ] && grep -q 'permission denied' "$TTA_TMP/e"; then
	pass other_users_segment_refuses_a_reaper
else
	fail other_users_segment_refuses_a_reaper "exit $rc: $(cat "$TTA_TMP/e")"
fi
# The refused writer and reaper changed nothing.
if "$smi" --json | grep -q '"pid": *'"$holder"; then
	pass refused_components_changed_nothing
else
	fail refused_components_changed_nothing "the owner's writer vanished"
fi
kill -9 $holder 2>/dev/null
wait $holder 2>/dev/null

# Mode 0600: another user cannot even read it, and is told why.
rm -f "$shm_file"
TT_ALLOC_SHM_MODE=0600 TT_ALLOC_TRACKING_ENABLED=1 TT_ALLOC_MAX_BUFFERS=1024 "$writer" free 1 1 100 >/dev/null 2>&1
as_nobody "$bin/tt-smi" >/dev/null 2>"$TTA_TMP/e"
rc=$?
if [ $rc -eq 2 ] && grep -q 'permission denied' "$TTA_TMP/e"; then
	pass other_users_0600_segment_is_refused_with_the_reason
else
	fail other_users_0600_segment_is_refused_with_the_reason "exit $rc: $(cat "$TTA_TMP/e")"
fi
exit $tta_failed
