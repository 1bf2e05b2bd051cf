"""Look-alike MPI-INF-3DHP release: the training tree (`S*/Seq*`) and the test set (`mpi_inf_3dhp_test_set`).

Writer side only (research/raw-formats.md §2-3, eval-anchors.md §1, margipose-reference.md §4): poses from
`posebench.sample.poses`, frames from `posebench.sample.render`, files laid out and encoded as the official
release has them. Nothing here is shared with `posebench.prepare`, so a format mistake cannot hide in both.
World coordinates of the calibration files are y-up (as the real rigs'); the pose prior's are z-up.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image
from scipy.spatial import ConvexHull, QhullError

from posebench.io_utils import atomic_path, write_json_atomic, write_text_atomic
from posebench.sample import poses
from posebench.sample.matv5 import write_mat5
from posebench.sample.matv73 import write_mat73
from posebench.sample.render import primitives, render_frames

SKELETON = "mpi28"
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

# Test set: 'relevant' 17 of the 28 joints (0-based), the official test order.
RELEVANT = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)
TEST_ROWS_REAL = {1: 6151, 2: 6080, 3: 5838, 4: 6007, 5: 320, 6: 492}
TEST_VALID_REAL = {1: 603, 2: 540, 3: 505, 4: 553, 5: 276, 6: 452}
EXTRA_IMAGES = {3: 1, 4: 2}  # images past the last label row
SCENES = {1: "green_screen", 2: "green_screen", 3: "studio", 4: "studio", 5: "outdoor", 6: "outdoor"}
ACTIVITIES = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
              5: "On The Floor", 6: "Sports", 7: "Miscellaneous"}
_ACTIVITY_MOTIONS = {1: ("walking", "standing"), 2: ("exercising",), 3: ("sitting",),
                     4: ("reaching", "crouching"), 5: ("lying",), 6: ("sports",), 7: ("misc",)}
# Two activity segments per test sequence; together they cover all seven.
_TEST_ACTIVITIES = {1: (1, 2), 2: (3, 4), 3: (5, 6), 4: (7, 1), 5: (6, 4), 6: (2, 3)}
# Label releases: the original had systematic errors in TS3/TS4 (paper §6.4); the corrected one adds
# valid frames there, and its TS6 univ_annot3 knees/ankles disagree with annot3 (MargiPose preprocess).
# Joint changes avoid l_hip, l_knee, pelvis, spine and neck, so that --knee-neck 920 --rigid-spine keeps
# the 920 mm rule an identity on univ_annot3 in both releases.
_ORIGINAL_ERRORS = {3: {8: (0.0, 38.0, 6.0), 5: (10.0, -25.0, 0.0)}, 4: {0: (12.0, -40.0, 0.0), 16: (0.0, -22.0, 0.0)}}
_CORRECTED_EXTRA_VALID = {3: 3, 4: 3}
_CORRECTED_UNIV_OFFSETS = {6: {9: (0.0, 24.0, 0.0), 10: (0.0, 31.0, 0.0), 13: (0.0, 31.0, 0.0)}}
LABEL_RELEASES = ("original", "corrected")


@dataclass(frozen=True)
class TcCamera:
    """One camera of a "tc camera calibration v0.3" file: mm-based intrinsics, OpenCV distortion
    (k1, k2, p1, p2, k3), and its pose as origin/up/right in world mm."""

    name: str
    sensor: tuple[float, float]
    focal: float
    aspect: float  # pixel aspect, y / x
    offset: tuple[float, float]  # principal-point offset from the image centre, mm (right, down)
    distortion: tuple[float, float, float, float, float]
    resolution: tuple[int, int]  # the official image size (W, H)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    right: tuple[float, float, float] = (1.0, 0.0, 0.0)

    def intrinsics(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) in pixels of a (width, height) image of this camera."""
        fx = self.focal / self.sensor[0] * width
        cx = width / 2 + self.offset[0] / self.sensor[0] * width
        cy = height / 2 + self.offset[1] / self.sensor[1] * height
        return fx, fx * self.aspect, cx, cy


