#!/usr/bin/env bash
# tt-alloc-exporter end to end: the real daemon on loopback, real tracked
# processes (tests/helper_smi_writer) on a private segment. What a user and
# Prometheus rely on: exact figures per device, type and process; a strict
# parse of the exposition (and promtool's); escaped hostile names; the same
# JSON as tt-smi --json; memory by tag, capped; a missing, replaced, truncated or corrupted segment
# never taking it down; malformed HTTP answered with 4xx; SIGTERM ending it
# cleanly; the Grafana dashboard asking only for metrics it serves.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/exporter_lib.sh"

SMI=$TTA_BUILD/tt-smi
SEG_FILE=/dev/shm$TT_ALLOC_SHM
extra_segments=()
trap 'for s in "${extra_segments[@]}"; do rm -f "/dev/shm$s"; done; tta_cleanup' EXIT
need_tool exporter_needs_promtool promtool prometheus

# pycheck NAME PYTHON [VAR=VALUE...]: runs PYTHON with `ex`
# (tests/sh/exporter.py) and the variables in `env`; PASS if it exits 0.
pycheck() {
	local name=$1 code=$2 why
	shift 2
	if why=$(env "$@" python3 - 2>&1 <<EOF
import json, os, sys
sys.path.insert(0, os.path.dirname(os.environ["EXPORTER_PY"]))
import exporter as ex
env = os.environ
$code
EOF
	); then pass "$name"; else fail "$name" "$why"; fi
}

# metric_is NAME WANT METRIC [LABEL=VALUE...]: the series has WANT now.
metric_is() { local n=$1 want=$2; shift 2; [ "$(metric_value "$n" "$@")" = "$want" ]; }
# wait_metric NAME WANT METRIC [LABEL=VALUE...]: until the series has WANT.
wait_metric() { wait_for 10 metric_is "$@"; }
# expect NAME WANT METRIC [LABEL=VALUE...]: the series has exactly WANT now.
expect() {
	local test=$1 n=$2 want=$3 got; shift 3
	got=$(metric_value "$n" "$@")
	if [ "$got" = "$want" ]; then pass "$test"; else fail "$test" "$* = '$got', wanted $want"; fi
}
promtool_ok() { # NAME EXPORTER: promtool's parser and lint accept /metrics
	local out
	if out=$(python3 "$EXPORTER_PY" get "$(url "$2" /metrics)" | promtool check metrics 2>&1); then
		pass "$1"
	else
		fail "$1" "$out"
	fi
}

