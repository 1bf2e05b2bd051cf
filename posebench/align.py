"""Alignment of predicted poses to ground truth: root centring, similarity (Procrustes) and scale fits.

All functions take (N, J, 3) arrays, work in float64 and are vectorised over the leading batch axis.
The similarity fit solves the optimal rotation with Horn's quaternion matrix: its largest eigenvalue by Newton
on the characteristic polynomial (as in QCP), the eigenvector from the adjugate (refined by the Rayleigh
quotient where the eigen-gaps are small). Samples whose eigenvalue is not well separated go to an exact
LAPACK SVD, so the answer never depends on luck. Degenerate inputs (collapsed, zero, rank-deficient) give
their limits, never NaN; NaN inputs give NaN outputs.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from posebench.errors import PosebenchError
from posebench.skeleton import NUM_JOINTS, ROOT, knee_neck_length

ALIGNMENTS = ("none", "scale", "procrustes", "procrustes_reflect")
CHUNK = 8192  # samples per block: keeps temporaries in cache and peak memory a small multiple of the input
# A sample goes to the SVD fallback when |P'(lambda_max)| (the product of the eigen-gaps of the normalised
# quaternion matrix) is below this; above it the eigenvector is accurate to ~1e-12 or better (tests pin it).
_GAP_TOL = 1e-3
_EPS = np.finfo(np.float64).eps
_TILE = 512  # samples per transposition tile


class AlignmentError(PosebenchError):
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


def _blocks(n: int, size: int | None = None) -> Iterator[slice]:
    size = size or CHUNK
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
# Everything here works on component lists: c[3a+b] is the (n,) array of M_ab, so every operation runs over
# contiguous memory (strided views of (n,3,3) arrays are several times slower).

def _det3(c: np.ndarray) -> np.ndarray:
    return (c[0] * (c[4] * c[8] - c[5] * c[7]) - c[1] * (c[3] * c[8] - c[5] * c[6])
            + c[2] * (c[3] * c[7] - c[4] * c[6]))


def _horn_matrix(c: np.ndarray) -> list[list[np.ndarray]]:
    """Horn's symmetric 4x4 matrix (entry-wise) whose top eigenvector is the rotation quaternion.

    For M = sum_k g_k p_k^T (c its components); Horn writes S_xy = sum p_x g_y, i.e. S_ab = M_ba.
    """
    sxx, syx, szx, sxy, syy, szy, sxz, syz, szz = c
    n01, n02, n03 = syz - szy, szx - sxz, sxy - syx
    n12, n13, n23 = sxy + syx, szx + sxz, syz + szy
    return [[sxx + syy + szz, n01, n02, n03],
            [n01, sxx - syy - szz, n12, n13],
            [n02, n12, syy - sxx - szz, n23],
            [n03, n13, n23, szz - sxx - syy]]


def _adj_col0(a: list[list[np.ndarray]]) -> tuple[np.ndarray, ...]:
    """First column of the adjugate of symmetric 4x4 matrices given entry-wise (cofactors via 2x2 minors)."""
    c5 = a[2][2] * a[3][3] - a[2][3] * a[2][3]
    c4 = a[1][2] * a[3][3] - a[1][3] * a[2][3]
    c3 = a[1][2] * a[2][3] - a[1][3] * a[2][2]
    c2 = a[0][2] * a[3][3] - a[0][3] * a[2][3]
    c1 = a[0][2] * a[2][3] - a[0][3] * a[2][2]
    c0 = a[0][2] * a[1][3] - a[0][3] * a[1][2]
    return (a[1][1] * c5 - a[1][2] * c4 + a[1][3] * c3, a[1][2] * c2 - a[0][1] * c5 - a[1][3] * c1,
            a[0][1] * c4 - a[1][1] * c2 + a[1][3] * c0, a[1][1] * c1 - a[0][1] * c3 - a[1][2] * c0)


def _det4(a: list[list[np.ndarray]]) -> np.ndarray:
    """Determinant of symmetric 4x4 matrices given entry-wise (expansion along the first column)."""
    k = _adj_col0(a)
    return a[0][0] * k[0] + a[0][1] * k[1] + a[0][2] * k[2] + a[0][3] * k[3]


def _permuted(a: list[list[np.ndarray]], first: int) -> tuple[list[list[np.ndarray]], list[int]]:
    order = [first] + [i for i in range(4) if i != first]
    return [[a[i][j] for j in order] for i in order], order


def _top_eigvec(nm: list[list[np.ndarray]], lam: np.ndarray, gaps: np.ndarray) -> list[np.ndarray]:
    """Unit eigenvector (4 arrays) of the symmetric matrices for their simple eigenvalue lam.

    The adjugate of N - lam I is gaps q q^T (gaps: the product of eigen-gaps, |P'(lam)|), so column i has
    norm gaps |q_i|. Column 0 is used unless |q_0| < 1/4 (rotations beyond ~150 degrees); on those samples,
    the column with the largest diagonal (norm >= gaps / 2).
    """
    shifted = [[nm[i][j] - lam if i == j else nm[i][j] for j in range(4)] for i in range(4)]
    q = list(_adj_col0(shifted))
    norm = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    weak = np.flatnonzero(~(norm >= 0.25 * gaps))
    if weak.size:
        sub = [[x[weak] for x in row] for row in shifted]
        cols = []
        for i in range(4):
            perm, order = _permuted(sub, i)
            col = _adj_col0(perm)
            cols.append([col[order.index(j)] for j in range(4)])
        best = np.argmax(np.abs(np.stack([cols[i][i] for i in range(4)])), axis=0)
        for j in range(4):
            q[j][weak] = np.choose(best, [cols[i][j] for i in range(4)])
        norm[weak] = np.sqrt(sum(q[j][weak] ** 2 for j in range(4)))
    inv = 1.0 / np.where(norm > 0, norm, 1.0)
    return [x * inv for x in q]


def _rayleigh(nm: list[list[np.ndarray]], q: list[np.ndarray]) -> np.ndarray:
    """q^T N q for unit q: the eigenvalue estimate with error quadratic in q's."""
    out = nm[0][0] * q[0] * q[0] + nm[1][1] * q[1] * q[1] + nm[2][2] * q[2] * q[2] + nm[3][3] * q[3] * q[3]
    for i, j in ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)):
        out += 2.0 * nm[i][j] * q[i] * q[j]
    return out


