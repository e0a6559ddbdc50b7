"""Read side against tt-smi: the same segment state gives the same document,
key for key and number for number."""

import os

import pytest

import tt_alloc
from conftest import comparable, shm_path, smi_json


def test_snapshot_equals_tt_smi_json(segment, replay, py_writer):
    replay(segment)
    w = py_writer(segment, "register 2 blackhole", "alloc 2 0x1000 4096 dram",
                  "kernel 2 7 1000 dispatch")
    want = smi_json(segment)
    got = tt_alloc.snapshot(segment)
    assert comparable(got) == comparable(want)
    # Same keys in the same order, all the way down.
    assert list(got) == list(want)
    assert [list(d) for d in got["devices"]] == [list(d) for d in want["devices"]]
    assert list(got["devices"][0]["used"]) == list(want["devices"][0]["used"])
    assert list(got["segment"]) == list(want["segment"])
    assert list(got["segment"]["counters"]) == list(want["segment"]["counters"])
    assert [r["pid"] for r in got["processes"]].count(w.pid) == 1
    assert len(got["devices"]) == 3 and "buffers" not in got


def test_snapshot_buffers_equal_tt_smi_json_buffers(segment, replay, py_writer):
    replay(segment)
    py_writer(segment, "alloc 0 0x7000 100 l1", "kernel 0 3 50 fabric", "kernel 0 4 60 dispatch")
    want = smi_json(segment, "--buffers")
    got = tt_alloc.snapshot(segment, buffers=True)
    assert len(got["buffers"]) > 3000
    assert comparable(got) == comparable(want)
    assert [list(b) for b in got["buffers"]] == [list(b) for b in want["buffers"]]
    kinds = {b["kernel_kind"] for b in got["buffers"] if b["type"] == "kernel"}
    assert {"fabric", "dispatch"} <= kinds


@pytest.mark.parametrize("filters", [("pid",), ("device",), ("pid", "device")])
def test_filters_equal_tt_smi(segment, replay, py_writer, filters):
    rp = replay(segment)
    py_writer(segment, "alloc 1 0x10 100 dram")
    kw, args = {"buffers": True}, ["--buffers"]
    if "pid" in filters:
        kw["pid"] = rp.pid
        args += ["--pid", str(rp.pid)]
    if "device" in filters:
        kw["device"] = 1
        args += ["--device", "1"]
    want = smi_json(segment, *args)
    got = tt_alloc.snapshot(segment, **kw)
    assert comparable(got) == comparable(want)
    assert got["buffers"]


def test_objects_match_the_document(segment, replay, py_writer):
    rp = replay(segment)
    w = py_writer(segment, "alloc 0 0x10 100 trace")
    doc = smi_json(segment, "--buffers")
    assert [d._asdict() for d in tt_alloc.devices(segment)] == doc["devices"]
    assert [p._asdict() for p in tt_alloc.processes(segment)] == doc["processes"]
    dev = tt_alloc.devices(segment)[0]
    assert dev.used["dram"] == doc["devices"][0]["used"]["dram"] and dev.arch == "Wormhole_B0"

    def buffers_of(pid=None, device=None):
        want = [dict(b) for b in doc["buffers"] if (pid is None or b["pid"] == pid)
                and (device is None or b["device"] == device)]
        for b in want:
            b.setdefault("kernel_kind", None)
            b.pop("age_ns")
        got = [b._asdict() for b in tt_alloc.buffers(pid=pid, device=device, segment=segment)]
        for b in got:
            assert b.pop("age_ns") >= 0
        return got, want

    for pid, device in [(None, None), (rp.pid, None), (w.pid, None), (None, 1), (w.pid, 0)]:
        got, want = buffers_of(pid, device)
        assert got == want, (pid, device)
        assert got or (pid, device) == (w.pid, 1)
    (mine,) = tt_alloc.buffers(pid=w.pid, segment=segment)
    assert (mine.type, mine.size, mine.address_hex, mine.kernel_kind) == ("trace", 100, "0x10",
                                                                        None)
    rows = tt_alloc.processes(segment, pid=w.pid)
    assert len(rows) == 1 and rows[0].running is True and rows[0].user


