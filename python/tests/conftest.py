"""Fixtures of the tt_alloc tests: private segments, real writer processes
(C: tt-alloc-replay and helper_smi_writer; Python: writer.py), tt-smi --json.

Run through tests/sh/test_python.sh (make check), or by hand from the
checkout after make:
    TTA_BUILD=build python3 -m pytest -p no:cacheprovider python/tests
TTA_BUILD is the build whose programs the tests run (tt-smi, the replay, the
C writer); TT_ALLOC_LIBRARY, if set, is the library the package loads (else
the package's own lookup: build/ of this checkout).
"""

import itertools
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
SRC = os.path.dirname(PYDIR)
BUILD = os.path.abspath(os.environ.get("TTA_BUILD") or os.path.join(SRC, "build"))
LIB = os.path.abspath(os.environ.get("TT_ALLOC_LIBRARY")
                      or os.path.join(SRC, "build", "libttalloc.so.2"))
TRACES = os.path.join(SRC, "tests", "traces")
SMI = os.path.join(BUILD, "tt-smi")
REPLAY = os.path.join(BUILD, "tt-alloc-replay")
C_WRITER = os.path.join(BUILD, "tests", "helper_smi_writer")

# Never the default segment: anything that falls back to $TT_ALLOC_SHM in
# this process gets a private name of its own.
os.environ["TT_ALLOC_SHM"] = "/tta_py_%d_default" % os.getpid()
os.environ["TT_ALLOC_LIBRARY"] = LIB
os.environ.pop("TT_ALLOC_TRACKING_ENABLED", None)
sys.path.insert(0, PYDIR)

_names = itertools.count()


def shm_path(name):
    return "/dev/shm" + name


def env_for(segment, tracking=True, **extra):
    """The environment of a child process on SEGMENT."""
    env = dict(os.environ)
    env["TT_ALLOC_SHM"] = segment
    env["PYTHONPATH"] = PYDIR
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if tracking:
        env["TT_ALLOC_TRACKING_ENABLED"] = "1"
    else:
        env.pop("TT_ALLOC_TRACKING_ENABLED", None)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@pytest.fixture
def segment():
    """A fresh segment name, removed afterwards (with any writer's file)."""
    name = "/tta_py_%d_%d" % (os.getpid(), next(_names))
    yield name
    try:
        os.unlink(shm_path(name))
    except FileNotFoundError:
        pass


@pytest.fixture(autouse=True, scope="session")
def _remove_default_segment():
    yield
    try:
        os.unlink(shm_path(os.environ["TT_ALLOC_SHM"]))
    except FileNotFoundError:
        pass


def wait_line(proc, want, timeout=30):
    """Reads PROC's stdout until a line containing WANT; returns all lines."""
    lines = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if want in line:
            return lines
    raise AssertionError("no %r from %s: %s" % (want, proc.args, "\n".join(lines)))


class Procs:
    def __init__(self):
        self.procs = []

    def add(self, p):
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.stdin.close()
                except Exception:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def procs():
    ps = Procs()
    yield ps
    ps.close()


@pytest.fixture
def replay(procs):
    """replay(segment, trace): tt-alloc-replay --hold on SEGMENT, once the
    whole trace is in. Ends when the test does (stdin closed)."""
    def start(segment, trace="llm_inference_2x_wormhole.trace"):
        p = procs.add(subprocess.Popen([REPLAY, "--hold", "--speed", "0",
                                        os.path.join(TRACES, trace)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True,
                                       env=env_for(segment)))
        wait_line(p, "holding", timeout=60)
        return p
    return start


class Writer:
    """A writer process driven line by line (writer.py or helper_smi_writer)."""

    def __init__(self, proc, python):
        self.proc = proc
        self.pid = proc.pid
        self.python = python
        self._sync = 0

    def send(self, *commands):
        """Runs COMMANDS; returns the reply lines (Python writer: one each)."""
        for c in commands:
            self.proc.stdin.write(c + "\n")
        self._sync += 1
        self.proc.stdin.write("echo sync%d\n" % self._sync)
        self.proc.stdin.flush()
        return wait_line(self.proc, "sync%d" % self._sync)[:-1]

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=10)


@pytest.fixture
def py_writer(procs):
    """py_writer(segment, *commands, tracking=True, **env): python
    tests/writer.py, with ENV added to its environment."""
    def start(segment, *commands, tracking=True, **env):
        p = procs.add(subprocess.Popen([sys.executable, os.path.join(HERE, "writer.py")],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, env=env_for(segment, tracking, **env)))
        w = Writer(p, True)
        wait_line(p, "ready")
        if commands:
            w.send(*commands)
        return w
    return start


@pytest.fixture
def c_writer(procs):
    """c_writer(segment, *commands): build/tests/helper_smi_writer."""
    def start(segment, *commands):
        p = procs.add(subprocess.Popen([C_WRITER] + list(commands), stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True,
                                       errors="replace", env=env_for(segment)))
        wait_line(p, "ready")
        return Writer(p, False)
    return start


def smi_json(segment, *args):
    """tt-smi --json ARGS on SEGMENT, parsed."""
    r = subprocess.run([SMI, "--json", "-s", segment] + list(args), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def comparable(doc):
    """DOC without what differs between two readings of a quiet segment: the
    moment, the tool, ages."""
    doc = json.loads(json.dumps(doc))
    doc.pop("timestamp_ns", None)
    doc.pop("tool", None)
    doc["segment"]["reaper"].pop("heartbeat_age_ms", None)
    for b in doc.get("buffers", []):
        b.pop("age_ns", None)
    return doc
