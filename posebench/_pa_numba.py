"""Compiled similarity-Procrustes errors (numba): the fast path behind ``align.procrustes_errors``.

Imported only through ``posebench._pa_kernel`` (numba installed, batch large enough). One pass over the poses,
a tile of ``T`` poses at a time, everything for a tile in cache:
1. per pose, one sweep over the fit joints accumulates, relative to the first fit joint (so large offsets never
   cancel: the shift is a point of the pose), the sums and cross products giving M = sum (g - mu_g)(p - mu_p)^T
   and |p - mu_p|^2;
2. per tile, the optimal rotations of all its poses in one loop across poses that the compiler vectorises:
   Horn's quaternion matrix N of M / |M|_F, its largest eigenvalue (the largest root of
   lam^4 - 2 lam^2 - 8 det(M) lam + det(N)) by a fixed count of Laguerre steps from sqrt(3), an upper bound
   of every root, which converge monotonically (all roots are real) and cubically; the eigenvector as the
   row of adj(N - lam I) with the largest diagonal; selects, no branches;
3. per pose, the squared distances of s R (p - mu_p) to g - mu_g, then one vectorised square root per tile.
A pose whose root has not settled after those steps, or whose eigen-gap product is below 1, is finished
alone as ``align`` does (Newton to machine precision, a Rayleigh refinement); one that needs LAPACK (gap
product <= ``_GAP_TOL``) or a limit (collapsed or all-zero fit, NaN) is flagged for the NumPy path.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

T = 8  # poses per tile (8 measured 11 % faster than 16 on AVX2: 0.141 against 0.158 s for 1M poses, one thread)
_EPS = float(np.finfo(np.float64).eps)
_START = float(np.sqrt(3.0) * (1.0 + 8.0 * _EPS))  # >= the nuclear norm of M / |M|_F >= the largest root
_TOL = 8.0 * _EPS  # Newton's convergence test in the one-by-one finish (as align's)
_SETTLED = 1e-9  # a last Laguerre step below this leaves an error ~ step^3: the root is exact
_LAGUERRE = 4
_GAP_TOL = 1e-3  # as align._GAP_TOL: at or below it the NumPy path (LAPACK SVD) decides
# align treats ssp <= nf (64 eps)^2 |mu_p|^2 as a collapsed prediction; every pose within 2^20 of that
# threshold goes to the NumPy path, so the two paths never disagree about the limit.
_COLLAPSED = 2.0 ** 20 * (64.0 * _EPS) ** 2

OK, FINISH, REFERENCE = 0.0, 1.0, 2.0  # pose status: done, to finish alone, to redo on the NumPy path
# Per-pose quantities of a tile live in one flat buffer w, row r of pose t at w[r * T + t]: one base and
# compile-time offsets, so the compiler sees the rows as independent and vectorises the loop across poses.
C, R, MU, SSP, SMALL, SCALE, STATUS, FRO, SGN, ROWS = 0, 9, 18, 24, 25, 26, 27, 28, 29, 30
_FM = {"contract"}  # fused multiply-adds only; no other change to IEEE semantics


@njit(cache=True, fastmath=_FM, inline="always")
def _horn(c0, c1, c2, c3, c4, c5, c6, c7, c8):
    """Upper triangle (00 01 02 03 11 12 13 22 23 33) of Horn's matrix for M, c[3a+b] = M_ab."""
    sxx, syx, szx, sxy, syy, szy, sxz, syz, szz = c0, c1, c2, c3, c4, c5, c6, c7, c8
    return (sxx + syy + szz, syz - szy, szx - sxz, sxy - syx, sxx - syy - szz, sxy + syx, szx + sxz,
            syy - sxx - szz, syz + szy, szz - sxx - syy)