# ---- usage -------------------------------------------------------------------
check_version "version:" "$EXPORTER"
out=$("$EXPORTER" --help 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q -- '--listen ADDR:PORT' <<<"$out" && grep -q 19400 <<<"$out"; then
	pass help_names_listen_and_default_port
else
	fail help_names_listen_and_default_port "rc=$rc $out"
fi
check_option_error "bad option: --bogus" "unknown option '--bogus'" "$EXPORTER" --bogus
check_option_error "bad option: -l needs an argument" "option '-l' needs an argument" "$EXPORTER" -l
check_option_error "bad --listen without a port" "invalid --listen '127.0.0.1'" "$EXPORTER" --listen 127.0.0.1
check_option_error "bad --listen port" "invalid --listen ':70000'" "$EXPORTER" --listen :70000
check_option_error "bad --max-connections" "invalid --max-connections '0'" "$EXPORTER" --max-connections 0
check_option_error "extra argument" "unexpected argument 'x'" "$EXPORTER" x
check_option_error "bad --max-tags" "invalid --max-tags '0' (1..1000)" "$EXPORTER" --max-tags 0
check_option_error "--max-tags with --no-tag-metrics" \
	"--max-tags and --no-tag-metrics contradict each other" "$EXPORTER" --no-tag-metrics --max-tags 5

# ---- no segment: tt_alloc_up 0, a page that says so, nothing fatal ---------------
start_exporter down || exit 1
pycheck no_segment_metrics_say_up_0 '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
assert status == 200, status
assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
s = {ex.series_key(n, l): v for n, l, v in ex.parse(body)}
assert s["tt_alloc_up"] == 0, s
assert s["tt_alloc_exporter_build_info{api_version=\"2\",version=\"%s\"}" % env["V"]] == 1, s
assert not any(k.startswith("tt_alloc_device") for k in s), s
' P=${EXP_PORT[down]} V=$(sed -n 's/^TTA_VERSION *:= *//p' "$TTA_SRC/Makefile")
promtool_ok no_segment_promtool_accepts down
pycheck no_segment_snapshot_is_503_json_with_the_reason '
status, headers, body = ex.get("http://127.0.0.1:%s/api/snapshot" % env["P"])
assert status == 503, status
d = json.loads(body)
assert d["up"] is False and d["segment"] == env["TT_ALLOC_SHM"], d
assert "no tt-alloc segment" in d["error"], d
' P=${EXP_PORT[down]}
pycheck dashboard_page_and_files_served '
base = "http://127.0.0.1:%s" % env["P"]
status, h, body = ex.get(base + "/")
assert status == 200 and h["Content-Type"].startswith("text/html"), (status, h)
csp = h["Content-Security-Policy"]
assert "script-src '"'"'self'"'"'" in csp and "unsafe-inline" not in csp, csp
assert h["X-Content-Type-Options"] == "nosniff"
assert b"<script src=\"app.js\"" in body
for path, ctype in (("/app.js", "text/javascript"), ("/style.css", "text/css"),
                    ("/favicon.svg", "image/svg+xml"), ("/index.html", "text/html")):
    status, h, body = ex.get(base + path)
    assert status == 200 and h["Content-Type"].startswith(ctype) and body, (path, status, h)
assert ex.get(base + "/nope")[0] == 404
assert ex.get(base + "/api")[0] == 404
' P=${EXP_PORT[down]}
for i in 1 2 3; do fetch down /metrics >/dev/null; done
n=$(grep -c 'no tt-alloc segment' "$TTA_TMP/exporter_down.log")
if [ "$n" -eq 1 ]; then pass missing_segment_logged_once; else fail missing_segment_logged_once "$n lines"; fi

# ---- the segment appears: picked up, exact figures ---------------------------
writer_start a -- "name work_a" "register 0 wormhole 72" "register 1 blackhole 140" \
	"alloc 0 0x1000 1048576 dram" "alloc 0 0x2000 65536 l1" "alloc 1 0x3000 4096 trace" \
	"cb 0 7 12288" "kernel 0 9 2048" || exit 1
if wait_metric down 1 tt_alloc_up; then pass segment_picked_up_when_it_appears; else
	fail segment_picked_up_when_it_appears "$(cat "$TTA_TMP/exporter_down.log")"; fi
stop_exporter down
start_exporter e || exit 1
P=${EXP_PORT[e]}
A=${WRITER_PID[a]}
expect device0_dram_exact e 1048576 tt_alloc_device_used_bytes device=0 type=dram
expect device0_l1_exact e 65536 tt_alloc_device_used_bytes device=0 type=l1
expect device0_cb_exact e 12288 tt_alloc_device_used_bytes device=0 type=cb
expect device0_kernel_exact e 2048 tt_alloc_device_used_bytes device=0 type=kernel
expect device0_trace_zero e 0 tt_alloc_device_used_bytes device=0 type=trace
expect device1_trace_exact e 4096 tt_alloc_device_used_bytes device=1 type=trace
expect device0_capacity_dram e $((12 << 30)) tt_alloc_device_capacity_bytes device=0 type=dram
expect device0_capacity_l1 e $((1464 * 1024 * 72)) tt_alloc_device_capacity_bytes device=0 type=l1
expect device1_capacity_dram e $((32 << 30)) tt_alloc_device_capacity_bytes device=1 type=dram
expect device0_buffers_kernels_not_counted e 3 tt_alloc_device_buffers device=0
expect device0_processes e 1 tt_alloc_device_processes device=0
expect device0_arch_label e 1048576 tt_alloc_device_used_bytes device=0 type=dram arch=Wormhole_B0
expect device1_arch_label e 4096 tt_alloc_device_used_bytes device=1 type=trace arch=Blackhole
expect process_dram_exact e 1048576 tt_alloc_process_used_bytes device=0 pid="$A" process=work_a type=dram
expect process_peak_series e 1048576 tt_alloc_process_peak_bytes device=0 pid="$A" process=work_a type=dram
expect process_buffers e 3 tt_alloc_process_buffers device=0 pid="$A" process=work_a
expect live_processes_gauge e 1 tt_alloc_live_processes
expect segment_opened_once e 1 tt_alloc_exporter_segment_opens_total
promtool_ok live_promtool_accepts e

# Every device figure and every counter of the counter table equals
# tt-smi --json's at the same quiet moment; counters are counters.
"$SMI" --json >"$TTA_TMP/smi.json"
pycheck metrics_equal_tt_smi_json_and_counter_table '
smi = json.load(open(env["TTA_TMP"] + "/smi.json"))
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
samples = ex.parse(body)
types = {}
for line in body.decode().splitlines():
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        types[name] = kind
for name, value in smi["segment"]["counters"].items():
    if "tt_alloc_%s_total" % name in types:
        assert types["tt_alloc_%s_total" % name] == "counter"
        metric = "tt_alloc_%s_total" % name
    else:
        assert types.get("tt_alloc_" + name) == "gauge", name
        metric = "tt_alloc_" + name
    got = [v for n, l, v in samples if n == metric]
    assert got == [value], (metric, got, value)
for d in smi["devices"]:
    for t, value in d["used"].items():
        got = [v for n, l, v in samples if n == "tt_alloc_device_used_bytes"
               and l["device"] == str(d["id"]) and l["type"] == t]
        assert got == [value], (d["id"], t, got, value)
assert sum(1 for n, l, v in samples if n == "tt_alloc_device_used_bytes") == 7 * len(smi["devices"])
' P=$P TTA_TMP=$TTA_TMP

# /api/snapshot is tt-smi --json: the same document but for who wrote it and when.
fetch e /api/snapshot >"$TTA_TMP/api.json"
"$SMI" --json >"$TTA_TMP/smi.json"
pycheck api_snapshot_is_tt_smi_json '
api = json.load(open(env["TTA_TMP"] + "/api.json"))
smi = json.load(open(env["TTA_TMP"] + "/smi.json"))
assert api["tool"]["name"] == "tt-alloc-exporter" and smi["tool"]["name"] == "tt-smi"
for d in (api, smi):
    del d["tool"], d["timestamp_ns"]
    del d["segment"]["reaper"]["heartbeat_age_ms"]
assert api == smi, (api, smi)
' TTA_TMP=$TTA_TMP

# ---- untrusted process names: escaped labels, nothing lost, nothing broken -----
writer_start q -- 'name a"b\\c\x0ad' "alloc 0 0x9000 4096 dram" || exit 1
writer_start i -- 'name <img\x20src=x>' "alloc 0 0xa000 8192 dram" || exit 1
writer_start z -- 'name \x1b[2J\xff\x01' "alloc 0 0xb000 16384 dram" || exit 1
pycheck hostile_names_escaped_exactly '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
names = {l["pid"]: l["process"] for n, l, v in ex.parse(body) if n == "tt_alloc_process_used_bytes"}
assert names[env["Q"]] == "a\"b\\c\nd", repr(names[env["Q"]])
assert names[env["I"]] == "<img src=x>", repr(names[env["I"]])
assert names[env["Z"]] == "?[2J??", repr(names[env["Z"]])
assert b"process=\"a\\\"b\\\\c\\nd\"" in body
' P=$P Q=${WRITER_PID[q]} I=${WRITER_PID[i]} Z=${WRITER_PID[z]}
promtool_ok hostile_names_promtool_accepts e
expect hostile_bytes_still_counted e $((1048576 + 4096 + 8192 + 16384)) tt_alloc_device_used_bytes device=0 type=dram

# ---- per-process series: off on request, gone with the process ---------------
start_exporter noproc --no-process-metrics || exit 1
pycheck no_process_metrics_flag '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
names = {n for n, l, v in ex.parse(body)}
assert "tt_alloc_device_used_bytes" in names
assert not any(n.startswith("tt_alloc_process_") for n in names), names
' P=${EXP_PORT[noproc]}
stop_exporter noproc
writer_send z detach
pycheck process_series_vanish_with_the_process '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
pids = {l.get("pid") for n, l, v in ex.parse(body) if n.startswith("tt_alloc_process_")}
assert env["Z"] not in pids and env["Q"] in pids, pids
' P=$P Q=${WRITER_PID[q]} Z=${WRITER_PID[z]}

# ---- history and events --------------------------------------------------------
pycheck api_history_is_the_history_json '
base = "http://127.0.0.1:%s" % env["P"]
status, headers, body = ex.get(base + "/api/history")
assert status == 200 and headers["Content-Type"] == "application/json", status
h = json.loads(body)["history"]
assert h["interval_ms"] in (1000, 60000) and h["seconds"] == 600 and isinstance(h["devices"], list), h
assert json.loads(ex.get(base + "/api/history?seconds=30")[2])["history"]["seconds"] == 30
for bad in ("abc", "0", "-5", "999999999"):
    assert ex.get(base + "/api/history?seconds=" + bad)[0] == 400, bad
' P=$P
pycheck api_events_stream_opens_with_status '
import socket
s = socket.create_connection(("127.0.0.1", int(env["P"])), timeout=10)
s.sendall(b"GET /api/events?kinds=attach,exit,reap HTTP/1.1\r\nHost: t\r\n\r\n")
data = b""
while b"event: status" not in data or b"\n\n" not in data.split(b"event: status", 1)[1]:
    d = s.recv(4096)
    assert d, data
    data += d
s.close()
head, body = data.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head
st = json.loads(body.split(b"event: status\ndata: ", 1)[1].split(b"\n", 1)[0])
assert st["up"] is True and st["segment"] == env["TT_ALLOC_SHM"], st
base = "http://127.0.0.1:%s" % env["P"]
assert ex.get(base + "/api/events?kinds=bogus")[0] == 400
assert ex.get(base + "/api/events?backlog=x")[0] == 400
' P=$P

# ---- processes that died unreaped (no reaper here): the exited_processes gauge
# (from a snapshot with process details at most 5 s old) -------------------------
for w in a q i; do writer_kill "$w"; done
if wait_metric e 3 tt_alloc_exited_processes && [ "$(metric_value e tt_alloc_live_processes)" = 3 ]; then
	pass exited_processes_gauge
else
	fail exited_processes_gauge "exited $(metric_value e tt_alloc_exited_processes), live $(metric_value e tt_alloc_live_processes)"
fi

# ---- the event stream follows the segment's ring: attach, alloc (opt-in), exit,
# and the reap of a process killed holding memory, with its leak --------------------
pycheck api_events_attach_alloc_exit_reap '
import socket, subprocess, time
s = socket.create_connection(("127.0.0.1", int(env["P"])), timeout=20)
s.sendall(b"GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n")
buf = b""
def events(until, timeout=15):
    """Reads SSE messages until UNTIL(list of events) is true."""
    global buf
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        while b"\n\n" in buf:
            msg, buf = buf.split(b"\n\n", 1)
            for line in msg.split(b"\n"):
                if line.startswith(b"data: {\"t\""):
                    got.append(json.loads(line[6:]))
            if until(got):
                return got
        buf += s.recv(65536)
    raise AssertionError("stream ended or timed out; got %r" % got[-5:])
while b"\"events\": true" not in buf:
    buf += s.recv(65536)
buf = buf.split(b"\"events\": true}\n\n", 1)[1]
run = dict(os.environ, TT_ALLOC_TRACKING_ENABLED="1", TT_ALLOC_EVENTS="1")
w1 = subprocess.Popen([env["WRITER"], "name ev_one", "alloc 0 0xe000 12288 l1", "alloc 0 0xf000 4096 dram"],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=run)
assert w1.stdout.readline() == b"ready\n"
got = events(lambda g: sum(1 for e in g if e["pid"] == w1.pid) >= 3)
mine = [e for e in got if e["pid"] == w1.pid]
assert [e["event"] for e in mine[:3]] == ["attach", "alloc", "alloc"], mine
assert mine[1]["device"] == 0 and mine[1]["type"] == "l1" and mine[1]["size"] == 12288, mine
w1.kill(); w1.wait()
# A writer that attaches reaps the dead one (no reaper runs here): its leak comes as a reap event.
w2 = subprocess.Popen([env["WRITER"], "alloc 0 0x10 1 dram", "detach"], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, env=run)
assert w2.stdout.readline().startswith(b"detached ")
got = events(lambda g: any(e["event"] == "reap" and e["pid"] == w1.pid for e in g) and
                        any(e["event"] == "exit" and e["pid"] == w2.pid for e in g))
reap = [e for e in got if e["event"] == "reap" and e["pid"] == w1.pid]
assert len(reap) == 1 and reap[0]["device"] == 0 and reap[0]["size"] == 16384 and reap[0]["buffers"] == 2, reap
w2.stdin.close(); w2.wait()
s.close()
' P=$P WRITER=$WRITER
"$SMI" --history 60 --json >"$TTA_TMP/hist_smi.json"
fetch e "/api/history?seconds=60" >"$TTA_TMP/hist_api.json"
pycheck api_history_equals_tt_smi_history '
a = json.load(open(env["TTA_TMP"] + "/hist_api.json"))["history"]
b = json.load(open(env["TTA_TMP"] + "/hist_smi.json"))["history"]
assert a["available"] is True and a["interval_ms"] == b["interval_ms"] == 1000, a
assert [d["id"] for d in a["devices"]] == [d["id"] for d in b["devices"]] == [0, 1], (a, b)
for da, db in zip(a["devices"], b["devices"]):
    assert da["peak"] == db["peak"], (da["peak"], db["peak"])
    assert da["samples"] and all(set(x) == {"t", "used", "total"} for x in da["samples"])
    # The same instants hold the same figures (the last instant of each
    # is the current second, which may still change between the two reads).
    sa = {x["t"]: x["used"] for x in da["samples"][:-1]}
    sb = {x["t"]: x["used"] for x in db["samples"][:-1]}
    common = set(sa) & set(sb)
    assert len(common) >= 5, len(common)  # the segment is seconds old
    assert all(sa[t] == sb[t] for t in common), [(t, sa[t], sb[t]) for t in common if sa[t] != sb[t]][:3]
' TTA_TMP=$TTA_TMP

# ---- a replaced segment is followed ------------------------------------------------
writer_kill z
rm -f "$SEG_FILE"
writer_start b -- "register 0 wormhole 72" "alloc 0 0x1000 777 dram" || exit 1
if wait_metric e 777 tt_alloc_device_used_bytes device=0 type=dram &&
	[ "$(metric_value e tt_alloc_exporter_segment_opens_total)" = 2 ] &&
	grep -q "was replaced: opening it again" "$TTA_TMP/exporter_e.log"; then
	pass replaced_segment_followed
else
	fail replaced_segment_followed "opens $(metric_value e tt_alloc_exporter_segment_opens_total); $(cat "$TTA_TMP/exporter_e.log")"
fi
writer_kill b

# ---- hostile segments: never a crash -------------------------------------------------
# (a) not a segment at all
G=/tta_exp_garbage_$$; extra_segments+=("$G")
head -c 1000000 /dev/urandom >"/dev/shm$G"
start_exporter garbage -s "$G" || exit 1
expect garbage_segment_is_up_0 garbage 0 tt_alloc_up
if grep -q "not a tt-alloc segment\|contradicts\|refused\|invalid" "$TTA_TMP/exporter_garbage.log"; then
	pass garbage_segment_reason_logged; else fail garbage_segment_reason_logged "$(cat "$TTA_TMP/exporter_garbage.log")"; fi
stop_exporter garbage
# (b) truncated under the exporter; (c) its body overwritten with random bytes
T=/tta_exp_trunc_$$; extra_segments+=("$T")
writer_start t "$T" -- "register 0 wormhole 72" "alloc 0 0x1000 4096 dram" || exit 1
start_exporter trunc -s "$T" || exit 1
wait_metric trunc 4096 tt_alloc_device_used_bytes device=0 type=dram
writer_kill t
size=$(stat -c %s "/dev/shm$T")
python3 - "/dev/shm$T" "$size" <<'EOF'
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1234)
with open(path, "r+b") as f:
    # keep the first page (header, region directory), scramble the rest
    for off in range(4096, min(size, 8 << 20), 4096):
        f.seek(off)
        f.write(bytes(rnd.getrandbits(8) for _ in range(64)))
