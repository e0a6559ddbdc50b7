"""Read side: cached readers per segment, snapshots turned into the dict
`tt-smi --json` prints (through the library's one JSON writer), and device
totals."""

import ctypes
import errno as _errno
import json
import os
import threading

from . import _lib as L
from ._lib import Error

ERR_LEN = 512

# Memory types in the order tt-smi lists them (render.c display_order).
DISPLAY_ORDER = (0, 1, 3, 4, 2, 5, 6)
_FALLBACK_NAMES = ("dram", "l1", "system", "l1_small", "trace", "cb", "kernel")

_names = None  # type id -> name, from the library


def type_names():
    """Names of memory types 0..6 as the library spells them."""
    global _names
    if _names is None:
        lib = L.lib()
        names = []
        for t in range(L.MEM_TYPES):
            n = lib.tta_mem_type_name(t)
            names.append(n.decode() if n else _FALLBACK_NAMES[t])
        _names = tuple(names)
    return _names


def _display_pairs():
    names = type_names()
    return tuple((names[t], t) for t in DISPLAY_ORDER)


def types_dict(values):
    """{name: values[type]} in tt-smi's order (dram, l1, l1_small, trace,
    system, cb, kernel)."""
    return {name: values[t] for name, t in _display_pairs()}


# ---------------------------------------------------------------------------
# Text exactly as tta_json_string writes it and a JSON parser reads it back:
# printable UTF-8 passes, and every other byte becomes the code point of the
# same number.

def _utf8_printable_len(s, i):
    c = s[i]
    if 0x20 <= c < 0x7F:
        return 1
    if 0xC2 <= c <= 0xDF:
        n, cp = 2, c & 0x1F
    elif 0xE0 <= c <= 0xEF:
        n, cp = 3, c & 0x0F
    elif 0xF0 <= c <= 0xF4:
        n, cp = 4, c & 0x07
    else:
        return 0
    if n > len(s) - i:
        return 0
    for k in range(1, n):
        if s[i + k] & 0xC0 != 0x80:
            return 0
        cp = (cp << 6) | (s[i + k] & 0x3F)
    if ((n == 3 and cp < 0x800) or (n == 4 and (cp < 0x10000 or cp > 0x10FFFF))
            or 0xD800 <= cp <= 0xDFFF or 0x80 <= cp <= 0x9F):
        return 0
    return n


def text(raw):
    """Bytes from the segment (cut at the first NUL) as tt-smi's JSON shows
    them once parsed."""
    if raw.isascii():
        return raw.decode("ascii")
    out = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        n = _utf8_printable_len(raw, i)
        if n:
            out.append(raw[i:i + n].decode("utf-8"))
            i += n
        else:
            out.append(chr(c))
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------
# Readers

def _fail(rc, err, what):
    msg = err.value.decode("utf-8", "replace").strip() if err is not None else ""
    if not msg:
        msg = "%s: %s" % (what, os.strerror(-rc))
    return Error(-rc, msg.splitlines()[0] if msg else msg)


_resolved = {}


def resolve_name(segment):
    """The segment name every component would use (tta_segment_name), as
    bytes. Cached per (SEGMENT, $TT_ALLOC_SHM): the library reads the same
    environment (os.environ changes go through putenv)."""
    key = (segment, os.environ.get("TT_ALLOC_SHM"))
    name = _resolved.get(key)
    if name is None:
        name = _resolve_name(segment)
        if len(_resolved) > 64:
            _resolved.clear()
        _resolved[key] = name
    return name


def _resolve_name(segment):
    lib = L.lib()
    err = ctypes.create_string_buffer(ERR_LEN)
    arg = None if segment is None else os.fsencode(segment)
    name = lib.tta_segment_name(arg, err, ERR_LEN)
    if not name:
        raise _fail(-_errno.EINVAL, err, "invalid segment name")
    return name


