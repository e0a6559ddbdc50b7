#!/usr/bin/env bash
# Call sites and tags end to end: a real program whose call chain is known
# (tests/helper_sites: load_weights() under tag "weights", grow_kv_cache()
# under tag "kv_cache"), run with TT_ALLOC_STACK_TRACE=1, read by the real
# tt-smi (--buffers, --by-site, --by-tag, --json) and, after a SIGKILL, by
# the real tt-alloc-reaper's leak report. Also: hostile tag text stays
# harmless in every output, and without TT_ALLOC_STACK_TRACE nothing is
# recorded.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
REAPER=$TTA_BUILD/tt-alloc-reaper
SITES=$TTA_BUILD/tests/helper_sites
WRITER=$TTA_BUILD/tests/helper_smi_writer
export TT_ALLOC_TRACKING_ENABLED=0 # only the programs we start report

. "$here/smi_lib.sh" # run_smi, has_line, pycheck
count_lines() { grep -Ec -- "$1" <<<"$out"; }

"$REAPER" 2>"$TTA_TMP/reaper.log" &
reaper=$!
wait_for 10 grep -q '^serving' "$TTA_TMP/reaper.log" || fail reaper_starts "$(cat "$TTA_TMP/reaper.log")"

TT_ALLOC_TRACKING_ENABLED=1 TT_ALLOC_STACK_TRACE=1 "$SITES" >"$TTA_TMP/sites.out" 2>&1 &
sites=$!
export sites
wait_for 10 grep -q "^ready $sites" "$TTA_TMP/sites.out" || fail sites_start "$(cat "$TTA_TMP/sites.out")"

# ---- tt-smi --buffers: Tag and Site columns ---------------------------------
run_smi --buffers --pid "$sites"
has_line "buffers: tag and site columns" '^PID +Device +Type +Address +Size +Age +Tag +Site$'
if [ "$(count_lines "^$sites +0  DRAM +0x1[0-9a-f]+ +1\.0MiB +[0-9.]+(ms|s)  weights +load_weights\+0x[0-9a-f]+ in helper_sites at helper_sites\.c:[0-9]+$")" = 3 ] &&
	[ "$(count_lines "^$sites +0  DRAM +0x4[0-9a-f]+ +4\.0MiB +[0-9.]+(ms|s)  kv_cache +grow_kv_cache\+0x[0-9a-f]+ in helper_sites at helper_sites\.c:[0-9]+$")" = 2 ]; then
	pass "buffers: each row names its tag and its function"
else
	fail "buffers: each row names its tag and its function" "$out"
fi

# ---- --by-site: two sites, largest first, with totals -----------------------
run_smi --buffers --by-site
has_line "by-site: heading" '^Buffers by call site, largest first:$'
sites_rows=$(grep -E '^ +[0-9.]+[KMG]iB +[0-9.]+[KMG]iB +[0-9]+  [a-z_]+\+0x' <<<"$out")
if [ "$(wc -l <<<"$sites_rows")" = 2 ] &&
	grep -Eq '^ +8\.0MiB +8\.0MiB +2  grow_kv_cache\+0x[0-9a-f]+ in helper_sites at helper_sites\.c:[0-9]+$' <<<"$(sed -n 1p <<<"$sites_rows")" &&
	grep -Eq '^ +3\.0MiB +3\.0MiB +3  load_weights\+0x[0-9a-f]+ in helper_sites at helper_sites\.c:[0-9]+$' <<<"$(sed -n 2p <<<"$sites_rows")"; then
	pass "by-site: two distinct sites naming both functions, largest first"
else
	fail "by-site: two distinct sites naming both functions, largest first" "$out"
fi
has_line "by-site: the caller frame follows" '^ +< main\+0x[0-9a-f]+ in helper_sites at helper_sites\.c:[0-9]+$'
has_line "by-site: total row" '^ +11MiB +11MiB +5  total$'

# ---- --by-tag, and both ------------------------------------------------------
run_smi --by-tag
if grep -Eq '^ +8\.0MiB +8\.0MiB +2  kv_cache$' <<<"$out" && grep -Eq '^ +3\.0MiB +3\.0MiB +3  weights$' <<<"$out" &&
	[ "$(grep -n 'kv_cache$' <<<"$out" | cut -d: -f1)" -lt "$(grep -n 'weights$' <<<"$out" | cut -d: -f1)" ]; then
	pass "by-tag: per tag, largest first"
else
	fail "by-tag: per tag, largest first" "$out"
fi
run_smi --by-tag --by-site
has_line "by-tag and site: both columns" '^ +3\.0MiB +3\.0MiB +3  weights +load_weights\+0x'

