#!/usr/bin/env bash
# tt-smi -w in a real terminal: the real binary in tmux (send-keys,
# capture-pane), on a private segment written by real instrumented processes.
# Views 1-5 by key (5: the driver's telemetry of a fake host, tests/sh/fake_host.py,
# with the sources in view 1), the charts full the moment they open (the history comes
# from the segment), a resize to 60 columns (columns dropped, no value cut),
# the ASCII fallback of a non-UTF-8 locale, q quitting with the terminal
# restored, and frames drawn without clearing the screen.
#
# The watch runs with a one-minute refresh (-r 60000): whatever changes on
# screen after the first frame was drawn because of a key or a SIGWINCH.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
WRITER=$TTA_BUILD/tests/helper_smi_writer
FORGE=$TTA_BUILD/tests/helper_history_forge
. "$here/smi_lib.sh"

if ! command -v tmux >/dev/null; then
	fail tmux "tmux is not installed (Debian package tmux; scripts/install-deps.sh)"
	exit 1
fi
GiB=$((1 << 30))
MiB=$((1 << 20))
SOCK=tta_smi_$$_$RANDOM
tm() { tmux -L "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; tta_cleanup' EXIT

# watch NAME LANG COLS ARGS...: starts tt-smi -w ARGS in a fresh tmux window
# of COLS x 24 (a shell prints a marker first and records the terminal
# settings and exit status around tt-smi), and waits for the first frame.
# SYSFS_ROOT, when set, is the fake host tt-smi reads (TT_ALLOC_SYSFS_ROOT).
watch() {
	local name=$1 lang=$2 cols=$3; shift 3
	# The last watch's server goes first, wholly: a new session must not
	# reach a server that is still shutting down.
	tm kill-server 2>/dev/null
	wait_for 10 server_gone
	rm -f "$TTA_TMP/rc" "$TTA_TMP/stty.before" "$TTA_TMP/stty.after"
	printf '%q ' "$SMI" -w -r 60000 "$@" >"$TTA_TMP/cmd"
	if ! tm -u new-session -d -s w -x "$cols" -y 24 \
		"env LANG=$lang LC_ALL=$lang TT_ALLOC_SHM=$TT_ALLOC_SHM TT_ALLOC_SYSFS_ROOT=${SYSFS_ROOT:-} bash -c 'echo before-marker; stty -g >$TTA_TMP/stty.before; $(cat "$TTA_TMP/cmd"); echo \$? >$TTA_TMP/rc; stty -g >$TTA_TMP/stty.after; exec sleep 600'" \
		2>"$TTA_TMP/tmux.err"; then
		fail "$name" "tmux new-session: $(cat "$TTA_TMP/tmux.err")"
		return 1
	fi
	if ! wait_for 10 screen_has 'q quit'; then
		fail "$name" "no frame: $(screen 2>&1) rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
		return 1
	fi
}
screen() { tm capture-pane -p -t w; }
server_gone() { ! tm list-sessions >/dev/null 2>&1; }
screen_has() { screen | grep -qE -- "$1"; }
# key NAME KEY REGEX: presses KEY and waits for REGEX on screen.
key() {
	tm send-keys -t w "$2"
	if wait_for 10 screen_has "$3"; then pass "$1"; else fail "$1" "no /$3/ on screen:
$(screen)"; fi
}
# widest: the widest line of the screen, in characters.
widest() { screen | python3 -c 'import sys; print(max(len(l.rstrip("\n")) for l in sys.stdin))'; }
# fits NAME COLS: no line of the screen is wider than COLS.
fits() {
	local w
	w=$(widest)
	[ "$w" -le "$2" ] && pass "$1" || fail "$1" "a line of $w characters:
$(screen)"
}
shows() { # NAME REGEX
	if screen_has "$2"; then pass "$1"; else fail "$1" "no /$2/ on screen:
$(screen)"; fi
}
hides() { # NAME REGEX
	if screen_has "$2"; then fail "$1" "/$2/ on screen:
$(screen)"; else pass "$1"; fi
}

# ---- the workload ----------------------------------------------------------
# Device 0 holds 2 GiB DRAM now; the history (forged over the last 70 s,
# the current second included) says it held 1 GiB until 30 s ago and 2 GiB
# since. A's L1 went up to 3 MiB and back before that (its own peak; the
# history, sampled each second, never saw it), and A records its events
# (TT_ALLOC_EVENTS=1).
TT_ALLOC_EVENTS=1 start_writer A "name smi_watch_a" "register 0" \
	"alloc 0 0x10000 $GiB dram" "alloc 0 0x11000 $GiB dram" "alloc 0 0x20000 4096 l1" \
	"alloc 0 0x30000 8192 l1_small" "cb 0 7 12288" "kernel 0 9 2048" \
	"alloc 0 0x40000 $((3 * MiB)) l1" "free 0 0x40000" || exit 1
start_writer B "name smi_watch_b" "register 1" "alloc 1 0x50000 $((5 * MiB)) dram" \
	"alloc 1 0x60000 $MiB trace" || exit 1
"$FORGE" 0 dram 70 30 $GiB $((2 * GiB)) >"$TTA_TMP/forge.out" 2>&1 ||
	fail "forge history" "$(cat "$TTA_TMP/forge.out")"

# ---- view 1 at 80x24 -------------------------------------------------------
watch "view 1" C.UTF-8 80 || exit 1
shows "view 1: device line" '^Device 0  Wormhole_B0  1 process  5 buffers$'
shows "view 1: DRAM in use against capacity" '^  DRAM +2\.0GiB +12GiB +16\.7% +2\.0GiB +\['
shows "view 1: DRAM breakdown" '^    dram 2\.0GiB  trace 0$'
shows "view 1: L1 in use = L1 + L1_SMALL + CB + KERNEL" '^  L1 +26KiB +114MiB +0\.0% +26KiB +\['
shows "view 1: L1 breakdown" '^    l1 4\.0KiB  l1_small 8\.0KiB  cb 12KiB  kernel ~2\.0KiB$'
shows "view 1: device 1" '^Device 1  Wormhole_B0  1 process  2 buffers$'
shows "view 1: process row" "^ +0 +$pid_A +[^ ]+ +smi_watch_a +2\.0GiB "
shows "view 1: footer names the views" '\[1 main\] +2 charts +3 processes +4 events +5 telemetry +q quit'
fits "view 1: fits 80 columns" 80
hides "view 1: fits 24 rows (no line hidden below)" 'lines? below'

# ---- view 2: charts, full at open ------------------------------------------
key "view 2: key 2 opens the charts" 2 '\[2 charts\]'
screen >"$TTA_TMP/charts.txt"
python3 - "$TTA_TMP/charts.txt" <<'EOF' && pass "view 2: DRAM chart full at open, with the step the history holds" || fail "view 2: DRAM chart full at open, with the step the history holds" "$(cat "$TTA_TMP/charts.txt")"
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("Device 0"))
rows = []
for l in lines[start + 1:]:
    if l.startswith("L1") or l.startswith("Device"):
        break
    rows.append(l)
