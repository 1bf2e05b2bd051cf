"""Atomic, reproducible file writing and content hashing shared by every writer in posebench."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np


def _default_mode() -> int:
    # mkstemp creates 0600 files; finished outputs get the permissions a plain open() would give them.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = _default_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.

    The temp name is unique per process, so two writers never clobber each other's partial file and
    a reader never sees a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _MODE)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text to ``path`` atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: object):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def arrays_hash(columns: Mapping[str, np.ndarray], attrs: Mapping[str, object] | None = None) -> str:
    """SHA-256 over named arrays (name, dtype, shape, bytes) in sorted order, plus JSON attrs.

    A hash of the content, not of file bytes: the same data written by another h5py gives the same hash.
    """
    h = hashlib.sha256()
    for name in sorted(columns):
        a = np.asarray(columns[name])
        if a.dtype.kind in "OUS":
            a = np.array([str(x) for x in a.ravel()], dtype=object).reshape(a.shape)
            payload = json.dumps(a.tolist()).encode()
            dtype = "str"
        else:
            a = np.ascontiguousarray(a)
            payload = a.tobytes()
            dtype = a.dtype.str
        h.update(f"{name}|{dtype}|{a.shape}|".encode())
        h.update(hashlib.sha256(payload).digest())
    if attrs:
        h.update(json.dumps(dict(attrs), sort_keys=True, default=str).encode())
    return h.hexdigest()
