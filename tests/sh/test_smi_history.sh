#!/usr/bin/env bash
# tt-smi --history and --events end to end: real writers (helper_smi_writer)
# on a private segment, the real tt-smi, the real reaper; every JSON document
# and line parsed by Python. Also a segment made without the history and
# event regions, and the usage errors of the new options.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

SMI=$TTA_BUILD/tt-smi
WRITER=$TTA_BUILD/tests/helper_smi_writer

# The writers record every report in the event ring (start_writer of
# smi_lib.sh passes the environment on).
export TT_ALLOC_EVENTS=1
. "$here/smi_lib.sh" # start_writer, send, run_smi
# pycheck NAME PYTHON (this file's own): text = smi.out, and the memory type names.
pycheck() {
	local name=$1 code=$2 why
	if why=$(python3 - "$TTA_TMP/smi.out" 2>&1 <<PY
import json, os, sys, time
text = open(sys.argv[1], encoding="utf-8").read()
env = os.environ
TYPES = {"dram", "l1", "l1_small", "trace", "system", "cb", "kernel"}
$code
PY
	); then pass "$name"; else fail "$name" "$why"; fi
}

start_writer A "register 0" "alloc 0 0x800000000 524288 dram" "alloc 1 0x1000 4096 l1" \
	"cb 1 7 65536" "kernel 1 3 12288 2" || { fail writer_starts "$(cat "$TTA_TMP"/A.*)"; exit 1; }
# The history's newest sample is the total at the start of the current
# second: let one begin after the allocations.
sleep 1.1

# ---- --history --json ----------------------------------------------------
run_smi --history --json
check history_json_exit test "$rc" -eq 0
pycheck history_json_document '
d = json.loads(text)
h = d["history"]
assert h["interval_ms"] == 1000 and h["seconds"] == 600 and h["available"] is True, h
ids = [x["id"] for x in h["devices"]]
assert ids == sorted(ids) and 0 in ids and 1 in ids, ids
now = time.time()
for dev in h["devices"]:
    s = dev["samples"]
    assert 1 <= len(s) <= 600, len(s)
    ts = [x["t"] for x in s]
    assert all(isinstance(t, (int, float)) for t in ts)
    assert all(abs((b - a) - 1.0) < 0.002 for a, b in zip(ts, ts[1:])), "not 1 s apart, oldest first"
    assert now - 602 <= ts[0] and ts[-1] <= now + 0.01, (ts[0], ts[-1], now)
    for x in s:
        assert set(x["used"]) == TYPES and all(isinstance(v, int) for v in x["used"].values()), x
        assert x["total"] == sum(x["used"].values())
    assert set(dev["peak"]) == TYPES
d0 = next(x for x in h["devices"] if x["id"] == 0)
d1 = next(x for x in h["devices"] if x["id"] == 1)
assert d0["samples"][-1]["used"]["dram"] == 524288, d0["samples"][-1]
assert d1["samples"][-1]["used"] == {"dram": 0, "l1": 4096, "l1_small": 0, "trace": 0,
    "system": 0, "cb": 65536, "kernel": 12288}, d1["samples"][-1]
assert d0["samples"][0]["used"]["dram"] == 0, "before the writer: nothing"
assert d0["peak"]["dram"] == 524288 and d1["peak_total"] == 4096 + 65536 + 12288'

run_smi --history 5 --json --device 1
pycheck history_span_and_device_filter '
h = json.loads(text)["history"]
assert h["seconds"] == 5 and [x["id"] for x in h["devices"]] == [1], h
assert len(h["devices"][0]["samples"]) <= 5'
run_smi --history=3 --json
pycheck history_equals_form 'assert json.loads(text)["history"]["seconds"] == 3'

# A change shows up in the next second's sample.
send A "free 0 0x800000000"
sleep 1.1
run_smi --history 20 --json --device 0
pycheck history_follows_a_free '
s = json.loads(text)["history"]["devices"][0]["samples"]
assert s[-1]["used"]["dram"] == 0 and any(x["used"]["dram"] == 524288 for x in s), s'

run_smi --history 30
check history_text_exit test "$rc" -eq 0
if grep -Eq '^Device 0: [0-9]+ samples \([0-9]+ recorded\), peak total 512KiB$' "$TTA_TMP/smi.out" &&
	grep -q '^History: last 30 s, one sample every 1000 ms$' "$TTA_TMP/smi.out"; then
	pass history_text; else fail history_text "$(cat "$TTA_TMP/smi.out")"; fi
run_smi --history 3600 --json
pycheck history_coarse_tier '
h = json.loads(text)["history"]
assert h["interval_ms"] == 60000 and h["seconds"] == 3600, h'