# Official test-set calibrations (test_util/camera_calibration/*.calib; values in mm, size independent).
TS1_4_CAMERA = TcCamera("cam_8", (10.0, 10.0), 7.32506, 1.00044, (-0.0322884, 0.0929296), (0.0,) * 5, (2048, 2048),
                        (3427.28, 1387.86, 309.42), (-0.208215, 0.976233, 0.06014), (0.000575281, 0.0616098, -0.9981))
TS5_6_CAMERA = TcCamera("GOPR0046_intrinsics.MP4", (10.0, 5.625), 8.770747185, 0.993236423, (-0.104908645, 0.104899704),
                        (-0.276859611, 0.131125256, -0.000360494, -0.001149441, -0.049318332), (1920, 1080),
                        (-2104.3074, 1038.6707, -4596.6367), (0.025272345, 0.995038509, 0.096227370),
                        (-0.939647257, -0.009210289, 0.342020929))
CALIB_DIR = "test_util/camera_calibration"
CALIB_FILES = {"ts1-4cameras.calib": (1, 2, 3, 4), "ts5-6cameras.calib": (5, 6)}


# --- Calibration text -------------------------------------------------------------------------
_OFFSET_NOTE = "# in mm (positive values move right and down)"


def _g(v: float) -> str:
    return f"{v:g}"


def tc_calibration_text(cam: TcCamera, gopro: bool) -> str:
    """A "tc camera calibration v0.3" file for one camera, in the studio (TS1-4) or GoPro (TS5-6) flavour
    of the official files (tab-separated; the GoPro file has colour tables and fixed-width numbers)."""
    lines = ["tc camera calibration v0.3", f"camera\t0\t{cam.name}"]
    if not gopro:
        lines += [
            "\tframe\t0",
            f"\t\tsensorSize\t{_g(cam.sensor[0])}\t{_g(cam.sensor[1])}\t# in mm",
            f"\t\tfocalLength\t{_g(cam.focal)}\t# in mm",
            f"\t\tpixelAspect\t{_g(cam.aspect)}",
            f"\t\tcenterOffset\t{_g(cam.offset[0])}\t{_g(cam.offset[1])}\t{_OFFSET_NOTE}",
            "\t\tdistortionModel\tOpenCV",
            "\t\tdistortion\t\t" + " ".join(f"{v:.1f}" if v == int(v) else _g(v) for v in cam.distortion),
            "\t\t\torigin\t" + "\t".join(_g(v) for v in cam.origin),
            "\t\t\tup\t" + "\t".join(_g(v) for v in cam.up),
            "\t\t\tright\t" + "\t".join(_g(v) for v in cam.right),
        ]
        return "\n".join(lines) + "\n"
    ramp = " ".join(str(i) for i in range(256))
    w = lambda v: f"{v:13.9f}"  # noqa: E731
    lines += [
        "\tcolorCorrection", f"\t\tred   {ramp}", f"\t\tgreen {ramp}", f"\t\tblue  {ramp}",
        "\tframe\t0",
        f"\t\tsensorSize\t\t{w(cam.sensor[0])}\t{w(cam.sensor[1])}\t# in mm",
        f"\t\tfocalLength\t\t{w(cam.focal)}\t\t\t\t\t# in mm",
        f"\t\tpixelAspect\t\t{w(cam.aspect)}\t\t\t\t\t# y / x",
        f"\t\tcenterOffset\t{w(cam.offset[0])}\t{w(cam.offset[1])}\t{_OFFSET_NOTE}",
        "\t\tdistortionModel\tOpenCV",
        "\t\tdistortion\t\t" + "".join(w(v) + "\t" for v in cam.distortion),
        "\t\t\torigin\t\t" + "\t".join(f"{v:13.4f}" for v in cam.origin),
        "\t\t\tup\t\t\t" + "\t".join(w(v) for v in cam.up),
        "\t\t\tright\t\t" + "\t".join(w(v) for v in cam.right),
    ]
    return "\n".join(lines) + "\n\n"


