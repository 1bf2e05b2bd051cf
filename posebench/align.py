"""Alignment of predicted poses to ground truth: root centring, similarity (Procrustes) and scale fits.

All functions take (N, J, 3) arrays, work in float64 and are vectorised over the leading batch axis.
The similarity fit solves the optimal rotation with Horn's quaternion matrix: its largest eigenvalue by Newton
on the characteristic polynomial (as in QCP), the eigenvector from the adjugate (refined by the Rayleigh
quotient where the eigen-gaps are small). Samples whose eigenvalue is not well separated go to an exact
LAPACK SVD, so the answer never depends on luck (the solver is in posebench._rotation). Degenerate inputs (collapsed, zero, rank-deficient) give
their limits, never NaN; NaN inputs give NaN outputs.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from posebench import _pa_kernel
from posebench._rotation import blocks, optimal_rotation, solve_rotations
from posebench.errors import PosebenchError
from posebench.skeleton import NUM_JOINTS, ROOT, knee_neck_length

__all__ = ["ALIGNMENTS", "AlignmentError", "align", "knee_neck_rescale", "optimal_rotation", "procrustes",
           "procrustes_errors", "root_centre", "scale_factors", "scale_fit", "similarity_transform"]

ALIGNMENTS = ("none", "scale", "procrustes", "procrustes_reflect")
CHUNK = 8192  # samples per block: keeps temporaries in cache and peak memory a small multiple of the input
_EPS = np.finfo(np.float64).eps
_TILE = 512  # samples per transposition tile


class AlignmentError(PosebenchError):
    """An alignment was asked for with an unknown method or joints outside the skeleton."""


def root_centre(poses: np.ndarray, root: int = ROOT) -> np.ndarray:
    """Poses (..., J, 3) minus their root joint, in float64.

    >>> poses = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3)
    >>> root_centre(poses)[:, ROOT]
    array([[0., 0., 0.],
           [0., 0., 0.]])
    """
    p = np.asarray(poses)
    if p.dtype.kind not in "fiu" or p.dtype.itemsize > 8:
        p = p.astype(np.float64)
    return np.subtract(p, p[..., root:root + 1, :], dtype=np.float64)  # converted as it subtracts: one pass


def _fit_index(fit_joints: Sequence[int] | None, n_joints: int) -> np.ndarray:
    """Sorted unique joint indices to fit on (all when None); refuses indices outside 0..J-1."""
    if fit_joints is None:
        return np.arange(n_joints)
    idx = np.asarray(list(fit_joints), dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise AlignmentError("fit_joints is empty: a fit needs at least one joint")
    if idx.min() < 0 or idx.max() >= n_joints:
        raise AlignmentError(f"fit_joints {idx.tolist()} name joints outside 0..{n_joints - 1}")
    return np.unique(idx)


def _blocks(n: int, size: int | None = None) -> Iterator[slice]:
    return blocks(n, size or CHUNK)


def _as_batch(pred: np.ndarray, gt: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Check (N, J, 3) arrays (same shape when both given); no copy and no dtype change here."""
    p = np.asarray(pred)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise AlignmentError(f"expected poses of shape (N, J, 3), got {p.shape}")
    if gt is None:
        return p, None
    g = np.asarray(gt)
    if g.shape != p.shape:
        raise AlignmentError(f"prediction shape {p.shape} differs from ground-truth shape {g.shape}")
    return p, g


# --- similarity fit, block by block in a components-major layout ---------------------------------

