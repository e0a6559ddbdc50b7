"""ctypes binding of libttalloc.so.2: finding and loading the library, the C
structs, and the prototypes. Internal: the public API is in tt_alloc.

The structs below mirror include/tt-alloc/tt_alloc.h and reader.h. Those the
library fills in memory it owns (every view struct, tta_segment_info,
tta_counter_info) are reached only through the pointers its accessors
return; a later libttalloc.so.2 may append fields to them, which a prefix
mirror reads correctly. tta_device_info is allocated by the caller and never
changes. python/tests/test_layout.py checks every size and offset against
the C compiler's view of the installed headers.
"""

import ctypes
import errno as _errno
import os
import threading

SONAME = "libttalloc.so.2"
MEM_TYPES = 7  # TTA_MEM_TYPES
NO_DEVICE = 0xFFFFFFFF  # TTA_NO_DEVICE

SNAPSHOT_BUFFERS = 1 << 0
SNAPSHOT_PROCESS_DETAILS = 1 << 1
SNAPSHOT_SOURCES = 1 << 2

# enum tta_segment_status
SEGMENT_OK, SEGMENT_REPLACED, SEGMENT_REMOVED, SEGMENT_TRUNCATED = range(4)

# enum tta_reaper_status
REAPER_RUNNING = 1

# enum tta_track_state
TRACK_STATES = ("off", "idle", "attached", "disabled")

_i64x7 = ctypes.c_int64 * MEM_TYPES
_u64x7 = ctypes.c_uint64 * MEM_TYPES


class DeviceInfo(ctypes.Structure):
    """struct tta_device_info (caller-allocated, fixed)."""
    _fields_ = [
        ("arch", ctypes.c_char * 32),
        ("num_cores", ctypes.c_uint32),
        ("l1_bytes_per_core", ctypes.c_uint32),
        ("capacity", _u64x7),
    ]


class CounterInfo(ctypes.Structure):
    """struct tta_counter_info (prefix)."""
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("kind", ctypes.c_int),
        ("unit", ctypes.c_char_p),
        ("help", ctypes.c_char_p),
    ]


class SegmentInfo(ctypes.Structure):
    """struct tta_segment_info (prefix)."""
    _fields_ = [
        ("name", ctypes.c_char * 260),
        ("abi_version", ctypes.c_uint32),
        ("device_capacity", ctypes.c_uint32),
        ("slot_capacity", ctypes.c_uint32),
        ("record_capacity", ctypes.c_uint32),
        ("segment_size", ctypes.c_uint64),
        ("region_count", ctypes.c_uint32),
        ("mode", ctypes.c_uint32),
        ("created_realtime_ns", ctypes.c_uint64),
        ("creator_pid", ctypes.c_int64),
        ("taken_realtime_ns", ctypes.c_uint64),
        ("reaper_pid", ctypes.c_int32),
        ("reaper_status", ctypes.c_int32),
        ("reaper_heartbeat_age_ns", ctypes.c_uint64),
        ("filter_pid", ctypes.c_int32),
        ("filter_device", ctypes.c_int32),
        ("flags", ctypes.c_uint),
    ]


class DeviceView(ctypes.Structure):
    """struct tta_device_view (prefix)."""
    _fields_ = [
        ("id", ctypes.c_uint32),
        ("registered", ctypes.c_int),
        ("arch", ctypes.c_char * 32),
        ("num_cores", ctypes.c_uint32),
        ("l1_bytes_per_core", ctypes.c_uint32),
        ("capacity", _u64x7),
        ("used", _i64x7),
        ("buffers", ctypes.c_int64),
        ("processes", ctypes.c_uint32),
    ]


class ProcessView(ctypes.Structure):
    """struct tta_process_view (embedded in tta_process_row: fixed)."""
    _fields_ = [
        ("slot", ctypes.c_uint32),
        ("pid", ctypes.c_int32),
        ("uid", ctypes.c_uint32),
        ("generation", ctypes.c_uint32),
        ("start_time", ctypes.c_uint64),
        ("attach_realtime_ns", ctypes.c_uint64),
        ("pidns_ino", ctypes.c_uint64),
        ("comm", ctypes.c_char * 16),
        ("cmdline", ctypes.c_char * 96),
        ("state", ctypes.c_int32),
    ]


class ProcessRow(ctypes.Structure):
    """struct tta_process_row (prefix)."""
    _fields_ = [
        ("proc", ProcessView),
        ("device", ctypes.c_uint32),
        ("used", _i64x7),
        ("buffers", ctypes.c_int64),
        ("user", ctypes.c_char * 64),
        ("running", ctypes.c_int),
        ("peak", _i64x7),
    ]


