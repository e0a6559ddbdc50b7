"""profile(): device memory of the calling process over a block."""

import errno as _errno
import functools
import os
import threading
import time

from . import _lib as L
from . import _read as R


def _held(segment):
    """{device: (used by type id, buffers)} of this process now; a missing
    segment holds nothing (the first report of the block may create it)."""
    try:
        return R.take(segment, pid=os.getpid(), device=None, flags=0, convert=R.process_usage)
    except L.Error as e:
        if e.errno == _errno.ENOENT:
            return {}
        raise


class DeviceProfile:
    """The figures of one device (Profile.by_device[id]); same attributes as
    Profile."""

    def __init__(self, start, end, peak, start_buffers, end_buffers, peak_buffers):
        self.start = R.types_dict(start)
        self.end = R.types_dict(end)
        self.delta = R.types_dict([e - s for s, e in zip(start, end)])
        self.peak = R.types_dict(peak)
        self.buffers_delta = end_buffers - start_buffers
        self.buffers_peak = peak_buffers

    def __repr__(self):
        return "<%s delta=%r peak=%r>" % (type(self).__name__, self.delta, self.peak)


class Profile(DeviceProfile):
    """Device memory of the calling process over a block (profile()).

    After the block: .start, .end, .delta (end - start) and .peak are dicts
    {type name: bytes} summed over devices, for every memory type (dram, l1,
    l1_small, trace, system, cb, kernel); .buffers_delta and .buffers_peak
    count buffers; .by_device {device id: DeviceProfile} has the same per
    device; .elapsed is seconds, .samples how many readings were taken.

    .peak is the highest total this process held during the block (what it
    already held at the start included), each type on its own. It is sampled:
    at entry, at exit, and every INTERVAL seconds in between by a background
    thread (a snapshot of this process: some 25 us of CPU each, so about 2-3%
    of one core at the default 1 ms). A peak that lasts less than INTERVAL
    can be missed. interval=0 samples at entry and exit only.
    """

    def __init__(self, segment=None, interval=0.001):
        self.segment = segment
        self.interval = interval
        self._active = False
        self.samples = 0
        self.elapsed = None
        self.by_device = {}
        zero = [0] * L.MEM_TYPES
        DeviceProfile.__init__(self, zero, zero, zero, 0, 0, 0)

    # -- sampling ------------------------------------------------------------
    def _add(self, held):
        self.samples += 1
        total = [0] * L.MEM_TYPES
        total_buffers = 0
        for dev, (used, buffers) in held.items():
            peak = self._peaks.get(dev)
            if peak is None:
                self._peaks[dev] = [list(used), buffers]
            else:
                p = peak[0]
                for t in range(L.MEM_TYPES):
                    if used[t] > p[t]:
                        p[t] = used[t]
                if buffers > peak[1]:
                    peak[1] = buffers
            for t in range(L.MEM_TYPES):
                total[t] += used[t]
            total_buffers += buffers
        for t in range(L.MEM_TYPES):
            if total[t] > self._peak[t]:
                self._peak[t] = total[t]
        if total_buffers > self._peak_buffers:
            self._peak_buffers = total_buffers

    def _sampler(self):
        try:
            while not self._stop.wait(self.interval):
                self._add(_held(self.segment))
        except BaseException as e:  # reported by __exit__
            self._error = e

    # -- context manager -----------------------------------------------------
    def __enter__(self):
        if self._active:
            raise RuntimeError("this profile is already running; use a new tt_alloc.profile()")
        self._active = True
        self.samples = 0
        self._peaks = {}
        self._peak = [-(1 << 63)] * L.MEM_TYPES
        self._peak_buffers = -(1 << 63)
        self._error = None
        self._stop = threading.Event()
        self._thread = None
        try:
            self._start = _held(self.segment)
        except BaseException:
            self._active = False
            raise
        self._add(self._start)
        # Devices first seen later started at zero in this process.
        self._t0 = time.monotonic()
        if self.interval and self.interval > 0:
            self._thread = threading.Thread(target=self._sampler, name="tt_alloc.profile",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._thread is not None:
                self._stop.set()
                self._thread.join()
            end = _held(self.segment)
            self._add(end)
            self.elapsed = time.monotonic() - self._t0
            zero = ([0] * L.MEM_TYPES, 0)
            self.by_device = {}
            start_total, end_total = [0] * L.MEM_TYPES, [0] * L.MEM_TYPES
            start_buffers = end_buffers = 0
            for dev in sorted(set(self._start) | set(end) | set(self._peaks)):
                s, sb = self._start.get(dev, zero)
                e, eb = end.get(dev, zero)
                p, pb = self._peaks.get(dev, zero)
                # A device the process did not use at some sample held 0 then.
                if dev not in self._start or dev not in end:
                    p = [max(v, 0) for v in p]
                    pb = max(pb, 0)
                self.by_device[dev] = DeviceProfile(s, e, p, sb, eb, pb)
                start_total = [a + b for a, b in zip(start_total, s)]
                end_total = [a + b for a, b in zip(end_total, e)]
                start_buffers += sb
                end_buffers += eb
            DeviceProfile.__init__(self, start_total, end_total, self._peak, start_buffers,
                                   end_buffers, self._peak_buffers)
        finally:
            self._active = False
        if self._error is not None and exc_type is None:
            raise self._error
        return False

    # -- decorator -----------------------------------------------------------
    def __call__(self, func):
        """Decorates FUNC: each call is profiled by a new run whose results
        are copied onto this object (the last call's figures) and onto
        wrapper.profile."""
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            run = Profile(self.segment, self.interval)
            try:
                with run:
                    return func(*args, **kwargs)
            finally:
                if run.elapsed is not None:
                    self.__dict__.update({k: v for k, v in run.__dict__.items()
                                          if not k.startswith("_")})
        wrapper.profile = self
        return wrapper

    def __repr__(self):
        return "<tt_alloc.Profile delta=%r peak=%r samples=%d>" % (self.delta, self.peak,
                                                                  self.samples)


def profile(func=None, *, segment=None, interval=0.001):
    """Measures the device memory this process holds over a block:

        with tt_alloc.profile() as p:
            run_model()
        print(p.delta["dram"], p.peak["dram"])

        @tt_alloc.profile()          # or @tt_alloc.profile
        def step(): ...
        step(); print(step.profile.delta)

    See Profile for the attributes and how the peak is sampled."""
    p = Profile(segment=segment, interval=interval)
    if func is not None:
        if not callable(func):
            raise TypeError("profile() takes keyword arguments only, or a function to decorate")
        return p(func)
    return p
