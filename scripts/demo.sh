#!/usr/bin/env bash
# demo.sh BUILD_DIR - a live tt-alloc demo on the default segment (/tt_alloc,
# or $TT_ALLOC_SHM if set). Builds nothing: `make demo` builds first.
#
# It starts the reaper, the exporter (prints the dashboard's URL: open it in a
# browser while the demo runs; DEMO_LISTEN=ADDR:PORT to choose where, default
# 127.0.0.1:19400 or any free port if that one is taken), three instrumented
# workloads replaying traces (an LLM
# served on two Wormhole chips, a small allocate/free loop, and an every-type
# process), shows tt-smi for DEMO_SECONDS (default 20; on a terminal the live
# screen, opened on the charts view so the minute of history fills as the
# demo runs; otherwise a snapshot every second and the charts every fifth),
# SIGKILLs the every-type process
# halfway so the reaper's leak report appears and the totals drop, then stops
# everything, prints the reaper's log and a final tt-smi snapshot.
# Whatever happens, the EXIT trap stops every process the demo started.
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
traces=$root/tests/traces
seconds=${DEMO_SECONDS:-20}
export TT_ALLOC_SHM=${TT_ALLOC_SHM:-/tt_alloc}

case $seconds in
'' | *[!0-9]*) echo "demo: DEMO_SECONDS must be a whole number of seconds, not '$seconds'" >&2; exit 2 ;;
esac
if [ "$seconds" -lt 6 ]; then
	echo "demo: DEMO_SECONDS must be at least 6" >&2
	exit 2
fi
for tool in tt-alloc-reaper tt-alloc-replay tt-smi tt-alloc-exporter; do
	if ! [ -x "$build/$tool" ]; then
		echo "demo: $build/$tool is missing; run 'make demo', which builds first" >&2
		exit 2
	fi
done
reaper=$build/tt-alloc-reaper replay=$build/tt-alloc-replay smi=$build/tt-smi
exporter=$build/tt-alloc-exporter

work=$(mktemp -d /tmp/tt-alloc-demo.XXXXXX)
started=() # every background process, stopped by the EXIT trap whatever happens
stop_pids() {
	local pid
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_pids "${started[@]}"; rm -rf "$work"' EXIT
# Ctrl-C ends the demo through the EXIT trap instead of leaving children.
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\n== %s\n' "$*"; }

say "tt-alloc demo on segment $TT_ALLOC_SHM for $seconds s (set DEMO_SECONDS to change)"

# The reaper: if one already serves this segment (e.g. the systemd unit), it
# refuses to start a second one, and the leak report goes to that one's log.
"$reaper" 2>"$work/reaper.log" &
reaper_pid=$!
started+=("$reaper_pid")
sleep 0.5
if ! kill -0 "$reaper_pid" 2>/dev/null; then
	echo "demo: our reaper did not start (another one may already serve $TT_ALLOC_SHM):"
	sed 's/^/    /' "$work/reaper.log"
	reaper_pid=
fi

# The web dashboard and /metrics, for as long as the demo runs.
start_exporter() { # listen address; sets exporter_pid, or fails
	"$exporter" --listen "$1" 2>"$work/exporter.log" &
	exporter_pid=$!
	started+=("$exporter_pid")
	for _ in $(seq 50); do
		grep -q 'listening on http://' "$work/exporter.log" && return 0
		kill -0 "$exporter_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
if start_exporter "${DEMO_LISTEN:-127.0.0.1:19400}" || { [ -z "${DEMO_LISTEN:-}" ] && start_exporter 127.0.0.1:0; }; then
	url=$(sed -n 's|.*listening on \(http://[^ ]*\) .*|\1|p' "$work/exporter.log" | head -n 1)
	say "web dashboard: $url   (Prometheus metrics: ${url}metrics)"
	echo "  open it now: it fills in as the workloads start and updates every second"
else
	echo "demo: the exporter did not start; no dashboard this time:"
	sed 's/^/    /' "$work/exporter.log"
fi

# Stretch the LLM trace over ~60% of the demo, so the screen shows weights
# loading, prefill and a KV cache growing during decode, then a steady state.
llm=$traces/llm_inference_2x_wormhole.trace
llm_speed=$(awk -v s="$seconds" '$1 == "sleep" { ms += $2 } END { printf "%.3f", ms / (600 * s) }' "$llm")

workloads=()
start_workload() { # name, replay args...
	local name=$1; shift
	TT_ALLOC_TRACKING_ENABLED=1 "$replay" "$@" >"$work/$name.log" 2>&1 </dev/null &
	started+=("$!")
	workloads+=("$!")
	echo "  started $name: pid $! ($(basename "${*: -1}") ${*:1:$#-1})"
}
say "starting instrumented workloads (TT_ALLOC_TRACKING_ENABLED=1)"
start_workload llm --hold --cleanup --speed "$llm_speed" "$llm"
start_workload churn --repeat 0 --cleanup "$traces/small.trace"
start_workload victim --hold "$traces/every_type.trace"
victim_pid=$!

# Halfway through, the victim dies without cleaning up: the reaper notices at
# once, reports what it left, and its bytes leave the totals.
(
	trap 'kill "$nap" 2>/dev/null; exit 0' TERM
	sleep $((seconds / 2)) &
	nap=$!
	wait "$nap"
	kill -KILL "$victim_pid" 2>/dev/null || true
	[ -t 1 ] || echo ">> demo: SIGKILL sent to the every_type workload (pid $victim_pid) at $((seconds / 2)) s"
) &
killer_pid=$!
started+=("$killer_pid")

# tt-smi runs as a background job that we wait for, so a SIGTERM to the demo
# is acted on at once rather than after tt-smi ends; fd 3 hands it our stdin
# (a background job's own would be /dev/null) so q still works on a terminal.
exec 3<&0
if [ -t 1 ]; then
	say "tt-smi -w -r 500 --view charts (keys: 1 main, 2 charts, 3 processes, 4 events; q quits early)"
	"$smi" -w -r 500 --view charts --count $((seconds * 2)) <&3 3<&- &
	smi_pid=$!
else
	say "tt-smi snapshots every second, the charts every fifth (not a terminal)"
	(
		for ((i = 1; i <= seconds; i++)); do
			sleep 1
			if ((i % 5 == 0)); then "$smi" --view charts; else "$smi"; fi
			echo
		done
	) <&3 3<&- &
	smi_pid=$!
fi
started+=("$smi_pid")
wait "$smi_pid" || true
exec 3<&-

say "stopping the workloads (SIGTERM: llm and churn free what they hold)"
if kill -0 "$victim_pid" 2>/dev/null; then
	kill -KILL "$victim_pid"
	echo "tt-smi ended early: SIGKILL sent to the every_type workload (pid $victim_pid) now"
fi
stop_pids "$killer_pid" "${workloads[@]}"
# The reaper reclaims a dead process at once; give it a moment before it stops.
if [ -n "$reaper_pid" ]; then
	for _ in $(seq 50); do
		"$smi" --check-empty >/dev/null 2>&1 && break
		sleep 0.1
	done
	stop_pids "$reaper_pid"
fi
echo
"$smi" || true

say "reaper log"
cat "$work/reaper.log"
if [ -n "${url:-}" ]; then
	say "the dashboard at $url stops with the demo"
fi

say "final check: tt-smi --check-empty"
if "$smi" --check-empty; then
	echo "nothing left allocated on $TT_ALLOC_SHM"
else
	echo "(left by processes outside this demo, or not reaped: is a reaper serving $TT_ALLOC_SHM?)"
fi
