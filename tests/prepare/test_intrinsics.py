"""Intrinsics fit: exact on pinhole data, recovers the calibration under radial distortion, clear errors."""
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


def test_full_h36m_distortion_stays_within_the_one_percent_check():
    """Radial k1..k3 and the tangential pair of metadata.xml: no spurious calibration warning on real data."""
    p3 = _poses(800, seed=2)
    u, v = p3[..., 0] / p3[..., 2], p3[..., 1] / p3[..., 2]
    r2 = u * u + v * v
    radial = 1 + K[0] * r2 + K[1] * r2**2 + K[2] * r2**3
    pa, pb = -0.00142447157470321, -0.000975698859470499
    x = u * radial + 2 * pa * u * v + pb * (r2 + 2 * u * u)
    y = v * radial + pa * (r2 + 2 * v * v) + 2 * pb * u * v
    p2 = np.stack([CAM[0] * x + CAM[2], CAM[1] * y + CAM[3]], -1)
    assert relative_deviation(fit_intrinsics(p3, p2), CAM).max() < 0.005
