#!/usr/bin/env bash
# tt-smi the way nvidia-smi is scripted: --query-device / --query-processes
# with --format=csv[,noheader][,nounits], -i, -L, -l / -lms, and --json -l.
# Real instrumented processes (tests/helper_smi_writer) on a private segment;
# every figure checked is one the writers allocated.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
WRITER=$TTA_BUILD/tests/helper_smi_writer
. "$here/smi_lib.sh"

GiB=$((1 << 30))
MiB=$((1 << 20))
ME=$(id -un)

# csv_is NAME WANT ARGS...: tt-smi ARGS prints exactly WANT and exits 0.
csv_is() {
	local name=$1 want=$2; shift 2
	run_smi "$@"
	if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "rc=$rc stderr=$err
got:
$out
want:
$want"
	fi
}

# ---- the workload ------------------------------------------------------------
# Device 0 (Wormhole, 80 cores): A holds 1 GiB DRAM, 4 KiB L1, 8 KiB
# L1_SMALL, a 12 KiB CB and a 2 KiB kernel; B holds 1 MiB TRACE there and
# 5 MiB DRAM on device 1 (Blackhole, 140 cores). Device 2 stays unregistered
# and idle.
start_writer A "name smi_a" "register 0" \
	"alloc 0 0x10000 $GiB dram" "alloc 0 0x20000 4096 l1" "alloc 0 0x30000 8192 l1_small" \
	"cb 0 7 12288" "kernel 0 9 2048" || exit 1
start_writer B "name smi,b" "register 1 blackhole 140" \
	"alloc 1 0x40000 $((5 * MiB)) dram" "alloc 0 0x50000 $MiB trace" || exit 1

# ---- device queries ------------------------------------------------------------
csv_is "device: header with units, values in MiB" \
"index, arch, cores, processes, buffers, dram.used [MiB], dram.total [MiB], trace.used [MiB], l1.used [MiB], l1.total [MiB]
0, Wormhole_B0, 80, 2, 5, 1024 MiB, 12288 MiB, 1 MiB, 0.004 MiB, 114.375 MiB
1, Blackhole, 140, 1, 1, 5 MiB, 32768 MiB, 0 MiB, 0 MiB, 200.156 MiB" \
	--query-device=index,arch,cores,processes,buffers,dram.used,dram.total,trace.used,l1.used,l1.total --format=csv

csv_is "device: nounits gives exact bytes, header says [B]" \
"index, dram.used [B], l1_small.used [B], cb.used [B], kernel.used [B], l1.total [B]
0, $GiB, 8192, 12288, 2048, $((80 * 1464 * 1024))
1, $((5 * MiB)), 0, 0, 0, $((140 * 1464 * 1024))" \
	--query-device=index,dram.used,l1_small.used,cb.used,kernel.used,l1.total --format=csv,nounits

csv_is "device: noheader" \
"0, 1024 MiB
1, 5 MiB" --query-device=index,dram.used --format=csv,noheader

csv_is "device: noheader,nounits (either order)" \
"0, $GiB
1, $((5 * MiB))" --query-device=index,dram.used --format=nounits,csv,noheader

# Memory as the hardware holds it: pool.dram = DRAM + TRACE, pool.l1 = L1 +
# L1_SMALL + CB + KERNEL, against the parent's capacity.
csv_is "device: pools" \
"0, $((GiB + MiB)), $((12 * GiB)), $((4096 + 8192 + 12288 + 2048)), $((80 * 1464 * 1024))" \
	-i 0 --query-device=index,pool.dram.used,pool.dram.total,pool.l1.used,pool.l1.total --format=csv,noheader,nounits

# A capacity nobody registered is not known: [N/A], as nvidia-smi says it.
csv_is "device: unknown capacity is [N/A]" "0, [N/A], [N/A]" \
	-i 0 --query-device=index,cb.total,trace.total --format=csv,noheader

# Every memory type the library names has .used, .total and .peak.
run_smi --query-device=help
for t in dram l1 l1_small trace system cb kernel; do
	for f in used total peak; do
		grep -q "\b$t\.$f\b" <<<"$out" || fail "device: field $t.$f listed" "$out"
	done
done
pass "device: every type has used, total and peak"

