"""The prepared-dataset file: one row per (frame, camera) on the canonical skeleton.

Layout (docs/formats.md): root datasets are the columns, root attributes the provenance. Written
atomically and reproducibly (no timestamps); ``content_hash`` is a hash of the arrays, not the bytes.
Columns are read and verified by `posebench.prepared_read`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench import __version__
from posebench.h5safe import UnsafeFileError, open_h5, plain_dataset
from posebench.columns import encode_utf8, unsafe_paths
from posebench.content_hash import column_digest, combine
from posebench.io_utils import arrays_hash, atomic_h5
from posebench.prepared_read import ContentHashError as ContentHashError  # re-exported: raised by read_prepared
from posebench.prepared_read import (PreparedFileError, check_digests, column_hashers,
                                     hashable_attrs as _hashable_attrs, read_column, row_count)
from posebench.skeleton import NUM_JOINTS

FORMAT_VERSION = 2  # 2: column_hashes, row chunks, fixed-width UTF-8 strings; 1 still reads
CHUNK_ROWS = 16384
PATH_COLUMNS = ("image", "fg_mask", "chair_mask")
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
    "joints3d_univ_from_annot3": ((J, 3), "f"),
}
REQUIRED_BY_DATASET = {("mpi3dhp", "test"): ("joints3d_univ", "activity", "scene", "valid")}
FLOAT_COLUMNS_F32 = ("joints3d", "joints2d", "intrinsics", "joints3d_univ", "joints3d_univ_from_annot3", "centre",
                     "scale")
DATA_ENV = "POSEBENCH_DATA"


@dataclass
class PreparedData:
    """Columns (name -> array with one row per sample) plus file attributes."""

    columns: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    verified: bool = False  # the columns held were checked against the file's recorded hashes
    n_rows: int | None = None  # rows of the file when the columns held are a subset of them

    def __len__(self) -> int:
        if self.n_rows is not None:
            return self.n_rows
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
        return PreparedData({k: v[rows] for k, v in self.columns.items()}, dict(self.attrs), self.path, self.verified)

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
        arr = np.asarray(arr)
        if n is None:
            n = len(arr)
        if len(arr) != n:
            raise PreparedFileError(f"column {name!r} has {len(arr)} rows, expected {n}")
        _check_column(name, arr, attrs, paths=False)
    for name in PATH_COLUMNS:
        if name in columns:
            _check_paths(name, columns[name])


def _check_column(name: str, arr: np.ndarray, attrs: Mapping[str, Any], paths: bool = True) -> None:
    """One column against the schema of the file's kind (shape, dtype kind; paths stay inside the folder)."""
    spec = SCHEMAS.get(attrs.get("kind", "3d"), {}).get(name) or OPTIONAL.get(name)
    if paths and name in PATH_COLUMNS:
        _check_paths(name, arr)
    if spec is None:
        return
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


def _check_paths(name: str, values: np.ndarray) -> None:
    """Every row of a path column stays inside the data folder (one vectorised pass)."""
    n_bad, first = unsafe_paths(values)
    if n_bad:
        raise PreparedFileError(f"column {name!r} has {n_bad} paths that leave the data folder, e.g. {first!r}")


