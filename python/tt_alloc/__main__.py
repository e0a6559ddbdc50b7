"""python3 -m tt_alloc [-s SEGMENT] [--buffers] [--tags] [--pid N] [--device N]:
prints tt_alloc.snapshot() as JSON, the document `tt-smi --json` prints."""

import argparse
import json
import sys

import tt_alloc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tt_alloc", description=__doc__.split(":")[0])
    ap.add_argument("-s", "--segment", help="segment name (default: $TT_ALLOC_SHM or /tt_alloc)")
    ap.add_argument("--buffers", action="store_true", help="list buffer records too")
    ap.add_argument("--tags", action="store_true", help="device memory per tag too")
    ap.add_argument("--pid", type=int, help="only this process")
    ap.add_argument("--device", type=int, help="only this device")
    args = ap.parse_args(argv)
    try:
        snap = tt_alloc.snapshot(args.segment, buffers=args.buffers, pid=args.pid,
                                 device=args.device, tags=args.tags)
    except tt_alloc.Error as e:
        print("tt_alloc: %s" % e, file=sys.stderr)
        return 2
    json.dump(snap, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
