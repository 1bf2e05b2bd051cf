"""Per-sequence shards: the unit of work of a preparer, written atomically so an interrupted run can resume.

A worker writes one shard per sequence (and camera) through a temp file renamed into place; the shard
records its key, a fingerprint of its inputs and a hash of its columns, so a rerun skips shards that are
valid for the same inputs and redoes anything else. The final file is merged from the shards in sorted key
order and written with ``posebench.data.write_prepared`` (itself atomic): until that rename, nothing at the
final path looks complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, open_h5, plain_dataset, read_dataset
from posebench.io_utils import arrays_hash, atomic_h5, file_sha256, sweep_leftovers

SHARD_VERSION = 1
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]*$")
Key = tuple[Any, ...]


class ShardError(PosebenchError):
    """A shard cannot be written or read as asked (bad key, mismatched columns)."""


def _name(key: Key) -> str:
    parts = [str(p) for p in key]
    for p in parts:
        if not _PART.match(p) or ".." in p:
            raise ShardError(f"shard key part {p!r} is not a safe file-name part")
    return "__".join(parts) + ".h5"


class ShardStore:
    """A folder of shards, one HDF5 file per key (a tuple of str/int parts)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, key: Key) -> Path:
        return self.root / _name(key)

    def write(self, key: Key, columns: Mapping[str, np.ndarray], fingerprint: str,
              meta: Mapping[str, Any] | None = None) -> Path:
        """Write one shard atomically; ``meta`` (JSON-able) travels with it (warnings, fit reports)."""
        cols = {k: _store(np.asarray(v)) for k, v in columns.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ShardError(f"shard {key}: columns have different lengths {sorted(lengths)}")
        path = self.path(key)
        with atomic_h5(path, track_order=True) as f:
            for name in sorted(cols):
                a = cols[name]
                kw: dict[str, Any] = {"track_times": False}
                if a.dtype.kind == "O":
                    kw["dtype"] = h5py.string_dtype("utf-8")
                f.create_dataset(name, data=a, **kw)
            f.attrs["shard_version"] = SHARD_VERSION
            f.attrs["key"] = json.dumps(list(key))
            f.attrs["fingerprint"] = fingerprint
            f.attrs["meta"] = json.dumps(meta or {}, sort_keys=True)
            f.attrs["columns_hash"] = arrays_hash(cols)
        return path

    def read(self, key: Key) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(columns, meta) of one shard, read through the safe HDF5 path (plain datasets in the file only)."""
        path = self.path(key)
        try:
            with open_h5(path, "shard") as f:
                cols = {name: read_dataset(plain_dataset(f, name)) for name in f.keys()}
                meta = json.loads(f.attrs["meta"])
        except (UnsafeFileError, KeyError, ValueError, OSError) as e:
            raise ShardError(f"{path}: unreadable shard ({e})") from None
        return cols, meta

    def is_valid(self, key: Key, fingerprint: str) -> bool:
        """True when the shard exists, was made from the same inputs, and its columns match their hash."""
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            with open_h5(path, "shard") as f:
                if f.attrs.get("shard_version") != SHARD_VERSION or f.attrs.get("fingerprint") != fingerprint:
                    return False
                if json.loads(f.attrs["key"]) != json.loads(json.dumps(list(key))):
                    return False
                stored = str(f.attrs["columns_hash"])
        except (UnsafeFileError, OSError, KeyError, ValueError):
            return False
        try:
            cols, _ = self.read(key)
        except ShardError:
            return False
        return arrays_hash({k: _store(v) for k, v in cols.items()}) == stored

    def clean_temps(self) -> list[Path]:
        """Remove temp files that an interrupted (killed) run left behind; returns what was removed."""
        return sweep_leftovers(self.root)

    def merge(self, keys: Iterable[Key]) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        """Concatenate the shards of ``keys`` in sorted key order; returns (columns, metas in that order)."""
        ordered = sorted(keys, key=sort_key)
        parts: list[dict[str, np.ndarray]] = []
        metas: list[dict[str, Any]] = []
        for key in ordered:
            cols, meta = self.read(key)
            if parts and set(cols) != set(parts[0]):
                raise ShardError(f"shard {key} has columns {sorted(cols)}, expected {sorted(parts[0])}")
            parts.append(cols)
            metas.append(meta)
        if not parts:
            raise ShardError(f"{self.root}: no shards to merge")
        merged = {name: np.concatenate([p[name] for p in parts], axis=0) for name in sorted(parts[0])}
        return merged, metas

    def remove(self) -> None:
        """Delete the shard folder (after the final file is in place)."""
        shutil.rmtree(self.root, ignore_errors=True)


def sort_key(key: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    """Order keys part by part, numbers numerically (so S9 sorts before S11) and before strings."""
    out = []
    for p in key:
        if isinstance(p, (int, np.integer)):
            out.append((0, int(p), ""))
        else:
            out.append((1, 0, str(p)))
    return tuple(out)


def _store(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "OUS":
        return np.array([str(x) for x in a.ravel()], dtype=object).reshape(a.shape)
    return a


_DIGESTS: dict[tuple[Any, ...], str] = {}  # one process: (path, inode, size, mtime, ctime) -> digest
_DIGEST_LOCK = threading.Lock()


def content_digest(path: Path) -> str | None:
    """SHA-256 of every byte of ``path`` (None when missing): a copy that keeps size and mtime still differs.

    A folder's digest covers every file under it, by relative name and content.

    Memoised within this process only (keyed on inode, size, mtime and ctime, which any write changes), so
    an input shared by several shards is read once per run; nothing is trusted across runs.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _DIGEST_LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    if path.is_dir():  # a folder of inputs (image sequences): every file's name and content
        h = hashlib.sha256()
        for f in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}|{content_digest(f)}\n".encode())
        digest = h.hexdigest()
    else:
        digest = file_sha256(path, chunk=1 << 22)
    with _DIGEST_LOCK:
        _DIGESTS[key] = digest
    return digest


