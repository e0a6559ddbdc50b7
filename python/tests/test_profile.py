"""profile() in a Python writer, and the pytest leak marker in an inner
pytest run."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from conftest import SMI, env_for

PROFILED = r"""
import json, os, subprocess, sys, time
import tt_alloc

MiB = 1 << 20
tt_alloc.register_device(0, "wormhole_b0")
tt_alloc.report_alloc(0, 0x10, 1000, "dram")            # held before the block

with tt_alloc.profile() as p:
    tt_alloc.report_alloc(0, 0x20, 5000, "dram")
    h = tt_alloc.report_alloc_handle(1, 0x20, 64 * MiB, "l1")
    time.sleep(0.2)                                      # a peak the sampler sees
    tt_alloc.report_free_handle(h)
    tt_alloc.report_cb_alloc(0, 3, 700)

with tt_alloc.profile(interval=0) as q:                   # entry and exit only
    h = tt_alloc.report_alloc_handle(1, 0x30, 8 * MiB, "l1")
    time.sleep(0.05)
    tt_alloc.report_free_handle(h)

@tt_alloc.profile
def step(n):
    tt_alloc.report_alloc(2, 0x40 + n, 100, "trace")
    return n

@tt_alloc.profile(interval=0.002)
def burst():
    tt_alloc.report_alloc(3, 0x50, 4 * MiB, "dram")
    time.sleep(0.1)
    tt_alloc.report_free(3, 0x50)

assert step(1) == 1 and step(2) == 2
burst()

def figures(x):
    return {"start": x.start, "end": x.end, "delta": x.delta, "peak": x.peak,
            "buffers_delta": x.buffers_delta, "buffers_peak": x.buffers_peak}

smi = subprocess.run([os.environ["SMI"], "--json", "--pid", str(os.getpid())],
                     capture_output=True, text=True, check=True)
print(json.dumps({
    "p": figures(p), "samples": p.samples, "elapsed": p.elapsed,
    "by_device": {d: figures(v) for d, v in p.by_device.items()},
    "q": figures(q), "step": figures(step.profile), "burst": figures(burst.profile),
    "smi": json.loads(smi.stdout),
}))
"""


def test_profile_delta_and_peak(segment):
    r = subprocess.run([sys.executable, "-c", PROFILED], capture_output=True, text=True,
                       env=env_for(segment, SMI=SMI), timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    MiB = 1 << 20
    p = out["p"]
    assert list(p["delta"]) == ["dram", "l1", "l1_small", "trace", "system", "cb", "kernel"]
    assert p["start"]["dram"] == 1000
    assert p["delta"] == {"dram": 5000, "l1": 0, "l1_small": 0, "trace": 0, "system": 0,
                          "cb": 700, "kernel": 0}
    assert p["peak"]["dram"] == 6000 and p["peak"]["cb"] == 700
    assert p["peak"]["l1"] == 64 * MiB          # seen by the sampler only
    assert p["buffers_delta"] == 2 and p["buffers_peak"] >= 3
    assert out["samples"] >= 20 and out["elapsed"] >= 0.2
    d0, d1 = out["by_device"]["0"], out["by_device"]["1"]
    assert d0["delta"]["dram"] == 5000 and d0["delta"]["cb"] == 700 and d0["peak"]["l1"] == 0
    assert d1["delta"]["l1"] == 0 and d1["peak"]["l1"] == 64 * MiB and d1["start"]["l1"] == 0
    # interval=0: the peak between entry and exit is not seen (it is sampled).
    assert out["q"]["delta"]["l1"] == 0 and out["q"]["peak"]["l1"] == 0
    # Decorators: the last call's figures.
    assert out["step"]["delta"]["trace"] == 100 and out["step"]["end"]["trace"] == 200
    assert out["burst"]["delta"]["dram"] == 0 and out["burst"]["peak"]["dram"] == 6000 + 4 * MiB
    # What the profile ended with is what tt-smi shows for this process.
    smi_rows = out["smi"]["processes"]
    for key, value in out["burst"]["end"].items():
        assert sum(r["used"][key] for r in smi_rows) == value, key
    assert out["burst"]["end"]["dram"] == 6000 and out["burst"]["end"]["trace"] == 200


INNER_TESTS = r"""
import gc
import pytest
import tt_alloc

