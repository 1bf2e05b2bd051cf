"""Render look-alike video frames: a person as shaded capsules coloured by body part, over a background.

Each limb is a capsule between two joints whose image radius follows perspective (r·f/z), the torso a
few thick capsules and the head a capsule from head to head top; a z-buffer keeps the nearest surface,
so occlusion order is real. Shading is Lambertian with a light above-left of the camera. Backgrounds
are procedural (wall and floor, low-frequency texture, panels), drawn from ``seed``. Pixels are
computed with NumPy inside each frame's person box; nothing here reads or writes files.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from posebench.sample.body import PARTS, get_skeleton
from posebench.sample.geometry import project

# Body-part colours (RGB): left side warm (red, orange), right side cool (blue, purple).
PART_COLOURS: dict[str, tuple[int, int, int]] = {
    "head": (255, 215, 0),
    "torso": (40, 170, 70),
    "left_arm": (230, 30, 50),
    "right_arm": (20, 110, 230),
    "left_leg": (255, 130, 20),
    "right_leg": (140, 40, 200),
}

_LIGHT = np.array([-0.45, -0.65, -0.6]) / np.linalg.norm([-0.45, -0.65, -0.6])  # towards the light, camera frame
# Torso and head primitives by skeleton key names: (from, to, radius mm, part).
_TORSO = (
    ("pelvis", "neck", 115.0, "torso"), ("l_shoulder", "r_shoulder", 62.0, "torso"),
    ("l_hip", "r_hip", 85.0, "torso"), ("l_shoulder", "l_hip", 75.0, "torso"),
    ("r_shoulder", "r_hip", 75.0, "torso"), ("neck", "head", 48.0, "torso"),
    ("head", "head_top", 88.0, "head"),
)


@lru_cache(maxsize=None)
def primitives(skeleton_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Capsules of a skeleton: joint index pairs (C,2), radii mm (C,), part index (C,), RGB (C,3)."""
    skel = get_skeleton(skeleton_name)
    pairs, radii, parts = [], [], []
    for k0, k1, r, part in _TORSO:
        pairs.append((skel.key[k0], skel.key[k1]))
        radii.append(r)
        parts.append(PARTS.index(part))
    for parent, child in skel.bones:
        if skel.radius[child] > 0 and skel.parts[child] not in ("torso", "head"):
            pairs.append((parent, child))
            radii.append(skel.radius[child])
            parts.append(PARTS.index(skel.parts[child]))
    colours = np.array([PART_COLOURS[PARTS[p]] for p in parts], dtype=np.float64) / 255.0
    return np.array(pairs), np.array(radii), np.array(parts), colours


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A procedural, low-saturation backdrop (H, W, 3) float in 0..1: wall, floor, texture, panels."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    grey = lambda: rng.uniform(0.25, 0.8) * (0.85 + 0.3 * rng.uniform(0, 1, 3))  # noqa: E731
    wall, floor = grey(), grey()
    horizon = rng.uniform(0.35, 0.65) * height + (xx - width / 2) * rng.uniform(-0.15, 0.15)
    img = np.where((yy < horizon)[..., None], wall, floor * (0.8 + 0.2 * (yy / height))[..., None])
    coarse = rng.normal(0, 1, (7, 7, 3))  # low-frequency texture: a bilinearly upsampled grid
    gy, gx = yy / max(height - 1, 1) * 6, xx / max(width - 1, 1) * 6
    y0, x0 = np.minimum(gy.astype(int), 5), np.minimum(gx.astype(int), 5)
    fy, fx = (gy - y0)[..., None], (gx - x0)[..., None]
    tex = ((1 - fy) * (1 - fx) * coarse[y0, x0] + (1 - fy) * fx * coarse[y0, x0 + 1]
           + fy * (1 - fx) * coarse[y0 + 1, x0] + fy * fx * coarse[y0 + 1, x0 + 1])
    img = img + 0.05 * tex.mean(-1, keepdims=True) + 0.02 * tex
    for _ in range(rng.integers(2, 6)):  # panels, doors, furniture
        x0p, y0p = rng.uniform(0, width), rng.uniform(0, height * 0.7)
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.1, 0.5) * height
        inside = (xx >= x0p) & (xx < x0p + w) & (yy >= y0p) & (yy < y0p + h)
        img[inside] = 0.6 * img[inside] + 0.4 * grey()
    if rng.random() < 0.5:  # stripes (a floor grid or a curtain)
        period = rng.uniform(6, 20) * width / 128
        img += 0.04 * np.sign(np.sin(2 * np.pi * xx / period))[..., None] * (yy > horizon)[..., None]
    return np.clip(img, 0, 1)