def input_fingerprint(parts: Sequence[Any], inputs: Iterable[Path] = ()) -> str:
    """What a shard depends on: the given JSON-able parts, and the name and full content digest of each input."""
    items: list[Any] = [str(p) if isinstance(p, Path) else p for p in parts]
    for p in inputs:
        items.append([str(p), content_digest(Path(p))])
    return hashlib.sha256(json.dumps(items, default=str).encode()).hexdigest()


def input_fingerprints(specs: Mapping[Key, tuple[Sequence[Any], Sequence[Path]]], jobs: int = 1) -> dict[Key, str]:
    """:func:`input_fingerprint` for many keys at once, hashing inputs on ``jobs`` threads (hashlib frees the GIL)."""
    paths = list(dict.fromkeys(Path(p) for _, inputs in specs.values() for p in inputs))
    if jobs > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(content_digest, paths))
    return {k: input_fingerprint(parts, inputs) for k, (parts, inputs) in specs.items()}


def _run_task(root: Path, key: Key, fn: Any, args: tuple, fingerprint: str) -> Key:
    columns, report = fn(*args)
    ShardStore(root).write(key, columns, fingerprint, meta=report)
    return key


def run_tasks(store: ShardStore, tasks: Mapping[Key, tuple[Any, tuple]], fingerprints: Mapping[Key, str],
              jobs: int = 1, progress: bool = True, desc: str = "", unit: str = "part",
              on_done: Any = None) -> int:
    """Run ``fn(*args) -> (columns, report)`` per key in parallel (joblib), each result an atomic shard.

    Keys whose shard is valid for the same fingerprint are skipped (an interrupted run resumes); returns
    how many were reused. ``on_done(key)`` is called as each task finishes.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    store.clean_temps()
    todo = [k for k in tasks if not store.is_valid(k, fingerprints[k])]
    runner = Parallel(n_jobs=jobs, return_as="generator_unordered")
    done = runner(delayed(_run_task)(store.root, k, tasks[k][0], tasks[k][1], fingerprints[k]) for k in todo)
    for key in tqdm(done, total=len(todo), desc=desc, unit=unit, disable=not progress):
        if on_done is not None:
            on_done(key)
    return len(tasks) - len(todo)
