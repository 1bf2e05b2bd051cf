"""Give freed heap memory back to the OS between evaluate's reading and scoring phases (glibc's malloc_trim).

Reading a large prepared file leaves tens of MB of freed but retained heap pages behind (decompression and hashing
buffers of a few hundred kB to a few MB each, below glibc's mmap threshold); the scoring arrays that follow are
mmap'd and cannot reuse them, so they would sit in the peak resident size. Elsewhere this is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_libc: ctypes.CDLL | None = None
_looked = False


def trim() -> bool:
    """Return free heap pages to the OS (``malloc_trim(0)``); False where the C library has no such call."""
    global _libc, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _libc = lib if hasattr(lib, "malloc_trim") else None
            except OSError:
                _libc = None
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True
