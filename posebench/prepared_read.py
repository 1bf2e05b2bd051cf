"""A prepared file's columns read and verified: shapes checked from metadata, then each column streamed in row
blocks through its SHA-256, checked against the digest the file records (`posebench.content_hash`).

Used by `posebench.data.read_prepared`; its errors are re-exported by `posebench.data`.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench import chunk_decode
from posebench.columns import decode
from posebench.content_hash import ColumnHasher, combine, parse_column_hashes
from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, check_shape, read_dataset

READ_BLOCK_ROWS = 16384  # rows a read block: 6.7 MB of poses, so scoring follows the reader closely (evaluate)


class PreparedFileError(PosebenchError):
    """A prepared file (or in-memory dataset) does not follow the contract."""


class ContentHashError(PreparedFileError):
    """A prepared file's arrays (or hash attributes) are not the ones its content_hash was computed from."""


def hashable_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes that describe the content (version stamps and the hash itself are left out)."""
    return {k: v for k, v in attrs.items()
            if k in ("dataset", "split", "kind", "skeleton", "units", "labels", "lookalike")}


def row_count(path: Path, dsets: Mapping[str, h5py.Dataset]) -> int:
    """The file's row count; every column's shape is checked from metadata before anything is read."""
    shapes = {}
    for name, ds in dsets.items():
        shapes[name] = check_shape(ds)
        if not shapes[name]:
            raise PreparedFileError(f"{path}: column {name!r} is a scalar, expected one value per row")
    lengths = Counter(shape[0] for shape in shapes.values())
    n_rows = lengths.most_common(1)[0][0] if lengths else 0
    for ds in dsets.values():
        check_shape(ds, rows=n_rows)  # the odd column out is named
    return n_rows


def column_hashers(path: Path, attrs: Mapping[str, Any], dsets: Mapping[str, h5py.Dataset],
             names: list[str]) -> dict[str, ColumnHasher]:
    """One streaming hasher per column to verify; format 2: the recorded digests must add up to content_hash."""
    if not attrs.get("content_hash"):
        raise ContentHashError(f"{path}: records no content_hash, so its arrays cannot be verified; re-prepare it")
    if attrs.get("format_version", 0) >= 2:
        recorded = parse_column_hashes(attrs.get("column_hashes"))
        if recorded is None:
            raise ContentHashError(f"{path}: its column_hashes attribute is missing or malformed; re-prepare it")
        if combine(recorded, hashable_attrs(attrs)) != attrs["content_hash"]:
            raise ContentHashError(f"{path}: its column hashes or attributes do not add up to its content_hash "
                                   "(attributes edited after writing); re-prepare it")
        extra = sorted(set(dsets) - set(recorded))
        if extra:
            raise ContentHashError(f"{path}: column {extra[0]!r} is not covered by the content hash (added after writing)")
    out = {}
    for name in names:
        ds = dsets[name]
        dtype = "str" if h5py.check_string_dtype(ds.dtype) is not None else ds.dtype.str
        out[name] = ColumnHasher(name, dtype, ds.shape)
        if attrs.get("format_version", 0) >= 2:
            rec = recorded.get(name)
            if rec is None:
                raise ContentHashError(f"{path}: column {name!r} is not covered by the content hash (added after writing)")
            if rec["dtype"] != dtype or tuple(rec["shape"]) != tuple(ds.shape):
                raise ContentHashError(f"{path}: column {name!r} has type {dtype} and shape {tuple(ds.shape)}, but "
                                       f"was hashed as {rec['dtype']} {tuple(rec['shape'])}: changed after writing")
    return out


def check_digests(path: Path, attrs: Mapping[str, Any], digests: Mapping[str, Mapping[str, Any]], version: int) -> None:
    """Raise ContentHashError unless the streamed digests match the recorded ones (format 1: the whole hash)."""
    if version >= 2:
        recorded = parse_column_hashes(attrs.get("column_hashes")) or {}
        for name, d in digests.items():
            if d["sha256"] != recorded[name]["sha256"]:
                raise ContentHashError(f"{path}: column {name!r} does not match its content hash (changed after the "
                                       "file was written); re-prepare it")
    elif combine(digests, hashable_attrs(attrs)) != attrs.get("content_hash"):
        raise ContentHashError(f"{path}: its arrays do not match its content_hash (changed after the file was written; "
                               "a format-1 file cannot say which column); re-prepare it")


def read_column(ds: h5py.Dataset, rows: np.ndarray | None, hasher: ColumnHasher | None, keep: bool = True,
                stream: Callable[[np.ndarray, int], None] | None = None) -> np.ndarray | None:
    """A column (or its ``rows``), streamed in row blocks through ``hasher``; strings come back as str objects.

    ``stream(array, k)`` is called each time the first k rows of the array being filled are final (when the
    rows asked are increasing; else once, at the end): a consumer can start on them before the column is read
    and verified, and must not trust them until this call (and the caller's checks) return.
    """
    info = h5py.check_string_dtype(ds.dtype)
    vlen = info is not None and info.length is None
    fixed_strings = info is not None and not vlen  # bytes, decoded to str once read
    if hasher is None:
        if not keep:
            return None
        out = read_dataset(ds, rows) if rows is not None or vlen else np.asarray(ds[()])
        out = decode(out) if fixed_strings else out
        if stream is not None:
            stream(out, len(out))
        return out
    src = ds.asstr() if vlen else ds
    n = ds.shape[0]
    uniq = inverse = None
    if rows is not None:
        uniq, inverse = np.unique(rows, return_inverse=True)
    in_order = uniq is None or (len(uniq) == len(rows) and np.array_equal(uniq, rows))  # out is then the answer
    dtype = object if vlen else ds.dtype
    out = None
    if keep:
        out = np.empty(((n if uniq is None else len(uniq)), *ds.shape[1:]), dtype=dtype)
    early = stream if (stream is not None and keep and in_order and not fixed_strings) else None
    chunk_rows = None if vlen else chunk_decode.decodable(ds)
    try:
        if chunk_rows is not None:  # inflated on worker threads, chunk by chunk
            parts: Iterator[tuple[int, int, np.ndarray]] = chunk_decode.blocks(ds, chunk_rows)
        else:
            parts = ((lo, min(n, lo + READ_BLOCK_ROWS), np.asarray(src[lo:min(n, lo + READ_BLOCK_ROWS)]))
                     for lo in range(0, n, READ_BLOCK_ROWS))
        with contextlib.closing(parts):  # a failure below stops the workers now, not when collected
            for lo, hi, block in parts:
                hasher.update(block)
                if out is None:
                    continue
                if uniq is None:
                    out[lo:hi] = block
                    i1 = hi
                else:
                    i0, i1 = np.searchsorted(uniq, (lo, hi))
                    out[i0:i1] = block[uniq[i0:i1] - lo]
                if early is not None:
                    early(out, int(i1))
    except (OSError, ValueError, TypeError) as e:
        raise UnsafeFileError(f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r} cannot be read ({e})") from None
    if out is None:
        return None
    if not in_order:  # sorted: no copy
        out = out[inverse]
    out = decode(out) if fixed_strings else out
    if stream is not None and early is None:
        stream(out, len(out))
    return out
