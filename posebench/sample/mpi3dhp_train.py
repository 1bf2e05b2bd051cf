"""Look-alike MPI-INF-3DHP training tree: `S*/Seq*` with annot.mat, camera.calibration, videos and masks.

Writer side only (research/raw-formats.md §2, margipose-reference.md §4): a 14-camera rig, activity motions from
`mpi3dhp_poses`, frames from `render`, the release's quirks (surplus rows, a short video, swapped labels).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from posebench.io_utils import write_text_atomic
from posebench.sample.body import get_skeleton, random_body
from posebench.sample.geometry import look_at, project
from posebench.sample.matv5 import write_mat5
from posebench.sample.media import write_avi
from posebench.sample.mpi3dhp_calib import ZUP_TO_YUP, cam_points, skeletool_calibration_text
from posebench.sample.mpi3dhp_poses import SKELETON, activity_motion, rescale_about_root, univ_scales
from posebench.sample.render import body_masks, render_frames

NUM_CAMERAS = 14
VNECT_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)  # the default download (vnect_cameras.zip)
# Rig (Mehta thesis): 5 chest-high, 5 high looking ~45 deg down, 3 ceiling (top-down), 1 knee-high.
_CHEST, _HIGH, _KNEE, _CEILING = (0, 2, 4, 7, 8), (1, 5, 6, 9, 10), (3,), (11, 12, 13)
TRAIN_RESOLUTION = 2048
# (subject, sequence) -> (annotated frames, fps) of the real release (mpii_get_sequence_info.m).
SEQUENCE_INFO: dict[tuple[int, int], tuple[int, int]] = {
    (1, 1): (6416, 25), (1, 2): (12430, 50), (2, 1): (6502, 25), (2, 2): (6081, 25),
    (3, 1): (12488, 50), (3, 2): (12283, 50), (4, 1): (6171, 25), (4, 2): (6675, 25),
    (5, 1): (12820, 50), (5, 2): (12312, 50), (6, 1): (6188, 25), (6, 2): (6145, 25),
    (7, 1): (6239, 25), (7, 2): (6320, 25), (8, 1): (6468, 25), (8, 2): (6054, 25),
}
DEFAULT_TRAIN = ((3, 1), (4, 1))  # a training sequence (with S3/Seq1's surplus row) and a validation one
SURPLUS_ROWS = {(3, 1): 1}  # annot.mat has rows past the video's end
SHORT_VIDEO = {(6, 2, 2): 3911 / 6145}  # S6/Seq2 camera 2: the imageSequence video stops early
LR_SWAPPED = {(4, 2): (3759 / 6675, 5852 / 6675)}  # S4/Seq2 rows 3759-5852: left/right labels swapped


def _rig(rng: np.random.Generator, size: int) -> list[dict]:
    """14 training cameras around the capture volume: rotation/translation (y-up world, mm) and
    intrinsics at ``size`` px, rounded to what `camera.calibration` stores."""
    cams = []
    azimuths = np.linspace(0, 2 * np.pi, NUM_CAMERAS, endpoint=False) + rng.uniform(-0.15, 0.15, NUM_CAMERAS)
    azimuths = azimuths[rng.permutation(NUM_CAMERAS)]
    for c in range(NUM_CAMERAS):
        dist = rng.uniform(3700, 4400)
        if c in _CEILING:
            centre = np.array([rng.uniform(-600, 600), rng.uniform(-600, 600), rng.uniform(4300, 4700)])
            target = centre * np.array([0.3, 0.3, 0.0])
        else:
            lo_hi = (1150, 1450) if c in _CHEST else (350, 550) if c in _KNEE else (2900, 3400)
            height = rng.uniform(*lo_hi)
            centre = np.array([dist * np.cos(azimuths[c]), dist * np.sin(azimuths[c]), height])
            target = np.array([rng.uniform(-150, 150), rng.uniform(-150, 150), rng.uniform(850, 1050)])
        r_zup = look_at(centre, target)
        rot = r_zup @ ZUP_TO_YUP.T  # camera from the y-up world
        t = -rot @ (ZUP_TO_YUP @ centre)
        s = size / TRAIN_RESOLUTION
        fx = rng.uniform(1491, 1502)
        cam = {"fx": fx * s, "fy": fx * (1 + rng.normal(0, 4e-4)) * s, "cx": rng.uniform(984, 1042) * s,
               "cy": rng.uniform(977, 1053) * s, "R": rot, "t": t, "width": size, "height": size}
        cams.append({k: _round7(v) for k, v in cam.items()})
    return cams


def _round7(v):
    """Round as `camera.calibration` writes numbers (%.7g), so the written file is the ground truth."""
    if isinstance(v, int):
        return v
    arr = np.vectorize(lambda x: float(f"{x:.7g}") + 0.0)(np.asarray(v, dtype=np.float64))
    return arr if arr.ndim else float(arr)


def _mirror_index() -> tuple[int, ...]:
    """For each 28-joint label, the joint its left/right mirror image is (itself on the midline)."""
    names = get_skeleton(SKELETON).joints
    swap = lambda n: n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")  # noqa: E731
    return tuple(names.index(swap(n)) for n in names)


_CHAIR_COLOURS = np.array([[112, 84, 62], [88, 66, 50]], dtype=np.uint8)  # seat, backrest


def chair_boxes(joints28: np.ndarray) -> np.ndarray | None:
    """Corners (2, 8, 3) in z-up world mm of a chair (seat, backrest) under a seated sequence of 28-joint
    poses, facing where the thighs point; None when the pelvis is too low for a chair."""
    pelvis = joints28[:, 4].mean(0)
    knees = joints28[:, [19, 24]].mean((0, 1))
    fwd = np.array([knees[0] - pelvis[0], knees[1] - pelvis[1], 0.0])
    if pelvis[2] < 300 or np.linalg.norm(fwd) < 1:
        return None
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    seat = pelvis[2] - 90.0
    boxes = []
    for (y0, y1), (z0, z1) in (((-200.0, 260.0), (0.0, seat)), ((-260.0, -215.0), (seat, seat + 450.0))):
        corners = np.array([[x, y, z] for x in (-230.0, 230.0) for y in (y0, y1) for z in (z0, z1)])
        boxes.append(pelvis * [1, 1, 0] + corners[:, :1] * right + corners[:, 1:2] * fwd + corners[:, 2:] * [0, 0, 1])
    return np.stack(boxes)


def chair_pixels(boxes_cam: np.ndarray, intrinsics, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int8: index of the chair box covering each pixel (the backrest over the seat), -1 for none."""
    w, h = size
    out = np.full((h, w), -1, dtype=np.int8)
    for k, box in enumerate(boxes_cam):
        if (box[:, 2] < 100).any():
            continue
        uv = project(box, *intrinsics)
        x0, y0 = np.clip(np.floor(uv.min(0)).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(uv.max(0)).astype(int) + 1, 0, [w, h])
        if x1 <= x0 or y1 <= y0:
            continue
        try:
            eq = ConvexHull(uv).equations  # the projected box is the convex hull of its corners
        except QhullError:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        pix = np.stack([xs + 0.5, ys + 0.5, np.ones_like(xs, dtype=float)], -1)
        inside = (pix @ eq.T <= 0).all(-1)
        out[y0:y1, x0:x1][inside] = k
    return out