# ---- selection -------------------------------------------------------------
csv_is "-i one device" "1, Blackhole" -i 1 --query-device=index,arch --format=csv,noheader
csv_is "-i two devices, in id order" "0
1" -i 1,0 --query-device=index --format=csv,noheader
# An idle, unregistered device asked for by id: zero use, unknown capacity.
csv_is "-i an idle device" "2, [N/A], 0, 0, 0 MiB, [N/A]" \
	-i 2 --query-device=index,arch,processes,buffers,dram.used,dram.total --format=csv,noheader
csv_is "--device is -i" "1" --device 1 --query-device=index --format=csv,noheader
run_smi -i 64 --query-device=index
one_line_error "-i beyond the segment's devices"
run_smi -i 0,x --query-device=index
[ "$rc" -eq 2 ] && grep -q "invalid device id" <<<"$err" && pass "-i with a bad id" ||
	fail "-i with a bad id" "rc=$rc $err"
run_smi -i 0,1 --json
[ "$rc" -eq 2 ] && grep -q "take one device" <<<"$err" && pass "-i with several devices and --json says why not" ||
	fail "-i with several devices and --json says why not" "rc=$rc $err"

# ---- -L ----------------------------------------------------------------------
csv_is "-L lists devices one a line" \
"Device 0: Wormhole_B0 (12GiB DRAM, 114MiB L1, 80 cores)
Device 1: Blackhole (32GiB DRAM, 200MiB L1, 140 cores)" -L
csv_is "-L -i 1" "Device 1: Blackhole (32GiB DRAM, 200MiB L1, 140 cores)" -L -i 1

# ---- process queries -----------------------------------------------------------
csv_is "processes: rows per process and device, text quoted when it holds a comma" \
"pid, name, user, device, buffers, dram.used [B], trace.used [B], cb.used [B], pool.l1.used [B]
$pid_A, smi_a, $ME, 0, 4, $GiB, 0, 12288, $((4096 + 8192 + 12288 + 2048))
$pid_B, \"smi,b\", $ME, 0, 1, 0, $MiB, 0, 0
$pid_B, \"smi,b\", $ME, 1, 1, $((5 * MiB)), 0, 0, 0" \
	--query-processes=pid,name,user,device,buffers,dram.used,trace.used,cb.used,pool.l1.used --format=csv,nounits
csv_is "processes: -i keeps that device's rows" "$pid_B, 1, 5 MiB" \
	-i 1 --query-processes=pid,device,dram.used --format=csv,noheader
csv_is "processes: --pid" "$pid_A, 0" --pid "$pid_A" --query-processes=pid,device --format=csv,noheader

# Peaks: the highest use since the process attached, per type, beside the
# current one; the device's peak is the highest total in the history window.
# History samples the total as it stood when a second began, so the 3 MiB
# is held across a second boundary before it is freed.
send A "alloc 0 0x60000 $((3 * MiB)) l1"
sleep 1.2
send A "free 0 0x60000"
csv_is "processes: peak beside current use" "$pid_A, 0, 4096, $((3 * MiB + 4096))" \
	--pid "$pid_A" --query-processes=pid,device,l1.used,l1.peak --format=csv,noheader,nounits
csv_is "device: peak of the history window" "0, 4096, $((3 * MiB + 4096)), $((4096 + 8192 + 12288 + 2048 + 3 * MiB))" \
	-i 0 --query-device=index,l1.used,l1.peak,pool.l1.peak --format=csv,noheader,nounits

# Hostile text: sanitised, then quoted by the CSV rule.
start_writer H 'name q"x\x1b[2J' "alloc 1 0x1 64 dram" || exit 1
run_smi --pid "$pid_H" --query-processes=name --format=csv,noheader
if [ "$out" = '"q""x?[2J"' ]; then pass "processes: hostile name sanitised and quoted"; else
	fail "processes: hostile name sanitised and quoted" "$(cat -A <<<"$out")"; fi
kill_writer H

# ---- a segment the reaper created keeps history too -----------------------------
# (make demo starts the reaper first: its segment must have the history
# region, or the charts and peaks would be empty.)
reaped=${TT_ALLOC_SHM}_reaper
"$TTA_BUILD/tt-alloc-reaper" -s "$reaped" 2>"$TTA_TMP/reaper.err" &
reaper_pid=$!
wait_for 10 test -e "/dev/shm$reaped"
TT_ALLOC_SHM=$reaped start_writer RP "register 0" "alloc 0 0x1 $MiB dram" || exit 1
sleep 1.2 # a second boundary while the MiB is held, as above
send RP "free 0 0x1"
csv_is "reaper-made segment: device peak known" "0, 0, $MiB" \
	-s "$reaped" --query-device=index,dram.used,dram.peak --format=csv,noheader,nounits
