"""Reading pickles and .npz object arrays as data only: arrays, dicts, lists, tuples, strings and numbers.

A pickle names the callables that rebuild it; an ordinary loader imports and calls whatever it names, so
a file can run code. Here the unpickler resolves only the few names numpy's own arrays need, each to a
guarded builder, and refuses every other name before anything is called.
"""
from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from posebench.errors import PosebenchError


class UnsafePickleError(PosebenchError):
    """A pickle (or .npz object array) names something other than plain data, or cannot be read."""


_ND = object()  # stands for numpy.ndarray: usable only as _reconstruct's first argument, never callable


def _reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if subtype is not _ND:
        raise UnsafePickleError("_reconstruct of something other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError(f"dtype from {type(spec).__name__}, not a type code")
    return np.dtype(spec, align=bool(align), copy=True)


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise UnsafePickleError("numpy scalar that is not plain numeric data")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype) or dtype.hasobject \
            or order not in ("C", "F") or not isinstance(shape, tuple):
        raise UnsafePickleError("numpy buffer that is not plain numeric data")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).copy()


def _encode(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("_codecs.encode other than latin1 text")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _ND,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
    ("collections", "OrderedDict"): dict,
}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as protocols 0-2 write them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing to build {module}.{name}: only arrays, dicts, lists and numbers "
                                    "are read from pickles") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent references")


def _check_plain(obj: Any, depth: int = 0) -> None:
    if depth > 64:
        raise UnsafePickleError("nested more than 64 levels deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            for x in obj.ravel():
                _check_plain(x, depth + 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, depth + 1)
            _check_plain(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            _check_plain(x, depth + 1)
    elif not isinstance(obj, (str, bytes, int, float, complex, bool, type(None), np.generic)):
        raise UnsafePickleError(f"holds a {type(obj).__name__}, not plain data")


def loads_data(data: bytes) -> Any:
    """Unpickle ``data`` building only plain data (numpy arrays, dicts, lists, tuples, str, numbers)."""
    try:
        obj = _DataUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of a hostile or broken stream is one clear refusal
        raise UnsafePickleError(f"not a readable data pickle ({type(e).__name__}: {e})") from None
    _check_plain(obj)
    return obj


def load_pickle(path: str | os.PathLike) -> Any:
    """Read a pickle file as plain data (see :func:`loads_data`); the message names the file."""
    try:
        return loads_data(Path(path).read_bytes())
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except OSError as e:
        raise UnsafePickleError(f"{path}: unreadable ({e})") from None


def _read_npy(fp: Any) -> Any:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise UnsafePickleError(f".npy format version {version} is not supported")
    if not dtype.hasobject:
        raw = fp.read()
        count = int(np.prod(shape)) if shape else 1
        if len(raw) < count * dtype.itemsize:
            raise UnsafePickleError(f"array data truncated ({len(raw)} of {count * dtype.itemsize} bytes)")
        a = np.frombuffer(raw, dtype=dtype, count=count)
        return a.reshape(shape[::-1]).T.copy() if fortran else a.reshape(shape).copy()
    obj = loads_data(fp.read())
    if isinstance(obj, np.ndarray) and obj.shape == () and obj.dtype.hasobject:
        return obj.item()
    return obj


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Every member of an .npz: plain arrays as arrays, object arrays unpickled as data only."""
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if not name.endswith(".npy"):
                    continue
                with z.open(name) as fp:
                    try:
                        out[name[:-4]] = _read_npy(io.BytesIO(fp.read()))
                    except UnsafePickleError as e:
                        raise UnsafePickleError(f"{path}: array {name[:-4]!r}: {e}") from None
                    except ValueError as e:
                        raise UnsafePickleError(f"{path}: array {name[:-4]!r} is not a readable .npy ({e})") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise UnsafePickleError(f"{path}: not a readable .npz file ({e})") from None
    return out