class Reader:
    """One open tta_reader; used by one thread at a time (self.lock)."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.handle = None

    def open(self):
        lib = L.lib()
        err = ctypes.create_string_buffer(ERR_LEN)
        h = ctypes.c_void_p()
        rc = lib.tta_reader_open(self.name, ctypes.byref(h), err, ERR_LEN)
        if rc != 0:
            raise _fail(rc, err, "cannot open segment %s" % self.name.decode(errors="replace"))
        self.handle = h

    def close(self):
        if self.handle is not None:
            L.lib().tta_reader_close(self.handle)
            self.handle = None

    def fresh(self):
        """Opens, or reopens when the name now points elsewhere, the file was
        removed (then: ENOENT, as for any missing segment) or truncated."""
        if self.handle is not None:
            if L.lib().tta_reader_status(self.handle) == L.SEGMENT_OK:
                return
            self.close()
        self.open()

    def take(self, pid, device, flags):
        """A snapshot handle (free with tta_snapshot_free). Lock held."""
        lib = L.lib()
        err = ctypes.create_string_buffer(ERR_LEN)
        for attempt in range(2):
            self.fresh()
            snap = ctypes.c_void_p()
            rc = lib.tta_snapshot_take(self.handle, pid, device, flags, ctypes.byref(snap),
                                       err, ERR_LEN)
            if rc == 0:
                return snap
            if rc in (-_errno.ESTALE, -_errno.EFAULT) and attempt == 0:
                self.close()  # replaced or truncated under us: open it again
                continue
            raise _fail(rc, err, "cannot take a snapshot")

    def device(self, device_id):
        lib = L.lib()
        view = L.DeviceView()
        for attempt in range(2):
            self.fresh()
            rc = lib.tta_reader_device(self.handle, device_id, ctypes.byref(view))
            if rc == 0:
                return view
            if rc == -_errno.EFAULT and attempt == 0:
                self.close()
                continue
            if rc == -_errno.EINVAL:
                cap = lib.tta_reader_device_capacity(self.handle)
                raise Error(_errno.EINVAL, "device %d out of range: segment %s has devices 0 to %d"
                            % (device_id, self.name.decode(errors="replace"), cap - 1))
            raise Error(-rc, "cannot read device %d of segment %s: %s"
                        % (device_id, self.name.decode(errors="replace"), os.strerror(-rc)))


_readers = {}
_readers_lock = threading.Lock()


def reader(segment):
    """The cached Reader of SEGMENT (resolved as every component does)."""
    name = resolve_name(segment)
    r = _readers.get(name)
    if r is None:
        with _readers_lock:
            r = _readers.setdefault(name, Reader(name))
    return r


def _after_fork_in_child():
    # A lock another thread held at fork stays held in the child forever:
    # drop such readers (their memory is the parent's business), close the
    # others, and start again with fresh locks.
    global _readers_lock
    _readers_lock = threading.Lock()
    for r in list(_readers.values()):
        if r.lock.acquire(blocking=False):
            try:
                r.close()
            except Exception:
                pass
    _readers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---------------------------------------------------------------------------
# Snapshots as dicts

def _check_filters(pid, device):
    pid = 0 if pid is None else int(pid)
    device = -1 if device is None else int(device)
    if not (0 <= pid < 2 ** 31) or not (-1 <= device < 2 ** 31):
        raise Error(_errno.EINVAL, "invalid filter: pid %r, device %r" % (pid, device))
    return pid, device


def take(segment=None, pid=None, device=None, flags=L.SNAPSHOT_PROCESS_DETAILS, convert=None):
    """Takes a snapshot and returns convert(snapshot handle)."""
    pid, device = _check_filters(pid, device)
    r = reader(segment)
    with r.lock:
        snap = r.take(pid, device, flags)
    try:
        return convert(snap)
    finally:
        L.lib().tta_snapshot_free(snap)


_KERNEL = 6


def buffer_dict(b, names, kinds):
    t = b.type
    d = {
        "pid": b.owner_pid,
        "slot": b.owner_slot,
        "device": b.device,
        "type": names[t] if t < L.MEM_TYPES else None,
        "type_id": t,
    }
    if t == _KERNEL:
        k = b.kernel_kind
        d["kernel_kind"] = kinds.get(k, k)
    address = b.address
    d["address"] = address
    d["address_hex"] = "0x%x" % address
    d["size"] = b.size
    d["age_ns"] = b.age_ns
    d["record"] = b.record
    return d


_kinds = None


def kernel_kinds():
    """{kind number: name} for the kinds the library names."""
    global _kinds
    if _kinds is None:
        lib = L.lib()
        kinds = {}
        for k in range(16):
            n = lib.tta_kernel_kind_name(k)
            if n:
                kinds[k] = text(n)
        _kinds = kinds
    return _kinds


_counters = None


def counter_names():
    global _counters
    if _counters is None:
        lib = L.lib()
        names = []
        for i in range(lib.tta_counter_count()):
            names.append(lib.tta_counter_info(i).contents.name.decode())
        _counters = tuple(names)
    return _counters


def counter_table():
    """[{name, kind, unit, help}] of every counter the library knows."""
    lib = L.lib()
    table = []
    for i in range(lib.tta_counter_count()):
        c = lib.tta_counter_info(i).contents
        table.append({"name": c.name.decode(), "kind": "gauge" if c.kind == 1 else "counter",
                      "unit": (c.unit or b"").decode(), "help": (c.help or b"").decode()})
    return table


_libc = None


def _c_library():
    """The C library of this process (open_memstream, fclose, free)."""
    global _libc
    if _libc is None:
        c = ctypes.CDLL(None, use_errno=True)
        c.open_memstream.restype = ctypes.c_void_p
        c.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(ctypes.c_size_t)]
        c.fclose.restype = ctypes.c_int
        c.fclose.argtypes = [ctypes.c_void_p]
        c.free.restype = None
        c.free.argtypes = [ctypes.c_void_p]
        _libc = c
    return _libc


def snapshot_dict(snap, tool):
    """The snapshot as the library's one JSON writer (tta_snapshot_write_json,
    the writer of tt-smi --json) prints it, parsed: the same keys in the same
    order, the same numbers, text decoded as a JSON parser reads
    tta_json_string's output."""
    c = _c_library()
    buf = ctypes.c_void_p()
    size = ctypes.c_size_t()
    stream = c.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    if not stream:
        raise Error(ctypes.get_errno() or _errno.ENOMEM, "cannot write the snapshot: out of memory")
    try:
        L.lib().tta_snapshot_write_json(snap, tool["name"].encode(), tool["version"].encode(),
                                        stream)
    finally:
        failed = c.fclose(stream) != 0
    try:
        if failed or not buf.value:
            raise Error(_errno.ENOMEM, "cannot write the snapshot: out of memory")
        text_ = ctypes.string_at(buf.value, size.value)
    finally:
        c.free(buf)
    return json.loads(text_.decode("utf-8"))


