# Sourced by the exporter's shell tests (after lib.sh): start and stop
# tt-alloc-exporter on a free loopback port, scriptable writers on the test's
# segment, and tests/sh/exporter.py (exposition parser, HTTP and DevTools
# helpers) for the checks.
EXPORTER=$TTA_BUILD/tt-alloc-exporter
WRITER=$TTA_BUILD/tests/helper_smi_writer
export EXPORTER_PY=$TTA_SRC/tests/sh/exporter.py
declare -A EXP_PID EXP_PORT WRITER_PID WRITER_FD
exporter_sync_no=0

# start_exporter NAME [ARGS...]: runs the exporter on 127.0.0.1 with a port
# it picks itself (--listen 127.0.0.1:0: no race for a free port) and reads
# the port from its log line. Log in $TTA_TMP/exporter_NAME.log.
start_exporter() {
	local name=$1; shift
	local log=$TTA_TMP/exporter_$name.log
	"$EXPORTER" --listen 127.0.0.1:0 "$@" 2>"$log" &
	EXP_PID[$name]=$!
	if ! wait_for 20 grep -q 'listening on http://' "$log"; then
		echo "exporter $name did not start: $(cat "$log")"
		return 1
	fi
	EXP_PORT[$name]=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log" | head -n 1)
}

# stop_exporter NAME: SIGTERM, then its exit status in $rc.
stop_exporter() {
	kill -TERM "${EXP_PID[$1]}" 2>/dev/null
	wait "${EXP_PID[$1]}"
	rc=$?
}

# url NAME PATH
url() { echo "http://127.0.0.1:${EXP_PORT[$1]}$2"; }

# fetch NAME PATH: body on stdout; fails on an HTTP error.
fetch() { python3 "$EXPORTER_PY" get "$(url "$1" "$2")"; }

# metric_value NAME METRIC [LABEL=VALUE...]: the value of the one series of
# METRIC with those labels in /metrics; empty (and status 1) if not one.
metric_value() { local n=$1; shift; python3 "$EXPORTER_PY" value "$(url "$n" /metrics)" "$@"; }

# ---- writers: tests/helper_smi_writer, commands through a fifo --------------

# writer_start NAME [SEGMENT] -- COMMAND...: starts a tracked writer with the
# commands as arguments, waits for "ready". SEGMENT defaults to the test's.
writer_start() {
	local name=$1 seg=$TT_ALLOC_SHM fd; shift
	if [ "${1:-}" != "--" ]; then seg=$1; shift; fi
	shift # --
	mkfifo "$TTA_TMP/w_$name.in"
	TT_ALLOC_SHM=$seg TT_ALLOC_TRACKING_ENABLED=1 "$WRITER" "$@" <"$TTA_TMP/w_$name.in" \
		>"$TTA_TMP/w_$name.out" 2>"$TTA_TMP/w_$name.err" &
	WRITER_PID[$name]=$!
	export "WRITER_${name^^}=${WRITER_PID[$name]}" # for Python checks
	exec {fd}>"$TTA_TMP/w_$name.in"
	WRITER_FD[$name]=$fd
	if ! wait_for 10 grep -qx ready "$TTA_TMP/w_$name.out"; then
		echo "writer $name did not start: $(cat "$TTA_TMP/w_$name.out" "$TTA_TMP/w_$name.err")"
		return 1
	fi
}

# writer_send NAME COMMAND...: runs the commands and waits until they ran.
writer_send() {
	local name=$1 c; shift
	for c in "$@"; do echo "$c" >&"${WRITER_FD[$name]}"; done
	exporter_sync_no=$((exporter_sync_no + 1))
	echo "echo sync$exporter_sync_no" >&"${WRITER_FD[$name]}"
	wait_for 10 grep -qx "sync$exporter_sync_no" "$TTA_TMP/w_$name.out"
}

# writer_kill NAME [SIGNAL]: default SIGKILL (a crash: what it held leaks).
writer_kill() {
	local fd=${WRITER_FD[$1]}
	kill -"${2:-KILL}" "${WRITER_PID[$1]}" 2>/dev/null
	wait "${WRITER_PID[$1]}" 2>/dev/null
	exec {fd}>&-
}

# need_tool NAME COMMAND PACKAGE: FAIL (never skip) when a tool the test
# needs is missing, naming the Debian package.
need_tool() {
	if ! command -v "$2" >/dev/null 2>&1; then
		fail "$1" "$2 is not installed (Debian package $3; scripts/install-deps.sh installs it)"
		exit 1
	fi
}