EOF
pycheck scrambled_segment_served_valid_metrics '
base = "http://127.0.0.1:%s" % env["P"]
for i in range(20):
    status, headers, body = ex.get(base + "/metrics")
    assert status == 200 and ex.parse(body), status
    for path in ("/api/snapshot", "/api/history"):
        status, headers, body = ex.get(base + path)
        assert status in (200, 503) and json.loads(body), (path, status)
' P=${EXP_PORT[trunc]}
kill -0 "${EXP_PID[trunc]}" || fail scrambled_segment_exporter_alive "$(tail -5 "$TTA_TMP/exporter_trunc.log")"
truncate -s 8192 "/dev/shm$T"
if wait_metric trunc 0 tt_alloc_up && kill -0 "${EXP_PID[trunc]}"; then pass truncated_segment_is_up_0_no_crash; else
	fail truncated_segment_is_up_0_no_crash "$(tail -5 "$TTA_TMP/exporter_trunc.log")"; fi
stop_exporter trunc
if [ $rc -eq 0 ]; then pass hostile_segments_exit_clean; else fail hostile_segments_exit_clean "rc=$rc"; fi

# ---- malformed and oversized HTTP: 4xx, never a crash ---------------------------------
start_exporter http --idle-timeout 2 || exit 1
pycheck bad_requests_get_4xx '
port = int(env["P"])
cases = {
    "no Host": b"GET / HTTP/1.1\r\n\r\n",
    "long URI": b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "huge headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(100)) + b"\r\n",
    "POST": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc",
    "DELETE": b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad Content-Length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "bad protocol": b"GET / FOO/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n\r\n",
    "NUL in path": b"GET /x\x00y HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad query": b"GET /api/history?seconds=%ff%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown path": b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
}
for name, data in cases.items():
    st = ex.status_of(ex.raw(port, data))
    assert st is not None and 400 <= st < 500, (name, st)