assert rows[0].startswith("DRAM") and "2.0GiB" in rows[0], rows
body = [r.split("\u2502", 1)[1] for r in rows]
assert all(len(b) == 60 for b in body), [len(b) for b in body]
bottom = body[-1]
# Full: a bar in every one of the 60 columns, none unknown (no dot).
assert "\u00b7" not in bottom and " " not in bottom, repr(bottom)
# The step: the older half stands at half the height of the newer half.
def height(col):
    return sum(1 for b in body if b[col] != " ")
assert height(59) == len(body) and height(0) < height(59), [height(c) for c in range(60)]
assert height(10) == height(20) and height(40) == height(50), [height(c) for c in range(60)]
EOF
shows "view 2: L1 chart of device 0" '^L1 +'
shows "view 2: time axis" '-60s +now$'
fits "view 2: fits 80 columns" 80

# ---- view 3: processes with peaks ------------------------------------------
key "view 3: key 3 opens the processes" 3 '\[3 processes\]'
shows "view 3: current and peak columns" '^Device +PID +User +Process name +DRAM +peak +L1 +peak'
shows "view 3: A's L1 peak beside its current use" "^ +0 +$pid_A +[^ ]+ +smi_watch_a +2\.0GiB +2\.0GiB +4\.0KiB +3\.0MiB"
fits "view 3: fits 80 columns" 80

