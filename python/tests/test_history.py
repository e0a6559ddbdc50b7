"""Peaks, history and events from Python against tt-smi: the same segment
state gives the same documents, key for key and number for number."""

import json
import os
import subprocess
import time

import pytest

import tt_alloc
from conftest import SMI, env_for, smi_json


def smi_lines(segment, *args):
    r = subprocess.run([SMI, "-s", segment] + list(args), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_peaks_beside_use(segment, py_writer):
    w = py_writer(segment, "alloc 0 0x10 1000 dram", "alloc 0 0x20 500 dram", "free 0 0x10")
    rows = [p for p in tt_alloc.processes(segment) if p.pid == w.pid]
    assert len(rows) == 1
    assert rows[0].used["dram"] == 500 and rows[0].peak["dram"] == 1500
    doc = smi_json(segment)
    row = next(p for p in doc["processes"] if p["pid"] == w.pid)
    assert row["peak"] == rows[0].peak and list(row["peak"]) == list(row["used"])


def test_history_equals_tt_smi(segment, py_writer):
    py_writer(segment, "alloc 1 0x10 4096 l1", "alloc 1 0x20 64 dram")
    time.sleep(1.1)  # the newest sample is the total at the start of a second
    for attempt in range(5):
        want = json.loads(smi_lines(segment, "--history", "20", "--json"))
        got = tt_alloc.history(20, segment=segment)
        again = json.loads(smi_lines(segment, "--history", "20", "--json"))
        if want == again:  # no second boundary passed meanwhile
            break
    assert got == want
    dev = got["history"]["devices"][0]
    assert got["history"]["interval_ms"] == 1000 and dev["id"] == 1
    assert dev["samples"][-1]["used"]["l1"] == 4096 and dev["peak_total"] == 4160
    # A device asked for by id is there even when nothing ever used it.
    idle = tt_alloc.history(20, device=0, segment=segment)["history"]["devices"]
    assert [d["id"] for d in idle] == [0] and idle[0]["peak_total"] == 0
    assert all(s["total"] == 0 for s in idle[0]["samples"])


def test_events_equal_tt_smi_json_lines(segment):
    env = env_for(segment, TT_ALLOC_EVENTS="1")
    subprocess.run([os.environ.get("PYTHON", "python3"), "-c",
                    "import tt_alloc as t; t.report_alloc(0, 0x800000000, 524288, t.MemType.DRAM);"
                    "t.report_cb_alloc(0, 7, 64); t.report_free(0, 0x800000000); t.detach()"],
                   env=env, check=True, timeout=30)
    with tt_alloc.events(segment=segment) as ev:
        got = ev.poll()
        assert ev.available and ev.missed == 0
    want = [json.loads(l) for l in smi_lines(segment, "--events", "--json", "--from-start",
                                             "--count", str(len(got))).splitlines()]
    assert got == want
    assert [e["event"] for e in got] == ["attach", "alloc", "cb_alloc", "free", "exit"]
    assert got[1]["address"] == 0x800000000 and got[1]["type"] == "dram"
    with tt_alloc.events(start="now", segment=segment) as ev:
        assert ev.poll() == []
    with pytest.raises(tt_alloc.Error):
        tt_alloc.events(start="yesterday", segment=segment)
