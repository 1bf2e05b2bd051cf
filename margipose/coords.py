"""Coordinate spaces: camera space (mm) <-> the crop camera's normalised device coordinates (NDC).

A crop is a camera change, not only an image warp (research/margipose-reference.md section 5): the box
centre is panned onto the optical axis (a shear X += ox*Z, Y += oy*Z, which translates the image exactly),
then the scene turns about the optical axis, is mirrored (X -> -X), and is seen by a crop camera whose
focal length is scaled by size/side and whose principal point is the crop centre. Depth never changes.
NDC x, y span the crop edges in [-1, 1]; NDC z maps the root depth z_ref to 0 and [-1, 1] to the depths
[near, far] with far - near = the crop's physical width at z_ref, through the perspective mapping
z_n = (f+n)/(f-n) - 2fn/((f-n)Z) (z_ref is the harmonic mean of near and far).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posebench.errors import PosebenchError


class GeometryError(PosebenchError):
    """Crop or camera parameters that cannot describe a crop (e.g. zero-sized box, non-positive depth)."""


@dataclass(frozen=True)
class CropGeometry:
    """Per-row crop of an original camera: pan, rotation, flip, then the crop camera (arrays of N rows)."""

    intrinsics: np.ndarray       # (N,4) original fx, fy, cx, cy (px)
    pan: np.ndarray              # (N,2) ox, oy in normalised camera units
    rotation: np.ndarray         # (N,) radians about the optical axis
    flip: np.ndarray             # (N,) bool: mirror X
    crop_intrinsics: np.ndarray  # (N,4) crop camera fx', fy', cx', cy' (crop px)
    size: int                    # crop side in pixels (square)

    def __len__(self) -> int:
        return len(self.pan)


def square_box(box: np.ndarray, factor: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """(N,4) x0, y0, x1, y1 -> square crop centre (N,2) and side (N,) = factor x the larger extent."""
    box = np.asarray(box, dtype=np.float64)
    centre = 0.5 * (box[:, :2] + box[:, 2:])
    side = factor * np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    return centre, side


def joints_box(joints2d: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Bounding box (N,4) x0, y0, x1, y1 of the (masked) 2D joints."""
    j = np.asarray(joints2d, dtype=np.float64)
    if mask is None:
        return np.concatenate([j.min(axis=1), j.max(axis=1)], axis=1)
    m = np.asarray(mask, bool)[..., None]
    lo = np.where(m, j, np.inf).min(axis=1)
    hi = np.where(m, j, -np.inf).max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def make_crop(intrinsics: np.ndarray, centre: np.ndarray, side: np.ndarray, size: int,
              rotation: np.ndarray | None = None, flip: np.ndarray | None = None) -> CropGeometry:
    """The crop of ``size`` px around ``centre`` (original px) covering ``side`` px, optionally turned/mirrored."""
    k = np.asarray(intrinsics, dtype=np.float64).reshape(-1, 4)
    centre = np.asarray(centre, dtype=np.float64).reshape(-1, 2)
    side = np.asarray(side, dtype=np.float64).reshape(-1)
    n = len(k)
    if not (np.all(side > 0) and np.all(np.isfinite(side))):
        raise GeometryError(f"crop side must be positive and finite, got {side[~(side > 0)][:3]}")
    if not np.all(k[:, :2] > 0):
        raise GeometryError("focal lengths must be positive")
    pan = (k[:, 2:] - centre) / k[:, :2]
    zoom = size / side
    crop_k = np.stack([k[:, 0] * zoom, k[:, 1] * zoom, np.full(n, size / 2), np.full(n, size / 2)], axis=1)
    rot = np.zeros(n) if rotation is None else np.broadcast_to(np.asarray(rotation, np.float64), (n,)).copy()
    fl = np.zeros(n, bool) if flip is None else np.broadcast_to(np.asarray(flip, bool), (n,)).copy()
    return CropGeometry(k, pan, rot, fl, crop_k, int(size))


