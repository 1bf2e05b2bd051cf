"""The files of a stored run: per-row errors (`<run_id>.errors.h5`) and aggregates (`<run_id>.aggregates`).

Errors file, format 2: `index` (N,) int64; `errors/<metric>` (N, J) float32 in row chunks, uncompressed (it
writes and reads at disk speed); `groups/<key>` (N,) integer codes into `labels/<key>` (K,) str. Float32 is
rounded so that no error lands on a PCK/AUC threshold it was below, so counts recomputed from the file equal
the float64 ones. Format 1 (float64 errors, string groups) still reads. The run JSON records the SHA-256 of
both files; :func:`check_summary` compares a JSON summary with the figures recomputed from the files.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np

from posebench.columns import factorize
from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, check_shape, open_h5, plain_dataset, read_dataset
from posebench.io_utils import atomic_h5
from posebench.protocols import Protocol

ERRORS_VERSION = 2
CHUNK_ROWS = 16384
MEAN_TOLERANCE = 1e-6  # relative: float32 storage moves a mean by ~1e-8


class RunFileError(PosebenchError):
    """A run's errors or aggregates file is unreadable or does not match its JSON."""


def stored_errors(protocol: Protocol, errors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Float32 copies of per-joint errors that keep every threshold comparison of the protocol's metrics."""
    out = {}
    for name, e in errors.items():
        e32 = np.asarray(e, dtype=np.float32)
        m = protocol.metric(name) if name in protocol.metric_names else None
        if m is not None and m.kind in ("pck", "auc") and e.dtype != np.float32:
            limits = np.float32([m.threshold] if m.kind == "pck" else np.asarray(m.thresholds, dtype=np.float32))
            tie = np.isin(e32, limits)
            if tie.any():  # rounded up onto a threshold it was below: step one ulp down
                below = tie & (np.asarray(e, np.float64) < e32.astype(np.float64))
                e32 = e32.copy()
                e32[below] = np.nextafter(e32[below], np.float32(-np.inf))
        out[name] = e32
    return out


def write_errors(path: str | os.PathLike, run_id: str, index: np.ndarray, errors: Mapping[str, np.ndarray],
                 codes: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Write an errors file (format 2) atomically; ``errors`` as returned by :func:`stored_errors`. Returns the
    SHA-256 of the bytes written (hashed from memory as they are written, not read back)."""
    text = h5py.string_dtype("utf-8")
    n = len(index)
    digest = hashlib.sha256()
    hint = sum(e.nbytes for e in errors.values()) + 8 * n + sum(np.asarray(c).size for c, _ in codes.values())
    with atomic_h5(path, hasher=digest, size_hint=hint + (1 << 20), track_order=True) as f:  # built in memory: a full disk is one error, never a crash
        f.attrs.update({"format_version": ERRORS_VERSION, "run_id": run_id, "rows": n})
        f.create_dataset("index", data=np.asarray(index, np.int64), chunks=(max(1, min(n, 4 * CHUNK_ROWS)),),
                         compression="gzip", compression_opts=1, shuffle=True)
        for name, e in errors.items():
            f.create_dataset(f"errors/{name}", data=e, chunks=(max(1, min(n, CHUNK_ROWS)), e.shape[1]))
        for key, (c, labels) in codes.items():
            dtype = np.uint8 if len(labels) <= 255 else np.uint16 if len(labels) <= 65535 else np.int32
            f.create_dataset(f"groups/{key}", data=np.asarray(c).astype(dtype))
            f.create_dataset(f"labels/{key}", data=np.asarray(labels, dtype=object), dtype=text)
    return digest.hexdigest()


def read_errors(path: str | os.PathLike, metrics: list[str] | None = None, with_index: bool = True
                ) -> tuple[np.ndarray | None, dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(index, errors {metric: (N, J)}, codes {key: (codes, labels)}) from an errors file of format 1 or 2."""
    path = Path(path)
    try:
        with open_h5(path, "run errors file") as f:
            version = int(f.attrs.get("format_version", 1))
            if version > ERRORS_VERSION:
                raise RunFileError(f"{path}: errors format {version} is newer than this posebench ({ERRORS_VERSION})")
            ds = plain_dataset(f, "index")
            n = check_shape(ds, trailing=(), kinds="iu")[0]
            index = read_dataset(ds).astype(np.int64) if with_index else None
            errors = {}
            for k in _members(f, "errors"):
                if metrics is not None and k not in metrics:
                    continue
                ds = plain_dataset(f, f"errors/{k}")
                if len(check_shape(ds, kinds="f", rows=n)) != 2:
                    raise RunFileError(f"{path}: errors/{k} has shape {ds.shape}, expected (N, J)")
                errors[k] = read_dataset(ds)
            codes = {}
            for k in _members(f, "groups"):
                ds = plain_dataset(f, f"groups/{k}")
                if version >= 2:
                    check_shape(ds, trailing=(), kinds="iu", rows=n)
                    labels = plain_dataset(f, f"labels/{k}")
                    check_shape(labels, trailing=(), kinds="S", max_rows=max(n, 1))
                    c, lab = read_dataset(ds).astype(np.int64), read_dataset(labels).astype(object)
                    if len(c) and (c.min() < 0 or c.max() >= len(lab)):
                        raise RunFileError(f"{path}: groups/{k} holds codes outside its {len(lab)} labels")
                    codes[k] = (c, lab)
                else:
                    check_shape(ds, trailing=(), rows=n)
                    codes[k] = factorize(read_dataset(ds).astype(object))
    except (UnsafeFileError, OSError, KeyError, ValueError) as e:
        if isinstance(e, RunFileError):
            raise
        raise RunFileError(f"{path}: cannot read the run's per-row errors ({e})") from None
    return index, errors, codes


def _members(f: h5py.File, group: str) -> list[str]:
    """Names in a group of the errors file; the group itself must be a plain group inside the file."""
    link = f.get(group, getlink=True)
    if link is None:
        return []
    if not isinstance(link, h5py.HardLink) or not isinstance(f[group], h5py.Group):
        raise UnsafeFileError(f"{f.filename}: {group!r} is not a plain group")
    return list(f[group].keys())


def check_summary(recorded: Mapping[str, object], recomputed: Mapping[str, float], protocol: Protocol) -> list[str]:
    """Where a run JSON's summary disagrees with the figures recomputed from its files ([] when it agrees)."""
    problems = []
    for m in protocol.metric_names:
        if m not in recomputed:
            problems.append(f"no stored errors for {m}")
            continue
        try:
            value = float(recorded[m])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            problems.append(f"summary.{m} is missing or not a number")
            continue
        truth = recomputed[m]
        tol = (MEAN_TOLERANCE if protocol.metric(m).unit == "mm" else 1e-9) * max(1.0, abs(truth))
        if not abs(value - truth) <= tol:
            problems.append(f"summary.{m} says {value:.6g} but its errors give {truth:.6g}")
    return problems
