"""Vectorised helpers for string columns: integer codes + labels, fixed-width UTF-8 storage, path safety.

Group keys (action, sequence, take, ...) have few distinct values over hundreds of thousands of rows; handling
them as codes into a small label table keeps every per-row step in NumPy. Prepared files sort rows by view, so
equal values come in runs, which :func:`factorize` exploits (one vectorised comparison, then a sort of the run
heads only).
"""
from __future__ import annotations

import re

import numpy as np

_RUNS_FALLBACK = 8  # more than 1/8 of the rows start a run: hash every value instead


def natural_key(s: object) -> list:
    """Sort key that orders numbers inside strings as numbers (TS2 before TS10, S9 before S11)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]


def factorize(values: np.ndarray, natural: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(codes int32 (N,), labels (K,) str objects): values == labels[codes]; labels sorted (naturally by default).

    Accepts str objects, bytes (fixed-width UTF-8, decoded) or numbers (labels become their str()).
    """
    a = np.asarray(values)
    if a.ndim != 1:
        a = a.ravel()
    if len(a) == 0:
        return np.zeros(0, np.int32), np.zeros(0, dtype=object)
    change = run_starts(a)
    if a.dtype.kind in "iub" or np.count_nonzero(change) * _RUNS_FALLBACK <= len(a):
        run_of = np.cumsum(change) - 1
        uniq, inv = np.unique(a[change], return_inverse=True)
        uniq = uniq.tolist()
    else:  # many distinct values in no order: one hash per value
        seen: dict = {}
        inv = np.fromiter((seen.setdefault(x, len(seen)) for x in a.tolist()), dtype=np.int64, count=len(a))
        uniq, run_of = list(seen), np.arange(len(a))
    labels = [_text(u) for u in uniq]
    order = sorted(range(len(labels)), key=lambda i: natural_key(labels[i])) if natural else \
        sorted(range(len(labels)), key=lambda i: labels[i])
    rank = np.empty(len(labels), np.int32)
    rank[order] = np.arange(len(labels), dtype=np.int32)
    codes = rank[inv.reshape(-1)][run_of]
    return codes.astype(np.int32, copy=False), np.array([labels[i] for i in order], dtype=object)


def run_starts(a: np.ndarray) -> np.ndarray:
    """Boolean (N,): True where a value differs from the one before it (and at row 0)."""
    change = np.empty(len(a), dtype=bool)
    if len(a):
        change[0] = True
        if a.dtype.kind == "S" and a.ndim == 1:  # compare fixed-width bytes as 8-byte words, not as strings
            width = a.dtype.itemsize
            words = np.zeros((len(a), -(-width // 8) * 8), np.uint8)
            words[:, :width] = np.ascontiguousarray(a).view(np.uint8).reshape(len(a), width)
            w = words.view(np.uint64)
            np.any(w[1:] != w[:-1], axis=1, out=change[1:])
        else:
            np.not_equal(a[1:], a[:-1], out=change[1:])
    return change


def _text(v: object) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def decode(values: np.ndarray) -> np.ndarray:
    """Fixed-width UTF-8 bytes (or anything) -> str objects; few distinct values cost one decode each."""
    codes, labels = factorize(values, natural=False)
    return labels[codes] if len(labels) else np.zeros(len(values), dtype=object)


def encode_utf8(values: np.ndarray) -> np.ndarray:
    """str objects -> fixed-width UTF-8 bytes (width >= 1) for HDF5 storage."""
    codes, labels = factorize(values, natural=False)
    enc = np.array([s.encode("utf-8") for s in labels.tolist()] or [b""])
    if enc.dtype.itemsize == 0:
        enc = enc.astype("S1")
    return enc[codes] if len(codes) else np.zeros(0, dtype=enc.dtype)


_UNSAFE = re.compile(r"\x00(?:[/\\]|[^\x00]:)|(?:\x00|[/\\])\.\.(?:\x00|[/\\])")


def unsafe_paths(values: np.ndarray) -> tuple[int, str | None]:
    """(count, first) of relative paths that would leave their folder: absolute, drive-lettered, or with `..`.

    Every row is checked, in one regular-expression pass over the joined column ('' is a safe empty path).
    """
    a = np.asarray(values, dtype=object).ravel()
    if len(a) == 0:
        return 0, None
    texts = [_text(v) for v in a.tolist()]
    joined = "\x00" + "\x00".join(texts) + "\x00"
    if "\x00" not in "".join(texts) and not _UNSAFE.search(joined):
        return 0, None
    bad = [p for p in texts if not safe_relpath(p)]
    return len(bad), (bad[0] if bad else None)


def safe_relpath(p: str) -> bool:
    """True for '' or a relative path that stays inside its folder (no leading / or \\, no X:, no `..` part)."""
    if p == "":
        return True
    if "\x00" in p or p.startswith(("/", "\\")) or (len(p) > 1 and p[1] == ":"):
        return False
    return ".." not in p.replace("\\", "/").split("/")
