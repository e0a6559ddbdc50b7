"""A Python writer for the tests: runs tt_alloc's write side on commands read
from stdin, one a line, and answers each with one line ("ok", a value, or
"error: ..."). Prints "ready" first.

    register DEV ARCH [CORES]      tt_alloc.register_device -> its result
    alloc DEV ADDR SIZE TYPE       TYPE a name or a number
    free DEV ADDR
    halloc DEV ADDR SIZE TYPE      -> the handle
    hfree HANDLE
    cb DEV ID SIZE / cbfree DEV ID
    kernel DEV ID SIZE [KIND]
    tag NAME | tag                 tt_alloc.set_tag(NAME or None) -> the previous tag
    gettag                         tt_alloc.get_tag()
    tagged NAME DEV ADDR SIZE TYPE report_alloc inside `with tt_alloc.tag(NAME)`
    threads N DEV BASE COUNT       N threads, thread i tagged "thread-i", each
                                   allocating COUNT 4 KiB DRAM buffers at
                                   BASE + i * 2^20 + k * 4096, interleaved
    state                          tt_alloc.tracking_state()
    detach                         tt_alloc.detach() -> count
    echo WORD
"""

import sys
import threading

import tt_alloc


def num(word):
    return int(word, 0)


def typ(word):
    try:
        return int(word, 0)
    except ValueError:
        return word


def run(words):
    cmd, args = words[0], words[1:]
    if cmd == "register":
        cores = num(args[2]) if len(args) > 2 else None
        return tt_alloc.register_device(num(args[0]), args[1], num_cores=cores)
    if cmd == "alloc":
        tt_alloc.report_alloc(num(args[0]), num(args[1]), num(args[2]), typ(args[3]))
    elif cmd == "free":
        tt_alloc.report_free(num(args[0]), num(args[1]))
    elif cmd == "halloc":
        return tt_alloc.report_alloc_handle(num(args[0]), num(args[1]), num(args[2]),
                                            typ(args[3]))
    elif cmd == "hfree":
        tt_alloc.report_free_handle(num(args[0]))
    elif cmd == "cb":
        tt_alloc.report_cb_alloc(num(args[0]), num(args[1]), num(args[2]))
    elif cmd == "cbfree":
        tt_alloc.report_cb_free(num(args[0]), num(args[1]))
    elif cmd == "kernel":
        tt_alloc.report_kernel_load(num(args[0]), num(args[1]), num(args[2]),
                                    typ(args[3]) if len(args) > 3 else "application")
    elif cmd == "tag":
        return tt_alloc.set_tag(args[0] if args else None)
    elif cmd == "gettag":
        return tt_alloc.get_tag()
    elif cmd == "tagged":
        with tt_alloc.tag(args[0]):
            tt_alloc.report_alloc(num(args[1]), num(args[2]), num(args[3]), typ(args[4]))
    elif cmd == "threads":
        threads_tagging(num(args[0]), num(args[1]), num(args[2]), num(args[3]))
    elif cmd == "state":
        return tt_alloc.tracking_state()
    elif cmd == "detach":
        return tt_alloc.detach()
    elif cmd == "echo":
        return args[0]
    else:
        raise ValueError("unknown command %r" % cmd)
    return "ok"


def threads_tagging(n, device, base, count):
    barrier = threading.Barrier(n)

    def work(i):
        with tt_alloc.tag("thread-%d" % i):
            barrier.wait()  # all tagged, all allocating at once
            for k in range(count):
                tt_alloc.report_alloc(device, base + i * (1 << 20) + k * 4096, 4096, "dram")

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            reply = run(words)
        except Exception as e:  # the test reads it
            reply = "error: %s: %s" % (type(e).__name__, e)
        print(reply, flush=True)


if __name__ == "__main__":
    main()