def test_query_device_stats_matches_tt_smi(segment, replay, py_writer):
    replay(segment)
    py_writer(segment, "alloc 0 0x10 12345 l1_small", "alloc 5 0x10 777 dram")
    doc = smi_json(segment)
    old_keys = {"device_id", "dram_allocated", "l1_allocated", "l1_small_allocated",
                "trace_allocated"}
    for d in doc["devices"]:
        s = tt_alloc.query_device_stats(d["id"], segment=segment)
        assert old_keys <= set(s)
        assert all(isinstance(v, int) for v in s.values())
        u = d["used"]
        assert (s["device_id"], s["dram_allocated"], s["l1_allocated"], s["l1_small_allocated"],
                s["trace_allocated"], s["system_allocated"], s["cb_allocated"],
                s["kernel_allocated"]) == (d["id"], u["dram"], u["l1"], u["l1_small"], u["trace"],
                                           u["system"], u["cb"], u["kernel"])
        assert (s["num_buffers"], s["num_processes"]) == (d["buffers"], d["processes"])
        assert (s["total_dram_size"], s["total_l1_size"]) == (d["total"]["dram"],
                                                              d["total"]["l1"])
    assert tt_alloc.query_device_stats(0, segment)["l1_small_allocated"] == 12345
    assert tt_alloc.query_device_stats(5, segment)["dram_allocated"] == 777
    # A device nobody uses reads as zeros, as the old server answered.
    idle = tt_alloc.query_device_stats(9, segment)
    assert idle["dram_allocated"] == idle["num_buffers"] == idle["total_dram_size"] == 0


def test_default_segment_is_tt_alloc_shm(segment, py_writer, monkeypatch):
    py_writer(segment, "alloc 0 0x10 4096 dram")
    monkeypatch.setenv("TT_ALLOC_SHM", segment.lstrip("/"))  # "name" means "/name"
    assert tt_alloc.segment_name() == segment
    assert tt_alloc.query_device_stats(0)["dram_allocated"] == 4096
    assert tt_alloc.snapshot()["segment"]["name"] == segment


def test_hostile_names_read_as_tt_smi_writes_them(segment, c_writer):
    # Bytes that are not printable UTF-8 (invalid, C1 controls, escapes).
    c_writer(segment, r"name a\xff\x1b[2J\xc2\x80\xc3\xa9\x7f", "alloc 0 0x10 1 dram")
    want = smi_json(segment)
    got = tt_alloc.snapshot(segment)
    assert comparable(got) == comparable(want)
    assert got["processes"][0]["name"] == "a\xff\x1b[2J\xc2\x80\xe9\x7f"


def test_counters_by_name(segment, py_writer):
    py_writer(segment, "free 0 0x999", "free 0 0x998", "hfree 12345", "alloc 0 0x10 1 6")
    counters = tt_alloc.snapshot(segment)["segment"]["counters"]
    assert counters["unknown_frees"] == 2
    assert counters["foreign_frees"] == 1
    assert counters["bad_argument"] == 1
    assert counters["live_processes"] == 1
    table = tt_alloc.counter_table()
    assert [c["name"] for c in table] == list(counters)
    assert all(c["kind"] in ("counter", "gauge") and c["help"] for c in table)


def test_reader_follows_a_replaced_segment(segment, py_writer):
    w = py_writer(segment, "alloc 0 0x10 100 dram")
    assert tt_alloc.query_device_stats(0, segment)["dram_allocated"] == 100
    assert tt_alloc.snapshot(segment)["devices"][0]["used"]["dram"] == 100
    w.close()
    os.unlink(shm_path(segment))
    with pytest.raises(tt_alloc.Error) as e:
        tt_alloc.query_device_stats(0, segment)
    assert e.value.errno == 2
    py_writer(segment, "alloc 0 0x10 300 dram")
    assert tt_alloc.query_device_stats(0, segment)["dram_allocated"] == 300
    assert tt_alloc.snapshot(segment)["devices"][0]["used"]["dram"] == 300


def test_format_bytes_as_tt_smi():
    assert [tt_alloc.format_bytes(n) for n in (0, 512, 1536, 3 << 30, -2048)] == \
        ["0", "512B", "1.5KiB", "3.0GiB", "-2.0KiB"]


def test_python_m_tt_alloc(segment, py_writer):
    import json
    import subprocess
    import sys
    from conftest import env_for
    py_writer(segment, "alloc 0 0x10 100 dram")
    r = subprocess.run([sys.executable, "-m", "tt_alloc", "--buffers", "-s", segment],
                       capture_output=True, text=True, env=env_for(segment, tracking=False))
    assert r.returncode == 0, r.stderr
    assert comparable(json.loads(r.stdout)) == comparable(smi_json(segment, "--buffers"))


def test_threads_and_fork_share_the_cached_reader(segment, py_writer):
    import threading
    w = py_writer(segment, "alloc 0 0x10 4096 dram")
    errors = []

    def reads():
        try:
            for _ in range(200):
                assert tt_alloc.query_device_stats(0, segment)["dram_allocated"] == 4096
                assert tt_alloc.snapshot(segment)["devices"][0]["used"]["dram"] == 4096
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=reads) for _ in range(4)]
    for t in threads:
        t.start()
    # A child forked while other threads read gets working readers of its own.
    pid = os.fork()
    if pid == 0:
        try:
            ok = tt_alloc.query_device_stats(0, segment)["dram_allocated"] == 4096
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    for t in threads:
        t.join()
    _, status = os.waitpid(pid, 0)
    assert errors == [] and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    w.send("free 0 0x10")
    assert tt_alloc.query_device_stats(0, segment)["dram_allocated"] == 0
