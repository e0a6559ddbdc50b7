#!/usr/bin/env bash
# tt-alloc-exporter under a real Prometheus (Debian's prometheus): two
# exporters on two segments stand for two hosts, one Prometheus scrapes both
# every second, and the figures are asserted through Prometheus' HTTP query
# API: exact tt_alloc_device_used_bytes per host, device and type, a
# `sum by (type)` across the hosts, a live change, a hostile process name
# stored exactly, and per-process series going stale when the process goes.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/exporter_lib.sh"

need_tool prometheus_installed prometheus prometheus
SEG_B=/tta_prom_b_$$_${RANDOM}
prom_pid=
trap '[ -n "$prom_pid" ] && kill -TERM "$prom_pid" 2>/dev/null && wait "$prom_pid"; rm -f "/dev/shm$SEG_B"; tta_cleanup' EXIT
MiB=$((1 << 20))

# Host "a": the test's segment; host "b": a second one.
writer_start a1 -- "name train_a" "register 0 wormhole 72" "register 1 wormhole 72" \
	"alloc 0 0x1000 $((1024 * MiB)) dram" "alloc 0 0x2000 $((2 * MiB)) l1" \
	"alloc 1 0x3000 $((256 * MiB)) dram" || exit 1
writer_start a2 -- 'name q"u\\o\x0ate' "alloc 0 0x4000 $((3 * MiB)) dram" || exit 1
writer_start b1 "$SEG_B" -- "name serve_b" "register 0 blackhole 140" \
	"alloc 0 0x1000 $((512 * MiB)) dram" "alloc 0 0x2000 $((5 * MiB)) l1" \
	"alloc 0 0x3000 $((7 * MiB)) trace" || exit 1
start_exporter a || exit 1
start_exporter b -s "$SEG_B" || exit 1

# A free port for Prometheus: the kernel picks one; Prometheus binds it a
# moment later (retried if someone took it meanwhile).
mkdir -p "$TTA_TMP/prom"
cat >"$TTA_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tt-alloc
    static_configs:
      - targets: ['127.0.0.1:${EXP_PORT[a]}']
        labels: {host: a}
      - targets: ['127.0.0.1:${EXP_PORT[b]}']
        labels: {host: b}
EOF
for attempt in 1 2 3; do
	PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	prometheus --config.file="$TTA_TMP/prometheus.yml" --storage.tsdb.path="$TTA_TMP/prom" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=info \
		>"$TTA_TMP/prometheus.log" 2>&1 &
	prom_pid=$!
	if wait_for 60 grep -q 'Server is ready to receive web requests' "$TTA_TMP/prometheus.log"; then
		break
	fi
	kill -TERM "$prom_pid" 2>/dev/null; wait "$prom_pid"; prom_pid=
done
if [ -z "$prom_pid" ]; then
	fail prometheus_started "$(tail -n 20 "$TTA_TMP/prometheus.log")"
	exit 1
fi
pass prometheus_started
export PROM="http://127.0.0.1:$PROM_PORT"

# promq NAME TIMEOUT PYTHON: polls until PYTHON (with q(EXPR) -> list of
# (labels, value) from /api/v1/query) passes; the last failure is reported.
promq() {
	local name=$1 timeout=$2 code=$3 why
	if why=$(timeout $((timeout + 10)) python3 - "$timeout" 2>&1 <<EOF
import json, os, sys, time, urllib.parse, urllib.request
def q(expr):
    url = os.environ["PROM"] + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        d = json.load(r)
    assert d["status"] == "success", d
    return [(s["metric"], float(s["value"][1])) for s in d["data"]["result"]]
def check():
$(sed 's/^/    /' <<<"$code")
deadline = time.time() + float(sys.argv[1])
while True:
    try:
        check()
        break
    except Exception as e:
        if time.time() > deadline:
            raise
        time.sleep(0.5)
EOF
	); then pass "$name"; else fail "$name" "$(tail -n 3 <<<"$why")"; fi
}