# ---- view 4: the live event tail --------------------------------------------
key "view 4: key 4 opens the event tail" 4 '\[4 events\]'
# At 80 columns the process name is the first to go.
shows "view 4: A's allocations are there already" "ALLOC +0 +$pid_A +DRAM +1\.0GiB +buffer 0x11000\$"
shows "view 4: and its attach" "ATTACH +- +$pid_A "
send A "alloc 0 0x70000 $((7 * MiB)) dram"
if wait_for 10 screen_has "ALLOC +0 +$pid_A +DRAM +7\.0MiB +buffer 0x70000\$"; then
	pass "view 4: a new event shows up live"
else
	fail "view 4: a new event shows up live" "$(screen)"
fi
send A "free 0 0x70000"
fits "view 4: fits 80 columns" 80

# ---- resize to 60 columns -----------------------------------------------------
key "back to view 1" 1 '\[1 main\]'
tm resize-window -t w -x 60 -y 24
if wait_for 10 screen_has '^Device 0  Wormhole_B0'; then :; fi
# The resize is followed at once (SIGWINCH), not at the next refresh.
narrow() { [ "$(widest)" -le 60 ]; }
wait_for 10 narrow
fits "60 columns: nothing wider" 60
hides "60 columns: still no line hidden below" 'lines? below'
shows "60 columns: DRAM line keeps its values" '^  DRAM +2\.0GiB +12GiB +16\.7% +2\.0GiB$'
hides "60 columns: the bar went first" '\[[^]]*\]$'
shows "60 columns: process row keeps DRAM and L1 whole" "^ +0 +$pid_A +([^ ]+ +)?smi_watch_a +2\.0GiB +4\.0KiB( +5)?\$"
hides "60 columns: KERNEL column dropped whole" 'KERN|\bKE$'
shows "60 columns: the header wraps between fields" "(^| )segment $TT_ALLOC_SHM( |\$)"
shows "60 columns: ... keeping each whole" '(^| )reaper: none$'
# At 60 columns the footer's names shorten so the keys stay whole.
key "60 columns: view 3" 3 '\[3 procs\] +4 events +5 telem +q quit'
fits "60 columns: view 3 fits" 60
shows "60 columns: view 3 keeps DRAM and its peak" "^ *0 +$pid_A +([^ ]+ +)?smi_watch_a +2\.0GiB +2\.0GiB"
key "60 columns: view 2" 2 '\[2 charts\]'
fits "60 columns: view 2 fits" 60
screen >"$TTA_TMP/charts60.txt"
python3 - "$TTA_TMP/charts60.txt" <<'EOF' && pass "60 columns: the chart still spans 60 s (squeezed)" || fail "60 columns: the chart still spans 60 s (squeezed)" "$(cat "$TTA_TMP/charts60.txt")"
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("Device 0"))
row = next(l for l in lines[start + 1:] if l.startswith("DRAM"))
body = row.split("\u2502", 1)[1]
assert 40 <= len(body) < 60, len(body)
assert any(l.rstrip().endswith("now") and "-60s" in l for l in lines), lines
EOF
key "60 columns: view 4" 4 '\[4 events\]'
fits "60 columns: view 4 fits" 60

