"""The one safe way posebench reads an HDF5 file it did not just write: plain datasets inside the file only.

Every file is untrusted. A dataset reached through an external link, a soft link, a virtual dataset
(VDS) or HDF5 external storage could read another file (a submission reading the answer key) or a
system file; these are refused with one line naming the file and the dataset. Shapes and dtypes are
checked from metadata before any array is allocated, and only the datasets a reader asks for are
touched, so an unused dataset of 2**40 elements costs nothing.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from posebench.errors import PosebenchError

# The HDF5 signature may sit at byte 0, 512, 1024, 2048, ... (after a user block).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class UnsafeFileError(PosebenchError):
    """An HDF5 file is unreadable, or reaches outside itself (links, virtual or external storage)."""


def is_hdf5(path: str | os.PathLike) -> bool:
    """True when the file carries the HDF5 signature at one of its legal offsets (cheap: reads bytes)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            offset = 0
            while offset + 8 <= size:
                f.seek(offset)
                if f.read(8) == _SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, what: str = "HDF5 file") -> Iterator[h5py.File]:
    """Open ``path`` read-only; a missing, unreadable or non-HDF5 file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise UnsafeFileError(f"{path}: no such {what}" if not path.exists() else f"{path}: not a regular file")
    if not is_hdf5(path):
        raise UnsafeFileError(f"{path}: not a readable HDF5 {what} (no HDF5 signature)")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as e:
        raise UnsafeFileError(f"{path}: not a readable {what} ({_short(e)})") from None
    try:
        yield f
    finally:
        f.close()


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def plain_dataset(f: h5py.File, name: str) -> h5py.Dataset:
    """The dataset ``name`` of ``f`` if it is a plain dataset stored inside the file, else UnsafeFileError."""
    where = f"{f.filename}: dataset {name!r}"
    try:
        link = f.get(name, getlink=True)
    except (KeyError, ValueError, OSError) as e:
        raise UnsafeFileError(f"{where}: unreadable link ({_short(e)})") from None
    if link is None:
        raise UnsafeFileError(f"{where} is missing (has: {', '.join(sorted(f.keys())) or 'nothing'})")
    if isinstance(link, h5py.ExternalLink):
        raise UnsafeFileError(f"{where} is an external link to {link.filename}:{link.path}; "
                              "only datasets stored in the file itself are read")
    if isinstance(link, h5py.SoftLink):
        raise UnsafeFileError(f"{where} is a soft link to {link.path}; only plain datasets are read")
    if not isinstance(link, h5py.HardLink):
        raise UnsafeFileError(f"{where}: unsupported link type {type(link).__name__}")
    try:
        obj = f[name]
    except (KeyError, OSError, ValueError) as e:
        raise UnsafeFileError(f"{where}: unreadable ({_short(e)})") from None
    if not isinstance(obj, h5py.Dataset):
        raise UnsafeFileError(f"{where} is a {type(obj).__name__.lower()}, not a dataset")
    plist = obj.id.get_create_plist()
    if obj.is_virtual or plist.get_layout() == h5py.h5d.VIRTUAL:
        raise UnsafeFileError(f"{where} is a virtual dataset (it reads other files); refused")
    if plist.get_external_count() > 0:
        raise UnsafeFileError(f"{where} uses HDF5 external storage (its bytes live in another file); refused")
    if obj.dtype.kind == "O" and h5py.check_string_dtype(obj.dtype) is None:
        raise UnsafeFileError(f"{where} holds object references or variable-length data ({obj.dtype}); refused")
    if obj.dtype.kind == "V":
        raise UnsafeFileError(f"{where} has a compound/opaque type ({obj.dtype}); expected numbers or strings")
    return obj


def check_shape(ds: h5py.Dataset, trailing: Sequence[int] | None = None, kinds: str | None = None,
                rows: int | None = None, max_rows: int | None = None) -> tuple[int, ...]:
    """Check a dataset's shape and dtype kind from its metadata (nothing is read); returns the shape.

    ``trailing``: the exact shape after the first axis; ``kinds``: allowed dtype kinds ("f", "iu", "S"
    for strings); ``rows``: the exact length; ``max_rows``: an upper bound on the length.
    """
    where = f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r}"
    shape = tuple(int(s) for s in (ds.shape or ()))
    if trailing is not None and (len(shape) != 1 + len(trailing) or shape[1:] != tuple(trailing)):
        want = ", ".join(["N", *map(str, trailing)])
        raise UnsafeFileError(f"{where} has shape {shape}, expected ({want}{',' if not trailing else ''})")
    if kinds is not None:
        kind = "S" if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind in "SU" else ds.dtype.kind
        if kind not in kinds:
            raise UnsafeFileError(f"{where} has type {ds.dtype}, expected {_kind_names(kinds)}")
    if shape and rows is not None and shape[0] != rows:
        raise UnsafeFileError(f"{where} has {shape[0]} rows, expected {rows}")
    if shape and max_rows is not None and shape[0] > max_rows:
        raise UnsafeFileError(f"{where} has {shape[0]} rows, more than the {max_rows} expected")
    return shape


def _kind_names(kinds: str) -> str:
    names = {"f": "floats", "i": "integers", "u": "integers", "b": "booleans", "S": "strings"}
    return " or ".join(dict.fromkeys(names.get(k, k) for k in kinds))


def read_dataset(ds: h5py.Dataset, rows: np.ndarray | None = None) -> np.ndarray:
    """Read a checked dataset whole, or just ``rows`` (any order, repeats allowed); strings come back as str objects."""
    is_str = h5py.check_string_dtype(ds.dtype) is not None
    src = ds.asstr() if is_str else ds
    try:
        if rows is None:
            out = src[()]
        else:
            rows = np.asarray(rows, dtype=np.int64)
            uniq, inverse = np.unique(rows, return_inverse=True)
            if len(uniq) and (uniq[0] < 0 or uniq[-1] >= ds.shape[0]):
                raise UnsafeFileError(f"{ds.file.filename}: rows outside dataset {ds.name!r}")
            out = _read_sorted(src, uniq, ds.shape[0])[inverse]
    except (OSError, ValueError, TypeError) as e:
        if isinstance(e, UnsafeFileError):
            raise
        raise UnsafeFileError(f"{ds.file.filename}: dataset {ds.name.lstrip('/')!r} cannot be read ({_short(e)})") from None
    out = np.asarray(out)
    if is_str or out.dtype.kind == "O":
        out = out.astype(object)
    return out


def _read_sorted(src, uniq: np.ndarray, n: int) -> np.ndarray:
    """Sorted unique rows: one contiguous slice when dense enough, else h5py point selection."""
    if len(uniq) == 0:
        return np.asarray(src[0:0])
    lo, hi = int(uniq[0]), int(uniq[-1]) + 1
    if len(uniq) * 4 >= hi - lo or len(uniq) > 4096:
        block = np.asarray(src[lo:hi])
        return block[uniq - lo]
    return np.asarray(src[uniq])