@pytest.mark.tt_alloc_no_leak
def test_leaks():
    tt_alloc.report_alloc(0, 0x100, 4096, "dram")

@pytest.mark.tt_alloc_no_leak
def test_clean():
    tt_alloc.report_alloc(0, 0x200, 4096, "l1")
    tt_alloc.report_free(0, 0x200)

def test_unmarked_leak():
    tt_alloc.report_alloc(0, 0x300, 4096, "dram")

@pytest.mark.tt_alloc_no_leak
def test_frees_more_than_it_allocates():
    tt_alloc.report_free(0, 0x300)

@pytest.mark.tt_alloc_no_leak
def test_kernel_load_is_not_a_leak():
    tt_alloc.report_kernel_load(0, 1, 100)

@pytest.mark.tt_alloc_no_leak(ignore=())
def test_kernel_load_strict():
    tt_alloc.report_kernel_load(0, 2, 100)

@pytest.mark.tt_alloc_no_leak
def test_cb_leak_on_device_1():
    tt_alloc.report_cb_alloc(1, 5, 100)

class Buffer:
    def __init__(self):
        tt_alloc.report_alloc(0, 0x400, 10, "dram")
        self.me = self                  # a cycle: only gc frees it
    def __del__(self):
        tt_alloc.report_free(0, 0x400)

@pytest.mark.tt_alloc_no_leak
def test_freed_by_garbage_collection():
    gc.disable()
    try:
        Buffer()
    finally:
        gc.enable()

@pytest.mark.tt_alloc_no_leak
def test_fails_on_its_own():
    tt_alloc.report_alloc(0, 0x500, 1, "dram")
    assert False, "its own failure"

@pytest.fixture
def held_by_fixture():
    tt_alloc.report_alloc(0, 0x600, 64, "l1")
    yield
    tt_alloc.report_free(0, 0x600)

@pytest.mark.tt_alloc_no_leak
def test_fixture_memory_is_not_the_tests(held_by_fixture):
    pass
"""


def test_pytest_plugin_fails_leaking_tests(segment, tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    xml = tmp_path / "out.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "tt_alloc.pytest_plugin",
                        "-p", "no:cacheprovider", "--strict-markers", "-q", "-rA",
                        "--junitxml", str(xml), str(tmp_path / "test_inner.py")],
                       capture_output=True, text=True, env=env_for(segment), cwd=str(tmp_path),
                       timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    outcome, message = {}, {}
    for case in ET.parse(str(xml)).getroot().iter("testcase"):
        failure = case.find("failure")
        outcome[case.get("name")] = "failed" if failure is not None else \
            "error" if case.find("error") is not None else "passed"
        if failure is not None:
            message[case.get("name")] = failure.get("message", "") + (failure.text or "")
    assert outcome == {
        "test_leaks": "failed",
        "test_clean": "passed",
        "test_unmarked_leak": "passed",
        "test_frees_more_than_it_allocates": "passed",
        "test_kernel_load_is_not_a_leak": "passed",
        "test_kernel_load_strict": "failed",
        "test_cb_leak_on_device_1": "failed",
        "test_freed_by_garbage_collection": "passed",
        "test_fails_on_its_own": "failed",
        "test_fixture_memory_is_not_the_tests": "passed",
    }, r.stdout
    assert "tt_alloc: test leaked device memory" in message["test_leaks"]
    assert "device 0: dram +4096 B, +1 buffer" in message["test_leaks"]
    assert "kernel +100 B" in message["test_kernel_load_strict"]
    assert "device 1: cb +100 B" in message["test_cb_leak_on_device_1"]
    assert "its own failure" in message["test_fails_on_its_own"]
    assert "leaked" not in message["test_fails_on_its_own"]


def test_pytest_plugin_registers_its_marker(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "tt_alloc.pytest_plugin",
                        "-p", "no:cacheprovider", "--markers"], capture_output=True, text=True,
                       env=env_for("/tta_py_unused_%d" % os.getpid()), cwd=str(tmp_path),
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "@pytest.mark.tt_alloc_no_leak" in r.stdout
