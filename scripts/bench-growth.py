#!/usr/bin/env python3
"""Prints the "How cost grows" tables of docs/bench.md from a bench run.

    build/tt-alloc-bench --only adk --json-out run.json   # or make bench
    scripts/bench-growth.py run.json

Section o of tt-alloc-bench records each figure as a row "MEASURE | LOAD"
(section a's report pairs are gathered into it); this pivots them into one
markdown table per kind of load, each cell a median measured in that run.
Standard library only.
"""
import json
import re
import sys


def number(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench-growth.py BENCH.json")
    with open(sys.argv[1]) as f:
        run = json.load(f)
    cells = {}   # (measure, unit) -> {load: median}
    loads = []   # loads in the order the bench measured them
    for r in run.get("results", []):
        if r.get("section") != "o" or " | " not in r.get("row", ""):
            continue
        measure, load = r["row"].split(" | ", 1)
        cells.setdefault((measure, r["unit"]), {})[load] = r["median"]
        if load not in loads:
            loads.append(load)
    if not cells:
        sys.exit("bench-growth.py: no section o figures in %s (run with --only o)" % sys.argv[1])
    # Kinds of load, each a table: the first pattern a load matches.
    kinds = [
        ("live buffers held by the writer", re.compile(r"^\d+ live buffers$")),
        ("processes using one device", re.compile(r"^\d+ process(es)? on 1 device$")),
        ("64 processes spread over devices", re.compile(r"^64 processes on \d+ devices?$")),
        ("buffers held", re.compile(r"^\d+ buffers$")),
        ("reaper load", re.compile(r"^(idle|\d+ deaths/s)$")),
    ]
    m = run.get("machine", {})
    print("<!-- scripts/bench-growth.py %s: %s run, %s CPUs, %s, load %.2f -> %.2f -->" % (
        sys.argv[1], run.get("mode", "?"), m.get("nproc", "?"), m.get("cpu", "?"),
        m.get("load_at_start", 0), m.get("load_at_end", 0)))
    for title, pattern in kinds:
        cols = [load for load in loads if pattern.match(load)]
        rows = [(mu, cells[mu]) for mu in cells if any(load in cells[mu] for load in cols)]
        if not cols or not rows:
            continue
        print()
        print("| %s | %s |" % (title, " | ".join(cols)))
        print("|---|%s|" % "|".join("---:" for _ in cols))
        for (measure, unit), by_load in rows:
            print("| %s (%s) | %s |" % (measure, unit,
                                        " | ".join(number(by_load.get(c)) for c in cols)))


if __name__ == "__main__":
    main()