def write_prepared(path: str | os.PathLike, columns: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> str:
    """Validate and write a prepared file atomically; returns its content hash.

    Floats in FLOAT_COLUMNS_F32 are stored as float32, strings as fixed-width UTF-8; every column is chunked
    by rows (a block of rows reads alone) and gzip-1 compressed. ``column_hashes`` records each column's digest
    and ``content_hash`` the hash over them (`posebench.content_hash`); no timestamps, so the same content gives
    the same bytes.
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
    digests = {k: column_digest(k, a) for k, a in cols.items()}
    attrs["column_hashes"] = {k: digests[k] for k in sorted(digests)}
    attrs["content_hash"] = combine(digests, _hashable_attrs(attrs))
    attrs["format_version"] = FORMAT_VERSION
    attrs.setdefault("posebench_version", __version__)
    with atomic_h5(path, track_order=True) as f:
        for name in sorted(cols):
            a = cols[name]
            kw: dict[str, Any] = {"track_times": False}
            if a.dtype.kind in "OUS":
                a = encode_utf8(a.ravel()).reshape(a.shape)
                a = a.astype(h5py.string_dtype("utf-8", a.dtype.itemsize))
                kw["dtype"] = a.dtype
            if len(a):
                kw.update(chunks=(min(len(a), CHUNK_ROWS), *a.shape[1:]), compression="gzip",
                          compression_opts=1, shuffle=a.dtype.kind in "fiub" and a.dtype.itemsize > 1)
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


def read_prepared(path: str | os.PathLike, columns: Iterable[str] | None = None, rows: np.ndarray | None = None,
                  verify: bool = True, _hash_all: bool = False,
                  stream: Callable[[np.ndarray, int], None] | None = None) -> PreparedData:
    """Read a prepared file (all columns, or just ``columns``; all rows, or just ``rows``) and check it.

    With ``verify`` every column read is checked against its recorded digest while it streams in, block by
    block (format 1 files, which record only the whole-file hash, are hashed whole); a mismatch raises
    ContentHashError naming the file and column. Columns read are checked against the contract (every row of
    a path column included). ``stream``: with one column asked, called as its rows come in (see
    ``prepared_read.read_column``); they are trustworthy only once this function returns.
    """
    path = Path(path)
    attrs = read_attrs(path)
    version = attrs.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise PreparedFileError(f"{path}: format_version {version!r} is not a whole number; not a posebench prepared file")
    if version > FORMAT_VERSION:
        raise PreparedFileError(f"{path}: format version {version} is newer than this posebench understands "
                                f"({FORMAT_VERSION}); upgrade posebench")
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    cols: dict[str, np.ndarray] = {}
    try:
        with open_h5(path, "prepared file") as f:
            names = sorted(f.keys())
            wanted = names if columns is None else list(dict.fromkeys(columns))
            for name in wanted:
                if name not in names:
                    raise PreparedFileError(f"{path}: no column {name!r} (has: {', '.join(names)})")
            dsets = {name: plain_dataset(f, name) for name in (names if verify else wanted)}
            n_rows = row_count(path, dsets)
            if rows is not None and len(rows) and (rows.min() < 0 or rows.max() >= n_rows):
                raise PreparedFileError(f"{path}: rows outside 0..{n_rows - 1} requested")
            v1_done = version < 2 and not _hash_all and _v1_key(path, attrs) in _V1_VERIFIED
            hashed = [] if not verify or v1_done else names if version < 2 or _hash_all else wanted
            hashers = column_hashers(path, attrs, dsets, hashed) if hashed else {}
            for name in (hashed if set(hashed) > set(wanted) else wanted):
                keep = name in wanted
                out = read_column(dsets[name], rows if keep else None, hashers.get(name), keep,
                                  stream if keep and len(wanted) == 1 else None)
                if keep:
                    cols[name] = out
            digests = {k: {"dtype": h.dtype, "shape": list(h.shape), "sha256": h.hexdigest()} for k, h in hashers.items()}
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None
    if hashers:
        check_digests(path, attrs, digests, version)
        if version < 2:
            _V1_VERIFIED.add(_v1_key(path, attrs))
    cols = {k: cols[k] for k in wanted}
    try:
        if columns is None:
            validate_columns(cols, attrs)
        else:
            for name, a in cols.items():
                _check_column(name, a, attrs)
    except PreparedFileError as e:
        raise PreparedFileError(f"{path}: {e}") from None
    return PreparedData(cols, attrs, path, verified=verify, n_rows=n_rows if rows is None else None)


# Format-1 files can only be verified whole: once per process is enough (keyed on the file's identity and times).
_V1_VERIFIED: set[tuple] = set()


def _v1_key(path: Path, attrs: Mapping[str, Any]) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, attrs.get("content_hash"))


def column_names(path: str | os.PathLike) -> list[str]:
    """The columns a prepared file holds (cheap: nothing is read)."""
    try:
        with open_h5(path, "prepared file") as f:
            return sorted(f.keys())
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None


def prepared_rows(path: str | os.PathLike) -> int:
    """At most the row count of a prepared file: its shortest column's (metadata only, nothing is read), so a
    crafted column claiming 2**36 rows cannot raise the bound a predictions file is held to."""
    try:
        with open_h5(path, "prepared file") as f:
            shapes = {name: plain_dataset(f, name).shape for name in sorted(f.keys())}
    except UnsafeFileError as e:
        raise PreparedFileError(str(e)) from None
    if not shapes:
        raise PreparedFileError(f"{path}: a prepared file with no columns")
    scalar = next((name for name, shape in shapes.items() if not shape), None)
    if scalar is not None:
        raise PreparedFileError(f"{path}: column {scalar!r} is a scalar, not a column")
    return min(int(shape[0]) for shape in shapes.values())


def verify_prepared(path: str | os.PathLike) -> str:
    """Check every column of a prepared file against its recorded hashes (nothing kept); returns the content hash."""
    return read_prepared(path, columns=[], verify=True, _hash_all=True).content_hash


def data_root(data: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data`` if given, else $POSEBENCH_DATA, else ./data."""
    if data is not None:
        return Path(data)
    return Path(os.environ.get(DATA_ENV, "data"))


def prepared_path(data: str | os.PathLike | None, dataset: str, split: str) -> Path:
    """Where the prepared file of a dataset split lives: DATA/<dataset>/<split>.h5."""
    return data_root(data) / dataset / f"{split}.h5"