# ---- q quits and gives the terminal back ---------------------------------------
tm send-keys -t w q
if wait_for 10 test -s "$TTA_TMP/stty.after"; then
	[ "$(cat "$TTA_TMP/rc")" = 0 ] && pass "q quits with status 0" || fail "q quits with status 0" "$(cat "$TTA_TMP/rc")"
	cmp -s "$TTA_TMP/stty.before" "$TTA_TMP/stty.after" && pass "q: terminal settings restored" ||
		fail "q: terminal settings restored" "$(cat "$TTA_TMP/stty.before" "$TTA_TMP/stty.after")"
	# The alternate screen is left: the shell's screen is back as it was.
	wait_for 5 screen_has '^before-marker$'
	shows "q: the screen from before is back" '^before-marker$'
	hides "q: no frame left on the screen" 'q quit|Device 0'
else
	fail "q quits" "$(screen)"
fi

# ---- a non-UTF-8 locale: ASCII only -------------------------------------------
watch "ASCII" C 80 || exit 1
shows "ASCII: bars in '#'" '^  DRAM .*\[##*\.*\]$'
tm send-keys -t w 2
wait_for 10 screen_has '\[2 charts\]'
screen >"$TTA_TMP/ascii.txt"
python3 - "$TTA_TMP/ascii.txt" <<'EOF' && pass "ASCII: charts without a byte over 127" || fail "ASCII: charts without a byte over 127" "$(cat -A "$TTA_TMP/ascii.txt")"
import sys
raw = open(sys.argv[1], "rb").read()
assert all(b < 128 for b in raw), "a byte over 127"
lines = raw.decode().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("Device 0"))
rows = []
for l in lines[start + 1:]:
    if l.startswith("L1"):
        break
    rows.append(l.split("|", 1)[1])
assert rows[0] and all(set(r) <= set(" #=_.") for r in rows), rows
def height(col):
    return sum(1 for r in rows if col < len(r) and r[col] != " ")
# The older part (1 GiB) stands lower than the newer (2 GiB), in ASCII.
assert height(0) < height(59) and "#" in rows[-1], [height(c) for c in range(60)]
EOF
tm send-keys -t w q
quit_ok() { wait_for 10 test -s "$TTA_TMP/rc" && [ "$(cat "$TTA_TMP/rc")" = 0 ]; }
quit_ok && pass "ASCII: q quits with status 0" || fail "ASCII: q quits with status 0" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"

# ---- hostile names never reach the terminal raw ---------------------------------
start_writer H 'name ev\x1b]0;x\x07il' "alloc 1 0x99 64 dram" || exit 1
watch "hostile" C.UTF-8 80 || exit 1
tm send-keys -t w 3
wait_for 10 screen_has '\[3 processes\]'
shows "hostile: name shown sanitised" "ev\?\]0;x\?il"
tm send-keys -t w q
quit_ok && pass "hostile: q quits with status 0" || fail "hostile: q quits with status 0" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
kill_writer H

# ---- view 5: the driver's telemetry, on a fake host ------------------------------
# tests/sh/fake_host.py builds what tt-kmd and TT-Metal publish: device 0 of
# the segment is a Wormhole n150 at 45.125 C drawing 60 W, held by writer A
# and by a process that reports nothing; TT-Metal's segment for it holds
# another process's 2 MiB.
export SYSFS_ROOT=$TTA_TMP/host P2=4000002 P4=4000004
python3 - "$SYSFS_ROOT" "$here" <<'EOF' || fail "fake host built" "python3 failed"
import os, sys
sys.path.insert(0, sys.argv[2])
import fake_host as fh
root = sys.argv[1]
A, P2, P4 = (int(os.environ[k]) for k in ("pid_A", "P2", "P4"))
fh.device(root, 0, {"tt_card_type": "n150", "tt_serial": "0000000100000042", "tt_asic_id": "00000000000000A0",
                    "tt_aiclk": 1000, "tt_axiclk": 900, "tt_arcclk": 540, "tt_heartbeat": 12345},
          {"name": "wormhole", "temp1_input": 45125, "temp1_max": 75000, "in0_input": 800,
           "curr1_input": 75000, "power1_input": 60000000, "power1_max": 150000000})
