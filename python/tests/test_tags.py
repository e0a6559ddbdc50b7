"""Tags and call sites from Python: tt_alloc.tag(), buffers' .tag and .site,
tt_alloc.tags(), against tt-smi's JSON of the same segment."""

import threading

import pytest

import tt_alloc
from conftest import smi_json


def test_tag_context_manager_decorator_and_restore():
    # The tag API needs no tracking and no segment (this process tracks nothing).
    assert tt_alloc.get_tag() is None
    with tt_alloc.tag("weights"):
        assert tt_alloc.get_tag() == "weights"
        with tt_alloc.tag("kv_cache"):
            assert tt_alloc.get_tag() == "kv_cache"
        assert tt_alloc.get_tag() == "weights"
    assert tt_alloc.get_tag() is None

    @tt_alloc.tag("activations")
    def step():
        return tt_alloc.get_tag()

    assert step() == "activations" and tt_alloc.get_tag() is None
    with pytest.raises(RuntimeError):
        with tt_alloc.tag("boom"):
            raise RuntimeError("inside")
    assert tt_alloc.get_tag() is None  # restored on the way out of an exception
    assert tt_alloc.set_tag("a") is None and tt_alloc.set_tag("b") == "a"
    assert tt_alloc.set_tag(None) == "b" and tt_alloc.get_tag() is None
    assert tt_alloc.set_tag("") is None and tt_alloc.get_tag() is None
    tt_alloc.set_tag("k\u00e4se")  # UTF-8 is fine
    assert tt_alloc.set_tag(None) == "k\u00e4se"


def test_bad_tags_are_refused_and_change_nothing():
    tt_alloc.set_tag("kept")
    with pytest.raises(ValueError):
        tt_alloc.set_tag("x" * 32)  # TTA_TAG_MAX_LEN is 31 bytes
    with pytest.raises(ValueError):
        tt_alloc.tag("nul\0inside")
    with pytest.raises(TypeError):
        tt_alloc.set_tag(42)
    assert tt_alloc.get_tag() == "kept"
    tt_alloc.set_tag("y" * 31)
    assert tt_alloc.get_tag() == "y" * 31
    tt_alloc.set_tag(None)


def test_threads_have_their_own_tag():
    seen = {}
    barrier = threading.Barrier(4)

    def work(i):
        with tt_alloc.tag("t%d" % i):
            barrier.wait()
            seen[i] = tt_alloc.get_tag()
            barrier.wait()
        seen[i] = (seen[i], tt_alloc.get_tag())

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {i: ("t%d" % i, None) for i in range(4)}


def test_buffers_carry_their_tag(segment, py_writer):
    w = py_writer(segment)
    w.send("register 0 wormhole_b0", "alloc 0 0x1000 100 dram")
    assert w.send("tag weights") == ["None"]
    w.send("alloc 0 0x2000 1000 dram", "alloc 0 0x3000 2000 l1")
    assert w.send("tag kv_cache", "gettag") == ["weights", "kv_cache"]
    w.send("alloc 0 0x4000 4000 dram", "tag", "tagged scratch 0 0x5000 50 dram")
    assert w.send("gettag") == ["None"]  # the with block restored "no tag"
    by_addr = {b.address: b for b in tt_alloc.buffers(pid=w.pid, segment=segment)}
    assert {a: b.tag for a, b in by_addr.items()} == {
        0x1000: None, 0x2000: "weights", 0x3000: "weights", 0x4000: "kv_cache",
        0x5000: "scratch"}
    assert all(b.site is None for b in by_addr.values())  # no TT_ALLOC_STACK_TRACE
    rows = {(r.device, r.tag): r for r in tt_alloc.tags(pid=w.pid, segment=segment)}
    assert rows[(0, "weights")].used["dram"] == 1000 and rows[(0, "weights")].used["l1"] == 2000
    assert rows[(0, "weights")].buffers == 2 and rows[(0, "kv_cache")].buffers == 1
    assert rows[(0, None)].used["dram"] == 100
    # Largest first within the device.
    order = [r.tag for r in tt_alloc.tags(pid=w.pid, segment=segment)]
    assert order == ["kv_cache", "weights", None, "scratch"]
    # The same rows and buffer keys as tt-smi --json prints.
    doc = smi_json(segment, "--by-tag", "--pid", str(w.pid))
    assert doc["tags"] == tt_alloc.snapshot(segment, tags=True, pid=w.pid)["tags"]
    assert [(b["address"], b["tag"], b["site"]) for b in doc["buffers"]] == \
        [(a, by_addr[a].tag, None) for a in sorted(by_addr)]


def test_tags_from_several_python_threads_do_not_mix(segment, py_writer):
    w = py_writer(segment)
    w.send("threads 4 0 0x10000000 50")
    bufs = tt_alloc.buffers(pid=w.pid, segment=segment)
    assert len(bufs) == 200
    for b in bufs:
        thread = (b.address - 0x10000000) >> 20
        assert b.tag == "thread-%d" % thread, (hex(b.address), b.tag)


def test_python_writer_with_stack_traces_records_sites(segment, py_writer):
    w = py_writer(segment, TT_ALLOC_STACK_TRACE="1")
    w.send("tagged with_site 0 0x1000 4096 dram")
    (b,) = tt_alloc.buffers(pid=w.pid, segment=segment)
    assert b.tag == "with_site"
    # A Python caller's C stack: ctypes' call path into the library.
    assert isinstance(b.site, list) and 1 <= len(b.site) <= 7
    assert all(isinstance(f, str) and f for f in b.site)
    doc = smi_json(segment, "--buffers")
    assert [x["site"] for x in doc["buffers"]] == [b.site]
