"""Intrinsics fit: exact on pinhole data, recovers the calibration under radial and Human3.6M distortion,
clear errors."""
from __future__ import annotations

import numpy as np
import pytest

from posebench.prepare.intrinsics import (IntrinsicsFitError, fit_intrinsics, fit_intrinsics_report, fit_pinhole,
                                          relative_deviation)

# Human3.6M camera 54138969 (metadata.xml w0): f, c, k1..k3.
CAM = (1145.0494, 1143.7811, 512.5415, 515.4515)
K = (-0.20710, 0.24778, -0.00308)


def _poses(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    root = np.stack([rng.uniform(-1000, 1000, n), rng.uniform(-200, 300, n), rng.uniform(3500, 6000, n)], 1)
    off = rng.normal(0, 200, (n, 17, 3)) * np.array([1.0, 2.5, 1.0])
    return root[:, None] + off


def _project(p3: np.ndarray, cam=CAM, k=(0.0, 0.0, 0.0)) -> np.ndarray:
    u, v = p3[..., 0] / p3[..., 2], p3[..., 1] / p3[..., 2]
    r2 = u * u + v * v
    d = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    return np.stack([cam[0] * u * d + cam[2], cam[1] * v * d + cam[3]], -1)


def test_pinhole_data_is_fitted_exactly_by_both_fits():
    p3 = _poses()
    p2 = _project(p3)
    np.testing.assert_allclose(fit_pinhole(p3, p2), CAM, rtol=1e-9)
    np.testing.assert_allclose(fit_intrinsics(p3, p2), CAM, rtol=1e-6)


def test_radial_distortion_biases_the_linear_fit_but_not_the_default():
    p3 = _poses()
    p2 = _project(p3, k=K)
    lin = relative_deviation(fit_pinhole(p3, p2), CAM)
    assert lin[:2].max() > 2e-3  # the plain fit absorbs distortion into the focal length
    rep = fit_intrinsics_report(p3, p2)
    assert relative_deviation(rep.intrinsics, CAM).max() < 1e-4
    assert rep.k1 == pytest.approx(K[0], abs=0.01)
    assert rep.rms_px < 0.05 < rep.pinhole_rms_px


def test_noise_and_outlying_frames_are_tolerated():
    rng = np.random.default_rng(1)
    p3 = _poses(600)
    p2 = _project(p3, k=K) + rng.normal(0, 0.5, (600, 17, 2))
    p2[:30] += 40.0  # a few frames with shifted 2D (as in Human3.6M's broken S9 takes)
    assert relative_deviation(fit_intrinsics(p3, p2), CAM).max() < 0.003


def test_invalid_points_are_ignored():
    p3 = _poses()
    p2 = _project(p3)
    p3[:50, :, 2] = -1.0
    p2[50:60] = np.nan
    np.testing.assert_allclose(fit_intrinsics(p3, p2), CAM, rtol=1e-6)


@pytest.mark.parametrize("case", ["shape", "few", "no_spread"])
def test_clear_errors(case):
    p3 = _poses(10)
    p2 = _project(p3)
    if case == "shape":
        args = (p3, p2[:, :5])
    elif case == "few":
        args = (p3[:, :0], p2[:, :0])
    else:
        p3 = np.broadcast_to(np.array([0.0, 100.0, 4000.0]), p3.shape).copy()
        args = (p3, _project(p3))
    with pytest.raises(IntrinsicsFitError):
        fit_intrinsics(*args)


# Human3.6M camera 55011271, full <w0> model: f, c, k1..k3, (pA, pB).
CAM2 = (1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557)
DIST2 = (-0.194213629607385, 0.240408539138292, 0.00681997559022603, -0.0027408943961907, -0.001619026613787)


def _project_h36m(p3: np.ndarray, cam=CAM2, dist=DIST2) -> np.ndarray:
    """Human3.6M's own model (3d-pose-baseline project_point_radial), written out independently."""
    (k1, k2, k3, pa, pb), (fx, fy, cx, cy) = dist, cam
    x, y = p3[..., 0] / p3[..., 2], p3[..., 1] / p3[..., 2]
    r2 = x * x + y * y
    tan = pa * y + pb * x
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    return np.stack([fx * (x * (radial + tan) + pb * r2) + cx, fy * (y * (radial + tan) + pa * r2) + cy], -1)


def _narrow(n: int = 80, seed: int = 3) -> np.ndarray:
    """One person walking off-centre at ~4.5 m: joints cover a narrow band of radii (as one real take does)."""
    rng = np.random.default_rng(seed)
    root = np.stack([np.linspace(1200, 1700, n), np.full(n, 150.0), np.linspace(4200, 4800, n)], 1)
    off = rng.normal(0, 150, (n, 17, 3)) * np.array([1.0, 3.0, 1.0])
    return root[:, None] + off


def test_full_h36m_model_recovers_the_calibration_where_the_radial_fit_cannot():
    p3 = _narrow()
    p2 = _project_h36m(p3)
    radial = fit_intrinsics_report(p3, p2)  # the default: two radial terms
    full = fit_intrinsics_report(p3, p2, model="h36m")
    assert relative_deviation(radial.intrinsics, CAM2).max() > 1e-3  # over the 0.1 % warning threshold
    assert relative_deviation(full.intrinsics, CAM2).max() < 1e-8  # far inside the 0.02 % contract
    np.testing.assert_allclose(full.distortion[3:], DIST2[3:], rtol=1e-4)  # the tangential pair, <w0> order
    assert full.model == "h36m" and full.rms_px < 1e-6


def test_full_h36m_model_tolerates_noise_and_outlying_frames():
    rng = np.random.default_rng(1)
    p3 = _poses(600)
    p2 = _project_h36m(p3) + rng.normal(0, 0.5, (600, 17, 2))
    p2[:30] += 40.0
    assert relative_deviation(fit_intrinsics(p3, p2, model="h36m"), CAM2).max() < 0.003


def test_unknown_lens_model_is_a_clear_error():
    p3 = _poses(20)
    with pytest.raises(IntrinsicsFitError, match="unknown lens model"):
        fit_intrinsics(p3, _project(p3), model="fisheye")
