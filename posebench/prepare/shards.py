"""Per-sequence shards: the unit of work of a preparer, written atomically so an interrupted run can resume.

A worker writes one shard per sequence (and camera) through a temp file renamed into place; the shard
records its key, a fingerprint of its inputs and a hash of its columns, so a rerun skips shards that are
valid for the same inputs and redoes anything else. The final file is merged from the shards in sorted key
order and written with ``posebench.data.write_prepared`` (itself atomic): until that rename, nothing at the
final path looks complete.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench.errors import PosebenchError
from posebench.io_utils import arrays_hash, atomic_path

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
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w", track_order=True) as f:
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
        """(columns, meta) of one shard."""
        path = self.path(key)
        try:
            with h5py.File(path, "r") as f:
                cols = {name: (f[name].asstr()[()] if h5py.check_string_dtype(f[name].dtype) else f[name][()])
                        for name in f.keys()}
                meta = json.loads(f.attrs["meta"])
        except (OSError, KeyError, ValueError) as e:
            raise ShardError(f"{path}: unreadable shard ({e})") from None
        return {k: (v.astype(object) if v.dtype.kind == "O" else v) for k, v in cols.items()}, meta

    def is_valid(self, key: Key, fingerprint: str) -> bool:
        """True when the shard exists, was made from the same inputs, and its columns match their hash."""
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("shard_version") != SHARD_VERSION or f.attrs.get("fingerprint") != fingerprint:
                    return False
                if json.loads(f.attrs["key"]) != json.loads(json.dumps(list(key))):
                    return False
                stored = str(f.attrs["columns_hash"])
        except (OSError, KeyError, ValueError):
            return False
        try:
            cols, _ = self.read(key)
        except ShardError:
            return False
        return arrays_hash({k: _store(v) for k, v in cols.items()}) == stored

    def clean_temps(self) -> list[Path]:
        """Remove temp files that an interrupted run left behind; returns what was removed."""
        if not self.root.is_dir():
            return []
        stale = sorted(self.root.glob(".*.tmp"))
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

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


def input_fingerprint(parts: Sequence[Any], inputs: Iterable[Path] = ()) -> str:
    """What a shard depends on: the given JSON-able parts, and name, size and mtime of its input files."""
    import hashlib

    items: list[Any] = [str(p) if isinstance(p, Path) else p for p in parts]
    for p in inputs:
        st = p.stat() if p.exists() else None
        items.append([str(p), st.st_size, st.st_mtime_ns] if st else [str(p), None])
    return hashlib.sha256(json.dumps(items, default=str).encode()).hexdigest()


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