fh.pids(root, 0, [A, P4])
fh.process(root, P4, "stray", 0)
fh.process(root, P2, "metal_run", 0)
fh.tt_metal(root, 0xA0, fh.segment(4, 0xA0, 0, (2 << 20, 0, 0, 0, 0), [(P2, b"metal_run", (2 << 20, 0, 0, 0, 0), 1)]))
EOF
hwmon=$(echo "$SYSFS_ROOT"/sys/devices/pci0000:00/0000:01:00.0/hwmon/hwmon*)
watch "sources" C.UTF-8 80 || exit 1
shows "sources, view 1: temperature and power beside the device" '^Device 0  Wormhole_B0  45\.1C  60W  1 process  5 buffers$'
shows "sources, view 1: TT-Metal's bytes beside tt-alloc's" '^  DRAM +2\.0GiB +2\.0MiB +12GiB +16\.7% '
shows "sources, view 1: each process marked with its source" "^ +0 +$pid_A +.*smi_watch_a +2\.0GiB .* tt-alloc\$"
shows "sources, view 1: TT-Metal's process" "^ +0 +$P2 +.*metal_run +2\.0MiB .* tt-metal\$"
shows "sources, view 1: the untracked process" "^ +0 +$P4 +.*stray +- .* untracked\$"
fits "sources, view 1: fits 80 columns" 80
key "view 5: key 5 opens the telemetry" 5 '\[5 telemetry\]'
shows "view 5: the device's node" '^Device 0 \(/dev/tenstorrent/0\)$'
shows "view 5: temperature, exact, with unit and file" '^  temperature_c +45\.125 +celsius +hwmon temp1_input$'
shows "view 5: power" '^  power_w +60\.0 +watts +hwmon power1_input$'
shows "view 5: voltage" '^  voltage_mv +800 +millivolts +hwmon in0_input$'
shows "view 5: AICLK" '^  aiclk_mhz +1000 +megahertz +tt_aiclk$'
fits "view 5: fits 80 columns" 80
# A new reading shows at the next frame (a key redraws at once).
echo 47250 >"$hwmon/temp1_input"
key "view 5: a new temperature at the next frame" 5 '^  temperature_c +47\.25 +celsius +hwmon temp1_input$'
tm resize-window -t w -x 60 -y 24
wait_for 10 screen_has '^  temperature_c +47\.25 +celsius$'
shows "view 5 at 60 columns: the file column goes first" '^  temperature_c +47\.25 +celsius$'
fits "view 5 at 60 columns: fits" 60
tm resize-window -t w -x 40 -y 24
wait_for 10 screen_has '^  temperature_c +47\.25$'
shows "view 5 at 40 columns: then the unit" '^  temperature_c +47\.25$'
fits "view 5 at 40 columns: fits" 40
shows "view 5 at 40 columns: the footer keeps every key and q whole" '^ 1  2  3  4 \[5\] q quit'

