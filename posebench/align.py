"""Alignment of predicted poses to ground truth: root centring, similarity (Procrustes) and scale fits.

All functions take (N, J, 3) arrays, work in float64 and are vectorised over the leading batch axis.
The similarity fit solves the optimal rotation with Horn's quaternion matrix (largest eigenvalue by Newton
on its characteristic polynomial, as in QCP; eigenvector from the adjugate, refined once by the Rayleigh
quotient). Samples whose eigenvalue is not well separated go to an exact LAPACK SVD, so the answer never
depends on luck. Degenerate inputs (collapsed, zero, rank-deficient) give their limits, never NaN.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from posebench.skeleton import NUM_JOINTS, ROOT, knee_neck_length

ALIGNMENTS = ("none", "scale", "procrustes", "procrustes_reflect")
CHUNK = 8192  # samples per block: keeps temporaries in cache and peak memory a small multiple of the input
# A sample goes to the SVD fallback when |P'(lambda_max)| (the product of the eigen-gaps of the normalised
# quaternion matrix) is below this: the fast eigenvector is then accurate to ~1e-13, or it is not trusted.
_GAP_TOL = 1e-3
_EPS = np.finfo(np.float64).eps


class AlignmentError(ValueError):
    """An alignment was asked for with an unknown method or joints outside the skeleton."""


def root_centre(poses: np.ndarray, root: int = ROOT) -> np.ndarray:
    """Poses (..., J, 3) minus their root joint, in float64."""
    p = np.asarray(poses, dtype=np.float64)
    return p - p[..., root:root + 1, :]


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


def _blocks(n: int, size: int = CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


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


# --- optimal rotation -----------------------------------------------------------------------------

def _det3(m: np.ndarray) -> np.ndarray:
    return (m[:, 0, 0] * (m[:, 1, 1] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 1])
            - m[:, 0, 1] * (m[:, 1, 0] * m[:, 2, 2] - m[:, 1, 2] * m[:, 2, 0])
            + m[:, 0, 2] * (m[:, 1, 0] * m[:, 2, 1] - m[:, 1, 1] * m[:, 2, 0]))


def _horn_matrix(mn: np.ndarray) -> list[list[np.ndarray]]:
    """Horn's symmetric 4x4 matrix whose top eigenvector is the rotation quaternion, for M = sum g p^T."""
    # Horn writes S_xy = sum p_x g_y, i.e. S_ab = M_ba.
    sxx, sxy, sxz = mn[:, 0, 0], mn[:, 1, 0], mn[:, 2, 0]
    syx, syy, syz = mn[:, 0, 1], mn[:, 1, 1], mn[:, 2, 1]
    szx, szy, szz = mn[:, 0, 2], mn[:, 1, 2], mn[:, 2, 2]
    n01, n02, n03 = syz - szy, szx - sxz, sxy - syx
    n12, n13, n23 = sxy + syx, szx + sxz, syz + szy
    return [[sxx + syy + szz, n01, n02, n03],
            [n01, sxx - syy - szz, n12, n13],
            [n02, n12, syy - sxx - szz, n23],
            [n03, n13, n23, szz - sxx - syy]]


