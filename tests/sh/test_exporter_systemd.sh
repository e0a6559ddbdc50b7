#!/usr/bin/env bash
# The exporter's systemd unit: verified (systemd-analyze verify, and its
# exposure score), then run for real with the reaper's unit under a real
# systemd booted in a container (systemd-nspawn, package systemd-container,
# on a volatile copy of this machine's /usr: nothing of the host is written).
# Inside: the reaper serves a segment, a tracked writer reports into it, the
# exporter (the unit file as shipped, ExecStart and the segment changed)
# serves it on the shared loopback. Checked from outside: the figures, the
# leak report after the writer is SIGKILLed, and the sandbox the unit
# promises: no capability, not root, no-new-privileges, seccomp, and no
# write access to /, /dev/shm, /tmp, /var/tmp or /run/lock (even for root
# in its mount namespace); `systemctl stop` ends it with status 0.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/exporter_lib.sh"

need_tool systemd_analyze_installed systemd-analyze systemd
UNIT_SRC=$TTA_SRC/exporter/tt-alloc-exporter.service

# ---- the unit as shipped verifies ------------------------------------------------
unit=$TTA_TMP/tt-alloc-exporter.service
sed "s|@PREFIX@/bin/tt-alloc-exporter|$EXPORTER|" "$UNIT_SRC" >"$unit"
out=$(systemd-analyze verify "$unit" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ] && ! grep -q '@PREFIX@' "$unit"; then
	pass unit_verifies
else
	fail unit_verifies "rc=$rc $out"
fi
if grep -qx 'DynamicUser=yes' "$unit" && grep -qx 'CapabilityBoundingSet=' "$unit" &&
	grep -qx 'NoNewPrivileges=yes' "$unit" && ! grep -q '^ReadWritePaths' "$unit" &&
	grep -q '^ReadOnlyPaths=/ /dev/shm /tmp /var/tmp' "$unit" && grep -qx 'ProtectSystem=strict' "$unit"; then
	pass unit_is_read_only_unprivileged
else
	fail unit_is_read_only_unprivileged "$(grep -E '^(DynamicUser|Capability|NoNew|ReadWrite|ReadOnly|ProtectSystem)' "$unit")"
fi
exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	pass "unit_exposure_${exposure}_at_most_2"
else
	fail unit_exposure_at_most_2 "exposure '$exposure'"
fi

# ---- both units under a real systemd ---------------------------------------------
need_tool systemd_nspawn_installed systemd-nspawn systemd-container
SEG=/tta_nspawn_$$_${RANDOM}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
units=$TTA_TMP/units
mkdir -p "$units"
KiB=1024
# The build tree as the container sees it: bound at a fixed path, because the
# container's systemd mounts a fresh /tmp at boot, over a tree built under /tmp.
BUILD_IN=/opt/tta-build
C_EXPORTER=$BUILD_IN/tt-alloc-exporter
C_WRITER=$BUILD_IN/tests/helper_smi_writer
sed "s|@PREFIX@/bin/tt-alloc-reaper|$BUILD_IN/tt-alloc-reaper|; s|^#Environment=TT_ALLOC_SHM=.*|Environment=TT_ALLOC_SHM=$SEG|" \
	"$TTA_SRC/reaper/tt-alloc-reaper.service" >"$units/tt-alloc-reaper.service"
sed "s|^ExecStart=@PREFIX@/bin/tt-alloc-exporter .*|ExecStart=$C_EXPORTER --listen 127.0.0.1:$PORT|; s|^#Environment=TT_ALLOC_SHM=.*|Environment=TT_ALLOC_SHM=$SEG|" \
	"$UNIT_SRC" >"$units/tt-alloc-exporter.service"
# Sanitizer builds: LeakSanitizer's exit check needs ptrace, which the
# unit's system-call filter forbids (as it should); leaks are checked by the
# ASan runs of the other exporter tests.
case "$TTA_BUILD" in *asan*)
	sed -i 's|^Environment=TT_ALLOC_SHM=.*|& ASAN_OPTIONS=detect_leaks=0|' "$units/tt-alloc-exporter.service" "$units/tt-alloc-reaper.service" ;;
esac
cat >"$units/tta-writer.service" <<EOF
[Unit]
Description=a tracked process for the test
After=tt-alloc-reaper.service
[Service]
Environment=TT_ALLOC_SHM=$SEG TT_ALLOC_TRACKING_ENABLED=1
ExecStart=/bin/sh -c 'sleep infinity | exec $C_WRITER "name in_container" "register 0 wormhole 72" "alloc 0 0x1000 $((64 * KiB)) dram" "alloc 0 0x2000 $((8 * KiB)) l1"'
EOF
cat >"$units/tta-test.target" <<EOF
[Unit]
Description=tt-alloc units under test
Requires=basic.target tt-alloc-reaper.service tt-alloc-exporter.service tta-writer.service
After=basic.target
EOF
if grep -q "^ExecStart=$C_EXPORTER --listen 127.0.0.1:$PORT\$" "$units/tt-alloc-exporter.service" &&
	grep -q "^Environment=TT_ALLOC_SHM=$SEG" "$units/tt-alloc-exporter.service" "$units/tt-alloc-reaper.service"; then
	pass units_prepared_from_the_shipped_files