def _rotate(x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(theta), np.sin(theta)
    return c * x - s * y, s * x + c * y


def points_to_crop(points: np.ndarray, geom: CropGeometry) -> np.ndarray:
    """Camera-space points (N,J,3) -> the crop camera's space (pan, rotate, mirror; Z unchanged)."""
    p = np.asarray(points, dtype=np.float64)
    z = p[..., 2]
    x = p[..., 0] + geom.pan[:, None, 0] * z
    y = p[..., 1] + geom.pan[:, None, 1] * z
    x, y = _rotate(x, y, geom.rotation[:, None])
    x = np.where(geom.flip[:, None], -x, x)
    return np.stack([x, y, z], axis=-1)


def crop_to_points(points: np.ndarray, geom: CropGeometry) -> np.ndarray:
    """Inverse of :func:`points_to_crop`."""
    p = np.asarray(points, dtype=np.float64)
    z = p[..., 2]
    x = np.where(geom.flip[:, None], -p[..., 0], p[..., 0])
    x, y = _rotate(x, p[..., 1], -geom.rotation[:, None])
    return np.stack([x - geom.pan[:, None, 0] * z, y - geom.pan[:, None, 1] * z, z], axis=-1)


def image_affine(geom: CropGeometry) -> np.ndarray:
    """(N,3,3) homogeneous map from original pixels to crop pixels (K' F R Pan K^-1)."""
    n = len(geom)
    fx, fy, cx, cy = geom.intrinsics.T
    kinv = np.zeros((n, 3, 3))
    kinv[:, 0, 0], kinv[:, 0, 2] = 1 / fx, -cx / fx
    kinv[:, 1, 1], kinv[:, 1, 2] = 1 / fy, -cy / fy
    kinv[:, 2, 2] = 1
    pan = np.tile(np.eye(3), (n, 1, 1))
    pan[:, :2, 2] = geom.pan
    c, s = np.cos(geom.rotation), np.sin(geom.rotation)
    rot = np.tile(np.eye(3), (n, 1, 1))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s, s, c
    flip = np.tile(np.eye(3), (n, 1, 1))
    flip[:, 0, 0] = np.where(geom.flip, -1.0, 1.0)
    kc = np.zeros((n, 3, 3))
    kc[:, 0, 0], kc[:, 0, 2] = geom.crop_intrinsics[:, 0], geom.crop_intrinsics[:, 2]
    kc[:, 1, 1], kc[:, 1, 2] = geom.crop_intrinsics[:, 1], geom.crop_intrinsics[:, 3]
    kc[:, 2, 2] = 1
    return kc @ flip @ rot @ pan @ kinv


def pixels_to_crop(points2d: np.ndarray, geom: CropGeometry) -> np.ndarray:
    """Original-image pixels (N,J,2) -> crop pixels (N,J,2)."""
    a = image_affine(geom)
    p = np.asarray(points2d, dtype=np.float64)
    return np.einsum("nij,nkj->nki", a[:, :2, :2], p) + a[:, None, :2, 2]


def depth_range(z_ref: np.ndarray, physical_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Near and far depths with far - near = physical_size and z_ref their harmonic mean."""
    z_ref = np.asarray(z_ref, dtype=np.float64)
    s = np.asarray(physical_size, dtype=np.float64)
    near = 0.5 * ((z_ref - s) + np.sqrt(z_ref ** 2 + s ** 2))
    return near, near + s


def _physical_size(geom: CropGeometry, z_ref: np.ndarray) -> np.ndarray:
    fx, fy = geom.crop_intrinsics[:, 0], geom.crop_intrinsics[:, 1]
    return z_ref * np.maximum(geom.size / fx, geom.size / fy)


def _check_depth(z_ref: np.ndarray) -> np.ndarray:
    z_ref = np.asarray(z_ref, dtype=np.float64).reshape(-1)
    if not np.all(z_ref > 0):
        raise GeometryError(f"root depth must be positive (mm in front of the camera), got {z_ref[~(z_ref > 0)][:3]}")
    return z_ref


def crop_to_ndc(points: np.ndarray, geom: CropGeometry, z_ref: np.ndarray) -> np.ndarray:
    """Crop-camera points (N,J,3) mm -> NDC (N,J,3)."""
    z_ref = _check_depth(z_ref)
    p = np.asarray(points, dtype=np.float64)
    fx, fy, cx, cy = (geom.crop_intrinsics[:, i, None] for i in range(4))
    z = p[..., 2]
    x = 2 * (fx * p[..., 0] / z + cx) / geom.size - 1
    y = 2 * (fy * p[..., 1] / z + cy) / geom.size - 1
    near, far = depth_range(z_ref, _physical_size(geom, z_ref))
    n, f = near[:, None], far[:, None]
    zn = (f + n) / (f - n) - 2 * f * n / ((f - n) * z)
    return np.stack([x, y, zn], axis=-1)


def ndc_to_crop(ndc: np.ndarray, geom: CropGeometry, z_ref: np.ndarray) -> np.ndarray:
    """NDC (N,J,3) -> crop-camera points (N,J,3) mm, denormalised at root depth z_ref."""
    z_ref = _check_depth(z_ref)
    q = np.asarray(ndc, dtype=np.float64)
    fx, fy, cx, cy = (geom.crop_intrinsics[:, i, None] for i in range(4))
    near, far = depth_range(z_ref, _physical_size(geom, z_ref))
    n, f = near[:, None], far[:, None]
    z = 2 * f * n / ((f + n) - q[..., 2] * (f - n))
    x = ((q[..., 0] + 1) * geom.size / 2 - cx) * z / fx
    y = ((q[..., 1] + 1) * geom.size / 2 - cy) * z / fy
    return np.stack([x, y, z], axis=-1)


def camera_to_ndc(points: np.ndarray, geom: CropGeometry, z_ref: np.ndarray) -> np.ndarray:
    """Original camera space (N,J,3) mm -> NDC of the crop (joint order unchanged: permute on flip yourself)."""
    return crop_to_ndc(points_to_crop(points, geom), geom, z_ref)


def ndc_to_camera(ndc: np.ndarray, geom: CropGeometry, z_ref: np.ndarray) -> np.ndarray:
    """NDC of the crop (N,J,3) -> original camera space mm, denormalised at root depth z_ref."""
    return crop_to_points(ndc_to_crop(ndc, geom, z_ref), geom)


# --- augmentation geometry (research/margipose-reference.md section 7) ----------------------------

@dataclass(frozen=True)
class Augmentation:
    """Random crop changes for one batch of rows: box jitter (px), zoom, rotation (rad), flip."""

    jitter: np.ndarray    # (N,2) original px added to the box centre
    zoom: np.ndarray      # (N,) the box side is divided by this
    rotation: np.ndarray  # (N,)
    flip: np.ndarray      # (N,) bool


def sample_augmentation(rng: np.random.Generator, n: int, kind: str = "3d") -> Augmentation:
    """Draw the reference augmentation: 3D data (jitter +-16 px, zoom U(0.9,1.1), rotation p 0.4 N(0,30deg)
    clipped +-30deg) or MPII 2D data (zoom 2^clip(N(0,0.25),+-0.5), rotation clipped +-60deg, no jitter);
    flip with p 0.5 for both."""
    flip = rng.random(n) < 0.5
    rot_on = rng.random(n) < 0.4
    if kind == "3d":
        jitter = rng.uniform(-16, 16, (n, 2))
        zoom = rng.uniform(0.9, 1.1, n)
        rot = np.clip(rng.normal(0, 30, n), -30, 30)
    elif kind == "2d":
        jitter = np.zeros((n, 2))
        zoom = 2.0 ** np.clip(rng.normal(0, 0.25, n), -0.5, 0.5)
        rot = np.clip(rng.normal(0, 30, n), -60, 60)
    else:
        raise ValueError(f"augmentation kind must be '3d' or '2d', got {kind!r}")
    return Augmentation(jitter, zoom, np.deg2rad(np.where(rot_on, rot, 0.0)), flip)


def no_augmentation(n: int) -> Augmentation:
    """The identity augmentation for n rows."""
    return Augmentation(np.zeros((n, 2)), np.ones(n), np.zeros(n), np.zeros(n, bool))
