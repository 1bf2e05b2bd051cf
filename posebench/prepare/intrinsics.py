"""Camera intrinsics fitted from paired 3D (camera space) and 2D (pixel) joints.

The reference preprocessing solves x·Z = fx·X + cx·Z (likewise y) by least squares. Real 2D annotations
carry lens distortion (Human3.6M: k1 ≈ -0.2), which biases a pure pinhole fit by about 1-2 %; so the fit
here also estimates the lens model under a robust (soft-L1) loss, starting from the linear pinhole solution.
With x = X/Z, y = Y/Z, r² = x² + y², radial = 1 + k1·r² + k2·r⁴ (+ k3·r⁶), u = fx·x' + cx, v = fy·y' + cy:

* ``radial``: x' = x·radial, y' = y·radial with k1, k2 (k3 = 0): the default;
* ``h36m``: Human3.6M's own full model (its toolkit; 3d-pose-baseline `project_point_radial`) with k1, k2,
  k3 and the tangential pair (pA, pB) of metadata.xml <w0>: x' = x·(radial + pA·y + pB·x) + pB·r²,
  y' = y·(radial + pA·y + pB·x) + pA·r². On data drawn with that model the pinhole part is recovered to
  float precision even where the joints cover a narrow radius (the radial-only fit is off by up to ~1 %);
* ``pinhole``: the linear solution alone.

Undistorted data gives zero distortion terms and the linear answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posebench.errors import PosebenchError

MIN_POINTS = 8
MAX_POINTS = 40_000  # points used by the nonlinear refinement (evenly spaced subset; deterministic)
MODELS: dict[str, tuple[int, ...]] = {  # model -> indices into (fx, fy, cx, cy, k1, k2, k3, pA, pB) it fits
    "pinhole": (0, 1, 2, 3), "radial": (0, 1, 2, 3, 4, 5), "h36m": (0, 1, 2, 3, 4, 5, 6, 7, 8)}


class IntrinsicsFitError(PosebenchError):
    """The joints cannot determine intrinsics (too few points, points behind the camera, no spread)."""


@dataclass(frozen=True)
class IntrinsicsFit:
    """A fit's pinhole part, its lens terms and its residuals (pixels)."""

    fx: float
    fy: float
    cx: float
    cy: float
    k1: float
    k2: float
    rms_px: float  # root-mean-square reprojection error with the lens model
    pinhole_rms_px: float  # the same for the linear pinhole-only solution
    points: int
    k3: float = 0.0
    pa: float = 0.0  # Human3.6M's tangential pair (model "h36m"), <w0> order
    pb: float = 0.0
    model: str = "radial"

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) in pixels."""
        return (self.fx, self.fy, self.cx, self.cy)

    @property
    def distortion(self) -> tuple[float, float, float, float, float]:
        """(k1, k2, k3, pA, pB) in Human3.6M <w0> order (zeros for terms the model leaves out)."""
        return (self.k1, self.k2, self.k3, self.pa, self.pb)


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
    """Pixels of normalised points ``uv`` (N, 2) under (fx, fy, cx, cy, k1, k2, k3, pA, pB)."""
    fx, fy, cx, cy, k1, k2, k3, pa, pb = params
    u, v = uv[:, 0], uv[:, 1]
    r2 = u * u + v * v
    s = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)) + pa * v + pb * u
    return np.stack([fx * (u * s + pb * r2) + cx, fy * (v * s + pa * r2) + cy], axis=1)


def _refine(params: np.ndarray, uv: np.ndarray, p2: np.ndarray, scale: float, free: tuple[int, ...],
            iters: int = 30, tol: float = 1e-10, px_tol: float = 0.0) -> np.ndarray:
    """Gauss-Newton with soft-L1 reweighting (IRLS) on pixel residuals; analytic Jacobian of the ``free``
    parameters of (fx, fy, cx, cy, k1, k2, k3, pA, pB), the others held. Stops when every step is below
    ``tol`` relative, or moves no point by more than ``px_tol`` pixels."""
    u, v = uv[:, 0], uv[:, 1]
    r2 = u * u + v * v
    r4 = r2 * r2
    r6 = r4 * r2
    zero, one = np.zeros_like(u), np.ones_like(u)
    params = params.copy()
    cols = list(free)
    for _ in range(iters):
        fx, fy, cx, cy, k1, k2, k3, pa, pb = params
        s = 1.0 + k1 * r2 + k2 * r4 + k3 * r6 + pa * v + pb * u
        xd, yd = u * s + pb * r2, v * s + pa * r2
        e = np.concatenate([fx * xd + cx - p2[:, 0], fy * yd + cy - p2[:, 1]])
        jac = np.concatenate([
            np.stack([xd, zero, one, zero, fx * u * r2, fx * u * r4, fx * u * r6, fx * u * v, fx * (u * u + r2)], 1),
            np.stack([zero, yd, zero, one, fy * v * r2, fy * v * r4, fy * v * r6, fy * (v * v + r2), fy * u * v], 1),
        ])[:, cols]
        norm = np.sqrt(e[: len(u)] ** 2 + e[len(u):] ** 2)
        w = np.tile(1.0 / np.sqrt(np.sqrt(1.0 + (norm / scale) ** 2)), 2)  # sqrt of the soft-L1 IRLS weight
        a = jac * w[:, None]
        col = np.linalg.norm(a, axis=0)
        col[col == 0] = 1.0
        step, *_ = np.linalg.lstsq(a / col, -e * w, rcond=None)
        step /= col
        params[cols] += step
        if np.all(np.abs(step) <= tol * (np.abs(params[cols]) + 1e-3)) or np.abs(jac @ step).max() < px_tol:
            break
    return params


def fit_intrinsics_report(joints3d: np.ndarray, joints2d: np.ndarray, distortion: bool = True,
                          model: str | None = None) -> IntrinsicsFit:
    """Fit (fx, fy, cx, cy) and the lens terms of ``model`` (pinhole | radial | h36m; default radial, or
    pinhole when ``distortion`` is False); with residuals."""
    model = model or ("radial" if distortion else "pinhole")
    if model not in MODELS:
        raise IntrinsicsFitError(f"unknown lens model {model!r}; known: {', '.join(MODELS)}")
    p3, p2 = _points(joints3d, joints2d)
    lin = np.array(_linear(p3, p2))
    uv = p3[:, :2] / p3[:, 2:3]
    lin_params = np.concatenate([lin, np.zeros(5)])
    pin_rms = float(np.sqrt(((_project(lin_params, uv) - p2) ** 2).sum(1).mean()))

    def result(params: np.ndarray, rms: float) -> IntrinsicsFit:
        fx, fy, cx, cy, k1, k2, k3, pa, pb = map(float, params)
        return IntrinsicsFit(fx, fy, cx, cy, k1, k2, rms_px=rms, pinhole_rms_px=pin_rms, points=len(p2),
                             k3=k3, pa=pa, pb=pb, model=model)

    if model == "pinhole":
        return result(lin_params, pin_rms)
    if len(uv) > MAX_POINTS:
        take = np.linspace(0, len(uv) - 1, MAX_POINTS).round().astype(np.int64)
        uv_s, p2_s = uv[take], p2[take]
    else:
        uv_s, p2_s = uv, p2
    full = model == "h36m"  # the full model converges to float precision on data drawn with it
    params = _refine(lin_params, uv_s, p2_s, scale=3.0 * max(pin_rms, 0.5), free=MODELS[model],
                     iters=60 if full else 30, tol=1e-13 if full else 1e-10, px_tol=1e-9 if full else 0.0)
    rms = float(np.sqrt(((_project(params, uv) - p2) ** 2).sum(1).mean()))
    if not np.isfinite(params).all() or rms > pin_rms:
        params, rms = lin_params, pin_rms  # the lens model did not help: keep the linear solution
    return result(params, rms)


def fit_intrinsics(joints3d: np.ndarray, joints2d: np.ndarray, distortion: bool = True,
                   model: str | None = None) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) from (N, J, 3) camera-space joints and their (N, J, 2) pixel positions.

    Non-finite joints and joints at Z <= 0 are ignored; lens distortion is modelled (``model``, see the module
    docstring) unless ``distortion`` is False, which gives the reference's plain linear fit.
    """
    return fit_intrinsics_report(joints3d, joints2d, distortion, model).intrinsics


def relative_deviation(fitted: tuple[float, float, float, float] | np.ndarray,
                       reference: tuple[float, float, float, float] | np.ndarray) -> np.ndarray:
    """|fitted - reference| / |reference| per parameter (fx, fy, cx, cy)."""
    f = np.asarray(fitted, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    return np.abs(f - r) / np.abs(r)
