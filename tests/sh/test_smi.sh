#!/usr/bin/env bash
# tt-smi end to end: real instrumented processes (tests/helper_smi_writer) on a
# private live segment, read by the real tt-smi binary. Checks what a user
# relies on: the figures shown equal what was allocated, filters, the leak
# check's exit status, clean errors on missing or broken segments, and that
# watch mode gives the terminal back.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
WRITER=$TTA_BUILD/tests/helper_smi_writer
SEG_FILE=/dev/shm$TT_ALLOC_SHM
ME=$(id -un)
MY_UID=$(id -u)
GiB=$((1 << 30))

# Extra segments some cases create; removed with the main one.
extra_segments=()
trap 'for s in "${extra_segments[@]}"; do rm -f "/dev/shm$s"; done; tta_cleanup' EXIT

# ---- writers --------------------------------------------------------------
# start_writer NAME COMMAND...: runs the helper with the commands, waits for
# "ready"; later commands go through a fifo (send). Sets pid_NAME, fd_NAME.
start_writer() {
	local name=$1 fd; shift
	mkfifo "$TTA_TMP/$name.in"
	TT_ALLOC_TRACKING_ENABLED=1 "$WRITER" "$@" <"$TTA_TMP/$name.in" \
		>"$TTA_TMP/$name.out" 2>"$TTA_TMP/$name.err" &
	printf -v "pid_$name" %s $!
	export "pid_$name" # for the Python checks
	exec {fd}>"$TTA_TMP/$name.in"
	printf -v "fd_$name" %s "$fd"
	if ! wait_for 10 grep -qx ready "$TTA_TMP/$name.out"; then
		echo "writer $name did not start: $(cat "$TTA_TMP/$name.out" "$TTA_TMP/$name.err")"
		return 1
	fi
}
sync_no=0
# send NAME COMMAND...: runs commands in writer NAME and waits until done.
send() {
	local name=$1; shift
	local fdvar=fd_$name c
	for c in "$@"; do echo "$c" >&"${!fdvar}"; done
	sync_no=$((sync_no + 1))
	echo "echo sync$sync_no" >&"${!fdvar}"
	wait_for 10 grep -qx "sync$sync_no" "$TTA_TMP/$name.out"
}
kill_writer() {
	local pidvar=pid_$1 fdvar=fd_$1
	local fd=${!fdvar}
	kill -9 "${!pidvar}" 2>/dev/null
	wait "${!pidvar}" 2>/dev/null
	exec {fd}>&-
}

# ---- helpers --------------------------------------------------------------
# run_smi ARGS...: runs tt-smi; sets rc, out, err (file contents).
run_smi() {
	"$SMI" "$@" >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
	rc=$?
	out=$(cat "$TTA_TMP/smi.out")
	err=$(cat "$TTA_TMP/smi.err")
}
# pycheck NAME PYTHON: runs PYTHON with d = parsed $TTA_TMP/smi.out and the
# test's variables in the environment; PASS if it exits 0.
pycheck() {
	local name=$1 code=$2 why
	if why=$(python3 - "$TTA_TMP/smi.out" 2>&1 <<EOF
import json, os, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
env = os.environ
$code
EOF
	); then pass "$name"; else fail "$name" "$why"; fi
}
expect_rc() { # NAME WANT
	if [ "$rc" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $rc, wanted $2; stderr: $err"; fi
}
has_line() { # NAME REGEX: some line of $out matches
	if grep -Eq -- "$2" <<<"$out"; then pass "$1"; else fail "$1" "no line matching /$2/ in:
$out"; fi
}
no_line() {
	if grep -Eq -- "$2" <<<"$out"; then fail "$1" "unexpected line /$2/ in:
$out"; else pass "$1"; fi
}
one_line_error() { # NAME: exit 2, nothing on stdout, exactly one line on stderr
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ -n "$err" ] && [ "$(wc -l <<<"$err")" -eq 1 ]; then
		pass "$1"
	else
		fail "$1" "rc=$rc stdout='$out' stderr='$err'"
	fi
}