def _draw(img: np.ndarray, uv: np.ndarray, z: np.ndarray, f: float, pairs: np.ndarray, radii: np.ndarray,
          colours: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Z-buffered shaded capsules into ``img`` (H,W,3) within box (x0,y0,x1,y1); vectorised over pixels."""
    x0, y0, x1, y1 = box
    px = np.tile(np.arange(x0, x1) + 0.5, y1 - y0)[None]  # (1, P) pixel centres
    py = np.repeat(np.arange(y0, y1) + 0.5, x1 - x0)[None]
    ax, ay = uv[pairs[:, 0], 0][:, None], uv[pairs[:, 0], 1][:, None]  # (C, 1)
    vx, vy = uv[pairs[:, 1], 0][:, None] - ax, uv[pairs[:, 1], 1][:, None] - ay
    za, zb = z[pairs[:, 0]][:, None], z[pairs[:, 1]][:, None]
    l2 = np.maximum(vx * vx + vy * vy, 1e-9)
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / l2, 0.0, 1.0)  # (C, P) closest point on the axis
    ox, oy = px - ax - t * vx, py - ay - t * vy
    d2 = ox * ox + oy * oy
    inv_z = (1 - t) / za + t / zb  # perspective-correct depth along the axis
    rad = radii[:, None] * f * inv_z
    inside = (d2 < rad * rad) & (za > 1) & (zb > 1)
    if not inside.any():
        return
    h = np.sqrt(np.clip(1 - d2 / np.maximum(rad * rad, 1e-9), 0, 1))
    depth = np.where(inside, 1 / inv_z - radii[:, None] * h, np.inf)
    best = depth.argmin(0)
    cols = np.arange(px.shape[1])
    hit = inside[best, cols]
    r_b = np.maximum(rad[best, cols], 1e-9)
    n = np.stack([ox[best, cols] / r_b, oy[best, cols] / r_b, -h[best, cols]], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    lam = np.clip(n @ _LIGHT, 0, 1)
    fog = np.clip(1.1 - 0.1 * depth[best, cols] / 4000.0, 0.7, 1.0)  # farther is a little darker
    rgb = colours[best] * ((0.4 + 0.6 * lam) * fog)[:, None] + 0.12 * (lam ** 8)[:, None]
    region = img[y0:y1, x0:x1].reshape(-1, 3)
    region[hit] = np.clip(rgb[hit], 0, 1)
    img[y0:y1, x0:x1] = region.reshape(y1 - y0, x1 - x0, 3)


def render_frames(joints_cam: np.ndarray, skeleton_name: str, intrinsics, size: tuple[int, int],
                  dist=None, seed: int = 0, model: str = "opencv") -> np.ndarray:
    """Render (N, J, 3) camera-space joints (mm) of ``skeleton_name`` -> uint8 frames (N, H, W, 3).

    ``intrinsics`` = (fx, fy, cx, cy) in pixels of the (W, H) ``size``; ``dist`` and
    ``model`` as in `geometry.project`. Joints land where `geometry.project` puts them. ``seed`` picks
    the background (one per call, as a static camera sees) and the per-frame sensor noise.
    """
    joints = np.asarray(joints_cam, dtype=np.float64)
    skel = get_skeleton(skeleton_name)
    if joints.ndim != 3 or joints.shape[1:] != (skel.num_joints, 3):
        raise ValueError(f"expected (N, {skel.num_joints}, 3) joints for {skel.name}, got {joints.shape}")
    width, height = int(size[0]), int(size[1])
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    rng = np.random.default_rng(seed)
    bg = background(rng, width, height)
    pairs, radii, _, colours = primitives(skel.name)
    with np.errstate(divide="ignore", invalid="ignore"):  # joints at or behind the camera are not drawn
        uv = project(joints, fx, fy, cx, cy, dist, model)
    f = 0.5 * (fx + fy)
    out = np.empty((len(joints), height, width, 3), dtype=np.uint8)
    grain = rng.normal(0, 0.008, (height + 8, width + 8, 3))  # sensor noise, a shifted window per frame
    shifts = rng.integers(0, 9, (len(joints), 2))
    margin = radii.max() * f / np.maximum(joints[..., 2].min(1), 1.0)
    for i in range(len(joints)):  # per frame; pixels are vectorised inside the person's box
        img = bg.copy()
        ok = np.isfinite(uv[i]).all(1) & (joints[i, :, 2] > 1)
        if ok.any():
            lo = np.floor(uv[i, ok].min(0) - margin[i] - 1).astype(int)
            hi = np.ceil(uv[i, ok].max(0) + margin[i] + 1).astype(int)
            box = (max(lo[0], 0), max(lo[1], 0), min(hi[0], width), min(hi[1], height))
            if box[2] > box[0] and box[3] > box[1]:
                _draw(img, uv[i], joints[i, :, 2], f, pairs, radii, colours, box)
        sy, sx = shifts[i]
        img += grain[sy:sy + height, sx:sx + width]
        out[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def part_of(rgb: np.ndarray, min_saturation: float = 0.4, max_distance: float = 0.3) -> np.ndarray:
    """Index into ``PARTS`` of the body-part colour each (..., 3) pixel shows, or -1 for background.

    Shading scales brightness, so colours compare by chromaticity; unsaturated pixels and colours far from every
    part colour are background. Tests use it to check that the person is drawn where the 2D joints are.
    """
    px = np.asarray(rgb, dtype=np.float64)
    chroma = px / np.maximum(px.sum(-1, keepdims=True), 1)
    sat = (px.max(-1) - px.min(-1)) / np.maximum(px.max(-1), 1)
    cols = np.array([PART_COLOURS[p] for p in PARTS], dtype=np.float64)
    cols /= cols.sum(-1, keepdims=True)
    d = np.abs(chroma[..., None, :] - cols).sum(-1)
    return np.where((sat > min_saturation) & (d.min(-1) < max_distance), d.argmin(-1), -1)


def body_masks(joints_cam: np.ndarray, skeleton_name: str, intrinsics,
               size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-body and lower-body silhouettes (N, H, W) bool of camera-space poses of ``skeleton_name``, from the
    renderer's capsules (no occlusion: each mask is where that half of the body covers a pixel)."""
    pairs, radii, parts, _ = primitives(skeleton_name)
    lower = np.isin(np.array(PARTS)[parts], ("left_leg", "right_leg"))
    fx, fy, cx, cy = intrinsics
    uv = project(joints_cam, fx, fy, cx, cy)
    z = joints_cam[..., 2]
    w, h = size
    f = 0.5 * (fx + fy)
    margin = radii.max() * f / np.maximum(z.min(1), 1.0) + 1
    lo = np.clip(np.floor(uv.min(1) - margin[:, None]), 0, [w, h]).astype(int)
    hi = np.clip(np.ceil(uv.max(1) + margin[:, None]), 0, [w, h]).astype(int)
    out = np.zeros((2, len(joints_cam), h, w), dtype=bool)
    for i in range(len(joints_cam)):  # per frame, vectorised over capsules x pixels of the person's box
        (x0, y0), (x1, y1) = lo[i], hi[i]
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        p = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)[None]
        a, b = uv[i, pairs[:, 0]][:, None], uv[i, pairs[:, 1]][:, None]
        v = b - a
        t = np.clip(((p - a) * v).sum(-1) / np.maximum((v * v).sum(-1), 1e-9), 0, 1)
        off = p - (a + t[..., None] * v)
        zt = (1 - t) * z[i, pairs[:, 0]][:, None] + t * z[i, pairs[:, 1]][:, None]
        rad = radii[:, None] * f / np.maximum(zt, 1.0)
        inside = (off * off).sum(-1) < rad * rad
        out[0, i, y0:y1, x0:x1] = inside[~lower].any(0).reshape(y1 - y0, x1 - x0)
        out[1, i, y0:y1, x0:x1] = inside[lower].any(0).reshape(y1 - y0, x1 - x0)
    return out[0], out[1]

