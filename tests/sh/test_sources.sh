#!/usr/bin/env bash
# The sources beside the segment (issue 10), end to end through the real
# tt-smi: fake hosts built under TT_ALLOC_SYSFS_ROOT (tests/sh/fake_host.py:
# tt-kmd's sysfs and hwmon, the driver's pid lists, /proc entries, and
# TT-Metal segments written from the documented layout), real instrumented
# processes on a private segment, exact values asserted in --json and text.
#   - a Wormhole n300 pair: two cards, their remote chips' TT-Metal segments
#     matching no device node, tracked / untracked / TT-Metal processes;
#   - a Blackhole with a fan, and no tt-alloc segment at all;
#   - a machine without the driver;
#   - a tree of garbage values and hostile or broken TT-Metal segments.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
WRITER=$TTA_BUILD/tests/helper_smi_writer
ME=$(id -un)
export ME

# ---- helpers ----------------------------------------------------------------
start_writer() { # NAME COMMAND...: a writer holding its allocations; sets pid_NAME
	local name=$1; shift
	mkfifo "$TTA_TMP/$name.in"
	TT_ALLOC_TRACKING_ENABLED=1 "$WRITER" "$@" <"$TTA_TMP/$name.in" \
		>"$TTA_TMP/$name.out" 2>"$TTA_TMP/$name.err" &
	printf -v "pid_$name" %s $!
	export "pid_$name"
	exec {fd}>"$TTA_TMP/$name.in" # held open until the test ends
	wait_for 10 grep -qx ready "$TTA_TMP/$name.out" ||
		{ echo "writer $name did not start: $(cat "$TTA_TMP/$name.err")"; return 1; }
}
mkhost() { # ROOT PYTHON: PYTHON runs with fh (fake_host) and root
	python3 - "$1" <<EOF
import os, sys
sys.path.insert(0, "$here")
import fake_host as fh
root = sys.argv[1]
env = os.environ
$2
EOF
}
run_smi() { # ROOT ARGS...: tt-smi on that host; sets rc, out, err
	local root=$1; shift
	TT_ALLOC_SYSFS_ROOT=$root "$SMI" "$@" >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
	rc=$?
	out=$(cat "$TTA_TMP/smi.out")
	err=$(cat "$TTA_TMP/smi.err")
}
pycheck() { # NAME PYTHON: d = parsed $TTA_TMP/smi.out
	local name=$1 code=$2 why
	if why=$(python3 - "$TTA_TMP/smi.out" 2>&1 <<EOF
import json, os, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
env = os.environ
dev = {x["id"]: x for x in d["devices"]}
$code
EOF
	); then pass "$name"; else fail "$name" "$why"; fi
}
has_line() {
	if grep -Eq -- "$2" <<<"$out"; then pass "$1"; else fail "$1" "no line matching /$2/ in:
$out"; fi
}
no_line() {
	if grep -Eq -- "$2" <<<"$out"; then fail "$1" "unexpected line /$2/ in:
$out"; else pass "$1"; fi
}
expect_rc() {
	if [ "$rc" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $rc, wanted $2; stderr: $err"; fi
}
csv_is() { # NAME WANT ROOT ARGS...: tt-smi on ROOT prints exactly WANT, exit 0
	local name=$1 want=$2; shift 2
	run_smi "$@"
	if [ "$rc" -eq 0 ] && [ "$out" = "$want" ]; then pass "$name"; else fail "$name" "rc=$rc stderr=$err
got:
$out
want:
$want"; fi
}
clean_terminal_text() { # NAME: no control byte in $TTA_TMP/smi.out
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$TTA_TMP/smi.out"; then
		fail "$1" "$(cat -A "$TTA_TMP/smi.out" | head -20)"
	else
		pass "$1"
	fi
}

# Pids of processes that exist only in the fake trees; they must not be a
# real writer's (pid_max is far below on a default kernel, but check).
export P2=4000002 P3=4000003 P4=4000004

# ---- a machine without the driver ------------------------------------------
export ROOT_NONE=$TTA_TMP/none ROOT_WH=$TTA_TMP/wh
none=$ROOT_NONE
mkdir -p "$none"
run_smi "$none"
if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -q "$TT_ALLOC_SHM" <<<"$err"; then
	pass "no driver, no segment: one-line error, exit 2"
else
	fail "no driver, no segment: one-line error, exit 2" "rc=$rc out=$out err=$err"
fi
start_writer W "name smi_w" "register 0" "alloc 0 0x1000 1048576 dram" "alloc 1 0x2000 4096 l1" || exit 1
for p in $P2 $P3 $P4; do
	[ "$p" != "$pid_W" ] || { fail "fake pids differ from the writer's" "$pid_W"; exit 1; }
done
run_smi "$none" --json
expect_rc "no driver: exit 0" 0
pycheck "no driver: the segment's devices only, no telemetry, nothing untracked" '
assert sorted(dev) == [0, 1], sorted(dev)
for x in dev.values():
    assert x["in_sysfs"] is False and x["open_files"] is None and x["telemetry"] == {} and x["untracked"] == [], x
    assert x["used_combined"] == x["used"] and x["sources"]["tt-metal"]["segments"] == 0
s = d["sources"]
assert s == {"root": env["ROOT_NONE"], "driver": False, "kernel_pids": False,
             "sysfs_devices": 0, "tt_metal_segments": []}, s
assert [(p["pid"], p["source"], p["asic_id"]) for p in d["processes"]] == [(int(env["pid_W"]), "tt-alloc", None)] * 2'
run_smi "$none"
no_line "no driver: no TT-Metal column" 'TT-Metal'
no_line "no driver: no Source column" 'Source'
has_line "no driver: device line as before (no temperature, no power)" '^Device 0  Wormhole_B0  1 process  1 buffer$'
has_line "no driver: memory header as before" '^  Memory +Used +Total +Use% +Peak 10m$'
has_line "no driver: DRAM line as before" '^  DRAM +1\.0MiB +12GiB +0\.0% +1\.0MiB +\['
has_line "no driver: breakdown not labelled" '^    dram 1\.0MiB  trace 0$'
has_line "no driver: process header as before" '^Device +PID +User +Process name +DRAM +TRACE +L1 +L1_SMALL +CB +KERNEL +Buffers$'
run_smi "$none" --telemetry
expect_rc "no driver: --telemetry exit 0" 0
has_line "no driver: --telemetry says so" "^No Tenstorrent driver: $none/sys/class/tenstorrent does not exist"
csv_is "query without the driver: [N/A]" \
"index, temperature [C], power [W], card_type
0, [N/A], [N/A], [N/A]
1, [N/A], [N/A], [N/A]" "$none" --query-device=index,temperature,power,card_type --format=csv

# ---- a Wormhole n300 pair -----------------------------------------------------
# Two n300 cards: device nodes 0 and 1 are their PCIe chips (asic ids A0, A1);
# each card's second chip is reached through the first and has no node, so
# its TT-Metal segment (asic ids 0xB0, 0xB1) matches no device.
wh=$ROOT_WH
mkhost "$wh" '
W, P2, P3, P4 = (int(env[k]) for k in ("pid_W", "P2", "P3", "P4"))
def card(n, serial, asic, temp, power):
    fh.device(root, n, {"tt_card_type": "n300", "tt_serial": serial, "tt_asic_id": asic,
                        "tt_aiclk": 1000, "tt_axiclk": 900, "tt_arcclk": 540, "tt_heartbeat": 12345 + n,
                        "tt_fw_bundle_ver": "80.18.0.0", "tt_m3app_fw_ver": "5.9.0.3"},
              {"name": "wormhole", "temp1_input": temp, "temp1_max": 75000, "temp1_label": "asic1_temp",
               "in0_input": 800, "in0_max": 950, "in0_label": "vcore1",
               "curr1_input": 75000, "curr1_max": 150000, "curr1_label": "current1",
               "power1_input": power, "power1_max": 150000000, "power1_label": "power1"})
card(0, "0000000100000042", "00000000000000A0", 45125, 60000000)
card(1, "0000000100000043", "00000000000000A1", 50500, 55500000)
fh.pids(root, 0, [W, P2, P2, 0, P4])
fh.pids(root, 1, [W, 0, 0])
fh.process(root, P2, "metal_run", 0)
fh.process(root, P4, "stray", 0)
# The writer also reports through TT-Metal: its entry is left out and its
# bytes subtracted. 777 bytes of the totals belong to no entry (a process
# without per-pid tracking): they stay in the device figure.
fh.tt_metal(root, 0xA0, fh.segment(4, 0xA0, 0, (1000 + 2097152 + 500000 + 777, 4096, 0, 8192, 12288),
    [(W, b"smi_w", (1000, 0, 0, 0, 0), 1), (P2, b"metal_run", (2097152, 4096, 0, 8192, 12288), 2),
     (P3, b"gone", (500000, 0, 0, 0, 0), 3)],
    [(0, 0, (2598929 - 101000, 4096, 0, 8192, 12288)), (1, 1, (101000, 0, 0, 0, 0))]))
fh.tt_metal(root, 0xA1, fh.segment(3, 0xA1, 1, (65536, 0, 0, 0, 0), [(P2, b"metal_run", (65536, 0, 0, 0, 0), 4)]))
fh.tt_metal(root, 0xB0, fh.segment(4, 0xB0, 2, (1048576, 0, 0, 0, 0), [(P2, b"metal_run", (1048576, 0, 0, 0, 0), 5)]))
fh.tt_metal(root, 0xB1, fh.segment(2, 0xB1, 3))
' || { fail "n300 pair: tree built" ""; exit 1; }

run_smi "$wh" --json
expect_rc "n300 pair: exit 0" 0
python3 -m json.tool "$TTA_TMP/smi.out" >/dev/null && pass "n300 pair: JSON parses" || fail "n300 pair: JSON parses" "$out"
pycheck "n300 pair: telemetry of both cards, exactly" '
want = {"card_type": "n300", "chip": "wormhole", "serial": "0000000100000042", "asic_id": "00000000000000A0",
        "pci_bdf": "0000:01:00.0", "fw_bundle_ver": "80.18.0.0", "m3app_fw_ver": "5.9.0.3",
        "temperature_c": 45.125, "temperature_max_c": 75.0, "power_w": 60.0, "power_max_w": 150.0,
        "voltage_mv": 800, "voltage_max_mv": 950, "current_ma": 75000, "current_max_ma": 150000,
        "aiclk_mhz": 1000, "axiclk_mhz": 900, "arcclk_mhz": 540, "heartbeat": 12345,
        "temperature_label": "asic1_temp", "voltage_label": "vcore1", "current_label": "current1",
        "power_label": "power1"}
assert dev[0]["telemetry"] == want, dev[0]["telemetry"]
assert list(dev[0]["telemetry"]) == list(want)
one = dict(want, serial="0000000100000043", asic_id="00000000000000A1", pci_bdf="0000:02:00.0",
           temperature_c=50.5, power_w=55.5, heartbeat=12346)
assert dev[1]["telemetry"] == one, dev[1]["telemetry"]
assert isinstance(dev[0]["telemetry"]["power_w"], float) and isinstance(dev[0]["telemetry"]["aiclk_mhz"], int)'
pycheck "n300 pair: untracked processes per device, duplicates collapsed, pid 0 kept" '
P4 = int(env["P4"])
assert dev[0]["open_files"] == 5 and dev[1]["open_files"] == 3, (dev[0]["open_files"], dev[1]["open_files"])
assert dev[0]["untracked"] == [{"pid": 0, "name": None, "user": None, "uid": None, "open_files": 1},
                               {"pid": P4, "name": "stray", "user": "root", "uid": 0, "open_files": 1}], dev[0]["untracked"]
assert dev[1]["untracked"] == [{"pid": 0, "name": None, "user": None, "uid": None, "open_files": 2}], dev[1]["untracked"]'
pycheck "n300 pair: memory by source, TT-Metal beside tt-alloc, combined figure" '
z = dict.fromkeys(["dram", "l1", "l1_small", "trace", "system", "cb", "kernel"], 0)
assert dev[0]["used"] == dict(z, dram=1048576)
assert dev[0]["sources"] == {"tt-alloc": {"used": dict(z, dram=1048576), "processes": 1},
    "tt-metal": {"used": dict(z, dram=2097152 + 500000 + 777, l1=4096, trace=8192, cb=12288), "processes": 2, "segments": 1}}, dev[0]["sources"]
assert dev[0]["used_combined"] == dict(z, dram=1048576 + 2597929, l1=4096, trace=8192, cb=12288), dev[0]["used_combined"]
assert dev[1]["used"] == dict(z, l1=4096)
assert dev[1]["sources"]["tt-metal"] == {"used": dict(z, dram=65536), "processes": 1, "segments": 1}
assert dev[1]["used_combined"] == dict(z, dram=65536, l1=4096)
assert dev[0]["registered"] is True and dev[1]["registered"] is False'
pycheck "n300 pair: processes of both sources, never the same pid twice" '
W, P2, P3 = (int(env[k]) for k in ("pid_W", "P2", "P3"))
got = [(p["source"], p["device"], p["asic_id"], p["pid"], p["name"], p["running"], p["user"], p["buffers"], p["used"]["dram"])
       for p in d["processes"]]
assert got == [("tt-alloc", 0, None, W, "smi_w", True, env["ME"], 1, 1048576),
               ("tt-alloc", 1, None, W, "smi_w", True, env["ME"], 1, 0),
               ("tt-metal", 0, 0xA0, P2, "metal_run", True, "root", None, 2097152),
               ("tt-metal", 0, 0xA0, P3, "gone", False, None, None, 500000),
               ("tt-metal", 1, 0xA1, P2, "metal_run", True, "root", None, 65536),
               ("tt-metal", None, 0xB0, P2, "metal_run", True, "root", None, 1048576)], got
keys = [list(p) for p in d["processes"]]
assert all(k == keys[0] for k in keys), keys
m = d["processes"][2]
assert m["used"] == {"dram": 2097152, "l1": 4096, "l1_small": 0, "trace": 8192, "system": 0, "cb": 12288, "kernel": 0}
assert (m["cmdline"], m["slot"], m["uid"]) == (None, None, 0)'
pycheck "n300 pair: every TT-Metal segment, mapped through tt_asic_id or under its asic id" '
segs = d["sources"]["tt_metal_segments"]
assert [(s["asic_id"], s["device"], s["usable"], s["version"], s["note"]) for s in segs] == [
    (0xA0, 0, True, 4, ""), (0xA1, 1, True, 3, ""), (0xB0, None, True, 4, ""), (0xB1, None, True, 2, "")], segs
s = segs[0]
assert s["path"] == env["ROOT_WH"] + "/dev/shm/tt_device_160_memory", s["path"]
assert s["total"]["dram"] == 2598929 and s["shown"]["dram"] == 2597929 and s["processes"] == 2, s
assert s["chips"] == [{"chip_id": 0, "remote": False, "used": {"dram": 2497929, "l1": 4096, "l1_small": 0, "trace": 8192, "system": 0, "cb": 12288, "kernel": 0}},
                      {"chip_id": 1, "remote": True, "used": {"dram": 101000, "l1": 0, "l1_small": 0, "trace": 0, "system": 0, "cb": 0, "kernel": 0}}], s["chips"]
assert (s["metal_device_id"], s["active_processes"], s["last_update_ns"]) == (0, 3, 1700000000000000000)
assert d["sources"]["driver"] is True and d["sources"]["kernel_pids"] is True and d["sources"]["sysfs_devices"] == 2'

run_smi "$wh"
expect_rc "n300 pair text: exit 0" 0
# Temperature and power beside each device; TT-Metal's bytes beside
# tt-alloc's (Used), each breakdown naming its source; Use% and the bar of
# both together.
has_line "n300 pair text: device 0 with temperature and power" \
	'^Device 0  Wormhole_B0  45\.1C  60W  1 process  1 buffer$'
has_line "n300 pair text: TT-Metal column" '^  Memory +Used +TT-Metal +Total +Use% +Peak 10m$'
has_line "n300 pair text: device 0 DRAM, tt-alloc's and TT-Metal's" \
	'^  DRAM +1\.0MiB +2\.5MiB +12GiB +0\.0% +1\.0MiB +\['
has_line "n300 pair text: device 0 DRAM by tt-alloc" '^    tt-alloc: dram 1\.0MiB  trace 0$'
has_line "n300 pair text: device 0 DRAM by TT-Metal" '^    tt-metal: dram 2\.5MiB  trace 8\.0KiB$'
has_line "n300 pair text: device 0 L1 from TT-Metal" '^  L1 +0 +16KiB +114MiB +0\.0% +0 +\['
has_line "n300 pair text: device 0 L1 by TT-Metal (no kernel: it counts none)" \
	'^    tt-metal: l1 4\.0KiB  l1_small 0  cb 12KiB$'
has_line "n300 pair text: device 1 named by its card type" '^Device 1  n300  50\.5C  56W  1 process  1 buffer$'
has_line "n300 pair text: device 1 DRAM from TT-Metal, no capacity known" '^  DRAM +0 +64KiB +- +- +0$'
has_line "n300 pair text: device 1 DRAM by TT-Metal" '^    tt-metal: dram 64KiB  trace 0$'
has_line "n300 pair text: device 1 L1 from tt-alloc" '^  L1 +4\.0KiB +0 +- +- +4\.0KiB$'
has_line "n300 pair text: process header with Source" \
	'^Device +PID +User +Process name +DRAM +TRACE +L1 +L1_SMALL +CB +KERNEL +Buffers +Source$'
has_line "n300 pair text: tt-alloc row marked" "^ +0  $pid_W +$ME +smi_w +1\.0MiB +0 +0 +0 +0 +0 +1  tt-alloc\$"
has_line "n300 pair text: TT-Metal row marked (no kernel, no buffers kept)" \
	"^ +0  $P2 +root +metal_run +2\.0MiB +8\.0KiB +4\.0KiB +0 +12KiB +- +-  tt-metal\$"
has_line "n300 pair text: exited TT-Metal process starred" "^ +0  $P3\* +\? +gone +488KiB +0 +0 +0 +0 +- +-  tt-metal\$"
has_line "n300 pair text: untracked row marked" "^ +0  $P4 +root +stray +- +- +- +- +- +- +-  untracked\$"
has_line "n300 pair text: other-namespace opener" '^ +0  0 +\? +\(other pidns\) +- +- +- +- +- +- +-  untracked$'
has_line "n300 pair text: device 1 other-namespace opener" '^ +1  0 +\? +\(other pidns\) +- +- +- +- +- +- +-  untracked$'
has_line "n300 pair text: unmatched segment's process" "^ +-  $P2 +root +metal_run +1\.0MiB +0 +0 +0 +0 +- +-  tt-metal\$"
has_line "n300 pair text: footnote for TT-Metal's exited entries" \
	'^\* exited \(tt-metal\); TT-Metal keeps counting its memory until another TT-Metal process opens the device$'
no_line "n300 pair text: no tt-alloc footnote (none of its processes exited)" '^\* exited; '
has_line "n300 pair text: unmatched segment noted with its asic id" \
	"^note: TT-Metal segment $wh/dev/shm/tt_device_176_memory \(asic id 176\) matches no device in sysfs: dram 1\.0MiB\$"
has_line "n300 pair text: empty unmatched segment noted" \
	"^note: TT-Metal segment $wh/dev/shm/tt_device_177_memory \(asic id 177\) matches no device in sysfs: nothing allocated\$"
order=$(grep -E '  (tt-alloc|tt-metal|untracked)$' <<<"$out" | awk '{print $1 ":" $NF}' | tr '\n' ' ')
want="0:tt-alloc 0:tt-metal 0:tt-metal 0:untracked 0:untracked 1:tt-alloc 1:tt-metal 1:untracked -:tt-metal "
[ "$order" = "$want" ] && pass "n300 pair text: rows ordered by device, tt-alloc, TT-Metal, untracked" ||
	fail "n300 pair text: rows ordered by device, tt-alloc, TT-Metal, untracked" "$order"

# -i: the devices chosen, as with one (the unmatched segment is on none).
run_smi "$wh" -i 0,1
order=$(grep -E '  (tt-alloc|tt-metal|untracked)$' <<<"$out" | awk '{print $1 ":" $NF}' | tr '\n' ' ')
want="0:tt-alloc 0:tt-metal 0:tt-metal 0:untracked 0:untracked 1:tt-alloc 1:tt-metal 1:untracked "
[ "$order" = "$want" ] && pass "n300 pair -i 0,1: no row of the unmatched segment" ||
	fail "n300 pair -i 0,1: no row of the unmatched segment" "$order"
run_smi "$wh" -i 1
order=$(grep -E '  (tt-alloc|tt-metal|untracked)$' <<<"$out" | awk '{print $1 ":" $NF}' | tr '\n' ' ')
[ "$order" = "1:tt-alloc 1:tt-metal 1:untracked " ] && pass "n300 pair -i 1: its rows only" ||
	fail "n300 pair -i 1: its rows only" "$order"
no_line "n300 pair -i 1: no device 0" '^Device 0 '
has_line "n300 pair -i 1: device 1" '^Device 1  n300  50\.5C  56W  1 process  1 buffer$'

# The process view (3): TT-Metal keeps no peak, an untracked process nothing.
run_smi "$wh" --view processes
expect_rc "n300 pair process view: exit 0" 0
has_line "n300 pair process view: header with Source" \
	'^Device +PID +User +Process name +DRAM +peak +TRACE +peak +L1 +peak +L1_SMALL +peak +CB +peak +KERNEL +peak +Buffers +Source$'
has_line "n300 pair process view: tt-alloc row with its peaks" \
	"^ +0  $pid_W +$ME +smi_w +1\.0MiB +1\.0MiB +0 +0 +0 +0 +0 +0 +0 +0 +0 +0 +1  tt-alloc\$"
has_line "n300 pair process view: TT-Metal row, no peaks kept" \
	"^ +0  $P2 +root +metal_run +2\.0MiB +- +8\.0KiB +- +4\.0KiB +- +0 +- +12KiB +- +- +- +-  tt-metal\$"
has_line "n300 pair process view: untracked row" "^ +0  $P4 +root +stray( +-){13}  untracked\$"
has_line "n300 pair process view: footnote" '^\* exited \(tt-metal\); '
has_line "n300 pair process view: notes" "^note: TT-Metal segment $wh/dev/shm/tt_device_176_memory "

# Use% and the bar count what both sources hold: half of device 0's 12 GiB
# held by an unmodified TT-Metal process beside the writer's 1 MiB.
half=$TTA_TMP/half
mkhost "$half" '
P2 = int(env["P2"])
fh.device(root, 0, {"tt_asic_id": "00000000000000A0"}, {"name": "wormhole", "temp1_input": 40000})
fh.tt_metal(root, 0xA0, fh.segment(4, 0xA0, 0, (6 << 30, 0, 0, 0, 0), [(P2, b"metal_half", (6 << 30, 0, 0, 0, 0), 1)]))
fh.process(root, P2, "metal_half", 0)
' || { fail "half: tree built" ""; exit 1; }
run_smi "$half"
has_line "TT-Metal half the DRAM: Use% of both sources" '^  DRAM +1\.0MiB +6\.0GiB +12GiB +50\.0% +1\.0MiB +\[(█{10} {10}|#{10}\.{10})\]$'
has_line "TT-Metal half the DRAM: temperature alone" '^Device 0  Wormhole_B0  40\.0C  1 process  1 buffer$'

run_smi "$wh" --telemetry
expect_rc "n300 pair --telemetry: exit 0" 0
has_line "telemetry view: temperature with unit and file" '^  temperature_c +45\.125 +celsius +hwmon temp1_input$'
has_line "telemetry view: power limit" '^  power_max_w +150\.0 +watts +hwmon power1_max$'
has_line "telemetry view: clock" '^  aiclk_mhz +1000 +megahertz +tt_aiclk$'
has_line "telemetry view: open files" '^  open_files +5$'
has_line "telemetry view: untracked" "^  untracked  pid $P4  stray \(root\)  1 open file\$"
has_line "telemetry view: other-namespace opener" '^  untracked  pid 0  \(other pid namespace\) \(\?\)  1 open file$'
has_line "telemetry view: TT-Metal on the device" '^  tt-metal  dram 2\.5MiB  l1 4\.0KiB  trace 8\.0KiB  cb 12KiB  \(2 processes\)$'
has_line "telemetry view: device 1's other-namespace openers" '^  untracked  pid 0  \(other pid namespace\) \(\?\)  2 open files$'
has_line "telemetry view: unmatched segment noted" "^note: TT-Metal segment $wh/dev/shm/tt_device_176_memory \(asic id 176\) matches no device in sysfs: dram 1\.0MiB\$"
has_line "telemetry view: device 1 node" '^Device 1 \(/dev/tenstorrent/1\)$'
cp "$TTA_TMP/smi.out" "$TTA_TMP/telemetry.txt"
run_smi "$wh" --view 5
if [ "$rc" -eq 0 ] && [ "$(tail -n +2 "$TTA_TMP/smi.out")" = "$(tail -n +2 "$TTA_TMP/telemetry.txt")" ]; then
	pass "--view 5 prints the telemetry view, as -t does"
else
	fail "--view 5 prints the telemetry view, as -t does" "rc=$rc $(diff "$TTA_TMP/telemetry.txt" "$TTA_TMP/smi.out")"
fi
run_smi "$wh" -i 1 --view telemetry
no_line "--view telemetry -i 1: no device 0" '^Device 0'
has_line "--view telemetry -i 1: device 1's readings" '^  temperature_c +50\.5 +celsius +hwmon temp1_input$'
run_smi "$wh" -t --view main
if [ "$rc" -eq 2 ] && grep -q -- "--telemetry is --view telemetry" <<<"$err"; then pass "-t with another view: refused"; else
	fail "-t with another view: refused" "rc=$rc err=$err"; fi
run_smi "$wh" --view bogus
if [ "$rc" -eq 2 ] && grep -q "telemetry, or 1-5" <<<"$err"; then pass "--view names five views"; else
	fail "--view names five views" "rc=$rc err=$err"; fi

# --query-device telemetry fields: the library's table under its JSON names,
# the everyday readings under short names, units in the header, [N/A] for
# what was not read, nounits the plain number.
csv_is "query: readings with units" \
"index, temperature [C], power [W], voltage [mV], current [mA], aiclk [MHz], fan [RPM], card_type, serial
0, 45.125 C, 60.0 W, 800 mV, 75000 mA, 1000 MHz, [N/A], n300, 0000000100000042
1, 50.5 C, 55.5 W, 800 mV, 75000 mA, 1000 MHz, [N/A], n300, 0000000100000043" \
	"$wh" --query-device=index,temperature,power,voltage,current,aiclk,fan,card_type,serial --format=csv
csv_is "query: readings, nounits" \
"index, temperature [C], power [W], voltage [mV], current [mA], aiclk [MHz], fan [RPM]
0, 45.125, 60.0, 800, 75000, 1000, [N/A]
1, 50.5, 55.5, 800, 75000, 1000, [N/A]" \
	"$wh" --query-device=index,temperature,power,voltage,current,aiclk,fan --format=csv,nounits
csv_is "query: the rest of the table under JSON names, -i 1" \
"1, n300, wormhole, 00000000000000A1, 0000:02:00.0, 80.18.0.0, 5.9.0.3, 50.5 C, 75.0 C, 55.5 W, 150.0 W, 950 mV, 150000 mA, 900 MHz, 540 MHz, 12346, asic1_temp, vcore1, current1, power1, [N/A]" \
	"$wh" -i 1 --query-device=index,card_type,chip,asic_id,pci_bdf,fw_bundle_ver,m3app_fw_ver,temperature_c,temperature_max_c,power_w,power_max_w,voltage_max_mv,current_max_ma,axiclk_mhz,arcclk_mhz,heartbeat,temperature_label,voltage_label,current_label,power_label,fan_label --format=csv,noheader
# Every key of the JSON's telemetry is a query field with the same value.
run_smi "$wh" --json
cp "$TTA_TMP/smi.out" "$TTA_TMP/wh.json"
fields=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(",".join(d["devices"][0]["telemetry"]))' "$TTA_TMP/wh.json")
run_smi "$wh" --query-device="index,$fields" --format=csv,noheader,nounits
if why=$(python3 - "$TTA_TMP/wh.json" "$fields" "$TTA_TMP/smi.out" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = sys.argv[2].split(",")
rows = [l.split(", ") for l in open(sys.argv[3]).read().splitlines()]
assert len(names) == 23 and len(rows) == 2, (names, rows)
for dev, row in zip(d["devices"], rows):
    assert int(row[0]) == dev["id"], row
    for name, got in zip(names, row[1:]):
        want = dev["telemetry"][name]
        assert (got == want) if isinstance(want, str) else (float(got) == want and ("." in got) == isinstance(want, float)), (name, got, want)
EOF
); then pass "query: every JSON telemetry key, same value"; else fail "query: every JSON telemetry key, same value" "$why
$out"; fi
run_smi "$wh" --query-device=help
for f in temperature power voltage current aiclk fan card_type serial temperature_c fan_rpm heartbeat fan_label; do
	grep -q "\b$f\b" <<<"$out" || fail "query: field $f listed in help" "$out"
done

run_smi "$wh" --json --device 1
pycheck "n300 pair --device 1: only its rows and untracked" '
P2 = int(env["P2"])
assert [x["id"] for x in d["devices"]] == [1]
assert [(p["source"], p["pid"]) for p in d["processes"]] == [("tt-alloc", int(env["pid_W"])), ("tt-metal", P2)], d["processes"]
assert [u["pid"] for u in d["devices"][0]["untracked"]] == [0]'
run_smi "$wh" --json --pid "$P2"
pycheck "n300 pair --pid: that process from every segment" '
P2 = int(env["P2"])
assert [(p["device"], p["asic_id"]) for p in d["processes"]] == [(0, 0xA0), (1, 0xA1), (None, 0xB0)], d["processes"]
assert all(x["untracked"] == [] for x in d["devices"])
assert dev[0]["sources"]["tt-metal"]["processes"] == 2  # device figures cover every process'

# ---- a Blackhole with a fan, and no tt-alloc segment ------------------------
bh=$TTA_TMP/bh
mkhost "$bh" '
fh.device(root, 0, {"tt_card_type": "p150a", "tt_serial": "0000000200000007", "tt_asic_id": "0000000000001234",
                    "tt_aiclk": 1350, "tt_axiclk": 800, "tt_arcclk": 800, "tt_heartbeat": 77,
                    "tt_fw_bundle_ver": "18.6.0.0", "tt_m3app_fw_ver": "0.22.0.0"},
          {"name": "blackhole", "temp1_input": 38500, "temp1_label": "asic_temp", "in0_input": 750,
           "in0_label": "vcore", "curr1_input": 20000, "curr1_label": "current", "power1_input": 35000000,
           "power1_label": "power", "fan1_input": 2500, "fan1_label": "fan_rpm"}, bdf="0000:c1:00.0")
fh.pids(root, 0, [int(env["P2"])])
fh.process(root, int(env["P2"]), "metal_bh", 0)
fh.tt_metal(root, 0x1234, fh.segment(2, 0x1234, 0, (4096, 0, 0, 0, 0), [(int(env["P2"]), b"metal_bh", (4096, 0, 0, 0, 0), 9)]))
' || { fail "blackhole: tree built" ""; exit 1; }
nosegment=${TT_ALLOC_SHM}_none
run_smi "$bh" -s "$nosegment" --json
expect_rc "blackhole without a segment: exit 0" 0
pycheck "blackhole: fan, no limits, labels, exactly" '
assert d["segment"] is None and d["processes"][0]["source"] == "tt-metal"
assert [x["id"] for x in d["devices"]] == [0]
t = dev[0]["telemetry"]
assert t == {"card_type": "p150a", "chip": "blackhole", "serial": "0000000200000007", "asic_id": "0000000000001234",
             "pci_bdf": "0000:c1:00.0", "fw_bundle_ver": "18.6.0.0", "m3app_fw_ver": "0.22.0.0",
             "temperature_c": 38.5, "power_w": 35.0, "voltage_mv": 750, "current_ma": 20000, "fan_rpm": 2500,
             "aiclk_mhz": 1350, "axiclk_mhz": 800, "arcclk_mhz": 800, "heartbeat": 77,
             "temperature_label": "asic_temp", "voltage_label": "vcore", "current_label": "current",
             "power_label": "power", "fan_label": "fan_rpm"}, t
assert dev[0]["untracked"] == [] and dev[0]["open_files"] == 1
assert dev[0]["sources"]["tt-metal"]["used"]["dram"] == 4096 and dev[0]["registered"] is False'
run_smi "$bh" -s "$nosegment"
has_line "blackhole without a segment: header says so" "^tt-smi .* \| no tt-alloc segment yet: the driver's and TT-Metal's view only\$"
has_line "blackhole: device line" '^Device 0  p150a  38\.5C  35W  0 processes  0 buffers$'
has_line "blackhole: DRAM from TT-Metal only, no history" '^  DRAM +0 +4\.0KiB +- +- +-$'
has_line "blackhole: TT-Metal row" "^ +0  $P2 +root +metal_bh +4\.0KiB +0 +0 +0 +0 +- +-  tt-metal\$"
run_smi "$bh" -s "$nosegment" --telemetry
has_line "blackhole telemetry view: fan" '^  fan_rpm +2500 +rpm +hwmon fan1_input$'
has_line "blackhole telemetry view: fan label" '^  fan_label +fan_rpm +hwmon fan1_label$'
csv_is "query on the Blackhole: the fan" \
"index, temperature [C], power [W], fan [RPM], fan_label, aiclk [MHz]
0, 38.5 C, 35.0 W, 2500 RPM, fan_rpm, 1350 MHz" \
	"$bh" -s "$nosegment" --query-device=index,temperature,power,fan,fan_label,aiclk --format=csv
run_smi "$bh" -s "$nosegment" --check-empty
expect_rc "no segment: --check-empty still needs one (exit 2)" 2
run_smi "$bh" -s "$nosegment" --buffers
expect_rc "no segment: --buffers still needs one (exit 2)" 2

# ---- garbage values and hostile segments --------------------------------------
bad=$TTA_TMP/bad
mkhost "$bad" '
import struct
fh.device(root, 0, {"tt_card_type": b"\x1b[2Jn300\x07\n", "tt_serial": "not-hex", "tt_asic_id": "zz",
                    "tt_aiclk": "abc", "tt_axiclk": "12 34", "tt_arcclk": "", "tt_heartbeat": fh.FIFO,
                    "tt_fw_bundle_ver": b"x" * 200},
          {"name": "wormhole", "temp1_input": 99999999999, "power1_input": -5, "in0_input": "0x10",
           "curr1_input": "99999999999999999999999", "temp1_max": 75000, "fan1_input": "-1"})
fh.device(root, 3, {"tt_aiclk": 500}, None)  # no hwmon at all
fh.pids(root, 0, ["abc", "-3", "4000004 x", "", "2147483648", int(env["P4"])])
fh.process(root, int(env["P4"]), "\x1b[31mred\x1b[0m", 0)
seg = fh.segment
fh.tt_metal(root, 1, seg(7, 1))                                  # unknown version
fh.tt_metal(root, 2, seg(4, 2)[:8000])                           # truncated
fh.tt_metal(root, 3, seg(4, 3, init_state=1))                    # half initialised
fh.tt_metal(root, 4, seg(4, 4, totals=(1 << 60, 0, 0, 0, 0)))    # totals no device holds
fh.tt_metal(root, 5, seg(3, 5, 0, (4096, 0, 0, 0, 0), [         # entries to leave out or clean
    (int(env["P3"]), b"A" * 64, (4096, 0, 0, 0, 0), 1),
    (int(env["P3"]), b"dup", (1, 0, 0, 0, 0), 1),
    (4000009, b"huge", (1 << 62, 0, 0, 0, 0), 1),
    (-1, b"releasing", (9, 0, 0, 0, 0), 1),
    (4000010, b"\x1b]0;evil\x07\xff", (8, 0, 0, 0, 0), 1)], asic_field=99))
fh.tt_metal(root, 6, seg(1, 6))                                  # before v2
os.symlink("tt_device_5_memory", os.path.join(root, "dev/shm/tt_device_7_memory"))
os.mkfifo(os.path.join(root, "dev/shm/tt_device_8_memory"))
os.mkdir(os.path.join(root, "dev/shm/tt_device_9_memory"))
for name in ("tt_device_010_memory", "tt_device_x_memory", "tt_device_99999999999999999999_memory"):
    fh.tt_metal(root, 0, seg(4, 0), name=name)                   # not TT-Metal names: ignored
' || { fail "garbage: tree built" ""; exit 1; }
run_smi "$bad" --json
expect_rc "garbage: exit 0" 0
pycheck "garbage: only the values that parse and make sense" '
assert dev[0]["telemetry"] == {"chip": "wormhole", "pci_bdf": "0000:01:00.0", "temperature_max_c": 75.0}, dev[0]["telemetry"]
assert dev[3]["telemetry"] == {"pci_bdf": "0000:04:00.0", "aiclk_mhz": 500}, dev[3]["telemetry"]
P4 = int(env["P4"])
assert dev[0]["open_files"] == 1 and dev[0]["untracked"] == [
    {"pid": P4, "name": "\x1b[31mred\x1b[0m", "user": "root", "uid": 0, "open_files": 1}], dev[0]["untracked"]
assert dev[3]["open_files"] is None'
pycheck "garbage: hostile TT-Metal segments skipped with the reason" '
segs = {s["asic_id"]: s for s in d["sources"]["tt_metal_segments"]}
assert sorted(segs) == [1, 2, 3, 4, 5, 6, 7, 8, 9], sorted(segs)
notes = {a: (s["usable"], s["note"]) for a, s in segs.items()}
assert notes == {
    1: (False, "layout version 7 is not supported (2 to 4 are)"),
    2: (False, "truncated: 8000 of 8540 bytes"),
    3: (False, "not initialised (init_state 0x00000001)"),
    4: (False, "device totals beyond any device'"'"'s memory"),
    5: (True, "its asic_id field says 99; 1 entry with counters beyond any device'"'"'s memory left out; 1 duplicate process entry left out"),
    6: (False, "layout version 1 is not supported (2 to 4 are)"),
    7: (False, "cannot open: a symbolic link"),
    8: (False, "not a regular file"),
    9: (False, "not a regular file")}, notes
assert d["sources"]["tt_metal_segments"][0]["asic_id"] == 1
rows = [(p["pid"], p["name"], p["used"]["dram"]) for p in d["processes"] if p["source"] == "tt-metal"]
assert rows == [(int(env["P3"]), "A" * 64, 4096), (4000010, "\x1b]0;evil\x07\xff", 8)], rows'
run_smi "$bad"
expect_rc "garbage text: exit 0" 0
clean_terminal_text "garbage text: no control bytes reach the terminal"
has_line "garbage text: skipped segment noted" \
	"^note: TT-Metal segment $bad/dev/shm/tt_device_1_memory skipped: layout version 7 is not supported \(2 to 4 are\)\$"
has_line "garbage text: what was left out is noted" "^note: TT-Metal segment $bad/dev/shm/tt_device_5_memory: its asic_id field says 99; "
has_line "garbage text: hostile name shown cleaned" '^ +-  4000010\* +\? +\?\]0;evil\?\? '
run_smi "$bad" --telemetry
expect_rc "garbage --telemetry: exit 0" 0
clean_terminal_text "garbage --telemetry: no control bytes reach the terminal"

exit $tta_failed
