#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages that building and testing
# tt-alloc need, and only those that are missing. Quiet when nothing is.
#
#   gcc make libc6-dev   compiler, make, C library headers (gcc brings the
#                        ASan/UBSan/TSan runtimes used by make check)
#   pkg-config           finds ck and liburcu-bp
#   libck-dev            Concurrency Kit (ck_pr, ck_rhs, ck_sequence, ck_bitmap)
#   liburcu-dev          userspace RCU, urcu-bp flavour
#   python3              JSON checks in tests, scripts/gen-llm-trace.py
#   python3-pytest python3-venv python3-setuptools python3-wheel
#                        the Python package's tests (python/tests), which also
#                        pip-install it offline into a virtual environment
#   systemd              systemd-analyze, which checks the reaper's unit file
#   clang libclang-rt-14-dev   libFuzzer (the fuzz test of make check)
#   cppcheck             static analysis gate (make lint, run by make check)
#   util-linux           unshare and setpriv (pid-namespace and other-user tests)
#   libdw-dev            elfutils' libdw: <elfutils/libdwfl.h> to build the call-site
#                        symbolizer, and (through libdw1) the library it dlopens
#                        when TT_ALLOC_STACK_TRACE=1 (function, file:line)
#   libunwind8           the unwinder dlopen'ed when TT_ALLOC_STACK_TRACE=1 (about
#                        ten times faster than glibc's backtrace() here)
#   tmux                 real terminals for tt-smi's watch tests: send-keys,
#                        capture-pane, resize-window (tests/sh/test_smi_watch.sh)
#   libmicrohttpd-dev    the HTTP server of tt-alloc-exporter (GNU libmicrohttpd)
#   xxd                  compiles the exporter's dashboard files into it (xxd -i)
#   prometheus           a real Prometheus (and promtool) scraping the exporter in
#                        make check (tests/sh/test_exporter_prometheus.sh)
#   chromium             headless browser driving the dashboard in make check
#                        (tests/sh/test_exporter_browser.sh, DevTools protocol)
#   systemd-container    systemd-nspawn: the reaper's and the exporter's units run
#                        under a real systemd in make check (test_exporter_systemd.sh)
#
# As root: apt-get update, then apt-get install. Otherwise: prints the exact
# command to run and exits 1. Exit 0 when everything is installed.
set -euo pipefail

packages=(gcc make libc6-dev pkg-config libck-dev liburcu-dev python3 systemd clang libclang-rt-14-dev
	cppcheck util-linux python3-pytest python3-venv python3-setuptools python3-wheel
	libdw-dev libunwind8 tmux libmicrohttpd-dev xxd prometheus chromium systemd-container)

if ! command -v dpkg >/dev/null 2>&1; then
	echo "install-deps: no dpkg here; on a non-Debian system install the equivalents of: ${packages[*]}" >&2
	exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
	# dpkg -s also succeeds for removed packages whose config files remain, so
	# look at the state it reports, not only its exit status. (Captured first:
	# grep -q quitting early would SIGPIPE dpkg and fail under pipefail.)
	status=$(dpkg -s "$pkg" 2>/dev/null || true)
	if ! grep -qx 'Status: install ok installed' <<<"$status"; then
		missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run: sudo apt-get update && sudo ${install[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${install[@]}"
