"""Write side from Python processes, read back by tt-smi."""

import pytest

import tt_alloc
from conftest import smi_json


def rows(doc, pid):
    return {r["device"]: r for r in doc["processes"] if r["pid"] == pid}


def test_python_writer_figures_in_tt_smi(segment, py_writer):
    w = py_writer(segment)
    assert w.send("state") == ["idle"]
    assert w.send("register 0 wormhole_b0", "register 0 blackhole", "register 1 blackhole 120",
                  "register 99 wormhole") == ["0", "1", "0", "-1"]
    assert w.send("state") == ["attached"]
    w.send("alloc 0 0x1000 4096 dram", "alloc 0 0x2000 1024 L1", "alloc 0 0x3000 100 l1_small",
           "alloc 0 0x4000 200 trace", "alloc 0 0x5000 300 system", "alloc 0 0x6000 10 0",
           "alloc 0 0x7000 20 3", "cb 0 1 5000", "kernel 0 1 700", "kernel 0 2 800 dispatch",
           "alloc 1 0x1000 1 dram")
    (handle,) = w.send("halloc 1 0x1000 1000000 l1")
    assert int(handle) != 0
    doc = smi_json(segment, "--buffers")
    d0, d1 = doc["devices"]
    assert (d0["arch"], d0["num_cores"], d0["total"]["dram"]) == ("Wormhole_B0", 72, 12 << 30)
    assert (d1["arch"], d1["num_cores"], d1["total"]["dram"]) == ("Blackhole", 120, 32 << 30)
    r0 = rows(doc, w.pid)[0]
    assert r0["used"] == {"dram": 4106, "l1": 1024, "l1_small": 120, "trace": 200,
                          "system": 300, "cb": 5000, "kernel": 1500}
    assert r0["buffers"] == 8  # kernels count in bytes only
    assert rows(doc, w.pid)[1]["used"]["l1"] == 1000000
    assert {b["kernel_kind"] for b in doc["buffers"] if b["type"] == "kernel"} == \
        {"application", "dispatch"}
    # Freeing every way there is.
    w.send("free 0 0x1000", "free 0 0x2000", "free 0 0x3000", "free 0 0x4000", "free 0 0x5000",
           "free 0 0x6000", "free 0 0x7000", "cbfree 0 1", "free 1 0x1000", "hfree " + handle)
    doc = smi_json(segment)
    r = rows(doc, w.pid)
    assert r[0]["used"] == {"dram": 0, "l1": 0, "l1_small": 0, "trace": 0, "system": 0, "cb": 0,
                            "kernel": 1500}
    assert r[1]["used"]["l1"] == 0 and r[0]["buffers"] == r[1]["buffers"] == 0
    assert all(v == 0 for k, v in doc["segment"]["counters"].items()
               if k in ("unknown_frees", "double_frees", "foreign_frees", "bad_argument"))
    assert w.send("detach") == ["0"]
    assert rows(smi_json(segment), w.pid) == {}


def test_misuse_is_counted_by_the_library(segment, py_writer):
    w = py_writer(segment)
    assert w.send("alloc 0 0x10 1 cb")[0].startswith("error: ValueError")
    (h,) = w.send("halloc 0 0x10 5 dram")
    w.send("hfree " + h, "hfree " + h, "free 0 0x99", "alloc 0 0x20 1 5", "alloc 0 0x20 1 77",
           "alloc 70 0x20 1 dram", "kernel 0 4 60 9")
    c = smi_json(segment)["segment"]["counters"]
    assert (c["double_frees"], c["unknown_frees"], c["bad_argument"], c["bad_device"]) == \
        (1, 1, 3, 1)


def test_tracking_off_reports_nothing(segment, py_writer):
    w = py_writer(segment, tracking=False)
    assert w.send("state") == ["off"]
    assert w.send("halloc 0 0x10 5 dram", "register 0 wormhole") == ["0", "-1"]
    w.send("alloc 0 0x10 4096 dram", "cb 0 1 1", "kernel 0 1 1")
    assert w.send("state") == ["off"]
    with pytest.raises(tt_alloc.Error) as e:  # nothing attached, so nothing created
        tt_alloc.snapshot(segment)
    assert e.value.errno == 2


def test_c_and_python_writers_side_by_side(segment, replay, py_writer, c_writer):
    rp = replay(segment, "small.trace")
    c = c_writer(segment, "alloc 0 0x10 1000 dram")
    p = py_writer(segment, "alloc 0 0x10 2000 dram")
    doc = smi_json(segment)
    assert rows(doc, c.pid)[0]["used"]["dram"] == 1000
    assert rows(doc, p.pid)[0]["used"]["dram"] == 2000
    dram = sum(r["used"]["dram"] for r in doc["processes"] if r["device"] == 0)
    assert dram == doc["devices"][0]["used"]["dram"] == \
        tt_alloc.query_device_stats(0, segment)["dram_allocated"]
    assert rp.pid in {r["pid"] for r in doc["processes"]}


def test_mem_type_enum_matches_the_library():
    from tt_alloc import _read
    assert [m.name.lower() for m in tt_alloc.MemType] == list(_read.type_names())
    assert tt_alloc.MemType.L1_SMALL == 3 and tt_alloc.MemType.TRACE == 4
