"""Writing MATLAB v7.3 MAT-files (HDF5 with MATLAB's 512-byte userblock header) for look-alike trees.

MATLAB stores arrays column-major, so a MATLAB 3x17x1xN array is an HDF5 dataset h5py reads as (N,1,17,3).
Callers pass arrays in the shape h5py should read back; MATLAB would see the reversed dimensions.
The writer side of research/raw-formats.md §3/§6; it shares no code with the preparers' readers.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from posebench.io_utils import atomic_h5

USERBLOCK = 512
HEADER_TEXT_BYTES = 116
# A fixed creation date keeps the file byte-identical for a seed.
DEFAULT_HEADER = "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jun  1 12:00:00 2017 HDF5 schema 1.00 ."

_MATLAB_CLASS = {
    np.dtype(np.float64): "double", np.dtype(np.float32): "single", np.dtype(np.uint8): "uint8",
    np.dtype(np.int8): "int8", np.dtype(np.uint16): "uint16", np.dtype(np.int16): "int16",
    np.dtype(np.uint32): "uint32", np.dtype(np.int32): "int32", np.dtype(np.uint64): "uint64",
    np.dtype(np.int64): "int64", np.dtype(np.bool_): "logical",
}


def mat73_header(text: str = DEFAULT_HEADER) -> bytes:
    """The 128-byte MAT header: descriptive text (116 B), subsystem offset (8 zero B), version 0x0200, 'IM'."""
    raw = text.encode("ascii")
    if len(raw) > HEADER_TEXT_BYTES:
        raise ValueError(f"MAT header text is {len(raw)} bytes; at most {HEADER_TEXT_BYTES}")
    return raw.ljust(HEADER_TEXT_BYTES, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"


def write_mat73(path: str | os.PathLike, variables: Mapping[str, np.ndarray], header: str = DEFAULT_HEADER) -> None:
    """Write numeric ``variables`` as a MATLAB v7.3 file at ``path`` (atomically, deterministic bytes).

    Each array is stored as given (h5py reads it back with that shape) with its ``MATLAB_class``
    attribute; logical arrays are stored as uint8 with ``MATLAB_int_decode=1`` as MATLAB does.
    """
    with atomic_h5(path, userblock=mat73_header(header).ljust(USERBLOCK, b"\x00"), userblock_size=USERBLOCK,
                   libver="earliest", track_order=False) as f:
        for name in sorted(variables):
            arr = np.asarray(variables[name])
            if arr.dtype not in _MATLAB_CLASS:
                raise TypeError(f"{name}: dtype {arr.dtype} has no MATLAB class here")
            cls = _MATLAB_CLASS[arr.dtype]
            data = arr.astype(np.uint8) if cls == "logical" else arr
            ds = f.create_dataset(name, data=data, track_times=False)
            ds.attrs.create("MATLAB_class", np.bytes_(cls))
            if cls == "logical":
                ds.attrs.create("MATLAB_int_decode", np.int32(1))
