"""Look-alike camera geometry: rotations, world -> camera, pinhole projection with distortion, look-at.

Camera space: x right, y down, z forward (optical axis); mm. Writer side only: the readers in
`posebench.prepare` never import this, so a convention mistake cannot hide in both.
"""
from __future__ import annotations

import numpy as np


def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N,3,3) right-handed rotations about x (0), y (1) or z (2)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rotation_xyz(angles: np.ndarray) -> np.ndarray:
    """(…,3) Euler angles (rad) -> (…,3,3) R = Rx(a0)·Ry(a1)·Rz(a2), the Human3.6M <w0> convention
    (world -> camera: X_cam = R (X_world - T))."""
    a = np.asarray(angles, dtype=np.float64)
    return axis_rotation(0, a[..., 0]) @ axis_rotation(1, a[..., 1]) @ axis_rotation(2, a[..., 2])


def world_to_camera(points: np.ndarray, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """X_cam = R (X_world - C) for (..., 3) points; R (3,3) world -> camera, C the camera centre (mm)."""
    return (np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64)) @ np.asarray(rotation).T


def project(points_cam: np.ndarray, fx: float, fy: float, cx: float, cy: float,
            dist: np.ndarray | None = None) -> np.ndarray:
    """Pinhole projection of camera-space points (..., 3) -> pixels (..., 2), with optional distortion.

    ``dist`` = (k1, k2, k3, p1, p2) in the Brown–Conrady form OpenCV uses: with x, y = X/Z, Y/Z and
    r² = x² + y², x' = x(1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2x²), and
    y' = y(…) + p1 (r² + 2y²) + 2 p2 x y; u = fx x' + cx, v = fy y' + cy. Note the order: radial terms
    first, as Human3.6M's <w0> lists them; its two tangential values (pA, pB) are used as (p1, p2).
    """
    p = np.asarray(points_cam, dtype=np.float64)
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    if dist is not None:
        k1, k2, k3, p1, p2 = (float(v) for v in np.asarray(dist, dtype=np.float64).ravel()[:5])
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        x, y = (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)
    return np.stack([fx * x + cx, fy * y + cy], axis=-1)


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World->camera rotation (z-up world) of a camera at ``centre`` looking at ``target``, image x
    horizontal (a top-down camera keeps world +y as image up)."""
    fwd = np.asarray(target, float) - np.asarray(centre, float)
    fwd /= np.linalg.norm(fwd)
    ref = np.array([0.0, 0.0, 1.0]) if abs(fwd[2]) < 0.95 else np.array([0.0, 1.0, 0.0])
    right = np.cross(fwd, ref)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    return np.stack([right, down, fwd])
