"""The predictions file: `joints3d` (M,17,3) mm and `index` (M,) rows of the prepared file.

Reading validates everything a mistaken export gets wrong (shapes, NaN, units, indices) and names the
problem in one line, before anything is scored or written.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, check_shape, open_h5, plain_dataset, read_dataset, read_npz
from posebench.io_utils import atomic_h5
from posebench.skeleton import BONES, NUM_JOINTS

# Median canonical bone length of an adult is ~250 mm; these bounds catch metres (~0.25) and centimetres (~25).
BONE_MM_RANGE = (60.0, 1500.0)


class PredictionsError(PosebenchError):
    """A predictions file or array is unusable; the message says why."""


LAYOUT_HINT = ("expected `joints3d` (M,17,3) mm + `index` (M,) rows of the prepared file (list them with "
               "`posebench evaluate --protocol P --template FILE`; see docs/contracts.md), or another layout with "
               "--from videopose3d|mmpose|mpi-mat")


def read_predictions(path: str | os.PathLike, max_rows: int | None = None,
                     check_units: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read (joints3d float64 (M,17,3), index int64 (M,)) from an HDF5 or .npz predictions file.

    Only ``joints3d`` and ``index`` are touched; their shapes are checked from metadata (at most ``max_rows``
    rows, when given) before anything is read. ``check_units=False`` leaves the per-row units check to the
    caller (who reorders the joints first).
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: no such predictions file" if not path.exists() else f"{path}: not a regular file")
    try:
        if path.suffix == ".npz":
            cols = read_npz(path, {"joints3d": (NUM_JOINTS, 3), "index": ()}, max_rows=max_rows)
        else:
            with open_h5(path, "predictions file") as f:
                cols = {}
                for key in ("joints3d", "index"):
                    if key not in f:
                        raise PredictionsError(f"{path}: missing dataset {key!r} (has: "
                                               f"{', '.join(sorted(f.keys())) or 'nothing'}); {LAYOUT_HINT}")
                    ds = plain_dataset(f, key)
                    check_shape(ds, trailing=(NUM_JOINTS, 3) if key == "joints3d" else (), kinds="fiu",
                                max_rows=max_rows)
                    cols[key] = read_dataset(ds)
    except UnsafeFileError as e:
        raise PredictionsError(f"{e}; {LAYOUT_HINT}") from None
    try:
        return check_predictions(cols["joints3d"], cols["index"], check_units=check_units)
    except PredictionsError as e:
        raise PredictionsError(f"{path}: {e}") from None


def check_predictions(joints3d: np.ndarray, index: np.ndarray, check_units: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes, finiteness, index dtype and units; return float64 joints and int64 index."""
    j = np.asarray(joints3d)
    idx = np.asarray(index)
    if j.ndim != 3 or j.shape[1:] != (NUM_JOINTS, 3):
        raise PredictionsError(f"joints3d has shape {j.shape}, expected (M, {NUM_JOINTS}, 3) on the canonical skeleton")
    if j.dtype.kind not in "fiu":
        raise PredictionsError(f"joints3d must be numeric, got {j.dtype}")
    if idx.ndim != 1 or len(idx) != len(j):
        raise PredictionsError(f"index has shape {idx.shape}, expected ({len(j)},) to match joints3d")
    if idx.dtype.kind not in "iu":
        if idx.dtype.kind == "f" and np.all(np.mod(idx, 1) == 0):
            idx = idx.astype(np.int64)
        else:
            raise PredictionsError(f"index must hold integers, got {idx.dtype}")
    if idx.dtype.kind == "u" and len(idx) and idx.max() > np.iinfo(np.int64).max:
        huge = idx[idx > np.iinfo(np.int64).max]
        raise PredictionsError(f"{len(huge)} index values are beyond any row number (first: {', '.join(map(str, huge[:5]))})")
    j = j.astype(np.float64, copy=False)  # float64 already (the usual file): no copy
    bad = ~np.isfinite(j).all(axis=(1, 2))
    if bad.any():
        raise PredictionsError(f"joints3d has NaN/inf in {int(bad.sum())} rows (first at position {int(np.argmax(bad))}, "
                               f"index {int(idx[np.argmax(bad)])})")
    if check_units:
        check_millimetres(j)
    return j, idx.astype(np.int64, copy=False)


# Rows per block of the units check: bounds its float64 bone-length temporaries (~25 MB a block).
UNITS_BLOCK_ROWS = 65536