def skeletool_calibration_text(cams: list[dict]) -> str:
    """A training `camera.calibration` (Skeletool V1.0): 7 lines per camera, 4x4 row-major intrinsic and
    world->camera extrinsic (mm), single spaces, matrix lines ending with a space."""
    num = lambda v: f"{v:.7g}"  # noqa: E731
    out = ["Skeletool Camera Calibration File V1.0"]
    for i, cam in enumerate(cams):
        k = np.eye(4)
        k[0, 0], k[1, 1], k[0, 2], k[1, 2] = cam["fx"], cam["fy"], cam["cx"], cam["cy"]
        e = np.eye(4)
        e[:3, :3], e[:3, 3] = cam["R"], cam["t"]
        out += [f"{'name':<14}{i}", f"{'  sensor':<14}10 10", f"{'  size':<14}{cam['width']} {cam['height']}",
                f"{'  animated':<14}0", f"{'  intrinsic':<14}" + "".join(num(v) + " " for v in k.ravel()),
                f"{'  extrinsic':<14}" + "".join(num(v) + " " for v in e.ravel()), f"{'  radial':<14}0"]
    return "\n".join(out) + "\n"


# --- Geometry -----------------------------------------------------------------------------------
_ZUP_TO_YUP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) z-up -> (x, z, -y) y-up


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
        rot = r_zup @ _ZUP_TO_YUP.T  # camera from the y-up world
        t = -rot @ (_ZUP_TO_YUP @ centre)
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
    names = poses.get_skeleton(SKELETON).joints
    swap = lambda n: n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")  # noqa: E731
    return tuple(names.index(swap(n)) for n in names)


