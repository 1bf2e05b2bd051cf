"""Camera intrinsics fitted from paired 3D (camera space) and 2D (pixel) joints.

The reference preprocessing solves x·Z = fx·X + cx·Z (likewise y) by least squares. Real 2D annotations
carry lens distortion (Human3.6M: k1 ≈ -0.2), which biases a pure pinhole fit by about 1-2 %; so the fit
here also estimates two radial terms shared by both axes (x = fx·u·(1 + k1·r² + k2·r⁴) + cx, with u = X/Z,
r² = u² + v²) under a robust (soft-L1) loss, starting from the linear pinhole solution. Undistorted data
gives k1 = k2 = 0 and the linear answer; distorted data gives the calibration's pinhole part.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posebench.errors import PosebenchError

MIN_POINTS = 8
MAX_POINTS = 40_000  # points used by the nonlinear refinement (evenly spaced subset; deterministic)


class IntrinsicsFitError(PosebenchError):
    """The joints cannot determine intrinsics (too few points, points behind the camera, no spread)."""


@dataclass(frozen=True)
class IntrinsicsFit:
    """A fit's pinhole part, its radial terms and its residuals (pixels)."""

    fx: float
    fy: float
    cx: float
    cy: float
    k1: float
    k2: float
    rms_px: float  # root-mean-square reprojection error with the radial terms
    pinhole_rms_px: float  # the same for the linear pinhole-only solution
    points: int

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        return (self.fx, self.fy, self.cx, self.cy)


