"""Fake Tenstorrent hosts for the tests of the sources (tests/sh/test_sources.sh):
a tt-kmd sysfs/hwmon tree, the driver's /proc pid lists, /proc entries of
processes, and TT-Metal's /dev/shm/tt_device_<asic id>_memory segments, all
under one ROOT (what TT_ALLOC_SYSFS_ROOT points at).

The segment layout is written from docs/tt-metal-shm.md (TT-Metal's
memory_stats_shm.hpp, DeviceMemoryRegion versions 2 to 4), not from
tt-alloc's parser, so the tests check the parser against the document.
"""

import os
import struct

READY = 0x52454459            # init_state "REDY" (version 4)
SEGMENT_SIZE = 8576           # sizeof(DeviceMemoryRegion), aligned to 64
PROCESS_TABLE_END = 8536      # v2/v3 end; v4's init_state sits here
UNUSED_CHIP = 0xFFFFFFFF


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


def device(root, n, attrs, hwmon=None, bdf=None):
    """Class device tenstorrent!N: a link into the PCI device's tree, as the
    driver makes it, with ATTRS (name -> text, written with a newline unless
    it is bytes) and, if HWMON is a dict, the PCI device's hwmon directory."""
    bdf = bdf or "0000:%02x:00.0" % (n + 1)
    pci = os.path.join(root, "sys/devices/pci0000:00", bdf)
    cls = os.path.join(pci, "tenstorrent", "tenstorrent!%d" % n)
    os.makedirs(cls, exist_ok=True)
    os.makedirs(os.path.join(root, "sys/class/tenstorrent"), exist_ok=True)
    link = os.path.join(root, "sys/class/tenstorrent", "tenstorrent!%d" % n)
    if not os.path.lexists(link):
        os.symlink(os.path.relpath(cls, os.path.dirname(link)), link)
    if not os.path.lexists(os.path.join(cls, "device")):
        # as the kernel spells it: ../../../0000:01:00.0
        os.symlink(os.path.join(os.path.relpath(os.path.dirname(pci), cls), bdf),
                   os.path.join(cls, "device"))
    for name, value in attrs.items():
        _attr(os.path.join(cls, name), value)
    if hwmon is not None:
        hw = os.path.join(pci, "hwmon", "hwmon%d" % (n + 3))
        os.makedirs(hw, exist_ok=True)
        for name, value in hwmon.items():
            _attr(os.path.join(hw, name), value)
    return cls


def _attr(path, value):
    if value is FIFO:
        os.mkfifo(path)
    elif isinstance(value, bytes):
        write(path, value, "wb")
    else:
        write(path, "%s\n" % value)


FIFO = object()  # an attribute that is a FIFO (a reader must not hang on it)


def pids(root, n, lines):
    """/proc/driver/tenstorrent/N/pids with LINES (ints or raw strings)."""
    write(os.path.join(root, "proc/driver/tenstorrent/%d/pids" % n),
          "".join("%s\n" % x for x in lines))


def process(root, pid, comm, uid):
    """/proc/PID of a process: comm and the Uid line of status."""
    base = os.path.join(root, "proc", str(pid))
    write(os.path.join(base, "comm"), comm + "\n")
    write(os.path.join(base, "status"), "Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n" % (comm, uid, uid, uid, uid))


def segment(version=4, asic=0, device_id=0, totals=(0, 0, 0, 0, 0), procs=(), chips=(),
            init_state=READY, active=None, updated=1700000000000000000, asic_field=None):
    """The bytes of a DeviceMemoryRegion. PROCS: (pid, name bytes (up to 64),
    (dram, l1, l1_small, trace, cb), last_update); CHIPS: (chip_id, remote,
    counters). Counters are the five u64 of the layout, in that order."""
    b = bytearray(SEGMENT_SIZE)
    live = [p for p in procs if p[0] > 0]
    struct.pack_into("<IIQI", b, 0, version, len(live) if active is None else active, updated,
                     len(live))
    struct.pack_into("<QQI", b, 24, 0, asic if asic_field is None else asic_field, device_id)
    struct.pack_into("<5Q", b, 48, *totals)
    for c in range(16):
        struct.pack_into("<I", b, 88 + 48 * c, UNUSED_CHIP)
    for c, (chip_id, remote, counters) in enumerate(chips):
        struct.pack_into("<II5Q", b, 88 + 48 * c, chip_id, remote, *counters)
    for i, (pid, name, counters, last) in enumerate(procs):
        struct.pack_into("<i4x6Q64s", b, 856 + 120 * i, pid, *counters, last, name)
    if version >= 4:
        struct.pack_into("<I", b, PROCESS_TABLE_END, init_state)
    return bytes(b)


def tt_metal(root, asic, data, name=None):
    """Writes DATA as ROOT/dev/shm/tt_device_<ASIC>_memory (or NAME)."""
    path = os.path.join(root, "dev/shm", name or "tt_device_%d_memory" % asic)
    write(path, data, "wb")
    return path
