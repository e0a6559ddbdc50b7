"""tt_alloc: live Tenstorrent device-memory telemetry from Python.

Pure Python over the tt-alloc C library (libttalloc.so.2) through ctypes, as
pynvml binds NVML. The library is loaded on first use, from
$TT_ALLOC_LIBRARY if set, else build/libttalloc.so.2 of the checkout this
package sits in (when it was built), else the installed libttalloc.so.2.

Read (no daemon: the shared-memory segment is mapped read-only):
    snapshot()                 the dict `tt-smi --json` prints (processes with
                               "peak" beside "used": max_memory_allocated)
    history(seconds=600)       the dict `tt-smi --history --json` prints
    events(start="oldest")     a cursor on the live event stream
    devices(), processes(), buffers(pid=None, device=None)
    query_device_stats(device_id)   the old query_stats.py function
    profile()                  device memory of this process over a block
Write (only when TT_ALLOC_TRACKING_ENABLED=1, decided by the C library):
    report_alloc, report_free, report_alloc_handle, report_free_handle,
    report_cb_alloc, report_cb_free, report_kernel_load, register_device

Every read takes SEGMENT=None: the segment name, else $TT_ALLOC_SHM, else
"/tt_alloc". Segment errors raise tt_alloc.Error (.errno, .message).
Threading: every function may be called from any thread.
"""

import collections
import errno as _errno

from . import _lib
from . import _read
from ._lib import Error, LibraryError
from ._profile import DeviceProfile, Profile, profile
from ._write import (KernelKind, MemType, detach, register_device, report_alloc,
                     report_alloc_handle, report_cb_alloc, report_cb_free, report_free,
                     report_free_handle, report_kernel_load, tracking_state)

__version__ = "2.0.0"

__all__ = [
    "Error", "LibraryError", "snapshot", "devices", "processes", "buffers",
    "query_device_stats", "profile", "Profile", "DeviceProfile", "Device", "Process", "Buffer",
    "report_alloc", "report_free", "report_alloc_handle", "report_free_handle",
    "report_cb_alloc", "report_cb_free", "report_kernel_load", "register_device",
    "MemType", "KernelKind", "tracking_state", "detach", "counter_table", "format_bytes",
    "library_path", "segment_name", "history", "events",
]

TOOL = {"name": "tt_alloc", "version": __version__}

# Objects with attributes named like the keys of tt-smi --json.
# The keys the sources add (driver telemetry, untracked processes, TT-Metal's
# segments) default to None so every row has them.
Device = collections.namedtuple("Device", "id arch registered num_cores l1_bytes_per_core "
                                "used total buffers processes in_sysfs open_files telemetry "
                                "untracked sources used_combined", defaults=(None,) * 6)
Process = collections.namedtuple("Process", "pid name cmdline user uid slot generation "
                                 "start_time attach_realtime_ns running device used peak buffers "
                                 "source asic_id", defaults=(None,) * 2)
Buffer = collections.namedtuple("Buffer", "pid slot device type type_id kernel_kind address "
                                "address_hex size age_ns record",
                                defaults=(None,) * 11)


def snapshot(segment=None, buffers=False, pid=None, device=None):
    """One consistent snapshot as the dict `tt-smi --json` prints (same keys,
    same numbers, the same C writer): "tool", "timestamp_ns", "segment" (with
    "counters", every counter by name, and "reaper"), "devices" (with the
    driver's "telemetry"), "processes" (tt-alloc's and TT-Metal's, told apart
    by "source"), "sources", and "buffers" when BUFFERS is true. PID and DEVICE filter as tt-smi's --pid and
    --device do. Process rows carry user and running state (a /proc read per
    process, as tt-smi does)."""
    flags = (_lib.SNAPSHOT_PROCESS_DETAILS | _lib.SNAPSHOT_SOURCES |
             (_lib.SNAPSHOT_BUFFERS if buffers else 0))
    return _read.take(segment, pid, device, flags,
                      lambda s: _read.snapshot_dict(s, dict(TOOL)))


def devices(segment=None):
    """[Device] registered, in use, or present in the driver's sysfs, by id:
    .used and .total are {type: bytes}; .telemetry is {field: value} as the
    driver published it ("temperature_c", "power_w", "aiclk_mhz", ...: the
    keys of tt-smi --json), .untracked the processes that hold the device
    without reporting, .sources the memory by source (tt-alloc, tt-metal)."""
    doc = _read.take(segment, None, None, _lib.SNAPSHOT_SOURCES,
                     lambda s: _read.snapshot_dict(s, dict(TOOL)))
    return [Device(**d) for d in doc["devices"]]