def write_train_sequence(root: Path, subject: int, seq: int, rng: np.random.Generator, size: int, n_frames: int,
                          cameras: tuple[int, ...], knee_neck: float | None, rigid_spine: bool, seed: int) -> dict:
    """Write one training sequence (annot.mat, camera.calibration, videos, masks); return its summary."""
    fps = SEQUENCE_INFO[(subject, seq)][1]
    rows = n_frames + SURPLUS_ROWS.get((subject, seq), 0)
    body = random_body(np.random.default_rng([seed, subject]), SKELETON)
    rig = _rig(np.random.default_rng([seed, subject, 14]), size)
    acts = tuple(int(a) for a in rng.choice(np.arange(1, 8), 2, replace=False))
    truth, activity = activity_motion(rng, body, acts, rows, fps)
    seated = activity[:n_frames] == 3  # "Sitting" segments get a chair
    chair = chair_boxes(truth[:n_frames][seated]) if seated.any() else None
    scale = univ_scales(truth, knee_neck, rigid_spine)
    world = truth.copy()
    swapped = None
    if (subject, seq) in LR_SWAPPED:  # the labels (not the frames) swap left and right in a row range
        lo, hi = (int(round(f * rows)) for f in LR_SWAPPED[(subject, seq)])
        world[lo:hi] = world[lo:hi][:, list(_mirror_index())]
        swapped = [lo, hi]
    univ_world = rescale_about_root(world, scale, 4)
    a2, a3, u3 = (np.empty((NUM_CAMERAS, 1), dtype=object) for _ in range(3))
    for c, cam in enumerate(rig):
        j3 = cam_points(world, cam["R"], cam["t"])
        a3[c, 0] = j3.reshape(rows, -1)
        u3[c, 0] = cam_points(univ_world, cam["R"], cam["t"]).reshape(rows, -1)
        a2[c, 0] = project(j3, cam["fx"], cam["fy"], cam["cx"], cam["cy"]).reshape(rows, -1)
    sdir = root / f"S{subject}" / f"Seq{seq}"
    write_mat5(sdir / "annot.mat", {
        "annot2": a2, "annot3": a3, "univ_annot3": u3,
        "cameras": np.arange(NUM_CAMERAS, dtype=np.float64)[None], "frames": np.arange(rows, dtype=np.float64)[:, None],
    })
    write_text_atomic(sdir / "camera.calibration", skeletool_calibration_text(rig))
    video_frames = {}
    for c in cameras:
        cam = rig[c]
        intr = (cam["fx"], cam["fy"], cam["cx"], cam["cy"])
        n_img = int(round(n_frames * SHORT_VIDEO.get((subject, seq, c), 1.0)))
        j3 = cam_points(truth, cam["R"], cam["t"])[:n_frames]
        frames = render_frames(j3[:n_img], SKELETON, intr, (size, size),
                               seed=seed * 1000 + subject * 100 + seq * 20 + c)
        upper, lower = body_masks(j3, SKELETON, intr, (size, size))
        person = upper | lower
        on_chair = np.zeros_like(person)
        if chair is not None:  # the chair stands behind the person: drawn where the body is not
            px = chair_pixels(cam_points(chair.reshape(-1, 3), cam["R"], cam["t"]).reshape(2, 8, 3), intr, (size, size))
            on_chair[seated] = (px >= 0) & ~person[seated]
            shown = on_chair[:n_img]
            frames[shown] = _CHAIR_COLOURS[np.broadcast_to(px, shown.shape)[shown]]
        write_avi(sdir / "imageSequence" / f"video_{c}.avi", frames, fps)
        fg = np.stack([~person, ~upper, ~lower], -1).astype(np.uint8) * 255
        write_avi(sdir / "FGmasks" / f"video_{c}.avi", fg, fps)
        chair_mask = np.zeros_like(fg)
        chair_mask[..., 0] = np.where(on_chair, 0, 255)  # the raw mask is dark where the chair is
        write_avi(sdir / "ChairMasks" / f"video_{c}.avi", chair_mask, fps)
        video_frames[str(c)] = n_img
    return {
        "subject": subject, "sequence": seq, "fps": fps, "rows": rows, "video_frames": video_frames,
        "mask_frames": n_frames, "size": [size, size], "activities": list(acts), "lr_swapped_rows": swapped,
        "chair_frames": int(seated.sum()) if chair is not None else 0,
        "univ_scale": float(scale.mean()), "univ_scale_per_frame": bool(rigid_spine),
        "cameras": {str(c): {"fx": cam["fx"], "fy": cam["fy"], "cx": cam["cx"], "cy": cam["cy"], "distortion": None,
                             "R": cam["R"].tolist(), "t": cam["t"].tolist()} for c, cam in enumerate(rig)},
    }
