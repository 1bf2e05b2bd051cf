"""glibc heap settings for evaluate's two phases: give freed memory back after reading, keep it while scoring.

- :func:`trim`: reading a large prepared file leaves tens of MB of freed but retained heap pages behind
  (decompression and hashing buffers of a few hundred kB to a few MB each, below glibc's mmap threshold); the
  scoring arrays that follow are mmap'd and cannot reuse them, so they would sit in the peak resident size.
- :func:`reuse_freed`: scoring a large file allocates and frees the same few-MB block temporaries thousands of
  times; by default glibc maps each afresh and unmaps it on free, so every block pays ~3,000 page faults (on
  the 2-core VM: 20 ms a block of 8,192 poses, 9 ms of it in the kernel, against 8 ms with the memory reused).
- :func:`one_arena`: by default glibc gives each thread that allocates under contention an arena of its own,
  and memory freed in one arena is not reused by another: evaluate's reader threads and its main thread each
  faulted in fresh pages for what the others had just freed. With one arena (``M_ARENA_MAX`` = 1) freed memory
  is shared; evaluate h36m-lifting on the 2-core VM: system time 0.87 -> 0.62 s, wall 0.92x (median of 6
  settled pairs), peak 674 -> 631 MB. Large-allocation code is what posebench's threads run; the arena's lock
  is uncontended there.

Elsewhere (not glibc) all three are no-ops.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_libc: ctypes.CDLL | None = None
_looked = False


def _glibc() -> ctypes.CDLL | None:
    global _libc, _looked
    if not _looked:
        _looked = True
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _libc = lib if hasattr(lib, "malloc_trim") else None
            except OSError:
                _libc = None
    return _libc


def trim() -> bool:
    """Return free heap pages to the OS (``malloc_trim(0)``); False where the C library has no such call."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)
REUSE_BELOW = 32 << 20  # blocks under this size come from the heap (glibc's own ceiling for its mmap threshold)
KEEP_FREE = 64 << 20  # free memory kept at the top of a heap before it is given back


def reuse_freed() -> bool:
    """From now on, serve blocks under 32 MB from the heap and keep up to 64 MB of freed heap memory, so
    repeated block temporaries reuse their pages instead of faulting in fresh ones (process-wide; larger
    arrays are still mapped and unmapped alone). False where the C library has no ``mallopt``."""
    return _mallopt((M_MMAP_THRESHOLD, REUSE_BELOW), (M_TRIM_THRESHOLD, KEEP_FREE))


def one_arena() -> bool:
    """From now on, threads share the main malloc arena (process-wide; arenas already made stay). False where
    the C library has no ``mallopt``."""
    return _mallopt((M_ARENA_MAX, 1))


def _mallopt(*settings: tuple[int, int]) -> bool:
    """Apply ``mallopt(param, value)`` for each setting in order, stopping at the first the C library refuses;
    True if it took them all."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return all(bool(libc.mallopt(param, value)) for param, value in settings)