def process_usage(snap):
    """{device: (used list by type id, buffers)} of the snapshot's rows."""
    lib = L.lib()
    usage = {}
    for i in range(lib.tta_snapshot_process_count(snap)):
        r = lib.tta_snapshot_process(snap, i).contents
        if r.device == L.NO_DEVICE:
            continue
        used, buffers = usage.get(r.device, ([0] * L.MEM_TYPES, 0))
        row = r.used
        usage[r.device] = ([used[t] + row[t] for t in range(L.MEM_TYPES)], buffers + r.buffers)
    return usage


# ---------------------------------------------------------------------------
# History and events, as the library's JSON writers print them

def _unix_seconds(ns):
    """UNIX seconds with a millisecond fraction, as the JSON writers print
    them (ns truncated to ms)."""
    return (ns // 1000000) / 1000


def history(segment, device, seconds):
    """The dict `tt-smi --history SECONDS --json` prints."""
    device = -1 if device is None else int(device)
    seconds = int(seconds)
    if not -1 <= device < 2 ** 31 or not 0 <= seconds < 2 ** 32:
        raise Error(_errno.EINVAL, "invalid history arguments: device %r, seconds %r"
                    % (device, seconds))
    lib = L.lib()
    r = reader(segment)
    err = ctypes.create_string_buffer(ERR_LEN)
    h = ctypes.c_void_p()
    with r.lock:
        for attempt in range(2):
            r.fresh()
            rc = lib.tta_history_take(r.handle, device, seconds, ctypes.byref(h), err, ERR_LEN)
            if rc in (-_errno.ESTALE, -_errno.EFAULT) and attempt == 0:
                r.close()
                continue
            break
    if rc != 0:
        raise _fail(rc, err, "cannot read the history")
    try:
        pairs = _display_pairs()
        devices = []
        for i in range(lib.tta_history_device_count(h)):
            d = lib.tta_history_device(h, i).contents
            samples = []
            for k in range(d.sample_count):
                s = lib.tta_history_sample(h, i, k).contents
                if not s.known:
                    continue
                samples.append({"t": _unix_seconds(s.realtime_ns),
                                "used": {name: s.used[t] for name, t in pairs},
                                "total": s.total})
            devices.append({"id": d.id, "peak": {name: d.peak[t] for name, t in pairs},
                            "peak_total": d.peak_total, "samples": samples})
        return {"history": {"interval_ms": lib.tta_history_interval_ms(h),
                            "seconds": lib.tta_history_seconds(h),
                            "available": bool(lib.tta_history_available(h)),
                            "devices": devices}}
    finally:
        lib.tta_history_free(h)


_ADDRESSED = {1, 2, 3, 4, 5}  # alloc, free, cb_alloc, cb_free, kernel_load
_REAP = 8


def event_dict(e, names, kinds):
    """One event as tt-smi --events --json prints it (tta_event_write_json)."""
    lib = L.lib()
    kind = lib.tta_event_kind_name(e.kind)
    addressed = e.kind in _ADDRESSED or e.kind >= L.EVENT_KINDS
    t = e.type
    d = {
        "t": _unix_seconds(e.realtime_ns),
        "seq": e.seq,
        "event": kind.decode() if kind else "event#%d" % e.kind,
        "pid": e.pid,
        "slot": e.slot,
        "device": None if e.device == L.NO_DEVICE else e.device,
        "type": None if t == 0xFFFFFFFF else names[t] if t < L.MEM_TYPES else "type#%d" % t,
        "address": e.address if addressed else None,
        "size": e.size if addressed or e.kind == _REAP else None,
    }
    if e.kind == 5:
        d["kernel_kind"] = kinds.get(e.kernel_kind, e.kernel_kind)
    if e.kind == _REAP:
        d["buffers"] = e.buffers
    return d


class Events:
    """A cursor on a segment's event ring (see tt_alloc.events)."""

    def __init__(self, segment, start):
        lib = L.lib()
        self._reader = Reader(resolve_name(segment))  # its own: a cursor lives long
        self._reader.open()
        err = ctypes.create_string_buffer(ERR_LEN)
        self._cursor = ctypes.c_void_p()
        rc = lib.tta_events_open(self._reader.handle,
                                 L.EVENTS_NOW if start == "now" else L.EVENTS_OLDEST,
                                 ctypes.byref(self._cursor), err, ERR_LEN)
        if rc != 0:
            self._reader.close()
            raise _fail(rc, err, "cannot follow the events")
        self.available = bool(lib.tta_events_available(self._cursor))
        self.missed = 0
        self._lock = threading.Lock()

    def poll(self):
        """Every event recorded since the last call, as dicts, oldest first;
        events lost in between appear as {"event": "missed", "count": N}."""
        lib = L.lib()
        names, kinds = type_names(), kernel_kinds()
        out = []
        ev = ctypes.POINTER(L.Event)()
        missed = ctypes.c_uint64()
        with self._lock:
            if self._cursor is None:
                raise Error(_errno.EBADF, "the event cursor is closed")
            while True:
                rc = lib.tta_events_next(self._cursor, ctypes.byref(ev), ctypes.byref(missed))
                if missed.value:
                    self.missed += missed.value
                    out.append({"event": "missed", "count": missed.value})
                if rc < 0:
                    raise Error(-rc, "segment %s became unreadable (truncated)"
                                % self._reader.name.decode(errors="replace"))
                if rc == 0:
                    return out
                out.append(event_dict(ev.contents, names, kinds))

    def close(self):
        with self._lock:
            if self._cursor is not None:
                L.lib().tta_events_close(self._cursor)
                self._cursor = None
                self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
