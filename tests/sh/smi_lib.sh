# Sourced by tt-smi's shell tests after lib.sh: scripted instrumented
# processes (tests/helper_smi_writer) and checks on tt-smi's output.
# Needs SMI and WRITER set by the test.

# ---- writers --------------------------------------------------------------
# start_writer NAME COMMAND...: runs the helper with the commands, waits for
# "ready"; later commands go through a fifo (send). Sets pid_NAME, fd_NAME.
start_writer() {
	local name=$1 fd; shift
	mkfifo "$TTA_TMP/$name.in"
	TT_ALLOC_TRACKING_ENABLED=1 "$WRITER" "$@" <"$TTA_TMP/$name.in" \
		>"$TTA_TMP/$name.out" 2>"$TTA_TMP/$name.err" &
	printf -v "pid_$name" %s $!
	export "pid_$name" # for the Python checks
	exec {fd}>"$TTA_TMP/$name.in"
	printf -v "fd_$name" %s "$fd"
	if ! wait_for 10 grep -qx ready "$TTA_TMP/$name.out"; then
		echo "writer $name did not start: $(cat "$TTA_TMP/$name.out" "$TTA_TMP/$name.err")"
		return 1
	fi
}
sync_no=0
# send NAME COMMAND...: runs commands in writer NAME and waits until done.
send() {
	local name=$1; shift
	local fdvar=fd_$name c
	for c in "$@"; do echo "$c" >&"${!fdvar}"; done
	sync_no=$((sync_no + 1))
	echo "echo sync$sync_no" >&"${!fdvar}"
	wait_for 10 grep -qx "sync$sync_no" "$TTA_TMP/$name.out"
}
kill_writer() {
	local pidvar=pid_$1 fdvar=fd_$1
	local fd=${!fdvar}
	kill -9 "${!pidvar}" 2>/dev/null
	wait "${!pidvar}" 2>/dev/null
	exec {fd}>&-
}

# ---- helpers --------------------------------------------------------------
# run_smi ARGS...: runs tt-smi; sets rc, out, err (file contents).
run_smi() {
	"$SMI" "$@" >"$TTA_TMP/smi.out" 2>"$TTA_TMP/smi.err"
	rc=$?
	out=$(cat "$TTA_TMP/smi.out")
	err=$(cat "$TTA_TMP/smi.err")
}
# pycheck NAME PYTHON: runs PYTHON with d = parsed $TTA_TMP/smi.out and the
# test's variables in the environment; PASS if it exits 0.
pycheck() {
	local name=$1 code=$2 why
	if why=$(python3 - "$TTA_TMP/smi.out" 2>&1 <<EOF
import json, os, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
env = os.environ
$code
EOF
	); then pass "$name"; else fail "$name" "$why"; fi
}
expect_rc() { # NAME WANT
	if [ "$rc" -eq "$2" ]; then pass "$1"; else fail "$1" "exit status $rc, wanted $2; stderr: $err"; fi
}
has_line() { # NAME REGEX: some line of $out matches
	if grep -Eq -- "$2" <<<"$out"; then pass "$1"; else fail "$1" "no line matching /$2/ in:
$out"; fi
}
no_line() {
	if grep -Eq -- "$2" <<<"$out"; then fail "$1" "unexpected line /$2/ in:
$out"; else pass "$1"; fi
}
one_line_error() { # NAME: exit 2, nothing on stdout, exactly one line on stderr
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && [ -n "$err" ] && [ "$(wc -l <<<"$err")" -eq 1 ]; then
		pass "$1"
	else
		fail "$1" "rc=$rc stdout='$out' stderr='$err'"
	fi
}

