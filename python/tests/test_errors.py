"""Error paths: no segment, incompatible segments, bad arguments, and a
library that is missing or not a library."""

import errno
import os
import subprocess
import sys

import pytest

import tt_alloc
from conftest import LIB, PYDIR, SMI, SRC, env_for, shm_path


def smi_error(segment):
    r = subprocess.run([SMI, "-s", segment], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    return r.stderr.strip()


def check_error(exc, code, segment=None):
    e = exc.value
    assert isinstance(e, tt_alloc.Error)
    assert e.errno == code, (e.errno, str(e))
    assert str(e) == e.message and e.message and "\n" not in e.message
    if segment is not None:
        # The library's own sentence, the one tt-smi prints.
        assert e.message in smi_error(segment)


@pytest.mark.parametrize("read", ["snapshot", "devices", "processes", "buffers",
                                  "query_device_stats", "profile"])
def test_no_segment_is_enoent(segment, read):
    calls = {
        "snapshot": lambda: tt_alloc.snapshot(segment),
        "devices": lambda: tt_alloc.devices(segment),
        "processes": lambda: tt_alloc.processes(segment),
        "buffers": lambda: tt_alloc.buffers(segment=segment),
        "query_device_stats": lambda: tt_alloc.query_device_stats(0, segment),
    }
    if read == "profile":
        # A block may create the segment: before it exists, nothing is held.
        with tt_alloc.profile(segment=segment) as p:
            pass
        assert p.delta["dram"] == 0 and p.by_device == {}
        return
    with pytest.raises(tt_alloc.Error) as e:
        calls[read]()
    check_error(e, errno.ENOENT, segment)
    assert segment in e.value.message


def test_garbage_segment_is_eproto(segment):
    with open(shm_path(segment), "wb") as f:
        f.write(os.urandom(65536))
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.snapshot(segment)
    check_error(e, errno.EPROTO, segment)
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.query_device_stats(0, segment)
    check_error(e, errno.EPROTO)


def test_empty_segment_file_is_einval(segment):
    open(shm_path(segment), "wb").close()
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.snapshot(segment)
    check_error(e, errno.EINVAL, segment)


def test_older_abi_header_is_eproto(segment):
    with open(shm_path(segment), "wb") as f:
        f.write(b"TTALLOC1\x01\x00\x00\x00" + bytes(8180))
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.snapshot(segment)
    e = e.value
    assert e.errno in (errno.EPROTO, errno.EINVAL), str(e)


@pytest.mark.parametrize("name", ["/a/b", "/" + "x" * 300, ""])
def test_invalid_segment_name_is_einval(name):
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.snapshot(name)
    check_error(e, errno.EINVAL)


def test_empty_tt_alloc_shm_is_an_error(monkeypatch):
    monkeypatch.setenv("TT_ALLOC_SHM", "")
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.query_device_stats(0)
    check_error(e, errno.EINVAL)


def test_bad_arguments(segment, py_writer):
    py_writer(segment, "alloc 0 0x10 1 dram")
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.query_device_stats(64, segment)  # default capacity: 64 devices
    check_error(e, errno.EINVAL)
    assert "0 to 63" in e.value.message
    for bad in (-1, 1 << 40):
        with pytest.raises(tt_alloc.Error) as e:
            tt_alloc.query_device_stats(bad, segment)
        check_error(e, errno.EINVAL)
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.snapshot(segment, pid=-3)
    check_error(e, errno.EINVAL)


def test_write_side_argument_errors():
    # Refused in Python before reaching C; nothing is reported.
    with pytest.raises(ValueError, match="report_cb_alloc"):
        tt_alloc.report_alloc(0, 0x10, 1, "cb")
    with pytest.raises(ValueError, match="report_kernel_load"):
        tt_alloc.report_alloc(0, 0x10, 1, "KERNEL")
    with pytest.raises(ValueError, match="unknown memory type"):
        tt_alloc.report_alloc(0, 0x10, 1, "l2")
    with pytest.raises(ValueError, match="size -1 out of range"):
        tt_alloc.report_alloc(0, 0x10, -1, "dram")
    with pytest.raises(ValueError, match="address"):
        tt_alloc.report_free(0, 1 << 64)
    with pytest.raises(TypeError):
        tt_alloc.report_free(0, "0x10")
    with pytest.raises(ValueError, match="kernel kind"):
        tt_alloc.report_kernel_load(0, 1, 1, "compute")
    with pytest.raises(ValueError, match="memory type"):
        tt_alloc.register_device(0, "mychip", capacity={"l3": 1})


def run_python(code, **env):
    """CODE in a new interpreter with tt_alloc importable; ENV changes the
    environment (None removes a variable)."""
    e = env_for("/tta_py_unused_%d" % os.getpid(), tracking=False, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                          cwd="/", timeout=60)


MISSING = """
import errno, tt_alloc
assert tt_alloc._lib._lib is None           # importing loads nothing
try:
    tt_alloc.snapshot()
except tt_alloc.LibraryError as e:
    assert isinstance(e, tt_alloc.Error)
    print(e.errno, e)
else:
    raise SystemExit("no error")
try:
    tt_alloc.report_alloc(0, 1, 1, "dram")  # the write side says the same
except tt_alloc.LibraryError as e:
    print(e.errno)
"""


def test_library_missing_says_what_to_build():
    r = run_python(MISSING, TT_ALLOC_LIBRARY="/nonexistent/libttalloc.so.2")
    assert r.returncode == 0, r.stdout + r.stderr
    first, second = r.stdout.splitlines()
    code, message = first.split(" ", 1)
    assert int(code) == errno.ENOENT and int(second) == errno.ENOENT
    assert "/nonexistent/libttalloc.so.2" in message and "TT_ALLOC_LIBRARY" in message
    assert "make" in message


def test_library_that_does_not_load_is_elibbad():
    r = run_python(MISSING, TT_ALLOC_LIBRARY=os.path.join(SRC, "README.md"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(r.stdout.split()[0]) == errno.ELIBBAD


def test_library_found_in_the_checkout_build():
    # No TT_ALLOC_LIBRARY, run from the checkout with PYTHONPATH=python.
    built = os.path.join(SRC, "build", "libttalloc.so.2")
    r = run_python("import tt_alloc\n"
                   "try:\n    print(tt_alloc.library_path())\n"
                   "except tt_alloc.LibraryError as e:\n    print(e)", TT_ALLOC_LIBRARY=None,
                   LD_LIBRARY_PATH=None)
    assert r.returncode == 0, r.stderr
    if os.path.exists(built):
        assert r.stdout.strip() == built
    else:  # a checkout built elsewhere (make BUILD=...): says how to build
        assert "make -C %s" % SRC in r.stdout


def test_loaded_on_first_use_only():
    r = run_python("import tt_alloc, os\n"
                   "maps = lambda: 'libttalloc' in open('/proc/self/maps').read()\n"
                   "a = maps(); tt_alloc.segment_name(); print(a, maps())", TT_ALLOC_LIBRARY=LIB)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]


def test_package_dir_is_on_pythonpath():
    assert os.path.dirname(os.path.dirname(tt_alloc.__file__)) == PYDIR