kill_writer RP
kill "$reaper_pid"; wait "$reaper_pid" 2>/dev/null
rm -f "/dev/shm$reaped"

# ---- errors ------------------------------------------------------------------
run_smi --query-device=index,bogus.used
if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -q "unknown field 'bogus.used' for --query-device; valid fields: index, arch, " <<<"$err" &&
	grep -q "dram.used" <<<"$err" && grep -q "kernel.peak" <<<"$err"; then
	pass "unknown device field: exit 2, names it and the valid ones"
else
	fail "unknown device field: exit 2, names it and the valid ones" "rc=$rc $err"
fi
run_smi --query-processes=pid,dram.total
if [ "$rc" -eq 2 ] && grep -q "unknown field 'dram.total' for --query-processes; valid fields: pid, name, user, " <<<"$err"; then
	pass "unknown process field (a device-only one)"
else
	fail "unknown process field (a device-only one)" "rc=$rc $err"
fi
run_smi --query-device=
[ "$rc" -eq 2 ] && grep -q "needs a list of fields" <<<"$err" && pass "empty field list" || fail "empty field list" "rc=$rc $err"
for bad in "--query-device=index --format=tsv" "--query-device=index --format=noheader" \
	"--format=csv" "--query-device=index --json" "--query-device=index -w" \
	"--query-device=index --query-processes=pid" "-l 0" "-lms 5" "-L --json" "--count 2"; do
	# shellcheck disable=SC2086
	run_smi $bad
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -q "Try 'tt-smi --help'" <<<"$err"; then
		pass "usage error '$bad'"
	else
		fail "usage error '$bad'" "rc=$rc out=$out err=$err"
	fi
done

# ---- repeating ---------------------------------------------------------------
run_smi --query-device=index,dram.used --format=csv,nounits -lms 20 --count 3
want="index, dram.used [B]
0, $GiB
1, $((5 * MiB + 64))
0, $GiB
1, $((5 * MiB + 64))
0, $GiB
1, $((5 * MiB + 64))"
# (64 bytes of the killed writer H stay on device 1 until reaped: no reaper here.)
[ "$rc" -eq 0 ] && [ "$out" = "$want" ] && pass "-lms with --count: the header once, then the rows 3 times" ||
	fail "-lms with --count: the header once, then the rows 3 times" "rc=$rc
$out"
# Until stopped: bounded by timeout, which interrupts it like Ctrl-C.
timeout --preserve-status -s INT 2 "$SMI" --query-device=index --format=csv,noheader -lms 100 \
	>"$TTA_TMP/loop.out" 2>"$TTA_TMP/loop.err"
lrc=$?
rows=$(grep -c . "$TTA_TMP/loop.out")
if [ "$lrc" -eq 130 ] && [ "$rows" -ge 4 ] && [ $((rows % 2)) -eq 0 ] && [ ! -s "$TTA_TMP/loop.err" ]; then
	pass "-lms until interrupted: whole repetitions, dies of SIGINT"
else
	fail "-lms until interrupted: whole repetitions, dies of SIGINT" "rc=$lrc rows=$rows $(cat "$TTA_TMP/loop.err")"
fi
# -l SEC: the nvidia-smi spelling, seconds.
run_smi --query-device=index --format=csv,noheader -l 1 --count 2
[ "$rc" -eq 0 ] && [ "$(grep -c . <<<"$out")" -eq 4 ] && pass "-l 1 --count 2" || fail "-l 1 --count 2" "rc=$rc $out"

run_smi --json -lms 20 --count 3
python3 - "$TTA_TMP/smi.out" "$GiB" <<'EOF' && pass "--json -l: one JSON document per line" || fail "--json -l: one JSON document per line" "$out"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == "", "ends with a newline"
docs = [json.loads(line) for line in lines[:-1]]
assert len(docs) == 3, len(docs)
for d in docs:
    dev = {x["id"]: x for x in d["devices"]}
    assert dev[0]["used"]["dram"] == int(sys.argv[2]), dev[0]
    assert len(d["processes"]) >= 3
EOF
# Text repeats too, each snapshot after a blank line.
run_smi -lms 20 --count 2
[ "$rc" -eq 0 ] && [ "$(grep -c '^tt-smi ' <<<"$out")" -eq 2 ] && pass "-lms text: two snapshots" ||
	fail "-lms text: two snapshots" "rc=$rc"

kill_writer A
kill_writer B
exit $tta_failed