def _points(joints3d: np.ndarray, joints2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p3 = np.asarray(joints3d, dtype=np.float64)
    p2 = np.asarray(joints2d, dtype=np.float64)
    if p3.shape[-1] != 3 or p2.shape[-1] != 2 or p3.shape[:-1] != p2.shape[:-1]:
        raise IntrinsicsFitError(f"expected (N, J, 3) and (N, J, 2) joints, got {p3.shape} and {p2.shape}")
    p3 = p3.reshape(-1, 3)
    p2 = p2.reshape(-1, 2)
    ok = np.isfinite(p3).all(1) & np.isfinite(p2).all(1) & (p3[:, 2] > 1e-6)
    if ok.sum() < MIN_POINTS:
        raise IntrinsicsFitError(f"only {int(ok.sum())} usable joints (finite, in front of the camera); "
                                 f"need at least {MIN_POINTS}")
    return p3[ok], p2[ok]


def fit_pinhole(joints3d: np.ndarray, joints2d: np.ndarray) -> tuple[float, float, float, float]:
    """Linear least squares x·Z = fx·X + cx·Z, y·Z = fy·Y + cy·Z (the reference preprocessing's fit)."""
    p3, p2 = _points(joints3d, joints2d)
    return _linear(p3, p2)


def _linear(p3: np.ndarray, p2: np.ndarray) -> tuple[float, float, float, float]:
    z = p3[:, 2]
    out = []
    for axis in (0, 1):
        a = np.stack([p3[:, axis], z], axis=1)
        norms = np.abs(a).max(0)
        if (norms == 0).any() or np.linalg.matrix_rank(a / norms, tol=1e-9) < 2:
            raise IntrinsicsFitError("the 3D joints have no spread along an image axis: intrinsics are undetermined")
        (f, c), *_ = np.linalg.lstsq(a, p2[:, axis] * z, rcond=None)
        out.append((float(f), float(c)))
    (fx, cx), (fy, cy) = out
    return fx, fy, cx, cy


def _project(params: np.ndarray, uv: np.ndarray) -> np.ndarray:
    fx, fy, cx, cy, k1, k2 = params
    r2 = (uv * uv).sum(1)
    d = 1.0 + k1 * r2 + k2 * r2 * r2
    return np.stack([fx * uv[:, 0] * d + cx, fy * uv[:, 1] * d + cy], axis=1)


def _refine(params: np.ndarray, uv: np.ndarray, p2: np.ndarray, scale: float, iters: int = 30) -> np.ndarray:
    """Gauss-Newton with soft-L1 reweighting (IRLS) on pixel residuals; analytic 6-column Jacobian."""
    u, v = uv[:, 0], uv[:, 1]
    r2 = u * u + v * v
    r4 = r2 * r2
    zero, one = np.zeros_like(u), np.ones_like(u)
    params = params.copy()
    for _ in range(iters):
        fx, fy, cx, cy, k1, k2 = params
        d = 1.0 + k1 * r2 + k2 * r4
        e = np.concatenate([fx * u * d + cx - p2[:, 0], fy * v * d + cy - p2[:, 1]])
        jac = np.concatenate([
            np.stack([u * d, zero, one, zero, fx * u * r2, fx * u * r4], 1),
            np.stack([zero, v * d, zero, one, fy * v * r2, fy * v * r4], 1)])
        norm = np.sqrt(e[: len(u)] ** 2 + e[len(u):] ** 2)
        w = np.tile(1.0 / np.sqrt(np.sqrt(1.0 + (norm / scale) ** 2)), 2)  # sqrt of the soft-L1 IRLS weight
        a = jac * w[:, None]
        col = np.linalg.norm(a, axis=0)
        col[col == 0] = 1.0
        step, *_ = np.linalg.lstsq(a / col, -e * w, rcond=None)
        step /= col
        params += step
        if np.all(np.abs(step) <= 1e-10 * (np.abs(params) + 1e-3)):
            break
    return params


def fit_intrinsics_report(joints3d: np.ndarray, joints2d: np.ndarray, distortion: bool = True) -> IntrinsicsFit:
    """Fit (fx, fy, cx, cy) and, when ``distortion``, two shared radial terms; with residuals."""
    p3, p2 = _points(joints3d, joints2d)
    lin = np.array(_linear(p3, p2))
    uv = p3[:, :2] / p3[:, 2:3]
    lin_params = np.concatenate([lin, [0.0, 0.0]])
    pin_rms = float(np.sqrt(((_project(lin_params, uv) - p2) ** 2).sum(1).mean()))
    if not distortion:
        return IntrinsicsFit(*map(float, lin_params), rms_px=pin_rms, pinhole_rms_px=pin_rms, points=len(p2))
    if len(uv) > MAX_POINTS:
        take = np.linspace(0, len(uv) - 1, MAX_POINTS).round().astype(np.int64)
        uv_s, p2_s = uv[take], p2[take]
    else:
        uv_s, p2_s = uv, p2
    params = _refine(lin_params, uv_s, p2_s, scale=3.0 * max(pin_rms, 0.5))
    rms = float(np.sqrt(((_project(params, uv) - p2) ** 2).sum(1).mean()))
    if not np.isfinite(params).all() or rms > pin_rms:
        params, rms = lin_params, pin_rms  # the radial model did not help: keep the linear solution
    return IntrinsicsFit(*map(float, params), rms_px=rms, pinhole_rms_px=pin_rms, points=len(p2))


def fit_intrinsics(joints3d: np.ndarray, joints2d: np.ndarray, distortion: bool = True
                   ) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from (N, J, 3) camera-space joints and their (N, J, 2) pixel positions.

    Non-finite joints and joints at Z <= 0 are ignored; radial lens distortion is modelled (see module
    docstring) unless ``distortion`` is False, which gives the reference's plain linear fit.
    """
    return fit_intrinsics_report(joints3d, joints2d, distortion).intrinsics


def relative_deviation(fitted: tuple[float, float, float, float] | np.ndarray,
                       reference: tuple[float, float, float, float] | np.ndarray) -> np.ndarray:
    """|fitted - reference| / |reference| per parameter (fx, fy, cx, cy)."""
    f = np.asarray(fitted, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return np.abs(f - r) / np.abs(r)
