"""The prepared-dataset file: one row per (frame, camera) on the canonical skeleton.

Layout (docs/formats.md): root datasets are the columns, root attributes the provenance. Written
atomically and reproducibly (no timestamps); ``content_hash`` is a hash of the arrays, not the bytes.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench import __version__
from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, check_shape, open_h5, plain_dataset, read_dataset
from posebench.io_utils import arrays_hash, atomic_path
from posebench.skeleton import NUM_JOINTS

FORMAT_VERSION = 1
J = NUM_JOINTS

# column -> (trailing shape, dtype kind) ; "U" marks a string column.
_COMMON_3D = {
    "joints3d": ((J, 3), "f"), "joints2d": ((J, 2), "f"), "intrinsics": ((4,), "f"),
    "subject": ((), "i"), "camera": ((), "i"), "frame": ((), "i"),
    "action": ((), "U"), "sequence": ((), "U"), "image": ((), "U"),
}
SCHEMAS: dict[str, dict[str, tuple[tuple[int, ...], str]]] = {
    "3d": _COMMON_3D,
    "2d": {"joints2d": ((J, 2), "f"), "mask": ((J,), "b"), "centre": ((2,), "f"), "scale": ((), "f"),
           "image": ((), "U")},
}
# Extra columns some files carry (checked for shape when present).
OPTIONAL: dict[str, tuple[tuple[int, ...], str]] = {
    "joints3d_univ": ((J, 3), "f"), "activity": ((), "i"), "scene": ((), "U"), "valid": ((), "b"),
    "subaction": ((), "i"), "take": ((), "U"), "intrinsics_univ": ((4,), "f"), "univ_scale": ((), "f"),
}
REQUIRED_BY_DATASET = {("mpi3dhp", "test"): ("joints3d_univ", "activity", "scene", "valid")}
FLOAT_COLUMNS_F32 = ("joints3d", "joints2d", "intrinsics", "joints3d_univ", "centre", "scale")
DATA_ENV = "POSEBENCH_DATA"


class PreparedFileError(PosebenchError):
    """A prepared file (or in-memory dataset) does not follow the contract."""


@dataclass
class PreparedData:
    """Columns (name -> array with one row per sample) plus file attributes."""

    columns: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            where = self.path or "in-memory dataset"
            raise PreparedFileError(f"{where}: no column {name!r} (has: {', '.join(sorted(self.columns))})")
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    @property
    def dataset(self) -> str:
        return str(self.attrs.get("dataset", ""))

    @property
    def split(self) -> str:
        return str(self.attrs.get("split", ""))

    @property
    def labels(self) -> str | None:
        v = self.attrs.get("labels")
        return str(v) if v not in (None, "") else None

    @property
    def lookalike(self) -> bool:
        """True for data prepared from a `posebench sample` tree (not the real dataset)."""
        return bool(self.attrs.get("lookalike", False))

    @property
    def content_hash(self) -> str:
        h = self.attrs.get("content_hash")
        return str(h) if h else arrays_hash(self.columns, _hashable_attrs(self.attrs))

    def select(self, rows: np.ndarray) -> PreparedData:
        """A new PreparedData with the given rows (indices or boolean mask)."""
        return PreparedData({k: v[rows] for k, v in self.columns.items()}, dict(self.attrs), self.path)

    @classmethod
    def from_arrays(cls, dataset: str, split: str, kind: str = "3d", **columns: Any) -> PreparedData:
        """An in-memory dataset (any float dtype kept, e.g. float64 for golden tests); validated."""
        attrs = {"dataset": dataset, "split": split, "kind": kind, "skeleton": "canonical17", "units": "mm"}
        for key in ("labels",):
            if key in columns:
                attrs[key] = columns.pop(key)
        cols = {k: _as_column(k, v) for k, v in columns.items()}
        n = len(next(iter(cols.values()))) if cols else 0
        defaults = {"subject": np.zeros(n, np.int64), "camera": np.zeros(n, np.int64),
                    "frame": np.arange(n, dtype=np.int64), "action": np.full(n, "", object),
                    "sequence": np.full(n, "", object), "image": np.full(n, "", object),
                    "joints2d": np.zeros((n, J, 2)), "intrinsics": np.zeros((n, 4))}
        if kind == "3d":
            for k, v in defaults.items():
                cols.setdefault(k, v)
        validate_columns(cols, attrs)
        return cls(cols, attrs)


def _as_column(name: str, value: Any) -> np.ndarray:
    spec = SCHEMAS["3d"].get(name) or SCHEMAS["2d"].get(name) or OPTIONAL.get(name)
    a = np.asarray(value)
    if spec and spec[1] == "U":
        return np.array([str(x) for x in a.ravel()], dtype=object).reshape(a.shape)
    return a


def _hashable_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    # Provenance that describes the content; version stamps and the hash itself are left out.
    return {k: v for k, v in attrs.items()
            if k in ("dataset", "split", "kind", "skeleton", "units", "labels", "lookalike")}


def validate_columns(columns: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> None:
    """Raise PreparedFileError naming the first column that breaks the contract."""
    kind = attrs.get("kind", "3d")
    if kind not in SCHEMAS:
        raise PreparedFileError(f"unknown kind {kind!r}; expected one of {sorted(SCHEMAS)}")
    schema = SCHEMAS[kind]
    missing = [c for c in schema if c not in columns]
    missing += [c for c in REQUIRED_BY_DATASET.get((attrs.get("dataset"), attrs.get("split")), ())
                if c not in columns]
    if missing:
        raise PreparedFileError(f"missing required columns: {', '.join(missing)}")
    n = None
    for name, arr in columns.items():
        spec = schema.get(name) or OPTIONAL.get(name)
        arr = np.asarray(arr)
        if n is None:
            n = len(arr)
        if len(arr) != n:
            raise PreparedFileError(f"column {name!r} has {len(arr)} rows, expected {n}")
        if spec is None:
            continue
        shape, dkind = spec
        if arr.shape[1:] != shape:
            raise PreparedFileError(f"column {name!r} has shape {arr.shape}, expected (N, {', '.join(map(str, shape))})"
                                    if shape else f"column {name!r} has shape {arr.shape}, expected (N,)")
        if dkind == "f" and arr.dtype.kind != "f":
            raise PreparedFileError(f"column {name!r} must be floating point, got {arr.dtype}")
        if dkind == "i" and arr.dtype.kind not in "iu":
            raise PreparedFileError(f"column {name!r} must be integer, got {arr.dtype}")
        if dkind == "b" and arr.dtype.kind != "b":
            raise PreparedFileError(f"column {name!r} must be boolean, got {arr.dtype}")
        if dkind == "U" and arr.dtype.kind not in "OUS":
            raise PreparedFileError(f"column {name!r} must hold strings, got {arr.dtype}")
    for name in ("image", "fg_mask", "chair_mask"):
        if name in columns:
            bad = [p for p in np.asarray(columns[name]).ravel()[:100000] if not _safe_relpath(str(p))]
            if bad:
                raise PreparedFileError(f"column {name!r} has {len(bad)} paths that leave the data folder, e.g. {bad[0]!r}")


def _safe_relpath(p: str) -> bool:
    if p == "":
        return True
    if p.startswith(("/", "\\")) or (len(p) > 1 and p[1] == ":"):
        return False
    return ".." not in Path(p.replace("\\", "/")).parts


def write_prepared(path: str | os.PathLike, columns: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> str:
    """Validate and write a prepared file atomically; returns its content hash.

    Floats in FLOAT_COLUMNS_F32 are stored as float32; strings as UTF-8; no timestamps, so the same
    content gives the same bytes.
    """
    cols: dict[str, np.ndarray] = {}
    for k, v in columns.items():
        a = _as_column(k, v)
        if k in FLOAT_COLUMNS_F32:
            a = a.astype(np.float32)
        cols[k] = a
    attrs = dict(attrs)
    attrs.setdefault("kind", "3d")
    attrs.setdefault("skeleton", "canonical17")
    attrs.setdefault("units", "mm")
    validate_columns(cols, attrs)
    for k, a in cols.items():
        if a.dtype.kind == "f" and not np.isfinite(a).all() and k not in ("joints2d",):
            raise PreparedFileError(f"column {k!r} holds {int((~np.isfinite(a)).sum())} non-finite values")
    attrs["content_hash"] = arrays_hash(cols, _hashable_attrs(attrs))
    attrs["format_version"] = FORMAT_VERSION
    attrs.setdefault("posebench_version", __version__)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            for name in sorted(cols):
                a = cols[name]
                kw: dict[str, Any] = {"track_times": False}
                if a.dtype.kind in "OUS":
                    a = np.array([str(x) for x in a.ravel()], dtype=object).reshape(a.shape)
                    kw["dtype"] = h5py.string_dtype("utf-8")
                if a.size >= 4096 and a.dtype.kind != "O":
                    kw.update(compression="gzip", compression_opts=4, shuffle=True)
                f.create_dataset(name, data=a, **kw)
            for k in sorted(attrs):
                v = attrs[k]
                f.attrs[k] = v if isinstance(v, (str, int, float, bool, np.generic)) else json.dumps(v, sort_keys=True)
    return str(attrs["content_hash"])


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The root attributes of a prepared file (cheap: no arrays are read)."""
    try:
        with open_h5(path, "prepared file") as f:
            return {k: _attr_value(v) for k, v in f.attrs.items()}
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None
    except OSError as e:
        raise PreparedFileError(f"{path}: unreadable attributes ({e})") from None