# ---- --json: each buffer's tag and site; tag rows ----------------------------
run_smi --json --by-tag --pid "$sites"
pycheck "json: buffers carry tag and site, tag rows add up" '
pid = int(env["sites"])
bufs = [b for b in d["buffers"] if b["pid"] == pid]
assert len(bufs) == 5, bufs
for b in bufs:
    assert set(("tag", "site")) <= set(b), b
    fn = {"weights": "load_weights+", "kv_cache": "grow_kv_cache+"}[b["tag"]]
    assert isinstance(b["site"], list) and 2 <= len(b["site"]) <= 7, b["site"]
    assert b["site"][0].startswith(fn) and " in helper_sites at helper_sites.c:" in b["site"][0], b
    assert b["site"][-1].startswith("main+"), b["site"]
rows = {(r["device"], r["tag"]): r for r in d["tags"]}
assert rows[(0, "kv_cache")]["used"]["dram"] == 8 << 20 and rows[(0, "kv_cache")]["buffers"] == 2
assert rows[(0, "weights")]["used"]["dram"] == 3 << 20 and rows[(0, "weights")]["buffers"] == 3
assert [r["tag"] for r in d["tags"]] == ["kv_cache", "weights"], d["tags"]
'
run_smi --json
pycheck "json: no tag rows unless asked" 'assert "tags" not in d and "buffers" not in d'

# ---- the leak report after a SIGKILL -----------------------------------------
kill -9 "$sites"
wait "$sites" 2>/dev/null
if wait_for 10 grep -q "^leak report: pid $sites " "$TTA_TMP/reaper.log"; then
	report=$(grep "pid $sites" "$TTA_TMP/reaper.log")
	kv=$(grep -n "^leak pid $sites:   2 buffers, 8\.0MiB (8388608 bytes) of dram, tag kv_cache, from grow_kv_cache+0x[0-9a-f]* in helper_sites at helper_sites\.c:[0-9]* < main+0x[0-9a-f]* in helper_sites at helper_sites\.c:[0-9]*$" <<<"$report" | cut -d: -f1)
	w=$(grep -n "^leak pid $sites:   3 buffers, 3\.0MiB (3145728 bytes) of dram, tag weights, from load_weights+0x[0-9a-f]* in helper_sites at helper_sites\.c:[0-9]* < main+0x" <<<"$report" | cut -d: -f1)
	if grep -q "^leak pid $sites: by call site and tag, largest first:$" <<<"$report" &&
		[ -n "$kv" ] && [ -n "$w" ] && [ "$kv" -lt "$w" ]; then
		pass "leak report after SIGKILL: grouped by site and tag, largest first"
	else
		fail "leak report after SIGKILL: grouped by site and tag, largest first" "$report"
	fi
	if [ "$(grep -c "^leak pid $sites: buffer on device 0: dram at 0x[0-9a-f]*, .*, tag \(weights\|kv_cache\)$" <<<"$report")" = 5 ]; then
		pass "leak report: each buffer names its tag"
	else
		fail "leak report: each buffer names its tag" "$report"
	fi
else
	fail "leak report after SIGKILL" "$(cat "$TTA_TMP/reaper.log")"
fi

# ---- untrusted tag text --------------------------------------------------------
# A tag holding an escape sequence and invalid UTF-8 reaches nobody's terminal.
mkfifo "$TTA_TMP/w.in"
TT_ALLOC_TRACKING_ENABLED=1 "$WRITER" 'tag \x1b[31mred\x07\xff' 'alloc 0 0x10 100 dram' \
	<"$TTA_TMP/w.in" >"$TTA_TMP/w.out" 2>&1 &
writer=$!
exec {wfd}>"$TTA_TMP/w.in"
wait_for 10 grep -qx ready "$TTA_TMP/w.out"
run_smi --buffers --pid "$writer"
if grep -q $'\x1b' "$TTA_TMP/smi.out" || grep -q $'\x07' "$TTA_TMP/smi.out"; then
	fail "hostile tag: no control bytes in the text output" "$(od -c "$TTA_TMP/smi.out" | head)"
else
	has_line "hostile tag: shown sanitised" '  \?\[31mred\?\?$'
fi
run_smi --json --buffers --pid "$writer"
pycheck "hostile tag: escaped in JSON, bytes kept" '
(b,) = d["buffers"]
assert b["tag"] == "\x1b[31mred\x07\xff", repr(b["tag"])
assert b["site"] is None
'
run_smi --by-tag --pid "$writer"
has_line "hostile tag: by-tag sanitised too" '^ +100B +100B +1  \?\[31mred\?\?$'
exec {wfd}>&-
wait "$writer" 2>/dev/null

# ---- usage ------------------------------------------------------------------
run_smi --check-empty --by-site
if [ "$rc" = 2 ] && grep -q -- '--check-empty' "$TTA_TMP/smi.err"; then pass "check-empty refuses by-site"; else fail "check-empty refuses by-site" "rc=$rc"; fi
run_smi --help
has_line "help names --by-site" '^ +--by-site '
has_line "help names --by-tag" '^ +--by-tag '

kill "$reaper"
wait "$reaper" 2>/dev/null
exit $tta_failed
