#!/usr/bin/env bash
# tt-alloc-exporter under load: 50 concurrent scrapers on loopback for
# TTA_EXPORTER_LOAD_SECONDS (default 5; `make exporter-load` runs 10) while
# tracked processes keep allocating and freeing, and a few event streams stay
# open. Every answer must be whole: 200, as long as its Content-Length, a
# strictly valid exposition, and one consistent snapshot (each device's
# total equal to the sum of its processes' series in the same answer).
# Bounded: the scrapers stop at the deadline; nothing is timed as a pass
# criterion (the counts are printed for people).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/exporter_lib.sh"

seconds=${TTA_EXPORTER_LOAD_SECONDS:-5}
for n in 1 2 3 4; do
	writer_start "w$n" -- "name churn_$n" "register $((n % 2)) wormhole 72" \
		"alloc $((n % 2)) 0x$((n))0000 $((n * 4096)) dram" || exit 1
done
start_exporter load || exit 1
export PORT=${EXP_PORT[load]} SECONDS_LOAD=$seconds

# Churn in the writers while the scrapers run: allocate and free in waves.
(
	end=$((SECONDS + seconds))
	i=0
	while [ $SECONDS -lt $end ]; do
		i=$((i + 1))
		for n in 1 2 3 4; do
			echo "alloc $((n % 2)) 0x$((n))$((i % 50 + 100))000 $((i * 512)) l1" >&"${WRITER_FD[w$n]}"
			[ $((i % 3)) = 0 ] && echo "free $((n % 2)) 0x$((n))$(((i - 2) % 50 + 100))000" >&"${WRITER_FD[w$n]}"
		done
		sleep 0.01
	done
) &
churn=$!

python3 - <<'EOF'
import http.client, os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.environ["EXPORTER_PY"]))
import exporter as ex

port = int(os.environ["PORT"])
deadline = time.time() + float(os.environ["SECONDS_LOAD"])
lock = threading.Lock()
stats = {"ok": 0, "bad": 0, "why": [], "max_ms": 0.0, "reconnects": 0}

def consistent(samples):
    dev, proc = {}, {}
    for n, l, v in samples:
        if n == "tt_alloc_device_used_bytes":
            dev[(l["device"], l["type"])] = v
        elif n == "tt_alloc_process_used_bytes":
            k = (l["device"], l["type"])
            proc[k] = proc.get(k, 0) + v
    assert dev, "no device series"
    for k, v in dev.items():
        assert proc.get(k, 0) == v, (k, v, proc.get(k))
    assert ("tt_alloc_up", {}, 1.0) in samples

def scraper(i):
    keep_alive = i % 2 == 0  # half reuse their connection, as Prometheus does
    conn = None
    while time.time() < deadline:
        t0 = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                with lock:
                    stats["reconnects"] += 1
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200, r.status
            assert int(r.getheader("Content-Length")) == len(body), "short body"
            consistent(ex.parse(body))
            ms = (time.time() - t0) * 1000
            with lock:
                stats["ok"] += 1
                stats["max_ms"] = max(stats["max_ms"], ms)
            if not keep_alive or r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            with lock:
                stats["bad"] += 1
                if len(stats["why"]) < 5:
                    stats["why"].append("%s: %r" % (type(e).__name__, e))
            if conn:
                conn.close()
            conn = None
    if conn:
        conn.close()

def listener():
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: t\r\n\r\n")
    s.settimeout(0.5)
    while time.time() < deadline:
        try:
            if not s.recv(4096):
                break
        except socket.timeout:
            pass
    s.close()

threads = [threading.Thread(target=scraper, args=(i,)) for i in range(50)]
threads += [threading.Thread(target=listener) for i in range(5)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("INFO %d scrapes in %s s by 50 scrapers (%d connections), slowest %.1f ms, %d failed"
      % (stats["ok"], os.environ["SECONDS_LOAD"], stats["reconnects"], stats["max_ms"], stats["bad"]))
if stats["bad"] == 0 and stats["ok"] >= 50:
    print("PASS load_50_scrapers_all_whole_and_consistent")
else:
    print("FAIL load_50_scrapers_all_whole_and_consistent: %d bad: %s" % (stats["bad"], stats["why"]))
EOF
wait "$churn"
if kill -0 "${EXP_PID[load]}" 2>/dev/null && fetch load /metrics | grep -q '^tt_alloc_up 1$'; then
	pass exporter_serves_after_load
else
	fail exporter_serves_after_load "$(tail -n 5 "$TTA_TMP/exporter_load.log")"
fi
stop_exporter load
if [ $rc -eq 0 ]; then pass exit_0_after_load; else fail exit_0_after_load "rc=$rc"; fi
exit $tta_failed