# ---- usage ----------------------------------------------------------------
run_smi --help
[ "$rc" -eq 0 ] && grep -q -- '--check-empty' <<<"$out" && pass help || fail help "rc=$rc"
run_smi --version
[ "$rc" -eq 0 ] && grep -q '^tt-smi [0-9]' <<<"$out" && pass version || fail version "$out"
check_version "version:" "$SMI"
for bad in "--bogus" "-r abc" "-r 5" "--count 2" "--pid x" "--device -1" "extra" "--check-empty -w" "-s"; do
	# shellcheck disable=SC2086
	run_smi $bad
	if [ "$rc" -eq 2 ] && grep -q "Try 'tt-smi --help'" <<<"$err" && [ -z "$out" ]; then
		pass "usage error '$bad'"
	else
		fail "usage error '$bad'" "rc=$rc err=$err"
	fi
done

# The option refused is named as written, also inside a bundle of short ones.
check_option_error "bad option: bundled -zz" "unknown option '-z'" "$SMI" -zz
check_option_error "bad option: -wz" "unknown option '-z'" "$SMI" -wz
check_option_error "bad option: --bogus" "unknown option '--bogus'" "$SMI" --bogus
check_option_error "bad option: -ws needs an argument" "option '-s' needs an argument" "$SMI" -ws
check_option_error "bad option: --segment needs an argument" "option '--segment' needs an argument" "$SMI" --segment

# ---- no segment / broken segments -----------------------------------------
run_smi
one_line_error "missing segment: exit 2, one line"
grep -q -- "$TT_ALLOC_SHM" <<<"$err" && pass "missing segment: names it" ||
	fail "missing segment: names it" "$err"
run_smi -s "${TT_ALLOC_SHM#/}"
one_line_error "missing segment via -s without a slash"
run_smi -s "/bad/name"
one_line_error "invalid segment name"

garbage=${TT_ALLOC_SHM}_garbage
extra_segments+=("$garbage")
head -c 65536 /dev/urandom >"/dev/shm$garbage"
run_smi -s "$garbage"
one_line_error "random bytes: exit 2, one line"
: >"/dev/shm$garbage"
run_smi -s "$garbage"
one_line_error "empty file: exit 2, one line"
{ printf 'TTALLOC1\x02\x00\x00\x00'; head -c 8180 /dev/zero; } >"/dev/shm$garbage"
run_smi -s "$garbage" --json
one_line_error "magic with another ABI: exit 2, one line"
rm -f "/dev/shm$garbage"

