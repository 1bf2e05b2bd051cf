"""Writing MATLAB v5-family MAT-files (what `scipy.io.loadmat` reads) with a fixed, MATLAB-like header.

SciPy stamps the current time into the 116-byte descriptive header; a fixed text keeps look-alike files
byte-identical for a seed. Cells are object ndarrays, structs are record arrays (see `struct_array`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.io

from posebench.io_utils import atomic_path

HEADER_TEXT_BYTES = 116
DEFAULT_HEADER = "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Thu Jun  1 12:00:00 2017"


def write_mat5(path: str | os.PathLike, variables: Mapping[str, object], compress: bool = True,
               header: str = DEFAULT_HEADER) -> None:
    """Write ``variables`` as a MAT v5 file (MATLAB's -v7 with compression) at ``path``, atomically."""
    raw = header.encode("ascii")
    if len(raw) > HEADER_TEXT_BYTES:
        raise ValueError(f"MAT header text is {len(raw)} bytes; at most {HEADER_TEXT_BYTES}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            scipy.io.savemat(fh, dict(variables), format="5", do_compression=compress, oned_as="row")
        with open(tmp, "r+b") as fh:
            fh.write(raw.ljust(HEADER_TEXT_BYTES, b" "))


def cell(items: Sequence[object], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A MATLAB cell array: an object ndarray of ``shape`` (default 1 x n) holding ``items`` column-major."""
    shape = (1, len(items)) if shape is None else shape
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(shape, order="F")


def struct_array(records: Sequence[Mapping[str, object]], fields: Sequence[str] | None = None,
                 shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A MATLAB struct array (default 1 x n): every element has the same ``fields``; a field an element
    lacks is written as MATLAB's empty [] (as real struct arrays hold it)."""
    if fields is None:
        fields = []
        for rec in records:
            fields.extend(k for k in rec if k not in fields)
    shape = (1, len(records)) if shape is None else shape
    out = np.empty(len(records), dtype=[(f, object) for f in fields])
    for i, rec in enumerate(records):
        for f in fields:
            out[i][f] = rec.get(f, np.zeros((0, 0)))
    return out.reshape(shape, order="F")


def empty() -> np.ndarray:
    """MATLAB's [] (a 0x0 double)."""
    return np.zeros((0, 0))
