#!/bin/bash
# tt-alloc-bridge end to end: the old socket protocol served from and into a
# private segment, with a libtrack writer (tt-alloc-replay --hold) and an
# old-protocol reporter both active, the old system's own Python query client
# (extracted from the shared reference at test time, unchanged), the real
# reaper, and bad input. Never uses the default socket or segment.
. "$(dirname "$0")/lib.sh"
BR=$TTA_BUILD/tt-alloc-bridge
R=$TTA_BUILD/tt-alloc-reaper
SMI=$TTA_BUILD/tt-smi
query="python3 $TTA_SRC/bench/socket_query.py"
export TT_ALLOC_TRACKING_ENABLED=0 # only the writers we start report
sock=$TTA_TMP/alloc.sock
blog=$TTA_TMP/bridge.log

# An old-protocol reporter, like the old AllocationClient: one connection,
# 112-byte messages. Commands on stdin, one a line:
#   ALLOC DEV TYPE SIZE ADDR | FREE DEV ADDR | SYNC (QUERY, wait, print
#   "synced") | CLOSE | CONNECT | RAW HEX (bytes as is)
# FAKE_PID=N puts N in the pid field instead of its own pid.
cat >"$TTA_TMP/reporter.py" <<'EOF'
import os, socket, struct, sys
L = "=BBBB i Q BBBB i Q Q QQQQ QQIIIIII"
T = {"dram": 0, "l1": 1, "l1_small": 2, "trace": 3}
pid = int(os.environ.get("FAKE_PID", os.getpid()))
def pack(kind, dev=0, size=0, bt=0, bid=0):
    return struct.pack(L, kind, 0, 0, 0, dev, size, bt, 0, 0, 0, pid, bid, 0,
                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    return s
s = connect()
for line in sys.stdin:
    f = line.split()
    if not f:
        continue
    if f[0] == "ALLOC":
        s.sendall(pack(1, int(f[1]), int(f[3], 0), T.get(f[2], 9) if not f[2].isdigit() else int(f[2]), int(f[4], 0)))
    elif f[0] == "FREE":
        s.sendall(pack(2, int(f[1]), 0, 0, int(f[2], 0)))
    elif f[0] == "TYPE":
        s.sendall(struct.pack(L, int(f[1]), 0, 0, 0, 0, 8, 0, 0, 0, 0, pid, 1, 0, *([0] * 12)))
    elif f[0] == "RAW":
        s.sendall(bytes.fromhex(f[1]))
    elif f[0] == "SYNC":
        s.sendall(pack(3, 0))
        r = b""
        while len(r) < 112:
            c = s.recv(112 - len(r))
            if not c:
                break
            r += c
        print("synced", len(r), flush=True)
    elif f[0] == "CLOSE":
        s.close()
    elif f[0] == "CONNECT":
        s = connect()
    elif f[0] == "NAME":  # a hostile process name: an escape sequence
        with open("/proc/self/comm", "w") as c:
            c.write("evil\x1b[2J" + f[1])
EOF
# start_reporter NAME: runs a reporter fed by fifo $TTA_TMP/NAME.in (kept
# open on fd $2), output in NAME.out; sets $rpid.
start_reporter() {
	local name=$1 fd=$2
	mkfifo "$TTA_TMP/$name.in"
	python3 "$TTA_TMP/reporter.py" "$sock" <"$TTA_TMP/$name.in" >"$TTA_TMP/$name.out" 2>&1 &
	rpid=$!
	eval "exec $fd>\"\$TTA_TMP/\$name.in\""
}
# say FD NAME CMD...: sends commands, then SYNC, and waits for the reply.
say() {
	local fd=$1 name=$2; shift 2
	local n; n=$(grep -c '^synced' "$TTA_TMP/$name.out" 2>/dev/null); n=${n:-0}
	local c; for c in "$@"; do echo "$c" >&"$fd"; done
	echo SYNC >&"$fd"
	wait_for 10 bash -c "[ \$(grep -c '^synced' '$TTA_TMP/$name.out') -gt $n ]"
}
raw() { $query "$1" --socket "$sock" --raw 2>&1; }
bridge_up() { raw 0 >/dev/null; }
totals_are() { [ "$(raw "$1")" = "$2" ]; }

# The reference client, unchanged, pointed at the private socket from the
# outside: a sitecustomize module redirects connect() of the default path.
ref_doc=$TTA_SRC/../shared/reference/realtime-monitoring-example.md
have_ref=0
if [ -f "$ref_doc" ]; then
	awk '/^```python/{f=1;next} /^```/{if(f){exit}} f' "$ref_doc" >"$TTA_TMP/query_stats.py"
	mkdir -p "$TTA_TMP/redirect"
	cat >"$TTA_TMP/redirect/sitecustomize.py" <<'EOF'
import os, socket
_to = os.environ.get("TTA_BRIDGE_SOCK")
_connect = socket.socket.connect
def _redirect(self, address):
    if _to and address == "/tmp/tt_allocation_server.sock":
        address = _to
    return _connect(self, address)
socket.socket.connect = _redirect
EOF
	grep -q 'SOCKET_PATH = "/tmp/tt_allocation_server.sock"' "$TTA_TMP/query_stats.py" && have_ref=1
fi
refclient() {
	TTA_BRIDGE_SOCK=$sock PYTHONPATH="$TTA_TMP/redirect:$TTA_TMP" python3 "$@"
}

# ---- start: reaper, bridge ------------------------------------------------
"$R" 2>"$TTA_TMP/reaper.log" &
reaper=$!
"$BR" --socket "$sock" -v 2>"$blog" &
bridge=$!
if wait_for 10 bridge_up; then pass bridge_listens; else fail bridge_listens "$(cat "$blog")"; fi
check bridge_socket_private test -S "$sock"

# A second bridge on the live socket is refused; the first keeps serving.
# (on another segment: one bridge per segment is checked below)
"$BR" --socket "$sock" -s "${TT_ALLOC_SHM}_2" 2>"$TTA_TMP/second.log"; rc=$?
rm -f "/dev/shm${TT_ALLOC_SHM}_2"
if [ $rc = 2 ] && grep -q "already listens" "$TTA_TMP/second.log" && bridge_up; then
	pass bridge_refuses_live_socket
else
	fail bridge_refuses_live_socket "rc=$rc $(cat "$TTA_TMP/second.log")"
fi

# A second bridge on another socket but the same segment is refused too.
"$BR" --socket "$TTA_TMP/other.sock" 2>"$TTA_TMP/second.log"; rc=$?
if [ $rc = 2 ] && grep -q "one bridge per segment" "$TTA_TMP/second.log" && [ ! -e "$TTA_TMP/other.sock" ]; then
	pass bridge_one_per_segment
else
	fail bridge_one_per_segment "rc=$rc $(cat "$TTA_TMP/second.log")"
fi

# ---- a libtrack writer and an old reporter, both active ---------------------
printf 'device 0 wormhole_b0\nalloc 0 0x100000 1048576 dram\nalloc 0 0x200000 2048 l1\n' \
	>"$TTA_TMP/writer.trace"
mkfifo "$TTA_TMP/writer.in"
TT_ALLOC_TRACKING_ENABLED=1 "$TTA_BUILD/tt-alloc-replay" --hold -q "$TTA_TMP/writer.trace" \
	<"$TTA_TMP/writer.in" &
writer=$!
exec 6>"$TTA_TMP/writer.in"
start_reporter rep1 7
rep1=$rpid
say 7 rep1 "ALLOC 0 dram 3145728 0x800000000" "ALLOC 0 l1 2048 0x10000" "ALLOC 0 trace 77 0x30000" \
	"ALLOC 0 l1_small 100 0x40000" "ALLOC 0 dram 4096 0x50000" "FREE 0 0x50000"
want="dram=4194304 l1=4096 l1_small=100 trace=77"
if wait_for 10 totals_are 0 "$want"; then pass bridge_query_totals_whole_segment
else fail bridge_query_totals_whole_segment "$(raw 0), wanted $want"; fi

# Device info from the registered device (Wormhole B0, 12 GiB, 72 cores).
info=$(python3 - "$sock" <<'EOF'
import socket, struct, sys
L = "=BBBB i Q BBBB i Q Q QQQQ QQIIIIII"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(struct.pack(L, 3, 0, 0, 0, 0, *([0] * 20)))
r = b""
while len(r) < 112:
    r += s.recv(112 - len(r))
f = struct.unpack(L, r)
print(f[0], f[17], f[18], f[19], f[20], f[21], f[22], f[23], f[24])
EOF
)
if [ "$info" = "4 12884901888 107937792 3 12 1073741824 1499136 1 1" ]; then
	pass bridge_query_device_info
else
	fail bridge_query_device_info "got '$info'"
fi

if [ $have_ref = 1 ]; then
	out=$(refclient "$TTA_TMP/query_stats.py" 0 2>&1)
	if grep -q "^  DRAM:      4.00 MB$" <<<"$out" && grep -q "^  L1:        4.00 KB$" <<<"$out" &&
		grep -q "^  L1_SMALL:  100 B$" <<<"$out" && grep -q "^  TRACE:     77 B$" <<<"$out"; then
		pass bridge_reference_client_unchanged
	else
		fail bridge_reference_client_unchanged "$out"
	fi
else
	echo "SKIP bridge_reference_client_unchanged: $ref_doc not found or changed; nothing asserted"
fi

# The reference C++ monitor, unchanged: compiled from the shared reference
# at test time; an LD_PRELOAD shim (connect() only) points its hard-coded
# default path at the private socket.
if [ -f "$ref_doc" ] && command -v g++ >/dev/null; then
	awk '/^```cpp/{f=1;next} /^```/{if(f){exit}} f' "$ref_doc" >"$TTA_TMP/monitor_allocations.cpp"
	cat >"$TTA_TMP/redirect.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
int connect(int fd, const struct sockaddr *a, socklen_t len)
{
	int (*real)(int, const struct sockaddr *, socklen_t) =
		(int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	const char *to = getenv("TTA_BRIDGE_SOCK");
	const struct sockaddr_un *u = (const struct sockaddr_un *)a;
	if (to && a->sa_family == AF_UNIX &&
	    strcmp(u->sun_path, "/tmp/tt_allocation_server.sock") == 0) {
		struct sockaddr_un r = { .sun_family = AF_UNIX };
		strncpy(r.sun_path, to, sizeof r.sun_path - 1);
		return real(fd, (const struct sockaddr *)&r, sizeof r);
	}
	return real(fd, a, len);
}
EOF
	if grep -q '#define SOCKET_PATH "/tmp/tt_allocation_server.sock"' "$TTA_TMP/monitor_allocations.cpp" &&
		cc -shared -fPIC -o "$TTA_TMP/redirect.so" "$TTA_TMP/redirect.c" -ldl 2>"$TTA_TMP/cc.err" &&
		g++ -std=c++17 "$TTA_TMP/monitor_allocations.cpp" -o "$TTA_TMP/monitor_allocations" 2>>"$TTA_TMP/cc.err"; then
		out=$(TTA_BRIDGE_SOCK=$sock LD_PRELOAD=$TTA_TMP/redirect.so timeout 1.5 "$TTA_TMP/monitor_allocations" 0 2>&1)
		if grep -Eq 'DRAM: +4 MB \| L1: +4 KB \| L1_SMALL: +100 B \| TRACE: +77 B' <<<"$out"; then
			pass bridge_reference_monitor_unchanged
		else
			fail bridge_reference_monitor_unchanged "$out"
		fi
	else
		fail bridge_reference_monitor_unchanged "could not build: $(cat "$TTA_TMP/cc.err")"
	fi
else
	echo "SKIP bridge_reference_monitor_unchanged: no reference document or no g++; nothing asserted"
fi

# tt-smi lists the old reporter under its own pid, beside the writer
# (columns DRAM, TRACE, L1, L1_SMALL: by the pool they live in).
smi=$("$SMI" 2>&1)
if grep -Eq "^ +0 +$rep1 +.*python3 +3\.0MiB +77B +2\.0KiB +100B " <<<"$smi" &&
	grep -Eq "^ +0 +$writer " <<<"$smi"; then
	pass bridge_smi_shows_reporter_pid
else
	fail bridge_smi_shows_reporter_pid "$smi"
fi

# The pid inside a message is never trusted: a reporter claiming pid 1 is
# recorded under its real pid, and the mismatch is logged once. It then
# disconnects but stays alive: its allocation stays.
mkfifo "$TTA_TMP/rep2.in"
FAKE_PID=1 python3 "$TTA_TMP/reporter.py" "$sock" <"$TTA_TMP/rep2.in" >"$TTA_TMP/rep2.out" 2>&1 &
rep2=$!
exec 8>"$TTA_TMP/rep2.in"
say 8 rep2 "ALLOC 1 dram 512 0x9000"
echo CLOSE >&8
sleep 0.2
smi=$("$SMI" -d 1 2>&1)
if grep -Eq "^ +1 +$rep2 +.*512B" <<<"$smi" && ! grep -Eq "^ +1 +1 " <<<"$smi" &&
	[ "$(grep -c "message pid differs" "$blog")" = 1 ]; then
	pass bridge_attributes_by_peer_credentials
else
	fail bridge_attributes_by_peer_credentials "$smi / $(cat "$blog")"
fi
if totals_are 1 "dram=512 l1=0 l1_small=0 trace=0"; then pass bridge_disconnect_keeps_allocations
else fail bridge_disconnect_keeps_allocations "$(raw 1)"; fi

# ---- bad input: counted or refused, logged once, totals unchanged ------------
start_reporter rep3 9
rep3=$rpid
say 9 rep3 "TYPE 9" "TYPE 4" "ALLOC 9999 dram 64 0x1" "ALLOC -1 dram 64 0x1" "FREE 9999 0x1" \
	"ALLOC 0 dram 0 0x2" "ALLOC 0 dram 0x8000000000000000 0x3" "ALLOC 0 17 64 0x4" \
	"FREE 0 0xdead" "FREE 0 0xdead"
ok=1
for m in "unknown message type" "device id out of range" "size 0 or 2^63" "unknown buffer type" \
	"free of an unknown buffer id"; do
	[ "$(grep -c "$m" "$blog")" = 1 ] || { ok=0; echo "# log for '$m': $(grep -c "$m" "$blog")"; }
done
if [ $ok = 1 ] && totals_are 0 "$want" && kill -0 "$bridge"; then pass bridge_bad_messages_counted_once
else fail bridge_bad_messages_counted_once "$(raw 0) / $(cat "$blog")"; fi
# A QUERY for a device beyond the segment is answered (zeros), not left hanging.
if [ "$(timeout 5 $query 5000 --socket "$sock" --raw 2>&1)" = "dram=0 l1=0 l1_small=0 trace=0" ] &&
	[ "$(timeout 5 $query -1 --socket "$sock" --raw 2>&1)" = "dram=0 l1=0 l1_small=0 trace=0" ]; then
	pass bridge_query_out_of_range_answered
else
	fail bridge_query_out_of_range_answered "$(timeout 5 $query 5000 --socket "$sock" --raw 2>&1)"
fi
json=$("$SMI" --json 2>&1)
if python3 -c '
import json, sys
def find(d):
    if isinstance(d, dict):
        if "counters" in d:
            return d["counters"]
        for v in d.values():
            r = find(v)
            if r is not None:
                return r
c = find(json.loads(sys.argv[1]))
assert c["unknown_frees"] >= 2 and c["bad_device"] >= 3 and c["bad_argument"] >= 5, c
' "$json" 2>"$TTA_TMP/err"; then pass bridge_bad_messages_in_segment_counters
else fail bridge_bad_messages_in_segment_counters "$(cat "$TTA_TMP/err")"; fi

# Half a message then stall: nobody else waits; half a message then close:
# logged once, nothing recorded.
python3 - "$sock" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(b"\x01" + b"\x00" * 49)
time.sleep(30)
EOF
staller=$!
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(b"\x01" + b"\x00" * 60); s.close()' "$sock"
sleep 0.3
start=$(date +%s%N)
out=$(timeout 5 $query 0 --socket "$sock" --raw 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$out" = "$want" ] && [ $ms -lt 2000 ] && [ "$(grep -c "closed mid-message" "$blog")" = 1 ]; then
	pass bridge_partial_and_stalled_messages
else
	fail bridge_partial_and_stalled_messages "$out in ${ms} ms / $(cat "$blog")"
fi
kill "$staller" 2>/dev/null; wait "$staller" 2>/dev/null

# 1,000 connections at once, each sending one QUERY: all answered.
out=$(python3 - "$sock" <<'EOF' 2>&1
import resource, socket, struct, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
L = "=BBBB i Q BBBB i Q Q QQQQ QQIIIIII"
q = struct.pack(L, 3, 0, 0, 0, 0, *([0] * 20))
socks = []
for i in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(10)
    s.connect(sys.argv[1]); socks.append(s)
for s in socks:
    s.sendall(q)
ok = 0
for s in socks:
    r = b""
    while len(r) < 112:
        c = s.recv(112 - len(r))
        if not c:
            break
        r += c
    ok += len(r) == 112 and r[0] == 4
print(ok)
EOF
)
if [ "$out" = 1000 ] && totals_are 0 "$want"; then pass bridge_thousand_connections
else fail bridge_thousand_connections "$out"; fi

# ---- restart: adopt live clients' slots, their FREEs still find records ------
kill -9 "$bridge"; wait "$bridge" 2>/dev/null
"$BR" --socket "$sock" -v 2>"$TTA_TMP/bridge2.log" &
bridge=$!
if wait_for 10 bridge_up && grep -q "replacing the stale socket" "$TTA_TMP/bridge2.log" &&
	grep -q "adopted slot .* of pid $rep1 (4 live buffers)" "$TTA_TMP/bridge2.log"; then
	pass bridge_restart_adopts_live_slots
else
	fail bridge_restart_adopts_live_slots "$(cat "$TTA_TMP/bridge2.log")"
fi
blog=$TTA_TMP/bridge2.log
echo CONNECT >&7
say 7 rep1 "FREE 0 0x40000" "FREE 0 0x30000"
if totals_are 0 "dram=4194304 l1=4096 l1_small=0 trace=0" && ! grep -q "unknown buffer id" "$blog"; then
	pass bridge_free_after_restart
else
	fail bridge_free_after_restart "$(raw 0) / $(cat "$blog")"
fi

# ---- SIGKILL of the old reporter: reaped by the real reaper, leak report ------
kill -9 "$rep1"; wait "$rep1" 2>/dev/null; exec 7>&-
if wait_for 10 totals_are 0 "dram=1048576 l1=2048 l1_small=0 trace=0" &&
	wait_for 5 grep -q "leak report: pid $rep1 (python3)" "$TTA_TMP/reaper.log"; then
	pass bridge_reporter_reaped_with_leak_report
else
	fail bridge_reporter_reaped_with_leak_report "$(raw 0) / $(cat "$TTA_TMP/reaper.log")"
fi

# ---- the CI leak check of the old documentation works against the bridge -----
echo "# stopping the writer and the other reporters"
kill "$writer" "$rep2" "$rep3" 2>/dev/null; exec 6>&- 8>&- 9>&-
wait "$writer" "$rep2" "$rep3" 2>/dev/null
echo "# stopped"
if [ $have_ref = 1 ]; then
	zero_leak() {
		leaked=$(refclient -c "
from query_stats import query_device_stats
stats = query_device_stats(0)
total = stats['dram_allocated'] + stats['l1_allocated']
print(total)
" 2>&1)
		[ "$leaked" = 0 ]
	}
	if wait_for 10 zero_leak; then pass bridge_ci_leak_check_pattern
	else fail bridge_ci_leak_check_pattern "LEAKED=$leaked"; fi
fi

# ---- untrusted process names stay text in the bridge's log --------------------
start_reporter hostile 5
hpid=$rpid
say 5 hostile "NAME x" "ALLOC 0 dram 4096 0x90000"
if grep -q "pid $hpid (evil?\[2Jx): slot" "$blog" && ! grep -q $'\x1b' "$blog"; then
	pass bridge_log_sanitises_process_names
else
	fail bridge_log_sanitises_process_names "$(grep "pid $hpid" "$blog" | cat -v)"
fi
kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; exec 5>&-

# ---- SIGTERM: clean stop, socket removed -------------------------------------
echo "# SIGTERM to the bridge"
kill -TERM "$bridge"; wait "$bridge"; rc=$?
if [ $rc = 0 ] && [ ! -e "$sock" ] && grep -q "stopping:" "$blog"; then pass bridge_sigterm_clean
else fail bridge_sigterm_clean "rc=$rc $(cat "$blog")"; fi
kill "$reaper" 2>/dev/null; wait "$reaper" 2>/dev/null

check_version bridge_version "$BR"

# ---- the systemd unit verifies (ExecStart pointing at the built binary) ------
if command -v systemd-analyze >/dev/null; then
	unit=$TTA_TMP/tt-alloc-bridge.service
	sed "s|@PREFIX@/bin/tt-alloc-bridge|$BR|" "$TTA_SRC/bridge/tt-alloc-bridge.service" >"$unit"
	out=$(systemd-analyze verify "$unit" 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && [ -z "$out" ] && ! grep -q '@PREFIX@' "$unit"; then
		pass bridge_systemd_unit_verifies
	else
		fail bridge_systemd_unit_verifies "rc=$rc $out"
	fi
else
	echo "NOTE systemd-analyze not installed: unit not verified"
fi

exit $tta_failed