promq both_hosts_up 30 '
r = {m["host"]: v for m, v in q("up{job=\"tt-alloc\"}")}
assert r == {"a": 1.0, "b": 1.0}, r
r = {m["host"]: v for m, v in q("tt_alloc_up")}
assert r == {"a": 1.0, "b": 1.0}, r'

export MiB
promq exact_device_used_bytes_per_host 30 '
M = int(os.environ["MiB"])
want = {("a", "0", "dram"): 1027 * M, ("a", "0", "l1"): 2 * M, ("a", "1", "dram"): 256 * M,
        ("b", "0", "dram"): 512 * M, ("b", "0", "l1"): 5 * M, ("b", "0", "trace"): 7 * M,
        ("a", "0", "trace"): 0, ("b", "0", "cb"): 0}
got = {(m["host"], m["device"], m["type"]): v for m, v in q("tt_alloc_device_used_bytes")}
for k, v in want.items():
    assert got.get(k) == v, (k, got.get(k), v)
assert len(got) == 7 * 3, sorted(got)'

promq sum_by_type_across_hosts 30 '
M = int(os.environ["MiB"])
got = {m["type"]: v for m, v in q("sum by (type) (tt_alloc_device_used_bytes)")}
assert got["dram"] == (1027 + 256 + 512) * M, got
assert got["l1"] == 7 * M and got["trace"] == 7 * M and got["cb"] == 0, got
got = {m["host"]: v for m, v in q("sum by (host) (tt_alloc_device_capacity_bytes{type=\"dram\"})")}
assert got == {"a": 2 * 12 * 1024 * M, "b": 32 * 1024 * M}, got'

promq hostile_process_name_stored_exactly 30 '
names = {m["process"] for m, v in q("tt_alloc_process_used_bytes{host=\"a\",type=\"dram\"}")}
assert "q\"u\\o\nte" in names and "train_a" in names, names
r = q("tt_alloc_process_used_bytes{process=\"q\\\"u\\\\o\\nte\",type=\"dram\"}")
assert [v for m, v in r] == [3 * int(os.environ["MiB"])], r'

# A live change shows up through Prometheus.
writer_send b1 "alloc 0 0x9000 $((100 * MiB)) dram"
promq live_change_scraped 30 '
M = int(os.environ["MiB"])
r = q("tt_alloc_device_used_bytes{host=\"b\",device=\"0\",type=\"dram\"}")
assert [v for m, v in r] == [612 * M], r
got = {m["type"]: v for m, v in q("sum by (type) (tt_alloc_device_used_bytes)")}
assert got["dram"] == (1027 + 256 + 612) * M, got'

# A process that leaves takes its series with it (stale at the next scrape).
export A2=${WRITER_PID[a2]}
writer_send a2 detach
promq process_series_go_stale 30 '
r = q("tt_alloc_process_used_bytes{pid=\"%s\"}" % os.environ["A2"])
assert r == [], r
M = int(os.environ["MiB"])
r = q("tt_alloc_device_used_bytes{host=\"a\",device=\"0\",type=\"dram\"}")
assert [v for m, v in r] == [1024 * M], r'

# The exporter's own series and the counter table reach Prometheus too.
promq counters_and_build_info 30 '
assert len(q("tt_alloc_exporter_build_info")) == 2
assert {m["host"] for m, v in q("tt_alloc_leaked_bytes_total")} == {"a", "b"}
assert [v for m, v in q("sum(tt_alloc_live_processes)")] == [2.0]'

if grep -q 'level=error' "$TTA_TMP/prometheus.log"; then
	fail prometheus_logged_no_error "$(grep 'level=error' "$TTA_TMP/prometheus.log" | head -n 5)"
else
	pass prometheus_logged_no_error
fi
kill -TERM "$prom_pid"; wait "$prom_pid"; prom_pid=
for n in a b; do
	stop_exporter "$n"
	if [ $rc -eq 0 ]; then pass "exporter_${n}_exit_0"; else fail "exporter_${n}_exit_0" "rc=$rc $(tail -n 5 "$TTA_TMP/exporter_$n.log")"; fi
done
exit $tta_failed
