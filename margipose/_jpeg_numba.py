"""Compiled marker scan and part assembly (numba) for margipose.jpeg_parts: the same results as its NumPy code.

Imported only through ``jpeg_parts`` (numba installed, not disabled by ``POSEBENCH_NUMBA=0``). Both kernels
give exactly what the NumPy path gives (tests/margipose/test_mp_jpeg_parts.py); they only do it in one pass:
* ``segments``: the restart segments from the markers of the entropy-coded data (an 0xFF byte followed by one
  that is neither 0x00, a stuffed byte, nor 0xFF, fill), reading 8 bytes at a time and looking closer only at
  words holding an 0xFF byte, checking the markers' sequence as it goes and stopping at the last one the
  tiling needs; NumPy compares every byte, lists every 0xFF, then filters and checks.
* ``assemble``: the part's JPEG in one preallocated buffer: the header, each row's run of segments, its
  markers renumbered in stream order, EOI last; NumPy joins slices, then renumbers through index arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)


@njit(cache=True, boundscheck=False)
def segments(data: np.ndarray, scan: int, starts: np.ndarray, ends: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Fill ``starts`` / ``ends`` (one entry a segment) from the markers after ``scan`` in ``data`` (uint8); True
    when the first len(starts) - 1 markers are RST0, RST1, ... in sequence and the next one is EOI, else False
    (arrays then unspecified). A marker is an 0xFF byte before the last byte followed by one that is neither
    0x00 (a stuffed byte) nor 0xFF (fill)."""
    count = starts.size
    n = 0
    end = data.size - 1
    words = data[:(data.size // 8) * 8].view(np.uint64)
    starts[0] = scan
    i = scan
    while i < end:
        if (i & 7) == 0 and i + 8 <= end:
            x = ~words[i >> 3]  # an 0xFF byte of the word is a zero byte of x
            if ((x - _ONES) & ~x & _HIGH) == 0:
                i += 8
                continue
        if data[i] == 0xFF:
            k = data[i + 1]
            if k != 0 and k != 0xFF:
                ends[n] = i
                if n == count - 1:
                    return k == 0xD9
                if k != 0xD0 + n % 8:
                    return False
                n += 1
                starts[n] = i + 2
        i += 1
    return False


@njit(cache=True, boundscheck=False)
def assemble(data: np.ndarray, scan: int, sof: int, starts: np.ndarray, ends: np.ndarray, per_row: int,
             rows: tuple, cols: tuple, width: int, height: int) -> np.ndarray:  # pragma: no cover - compiled
    """The JPEG of segments ``cols`` = (j0, j1) of segment rows ``rows`` = (r0, r1) (ends exclusive): the header
    ``data[:scan]`` with the SOF's size set to ``width`` x ``height``, each row's bytes from its first segment's
    start to its last one's end, RST0, RST1, ... in stream order after every segment, EOI after the last."""
    (r0, r1), (j0, j1) = rows, cols
    size = scan
    for r in range(r0, r1):
        size += ends[r * per_row + j1 - 1] - starts[r * per_row + j0] + 2
    out = np.empty(size, np.uint8)
    out[:scan] = data[:scan]
    out[sof + 5], out[sof + 6] = height >> 8, height & 255
    out[sof + 7], out[sof + 8] = width >> 8, width & 255
    o, m = scan, 0
    for r in range(r0, r1):
        first = r * per_row + j0
        lo, hi = starts[first], ends[first + j1 - j0 - 1]
        out[o:o + hi - lo] = data[lo:hi]
        for j in range(first, first + j1 - j0 - 1):  # the row's inner markers, where they moved to
            out[o + ends[j] - lo + 1] = 0xD0 + m % 8
            m += 1
        o += hi - lo
        out[o] = 0xFF
        out[o + 1] = 0xD0 + m % 8
        m += 1
        o += 2
    out[o - 1] = 0xD9  # the last row's marker is the end of the image
    return out
