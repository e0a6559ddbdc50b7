#!/usr/bin/env bash
# The Python package python/tt_alloc (issue 11): runs its pytest suite
# (python/tests) against real segments and real writers, and prints one
# PASS/FAIL line per pytest test, read from pytest's JUnit XML report.
#
# The programs the tests run (tt-smi, tt-alloc-replay, the C writer) come
# from $TTA_BUILD. The library the package loads does not when TTA_BUILD is a
# sanitizer build: Python loads it with dlopen, and an ASan/TSan-built
# libttalloc.so.2 only loads into an interpreter started with the sanitizer
# runtime preloaded (LD_PRELOAD), which then reports the interpreter's own
# allocations. There the package uses the plain build's library,
# $TTA_SRC/build/libttalloc.so.2 (built here if missing); the segment ABI is
# the same, so the sanitized programs and the plain library share segments.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

case "$TTA_BUILD" in
*/asan | */tsan)
	lib=$TTA_SRC/build/libttalloc.so.2
	if [ ! -e "$lib" ] && ! make -s -C "$TTA_SRC" build/libttalloc.so >"$TTA_TMP/make.log" 2>&1; then
		fail plain_library_for_python "cannot build $lib: $(tail -5 "$TTA_TMP/make.log")"
		exit 1
	fi
	;;
*) lib=$TTA_BUILD/libttalloc.so.2 ;;
esac
[ -e "$lib" ] || { fail python_library "no $lib: run make"; exit 1; }

# The first python3 with pytest: the one on PATH, else Debian's.
py=
for cand in ${TTA_PYTHON:-} python3 /usr/bin/python3; do
	if "$cand" -c 'import pytest' >/dev/null 2>&1; then py=$cand; break; fi
done
if [ -z "$py" ]; then
	fail python_pytest "no python3 with pytest: install python3-pytest (scripts/install-deps.sh)"
	exit 1
fi

xml=$TTA_TMP/pytest.xml
TT_ALLOC_LIBRARY=$lib PYTHONPATH=$TTA_SRC/python PYTHONDONTWRITEBYTECODE=1 \
	"$py" -m pytest -p no:cacheprovider -q -rfE --junitxml="$xml" "$TTA_SRC/python/tests" \
	>"$TTA_TMP/pytest.out" 2>&1
rc=$?

# One line per test case: PASS/FAIL (counted by the suite), SKIP (not).
listed_failures=0
if [ -s "$xml" ]; then
	"$py" - "$xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
failed = 0
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name = "python/%s::%s" % (case.get("classname", "").split(".")[-1], case.get("name"))
    bad = case.find("failure")
    if bad is None:
        bad = case.find("error")
    skip = case.find("skipped")
    if bad is not None:
        why = (bad.get("message") or bad.text or "").strip().splitlines()
        print("FAIL %s: %s" % (name, why[0][:300] if why else "failed"))
        failed += 1
    elif skip is not None:
        print("SKIP %s: %s" % (name, (skip.get("message") or "").strip()[:200]))
    else:
        print("PASS %s" % name)
sys.exit(1 if failed else 0)
PY
	[ $? -eq 0 ] || listed_failures=1
fi
if [ "$rc" -ne 0 ]; then
	# pytest's own report, for the suite log (indented: never counted).
	sed -e 's/^/  | /' "$TTA_TMP/pytest.out" | tail -n 60
	[ "$listed_failures" -ne 0 ] || fail pytest "pytest exited with status $rc"
	exit 1
fi
exit $tta_failed