# ---- an empty segment -----------------------------------------------------
start_writer Z "register 0" "detach" || exit 1
kill_writer Z
# Segment names follow one rule in every tool (the library's): a missing
# leading '/' is added, in -s and TT_ALLOC_SHM alike; empty is an error.
run_smi -s "${TT_ALLOC_SHM#/}"
expect_rc "segment name: -s without '/' reads the segment" 0
has_line "segment name: -s without '/' names it with '/'" "\| segment $TT_ALLOC_SHM \|"
TT_ALLOC_SHM=${TT_ALLOC_SHM#/} "$SMI" >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
rc=$?
expect_rc "segment name: TT_ALLOC_SHM without '/' reads the segment" 0
run_smi -s ''
one_line_error "segment name: -s '' is an error"
grep -q "empty segment name" <<<"$err" && pass "segment name: -s '' says empty" ||
	fail "segment name: -s '' says empty" "$err"
TT_ALLOC_SHM= "$SMI" >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
rc=$? out=$(cat "$TTA_TMP/smi.out") err=$(cat "$TTA_TMP/smi.err")
one_line_error "segment name: empty TT_ALLOC_SHM is an error"
grep -q "empty segment name (TT_ALLOC_SHM)" <<<"$err" && pass "segment name: empty TT_ALLOC_SHM says so" ||
	fail "segment name: empty TT_ALLOC_SHM says so" "$err"
run_smi
expect_rc "empty segment: exit 0" 0
has_line "empty segment: registered idle device shown" '^ +0  Wormhole_B0 +0 +0  DRAM +0 +12GiB +0\.0%$'
has_line "empty segment: no processes" 'No running processes found'
has_line "empty segment: header" "^tt-smi .* \| segment $TT_ALLOC_SHM \| ABI 2 \| 0 live processes \| reaper: "
run_smi --check-empty
expect_rc "empty segment: --check-empty exits 0" 0
run_smi --json
pycheck "empty segment: JSON" '
assert d["segment"]["counters"]["live_processes"] == 0
assert d["processes"] == []
assert [x["id"] for x in d["devices"]] == [0] and d["devices"][0]["registered"] is True'

# ---- two writers on two devices -------------------------------------------
start_writer A "name smi_a" "register 0" \
	"alloc 0 0x10000 $GiB dram" "alloc 0 0x20000 4096 l1" "alloc 0 0x30000 8192 l1_small" \
	"cb 0 7 12288" "kernel 0 9 2048" || exit 1
start_writer B "name smi_b" "register 1" \
	"alloc 1 0x40000 5242880 dram" "alloc 0 0x50000 1048576 trace" || exit 1
export ME MY_UID GiB

run_smi
expect_rc "text: exit 0" 0
has_line "text: header counts 2 live processes" '\| 2 live processes \|'
has_line "text: device 0 block" '^ +0  Wormhole_B0 +2 +5  DRAM +1\.0GiB +12GiB +8\.3%$'
has_line "text: device 0 L1 line" '^ +L1 +4\.0KiB +114MiB +0\.0%$'
has_line "text: device 0 CB line" '^ +CB +12KiB +- +-$'
has_line "text: device 1 block" '^ +1  Wormhole_B0 +1 +1  DRAM +5\.0MiB +12GiB +0\.0%$'
has_line "text: process A row" "^ +0  $pid_A +$ME +smi_a +1\.0GiB +4\.0KiB +8\.0KiB +0 +12KiB +2\.0KiB +4\$"
has_line "text: process B on device 0" "^ +0  $pid_B +$ME +smi_b +0 +0 +0 +1\.0MiB +0 +0 +1\$"
has_line "text: process B on device 1" "^ +1  $pid_B +$ME +smi_b +5\.0MiB +0 +0 +0 +0 +0 +1\$"
no_line "text: no shortfall line while nothing fell short" 'shortfall'
# Rows are ordered by device.
order=$(grep -En "^ +[01]  ($pid_A|$pid_B) " <<<"$out" | awk '{print $2}' | tr '\n' ' ')
[ "$order" = "0 0 1 " ] && pass "text: rows ordered by device" || fail "text: rows ordered by device" "$order"

run_smi --json
expect_rc "json: exit 0" 0
python3 -m json.tool "$TTA_TMP/smi.out" >/dev/null && pass "json: parses with json.tool" ||
	fail "json: parses with json.tool" "$out"
pycheck "json: device figures equal what was allocated" '
G = int(env["GiB"])
dev = {x["id"]: x for x in d["devices"]}
assert sorted(dev) == [0, 1], sorted(dev)
want0 = {"dram": G, "l1": 4096, "l1_small": 8192, "trace": 1048576, "system": 0, "cb": 12288, "kernel": 2048}
assert dev[0]["used"] == want0, dev[0]["used"]
assert dev[0]["buffers"] == 5 and dev[0]["processes"] == 2, dev[0]
want1 = dict.fromkeys(want0, 0); want1["dram"] = 5242880
assert dev[1]["used"] == want1, dev[1]["used"]
assert dev[1]["buffers"] == 1 and dev[1]["processes"] == 1
for x in dev.values():
    assert x["registered"] is True and x["arch"] == "Wormhole_B0"
    assert x["total"]["dram"] == 12 * G, x["total"]
    assert set(x["total"]) == set(want0)'
pycheck "json: process rows equal what each process allocated" '
G = int(env["GiB"]); a = int(env["pid_A"]); b = int(env["pid_B"])
rows = {(p["pid"], p["device"]): p for p in d["processes"]}
assert sorted(rows) == sorted([(a, 0), (b, 0), (b, 1)]), sorted(rows)
ra = rows[(a, 0)]
assert ra["used"] == {"dram": G, "l1": 4096, "l1_small": 8192, "trace": 0, "system": 0, "cb": 12288, "kernel": 2048}, ra
assert ra["buffers"] == 4 and ra["name"] == "smi_a" and ra["running"] is True
assert ra["user"] == env["ME"] and ra["uid"] == int(env["MY_UID"])
assert rows[(b, 0)]["used"]["trace"] == 1048576 and rows[(b, 0)]["buffers"] == 1
assert rows[(b, 1)]["used"]["dram"] == 5242880 and rows[(b, 1)]["name"] == "smi_b"'
pycheck "json: device totals = sum over processes" '
for dv in d["devices"]:
    for k, v in dv["used"].items():
        assert v == sum(p["used"][k] for p in d["processes"] if p["device"] == dv["id"]), (dv["id"], k)
    assert dv["buffers"] == sum(p["buffers"] for p in d["processes"] if p["device"] == dv["id"])'
# Counters are declared once (shm/tta_counters.h): every one reaches the JSON
# under its own name, in table order, although tt-smi names almost none.
pycheck "json: every counter of the table, named only in the table" '
import glob, re
table = re.findall(r"^\s+X\((\w+),", open(env["TTA_SRC"] + "/shm/tta_counters.h").read(), re.M)
assert len(table) >= 16, table
assert list(d["segment"]["counters"]) == table, (list(d["segment"]["counters"]), table)
smi = "".join(open(f).read() for f in glob.glob(env["TTA_SRC"] + "/smi/*.[ch]"))
unnamed = [n for n in table if n not in smi]
assert len(unnamed) >= len(table) - 8, ("tt-smi names counters itself", set(table) - set(unnamed))'
pycheck "json: segment section" '
s = d["segment"]
assert s["name"] == env["TT_ALLOC_SHM"] and s["abi_version"] == 2
assert s["counters"]["live_processes"] == 2
assert s["capacities"]["devices"] == 64
shortfall = ("attach_refused", "records_unavailable", "unknown_frees", "double_frees", "foreign_frees", "bad_device", "bad_argument", "address_collisions")
assert all(s["counters"][k] == 0 for k in shortfall), s["counters"]
assert "processes_reaped" in s["counters"] and "pid" in s["reaper"] and s["reaper"]["status"] in ("none", "running")'

# ---- buffers and filters ---------------------------------------------------
run_smi --buffers
expect_rc "buffers: exit 0" 0
for addr in 0x10000 0x20000 0x30000 0x40000 0x50000 0x7 0x9; do
	grep -Eq " $addr +[0-9.]+[KMG]?i?B " <<<"$out" || { fail "buffers: lists $addr" "$out"; continue; }
	pass "buffers: lists $addr"
done
has_line "buffers: exact row" "^$pid_A +0  DRAM +0x10000 +1\.0GiB +[0-9.]+(ms|s)\$"
has_line "buffers: kernel kind shown" "^$pid_A +0  KERNEL/application +0x9 +2\.0KiB "
has_line "buffers: count" '^6 buffers, 1 kernel binary$'
run_smi --buffers --pid "$pid_A"
has_line "buffers --pid: own buffers" '^4 buffers, 1 kernel binary$'
no_line "buffers --pid: not the others" '0x40000|0x50000'
run_smi --buffers --device 1
has_line "buffers --device: its buffer" " 0x40000 "
has_line "buffers --device: only it" '^1 buffer$'
run_smi --buffers --pid "$pid_B" --device 0
has_line "buffers --pid --device: both filters" " 0x50000 "
no_line "buffers --pid --device: nothing else" '0x40000|0x10000'
run_smi --buffers --json
pycheck "buffers --json: exact records" '
G = int(env["GiB"]); a = int(env["pid_A"]); b = int(env["pid_B"])
got = sorted((x["pid"], x["device"], x["type"], x["address"], x["size"]) for x in d["buffers"])
want = sorted([(a, 0, "dram", 0x10000, G), (a, 0, "l1", 0x20000, 4096), (a, 0, "l1_small", 0x30000, 8192),
               (a, 0, "cb", 7, 12288), (a, 0, "kernel", 9, 2048),
               (b, 1, "dram", 0x40000, 5242880), (b, 0, "trace", 0x50000, 1048576)])
assert got == want, got
assert all(x["address_hex"] == hex(x["address"]) for x in d["buffers"])
assert all(x["age_ns"] >= 0 for x in d["buffers"])'
run_smi --json --pid "$pid_B"
pycheck "json --pid: only that process" '
assert sorted(p["device"] for p in d["processes"]) == [0, 1]
assert all(p["pid"] == int(env["pid_B"]) for p in d["processes"])'
run_smi --device 1
has_line "text --device: that device" '^ +1  Wormhole_B0 '
no_line "text --device: no other device" '^ +0  Wormhole_B0 '
no_line "text --device: no rows of other devices" "^ +0  $pid_A "
run_smi --device 64
one_line_error "--device beyond the segment's devices"

# ---- leak check ------------------------------------------------------------
run_smi --check-empty
expect_rc "check-empty: exit 1 with allocations" 1
has_line "check-empty: lists process A" "^device 0  pid $pid_A \(smi_a\)  4 buffers  dram 1\.0GiB \($GiB B\)"
has_line "check-empty: lists process B on device 1" "^device 1  pid $pid_B \(smi_b\)  1 buffer  dram 5\.0MiB"
run_smi --check-empty --buffers --pid "$pid_B"
expect_rc "check-empty --buffers: exit 1" 1
has_line "check-empty --buffers: lists the buffers" "^$pid_B +1  DRAM +0x40000 +5\.0MiB "
no_line "check-empty --buffers: honours --pid" "0x10000"
run_smi --check-empty --json
expect_rc "check-empty --json: exit 1" 1
pycheck "check-empty --json: parses" 'assert len(d["processes"]) == 3'

# ---- hostile process name --------------------------------------------------
start_writer C 'name q"b\\c\x01\x1b[2J\xff' "alloc 2 0x77 4096 dram" || exit 1
run_smi --json
pycheck "hostile name: JSON escapes it" '
names = [p["name"] for p in d["processes"] if p["pid"] == int(env["pid_C"])]
assert names == ["q\"b\\c\x01\x1b[2J\xff"], names' 
python3 -m json.tool "$TTA_TMP/smi.out" >/dev/null && pass "hostile name: json.tool" || fail "hostile name: json.tool" ""
run_smi
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$TTA_TMP/smi.out"; then
	fail "hostile name: no control bytes reach the terminal" "$(cat -A "$TTA_TMP/smi.out")"
else
	pass "hostile name: no control bytes reach the terminal"
fi
has_line "hostile name: shown cleaned" "^ +2  $pid_C +$ME +q\"b\\\\c\?\?\[2J\? "
send C detach

# ---- shortfall is visible ---------------------------------------------------
send B "free 0 0xdead"
run_smi
has_line "shortfall: unknown free shown" '^WARNING shortfall: unknown_frees=1$'
run_smi --json
pycheck "shortfall: in JSON" 'assert d["segment"]["counters"]["unknown_frees"] == 1'

# ---- freeing and detaching empties it ---------------------------------------
send B "free 1 0x40000" "free 0 0x50000"
run_smi --check-empty --pid "$pid_B"
expect_rc "check-empty --pid: 0 once that process freed all" 0
run_smi --check-empty
expect_rc "check-empty: still 1 while A holds memory" 1
no_line "check-empty: B no longer listed" "pid $pid_B "
send A detach
grep -qx "detached 4" "$TTA_TMP/A.out" && pass "writer A detached its 4 buffers (its kernel is not one)" ||
	fail "writer A detached its 4 buffers (its kernel is not one)" "$(cat "$TTA_TMP/A.out")"
run_smi --check-empty
expect_rc "check-empty: 0 after everything was freed or detached" 0
has_line "check-empty: says so" "^Nothing allocated on segment $TT_ALLOC_SHM\$"
run_smi --json
pycheck "json: all zero after freeing" '
assert all(v == 0 for dv in d["devices"] for v in dv["used"].values())
assert all(dv["buffers"] == 0 for dv in d["devices"])'

# ---- a killed process: shown as exited, then reaped ------------------------
run_smi --json
reaper_before=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["segment"]["counters"]; print(r["leaky_processes"], r["leaked_buffers"], r["leaked_bytes"])' "$TTA_TMP/smi.out")
export reaper_before
start_writer D "name smi_d" "alloc 0 0x60000 65536 dram" "alloc 0 0x61000 4096 l1" || exit 1
kill_writer D
run_smi
has_line "killed process: still counted, marked exited" "^ +0  $pid_D\* +$ME +smi_d +64KiB +4\.0KiB "
has_line "killed process: footnote" '^\* exited'
run_smi --json
pycheck "killed process: running=false in JSON" '
r = [p for p in d["processes"] if p["pid"] == int(env["pid_D"])]
assert len(r) == 1 and r[0]["running"] is False, r'
run_smi --check-empty
expect_rc "killed process: check-empty 1 until reaped" 1
has_line "killed process: listed" "pid $pid_D \(smi_d\)  2 buffers"
if [ -x "$TTA_BUILD/tt-alloc-reaper" ]; then
	"$TTA_BUILD/tt-alloc-reaper" --once >"$TTA_TMP/reaper.out" 2>&1
else
	# Writers reap dead slots when they attach.
	start_writer E "alloc 0 0x1 64 dram" "free 0 0x1" "detach" || exit 1
fi
reaped() { "$SMI" --check-empty >/dev/null 2>&1; }
if wait_for 10 reaped; then pass "killed process: check-empty 0 once reaped"; else
	fail "killed process: check-empty 0 once reaped" "$("$SMI" --check-empty 2>&1)"; fi
run_smi --json
pycheck "killed process: its leak added to the reaper stats" '
r = d["segment"]["counters"]
leaky, bufs, nbytes = map(int, env["reaper_before"].split())
assert r["processes_reaped"] >= 1, r
assert (r["leaky_processes"] - leaky, r["leaked_buffers"] - bufs, r["leaked_bytes"] - nbytes) == (1, 2, 65536 + 4096), (r, env["reaper_before"])'
run_smi
has_line "killed process: reaped line" '^reaped: [0-9]+ process(es)?, [0-9]+ with leaks \([0-9]+ buffers, [0-9.]+[KMG]iB\); [0-9]+ detached$'

# ---- watch mode without a terminal -----------------------------------------
run_smi -w -r 50 --count 2
expect_rc "watch --count 2: exit 0" 0
n=$(grep -c '^tt-smi ' <<<"$out")
[ "$n" -eq 2 ] && pass "watch --count 2: two snapshots" || fail "watch --count 2: two snapshots" "$n"
second=$(grep -n '^tt-smi ' <<<"$out" | sed -n 2p | cut -d: -f1)
[ "$(sed -n "$((second - 1))p" <<<"$out")" = "" ] && pass "watch: snapshots separated by a blank line" ||
	fail "watch: snapshots separated by a blank line" "$out"
run_smi --watch --interval 20 --count 3 --json
python3 - "$TTA_TMP/smi.out" <<'EOF' && pass "watch --json: three parsable objects" || fail "watch --json: three parsable objects" "$out"
import json, sys
text = open(sys.argv[1]).read(); dec = json.JSONDecoder(); pos = 0; n = 0
while text[pos:].strip():
    while text[pos].isspace(): pos += 1
    obj, pos = dec.raw_decode(text, pos); n += 1
    assert "devices" in obj
sys.exit(0 if n == 3 else 1)
EOF
for sig in TERM INT; do
	"$SMI" -w -r 30 >"$TTA_TMP/w$sig.out" 2>&1 &
	wpid=$!
	wait_for 10 grep -q '^tt-smi ' "$TTA_TMP/w$sig.out"
	kill -s "$sig" "$wpid"
	wait "$wpid"
	wrc=$?
	want=$((128 + $(kill -l "$sig")))
	[ "$wrc" -eq "$want" ] && pass "watch: SIG$sig stops it" || fail "watch: SIG$sig stops it" "rc=$wrc"
done

"$SMI" >/dev/full 2>"$TTA_TMP/full.err"
frc=$?
[ "$frc" -eq 2 ] && grep -q 'cannot write' "$TTA_TMP/full.err" && pass "write error: exit 2" ||
	fail "write error: exit 2" "rc=$frc $(cat "$TTA_TMP/full.err")"

# A watch follows the segment when it is deleted and created again.
renew=${TT_ALLOC_SHM}_renew
extra_segments+=("$renew")
TT_ALLOC_SHM=$renew start_writer R1 "name smi_r1" "alloc 0 0x1000 4096 dram" || exit 1
"$SMI" -s "$renew" -w -r 20 >"$TTA_TMP/r.out" 2>"$TTA_TMP/r.err" &
rpid=$!
wait_for 10 grep -q "smi_r1" "$TTA_TMP/r.out"
kill_writer R1
rm -f "/dev/shm$renew"
TT_ALLOC_SHM=$renew start_writer R2 "name smi_r2" "alloc 0 0x2000 4096 dram" || exit 1
if wait_for 10 grep -q "smi_r2" "$TTA_TMP/r.out"; then pass "watch: follows a re-created segment"; else
	fail "watch: follows a re-created segment" "$(tail -5 "$TTA_TMP/r.out") $(cat "$TTA_TMP/r.err")"; fi
kill "$rpid"; wait "$rpid" 2>/dev/null
kill_writer R2

# ---- watch mode on a terminal ----------------------------------------------
# script(1) gives tt-smi a pty; the shell around it records the terminal
# settings before and after, so a mode left behind shows up as a difference.
# Output of the terminal with escape sequences and carriage returns removed.
tty_text() { sed -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' -e 's/\r//g' "$TTA_TMP/tty.out" 2>/dev/null; }
tty_has() { tty_text | grep -aqE -- "$1"; }
tty_watch() { # NAME KEYS WANT_RC
	local name=$1 keys=$2 want=$3 spid fd
	# A fresh output file: the redirection below happens asynchronously,
	# and the last case's frames must not be taken for this one's.
	rm -f "$TTA_TMP/tty.in" "$TTA_TMP/tty.out"; mkfifo "$TTA_TMP/tty.in"
	SHELL=/bin/bash script -qec "trap '' INT; stty -g; '$SMI' -w -r 50; echo \"rc=\$?\"; stty -g" \
		/dev/null <"$TTA_TMP/tty.in" >"$TTA_TMP/tty.out" 2>&1 &
	spid=$!
	exec {fd}>"$TTA_TMP/tty.in"
	if ! wait_for 10 tty_has 'every 50 ms, q to quit'; then
		fail "$name" "no frame drawn: $(cat -A "$TTA_TMP/tty.out" | head -5)"
		exec {fd}>&-; kill "$spid" 2>/dev/null; return
	fi
	printf '%b' "$keys" >&"$fd"
	# The last frame's footer has no newline: rc= may follow it on its line.
	if ! wait_for 10 tty_has 'rc=[0-9]+'; then
		fail "$name" "tt-smi did not quit: $(tty_text | tail -3)"
		exec {fd}>&-; kill "$spid" 2>/dev/null; return
	fi
	exec {fd}>&-
	wait "$spid"
	local got modes
	got=$(tty_text | grep -aoE 'rc=[0-9]+')
	modes=$(tty_text | grep -aE '^[0-9a-f]+(:[0-9a-f]+){8,}$' | sort | uniq -c)
	if [ "$got" != "rc=$want" ]; then
		fail "$name" "$got, wanted rc=$want"
	elif ! grep -aq $'\x1b\[?1049h' "$TTA_TMP/tty.out" ||
		! grep -aq $'\x1b\[?25h\x1b\[?1049l' "$TTA_TMP/tty.out"; then
		fail "$name" "alternate screen not entered and left: $(cat -A "$TTA_TMP/tty.out" | tail -3)"
	elif [ "$(wc -l <<<"$modes")" -ne 1 ] || ! grep -q '^ *2 ' <<<"$modes"; then
		fail "$name" "terminal settings before/after differ: $modes"
	else
		pass "$name"
	fi
}
if command -v script >/dev/null; then
	tty_watch "tty watch: q quits and restores the terminal" q 0
	tty_watch "tty watch: Ctrl-C quits and restores the terminal" '\003' 130
else
	echo "(script(1) not installed: terminal watch cases skipped)"
fi

# ---- alloc over a live address: both listed, frees release newest first ----
coll=${TT_ALLOC_SHM}_coll
extra_segments+=("$coll")
TT_ALLOC_SHM=$coll start_writer CO "alloc 0 0x10 100 dram" "alloc 0 0x10 200 dram" || exit 1
run_smi -s "$coll" --buffers
has_line "collision: both buffers listed" '^2 buffers$'
has_line "collision: older one listed" "^$pid_CO +0  DRAM +0x10 +100B "
has_line "collision: newer one listed" "^$pid_CO +0  DRAM +0x10 +200B "
send CO "free 0 0x10"
run_smi -s "$coll" --buffers
has_line "collision: first free leaves the older" "^$pid_CO +0  DRAM +0x10 +100B "
no_line "collision: first free released the newer" ' 200B '
send CO "free 0 0x10"
run_smi -s "$coll" --buffers --json
pycheck "collision: second free leaves nothing" '
assert d["buffers"] == [], d["buffers"]'
run_smi -s "$coll" --json
pycheck "collision: counted, no unknown free" '
s = d["segment"]["counters"]
assert s["address_collisions"] == 1 and s["unknown_frees"] == 0, s'
kill_writer CO

# ---- full segment: refused attach is visible -------------------------------
full=${TT_ALLOC_SHM}_full
extra_segments+=("$full")
TT_ALLOC_SHM=$full TT_ALLOC_MAX_PROCESSES=1 start_writer F1 "alloc 0 0x1 4096 dram" || exit 1
TT_ALLOC_SHM=$full start_writer F2 "alloc 0 0x2 4096 dram" || exit 1
run_smi -s "$full"
has_line "full: attach_refused shown" 'WARNING shortfall: attach_refused=1'
has_line "full: one live process" '\| 1 live process \|'
has_line "full: slots marked full" '1 process slot \(1 in use, FULL\)'
run_smi -s "$full" --json
pycheck "full: attach_refused in JSON" '
s = d["segment"]
assert s["counters"]["attach_refused"] == 1 and s["capacities"]["processes"] == 1, s'
grep -q . "$TTA_TMP/F2.err" && pass "full: refused writer said so on stderr" ||
	fail "full: refused writer said so on stderr" ""
kill_writer F1; kill_writer F2

# ---- counts of one are singular --------------------------------------------
one=${TT_ALLOC_SHM}_one
extra_segments+=("$one")
TT_ALLOC_SHM=$one TT_ALLOC_MAX_DEVICES=1 TT_ALLOC_MAX_PROCESSES=1 start_writer ONE "alloc 0 0x1 1 dram" || exit 1
kill_writer ONE
TT_ALLOC_SHM=$one "$TTA_BUILD/tt-alloc-reaper" --once >"$TTA_TMP/one.reaper" 2>&1
run_smi -s "$one"
echo "$out" >"$TTA_TMP/one.smi"
has_line "singular: capacity" '^capacity: 1 device, 1 process slot \(0 in use\), '
has_line "singular: reaped" '^reaped: 1 process, 1 with leaks \(1 buffer, '
check_singular "singular: tt-smi" "$TTA_TMP/one.smi"
check_singular "singular: reaper" "$TTA_TMP/one.reaper"
grep -q "left 1 buffer, 1 byte\$" "$TTA_TMP/one.reaper" && grep -q ": 1 device, 1 process slot, " "$TTA_TMP/one.reaper" &&
	pass "singular: reaper lines" || fail "singular: reaper lines" "$(cat "$TTA_TMP/one.reaper")"

# ---- segment truncated under a watching tt-smi -----------------------------
trunc=${TT_ALLOC_SHM}_trunc
extra_segments+=("$trunc")
TT_ALLOC_SHM=$trunc start_writer T "register 0" "alloc 0 0x1000 4096 dram" || exit 1
kill_writer T
"$SMI" -s "$trunc" -w -r 20 >"$TTA_TMP/t.out" 2>"$TTA_TMP/t.err" &
tpid=$!
wait_for 10 grep -q '^tt-smi ' "$TTA_TMP/t.out"
truncate -s 0 "/dev/shm$trunc"
wait "$tpid"
trc=$?
if [ "$trc" -eq 2 ] && [ "$(wc -l <"$TTA_TMP/t.err")" -eq 1 ] && grep -q "$trunc" "$TTA_TMP/t.err"; then
	pass "truncated under watch: clean error, exit 2"
else
	fail "truncated under watch: clean error, exit 2" "rc=$trc stderr=$(cat "$TTA_TMP/t.err")"
fi
run_smi -s "$trunc"
one_line_error "truncated segment: refused at open"

exit $tta_failed
