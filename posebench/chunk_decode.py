"""A column's deflate-compressed HDF5 chunks, inflated on worker threads while the caller uses the ones before.

h5py serialises every HDF5 call behind one lock, and HDF5 inflates chunks inside the call, so a column read
uses one core however many there are (a 550,644-row ``joints3d`` column: 34 chunks, ~11 ms of zlib each).
Here the main thread only fetches each chunk's stored bytes (``read_direct_chunk``, under the lock, a copy)
and worker threads undo the filters (zlib and numpy release the GIL): deflate, then HDF5's byte shuffle
(H5Zshuffle.c: byte k of every element stored together, for k = 0 .. size - 1).

Only the layouts ``posebench prepare`` writes are decoded here: chunked along rows only, the filters exactly
[shuffle,] deflate, fixed-size elements. Anything else (other filters, checksums, compact or contiguous
storage, missing chunks, big-endian elements) gives None and is read through h5py as before. A chunk that
does not inflate to exactly its size is refused (ValueError), never padded or trusted.
"""
from __future__ import annotations

import os
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SHUFFLE, DEFLATE = 2, 1  # H5Z filter ids (H5Zpublic.h)
AHEAD = 4  # chunks decoded ahead of the consumer (bounds the memory: 4 x 3.3 MB for joints3d)
WORTH = 4 << 20  # stored bytes below which a column is read through h5py (threads cost more than they save)


def decodable(ds) -> int | None:
    """Rows per chunk if ``ds`` (an h5py Dataset) can be decoded here and is large enough to gain, else None."""
    try:
        if ds.chunks is None or ds.ndim == 0 or tuple(ds.chunks[1:]) != tuple(ds.shape[1:]):
            return None
        if ds.dtype.kind not in "biufS" or ds.dtype.itemsize == 0 or ds.dtype.byteorder == ">":
            return None  # h5py hands big-endian data back in native order: left to it
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        if filters not in ([DEFLATE], [SHUFFLE, DEFLATE]):
            return None
        rows = int(ds.chunks[0])
        if ds.id.get_storage_size() < WORTH:
            return None
        if ds.id.get_num_chunks() != -(-int(ds.shape[0]) // rows):
            return None  # unwritten chunks (fill values): h5py knows what to do
        return rows
    except (AttributeError, OSError, ValueError, TypeError, RuntimeError):
        return None


def _inflate(raw: bytes, mask: int, shuffled: bool, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """One chunk's stored bytes -> its elements (filter i skipped where bit i of ``mask`` is set)."""
    size = int(np.prod(shape)) * dtype.itemsize
    deflate_bit = 1 << (1 if shuffled else 0)
    data = raw
    if not mask & deflate_bit:
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(raw, size)
        except zlib.error as e:
            raise ValueError(f"a chunk does not inflate ({e})") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("a chunk inflates to more or less than its size")
    if len(data) != size:
        raise ValueError(f"a chunk holds {len(data)} bytes, not {size}")
    b = np.frombuffer(data, np.uint8)
    if shuffled and not mask & 1 and dtype.itemsize > 1:
        out = np.empty((size // dtype.itemsize, dtype.itemsize), np.uint8)
        for k, plane in enumerate(b.reshape(dtype.itemsize, -1)):  # plane by plane: 5x faster than one .T copy
            out[:, k] = plane
        b = out.reshape(-1)
    return b.view(dtype).reshape(shape)


def blocks(ds, rows: int, workers: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """(lo, hi, ds[lo:hi]) chunk by chunk in row order, inflated on ``workers`` threads ahead of the caller
    (``rows``: rows per chunk, from :func:`decodable`)."""
    n, rest = int(ds.shape[0]), tuple(int(v) for v in ds.shape[1:])
    plist = ds.id.get_create_plist()
    shuffled = plist.get_nfilters() == 2
    dtype = ds.dtype
    zeros = (0,) * len(rest)
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        try:
            for lo in range(0, n, rows):
                mask, raw = ds.id.read_direct_chunk((lo, *zeros))
                pending.append((lo, min(n, lo + rows),
                                pool.submit(_inflate, raw, int(mask), shuffled, dtype, (rows, *rest))))
                if len(pending) >= AHEAD:
                    a, b, job = pending.popleft()
                    yield a, b, job.result()[:b - a]
            while pending:
                a, b, job = pending.popleft()
                yield a, b, job.result()[:b - a]
        finally:
            for *_, job in pending:
                job.cancel()