@njit(cache=True, fastmath=_FM, inline="always")
def _lower_minors(a02, a03, a12, a13, a22, a23, a33):
    """The 2x2 minors (c0..c5) of the last two columns of a symmetric 4x4 matrix, shared by its determinant and
    its adjugate's rows."""
    return (a02 * a13 - a03 * a12, a02 * a23 - a03 * a22, a02 * a33 - a03 * a23, a12 * a23 - a13 * a22,
            a12 * a33 - a13 * a23, a22 * a33 - a23 * a23)


@njit(cache=True, fastmath=_FM, inline="always")
def _det4(h):
    """Determinant of the symmetric 4x4 matrix with upper triangle h (expansion along the first column)."""
    a00, a01, a02, a03, a11, a12, a13, a22, a23, a33 = h
    c0, c1, c2, c3, c4, c5 = _lower_minors(a02, a03, a12, a13, a22, a23, a33)
    return (a00 * (a11 * c5 - a12 * c4 + a13 * c3) + a01 * (a12 * c2 - a01 * c5 - a13 * c1)
            + a02 * (a01 * c4 - a11 * c2 + a13 * c0) + a03 * (a11 * c1 - a01 * c3 - a12 * c0))


@njit(cache=True, fastmath=_FM, inline="always")
def _top_vector(h, lam):
    """Unnormalised top eigenvector of the symmetric matrix h (upper triangle) for its simple eigenvalue lam.

    adj(N - lam I) = -P'(lam) q q^T: the row with the largest |diagonal| (>= P'(lam) / 4; all diagonals are
    <= 0) is the best-conditioned multiple of q. All four rows by the 2x2-minor (Laplace) expansion, then
    selects.
    """
    a00, a01, a02, a03 = h[0] - lam, h[1], h[2], h[3]
    a11, a12, a13 = h[4] - lam, h[5], h[6]
    a22, a23, a33 = h[7] - lam, h[8], h[9] - lam
    s0 = a00 * a11 - a01 * a01
    s1 = a00 * a12 - a01 * a02
    s2 = a00 * a13 - a01 * a03
    s3 = a01 * a12 - a11 * a02
    s4 = a01 * a13 - a11 * a03
    s5 = a02 * a13 - a12 * a03
    c0, c1, c2, c3, c4, c5 = _lower_minors(a02, a03, a12, a13, a22, a23, a33)
    q0, q1, q2, q3 = (a11 * c5 - a12 * c4 + a13 * c3, -a01 * c5 + a02 * c4 - a03 * c3,
                      a13 * s5 - a23 * s4 + a33 * s3, -a12 * s5 + a22 * s4 - a23 * s3)
    best = q0
    d = a00 * c5 - a02 * c2 + a03 * c1
    take = d < best
    best = d if take else best
    r0, r1, r2, r3 = -a01 * c5 + a12 * c2 - a13 * c1, d, -a03 * s5 + a23 * s2 - a33 * s1, a02 * s5 - a22 * s2 + a23 * s1
    q0, q1, q2, q3 = (r0 if take else q0), (r1 if take else q1), (r2 if take else q2), (r3 if take else q3)
    d = a03 * s4 - a13 * s2 + a33 * s0
    take = d < best
    best = d if take else best
    r0, r1, r2, r3 = a01 * c4 - a11 * c2 + a13 * c0, -a00 * c4 + a01 * c2 - a03 * c0, d, -a02 * s4 + a12 * s2 - a23 * s0
    q0, q1, q2, q3 = (r0 if take else q0), (r1 if take else q1), (r2 if take else q2), (r3 if take else q3)
    d = a02 * s3 - a12 * s1 + a22 * s0
    take = d < best
    r0, r1, r2, r3 = -a01 * c3 + a11 * c1 - a12 * c0, a00 * c3 - a01 * c1 + a02 * c0, -a03 * s3 + a13 * s1 - a23 * s0, d
    q0, q1, q2, q3 = (r0 if take else q0), (r1 if take else q1), (r2 if take else q2), (r3 if take else q3)
    return q0, q1, q2, q3


