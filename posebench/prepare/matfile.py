"""Reading MATLAB files (v5 via SciPy, v7.3 via h5py) with one-line errors that name the file.

Untrusted input stays data: any failure deep inside SciPy or h5py (truncated file, bad header, wrong
layout) becomes a :class:`MatFileError` naming the file and what was expected.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from posebench.errors import PosebenchError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class MatFileError(PosebenchError):
    """A .mat file is missing, unreadable, of the wrong MAT version, or lacks what the reader needs."""


def mat_version(path: str | os.PathLike) -> str:
    """'5' (MAT v5/v6/v7, SciPy reads it) or '7.3' (HDF5 inside); MatFileError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise MatFileError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            head = f.read(128)
            # HDF5 puts its signature at 0 or at a power-of-two offset >= 512 (MATLAB 7.3 uses 512).
            hdf5 = head.startswith(HDF5_SIGNATURE)
            offset = 512
            while not hdf5 and offset <= 1 << 16:
                f.seek(offset)
                hdf5 = f.read(8) == HDF5_SIGNATURE
                offset *= 2
    except OSError as e:
        raise MatFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if hdf5:
        return "7.3"
    if len(head) < 128:
        raise MatFileError(f"{path}: too short for a MAT file ({len(head)} bytes; truncated?)")
    if not head.startswith(b"MATLAB"):
        raise MatFileError(f"{path}: not a MATLAB .mat file (no 'MATLAB' header)")
    version = head[124:126]
    if version in (b"\x00\x01", b"\x01\x00"):
        return "5"
    if version in (b"\x00\x02", b"\x02\x00"):
        raise MatFileError(f"{path}: MAT 7.3 header but no HDF5 data (truncated?)")
    raise MatFileError(f"{path}: unknown MAT version bytes {version!r}")


@contextlib.contextmanager
def open_v73(path: str | os.PathLike, what: str = "a MAT v7.3 (HDF5) file") -> Iterator[h5py.File]:
    """Open a MAT v7.3 file with h5py; a v5 file or a broken one gets a MatFileError naming ``what``."""
    path = Path(path)
    version = mat_version(path)
    if version != "7.3":
        raise MatFileError(f"{path}: is a MAT v{version} file, expected {what}")
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise MatFileError(f"{path}: unreadable HDF5 ({_short(e)}; truncated?)") from None
    try:
        yield f
    finally:
        f.close()


def read_v73(f: h5py.File, name: str, path: str | os.PathLike) -> np.ndarray:
    """Dataset ``name`` of an open v7.3 file as a float64 array (MatFileError if missing or unreadable)."""
    if name not in f:
        raise MatFileError(f"{path}: no variable {name!r} (has: {', '.join(sorted(f.keys())) or 'none'})")
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise MatFileError(f"{path}: variable {name!r} is a {type(obj).__name__}, expected a numeric array")
    try:
        a = obj[()]
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise MatFileError(f"{path}: cannot read variable {name!r} ({_short(e)}; truncated?)") from None
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise MatFileError(f"{path}: variable {name!r} has non-numeric type {a.dtype}")
    return a.astype(np.float64)


def load_v5(path: str | os.PathLike, what: str = "a MAT v5 file", **kwargs: Any) -> dict[str, Any]:
    """scipy.io.loadmat of a v5 file; a v7.3 or broken file gets a MatFileError naming ``what``."""
    import scipy.io

    path = Path(path)
    version = mat_version(path)
    if version != "5":
        raise MatFileError(f"{path}: is a MAT v{version} (HDF5) file, expected {what}")
    try:
        return scipy.io.loadmat(str(path), **kwargs)
    except Exception as e:  # noqa: BLE001 - any parser failure on untrusted bytes becomes one clear line
        raise MatFileError(f"{path}: cannot parse as {what} ({type(e).__name__}: {_short(e)}; truncated or corrupt?)") from None


def numeric(value: Any, path: str | os.PathLike, name: str, ndim: int | None = None,
            shape: tuple[int | None, ...] | None = None) -> np.ndarray:
    """A numeric float64 array from a loaded MAT value, checked for finiteness and (optionally) shape."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MatFileError(f"{path}: {name} is not numeric") from None
    if ndim is not None and a.ndim != ndim:
        raise MatFileError(f"{path}: {name} has shape {a.shape}, expected {ndim} dimensions")
    if shape is not None:
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            raise MatFileError(f"{path}: {name} has shape {a.shape}, expected {want}")
    return a


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]