# Not HTTP at all: nothing to answer; the connection is closed (no 2xx, no crash).
for name, data in {"one word": b"GARBAGE\r\n\r\n", "binary": bytes(range(256)) * 64}.items():
    st = ex.status_of(ex.raw(port, data))
    assert st is None or 400 <= st < 500, (name, st)
# Another HTTP version: 505, the status RFC 9110 defines for it.
assert ex.status_of(ex.raw(port, b"GET / HTTP/3.7\r\nHost: x\r\n\r\n")) == 505
# A client that sends nothing is disconnected after the idle timeout.
import socket, time
s = socket.create_connection(("127.0.0.1", port), timeout=15)
assert s.recv(10) == b""
s.close()
status, headers, body = ex.get("http://127.0.0.1:%d/metrics" % port)
assert status == 200 and ex.parse(body), status
status, headers, body = ex.get("http://127.0.0.1:%d/metrics" % port)
' P=${EXP_PORT[http]}
if kill -0 "${EXP_PID[http]}" 2>/dev/null; then pass alive_after_bad_requests; else fail alive_after_bad_requests; fi

# ---- SIGTERM ends it cleanly, event streams included ----------------------------------
python3 - "${EXP_PORT[http]}" >"$TTA_TMP/stream.out" 2>&1 <<'EOF' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n")
data = s.recv(4096)
print("open", flush=True)
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print("closed" if data.startswith(b"HTTP/1.1 200") else "unexpected: %r" % data[:200])
EOF
reader=$!
wait_for 10 grep -q '^open$' "$TTA_TMP/stream.out"
stop_exporter http
wait "$reader"
if [ $rc -eq 0 ] && grep -q '^closed$' "$TTA_TMP/stream.out" && grep -q 'stopped$' "$TTA_TMP/exporter_http.log"; then
	pass sigterm_ends_cleanly_with_open_stream
