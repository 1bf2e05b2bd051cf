"""The optimal-rotation solver behind the similarity fit, and block iteration shared by align and metrics.

Private kernels: `posebench.align` holds the public alignments. The solver finds the rotation maximising
tr(R^T M) with Horn's quaternion matrix: its largest eigenvalue by Newton on the characteristic polynomial (as
in QCP), the eigenvector from the adjugate (refined by the Rayleigh quotient where the eigen-gaps are small).
Samples whose eigenvalue is not well separated go to an exact LAPACK SVD.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# A sample goes to the SVD fallback when |P'(lambda_max)| (the product of the eigen-gaps of the normalised
# quaternion matrix) is below this; above it the eigenvector is accurate to ~1e-12 or better (tests pin it).
_GAP_TOL = 1e-3
_EPS = np.finfo(np.float64).eps


def blocks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering range(n): how the kernels bound their temporaries."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


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
    _, n_svd = solve_rotations(c, reflection, rot)
    return np.ascontiguousarray(rot.T).reshape(-1, 3, 3), n_svd


def solve_rotations(c: np.ndarray, reflection: bool, rot: np.ndarray) -> tuple[np.ndarray, int]:
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