class BufferView(ctypes.Structure):
    """struct tta_buffer_view (prefix)."""
    _fields_ = [
        ("record", ctypes.c_uint32),
        ("owner_pid", ctypes.c_int32),
        ("owner_slot", ctypes.c_uint32),
        ("device", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("kernel_kind", ctypes.c_uint32),
        ("address", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
        ("age_ns", ctypes.c_uint64),
    ]


class HistorySample(ctypes.Structure):
    """struct tta_history_sample (prefix)."""
    _fields_ = [
        ("realtime_ns", ctypes.c_uint64),
        ("used", _i64x7),
        ("total", ctypes.c_int64),
        ("known", ctypes.c_int),
        ("recorded", ctypes.c_int),
    ]


class HistoryDevice(ctypes.Structure):
    """struct tta_history_device (prefix)."""
    _fields_ = [
        ("id", ctypes.c_uint32),
        ("sample_count", ctypes.c_size_t),
        ("peak", _i64x7),
        ("peak_total", ctypes.c_int64),
        ("recorded_count", ctypes.c_size_t),
    ]


class Event(ctypes.Structure):
    """struct tta_event (prefix)."""
    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("realtime_ns", ctypes.c_uint64),
        ("kind", ctypes.c_uint32),
        ("pid", ctypes.c_int32),
        ("slot", ctypes.c_uint32),
        ("device", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("kernel_kind", ctypes.c_uint32),
        ("address", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
        ("buffers", ctypes.c_uint64),
    ]


EVENTS_OLDEST, EVENTS_NOW = 0, 1  # enum tta_events_start
EVENT_KINDS = 9  # TTA_EVENT_KINDS

# name: (restype, argtypes)
_c = ctypes
_vp = _c.c_void_p
_PROTOTYPES = {
    # write side
    "tta_report_alloc": (None, [_c.c_uint32, _c.c_uint64, _c.c_uint64, _c.c_uint]),
    "tta_report_free": (None, [_c.c_uint32, _c.c_uint64]),
    "tta_report_alloc_handle": (_c.c_uint64, [_c.c_uint32, _c.c_uint64, _c.c_uint64, _c.c_uint]),
    "tta_report_free_handle": (None, [_c.c_uint64]),
    "tta_report_cb_alloc": (None, [_c.c_uint32, _c.c_uint64, _c.c_uint64]),
    "tta_report_cb_free": (None, [_c.c_uint32, _c.c_uint64]),
    "tta_report_kernel_load": (None, [_c.c_uint32, _c.c_uint64, _c.c_uint64, _c.c_uint]),
    "tta_register_device": (_c.c_int, [_c.c_uint32, _c.POINTER(DeviceInfo)]),
    "tta_device_info_wormhole_b0": (None, [_c.POINTER(DeviceInfo), _c.c_uint32]),
    "tta_device_info_blackhole": (None, [_c.POINTER(DeviceInfo), _c.c_uint32]),
    "tta_track_state": (_c.c_int, []),
    "tta_track_detach": (_c.c_long, []),
    "tta_mem_type_name": (_c.c_char_p, [_c.c_uint]),
    "tta_kernel_kind_name": (_c.c_char_p, [_c.c_uint]),
    "tta_segment_name": (_c.c_char_p, [_c.c_char_p, _c.c_char_p, _c.c_size_t]),
    # read side
    "tta_reader_open": (_c.c_int, [_c.c_char_p, _c.POINTER(_vp), _c.c_char_p, _c.c_size_t]),
    "tta_reader_close": (None, [_vp]),
    "tta_reader_status": (_c.c_int, [_vp]),
    "tta_reader_device_capacity": (_c.c_uint32, [_vp]),
    "tta_reader_device": (_c.c_int, [_vp, _c.c_uint32, _c.POINTER(DeviceView)]),
    "tta_counter_count": (_c.c_uint, []),
    "tta_counter_info": (_c.POINTER(CounterInfo), [_c.c_uint]),
    "tta_reaper_status_name": (_c.c_char_p, [_c.c_int]),
    "tta_snapshot_take": (_c.c_int, [_vp, _c.c_int32, _c.c_int32, _c.c_uint, _c.POINTER(_vp),
                                     _c.c_char_p, _c.c_size_t]),
    "tta_snapshot_free": (None, [_vp]),
    "tta_snapshot_segment": (_c.POINTER(SegmentInfo), [_vp]),
    "tta_snapshot_counter": (_c.c_uint64, [_vp, _c.c_uint]),
    "tta_snapshot_device_count": (_c.c_size_t, [_vp]),
    "tta_snapshot_device": (_c.POINTER(DeviceView), [_vp, _c.c_size_t]),
    "tta_snapshot_process_count": (_c.c_size_t, [_vp]),
    "tta_snapshot_process": (_c.POINTER(ProcessRow), [_vp, _c.c_size_t]),
    "tta_snapshot_buffer_count": (_c.c_size_t, [_vp]),
    "tta_snapshot_buffer": (_c.POINTER(BufferView), [_vp, _c.c_size_t]),
    "tta_format_bytes": (_c.c_char_p, [_c.c_int64, _c.c_char_p, _c.c_size_t]),
    "tta_snapshot_write_json": (None, [_vp, _c.c_char_p, _c.c_char_p, _vp]),
    # history and events
    "tta_history_take": (_c.c_int, [_vp, _c.c_int32, _c.c_uint32, _c.POINTER(_vp), _c.c_char_p,
                                    _c.c_size_t]),
    "tta_history_free": (None, [_vp]),
    "tta_history_available": (_c.c_int, [_vp]),
    "tta_history_interval_ms": (_c.c_uint32, [_vp]),
    "tta_history_seconds": (_c.c_uint32, [_vp]),
    "tta_history_device_count": (_c.c_size_t, [_vp]),
    "tta_history_device": (_c.POINTER(HistoryDevice), [_vp, _c.c_size_t]),
    "tta_history_sample": (_c.POINTER(HistorySample), [_vp, _c.c_size_t, _c.c_size_t]),
    "tta_events_open": (_c.c_int, [_vp, _c.c_int, _c.POINTER(_vp), _c.c_char_p, _c.c_size_t]),
    "tta_events_close": (None, [_vp]),
    "tta_events_available": (_c.c_int, [_vp]),
    "tta_events_next": (_c.c_int, [_vp, _c.POINTER(_c.POINTER(Event)), _c.POINTER(_c.c_uint64)]),
    "tta_event_kind_name": (_c.c_char_p, [_c.c_uint]),
}


class Error(Exception):
    """An error of tt-alloc: .errno (an errno number, e.g. errno.ENOENT when
    there is no segment) and .message, the library's one-line explanation,
    which is also str(error)."""

    def __init__(self, errno, message):
        super().__init__(errno, message)
        self.errno = errno
        self.message = message

    def __str__(self):
        return self.message


Error.__module__ = "tt_alloc"


class LibraryError(Error):
    """libttalloc.so.2 could not be found or loaded (errno ENOENT when it was
    not found, ELIBBAD when it was found but does not load)."""


LibraryError.__module__ = "tt_alloc"


_lock = threading.Lock()
_lib = None
_path = None


def _checkout_library():
    """build/libttalloc.so.2 of the checkout this package sits in, if the
    package is python/tt_alloc/ of a tt-alloc checkout; else None."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if not os.path.isfile(os.path.join(root, "include", "tt-alloc", "reader.h")):
        return None, root
    return os.path.join(root, "build", SONAME), root


def _load():
    env = os.environ.get("TT_ALLOC_LIBRARY")
    if env:
        candidates = [(env, "TT_ALLOC_LIBRARY")]
    else:
        candidates = []
        built, root = _checkout_library()
        if built is not None and os.path.exists(built):
            candidates.append((built, "checkout"))
        candidates.append((SONAME, "soname"))
    path, origin = candidates[0]
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        if origin == "TT_ALLOC_LIBRARY":
            code = _errno.ENOENT if not os.path.exists(path) else _errno.ELIBBAD
            raise LibraryError(code, "cannot load %s (TT_ALLOC_LIBRARY): %s; "
                               "point TT_ALLOC_LIBRARY at a built libttalloc.so.2 (make builds "
                               "build/libttalloc.so.2) or unset it" % (path, e)) from None
        if origin == "checkout":
            raise LibraryError(_errno.ELIBBAD, "cannot load %s: %s; rebuild it with "
                               "'make -C %s'" % (path, e, root)) from None
        built, root = _checkout_library()
        if built is not None:
            hint = ("run 'make -C %s' to build %s, or 'make install' to install %s, or set "
                    "TT_ALLOC_LIBRARY to its path" % (root, built, SONAME))
        else:
            hint = ("install tt-alloc ('make install PREFIX=/usr/local' in a tt-alloc checkout, "
                    "then ldconfig) or set TT_ALLOC_LIBRARY to the path of %s" % SONAME)
        raise LibraryError(_errno.ENOENT, "cannot find the tt-alloc library %s (%s); %s"
                           % (SONAME, e, hint)) from None
    try:
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
    except AttributeError as e:
        raise LibraryError(_errno.ELIBBAD, "%s is not a compatible tt-alloc library "
                           "(%s); rebuild or reinstall tt-alloc" % (path, e)) from None
    return lib, path


def lib():
    """The loaded library (loaded on first use)."""
    global _lib, _path
    if _lib is None:
        with _lock:
            if _lib is None:
                loaded, path = _load()
                _path = path
                _lib = loaded
    return _lib


def library_path():
    """The file of the loaded library (the soname resolved through
    /proc/self/maps when it was found by the dynamic linker)."""
    lib()
    if os.sep in _path:
        return os.path.abspath(_path)
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and os.path.basename(fields[5].strip()).startswith(
                        "libttalloc.so"):
                    return fields[5].strip()
    except OSError:
        pass
    return _path