tm send-keys -t w q
quit_ok && pass "view 5: q quits with status 0" || fail "view 5: q quits with status 0" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
watch "--view telemetry" C.UTF-8 80 --view telemetry || exit 1
shows "--view telemetry: the watch opens on view 5" '\[5 telemetry\]'
shows "--view telemetry: its readings" '^  power_max_w +150\.0 +watts +hwmon power1_max$'
tm send-keys -t w q
quit_ok && pass "--view telemetry: q quits" || fail "--view telemetry: q quits" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
watch "-t" C.UTF-8 80 -t || exit 1
shows "-w -t: the watch opens on view 5" '\[5 telemetry\]'
tm send-keys -t w 1
wait_for 10 screen_has '\[1 main\]'
shows "-w -t: key 1 goes back to the main view" '^Device 0  Wormhole_B0  47\.2C  60W '
tm send-keys -t w q
quit_ok && pass "-w -t: q quits" || fail "-w -t: q quits" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
# No tt-alloc segment yet: the watch shows what the driver and TT-Metal
# report, and follows the segment (its events too) once a writer makes it.
late=${TT_ALLOC_SHM}_late
watch "no segment yet" C.UTF-8 80 -s "$late" --view events || exit 1
shows "no segment yet: said in the events view" '^No tt-alloc segment yet: no events to follow\.$'
key "no segment yet: the main view shows the sources" 1 '^Device 0  n150  47\.2C  60W  0 processes  0 buffers$'
TT_ALLOC_EVENTS=1 TT_ALLOC_SHM=$late start_writer L "name smi_late" "register 0" "alloc 0 0x1000 4096 dram" || exit 1
key "no segment yet: the segment once a writer made it" 1 "^ +0 +$pid_L +.*smi_late +4\.0KiB .* tt-alloc\$"
key "no segment yet: and its events" 4 "ALLOC +0 +$pid_L +(smi_late +)?DRAM +4\.0KiB"
tm send-keys -t w q
quit_ok && pass "no segment yet: q quits" || fail "no segment yet: q quits" "rc=$(cat "$TTA_TMP/rc" 2>/dev/null)"
kill_writer L
rm -f "/dev/shm$late"
unset SYSFS_ROOT

# ---- the charts from history writers really recorded ---------------------------
# No forging: a fresh segment, a writer that holds 1 GiB, then 2 GiB, each
# across a second boundary. Writers record a second's sample at its first
# change, so the history holds 0, then 1 GiB, and the live 2 GiB follows.
real=${TT_ALLOC_SHM}_real
TT_ALLOC_SHM=$real start_writer R "register 0" "alloc 0 0x1000 $GiB dram" || exit 1
sleep 1.2
send R "alloc 0 0x2000 $GiB dram"
sleep 1.2
LC_ALL=C "$SMI" -s "$real" --view charts >"$TTA_TMP/real.txt" 2>&1
python3 - "$TTA_TMP/real.txt" <<'EOF' && pass "charts: what the writers recorded, dots before the segment existed" || fail "charts: what the writers recorded, dots before the segment existed" "$(cat "$TTA_TMP/real.txt")"
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("Device 0"))
rows = []
for l in lines[start + 1:]:
    if l.startswith("L1"):
        break
    rows.append(l.split("|", 1)[1])
assert rows and all(len(r) == 60 for r in rows), rows
def height(col):
    return sum(1 for r in rows if r[col] not in " .")
bottom = rows[-1]
known = [c for c in range(60) if bottom[c] != "."]
# A segment a few seconds old: most of the minute is unknown.
assert 2 <= len(known) <= 10 and known == list(range(60 - len(known), 60)), bottom
assert height(59) == len(rows), [height(c) for c in known]
# 1 GiB of a 2 GiB scale: half the height, one second or more before now.
assert any(0 < height(c) < len(rows) for c in known), [height(c) for c in known]
EOF
kill_writer R
rm -f "/dev/shm$real"

# ---- frames: home, overwrite, clear to end of line; never a full clear ----------
# script(1) records every byte tt-smi writes over five frames.
SHELL=/bin/bash script -qec "'$SMI' -w -r 30 --count 5" /dev/null >"$TTA_TMP/raw.out" 2>&1 </dev/null
python3 - "$TTA_TMP/raw.out" <<'EOF' && pass "frames: one screen clear at start, then home and overwrite" || fail "frames: one screen clear at start, then home and overwrite" "$(head -c 600 "$TTA_TMP/raw.out" | cat -A)"
import sys
raw = open(sys.argv[1], "rb").read()
assert raw.count(b"\x1b[2J") == 1, raw.count(b"\x1b[2J")     # entering the screen only
assert raw.count(b"\x1b[?1049h") == 1 and raw.count(b"\x1b[?1049l") == 1
assert raw.count(b"\x1b[H") >= 5, raw.count(b"\x1b[H")          # each frame starts at home
assert raw.count(b"\x1b[K") >= 5 * 10 and raw.count(b"\x1b[J") >= 5
EOF

kill_writer A
kill_writer B
exit $tta_failed