# ---- --events --------------------------------------------------------------
run_smi --events --json --from-start --count 5
check events_json_exit test "$rc" -eq 0
pycheck events_json_lines '
lines = [json.loads(l) for l in text.splitlines()]
assert len(lines) == 5, lines
for e in lines:
    for k in ("t", "event", "pid", "device", "type", "address", "size"):
        assert k in e, (k, e)
    assert e["event"] in ("alloc", "free", "cb_alloc", "cb_free", "kernel_load", "attach", "exit", "reap")
pid = int(env["pid_A"])
assert [e["event"] for e in lines] == ["attach", "alloc", "alloc", "cb_alloc", "kernel_load"], lines
assert lines[0]["pid"] == pid and lines[0]["device"] is None
a = lines[1]
assert (a["pid"], a["device"], a["type"], a["address"], a["size"]) == (pid, 0, "dram", 0x800000000, 524288), a
assert lines[4]["kernel_kind"] == "dispatch" and lines[4]["type"] == "kernel"
ts = [e["t"] for e in lines]
assert ts == sorted(ts) and abs(ts[0] - time.time()) < 60'

run_smi --events --json --from-start --count 1 --device 1 --pid "$pid_A"
pycheck events_filters '
e = json.loads(text)
assert (e["event"], e["device"], e["size"], e["pid"]) == ("alloc", 1, 4096, int(env["pid_A"])), e'
run_smi --events --from-start --count 2
if sed -n 2p "$TTA_TMP/smi.out" | grep -Eq "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} \[Device 0\] ALLOC: 524288 bytes DRAM by PID $pid_A \(buffer 0x800000000\)$"; then
	pass events_text_old_server_style; else fail events_text_old_server_style "$(cat "$TTA_TMP/smi.out")"; fi

# Live: a follower started now sees what happens next, and ends on SIGTERM.
"$SMI" --events --json >"$TTA_TMP/live.out" 2>"$TTA_TMP/live.err" &
live=$!
seen_live() { send A "alloc 0 0x42000 100 trace" "free 0 0x42000"; grep -q '"size": 100' "$TTA_TMP/live.out"; }
if wait_for 10 seen_live; then pass events_follow_live; else fail events_follow_live "$(cat "$TTA_TMP/live.*")"; fi
start_writer B "alloc 2 0x9000 3000 dram" "alloc 2 0xa000 1000 l1" || fail writer_b_starts "$(cat "$TTA_TMP"/B.*)"
kill -9 "$pid_B"; wait "$pid_B" 2>/dev/null
"$TTA_BUILD/tt-alloc-reaper" --once >"$TTA_TMP/reaper.out" 2>&1
reaped_live() { grep -q '"event": "reap"' "$TTA_TMP/live.out"; }
wait_for 10 reaped_live
kill -TERM "$live"; wait "$live"; live_rc=$?
check events_sigterm_ends_cleanly test "$live_rc" -eq 0
cp "$TTA_TMP/live.out" "$TTA_TMP/smi.out"
pycheck events_reap_with_leak_summary '
lines = [json.loads(l) for l in text.splitlines()]
pid = int(env["pid_B"])
reaps = [e for e in lines if e["event"] == "reap" and e["pid"] == pid]
assert len(reaps) == 1, lines
r = reaps[0]
assert (r["device"], r["buffers"], r["size"]) == (2, 2, 4000), r
assert any(e["event"] == "attach" and e["pid"] == pid for e in lines)'

# ---- a segment without the new regions --------------------------------------
old_shm=$TT_ALLOC_SHM
export TT_ALLOC_SHM="${old_shm}_core"
trap 'rm -f "/dev/shm$TT_ALLOC_SHM"; tta_cleanup' EXIT
"$TTA_BUILD/tests/helper_core_segment"
run_smi --history --json
pycheck history_without_region '
assert json.loads(text) == {"history": {"interval_ms": 1000, "seconds": 600, "available": False, "devices": []}}, text'
timeout 1 "$SMI" --events >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
if grep -q "has no event ring" "$TTA_TMP/smi.err"; then pass events_without_ring; else
	fail events_without_ring "$(cat "$TTA_TMP/smi.err")"; fi
run_smi --json
pycheck snapshot_without_peak_region '
d = json.loads(text)
assert d["segment"]["regions"] == 7 and all(p["peak"] == p["used"] for p in d["processes"]), d'
rm -f "/dev/shm$TT_ALLOC_SHM"
export TT_ALLOC_SHM=$old_shm

# ---- usage -------------------------------------------------------------------
check_option_error usage_history_span "invalid history span '0'" "$SMI" --history 0
check_option_error usage_history_word "unexpected argument 'abc'" "$SMI" --history abc
check_option_error usage_from_start "--from-start only applies to --events" "$SMI" --from-start
check_option_error usage_two_modes "choose one of" "$SMI" --history --events
check_option_error usage_buffers "--buffers does not apply" "$SMI" --events --buffers
check_option_error usage_history_pid "--pid does not apply to --history" "$SMI" --history --pid 1
exit $tta_failed
