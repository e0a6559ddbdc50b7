"""Tags: what device memory is for, set per thread (tta_set_tag).

    with tt_alloc.tag("kv_cache"):
        allocate_cache()          # every allocation this thread reports is tagged

    @tt_alloc.tag("weights")
    def load(): ...

The C library keeps the tag per OS thread (each Python thread is one), so
threads tag independently; asyncio tasks that share a thread share its tag.
A tag is any text of 1 to 31 bytes (UTF-8 encoded); setting one is cheap (no
syscall) and works whether tracking is on or off.
"""

import functools
import threading

from . import _lib as L


def _encode(name):
    if name is None:
        return None
    if isinstance(name, str):
        raw = name.encode("utf-8", "surrogateescape")
    elif isinstance(name, (bytes, bytearray)):
        raw = bytes(name)
    else:
        raise TypeError("tag must be a str, not %s" % type(name).__name__)
    if b"\0" in raw:
        raise ValueError("tag %r contains a NUL byte" % (name,))
    if len(raw) > L.TAG_MAX_LEN:
        raise ValueError("tag %r is %d bytes long; the limit is %d"
                         % (name, len(raw), L.TAG_MAX_LEN))
    return raw


def set_tag(name):
    """Sets the calling thread's tag (None or "" clears it). Returns the tag
    that was set before, for restoring it. A process that uses more than 128
    distinct tags still tags with the new ones, but readers show their
    memory as "(other)" (the segment keeps 128 names per process)."""
    raw = _encode(name)
    lib = L.lib()
    previous = lib.tta_get_tag()
    rc = lib.tta_set_tag(raw)
    if rc < 0:  # _encode checked the length: only a library disagreeing gets here
        raise ValueError("tag %r refused by the library (%d)" % (name, rc))
    return previous.decode("utf-8", "surrogateescape") if previous is not None else None


def get_tag():
    """The calling thread's tag, or None."""
    t = L.lib().tta_get_tag()
    return t.decode("utf-8", "surrogateescape") if t is not None else None


class tag:
    """Context manager and decorator: NAME is the calling thread's tag inside
    the block (or each call), and the tag set before comes back after it,
    even on an exception. Blocks nest, and one tag object may be entered by
    several threads at once (what each restores is its own)."""

    def __init__(self, name):
        _encode(name)  # refuse a bad name at once, not at entry
        self.name = name
        self._local = threading.local()

    def __enter__(self):
        saved = getattr(self._local, "saved", None)
        if saved is None:
            saved = self._local.saved = []
        saved.append(set_tag(self.name))
        return self

    def __exit__(self, *exc):
        set_tag(self._local.saved.pop())
        return False

    def __call__(self, fn):
        name = self.name

        @functools.wraps(fn)
        def tagged(*args, **kwargs):
            previous = set_tag(name)
            try:
                return fn(*args, **kwargs)
            finally:
                set_tag(previous)
        return tagged