def _adjugate4(a: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Adjugate (n, 4, 4) and determinant (n,) of a batch of 4x4 matrices given entry-wise, via 2x2 minors."""
    s0 = a[0][0] * a[1][1] - a[1][0] * a[0][1]
    s1 = a[0][0] * a[1][2] - a[1][0] * a[0][2]
    s2 = a[0][0] * a[1][3] - a[1][0] * a[0][3]
    s3 = a[0][1] * a[1][2] - a[1][1] * a[0][2]
    s4 = a[0][1] * a[1][3] - a[1][1] * a[0][3]
    s5 = a[0][2] * a[1][3] - a[1][2] * a[0][3]
    c5 = a[2][2] * a[3][3] - a[3][2] * a[2][3]
    c4 = a[2][1] * a[3][3] - a[3][1] * a[2][3]
    c3 = a[2][1] * a[3][2] - a[3][1] * a[2][2]
    c2 = a[2][0] * a[3][3] - a[3][0] * a[2][3]
    c1 = a[2][0] * a[3][2] - a[3][0] * a[2][2]
    c0 = a[2][0] * a[3][1] - a[3][0] * a[2][1]
    det = s0 * c5 - s1 * c4 + s2 * c3 + s3 * c2 - s4 * c1 + s5 * c0
    adj = np.stack([
        a[1][1] * c5 - a[1][2] * c4 + a[1][3] * c3, -a[0][1] * c5 + a[0][2] * c4 - a[0][3] * c3,
        a[3][1] * s5 - a[3][2] * s4 + a[3][3] * s3, -a[2][1] * s5 + a[2][2] * s4 - a[2][3] * s3,
        -a[1][0] * c5 + a[1][2] * c2 - a[1][3] * c1, a[0][0] * c5 - a[0][2] * c2 + a[0][3] * c1,
        -a[3][0] * s5 + a[3][2] * s2 - a[3][3] * s1, a[2][0] * s5 - a[2][2] * s2 + a[2][3] * s1,
        a[1][0] * c4 - a[1][1] * c2 + a[1][3] * c0, -a[0][0] * c4 + a[0][1] * c2 - a[0][3] * c0,
        a[3][0] * s4 - a[3][1] * s2 + a[3][3] * s0, -a[2][0] * s4 + a[2][1] * s2 - a[2][3] * s0,
        -a[1][0] * c3 + a[1][1] * c1 - a[1][2] * c0, a[0][0] * c3 - a[0][1] * c1 + a[0][2] * c0,
        -a[3][0] * s3 + a[3][1] * s1 - a[3][2] * s0, a[2][0] * s3 - a[2][1] * s1 + a[2][2] * s0,
    ], axis=-1).reshape(-1, 4, 4)
    return adj, det


def _top_eigvec(nm: list[list[np.ndarray]], lam: np.ndarray) -> np.ndarray:
    """Unit eigenvector (n, 4) of the symmetric matrices for eigenvalue lam: the largest adjugate column."""
    shifted = [[nm[i][j] - lam if i == j else nm[i][j] for j in range(4)] for i in range(4)]
    adj, _ = _adjugate4(shifted)
    diag = np.abs(np.diagonal(adj, axis1=1, axis2=2))
    col = np.take_along_axis(adj, diag.argmax(axis=1)[:, None, None], axis=2)[:, :, 0]
    norm = np.sqrt(np.einsum("ni,ni->n", col, col))
    return col / np.where(norm > 0, norm, 1.0)[:, None]


def _quat_to_rot(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([
        w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z,
    ], axis=-1).reshape(-1, 3, 3)


def _svd_rotation(m: np.ndarray, reflection: bool) -> np.ndarray:
    """Exact optimal orthogonal R (rotation unless reflection) for M = sum g p^T, by SVD (the fallback)."""
    u, _, vt = np.linalg.svd(m)
    if not reflection:
        d = np.sign(np.linalg.det(u) * np.linalg.det(vt))
        u = u.copy()
        u[:, :, 2] *= d[:, None]
    return u @ vt


def optimal_rotation(m: np.ndarray, reflection: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """R (n,3,3) maximising tr(R^T M) for M = sum_k g_k p_k^T (so g ~ R p), and how many samples used SVD.

    Rotations only unless ``reflection``; an all-zero M gives the identity.
    """
    m = np.asarray(m, dtype=np.float64)
    n = len(m)
    sign = np.ones(n)
    if reflection:  # the best orthogonal matrix of M with det M < 0 is minus the best rotation of -M
        sign = np.where(_det3(m) < 0, -1.0, 1.0)
    mm = m * sign[:, None, None]
    f = np.sqrt(np.einsum("nij,nij->n", mm, mm))
    zero = ~(f > 0)
    mn = mm / np.where(zero, 1.0, f)[:, None, None]
    nm = _horn_matrix(mn)
    c2 = -2.0 * np.einsum("nij,nij->n", mn, mn)
    c1 = -8.0 * _det3(mn)
    _, c0 = _adjugate4(nm)
    # Newton from above sqrt(3) >= nuclear norm of mn >= lambda_max: monotone descent onto the largest root.
    lam = np.full(n, np.sqrt(3.0) * (1 + 4 * _EPS))
    converged = np.zeros(n, dtype=bool)
    for _ in range(40):
        p = ((lam * lam + c2) * lam + c1) * lam + c0
        dp = (4.0 * lam * lam + 2.0 * c2) * lam + c1
        step = np.divide(p, dp, out=np.zeros(n), where=dp > 0)
        lam = lam - step
        converged = np.abs(step) <= 8 * _EPS
        if converged.all():
            break
    dp = (4.0 * lam * lam + 2.0 * c2) * lam + c1
    q = _top_eigvec(nm, lam)
    lam = _rayleigh(nm, q)
    q = _top_eigvec(nm, lam)
    rot = _quat_to_rot(q) * sign[:, None, None]
    bad = ~zero & ~(converged & (dp > _GAP_TOL))
    if bad.any():
        rot[bad] = _svd_rotation(m[bad], reflection)
    rot[zero] = np.eye(3)
    return rot, int(bad.sum())


def _rayleigh(nm: list[list[np.ndarray]], q: np.ndarray) -> np.ndarray:
    out = np.zeros(len(q))
    for i in range(4):
        for j in range(4):
            out += q[:, i] * nm[i][j] * q[:, j]
    return out


# --- similarity fit on (n, 3, J) blocks ----------------------------------------------------------

def _block_cm(a: np.ndarray) -> np.ndarray:
    """(n, J, 3) slice -> contiguous float64 (n, 3, J): coordinate-major, so per-sample ops run over joints."""
    return np.array(np.asarray(a).transpose(0, 2, 1), dtype=np.float64, order="C", copy=True)


class _Fit:
    """Similarity fit of one block: pred p and gt g centred on their fit-joint centroids, A = s R, mu_g."""

    def __init__(self, p: np.ndarray, g: np.ndarray, fit: np.ndarray, reflection: bool) -> None:
        n, _, nj = p.shape
        k = len(fit)
        w = np.zeros(nj)
        w[fit] = 1.0 / k
        mu_p = (p.reshape(-1, nj) @ w).reshape(n, 3)
        mu_g = (g.reshape(-1, nj) @ w).reshape(n, 3)
        p -= mu_p[:, :, None]
        g -= mu_g[:, :, None]
        all_fit = k == nj
        pf = p if all_fit else p[:, :, fit]
        gf = g if all_fit else g[:, :, fit]
        ssp = np.einsum("nij,nij->n", pf, pf)
        # A prediction whose fit joints coincide up to rounding is collapsed: its limit is scale 0.
        collapsed = ssp <= k * (64 * _EPS) ** 2 * np.einsum("ni,ni->n", mu_p, mu_p)
        m = gf @ pf.transpose(0, 2, 1)
        rot, self.n_svd = optimal_rotation(m, reflection)
        trace = np.einsum("nij,nij->n", rot, m)
        ok = ~collapsed & (ssp > 0)
        self.scale = np.where(ok, trace / np.where(ok, ssp, 1.0), 0.0)
        self.rot, self.p, self.g, self.mu_p, self.mu_g = rot, p, g, mu_p, mu_g

    def residual(self) -> np.ndarray:
        """(n, 3, J) aligned prediction minus ground truth."""
        out = (self.rot * self.scale[:, None, None]) @ self.p
        out -= self.g
        return out

    def aligned(self) -> np.ndarray:
        """(n, J, 3) aligned prediction."""
        out = (self.rot * self.scale[:, None, None]) @ self.p
        out += self.mu_g[:, :, None]
        return out.transpose(0, 2, 1)


def similarity_transform(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
                         reflection: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity (R (N,3,3), s (N,), t (N,3)) with gt ~ s R pred + t on the fit joints.

    Reflections are excluded unless ``reflection`` (then R may have det -1, as SciPy's procrustes).
    """
    p, g = _as_batch(pred, gt)
    fit = _fit_index(fit_joints, p.shape[1])
    n = len(p)
    rot, scale, trans = np.empty((n, 3, 3)), np.empty(n), np.empty((n, 3))
    for sl in _blocks(n):
        fb = _Fit(_block_cm(p[sl]), _block_cm(g[sl]), fit, reflection)
        rot[sl], scale[sl] = fb.rot, fb.scale
        trans[sl] = fb.mu_g - fb.scale[:, None] * np.einsum("nij,nj->ni", fb.rot, fb.mu_p)
    return rot, scale, trans


def procrustes(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
               reflection: bool = False) -> np.ndarray:
    """pred (N,J,3) after the similarity fitted on ``fit_joints`` (all joints are transformed)."""
    p, g = _as_batch(pred, gt)
    fit = _fit_index(fit_joints, p.shape[1])
    out = np.empty(p.shape)
    for sl in _blocks(len(p)):
        out[sl] = _Fit(_block_cm(p[sl]), _block_cm(g[sl]), fit, reflection).aligned()
    return out


def procrustes_errors(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
                      reflection: bool = False, joints: Sequence[int] | None = None) -> np.ndarray:
    """Per-joint distances (N, len(joints)) after the similarity fit, without building the aligned poses."""
    p, g = _as_batch(pred, gt)
    fit = _fit_index(fit_joints, p.shape[1])
    cols = None if joints is None else np.asarray(list(joints), dtype=np.int64)
    out = np.empty((len(p), p.shape[1] if cols is None else len(cols)))
    for sl in _blocks(len(p)):
        r = _Fit(_block_cm(p[sl]), _block_cm(g[sl]), fit, reflection).residual()
        if cols is not None:
            r = r[:, :, cols]
        r *= r
        d = r[:, 0]
        d += r[:, 1]
        d += r[:, 2]
        np.sqrt(d, out=out[sl])
    return out


# --- scale fits ------------------------------------------------------------------------------------

def scale_factors(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """Per-sample s = <pred, gt> / <pred, pred> over the fit joints (0 for an all-zero prediction)."""
    p, g = _as_batch(pred, gt)
    fit = _fit_index(fit_joints, p.shape[1])
    n, nj = p.shape[:2]
    mask = np.zeros(nj * 3)
    mask.reshape(nj, 3)[fit] = 1.0
    s = np.empty(n)
    for sl in _blocks(n):
        pb = np.asarray(p[sl], dtype=np.float64).reshape(-1, nj * 3)
        gb = np.asarray(g[sl], dtype=np.float64).reshape(-1, nj * 3)
        pp = (pb * pb) @ mask
        s[sl] = np.where(pp > 0, ((pb * gb) @ mask) / np.where(pp > 0, pp, 1.0), 0.0)
    return s


def scale_fit(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None) -> np.ndarray:
    """s * pred with the least-squares scale s fitted on the fit joints (no centring: N-MPJPE's fit)."""
    p, _ = _as_batch(pred, gt)
    return np.asarray(p, dtype=np.float64) * scale_factors(pred, gt, fit_joints)[:, None, None]


def knee_neck_rescale(pred: np.ndarray, length: float = 920.0) -> np.ndarray:
    """Root-centred pred scaled so its knee-neck length is ``length`` mm (the MargiPose / MPI 920 mm rule).

    A pose whose knee-neck length is zero cannot be rescaled and is returned root-centred, unscaled.
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