@njit(cache=True, fastmath=_FM, inline="always")
def _store_rotation(w, t, q0, q1, q2, q3, sign):
    """Rotation matrix of the quaternion (q0..q3) / |q| times sign, into w's R rows of pose t."""
    k = sign / (q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)  # the rotation is quadratic in q: one division
    ww, xx, yy, zz = q0 * q0, q1 * q1, q2 * q2, q3 * q3
    xy, xz, yz, wx, wy, wz = q1 * q2, q1 * q3, q2 * q3, q0 * q1, q0 * q2, q0 * q3
    w[(R + 0) * T + t] = k * ((ww + xx) - (yy + zz))
    w[(R + 1) * T + t] = k * (2.0 * (xy - wz))
    w[(R + 2) * T + t] = k * (2.0 * (xz + wy))
    w[(R + 3) * T + t] = k * (2.0 * (xy + wz))
    w[(R + 4) * T + t] = k * ((ww + yy) - (xx + zz))
    w[(R + 5) * T + t] = k * (2.0 * (yz - wx))
    w[(R + 6) * T + t] = k * (2.0 * (xz - wy))
    w[(R + 7) * T + t] = k * (2.0 * (yz + wx))
    w[(R + 8) * T + t] = k * ((ww + zz) - (xx + yy))