else
	fail sigterm_ends_cleanly_with_open_stream "rc=$rc $(cat "$TTA_TMP/stream.out") $(tail -3 "$TTA_TMP/exporter_http.log")"
fi

# ---- listening: a port in use is a clear error; IPv6 ------------------------------------
out=$("$EXPORTER" --listen "127.0.0.1:${EXP_PORT[e]}" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "cannot listen on 127.0.0.1:${EXP_PORT[e]}: Address already in use" <<<"$out"; then
	pass port_in_use_is_a_clear_error; else fail port_in_use_is_a_clear_error "rc=$rc $out"; fi
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	: >"$TTA_TMP/v6.log"
	"$EXPORTER" --listen '[::1]:0' 2>"$TTA_TMP/v6.log" &
	v6=$!
	if wait_for 10 grep -q 'listening on http://\[::1\]:' "$TTA_TMP/v6.log"; then
		port=$(sed -n 's|.*http://\[::1\]:\([0-9]*\)/.*|\1|p' "$TTA_TMP/v6.log")
		if python3 "$EXPORTER_PY" get "http://[::1]:$port/metrics" | grep -q '^tt_alloc_up '; then
			pass ipv6_listen; else fail ipv6_listen; fi
	else
		fail ipv6_listen "$(cat "$TTA_TMP/v6.log")"
	fi
	kill -TERM "$v6"; wait "$v6"
else
	echo "NOTE no IPv6 loopback on this machine: [::1] listening not tested"
fi

# ---- memory by tag (tta_set_tag): exact per tag, capped, escaped ------------------
# Two writers on a segment of their own; the same tag in two processes is one
# series; a writer's literal "(untagged)" is the untagged series, not a second
# one; the hostile tag holds a quote, a backslash, a line feed and an escape.
TG=/tta_exp_tags_$$; extra_segments+=("$TG")
writer_start tg1 "$TG" -- "register 0 wormhole 72" "register 1 blackhole 140" \
	"tag weights" "alloc 0 0x100000 1048576 dram" "alloc 0 0x200000 1048576 dram" \
	"alloc 0 0x300000 1048576 dram" "alloc 1 0x100000 8192 trace" \
	"tag kv_cache" "alloc 0 0x1000000 4194304 dram" "alloc 0 0x2000000 4194304 dram" \
	"alloc 0 0x3000000 65536 l1" "kernel 0 5 2048" "cb 0 3 12288" \
	"tag" "alloc 0 0x4000000 4096 dram" \
	'tag q"b\\c\x0ad\x1b' "alloc 0 0x5000000 512 l1" || exit 1
writer_start tg2 "$TG" -- "tag weights" "alloc 0 0x100000 1048576 dram" \
	"tag (untagged)" "alloc 0 0x200000 100 dram" || exit 1
start_exporter tags -s "$TG" || exit 1
expect tag_weights_summed_over_processes tags $((4 << 20)) tt_alloc_tag_used_bytes device=0 tag=weights type=dram
expect tag_kv_cache_dram tags $((8 << 20)) tt_alloc_tag_used_bytes device=0 tag=kv_cache type=dram
expect tag_kv_cache_l1 tags 65536 tt_alloc_tag_used_bytes device=0 tag=kv_cache type=l1
expect tag_kv_cache_kernel tags 2048 tt_alloc_tag_used_bytes device=0 tag=kv_cache type=kernel
expect tag_kv_cache_cb tags 12288 tt_alloc_tag_used_bytes device=0 tag=kv_cache type=cb
expect tag_untagged_one_series tags 4196 tt_alloc_tag_used_bytes device=0 tag="(untagged)" type=dram
expect tag_device1_trace tags 8192 tt_alloc_tag_used_bytes device=1 tag=weights type=trace
pycheck tag_series_exact_escaped_and_adding_up '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
samples = ex.parse(body)
tags = [(l, v) for n, l, v in samples if n == "tt_alloc_tag_used_bytes"]
keys = [ex.series_key("t", l) for l, v in tags]
assert len(keys) == len(set(keys)), "duplicate series"
assert all(set(l) == {"device", "tag", "type"} for l, v in tags), tags
got = {(l["device"], l["tag"], l["type"]): v for l, v in tags}
hostile = "q\"b\\c\nd?"
assert got == {
    ("0", "weights", "dram"): 4 << 20, ("0", "kv_cache", "dram"): 8 << 20,
    ("0", "kv_cache", "l1"): 65536, ("0", "kv_cache", "kernel"): 2048, ("0", "kv_cache", "cb"): 12288,
    ("0", "(untagged)", "dram"): 4196, ("0", hostile, "l1"): 512, ("1", "weights", "trace"): 8192,
}, got
assert b"tag=\"q\\\"b\\\\c\\nd?\"" in body, body
# In order: a device, then its largest tag first.
order = [(l["device"], l["tag"]) for l, v in tags]
assert order.index(("0", "kv_cache")) < order.index(("0", "weights")) < order.index(("0", "(untagged)")) < order.index(("0", hostile)) < order.index(("1", "weights")), order
# Per device and type, the tags add up to the device figure of the same scrape.
for n, l, v in samples:
    if n == "tt_alloc_device_used_bytes":
        s = sum(x for (d, t, ty), x in got.items() if d == l["device"] and ty == l["type"])
        assert s == v, (l, s, v)
' P=${EXP_PORT[tags]}
promtool_ok tag_series_promtool_accepts tags
# Freed: a tag's series of a type goes with its last buffer of that type.
writer_send tg1 "free 0 0x5000000" "free 0 0x3000000"
pycheck tag_series_go_with_their_memory '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
got = {(l["tag"], l["type"]) for n, l, v in ex.parse(body) if n == "tt_alloc_tag_used_bytes"}
assert ("kv_cache", "dram") in got and ("kv_cache", "l1") not in got, got
assert not any(t.startswith("q") for t, ty in got), got
' P=${EXP_PORT[tags]}
writer_send tg1 'tag q"b\\c\x0ad\x1b' "alloc 0 0x5000000 512 l1"
# The cap: the 2 largest tags of each device keep their series, the rest are
# summed into "(other)", which a device under the cap does not have.
start_exporter tagcap -s "$TG" --max-tags 2 || exit 1
pycheck tag_cap_sums_the_rest_into_other '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
got = {(l["device"], l["tag"], l["type"]): v for n, l, v in ex.parse(body) if n == "tt_alloc_tag_used_bytes"}
assert got == {
    ("0", "kv_cache", "dram"): 8 << 20, ("0", "kv_cache", "kernel"): 2048, ("0", "kv_cache", "cb"): 12288,
    ("0", "weights", "dram"): 4 << 20,
    ("0", "(other)", "dram"): 4196, ("0", "(other)", "l1"): 512,
    ("1", "weights", "trace"): 8192,
}, got
' P=${EXP_PORT[tagcap]}
stop_exporter tagcap
start_exporter tagcap1 -s "$TG" --max-tags 1 || exit 1
expect tag_cap_1_other_dram tagcap1 $(((4 << 20) + 4196)) tt_alloc_tag_used_bytes device=0 tag="(other)" type=dram
stop_exporter tagcap1
start_exporter notags -s "$TG" --no-tag-metrics || exit 1
pycheck no_tag_metrics_flag '
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
names = {n for n, l, v in ex.parse(body)}
assert "tt_alloc_device_used_bytes" in names and "tt_alloc_process_used_bytes" in names, names
assert "tt_alloc_tag_used_bytes" not in names and b"tt_alloc_tag_" not in body
' P=${EXP_PORT[notags]}
stop_exporter notags
stop_exporter tags
writer_kill tg1
writer_kill tg2

# ---- the sources beside the segment: tt-kmd telemetry, pid lists, TT-Metal --------
# A fake Wormhole host (tests/sh/fake_host.py) under TT_ALLOC_SYSFS_ROOT.
export HOST=$TTA_TMP/host METAL=4000002 UNTRACKED=4000004
writer_start tel -- "name tel_w" "register 0 wormhole 72" "alloc 0 0x1000 65536 dram" || exit 1
python3 - <<'PY' || fail fake_host_built
import os, sys
sys.path.insert(0, os.environ["TTA_SRC"] + "/tests/sh")
import fake_host as fh
root, w = os.environ["HOST"], int(os.environ["WRITER_TEL"])
m, u = int(os.environ["METAL"]), int(os.environ["UNTRACKED"])
fh.device(root, 0, {"tt_card_type": "n300", "tt_serial": "0000000100000042", "tt_asic_id": "00000000000000A0",
                    "tt_aiclk": 1000, "tt_heartbeat": 12345, "tt_fw_bundle_ver": "80.18.0.0"},
          {"name": "wormhole", "temp1_input": 45125, "temp1_max": 75000, "temp1_label": "asic1_temp",
           "in0_input": 850, "curr1_input": 75000, "power1_input": 60000000, "power1_label": "power1"})
fh.device(root, 1, {"tt_card_type": "n150\"x", "tt_serial": "0000000100000043"},
          {"name": "wormhole", "temp1_input": 50500})
fh.pids(root, 0, [w, m, m, u])
fh.process(root, m, "metal_run", 0)
fh.process(root, u, "stray", 0)
fh.tt_metal(root, 0xA0, fh.segment(4, 0xA0, 0, (2097152, 4096, 0, 0, 0),
            [(m, b"metal_run", (2097152, 4096, 0, 0, 0), 2)]))
PY
TT_ALLOC_SYSFS_ROOT=$HOST start_exporter tel || exit 1
pycheck telemetry_exported_in_base_units '
import time
deadline = time.time() + 15
while True:
    status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
    s = {ex.series_key(n, l): v for n, l, v in ex.parse(body)}
    if "tt_alloc_device_temperature_celsius{device=\"0\"}" in s or time.time() > deadline:
        break
    time.sleep(0.2)
d0 = "{device=\"0\"}"
assert s["tt_alloc_device_temperature_celsius" + d0] == 45.125, s
assert s["tt_alloc_device_temperature_max_celsius" + d0] == 75
assert s["tt_alloc_device_power_watts" + d0] == 60
assert s["tt_alloc_device_voltage_volts" + d0] == 0.85
assert s["tt_alloc_device_current_amperes" + d0] == 75
assert s["tt_alloc_device_aiclk_hertz" + d0] == 1e9
assert s["tt_alloc_device_heartbeat_total" + d0] == 12345
assert s["tt_alloc_device_temperature_celsius{device=\"1\"}"] == 50.5
info = [l for n, l, v in ex.parse(body) if n == "tt_alloc_device_info"]
i0 = [l for l in info if l["device"] == "0"][0]
assert i0["card_type"] == "n300" and i0["serial"] == "0000000100000042" and i0["chip"] == "wormhole", i0
assert "temperature_label" not in i0
i1 = [l for l in info if l["device"] == "1"][0]
assert i1["card_type"] == "n150\"x", i1
# The hardware label on the memory series, from the same driver.
assert s["tt_alloc_device_used_bytes{arch=\"Wormhole_B0\",device=\"0\",serial=\"0000000100000042\",type=\"dram\"}"] == 65536
assert s["tt_alloc_device_untracked_processes" + d0] == 1, s
assert s["tt_alloc_device_tt_metal_used_bytes{device=\"0\",type=\"dram\"}"] == 2097152
assert s["tt_alloc_device_tt_metal_processes" + d0] == 1
assert s["tt_alloc_sources_driver"] == 1
' P=${EXP_PORT[tel]}
promtool_ok telemetry_promtool_accepts tel
# Grafana: every query asks only for metrics the exporter serves (this one
# shows every family: a writer, the driver's telemetry, TT-Metal's segment).
pycheck grafana_queries_use_served_metrics '
import glob, re
status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
served = {n for n, l, v in ex.parse(body)}
files = glob.glob(env["TTA_SRC"] + "/exporter/grafana/*.json")
assert files, "no dashboard in exporter/grafana/"
exprs = []
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k in ("expr", "definition") and isinstance(v, str):
                exprs.append(v)
            walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
for f in files:
    walk(json.load(open(f)))
assert len(exprs) >= 8, exprs
for e in exprs:
    names = set(re.findall(r"\btt_alloc_[a-z0-9_]+", e))
    assert names, e
    assert names <= served, (e, names - served)
' P=${EXP_PORT[tel]} TTA_SRC=$TTA_SRC
stop_exporter tel
# No segment at all: the driver's telemetry is still exported, with tt_alloc_up 0.
TT_ALLOC_SYSFS_ROOT=$HOST start_exporter telnone -s "/tta_exp_none_$$" || exit 1
pycheck telemetry_without_a_segment '
import time
deadline = time.time() + 15
while True:
    status, headers, body = ex.get("http://127.0.0.1:%s/metrics" % env["P"])
    s = {ex.series_key(n, l): v for n, l, v in ex.parse(body)}
    if "tt_alloc_device_power_watts{device=\"0\"}" in s or time.time() > deadline:
        break
    time.sleep(0.2)
assert s["tt_alloc_up"] == 0 and s["tt_alloc_device_power_watts{device=\"0\"}"] == 60, s
assert not any(k.startswith("tt_alloc_device_used_bytes") for k in s)
' P=${EXP_PORT[telnone]}
stop_exporter telnone
writer_kill tel

stop_exporter e
if [ $rc -eq 0 ]; then pass exporter_exit_0_on_sigterm; else fail exporter_exit_0_on_sigterm "rc=$rc"; fi

exit $tta_failed
