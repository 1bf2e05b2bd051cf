"""Pose metrics as pure array functions: (N, J, 3) mm in, per-sample values (N,) out.

No implicit root centring: callers centre (``posebench.align.root_centre``). PCK and AUC are fractions here
(percent only in results and reports). PCK counts a joint when its error is strictly below the threshold;
AUC averages PCK over ``AUC_THRESHOLDS`` (0:5:150 mm, 31 values; 0 mm never counts, so a perfect prediction
scores 30/31), as the official MPI-INF-3DHP scripts do.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posebench import align as _align
from posebench._rotation import blocks
from posebench.errors import PosebenchError

PCK_THRESHOLD = 150.0
AUC_THRESHOLDS = np.arange(0.0, 151.0, 5.0)
KINDS = ("mean", "pck", "auc")
_BLOCK = 16384


class PoseArrayError(PosebenchError):
    """Pose arrays that cannot be scored: wrong shape, mismatched shapes, NaN or inf."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the shared vocabulary: how per-joint errors reduce, its alignment, and its direction.

    ``align`` is the default alignment; ``aligns`` every alignment a protocol may give it.
    """

    name: str
    kind: str
    align: str
    higher_is_better: bool
    unit: str
    aligns: tuple[str, ...]


_PA = ("procrustes", "procrustes_reflect")
# The one metric vocabulary (protocol files, results, published.csv): protocols and reports import it from here.
METRICS: dict[str, MetricSpec] = {
    "mpjpe": MetricSpec("mpjpe", "mean", "none", False, "mm", ("none",)),
    "pa_mpjpe": MetricSpec("pa_mpjpe", "mean", "procrustes", False, "mm", _PA),
    "n_mpjpe": MetricSpec("n_mpjpe", "mean", "scale", False, "mm", ("scale",)),
    "pck": MetricSpec("pck", "pck", "none", True, "%", ("none",)),
    "auc": MetricSpec("auc", "auc", "none", True, "%", ("none",)),
    "pa_pck": MetricSpec("pa_pck", "pck", "procrustes", True, "%", _PA),
    "pa_auc": MetricSpec("pa_auc", "auc", "procrustes", True, "%", _PA),
}


def check_poses(pred: np.ndarray, gt: np.ndarray, finite: bool = True) -> None:
    """Raise PoseArrayError (one line) unless pred and gt are finite (N, J, 3) arrays of the same shape.

    ``finite=False`` checks shapes and dtypes only (``joint_errors`` checks finiteness from its output).
    """
    p, g = np.asarray(pred), np.asarray(gt)
    for name, a in (("prediction", p), ("ground truth", g)):
        if a.ndim != 3 or a.shape[-1] != 3:
            raise PoseArrayError(f"{name} array has shape {a.shape}; expected (N, J, 3) poses in mm")
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise PoseArrayError(f"{name} array has dtype {a.dtype}; expected real numbers")
    if p.shape != g.shape:
        raise PoseArrayError(f"prediction shape {p.shape} differs from ground-truth shape {g.shape}")
    for name, a in (("prediction", p), ("ground truth", g)):
        if finite and np.issubdtype(a.dtype, np.floating):
            _check_finite(name, a)


def _check_finite(name: str, a: np.ndarray) -> None:
    # A block sum is finite iff the block is (barring overflow of huge values, which the exact check clears).
    for sl in blocks(len(a), _BLOCK):
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(a[sl], axis=None, dtype=np.float64)):
                continue
        bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            n_bad = int((~np.isfinite(a)).sum())
            raise PoseArrayError(f"{name} array holds {n_bad} NaN/inf value(s) in {len(rows)} sample(s); "
                                 f"first at sample {rows[0]}")
        return


def _joint_index(joints: Sequence[int] | None, n_joints: int, what: str) -> np.ndarray | None:
    if joints is None:
        return None
    idx = np.asarray(list(joints), dtype=np.int64).reshape(-1)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n_joints:
        raise PoseArrayError(f"{what} {idx.tolist()} must name joints in 0..{n_joints - 1}")
    return idx


def _plain_errors(pred: np.ndarray, gt: np.ndarray, cols: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    """Per-joint distances of (optionally scaled) pred to gt, block by block in one reused buffer."""
    n, nj = pred.shape[:2]
    nc = nj if cols is None else len(cols)
    out = np.empty((n, nc))
    buf = np.empty((min(_BLOCK, max(n, 1)), nc, 3))
    for sl in blocks(n, _BLOCK):
        p, g = pred[sl], gt[sl]
        if cols is not None:
            p, g = p[:, cols], g[:, cols]
        d = buf[:len(p)]
        if scale is None:
            np.subtract(p, g, out=d, casting="unsafe")
        else:
            np.multiply(p, scale[sl, None, None], out=d, casting="unsafe")
            d -= g
        d *= d
        o = out[sl]
        np.add(d[:, :, 0], d[:, :, 1], out=o)
        o += d[:, :, 2]
        np.sqrt(o, out=o)
    return out


def joint_errors(pred: np.ndarray, gt: np.ndarray, align: str = "none", fit_joints: Sequence[int] | None = None,
                 joints: Sequence[int] | None = None) -> np.ndarray:
    """Per-joint Euclidean distances (N, len(joints)) after ``align`` fitted on ``fit_joints`` (default all).

    NaN or inf in the inputs raise PoseArrayError. With every joint scored, a non-finite input makes its row's
    errors non-finite, so the inputs are read a second time only when the output is not all finite.
    """
    return _errors(pred, gt, align, fit_joints, joints, mean=False)


def _errors(pred: np.ndarray, gt: np.ndarray, align: str, fit_joints: Sequence[int] | None,
            joints: Sequence[int] | None, mean: bool) -> np.ndarray:
    """joint_errors, or with ``mean`` each row's mean over the joints (N,): Procrustes then never makes the
    (N, J) array on the compiled path."""
    check_poses(pred, gt, finite=joints is not None)
    p, g = np.asarray(pred), np.asarray(gt)
    nj = p.shape[1]
    cols = _joint_index(joints, nj, "joints")
    fit = None if align == "none" else _joint_index(fit_joints, nj, "fit_joints")
    if align not in _align.ALIGNMENTS:
        raise PoseArrayError(f"unknown alignment {align!r}; known: {', '.join(_align.ALIGNMENTS)}")
    try:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # non-finite input: the check says so
            if align == "none":
                out = _plain_errors(p, g, cols, None)
            elif align == "scale":
                out = _plain_errors(p, g, cols, _align.scale_factors(p, g, fit))
            else:
                out = _align.procrustes_errors(p, g, fit, reflection=align == "procrustes_reflect", joints=cols,
                                               mean=mean)
    except np.linalg.LinAlgError:  # LAPACK refuses NaN/inf: say which input holds them
        check_poses(p, g)
        raise
    with np.errstate(over="ignore", invalid="ignore"):  # a finite sum: all finite (an overflow: the full check)
        suspect = cols is None and not np.isfinite(np.add.reduce(out, axis=None))
    if suspect:
        check_poses(p, g)  # raises on NaN/inf inputs; finite inputs whose errors overflow are returned as they are
    return per_sample(out, "mean") if mean and out.ndim == 2 else out  # Procrustes returns its means itself


def per_sample(errors: np.ndarray, kind: str, threshold: float = PCK_THRESHOLD,
               thresholds: np.ndarray = AUC_THRESHOLDS) -> np.ndarray:
    """Per-sample values (N,) from per-joint errors (N, J): "mean" (MPJPE), "pck" or "auc" (fractions)."""
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] == 0:
        raise PoseArrayError(f"per-joint errors have shape {e.shape}; expected (N, J) with J >= 1")
    nj = e.shape[1]
    if kind == "mean":
        return np.einsum("nj->n", e) / nj
    if kind == "pck":
        return np.count_nonzero(e < threshold, axis=1) / nj
    if kind == "auc":
        t = np.sort(np.asarray(thresholds, dtype=np.float64).reshape(-1))
        if t.size == 0:
            raise PoseArrayError("AUC needs at least one threshold")
        return _auc(e, t)
    raise PoseArrayError(f"unknown metric kind {kind!r}; known: {', '.join(KINDS)}")


def aggregate(values: np.ndarray, groups: np.ndarray | None = None, rows: np.ndarray | None = None) -> float:
    """The mean of per-row values: pooled, or (with ``groups``) the unweighted mean of the group means.

    ``rows`` selects positions first; no rows give nan.

    >>> aggregate(np.array([1.0, 2.0, 6.0]))
    3.0
    >>> aggregate(np.array([1.0, 2.0, 6.0]), groups=np.array(["a", "a", "b"]))
    3.75
    """
    v = np.asarray(values, dtype=np.float64)
    if rows is not None:
        v = v[rows]
    if len(v) == 0:
        return float("nan")
    if groups is None:
        return float(v.mean())
    g = np.asarray(groups)
    if rows is not None:
        g = g[rows]
    _, inv = np.unique(g, return_inverse=True)
    sums = np.bincount(inv, weights=v)
    counts = np.bincount(inv)
    return float(np.mean(sums / counts))


def _auc(e: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mean over joints and thresholds t (sorted) of [e < t], per row of e (N, J); exact at the thresholds."""
    n, nj = e.shape
    out = np.empty(n)
    h = t[1] - t[0] if t.size > 1 else 1.0
    uniform = h > 0 and np.array_equal(t, t[0] + np.arange(t.size) * h)
    buf = np.empty((min(_BLOCK, max(n, 1)), nj))
    fix = np.empty_like(buf)
    for sl in blocks(n, _BLOCK):
        eb = e[sl]
        if not uniform:
            out[sl] = (t.size - np.searchsorted(t, eb, side="right")).sum(axis=1)
            continue
        # k = number of thresholds <= e, minus one: floor((e - t0) / h), then corrected by one exact
        # comparison each way (the division may round across a threshold).
        k = buf[:len(eb)]
        f = fix[:len(eb)]
        np.subtract(eb, t[0], out=k)
        k /= h
        np.floor(k, out=k)
        np.multiply(k, h, out=f)
        f += t[0]
        k -= f > eb
        np.add(k, 1.0, out=f)
        f *= h
        f += t[0]
        k += f <= eb
        k += 1.0
        np.clip(k, 0.0, t.size, out=k)
        out[sl] = t.size * nj - k.sum(axis=1)
    return out / (nj * t.size)