def check_millimetres(joints3d: np.ndarray) -> None:
    """Raise PredictionsError unless every row's median bone length looks like millimetres.

    Rows in metres or centimetres are counted and the first few named (one median over the file would let a
    minority through); a median that fits no unit (an untrained model, a wrong export) is called that, not
    given a conversion factor. Rows whose joints all coincide (a placeholder) are scored as they are.

    A row with more than half its bones in the millimetre range has its median there (both middle lengths
    are in it, whatever side the others lie on), so only the other rows have their median taken: the verdict
    and every figure in a message are those of the exact per-row medians.
    """
    n = len(joints3d)
    if n == 0:
        return
    lo, hi = BONE_MM_RANGE
    need = len(BONES) // 2 + 1
    at, medians = [], []
    for b in range(0, n, UNITS_BLOCK_ROWS):  # every row, block by block
        sq = bone_lengths_squared(joints3d[b:b + UNITS_BLOCK_ROWS])
        suspect = np.count_nonzero((sq >= lo * lo) & (sq <= hi * hi), axis=1) < need
        if suspect.any():  # only the rows the count could not settle have their median taken
            at.append(b + np.flatnonzero(suspect))
            medians.append(np.median(np.sqrt(sq[suspect]), axis=1))
    if not at:
        return
    at, row_median = np.concatenate(at), np.concatenate(medians)
    if np.count_nonzero(row_median == 0.0) > n // 2:  # exactly when the median over all rows would be 0
        raise PredictionsError("joints3d: every bone has zero length (all joints coincide): not a pose")
    bad = (row_median > 0) & ((row_median < lo) | (row_median > hi))
    if not bad.any():
        return
    odd, first = row_median[bad], at[bad][:5]
    classes = {"metres": (odd >= lo / 1000) & (odd < hi / 1000), "centimetres": (odd >= lo / 10) & (odd < lo)}
    k = len(odd)
    where = f"first at positions {', '.join(map(str, first))}"
    for unit, factor in (("metres", 1000), ("centimetres", 10)):
        if classes[unit].all():
            share = "every row" if k == n else f"{k} of {n} rows"
            raise PredictionsError(f"joints3d looks like {unit} in {share} (median bone length "
                                   f"{float(np.median(odd)):.4g}, expected {lo:.0f}-{hi:.0f} mm; "
                                   f"{where}); multiply them by {factor}")
    counts = ", ".join(f"{int(classes[u].sum())} in {u}" for u in ("metres", "centimetres") if classes[u].any())
    raise PredictionsError(f"joints3d: {k} of {n} rows are not human-sized in any unit (median bone "
                           f"lengths {float(odd.min()):.3g}-{float(odd.max()):.3g}, expected {lo:.0f}-{hi:.0f} mm"
                           f"{'; ' + counts if counts else ''}; {where}): is the model trained and the export right?")


_PARENT, _CHILD = np.array(BONES).T


def bone_lengths_squared(joints3d: np.ndarray) -> np.ndarray:
    """Each row's squared bone lengths (N, len(BONES)), in float64."""
    j = np.asarray(joints3d, dtype=np.float64)
    d = np.take(j, _CHILD, axis=1)  # np.take: ~10x faster than fancy indexing on the joint axis
    d -= np.take(j, _PARENT, axis=1)
    return np.einsum("nbk,nbk->nb", d, d)


def match_index(index: np.ndarray, selected: np.ndarray, n_rows: int) -> np.ndarray:
    """Positions in ``index`` of each selected row; errors name missing, duplicate and out-of-range rows."""
    out_of_range = (index < 0) | (index >= n_rows)
    if out_of_range.any():
        bad = index[out_of_range]
        raise PredictionsError(f"{len(bad)} index values are outside the prepared file's 0..{n_rows - 1} "
                               f"(first: {', '.join(map(str, bad[:5]))})")
    if len(index) > 1 and not bool(np.all(index[1:] > index[:-1])):  # increasing (the usual order): no repeats
        uniq, counts = np.unique(index, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            raise PredictionsError(f"{len(dup)} rows are predicted more than once (first: "
                                   f"{', '.join(map(str, dup[:5]))})")
    pos = np.full(n_rows, -1, dtype=np.int64)
    pos[index] = np.arange(len(index))
    where = pos[selected]
    if (where < 0).any():
        miss = selected[where < 0]
        raise PredictionsError(f"{len(miss)} of the {len(selected)} rows the protocol scores have no prediction "
                               f"(first: {', '.join(map(str, miss[:5]))}); write them with `posebench evaluate --template`")
    return where


def write_predictions(path: str | os.PathLike, joints3d: np.ndarray, index: np.ndarray, **extra: np.ndarray) -> None:
    """Write a predictions (or template) HDF5 file atomically."""
    hint = (np.asarray(joints3d).size * 8 if joints3d is not None else 0) + 8 * len(index) + (1 << 20)
    with atomic_h5(path, size_hint=hint) as f:
        if joints3d is not None:
            f.create_dataset("joints3d", data=np.asarray(joints3d, dtype=np.float64), track_times=False)
        f.create_dataset("index", data=np.asarray(index, dtype=np.int64), track_times=False)
        for k, v in extra.items():
            v = np.asarray(v)
            if v.dtype.kind in "OU":
                f.create_dataset(k, data=v.astype(object), dtype=h5py.string_dtype("utf-8"), track_times=False)
            else:
                f.create_dataset(k, data=v, track_times=False)