@njit(cache=True, fastmath=_FM)
def _trace(w, t):
    """tr(R^T c) for pose t of w (R rows against the C rows)."""
    tr = 0.0
    for k in range(9):
        tr += w[(R + k) * T + t] * w[(C + k) * T + t]
    return tr


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _finish(w, t):
    """Pose t alone, as align does: Newton to machine precision, Rayleigh refinement below a gap product of 1.

    Returns True when solved (R rows written without the sign), False when the NumPy path must decide.
    """
    m0, m1, m2 = w[(C + 0) * T + t], w[(C + 1) * T + t], w[(C + 2) * T + t]
    m3, m4, m5 = w[(C + 3) * T + t], w[(C + 4) * T + t], w[(C + 5) * T + t]
    m6, m7, m8 = w[(C + 6) * T + t], w[(C + 7) * T + t], w[(C + 8) * T + t]
    h = _horn(m0, m1, m2, m3, m4, m5, m6, m7, m8)
    c1 = -8.0 * (m0 * (m4 * m8 - m5 * m7) - m1 * (m3 * m8 - m5 * m6) + m2 * (m3 * m7 - m4 * m6))
    c0 = _det4(h)
    lam, step = _START, 1.0
    for _ in range(100):  # Newton from above (as align._largest_root): monotone onto the largest root
        l2 = lam * lam
        step = (((l2 - 2.0) * lam + c1) * lam + c0) / ((4.0 * l2 - 4.0) * lam + c1)
        lam -= step
        if not abs(step) > _TOL:
            break
    gaps = (4.0 * lam * lam - 4.0) * lam + c1
    if not (abs(step) <= _TOL and gaps > _GAP_TOL):
        return False
    q0, q1, q2, q3 = _top_vector(h, lam)
    if not gaps >= 1.0:  # the eigenvector's error ~ lam's / gaps: refine lam by the Rayleigh quotient
        nq = q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3
        r = (h[0] * q0 * q0 + h[4] * q1 * q1 + h[7] * q2 * q2 + h[9] * q3 * q3
             + 2.0 * (h[1] * q0 * q1 + h[2] * q0 * q2 + h[3] * q0 * q3 + h[5] * q1 * q2 + h[6] * q1 * q3
                      + h[8] * q2 * q3)) / nq
        q0, q1, q2, q3 = _top_vector(h, r)
    if not q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3 > 0.0:
        return False
    _store_rotation(w, t, q0, q1, q2, q3, 1.0)
    return True


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _solve(w, nl, reflection):
    """Rotation (reflection sign applied), scale and status of poses 0..nl-1 from w's C, SSP, SMALL rows.

    The C rows become sign * M / |M|_F; FRO and SGN receive |M|_F and the sign.
    """
    for t in range(nl):  # one straight-line body per pose, vectorised across poses (nl unknown: not unrolled)
        m0, m1, m2 = w[(C + 0) * T + t], w[(C + 1) * T + t], w[(C + 2) * T + t]
        m3, m4, m5 = w[(C + 3) * T + t], w[(C + 4) * T + t], w[(C + 5) * T + t]
        m6, m7, m8 = w[(C + 6) * T + t], w[(C + 7) * T + t], w[(C + 8) * T + t]
        det = m0 * (m4 * m8 - m5 * m7) - m1 * (m3 * m8 - m5 * m6) + m2 * (m3 * m7 - m4 * m6)
        f = np.sqrt(m0 * m0 + m1 * m1 + m2 * m2 + m3 * m3 + m4 * m4 + m5 * m5 + m6 * m6 + m7 * m7 + m8 * m8)
        sign = -1.0 if (reflection and det < 0.0) else 1.0  # the best orthogonal matrix for det M < 0
        inv = sign / f
        m0, m1, m2, m3, m4, m5, m6, m7, m8 = (m0 * inv, m1 * inv, m2 * inv, m3 * inv, m4 * inv, m5 * inv,
                                              m6 * inv, m7 * inv, m8 * inv)
        w[(C + 0) * T + t], w[(C + 1) * T + t], w[(C + 2) * T + t] = m0, m1, m2
        w[(C + 3) * T + t], w[(C + 4) * T + t], w[(C + 5) * T + t] = m3, m4, m5
        w[(C + 6) * T + t], w[(C + 7) * T + t], w[(C + 8) * T + t] = m6, m7, m8
        w[FRO * T + t] = f
        w[SGN * T + t] = sign
        c1 = -8.0 * (det * (inv * inv * inv))
        h = _horn(m0, m1, m2, m3, m4, m5, m6, m7, m8)
        c0 = _det4(h)
        lam = _START
        step = 1.0
        for _ in range(_LAGUERRE):  # Laguerre's method for a quartic with real roots, from above
            l2 = lam * lam
            p = ((l2 - 2.0) * lam + c1) * lam + c0
            dp = (4.0 * l2 - 4.0) * lam + c1
            disc = 3.0 * (3.0 * dp * dp - 4.0 * p * (12.0 * l2 - 4.0))
            step = 4.0 * p / (dp + np.sqrt(max(disc, 0.0)))
            lam -= step
        gaps = (4.0 * lam * lam - 4.0) * lam + c1  # P'(lam): the product of the eigen-gaps
        q0, q1, q2, q3 = _top_vector(h, lam)
        _store_rotation(w, t, q0, q1, q2, q3, sign)
        trace = f * sign * (w[(R + 0) * T + t] * m0 + w[(R + 1) * T + t] * m1 + w[(R + 2) * T + t] * m2
                            + w[(R + 3) * T + t] * m3 + w[(R + 4) * T + t] * m4 + w[(R + 5) * T + t] * m5
                            + w[(R + 6) * T + t] * m6 + w[(R + 7) * T + t] * m7 + w[(R + 8) * T + t] * m8)
        s = w[SSP * T + t]
        w[SCALE * T + t] = trace / s
        fast = (abs(step) <= _SETTLED) & (gaps >= 1.0)
        usable = (f > 0.0) & (s > w[SMALL * T + t]) & (abs(trace) < np.inf)
        w[STATUS * T + t] = REFERENCE if not usable else (OK if fast else FINISH)
    for t in range(nl):  # the rare poses the vector pass could not settle
        if w[STATUS * T + t] == FINISH:
            if _finish(w, t):
                w[SCALE * T + t] = w[FRO * T + t] * _trace(w, t) / w[SSP * T + t]
                for k in range(9):
                    w[(R + k) * T + t] *= w[SGN * T + t]
                w[STATUS * T + t] = OK
            else:
                w[STATUS * T + t] = REFERENCE


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _tile(pred, gt, i0, nt, fit, cols, reflection, w, sq, out, means, flags):
    """Per-joint errors of poses i0..i0+nt-1 into out[i0:i0+nt], or (``means`` not empty) their mean over the
    joints into means[i0:i0+nt]; flags set where the NumPy path must redo. ``sq``: T * len(cols) scratch."""
    nf = fit.shape[0]
    nc = cols.shape[0]
    r = fit[0]  # accumulate relative to the first fit joint: exact shifts, no cancellation of offsets
    inv_nf = 1.0 / nf
    for t in range(nt):
        i = i0 + t
        # float64 from here, whatever the input's float type
        rp0, rp1, rp2 = np.float64(pred[i, r, 0]), np.float64(pred[i, r, 1]), np.float64(pred[i, r, 2])
        rg0, rg1, rg2 = np.float64(gt[i, r, 0]), np.float64(gt[i, r, 1]), np.float64(gt[i, r, 2])
        sp0 = sp1 = sp2 = sg0 = sg1 = sg2 = 0.0
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = m8 = ssp = 0.0
        for kk in range(nf):
            j = fit[kk]
            p0, p1 = np.float64(pred[i, j, 0]) - rp0, np.float64(pred[i, j, 1]) - rp1
            p2 = np.float64(pred[i, j, 2]) - rp2
            g0, g1, g2 = np.float64(gt[i, j, 0]) - rg0, np.float64(gt[i, j, 1]) - rg1, np.float64(gt[i, j, 2]) - rg2
            sp0 += p0
            sp1 += p1
            sp2 += p2
            sg0 += g0
            sg1 += g1
            sg2 += g2
            m0 += g0 * p0
            m1 += g0 * p1
            m2 += g0 * p2
            m3 += g1 * p0
            m4 += g1 * p1
            m5 += g1 * p2
            m6 += g2 * p0
            m7 += g2 * p1
            m8 += g2 * p2
            ssp += p0 * p0 + p1 * p1 + p2 * p2
        mp0, mp1, mp2 = sp0 * inv_nf, sp1 * inv_nf, sp2 * inv_nf
        # centring: sum (g - mu_g)(p - mu_p)^T = sum g' p'^T - S_g S_p^T / nf, likewise |p - mu_p|^2
        w[(C + 0) * T + t] = m0 - sg0 * mp0
        w[(C + 1) * T + t] = m1 - sg0 * mp1
        w[(C + 2) * T + t] = m2 - sg0 * mp2
        w[(C + 3) * T + t] = m3 - sg1 * mp0
        w[(C + 4) * T + t] = m4 - sg1 * mp1
        w[(C + 5) * T + t] = m5 - sg1 * mp2
        w[(C + 6) * T + t] = m6 - sg2 * mp0
        w[(C + 7) * T + t] = m7 - sg2 * mp1
        w[(C + 8) * T + t] = m8 - sg2 * mp2
        w[SSP * T + t] = ssp - (sp0 * mp0 + sp1 * mp1 + sp2 * mp2)
        a0, a1, a2 = rp0 + mp0, rp1 + mp1, rp2 + mp2
        w[SMALL * T + t] = nf * _COLLAPSED * (a0 * a0 + a1 * a1 + a2 * a2)
        w[(MU + 0) * T + t], w[(MU + 1) * T + t], w[(MU + 2) * T + t] = mp0, mp1, mp2
        w[(MU + 3) * T + t], w[(MU + 4) * T + t], w[(MU + 5) * T + t] = sg0 * inv_nf, sg1 * inv_nf, sg2 * inv_nf
    _solve(w, nt, reflection)
    for t in range(nt):
        i = i0 + t
        s = w[SCALE * T + t]
        a0, a1, a2 = s * w[(R + 0) * T + t], s * w[(R + 1) * T + t], s * w[(R + 2) * T + t]
        a3, a4, a5 = s * w[(R + 3) * T + t], s * w[(R + 4) * T + t], s * w[(R + 5) * T + t]
        a6, a7, a8 = s * w[(R + 6) * T + t], s * w[(R + 7) * T + t], s * w[(R + 8) * T + t]
        # e = A (p - mu_p) - (g - mu_g) = A (p - p_r) - (g - g_r) + b, b = (mu_g - g_r) - A (mu_p - p_r)
        mp0, mp1, mp2 = w[(MU + 0) * T + t], w[(MU + 1) * T + t], w[(MU + 2) * T + t]
        b0 = w[(MU + 3) * T + t] - (a0 * mp0 + a1 * mp1 + a2 * mp2)
        b1 = w[(MU + 4) * T + t] - (a3 * mp0 + a4 * mp1 + a5 * mp2)
        b2 = w[(MU + 5) * T + t] - (a6 * mp0 + a7 * mp1 + a8 * mp2)
        rp0, rp1, rp2 = np.float64(pred[i, r, 0]), np.float64(pred[i, r, 1]), np.float64(pred[i, r, 2])
        rg0, rg1, rg2 = np.float64(gt[i, r, 0]), np.float64(gt[i, r, 1]), np.float64(gt[i, r, 2])
        for jj in range(nc):
            j = cols[jj]
            p0, p1 = np.float64(pred[i, j, 0]) - rp0, np.float64(pred[i, j, 1]) - rp1
            p2 = np.float64(pred[i, j, 2]) - rp2
            e0 = (b0 - (np.float64(gt[i, j, 0]) - rg0)) + (a0 * p0 + a1 * p1 + a2 * p2)
            e1 = (b1 - (np.float64(gt[i, j, 1]) - rg1)) + (a3 * p0 + a4 * p1 + a5 * p2)
            e2 = (b2 - (np.float64(gt[i, j, 2]) - rg2)) + (a6 * p0 + a7 * p1 + a8 * p2)
            sq[t * nc + jj] = e0 * e0 + e1 * e1 + e2 * e2
        flags[i] = w[STATUS * T + t] == REFERENCE
    for k in range(nt * nc):  # one vectorised square root for the tile
        sq[k] = np.sqrt(sq[k])
    if means.shape[0] > 0:
        for t in range(nt):
            total = 0.0
            for jj in range(nc):
                total += sq[t * nc + jj]
            means[i0 + t] = total / nc
    else:
        o = out[i0:i0 + nt].reshape(-1)  # contiguous rows
        for k in range(nt * nc):
            o[k] = sq[k]


@njit(cache=True, parallel=True, error_model="numpy")
def procrustes_errors(pred, gt, fit, cols, reflection, out, means, flags, n_parts):
    """Per-joint errors (N, len(cols)) into out (C-contiguous), or, when ``means`` has N entries, each pose's
    mean over those joints into means (out may then be empty: no (N, J) array is made); flags (N,) of the rows
    for the NumPy path.

    pred, gt: C-contiguous (N, J, 3) float32/float64; fit (sorted, unique) and cols: uint64 joint indices,
    all < J (not checked here: ``posebench._pa_kernel`` checks them).

    The tiles are split into n_parts contiguous parts run in parallel (numba's thread count applies).
    """
    n = pred.shape[0]
    n_tiles = (n + T - 1) // T
    per = (n_tiles + n_parts - 1) // n_parts
    for part in prange(n_parts):
        w = np.empty(ROWS * T)
        sq = np.empty(T * max(cols.shape[0], 1))
        for tile in range(part * per, min((part + 1) * per, n_tiles)):
            i0 = tile * T
            _tile(pred, gt, i0, min(T, n - i0), fit, cols, reflection, w, sq, out, means, flags)