def mpjpe(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
          fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """Mean per-joint position error (N,) in mm, no alignment (``fit_joints`` is accepted and unused).

    >>> gt = np.zeros((1, 17, 3))
    >>> pred = gt.copy()
    >>> pred[0, :, 0] = 10.0  # every joint 10 mm off
    >>> mpjpe(pred, gt)
    array([10.])
    """
    return per_sample(joint_errors(pred, gt, "none", joints=joints), "mean")


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
             fit_joints: Sequence[int] | None = None, reflection: bool = False) -> np.ndarray:
    """MPJPE (N,) after the similarity Procrustes fit (reflections excluded unless ``reflection``).

    A rotated, scaled and shifted copy of the ground truth scores zero:

    >>> gt = np.random.default_rng(0).normal(size=(2, 17, 3)) * 100
    >>> quarter_turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    >>> pred = 2.0 * gt @ quarter_turn.T + 5.0
    >>> bool(np.allclose(pa_mpjpe(pred, gt), 0.0, atol=1e-9))
    True
    """
    method = "procrustes_reflect" if reflection else "procrustes"
    return _errors(pred, gt, method, fit_joints, joints, mean=True)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
            fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """MPJPE (N,) after the least-squares scale fit (VideoPose3D's N-MPJPE; no centring inside)."""
    return per_sample(joint_errors(pred, gt, "scale", fit_joints, joints), "mean")