def _cam_points(world_zup: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera-space mm of z-up world points for a y-up-world extrinsic (R, t)."""
    return (world_zup @ _ZUP_TO_YUP.T) @ np.asarray(rot).T + np.asarray(t)


def _partA_dist(opencv: tuple[float, ...]) -> np.ndarray | None:
    """OpenCV (k1, k2, p1, p2, k3) -> `poses.project` order (k1, k2, k3, p1, p2); None when all zero."""
    k1, k2, p1, p2, k3 = opencv
    return None if not any(opencv) else np.array([k1, k2, k3, p1, p2])


def univ_scales(joints28: np.ndarray, knee_neck: float | None, rigid_spine: bool) -> np.ndarray:
    """Per-frame universal scale factors (N,) of a 28-joint sequence, from `poses.universal`."""
    kn = poses.DEFAULT_KNEE_NECK if knee_neck is None else float(knee_neck)
    univ = poses.universal(joints28, SKELETON, knee_neck=kn, rigid_spine=rigid_spine)
    return poses.knee_neck_length(univ, SKELETON) / poses.knee_neck_length(joints28, SKELETON)


def _rescale_about_root(joints: np.ndarray, scale: np.ndarray, root: int) -> np.ndarray:
    r = joints[:, [root]]
    return r + scale[:, None, None] * (joints - r)


def _activity_motion(rng: np.random.Generator, body: poses.Body, segments: tuple[int, ...], n: int,
                     fps: float) -> tuple[np.ndarray, np.ndarray]:
    """World joints (n, 28, 3) as consecutive activity segments, and the (n,) activity id per frame."""
    bounds = np.linspace(0, n, len(segments) + 1).round().astype(int)
    parts, labels = [], []
    for act, a, b in zip(segments, bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        choices = _ACTIVITY_MOTIONS[act]
        seg = poses.motion(body, choices[int(rng.integers(len(choices)))], int(b - a), rng, fps)
        if parts:  # continue where the last segment ended (the pose changes, the place does not jump)
            seg[..., :2] += parts[-1][-1, 4, :2] - seg[0, 4, :2]
        parts.append(seg)
        labels.append(np.full(b - a, act))
    return np.concatenate(parts), np.concatenate(labels)


# --- Media --------------------------------------------------------------------------------------
def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """(N, H, W, 3) uint8 -> an AVI (MPEG-4 part 2) written with PyAV, atomically."""
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="avi") as container:
            stream = container.add_stream("mpeg4", rate=int(fps))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 4_000_000
            stream.codec_context.thread_count = 1
            for img in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def write_jpeg(path: Path, img: np.ndarray, quality: int = 92) -> None:
    with atomic_path(path) as tmp:
        # 4:4:4 chroma: at <= 128 px, 4:2:0 would bleed the body-part colours of thin limbs.
        Image.fromarray(img).save(tmp, format="JPEG", quality=quality, subsampling=0)


def body_masks(joints_cam: np.ndarray, intrinsics, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-body and lower-body silhouettes (N, H, W) bool of 28-joint camera-space poses, from the
    renderer's capsules (no occlusion: each mask is where that half of the body covers a pixel)."""
    pairs, radii, parts, _ = primitives(SKELETON)
    lower = np.isin(np.array(poses.PARTS)[parts], ("left_leg", "right_leg"))
    fx, fy, cx, cy = intrinsics
    uv = poses.project(joints_cam, fx, fy, cx, cy)
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
        uv = poses.project(box, *intrinsics)
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


# --- Training tree -----------------------------------------------------------------------------
def _write_train_sequence(root: Path, subject: int, seq: int, rng: np.random.Generator, size: int, n_frames: int,
                          cameras: tuple[int, ...], knee_neck: float | None, rigid_spine: bool, seed: int) -> dict:
    fps = SEQUENCE_INFO[(subject, seq)][1]
    rows = n_frames + SURPLUS_ROWS.get((subject, seq), 0)
    body = poses.random_body(np.random.default_rng([seed, subject]), SKELETON)
    rig = _rig(np.random.default_rng([seed, subject, 14]), size)
    acts = tuple(int(a) for a in rng.choice(np.arange(1, 8), 2, replace=False))
    truth, activity = _activity_motion(rng, body, acts, rows, fps)
    seated = activity[:n_frames] == 3  # "Sitting" segments get a chair
    chair = chair_boxes(truth[:n_frames][seated]) if seated.any() else None
    scale = univ_scales(truth, knee_neck, rigid_spine)
    world = truth.copy()
    swapped = None
    if (subject, seq) in LR_SWAPPED:  # the labels (not the frames) swap left and right in a row range
        lo, hi = (int(round(f * rows)) for f in LR_SWAPPED[(subject, seq)])
        world[lo:hi] = world[lo:hi][:, list(_mirror_index())]
        swapped = [lo, hi]
    univ_world = _rescale_about_root(world, scale, 4)
    a2, a3, u3 = (np.empty((NUM_CAMERAS, 1), dtype=object) for _ in range(3))
    for c, cam in enumerate(rig):
        j3 = _cam_points(world, cam["R"], cam["t"])
        a3[c, 0] = j3.reshape(rows, -1)
        u3[c, 0] = _cam_points(univ_world, cam["R"], cam["t"]).reshape(rows, -1)
        a2[c, 0] = poses.project(j3, cam["fx"], cam["fy"], cam["cx"], cam["cy"]).reshape(rows, -1)
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
        j3 = _cam_points(truth, cam["R"], cam["t"])[:n_frames]
        frames = render_frames(j3[:n_img], SKELETON, intr, (size, size),
                               seed=seed * 1000 + subject * 100 + seq * 20 + c)
        upper, lower = body_masks(j3, intr, (size, size))
        person = upper | lower
        on_chair = np.zeros_like(person)
        if chair is not None:  # the chair stands behind the person: drawn where the body is not
            px = chair_pixels(_cam_points(chair.reshape(-1, 3), cam["R"], cam["t"]).reshape(2, 8, 3), intr, (size, size))
            on_chair[seated] = (px >= 0) & ~person[seated]
            shown = on_chair[:n_img]
            frames[shown] = _CHAIR_COLOURS[np.broadcast_to(px, shown.shape)[shown]]
        write_video(sdir / "imageSequence" / f"video_{c}.avi", frames, fps)
        fg = np.stack([~person, ~upper, ~lower], -1).astype(np.uint8) * 255
        write_video(sdir / "FGmasks" / f"video_{c}.avi", fg, fps)
        chair_mask = np.zeros_like(fg)
        chair_mask[..., 0] = np.where(on_chair, 0, 255)  # the raw mask is dark where the chair is
        write_video(sdir / "ChairMasks" / f"video_{c}.avi", chair_mask, fps)
        video_frames[str(c)] = n_img
    return {
        "subject": subject, "sequence": seq, "fps": fps, "rows": rows, "video_frames": video_frames,
        "mask_frames": n_frames, "size": [size, size], "activities": list(acts), "lr_swapped_rows": swapped,
        "chair_frames": int(seated.sum()) if chair is not None else 0,
        "univ_scale": float(scale.mean()), "univ_scale_per_frame": bool(rigid_spine),
        "cameras": {str(c): {"fx": cam["fx"], "fy": cam["fy"], "cx": cam["cx"], "cy": cam["cy"], "distortion": None,
                             "R": cam["R"].tolist(), "t": cam["t"].tolist()} for c, cam in enumerate(rig)},
    }


# --- Test set -------------------------------------------------------------------------------------
def _test_camera(ts: int, rng: np.random.Generator) -> tuple[TcCamera, np.ndarray, np.ndarray]:
    """The TS group's camera with a look-alike pose: (calibration, z-up world->camera R, centre)."""
    base = TS1_4_CAMERA if ts <= 4 else TS5_6_CAMERA
    if ts <= 4:
        az, dist, height = rng.uniform(-0.4, 0.4), rng.uniform(3300, 3700), rng.uniform(1250, 1450)
    else:
        az, dist, height = rng.uniform(-0.4, 0.4), rng.uniform(4000, 4500), rng.uniform(1000, 1300)
    centre = np.array([dist * np.cos(az), dist * np.sin(az), height])
    target = np.array([0.0, 0.0, 950.0])
    if ts > 4:  # the GoPro looks past the person, who stands off-centre where its lens distortion shows
        target = np.array([-np.sin(az), np.cos(az), 0.0]) * 1300.0 + np.array([0.0, 0.0, 850.0])
    r_zup = look_at(centre, target)
    r_yup = r_zup @ _ZUP_TO_YUP.T
    origin = _ZUP_TO_YUP @ centre
    cam = TcCamera(base.name, base.sensor, base.focal, base.aspect, base.offset, base.distortion, base.resolution,
                   tuple(float(f"{v:.4f}") for v in origin), tuple(float(f"{v:.9f}") for v in -r_yup[1]),
                   tuple(float(f"{v:.9f}") for v in r_yup[0]))
    return cam, r_zup, centre


def test_size(ts: int, size: int) -> tuple[int, int]:
    """Written (W, H) of a test sequence's images: the official size scaled so the long side is ``size``."""
    w, h = (TS1_4_CAMERA if ts <= 4 else TS5_6_CAMERA).resolution
    s = size / max(w, h)
    return int(round(w * s)), int(round(h * s))


def _test_sequence(ts: int, seed: int, rows: int, size: int, knee_neck: float | None, rigid_spine: bool) -> dict:
    """Everything of one test sequence: true poses, both label releases, frames' geometry."""
    rng = np.random.default_rng([seed, 100 + ts])
    cam, r_zup, centre = _test_camera(ts, np.random.default_rng([seed, 200 + (1 if ts <= 4 else 5)]))
    n_img = rows + EXTRA_IMAGES.get(ts, 0)
    body = poses.random_body(rng, SKELETON)
    fps = 25 if ts <= 4 else 30
    world, activity = _activity_motion(rng, body, _TEST_ACTIVITIES[ts], n_img, fps)
    if ts > 4:  # outdoor: keep the person inside the wide camera's view
        world[..., :2] *= 0.6
    j28 = poses.world_to_camera(world, r_zup, centre)
    scale = univ_scales(j28[:rows], knee_neck, rigid_spine)
    width, height = test_size(ts, size)
    fx, fy, cx, cy = cam.intrinsics(width, height)
    # Valid frames: the original release's share of each sequence (at least 30 % here), every activity kept.
    frac = max(TEST_VALID_REAL[ts] / TEST_ROWS_REAL[ts], 0.3)
    order = rng.permutation(rows)
    valid_orig = np.zeros(rows, bool)
    valid_orig[order[: max(int(round(frac * rows)), 2)]] = True
    for act in np.unique(activity[:rows]):
        valid_orig[np.flatnonzero(activity[:rows] == act)[0]] = True
    valid_corr = valid_orig.copy()
    extra = _CORRECTED_EXTRA_VALID.get(ts, 0)
    if extra:
        valid_corr[np.flatnonzero(~valid_orig)[:extra]] = True
    true17 = j28[:rows, list(RELEVANT)]
    releases = {}
    for labels in LABEL_RELEASES:
        a3 = true17.copy()
        if labels == "original":
            for j, off in _ORIGINAL_ERRORS.get(ts, {}).items():
                a3[:, j] += off
        u3 = _rescale_about_root(a3, scale, 14)
        if labels == "corrected":
            for j, off in _CORRECTED_UNIV_OFFSETS.get(ts, {}).items():
                u3[:, j] += off
        a2 = poses.project(a3, fx, fy, cx, cy, _partA_dist(cam.distortion))
        releases[labels] = {"annot2": a2, "annot3": a3, "univ_annot3": u3,
                            "valid_frame": valid_orig if labels == "original" else valid_corr}
    return {"ts": ts, "cam": cam, "joints28": j28, "activity": activity, "rows": rows, "images": n_img,
            "size": (width, height), "intrinsics": (fx, fy, cx, cy), "scale": scale, "releases": releases}


def _write_test_sequence(root: Path, seq: dict, labels: str, seed: int) -> dict:
    ts, rows = seq["ts"], seq["rows"]
    rel = seq["releases"][labels]
    tdir = root / f"TS{ts}"
    col = lambda a: np.asarray(a, dtype=np.float64).reshape(rows, 1)  # noqa: E731
    write_mat73(tdir / "annot_data.mat", {
        "annot2": rel["annot2"][:, None].astype(np.float64),
        "annot3": rel["annot3"][:, None].astype(np.float64),
        "univ_annot3": rel["univ_annot3"][:, None].astype(np.float64),
        "valid_frame": col(rel["valid_frame"]),
        "activity_annotation": col(seq["activity"][:rows]),
    })
    cam = seq["cam"]
    frames = render_frames(seq["joints28"], SKELETON, seq["intrinsics"], seq["size"],
                           dist=_partA_dist(cam.distortion), seed=seed * 1000 + 500 + ts)
    for i, img in enumerate(frames):
        write_jpeg(tdir / "imageSequence" / f"img_{i + 1:06d}.jpg", img)
    fx, fy, cx, cy = seq["intrinsics"]
    counts = {name: int(r["valid_frame"].sum()) for name, r in seq["releases"].items()}
    return {
        "rows": rows, "images": seq["images"], "size": list(seq["size"]), "scene": SCENES[ts],
        "intrinsics": {"fx": fx, "fy": fy, "cx": cx, "cy": cy},
        "distortion": list(cam.distortion) if any(cam.distortion) else None,
        "calibration": f"{CALIB_DIR}/{'ts1-4cameras.calib' if ts <= 4 else 'ts5-6cameras.calib'}",
        "valid": counts[labels], "valid_by_release": counts,
        "activities": {str(a): int((seq["activity"][:rows] == a).sum()) for a in np.unique(seq["activity"][:rows])},
        "univ_scale": float(seq["scale"].mean()),
        "univ_scale_per_frame": bool(np.ptp(seq["scale"]) > 1e-12),
        "label_differences": {
            "annot3_joints": sorted(int(j) for j in _ORIGINAL_ERRORS.get(ts, {})),
            "univ_only_joints_corrected": sorted(int(j) for j in _CORRECTED_UNIV_OFFSETS.get(ts, {})),
        },
    }


# --- The tree ---------------------------------------------------------------------------------------
def _clear_previous(out: Path, split: str) -> None:
    """Remove what an earlier look-alike run wrote where this run writes (its posebench-sample.json marks
    the tree as generated), so that a default tree over a --full one leaves no stale sequences or frames."""
    if not (out / "posebench-sample.json").is_file():
        return
    targets = []
    if split in ("all", "train"):
        targets += [p.parent for p in out.glob("S[1-8]/Seq[12]/annot.mat")]
    if split in ("all", "test"):
        troot = out / "mpi_inf_3dhp_test_set"
        targets += [p for p in troot.glob("TS[1-6]") if p.is_dir()] + [troot / CALIB_DIR]
    for path in targets:
        shutil.rmtree(path, ignore_errors=True)


def write_tree(out: str | os.PathLike, seed: int = 0, full: bool = False, labels: str = "original", split: str = "all",
               knee_neck: float | None = None, rigid_spine: bool = False, size: int | None = None) -> dict:
    """Write a look-alike MPI-INF-3DHP tree under ``out`` and return what was written (also saved as
    ``out/posebench-sample.json``). ``split``: all | train | test; ``labels``: original | corrected test labels;
    ``knee_neck`` / ``rigid_spine`` go to `poses.universal` (920 + rigid spine makes the 920 mm rule exact)."""
    if labels not in LABEL_RELEASES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_RELEASES)}, got {labels!r}")
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be all, train or test, got {split!r}")
    size = 128 if size is None else int(size)
    if not 16 <= size <= TRAIN_RESOLUTION:
        raise ValueError(f"size must be in 16..{TRAIN_RESOLUTION} px, got {size}")
    if size % 2 and split != "test":
        raise ValueError(f"size must be even for the training videos (YUV 4:2:0), got {size}")
    out = Path(out)
    start = time.perf_counter()
    _clear_previous(out, split)
    meta: dict = {"dataset": "mpi3dhp", "generator": "posebench.sample.mpi3dhp", "seed": seed, "full": full,
                  "split": split, "labels": labels, "size": size, "rigid_spine": rigid_spine,
                  "knee_neck": poses.DEFAULT_KNEE_NECK if knee_neck is None else float(knee_neck),
                  "skeleton_train": SKELETON, "distortion_order": "opencv k1 k2 p1 p2 k3"}
    if split in ("all", "train"):
        seqs = sorted(SEQUENCE_INFO) if full else DEFAULT_TRAIN
        cameras = tuple(range(NUM_CAMERAS)) if full else VNECT_CAMERAS
        n_frames = 40 if full else 16
        meta["train"] = {}
        for subject, seq in seqs:
            rng = np.random.default_rng([seed, subject, seq])
            meta["train"][f"S{subject}/Seq{seq}"] = _write_train_sequence(
                out, subject, seq, rng, size, n_frames, cameras, knee_neck, rigid_spine, seed)
    if split in ("all", "test"):
        troot = out / "mpi_inf_3dhp_test_set"
        meta["test"] = {}
        for ts in range(1, 7):
            rows = max(TEST_ROWS_REAL[ts] // 20, 60) if full else 30
            seq = _test_sequence(ts, seed, rows, size, knee_neck, rigid_spine)
            meta["test"][f"TS{ts}"] = _write_test_sequence(troot, seq, labels, seed)
            if ts in (1, 5):
                name = "ts1-4cameras.calib" if ts == 1 else "ts5-6cameras.calib"
                write_text_atomic(troot / CALIB_DIR / name, tc_calibration_text(seq["cam"], gopro=ts == 5))
    write_json_atomic(out / "posebench-sample.json", meta)
    return {**meta, "seconds": round(time.perf_counter() - start, 3)}