def processes(segment=None, pid=None, device=None):
    """[Process]: one row per live process and device it reported on, sorted
    by device, then pid (.device is None for a process that has reported on
    no device yet), then TT-Metal's own entries (.source "tt-metal", .buffers
    None; .device None when its segment's .asic_id matches no device)."""
    snap = snapshot(segment, pid=pid, device=device)
    return [Process(**p) for p in snap["processes"]]


def buffers(pid=None, device=None, segment=None):
    """[Buffer] live buffer records (kernel binaries included, .kernel_kind
    set), sorted by pid, device, address; PID and DEVICE filter."""
    def convert(s):
        lib = _lib.lib()
        names, kinds = _read.type_names(), _read.kernel_kinds()
        return [Buffer(**_read.buffer_dict(lib.tta_snapshot_buffer(s, i).contents, names, kinds))
                for i in range(lib.tta_snapshot_buffer_count(s))]
    return _read.take(segment, pid, device, _lib.SNAPSHOT_BUFFERS, convert)


def query_device_stats(device_id, segment=None):
    """Current totals of DEVICE_ID over all processes, read from the segment
    (tta_reader_device: no snapshot, no daemon). Compatible with the old
    query_stats.py: device_id, dram_allocated, l1_allocated,
    l1_small_allocated, trace_allocated (bytes); also system_allocated,
    cb_allocated, kernel_allocated, num_buffers, num_processes,
    total_dram_size, total_l1_size (0 when unknown), l1_size_per_core,
    num_cores. Every value is an int. A device id the segment has no room
    for raises Error (EINVAL); a device nobody uses reads as zeros."""
    device_id = int(device_id)
    if not 0 <= device_id < 1 << 32:
        raise Error(_errno.EINVAL, "device %d out of range" % device_id)
    r = _read.reader(segment)
    with r.lock:
        d = r.device(device_id)
        used, cap = d.used, d.capacity
        reg = bool(d.registered)
        return {
            "device_id": device_id,
            "dram_allocated": used[0],
            "l1_allocated": used[1],
            "l1_small_allocated": used[3],
            "trace_allocated": used[4],
            "system_allocated": used[2],
            "cb_allocated": used[5],
            "kernel_allocated": used[6],
            "num_buffers": d.buffers,
            "num_processes": d.processes,
            "total_dram_size": cap[0] if reg else 0,
            "total_l1_size": cap[1] if reg else 0,
            "l1_size_per_core": d.l1_bytes_per_core if reg else 0,
            "num_cores": d.num_cores if reg else 0,
        }


def counter_table():
    """[{"name", "kind" ("counter" or "gauge"), "unit", "help"}]: every
    counter of snapshot()["segment"]["counters"], described."""
    return _read.counter_table()


def format_bytes(n):
    """N bytes as tt-smi writes them ("0", "512B", "1.5KiB", "3.0GiB")."""
    import ctypes
    buf = ctypes.create_string_buffer(32)
    return _lib.lib().tta_format_bytes(int(n), buf, 32).decode()


def library_path():
    """The libttalloc.so.2 in use (loads it)."""
    return _lib.library_path()


def segment_name(segment=None):
    """The segment name every component would use for SEGMENT: "/name"."""
    return _read.resolve_name(segment).decode()


def history(seconds=600, device=None, segment=None):
    """Memory use over the last SECONDS per device and type, recorded in the
    segment itself: the dict `tt-smi --history SECONDS --json` prints,
    {"history": {"interval_ms", "seconds", "available", "devices": [{"id",
    "peak", "peak_total", "samples": [{"t", "used", "total"}]}]}}, samples
    oldest first (one a second up to ~17 minutes, one a minute beyond).
    DEVICE (None = all) keeps one device. A segment made before history
    existed gives "available": False and no devices."""
    return _read.history(segment, device, seconds)


def events(start="oldest", segment=None):
    """A cursor on the segment's event stream: allocations, frees, CBs,
    kernel loads (recorded by processes started with TT_ALLOC_EVENTS=1),
    attaches, exits and reaps (always). START is "oldest" (what the ring
    still holds) or "now". .poll() returns the events since the last call as
    dicts with the keys of `tt-smi --events --json`; use it as a context
    manager or .close() it."""
    if start not in ("oldest", "now"):
        raise Error(_errno.EINVAL, "start must be 'oldest' or 'now', not %r" % (start,))
    return _read.Events(segment, start)