def pck(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
        fit_joints: Sequence[int] | None = None, threshold: float = PCK_THRESHOLD) -> np.ndarray:
    """Fraction (N,) of joints with error strictly below ``threshold`` mm, no alignment.

    >>> gt = np.zeros((1, 17, 3))
    >>> pred = gt.copy()
    >>> pred[0, 0, 0] = 200.0  # one joint of 17 is 200 mm off
    >>> float(pck(pred, gt)[0]) == 16 / 17
    True
    """
    return per_sample(joint_errors(pred, gt, "none", joints=joints), "pck", threshold=threshold)


def auc(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
        fit_joints: Sequence[int] | None = None, thresholds: np.ndarray = AUC_THRESHOLDS) -> np.ndarray:
    """Mean PCK (N,) over ``thresholds`` mm, no alignment.

    The 0 mm threshold never counts (strict ``<``), so a perfect prediction scores 30/31:

    >>> gt = np.zeros((1, 17, 3))
    >>> float(auc(gt, gt)[0]) == 30 / 31
    True
    """
    return per_sample(joint_errors(pred, gt, "none", joints=joints), "auc", thresholds=thresholds)


def pa_pck(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
           fit_joints: Sequence[int] | None = None, threshold: float = PCK_THRESHOLD,
           reflection: bool = False) -> np.ndarray:
    """PCK (N,) after the similarity Procrustes fit on ``fit_joints``."""
    method = "procrustes_reflect" if reflection else "procrustes"
    return per_sample(joint_errors(pred, gt, method, fit_joints, joints), "pck", threshold=threshold)


def pa_auc(pred: np.ndarray, gt: np.ndarray, *, joints: Sequence[int] | None = None,
           fit_joints: Sequence[int] | None = None, thresholds: np.ndarray = AUC_THRESHOLDS,
           reflection: bool = False) -> np.ndarray:
    """AUC (N,) after the similarity Procrustes fit on ``fit_joints``."""
    method = "procrustes_reflect" if reflection else "procrustes"
    return per_sample(joint_errors(pred, gt, method, fit_joints, joints), "auc", thresholds=thresholds)
