"""pytest plugin: fail a test that leaks device memory (opt-in marker).

Load it with `pytest -p tt_alloc.pytest_plugin`, or
`pytest_plugins = ["tt_alloc.pytest_plugin"]` in a conftest.py, then mark
tests (or modules, with pytestmark):

    @pytest.mark.tt_alloc_no_leak
    def test_matmul(): ...

A marked test fails when the pytest process holds more device memory after
the test's call than before it: more bytes of any memory type on any device
(kernel binaries excepted: they have no free event), or more buffers. The
figures are this process's rows of the segment (tt_alloc.profile()), so
memory held by fixtures set up before the call, and by other processes,
does not count. Garbage is collected before the second reading, so objects
that free in __del__ are not reported.

Marker arguments: ignore=("kernel",) memory types not checked (ignore=()
checks all); segment=None, the segment to read.
"""

import gc

import pytest

from ._profile import Profile

MARKER = "tt_alloc_no_leak"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", MARKER + "(ignore=('kernel',), segment=None): fail the test if its process "
        "holds more device memory (tt-alloc) after the test than before")


def _grown(prof, ignore):
    """Lines describing what grew, per device; empty if nothing did."""
    lines = []
    for dev, d in sorted(prof.by_device.items()):
        parts = ["%s +%d B" % (t, v) for t, v in d.delta.items() if v > 0 and t not in ignore]
        if d.buffers_delta > 0:
            parts.append("+%d buffer%s" % (d.buffers_delta, "" if d.buffers_delta == 1 else "s"))
        if parts:
            lines.append("device %d: %s (now %s)" % (
                dev, ", ".join(parts),
                ", ".join("%s %d B" % (t, v) for t, v in d.end.items() if v)))
    return lines


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        yield
        return
    ignore = tuple(marker.kwargs.get("ignore", ("kernel",)))
    prof = Profile(segment=marker.kwargs.get("segment"), interval=0)
    prof.__enter__()
    outcome = yield
    gc.collect()
    prof.__exit__(None, None, None)
    if outcome.excinfo is not None:
        return  # the test failed on its own
    lines = _grown(prof, ignore)
    if lines:
        pytest.fail("tt_alloc: test leaked device memory\n  " + "\n  ".join(lines),
                    pytrace=False)
