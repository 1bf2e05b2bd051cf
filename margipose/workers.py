"""DataLoader worker set-up: keep freed memory in the worker, so each batch reuses the pages the last one freed.

With glibc's defaults a worker returns freed memory to the system as soon as the top of its heap holds more than
twice the largest buffer it freed (the dynamic mmap and trim thresholds), so a batch's crop buffers and decoded
parts, freed after the collate, are faulted in afresh by the next batch. Measured on the build VM, Human3.6M
augmented crops as ``margipose train`` makes them (uint8), one worker, batch 32: 93 page faults an item with the
defaults, 48 with the thresholds raised here (those left are the collated batch's shared memory, new for every
batch), and 3 % less worker CPU an item (median of 6 paired repeats, 0.88-1.06). With float32 crops the
defaults cost far more (372 faults an item), which is why training ships bytes.
"""
from __future__ import annotations

import ctypes
import ctypes.util

MMAP_THRESHOLD = 64 << 20   # allocations below this come from the heap, whose freed pages are reused
TRIM_THRESHOLD = 128 << 20  # free memory kept at the top of the heap before any goes back to the system
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc malloc.h)


def keep_freed_memory(worker_id: int = 0) -> bool:
    """Raise this process's glibc mmap and trim thresholds (a DataLoader ``worker_init_fn``); False, and
    nothing changed, where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