def components(pred: np.ndarray, gt: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(6, J, n) float64: coordinates 0-2 of ``pred`` (n, J, 3), 3-5 of ``gt``, poses along the last axis.

    The layout the similarity fit works in (every operation runs over long contiguous rows); transposed in
    tiles whose source stays in cache.
    """
    n, nj = pred.shape[:2]
    x = np.empty((6, nj, n)) if out is None else out
    for u in range(0, n, _TILE):
        np.copyto(x[0:3, :, u:u + _TILE], pred[u:u + _TILE].transpose(2, 1, 0), casting="unsafe")
        np.copyto(x[3:6, :, u:u + _TILE], gt[u:u + _TILE].transpose(2, 1, 0), casting="unsafe")
    return x


def procrustes_errors_of_components(x: np.ndarray, fit: np.ndarray, reflection: bool,
                                    cols: np.ndarray | None) -> np.ndarray:
    """Per-joint distances (J', n) after the similarity fit, from poses already in the fit's layout
    (:func:`components`; the prediction's rows are centred in place). The NumPy path of
    :func:`procrustes_errors`, for callers that hold that layout (``posebench.scoring``)."""
    ws = _Workspace(x.shape[1], fit, x.shape[2], size=x.shape[2], x=False)
    return _Fit(None, None, ws, reflection, x=x).errors(cols)


class _Workspace:
    """Reusable float64 buffers for one call, so blocks allocate no large temporaries.

    ``x`` is (6, J, n): coordinates 0-2 of the prediction (centred on its fit-joint centroid), 3-5 of the
    ground truth (not centred: the fit needs only one side centred). With samples on the last axis every
    operation runs over long contiguous rows, and the cross-covariance is one einsum.
    """

    def __init__(self, n_joints: int, fit: np.ndarray, n: int, size: int | None = None, x: bool = True) -> None:
        size = min(CHUNK, max(n, 1)) if size is None else size
        self.x = np.empty((6, n_joints, size if x else 0))
        self.e = np.empty((3, n_joints, size))
        self.d = np.empty((n_joints, size))
        self.c = np.empty((9, size))
        self.rot = np.empty((9, size))
        self.mu = np.empty((6, size))
        self.fit = fit
        self.all_fit = len(fit) == n_joints
        self.w = np.zeros(n_joints)
        self.w[fit] = 1.0 / len(fit)


class _Fit:
    """Similarity fit of one block: rotation and scale (components (9, n), (n,)) and fit-joint centroids."""

    def __init__(self, pred: np.ndarray | None, gt: np.ndarray | None, ws: _Workspace, reflection: bool,
                 x: np.ndarray | None = None) -> None:
        if x is None:  # else the caller's components-major (6, J, n) poses, used (and centred) in place
            x = components(pred, gt, ws.x[:, :, :len(pred)])
        n = x.shape[2]
        mu = np.einsum("ajn,j->an", x, ws.w, out=ws.mu[:, :n])
        mu_p, mu_g = mu[0:3], mu[3:6]
        x[0:3] -= mu_p[:, None, :]
        xf = x if ws.all_fit else x[:, ws.fit]
        ssp = np.einsum("ajn,ajn->n", xf[0:3], xf[0:3])
        # M = sum g p^T = sum (g - mu_g) p^T over the fit joints, as components c[3a+b] = M_ab
        c = ws.c[:, :n]
        np.einsum("ajn,bjn->abn", xf[3:6], xf[0:3], out=c.reshape(3, 3, n))
        # A prediction whose fit joints coincide up to rounding is collapsed: its limit is scale 0.
        collapsed = ssp <= len(ws.fit) * (64 * _EPS) ** 2 * np.einsum("an,an->n", mu_p, mu_p)
        rot = ws.rot[:, :n]
        trace, self.n_svd = solve_rotations(c, reflection, rot)
        ok = ~collapsed & (ssp > 0)
        self.scale = np.where(ok, trace / np.where(ok, ssp, 1.0), 0.0)
        self.scale[np.isnan(ssp)] = np.nan  # a NaN prediction stays NaN (the collapsed limit is for numbers)
        self.rot, self.x, self.mu_p, self.mu_g, self.ws = rot, x, mu_p, mu_g, ws

    def rotations(self) -> np.ndarray:
        """(n, 3, 3) rotations."""
        return self.rot.T.reshape(-1, 3, 3)

    def _apply(self, subtract_gt: bool) -> np.ndarray:
        """(3, J, n): s R p0 + mu_g, minus the ground truth if ``subtract_gt``."""
        n = self.x.shape[2]
        a = (self.rot * self.scale).reshape(3, 3, n)
        e = np.einsum("abn,bjn->ajn", a, self.x[0:3], out=self.ws.e[:, :, :n])
        if subtract_gt:
            e -= self.x[3:6]
        e += self.mu_g[:, None, :]
        return e

    def errors(self, cols: np.ndarray | None) -> np.ndarray:
        """(J', n) distances of the aligned prediction to the ground truth (a view of the workspace)."""
        e = self._apply(True)
        if cols is not None:
            e = e[:, cols]
        d = np.einsum("ajn,ajn->jn", e, e, out=self.ws.d[:e.shape[1], :e.shape[2]])
        return np.sqrt(d, out=d)

    def aligned(self) -> np.ndarray:
        """(n, J, 3) aligned prediction (a view of the workspace)."""
        return self._apply(False).transpose(2, 1, 0)


def similarity_transform(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
                         reflection: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity (R (N,3,3), s (N,), t (N,3)) with gt ~ s R pred + t on the fit joints.

    Reflections are excluded unless ``reflection`` (then R may have det -1, as SciPy's procrustes).
    """
    p, g = _as_batch(pred, gt)
    n, nj = p.shape[:2]
    ws = _Workspace(nj, _fit_index(fit_joints, nj), n)
    rot, scale, trans = np.empty((n, 3, 3)), np.empty(n), np.empty((n, 3))
    for sl in _blocks(n):
        fb = _Fit(p[sl], g[sl], ws, reflection)
        rot[sl], scale[sl] = fb.rotations(), fb.scale
        trans[sl] = fb.mu_g.T - fb.scale[:, None] * np.einsum("nij,jn->ni", rot[sl], fb.mu_p)
    return rot, scale, trans


def procrustes(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
               reflection: bool = False) -> np.ndarray:
    """pred (N,J,3) after the similarity fitted on ``fit_joints`` (all joints are transformed).

    >>> gt = np.random.default_rng(0).normal(size=(2, 17, 3)) * 100
    >>> quarter_turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    >>> bool(np.allclose(procrustes(0.5 * gt @ quarter_turn.T - 30.0, gt), gt))
    True
    """
    p, g = _as_batch(pred, gt)
    n, nj = p.shape[:2]
    ws = _Workspace(nj, _fit_index(fit_joints, nj), n)
    out = np.empty(p.shape)
    for sl in _blocks(n):
        out[sl] = _Fit(p[sl], g[sl], ws, reflection).aligned()
    return out


def procrustes_errors(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
                      reflection: bool = False, joints: Sequence[int] | None = None, *,
                      kernel: bool = True, mean: bool = False) -> np.ndarray:
    """Per-joint distances (N, len(joints)) after the similarity fit, without building the aligned poses; with
    ``mean``, each row's mean over those joints (N,), which the compiled path computes without an (N, J) array.

    Large batches go to the compiled kernel when numba is installed (``kernel=False``: always NumPy).
    """
    p, g = _as_batch(pred, gt)
    n, nj = p.shape[:2]
    fit = _fit_index(fit_joints, nj)
    cols = None if joints is None else np.asarray(list(joints), dtype=np.int64)
    fast = _pa_kernel.procrustes_errors(p, g, fit, reflection, cols, mean) if kernel and _pa_kernel.wanted(n) \
        else None
    if fast is not None:
        out, redo = fast
        if redo.size:  # collapsed, degenerate or NaN samples: their limits come from the NumPy path
            out[redo] = procrustes_errors(p[redo], g[redo], fit, reflection, cols, kernel=False, mean=mean)
        return out
    if mean:
        e = procrustes_errors(p, g, fit, reflection, cols, kernel=False)
        return np.einsum("nj->n", e) / e.shape[1] if e.shape[1] else np.full(n, np.nan)
    ws = _Workspace(nj, fit, n)
    out = np.empty((n, nj if cols is None else len(cols)))
    for sl in _blocks(n):
        d = _Fit(p[sl], g[sl], ws, reflection).errors(cols)
        o = out[sl]
        for u in range(0, len(o), _TILE):  # transposed write, tile by tile
            o[u:u + _TILE] = d[:, u:u + _TILE].T
    return out


# --- scale fits ------------------------------------------------------------------------------------

def scale_factors(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """Per-sample s = <pred, gt> / <pred, pred> over the fit joints (0 for an all-zero prediction)."""
    p, g = _as_batch(pred, gt)
    fit = _fit_index(fit_joints, p.shape[1])
    n, nj = p.shape[:2]
    cols = None if len(fit) == nj else fit
    s = np.empty(n)
    for sl in _blocks(n):
        pb, gb = p[sl], g[sl]
        if cols is not None:
            pb, gb = pb[:, cols], gb[:, cols]
        pb = pb.reshape(len(pb), -1)
        gb = gb.reshape(len(gb), -1)
        pp = np.einsum("ij,ij->i", pb, pb, dtype=np.float64)
        pg = np.einsum("ij,ij->i", pb, gb, dtype=np.float64)
        s[sl] = scale_ratio(pg, pp)
    return s


def scale_ratio(pg: np.ndarray, pp: np.ndarray) -> np.ndarray:
    """s = <pred, gt> / <pred, pred> from the two sums: 0 for an all-zero prediction, NaN stays NaN."""
    return np.where(pp > 0, pg / np.where(pp > 0, pp, 1.0), np.where(np.isnan(pp), np.nan, 0.0))


def scale_fit(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """s * pred with the least-squares scale s fitted on the fit joints (no centring: N-MPJPE's fit)."""
    p, _ = _as_batch(pred, gt)
    return np.asarray(p, dtype=np.float64) * scale_factors(pred, gt, fit_joints)[:, None, None]


def knee_neck_rescale(pred: np.ndarray, length: float = 920.0) -> np.ndarray:
    """Root-centred pred scaled so its knee-neck length is ``length`` mm (the MargiPose / MPI 920 mm rule).

    A pose whose knee-neck length is zero cannot be rescaled and is returned root-centred, unscaled.

    >>> poses = np.random.default_rng(0).normal(size=(2, 17, 3)) * 100
    >>> knee_neck_length(knee_neck_rescale(poses)).round(6)
    array([920., 920.])
    """
    p, _ = _as_batch(pred)
    if p.shape[1] != NUM_JOINTS:
        raise AlignmentError(f"knee-neck rescaling needs the canonical {NUM_JOINTS} joints, got {p.shape[1]}")
    centred = root_centre(p)
    cur = knee_neck_length(centred)
    factor = np.where(cur > 0, length / np.where(cur > 0, cur, 1.0), 1.0)
    return centred * factor[:, None, None]


def align(pred: np.ndarray, gt: np.ndarray, method: str, fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """pred (N,J,3) aligned to gt by ``method`` (one of ALIGNMENTS), fitted on ``fit_joints``."""
    if method == "none":
        p, _ = _as_batch(pred, gt)
        return np.array(p, dtype=np.float64)
    if method == "scale":
        return scale_fit(pred, gt, fit_joints)
    if method in ("procrustes", "procrustes_reflect"):
        return procrustes(pred, gt, fit_joints, reflection=method == "procrustes_reflect")
    raise AlignmentError(f"unknown alignment {method!r}; known: {', '.join(ALIGNMENTS)}")
