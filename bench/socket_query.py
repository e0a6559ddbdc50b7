#!/usr/bin/env python3
"""Query one device's totals from the socket baseline server.

Behaves like the old system's Python query client: one connection per
query, one 112-byte QUERY message packed with the native-order layout
"=BBBB i Q BBBB i Q Q QQQQ QQIIIIII", a single recv() of the 112-byte
RESPONSE, and the four per-type totals read from fields 13..16. The only
addition is --socket, so tests can use a private path instead of
/tmp/tt_allocation_server.sock; --raw prints exact byte counts.

Also usable as a tiny client for tests: --send 'ALLOC dev type size addr'
and 'FREE dev addr' messages go out on one connection before the query.
"""
import argparse
import os
import socket
import struct
import sys

LAYOUT = "=BBBB i Q BBBB i Q Q QQQQ QQIIIIII"
MESSAGE_BYTES = struct.calcsize(LAYOUT)
ALLOC, FREE, QUERY, RESPONSE = 1, 2, 3, 4
TYPES = {"dram": 0, "l1": 1, "l1_small": 2, "trace": 3}


def pack(kind, device=0, size=0, buffer_type=0, pid=0, buffer_id=0):
    return struct.pack(LAYOUT, kind, 0, 0, 0, device, size, buffer_type, 0, 0, 0,
                       pid, buffer_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def query(path, device, sock=None):
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
    sock.send(pack(QUERY, device))
    reply = sock.recv(MESSAGE_BYTES)
    if own:
        sock.close()
    fields = struct.unpack(LAYOUT, reply)
    if fields[0] != RESPONSE:
        raise RuntimeError(f"expected a RESPONSE, got message type {fields[0]}")
    return {"dram": fields[13], "l1": fields[14], "l1_small": fields[15], "trace": fields[16]}


def human(n):
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def parse_send(spec):
    words = spec.split()
    if words and words[0] == "ALLOC" and len(words) == 5:
        return pack(ALLOC, int(words[1]), int(words[3], 0), TYPES[words[2]], os.getpid(),
                    int(words[4], 0))
    if words and words[0] == "FREE" and len(words) == 3:
        return pack(FREE, int(words[1]), 0, 0, os.getpid(), int(words[2], 0))
    raise ValueError(f"bad --send '{spec}': use 'ALLOC dev type size addr' or 'FREE dev addr'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("device_id", type=int)
    ap.add_argument("--socket", default="/tmp/tt_allocation_server.sock")
    ap.add_argument("--raw", action="store_true", help="print exact byte counts")
    ap.add_argument("--send", action="append", default=[], help="message to send first")
    args = ap.parse_args()
    try:
        messages = [parse_send(s) for s in args.send]
    except (ValueError, KeyError) as e:
        print(f"socket_query: {e}", file=sys.stderr)
        return 2
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.socket)
    except OSError as e:
        print(f"socket_query: cannot connect to {args.socket}: {e.strerror}", file=sys.stderr)
        return 1
    if messages:
        sock.sendall(b"".join(messages))
        # The server handles a connection in order: this answer means every
        # message above has been applied.
        query(args.socket, args.device_id, sock)
    sock.close()
    totals = query(args.socket, args.device_id)
    if args.raw:
        print(" ".join(f"{k}={v}" for k, v in totals.items()))
    else:
        print(f"device {args.device_id}: " +
              ", ".join(f"{k} {human(v)}" for k, v in totals.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