else
	fail units_prepared_from_the_shipped_files "$(grep -h '^ExecStart\|^Environment' "$units"/*.service)"
fi

# /usr of this machine, a tmpfs for everything else; the build tree read-only.
systemd-nspawn --quiet --directory=/ --volatile=yes --register=no --keep-unit --console=passive \
	--bind-ro="$units:/etc/systemd/system" --bind-ro="$TTA_BUILD:$BUILD_IN" \
	--boot -- systemd.unit=tta-test.target systemd.firstboot=off >"$TTA_TMP/nspawn.log" 2>&1 &
nspawn=$!
stop_container() {
	[ -z "$nspawn" ] && return
	kill -TERM "$nspawn" 2>/dev/null # the container's systemd powers off
	for _ in $(seq 300); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$nspawn" 2>/dev/null
	wait "$nspawn" 2>/dev/null
	nspawn=
}
trap 'stop_container; tta_cleanup' EXIT
export EXPORTER_URL="http://127.0.0.1:$PORT/metrics"
metric() { python3 "$EXPORTER_PY" value "$EXPORTER_URL" "$@"; }
if wait_for 60 eval '[ "$(metric tt_alloc_device_used_bytes device=0 type=dram 2>/dev/null)" = "$((64 * KiB))" ]'; then
	pass units_run_under_systemd
else
	fail units_run_under_systemd "$(tail -n 20 "$TTA_TMP/nspawn.log")"
	exit 1
fi
if [ "$(metric tt_alloc_reaper_running)" = 1 ] && [ "$(metric tt_alloc_up)" = 1 ] &&
	[ "$(metric tt_alloc_process_used_bytes device=0 process=in_container type=l1)" = $((8 * KiB)) ]; then
	pass exporter_serves_the_reaper_segment
else
	fail exporter_serves_the_reaper_segment "$(python3 "$EXPORTER_PY" get "$EXPORTER_URL" | grep -v '^#' | head -n 30)"
fi

# The exporter's process, seen from the host.
exp=$(pgrep -f -x "$C_EXPORTER --listen 127.0.0.1:$PORT")
leader=$(pgrep -P "$nspawn" | head -n 1)
st=/proc/$exp/status
if [ -n "$exp" ] && [ "$(awk '/^Uid:/ { print $2 }' "$st")" != 0 ] &&
	grep -q '^CapEff:[[:space:]]*0000000000000000$' "$st" && grep -q '^CapBnd:[[:space:]]*0000000000000000$' "$st" &&
	grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" && grep -q '^Seccomp:[[:space:]]*2$' "$st"; then
	pass exporter_unprivileged_no_caps_seccomp
else
	fail exporter_unprivileged_no_caps_seccomp "pid '$exp': $(grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' "$st" 2>&1)"
fi
writable=
for dir in / /dev/shm /tmp /var/tmp /run/lock /etc; do
	if nsenter -t "$exp" -m -- sh -c "echo x >'$dir/tta_probe_$$'" 2>/dev/null; then
		writable="$writable $dir"
	fi
done
if [ -n "$exp" ] && [ -z "$writable" ]; then
	pass exporter_cannot_write_anywhere
else
	fail exporter_cannot_write_anywhere "writable:$writable"
fi

# A crash inside the container: the reaper reclaims it, the exporter shows the leak.
kill -KILL "$(pgrep -f -x "$C_WRITER name in_container register 0 wormhole 72 alloc 0 0x1000 $((64 * KiB)) dram alloc 0 0x2000 $((8 * KiB)) l1")"
if wait_for 20 eval '[ "$(metric tt_alloc_leaked_bytes_total)" = "$((72 * KiB))" ]' &&
	[ "$(metric tt_alloc_device_used_bytes device=0 type=dram)" = 0 ]; then
	pass leak_reaped_and_exported
else
	fail leak_reaped_and_exported "leaked $(metric tt_alloc_leaked_bytes_total)"
fi

# systemctl stop: SIGTERM, exit status 0, Result=success.
if [ -n "$leader" ] && nsenter -t "$leader" -a -- systemctl stop tt-alloc-exporter.service 2>"$TTA_TMP/stop.err"; then
	show=$(nsenter -t "$leader" -a -- systemctl show tt-alloc-exporter.service -p Result -p ExecMainStatus -p ExecMainCode)
	if grep -qx 'Result=success' <<<"$show" && grep -qx 'ExecMainStatus=0' <<<"$show"; then
		pass systemctl_stop_ends_it_cleanly
	else
		fail systemctl_stop_ends_it_cleanly "$show"
	fi
	logs=$(nsenter -t "$leader" -a -- journalctl -u tt-alloc-exporter.service -o cat --no-pager 2>&1)
	if grep -q 'listening on http://127.0.0.1' <<<"$logs" && grep -q 'stopped$' <<<"$logs"; then
		pass exporter_logs_in_the_journal
	else
		fail exporter_logs_in_the_journal "$logs"
	fi
else
	fail systemctl_stop_ends_it_cleanly "leader '$leader': $(cat "$TTA_TMP/stop.err")"
fi
stop_container
exit $tta_failed
