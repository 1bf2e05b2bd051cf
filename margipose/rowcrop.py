"""One row's crop in Python floats: its augmentation draw, the original->crop pixel map and the NDC target of
its joints, as margipose.coords computes them for N rows (sample_augmentation, make_crop, image_affine,
camera_to_ndc), without the per-call cost of coords' small-array NumPy (the training Dataset's hot path:
about 0.2 ms an item in the decode loop).

Same formulas, same order of the map's product (K' F R Pan K^-1, left to right); results agree with coords to
float64 rounding (tests/margipose/test_mp_rowcrop.py), and the same inputs are refused (GeometryError).
"""
from __future__ import annotations

import math

import numpy as np

from margipose.coords import GeometryError


def augmentation_row(rng: np.random.Generator, kind: str = "3d") -> tuple[float, float, float, float, bool]:
    """(jitter x, jitter y, zoom, rotation, flip) of one row: ``coords.sample_augmentation(rng, 1, kind)``'s
    draw, from the same generator calls in the same order, so the same numbers bit for bit."""
    if kind == "3d":
        flip, rot_on, jx, jy, u = rng.random(5).tolist()  # uniform(a, b) = a + (b - a) * random(), as NumPy's
        zoom = 0.9 + (1.1 - 0.9) * u
        jitter, limit = (-16.0 + 32.0 * jx, -16.0 + 32.0 * jy), 30.0
    elif kind == "2d":
        flip, rot_on = rng.random(2).tolist()
        zoom = float((2.0 ** np.clip(rng.normal(0.0, 0.25, 1), -0.5, 0.5))[0])  # NumPy's power, not libm's
        jitter, limit = (0.0, 0.0), 60.0
    else:
        raise ValueError(f"augmentation kind must be '3d' or '2d', got {kind!r}")
    rot = min(max(float(rng.normal(0.0, 30.0)), -limit), limit)
    return jitter[0], jitter[1], zoom, math.radians(rot if rot_on < 0.4 else 0.0), flip < 0.5


def _map(intrinsics: np.ndarray, centre: tuple[float, float], side: float, size: int, rotation: float,
         flip: bool) -> tuple[np.ndarray, tuple[float, ...]]:
    """The (3,3) map and the crop parameters (pan x, y, crop focal x, y, cos, sin) make_crop would give."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    side = float(side)
    if not (side > 0 and math.isfinite(side)):
        raise GeometryError(f"crop side must be positive and finite, got {side}")
    if not (fx > 0 and fy > 0):
        raise GeometryError("focal lengths must be positive")
    px, py = (cx - centre[0]) / fx, (cy - centre[1]) / fy
    zoom = size / side
    kx, ky, half = fx * zoom, fy * zoom, size / 2
    c, s = math.cos(rotation), math.sin(rotation)
    f = -1.0 if flip else 1.0
    # ((((K' F) R) Pan) K^-1), the product coords.image_affine forms
    b00, b01, b10, b11 = kx * f * c, -(kx * f) * s, ky * s, ky * c
    b02 = b00 * px + b01 * py + half
    b12 = b10 * px + b11 * py + half
    ix, iy, tx, ty = 1 / fx, 1 / fy, -cx / fx, -cy / fy
    affine = np.array([[b00 * ix, b01 * iy, b00 * tx + b01 * ty + b02],
                       [b10 * ix, b11 * iy, b10 * tx + b11 * ty + b12], [0.0, 0.0, 1.0]])
    return affine, (px, py, kx, ky, c, s)


def crop_affine(intrinsics: np.ndarray, centre: tuple[float, float], side: float, size: int, rotation: float,
                flip: bool) -> np.ndarray:
    """(3,3) original->crop pixel map of the crop of ``size`` px around ``centre`` covering ``side`` original
    px, turned by ``rotation`` rad and mirrored if ``flip`` (coords.image_affine of coords.make_crop)."""
    return _map(intrinsics, centre, side, size, rotation, flip)[0]


def crop_row(intrinsics: np.ndarray, centre: tuple[float, float], side: float, size: int, rotation: float,
             flip: bool, joints: np.ndarray, root: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crop_affine` and the (J,3) NDC of camera-space ``joints`` (mm) in that crop (joint order
    unchanged: permute on flip yourself); depth is normalised at joint ``root``'s depth."""
    affine, (px, py, kx, ky, c, s) = _map(intrinsics, centre, side, size, rotation, flip)
    half = size / 2
    p = np.asarray(joints, np.float64)
    z = p[:, 2]
    z_ref = float(z[root])
    if not z_ref > 0:
        raise GeometryError(f"root depth must be positive (mm in front of the camera), got {z_ref}")
    x, y = p[:, 0] + px * z, p[:, 1] + py * z
    x, y = c * x - s * y, s * x + c * y
    out = np.empty_like(p)
    out[:, 0] = 2 * (kx * (-x if flip else x) / z + half) / size - 1
    out[:, 1] = 2 * (ky * y / z + half) / size - 1
    width = z_ref * max(size / kx, size / ky)
    near = 0.5 * ((z_ref - width) + math.sqrt(z_ref ** 2 + width ** 2))
    far = near + width
    out[:, 2] = (far + near) / (far - near) - 2 * far * near / ((far - near) * z)
    return affine, out
