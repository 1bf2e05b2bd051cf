"""DataLoader worker set-up: keep freed memory in the worker, so each batch reuses the pages the last one freed.

With glibc's defaults a worker returns freed memory to the system as soon as the top of its heap holds more than
twice the largest buffer it freed (the dynamic mmap and trim thresholds), so a batch's crop buffers and decoded
parts, freed after the collate, are faulted in afresh by the next batch. posebench's ``_heap.reuse_freed`` (the
setting evaluate's scoring uses) serves blocks under 32 MB from the heap and keeps up to 64 MB of it free.
Measured on the build VM, Human3.6M augmented crops as ``margipose train`` makes them (uint8), one worker,
batch 32: 67-70 page faults an item with the defaults, 48 with it (those left are the collated batch's shared
memory, new for every batch), and 3 % less worker CPU an item (median of 6 paired repeats, 0.88-1.06). With
float32 crops the defaults cost far more (372 faults an item), which is why training ships bytes.
"""
from __future__ import annotations

from posebench import _heap


def keep_freed_memory(worker_id: int = 0) -> bool:
    """``_heap.reuse_freed`` in this process, as a DataLoader ``worker_init_fn``; False, and nothing changed,
    where the C library is not glibc."""
    return _heap.reuse_freed()
