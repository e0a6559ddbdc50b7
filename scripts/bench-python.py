#!/usr/bin/env python3
"""Cost of the Python package's calls (issue 11), on a private segment
loaded with a replayed trace (the LLM trace by default: 2 devices, about
3,300 buffers, one process).

    make && python3 scripts/bench-python.py [BUILD] [TRACE]

Prints microseconds per call: the median of 7 timeit runs, and the best.
"""

import os
import subprocess
import sys
import timeit

src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(src, "build"))
trace = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    src, "tests", "traces", "llm_inference_2x_wormhole.trace")
segment = "/tta_bench_py_%d" % os.getpid()
os.environ["TT_ALLOC_SHM"] = segment
os.environ.setdefault("TT_ALLOC_LIBRARY", os.path.join(build, "libttalloc.so.2"))
sys.path.insert(0, os.path.join(src, "python"))

import tt_alloc  # noqa: E402


def bench(label, fn, number):
    fn()
    runs = timeit.repeat(fn, number=number, repeat=7)
    per = sorted(r / number * 1e6 for r in runs)
    print("%-44s %10.2f us  (best %.2f, %d calls x 7)" % (label, per[3], per[0], number))


env = dict(os.environ, TT_ALLOC_TRACKING_ENABLED="1")
replay = subprocess.Popen([os.path.join(build, "tt-alloc-replay"), "--hold", "--speed", "0",
                           trace], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
try:
    for line in replay.stdout:
        if "holding" in line:
            break
    else:
        sys.exit("replay did not start")
    snap = tt_alloc.snapshot(buffers=True)
    print("segment %s: %d devices, %d process rows, %d buffer records; %s; Python %s"
          % (segment, len(snap["devices"]), len(snap["processes"]), len(snap["buffers"]),
             tt_alloc.library_path(), sys.version.split()[0]))
    bench("query_device_stats(0)", lambda: tt_alloc.query_device_stats(0), 20000)
    bench("snapshot()", lambda: tt_alloc.snapshot(), 2000)
    bench("snapshot(buffers=True)", lambda: tt_alloc.snapshot(buffers=True), 50)
    bench("devices()", lambda: tt_alloc.devices(), 5000)

    def profiled():
        with tt_alloc.profile(interval=0):
            pass
    bench("with profile(interval=0): (2 readings)", profiled, 5000)
    # The write side in this process (tracking on for it alone).
    os.environ["TT_ALLOC_TRACKING_ENABLED"] = "1"
    h = tt_alloc.report_alloc_handle

    def pair():
        tt_alloc.report_free_handle(h(0, 0x10, 4096, "dram"))
    bench("report_alloc_handle + report_free_handle", pair, 20000)

    def addr_pair():
        tt_alloc.report_alloc(0, 0x10, 4096, "dram")
        tt_alloc.report_free(0, 0x10)
    bench("report_alloc + report_free", addr_pair, 20000)
    tt_alloc.detach()
finally:
    replay.stdin.close()
    replay.wait()
    try:
        os.unlink("/dev/shm" + segment)
    except FileNotFoundError:
        pass