def _attr_value(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def read_prepared(path: str | os.PathLike, columns: Iterable[str] | None = None) -> PreparedData:
    """Read a prepared file (all columns, or just ``columns``) and check it against the contract."""
    path = Path(path)
    attrs = read_attrs(path)
    if attrs.get("format_version", 0) > FORMAT_VERSION:
        raise PreparedFileError(f"{path}: format version {attrs['format_version']} is newer than this posebench "
                                f"understands ({FORMAT_VERSION}); upgrade posebench")
    cols: dict[str, np.ndarray] = {}
    try:
        with open_h5(path, "prepared file") as f:
            names = list(f.keys()) if columns is None else list(columns)
            n_rows: int | None = None
            for name in names:
                if name not in f:
                    raise PreparedFileError(f"{path}: no column {name!r} (has: {', '.join(sorted(f.keys()))})")
                ds = plain_dataset(f, name)
                shape = check_shape(ds, rows=n_rows)
                if not shape:
                    raise PreparedFileError(f"{path}: column {name!r} is a scalar, expected one value per row")
                n_rows = shape[0]
                cols[name] = read_dataset(ds)
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None
    if columns is None:
        try:
            validate_columns(cols, attrs)
        except PreparedFileError as e:
            raise PreparedFileError(f"{path}: {e}") from None
    return PreparedData(cols, attrs, path)


def data_root(data: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data`` if given, else $POSEBENCH_DATA, else ./data."""
    if data is not None:
        return Path(data)
    return Path(os.environ.get(DATA_ENV, "data"))


def prepared_path(data: str | os.PathLike | None, dataset: str, split: str) -> Path:
    """Where the prepared file of a dataset split lives: DATA/<dataset>/<split>.h5."""
    return data_root(data) / dataset / f"{split}.h5"
