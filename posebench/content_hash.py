"""Content hashes of prepared files: one SHA-256 per column, streamed block by block, and one hash over them.

A column's digest is SHA-256 of its bytes in C order (numbers) or of the JSON list of its strings, exactly as
:func:`posebench.io_utils.arrays_hash` has always hashed them; the content hash is the SHA-256 over
``name|dtype|shape|`` + digest for every column in name order, then the describing attributes as JSON. So a
format-2 file records the same ``content_hash`` as a format-1 file of the same arrays, and also each column's
digest (attribute ``column_hashes``), which lets a reader verify just the columns it reads, one block at a time,
without holding a column in memory twice.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from posebench.columns import factorize, run_starts


class ColumnHasher:
    """The digest of one column, fed in row blocks (any block sizes give the same digest)."""

    def __init__(self, name: str, dtype: str, shape: tuple[int, ...]):
        self.name, self.dtype, self.shape = name, dtype, tuple(int(s) for s in shape)
        self._h = hashlib.sha256()
        self._strings = dtype == "str"
        self._first = True
        if self._strings:
            self._h.update(b"[")

    def update(self, block: np.ndarray) -> None:
        """Add the next rows (numbers: any dtype is cast to the column's; strings: str objects)."""
        if self._strings:
            if len(block) == 0:
                return
            if not self._first:
                self._h.update(b", ")
            for part in _json_parts(np.asarray(block).ravel()):
                self._h.update(part)
            self._first = False
        else:
            self._h.update(np.ascontiguousarray(block, dtype=np.dtype(self.dtype)).data)

    def hexdigest(self) -> str:
        """The column's digest (hex); call once, after the last block."""
        if self._strings:
            self._h.update(b"]")
        return self._h.hexdigest()


def _json_parts(a: np.ndarray) -> list[bytes]:
    """The items of json.dumps(list of the strings) without the brackets, UTF-8, as consecutive byte strings.

    A column of runs (prepared files sort rows by view) is hashed run by run: one dumps per distinct value and
    one repeated byte string per run, so the text is never built item by item in Python."""
    change = run_starts(a)
    if np.count_nonzero(change) * 8 > len(a):
        return [json.dumps([x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in a.tolist()])[1:-1]
                .encode()]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, len(a))).tolist()
    codes, labels = factorize(a[starts], natural=False)
    enc = [json.dumps(x).encode() + b", " for x in labels.tolist()]
    parts = [enc[c] * n for c, n in zip(codes.tolist(), counts)]
    parts[-1] = parts[-1][:-2]  # no separator after the last item
    return parts


def column_dtype(a: np.ndarray) -> str:
    """The dtype name a column is hashed under: "str" for strings, else numpy's dtype string (e.g. "<f4")."""
    return "str" if a.dtype.kind in "OUS" else np.ascontiguousarray(a[:0]).dtype.str


def column_digest(name: str, a: np.ndarray) -> dict[str, Any]:
    """{dtype, shape, sha256} of a whole in-memory column."""
    a = np.asarray(a)
    h = ColumnHasher(name, column_dtype(a), a.shape)
    h.update(a if a.dtype.kind not in "OUS" else a.ravel())
    return {"dtype": h.dtype, "shape": list(a.shape), "sha256": h.hexdigest()}


def combine(digests: Mapping[str, Mapping[str, Any]], attrs: Mapping[str, Any] | None = None) -> str:
    """The content hash from per-column digests and the describing attributes (= io_utils.arrays_hash)."""
    h = hashlib.sha256()
    for name in sorted(digests):
        d = digests[name]
        h.update(f"{name}|{d['dtype']}|{tuple(int(s) for s in d['shape'])}|".encode())
        h.update(bytes.fromhex(str(d["sha256"])))
    if attrs:
        h.update(json.dumps(dict(attrs), sort_keys=True, default=str).encode())
    return h.hexdigest()


def parse_column_hashes(value: Any) -> dict[str, dict[str, Any]] | None:
    """The ``column_hashes`` attribute as {name: {dtype, shape, sha256}}, or None when absent or malformed."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    out = {}
    for name, d in value.items():
        if not (isinstance(d, dict) and isinstance(d.get("dtype"), str) and isinstance(d.get("shape"), list)
                and isinstance(d.get("sha256"), str) and len(d["sha256"]) == 64):
            return None
        try:
            bytes.fromhex(d["sha256"])
            shape = [int(s) for s in d["shape"]]
        except (ValueError, TypeError):
            return None
        out[str(name)] = {"dtype": d["dtype"], "shape": shape, "sha256": d["sha256"]}
    return out