def _quat_to_rot(q: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """Rotation matrices of unit quaternions (w, x, y, z) as components (9, n), written into ``out``."""
    w, x, y, z = q
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    np.subtract(ww + xx, yy + zz, out=out[0])
    np.multiply(xy - wz, 2.0, out=out[1])
    np.multiply(xz + wy, 2.0, out=out[2])
    np.multiply(xy + wz, 2.0, out=out[3])
    np.subtract(ww + yy, xx + zz, out=out[4])
    np.multiply(yz - wx, 2.0, out=out[5])
    np.multiply(xz - wy, 2.0, out=out[6])
    np.multiply(yz + wx, 2.0, out=out[7])
    np.subtract(ww + zz, xx + yy, out=out[8])
    return out


def _svd_rotation(m: np.ndarray) -> np.ndarray:
    """Exact optimal rotation for M = sum g p^T by SVD, with the determinant fix (the fallback)."""
    u, _, vt = np.linalg.svd(m)
    u[:, :, 2] *= np.sign(np.linalg.det(u) * np.linalg.det(vt))[:, None]
    return u @ vt


def _largest_root(c1: np.ndarray, c0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest root of lam^4 - 2 lam^2 + c1 lam + c0 (the characteristic polynomial of N for |M|_F = 1).

    Newton from sqrt(3) (>= the nuclear norm of M >= the root) descends monotonically onto it. Returns the
    root and a flag of samples that converged to machine precision.
    """
    lam = np.full(len(c1), np.sqrt(3.0) * (1 + 8 * _EPS))
    tol = 8 * _EPS
    step = np.zeros_like(lam)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p, dp = np.empty_like(lam), np.empty_like(lam)
        for _ in range(7):  # enough for nearly all samples; the rest continue alone below
            np.multiply(lam, lam, out=p)  # p = ((lam^2 - 2) lam + c1) lam + c0, dp = (4 lam^2 - 4) lam + c1
            np.multiply(p, 4.0, out=dp)
            dp -= 4.0
            dp *= lam
            dp += c1
            p -= 2.0
            p *= lam
            p += c1
            p *= lam
            p += c0
            np.divide(p, dp, out=step)
            lam -= step
        idx = np.flatnonzero(np.abs(step) > tol)
        for _ in range(60):  # the few slow ones (close roots converge linearly): iterate on them alone
            if idx.size == 0:
                break
            x, b1, b0 = lam[idx], c1[idx], c0[idx]
            l2 = x * x
            s = (((l2 - 2.0) * x + b1) * x + b0) / ((4.0 * l2 - 4.0) * x + b1)
            lam[idx] = x - s
            step[idx] = s
            idx = idx[np.abs(s) > tol]
    return lam, (np.abs(step) <= tol) & np.isfinite(lam)


def optimal_rotation(m: np.ndarray, reflection: bool = False) -> tuple[np.ndarray, int]:
    """R (n,3,3) maximising tr(R^T M) for M = sum_k g_k p_k^T (so g ~ R p), and how many samples used SVD.

    Rotations only unless ``reflection``; an all-zero M gives the identity.
    """
    m = np.asarray(m, dtype=np.float64)
    c = np.ascontiguousarray(m.reshape(len(m), 9).T)
    rot = np.empty_like(c)
    _, n_svd = _rotations(c, reflection, rot)
    return np.ascontiguousarray(rot.T).reshape(-1, 3, 3), n_svd


def _rotations(c: np.ndarray, reflection: bool, rot: np.ndarray) -> tuple[np.ndarray, int]:
    """optimal_rotation on components: M as c (9, n) (overwritten), R into rot (9, n).

    Returns tr(R^T M) (n,) and the number of samples solved by SVD.
    """
    sign = None
    if reflection:  # the best orthogonal matrix for det M < 0 is minus the best rotation for -M
        sign = np.where(_det3(c) < 0, -1.0, 1.0)
        c *= sign
    f = np.sqrt(np.einsum("kn,kn->n", c, c))
    zero = ~(f > 0)
    c *= 1.0 / np.where(zero, 1.0, f)
    nm = _horn_matrix(c)
    c1 = -8.0 * _det3(c)
    lam, converged = _largest_root(c1, _det4(nm))
    gaps = (4.0 * lam * lam - 4.0) * lam + c1  # P'(lam) = product of the gaps to the other eigenvalues
    q = _top_eigvec(nm, lam, gaps)
    # The eigenvector's error is ~ (error of lam) / gaps: where gaps < 1, refine lam by the Rayleigh
    # quotient (error quadratic in q's) and recompute q, on those samples only.
    weak = np.flatnonzero(~(gaps >= 1.0) & (gaps > _GAP_TOL))
    if weak.size:
        sub = [[x[weak] for x in row] for row in nm]
        q_sub = _top_eigvec(sub, _rayleigh(sub, [x[weak] for x in q]), gaps[weak])
        for x, y in zip(q, q_sub):
            x[weak] = y
    _quat_to_rot(q, rot)
    bad = np.flatnonzero(~zero & ~(converged & (gaps > _GAP_TOL)))
    if bad.size:  # exact SVD of the normalised (and, for reflections, sign-flipped) M: a rotation
        mb = np.ascontiguousarray(c[:, bad].T).reshape(-1, 3, 3)
        rot[:, bad] = _svd_rotation(mb).reshape(-1, 9).T
    rot[:, zero] = np.eye(3).reshape(9, 1)
    trace = f * np.einsum("kn,kn->n", rot, c)
    if sign is not None:
        rot *= sign
    return trace, int(bad.size)


# --- similarity fit, block by block in a components-major layout ---------------------------------

class _Workspace:
    """Reusable float64 buffers for one call, so blocks allocate no large temporaries.

    ``x`` is (6, J, n): coordinates 0-2 of the prediction (centred on its fit-joint centroid), 3-5 of the
    ground truth (not centred: the fit needs only one side centred). With samples on the last axis every
    operation runs over long contiguous rows, and the cross-covariance is one einsum.
    """

    def __init__(self, n_joints: int, fit: np.ndarray, n: int) -> None:
        size = min(CHUNK, max(n, 1))
        self.x = np.empty((6, n_joints, size))
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

    def __init__(self, pred: np.ndarray, gt: np.ndarray, ws: _Workspace, reflection: bool) -> None:
        n = len(pred)
        x = ws.x[:, :, :n]
        for u in range(0, n, _TILE):  # transpose in tiles whose source stays in cache
            np.copyto(x[0:3, :, u:u + _TILE], pred[u:u + _TILE].transpose(2, 1, 0), casting="unsafe")
            np.copyto(x[3:6, :, u:u + _TILE], gt[u:u + _TILE].transpose(2, 1, 0), casting="unsafe")
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
        trace, self.n_svd = _rotations(c, reflection, rot)
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
    """pred (N,J,3) after the similarity fitted on ``fit_joints`` (all joints are transformed)."""
    p, g = _as_batch(pred, gt)
    n, nj = p.shape[:2]
    ws = _Workspace(nj, _fit_index(fit_joints, nj), n)
    out = np.empty(p.shape)
    for sl in _blocks(n):
        out[sl] = _Fit(p[sl], g[sl], ws, reflection).aligned()
    return out


def procrustes_errors(pred: np.ndarray, gt: np.ndarray, fit_joints: Sequence[int] | None = None,
                      reflection: bool = False, joints: Sequence[int] | None = None) -> np.ndarray:
    """Per-joint distances (N, len(joints)) after the similarity fit, without building the aligned poses."""
    p, g = _as_batch(pred, gt)
    n, nj = p.shape[:2]
    ws = _Workspace(nj, _fit_index(fit_joints, nj), n)
    cols = None if joints is None else np.asarray(list(joints), dtype=np.int64)
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
        s[sl] = np.where(pp > 0, pg / np.where(pp > 0, pp, 1.0), np.where(np.isnan(pp), np.nan, 0.0))
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
