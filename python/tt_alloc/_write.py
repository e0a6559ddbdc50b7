"""Write side: the tta_report_* calls for Python allocators and tests.

Reporting happens only when TT_ALLOC_TRACKING_ENABLED=1 is in the
environment at the first report: the C library decides, exactly as for a C
program; off, every call returns after one branch in C.
"""

import ctypes
import enum

from . import _lib as L


class MemType(enum.IntEnum):
    """enum tta_mem_type; 0..4 equal TT-Metal's BufferType."""
    DRAM = 0
    L1 = 1
    SYSTEM = 2
    L1_SMALL = 3
    TRACE = 4
    CB = 5
    KERNEL = 6


class KernelKind(enum.IntEnum):
    """enum tta_kernel_kind."""
    APPLICATION = 0
    FABRIC = 1
    DISPATCH = 2


_BUFFER_TYPES = {"dram": 0, "l1": 1, "system": 2, "l1_small": 3, "trace": 4}
_KINDS = {"application": 0, "fabric": 1, "dispatch": 2}
_U32 = 1 << 32
_U64 = 1 << 64


def _u(value, limit, what):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = value.__index__()
        except AttributeError:
            raise TypeError("%s must be an int, not %s" % (what, type(value).__name__)) from None
    if not 0 <= value < limit:
        raise ValueError("%s %d out of range (0 to %d)" % (what, value, limit - 1))
    return value


def buffer_type(value):
    """A memory type for report_alloc: "dram", "l1", "l1_small", "trace",
    "system" (any case), or a number (a MemType or TT-Metal BufferType value).
    Numbers are passed on as C would pass them: the library counts a type it
    does not accept (CB, KERNEL, unknown) as bad_argument."""
    if isinstance(value, str):
        t = _BUFFER_TYPES.get(value.lower())
        if t is None:
            hint = ""
            if value.lower() == "cb":
                hint = "; circular buffers are reported with report_cb_alloc"
            elif value.lower() == "kernel":
                hint = "; kernel binaries are reported with report_kernel_load"
            raise ValueError("unknown memory type %r (dram, l1, l1_small, trace, system)%s"
                             % (value, hint))
        return t
    return _u(value, _U32, "memory type")


def kernel_kind(value):
    if isinstance(value, str):
        k = _KINDS.get(value.lower())
        if k is None:
            raise ValueError("unknown kernel kind %r (application, fabric, dispatch)" % value)
        return k
    return _u(value, _U32, "kernel kind")


def report_alloc(device, address, size, type):
    """A buffer of SIZE bytes allocated at ADDRESS on DEVICE (tta_report_alloc)."""
    L.lib().tta_report_alloc(_u(device, _U32, "device"), _u(address, _U64, "address"),
                             _u(size, _U64, "size"), buffer_type(type))


def report_free(device, address):
    """The buffer at (DEVICE, ADDRESS) freed (tta_report_free)."""
    L.lib().tta_report_free(_u(device, _U32, "device"), _u(address, _U64, "address"))


def report_alloc_handle(device, address, size, type):
    """Like report_alloc; returns a handle for report_free_handle (0 when
    tracking is off)."""
    return L.lib().tta_report_alloc_handle(_u(device, _U32, "device"),
                                           _u(address, _U64, "address"),
                                           _u(size, _U64, "size"), buffer_type(type))


def report_free_handle(handle):
    """Releases a handle from report_alloc_handle (0 is a no-op)."""
    L.lib().tta_report_free_handle(_u(handle, _U64, "handle"))


def report_cb_alloc(device, cb_id, size):
    """A circular buffer: CB_ID any 64-bit identity, SIZE the total bytes
    (per-core size x cores)."""
    L.lib().tta_report_cb_alloc(_u(device, _U32, "device"), _u(cb_id, _U64, "cb_id"),
                                _u(size, _U64, "size"))


def report_cb_free(device, cb_id):
    L.lib().tta_report_cb_free(_u(device, _U32, "device"), _u(cb_id, _U64, "cb_id"))


def report_kernel_load(device, kernel_id, size, kind="application"):
    """A kernel binary of SIZE bytes (size x cores) loaded; no free event.
    KIND: "application", "fabric", "dispatch" or a KernelKind."""
    L.lib().tta_report_kernel_load(_u(device, _U32, "device"), _u(kernel_id, _U64, "kernel_id"),
                                   _u(size, _U64, "size"), kernel_kind(kind))


_PRESETS = {"wormhole_b0": ("tta_device_info_wormhole_b0", 72),
            "wormhole": ("tta_device_info_wormhole_b0", 72),
            "blackhole": ("tta_device_info_blackhole", 140)}


def device_info(arch="wormhole_b0", num_cores=None, l1_bytes_per_core=None, capacity=None):
    """A struct tta_device_info. ARCH "wormhole_b0" (or "wormhole", 72 cores by
    default) and "blackhole" (140) take the library's presets; any other ARCH
    is a name, with figures from the other arguments. CAPACITY: {type name or
    number: bytes}, over the preset."""
    info = L.DeviceInfo()
    preset = _PRESETS.get(arch.lower())
    if preset is not None:
        fn, cores = preset
        getattr(L.lib(), fn)(ctypes.byref(info), _u(cores if num_cores is None else num_cores,
                                                    _U32, "num_cores"))
    else:
        raw = arch.encode()
        if len(raw) >= L.DeviceInfo.arch.size:
            raise ValueError("arch name %r longer than %d bytes" % (arch,
                                                                    L.DeviceInfo.arch.size - 1))
        info.arch = raw
        if num_cores is not None:
            info.num_cores = _u(num_cores, _U32, "num_cores")
    if l1_bytes_per_core is not None:
        info.l1_bytes_per_core = _u(l1_bytes_per_core, _U32, "l1_bytes_per_core")
    for key, value in (capacity or {}).items():
        if isinstance(key, str):
            names = dict(_BUFFER_TYPES, cb=5, kernel=6)
            if key.lower() not in names:
                raise ValueError("unknown memory type %r" % key)
            t = names[key.lower()]
        else:
            t = _u(key, L.MEM_TYPES, "memory type")
        info.capacity[t] = _u(value, _U64, "capacity")
    return info


def register_device(device, arch="wormhole_b0", num_cores=None, l1_bytes_per_core=None,
                    capacity=None):
    """Registers what DEVICE is (tta_register_device); see device_info for the
    arguments. Returns 0 on success, 1 if it was already registered (the
    first registration wins), -1 if tracking is off or disabled or DEVICE is
    out of range."""
    info = device_info(arch, num_cores, l1_bytes_per_core, capacity)
    return L.lib().tta_register_device(_u(device, _U32, "device"), ctypes.byref(info))


def tracking_state():
    """Where tracking stands for this process: "off" (TT_ALLOC_TRACKING_ENABLED
    is not 1), "idle" (no report yet), "attached" or "disabled" (an error
    disabled it; the library said why on stderr)."""
    s = L.lib().tta_track_state()
    return L.TRACK_STATES[s] if 0 <= s < len(L.TRACK_STATES) else s


def detach():
    """Releases this process's slot now (tta_track_detach); returns how many
    allocations were still held (dropped from the totals, not reported as
    leaks)."""
    return L.lib().tta_track_detach()
