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


DISTORTION_MODELS: tuple[str, ...] = ("opencv", "h36m")


def project(points_cam: np.ndarray, fx: float, fy: float, cx: float, cy: float,
            dist: np.ndarray | None = None, model: str = "opencv") -> np.ndarray:
    """Pinhole projection of camera-space points (..., 3) -> pixels (..., 2), with optional distortion.

    With x, y = X/Z, Y/Z, r² = x² + y², radial = 1 + k1 r² + k2 r⁴ + k3 r⁶ and u = fx x' + cx, v = fy y' + cy:

    * ``model="opencv"``: ``dist`` = (k1, k2, k3, p1, p2), Brown–Conrady as OpenCV has it (MPI-INF-3DHP's
      GoPro): x' = x·radial + 2 p1 x y + p2 (r² + 2x²), y' = y·radial + p1 (r² + 2y²) + 2 p2 x y.
    * ``model="h36m"``: ``dist`` = (k1, k2, k3, pA, pB) in Human3.6M <w0> order, with Human3.6M's own model
      (its toolkit; 3d-pose-baseline `project_point_radial`, VideoPose3D `project_to_2d`):
      x' = x (radial + pA y + pB x) + pB r², y' = y (radial + pA y + pB x) + pA r².
    """
    if model not in DISTORTION_MODELS:
        raise ValueError(f"unknown distortion model {model!r}; known: {', '.join(DISTORTION_MODELS)}")
    p = np.asarray(points_cam, dtype=np.float64)
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    if dist is not None:
        k1, k2, k3, t1, t2 = (float(v) for v in np.asarray(dist, dtype=np.float64).ravel()[:5])
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        if model == "h36m":
            scale = radial + t1 * y + t2 * x
            x, y = x * scale + t2 * r2, y * scale + t1 * r2
        else:
            x, y = (x * radial + 2 * t1 * x * y + t2 * (r2 + 2 * x * x),
                    y * radial + t1 * (r2 + 2 * y * y) + 2 * t2 * x * y)
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
