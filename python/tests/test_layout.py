"""The ctypes mirrors of the C structs have the C compiler's sizes and
offsets (the public headers of this checkout), and the constants agree."""

import ctypes
import os
import re
import subprocess

from tt_alloc import _lib as L
from conftest import SRC

STRUCTS = {
    "tta_device_info": L.DeviceInfo,
    "tta_counter_info": L.CounterInfo,
    "tta_segment_info": L.SegmentInfo,
    "tta_device_view": L.DeviceView,
    "tta_process_view": L.ProcessView,
    "tta_process_row": L.ProcessRow,
    "tta_buffer_view": L.BufferView,
    "tta_history_sample": L.HistorySample,
    "tta_history_device": L.HistoryDevice,
    "tta_event": L.Event,
}


def test_structs_match_the_c_headers(tmp_path):
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <tt-alloc/reader.h>',
             '#include <tt-alloc/history.h>', '#include <tt-alloc/events.h>', 'int main(void) {']
    for cname, cls in STRUCTS.items():
        lines.append('printf("S %s %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for field, _ in cls._fields_:
            lines.append('printf("F %s %s %%zu %%zu\\n", offsetof(struct %s, %s), '
                         'sizeof(((struct %s *)0)->%s));'
                         % (cname, field, cname, field, cname, field))
    consts = {"TTA_MEM_TYPES": L.MEM_TYPES, "TTA_NO_DEVICE": L.NO_DEVICE,
              "TTA_SNAPSHOT_BUFFERS": L.SNAPSHOT_BUFFERS,
              "TTA_SNAPSHOT_PROCESS_DETAILS": L.SNAPSHOT_PROCESS_DETAILS,
              "TTA_SEGMENT_REPLACED": L.SEGMENT_REPLACED, "TTA_REAPER_RUNNING": L.REAPER_RUNNING,
              "TTA_TRACK_DISABLED": len(L.TRACK_STATES) - 1,
              "TTA_EVENTS_NOW": L.EVENTS_NOW, "TTA_EVENT_KINDS": L.EVENT_KINDS}
    for name in consts:
        lines.append('printf("const %s %%llu\\n", (unsigned long long)%s);' % (name, name))
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=gnu11", "-I", os.path.join(SRC, "include"), "-o", str(exe),
                    str(src)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    c = {}
    for line in out.splitlines():
        words = line.split()
        if words[0] == "const":
            assert int(words[2]) == consts[words[1]], line
        elif words[0] == "S":
            c[words[1]] = int(words[2])
        else:
            c[(words[1], words[2])] = (int(words[3]), int(words[4]))
    for cname, cls in STRUCTS.items():
        for field, _ in cls._fields_:
            desc = getattr(cls, field)
            assert (desc.offset, desc.size) == c[(cname, field)], (cname, field)
        # The mirror covers the whole struct today (apart from tail padding).
        assert ctypes.sizeof(cls) == c[cname], cname


def test_every_prototype_is_a_documented_function():
    inc = os.path.join(SRC, "include", "tt-alloc")
    headers = "".join(open(os.path.join(inc, h)).read() for h in sorted(os.listdir(inc))
                      if h.endswith(".h"))
    documented = set(re.findall(r"\b(tta_[a-z0-9_]+)\(", headers))
    assert set(L._PROTOTYPES) <= documented
