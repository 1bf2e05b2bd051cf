"""Look-alike camera geometry: projection with distortion (OpenCV and Human3.6M models), the Human3.6M
rotation convention."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from posebench.sample import geometry as G


@pytest.fixture(scope="module")
def metadata(testdata):
    return ET.parse(testdata / "h36m" / "metadata.xml").getroot()


def test_project_pinhole_and_distortion():
    pts = np.array([[100.0, -50.0, 2000.0], [0.0, 0.0, 1000.0]])
    uv = G.project(pts, 1000, 1100, 64, 60)
    np.testing.assert_allclose(uv, [[114.0, 32.5], [64.0, 60.0]])
    np.testing.assert_allclose(G.project(pts, 1000, 1100, 64, 60, np.zeros(5)), uv)
    x = np.array([[200.0, 0.0, 1000.0]])  # x = 0.2, r^2 = 0.04
    k = G.project(x, 1, 1, 0, 0, [-0.2, 0.1, 0.01, 0, 0])[0, 0]
    assert k == pytest.approx(0.2 * (1 - 0.2 * 0.04 + 0.1 * 0.04**2 + 0.01 * 0.04**3))
    tan = G.project(np.array([[100.0, 200.0, 1000.0]]), 1, 1, 0, 0, [0, 0, 0, 0.01, 0.02])[0]
    x, y, r2 = 0.1, 0.2, 0.05  # OpenCV: x' = x + 2 p1 x y + p2 (r2 + 2x^2), y' = y + p1 (r2 + 2y^2) + 2 p2 x y
    np.testing.assert_allclose(tan, [x + 2 * 0.01 * x * y + 0.02 * (r2 + 2 * x * x),
                                     y + 0.01 * (r2 + 2 * y * y) + 2 * 0.02 * x * y])


def test_rotation_convention_pinned_on_s1_54138969(metadata):
    w0 = np.array(metadata.find("w0").text.strip("[] \n").split(), dtype=float)
    angles, centre = w0[0:3], w0[3:6]  # camera 1, subject 1
    np.testing.assert_allclose(centre, [1841.107, 4955.285, 1563.445], atol=1e-3)
    # VideoPose3D's S1 camera-to-world quaternion (w, x, y, z) for 54138969 (research/eval-anchors.md §6).
    w, x, y, z = 0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088
    cam_to_world = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(G.rotation_xyz(angles), cam_to_world.T, atol=1e-6)
    # The camera looks down at the capture area: camera y (down) has a negative world z component.
    assert G.rotation_xyz(angles)[1, 2] < -0.9


# Human3.6M camera 55011271 (metadata.xml <w0>): fx fy cx cy k1 k2 k3 pA pB.
H36M_CAM = (1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557, -0.194213629607385,
            0.240408539138292, 0.00681997559022603, -0.0027408943961907, -0.001619026613787)


def _h36m_reference(p: np.ndarray, cam) -> np.ndarray:
    """Human3.6M's model written out per coordinate, independently of `geometry.project`."""
    fx, fy, cx, cy, k1, k2, k3, pa, pb = cam
    out = []
    for X, Y, Z in p:
        x, y = X / Z, Y / Z
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        tan = pa * y + pb * x
        out.append((fx * (x * (radial + tan) + pb * r2) + cx, fy * (y * (radial + tan) + pa * r2) + cy))
    return np.array(out)


def test_h36m_model_matches_the_official_formula_to_a_micropixel():
    rng = np.random.default_rng(0)
    z = rng.uniform(2500, 7000, 5000)
    pts = np.stack([rng.uniform(-0.45, 0.45, 5000) * z, rng.uniform(-0.45, 0.45, 5000) * z, z], 1)
    uv = G.project(pts, *H36M_CAM[:4], H36M_CAM[4:], model="h36m")
    assert np.abs(uv - _h36m_reference(pts, H36M_CAM)).max() < 1e-6
    # OpenCV's reading of the same (pA, pB) as (p1, p2) is a different model: a third of a pixel apart at the
    # official 1000 px resolution across the frame.
    opencv = G.project(pts, *H36M_CAM[:4], H36M_CAM[4:])
    assert 0.2 < np.abs(opencv - uv).max() < 1.0
    with pytest.raises(ValueError, match="unknown distortion model"):
        G.project(pts, *H36M_CAM[:4], H36M_CAM[4:], model="fisheye")
