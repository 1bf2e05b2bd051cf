"""Look-alike MPI-INF-3DHP release: the training tree (`S*/Seq*`) and the test set (`mpi_inf_3dhp_test_set`).

Writer side only (research/raw-formats.md §2-3, eval-anchors.md §1, margipose-reference.md §4): poses from
`posebench.sample.body`/`motion`, frames from `posebench.sample.render`, files laid out and encoded as the official
release has them. Nothing here is shared with `posebench.prepare`, so a format mistake cannot hide in both.
World coordinates of the calibration files are y-up (as the real rigs'); the pose prior's are z-up.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from posebench.io_utils import write_json_atomic, write_text_atomic
from posebench.sample.body import DEFAULT_KNEE_NECK, random_body
from posebench.sample.geometry import look_at, project, world_to_camera
from posebench.sample.matv73 import write_mat73
from posebench.sample.media import write_jpeg
from posebench.sample.mpi3dhp_calib import (CALIB_DIR, TS1_4_CAMERA, TS5_6_CAMERA, ZUP_TO_YUP, TcCamera,
                                            projection_distortion, tc_calibration_text)
from posebench.sample.mpi3dhp_poses import SKELETON, activity_motion, rescale_about_root, univ_scales
from posebench.sample.mpi3dhp_train import (DEFAULT_TRAIN, NUM_CAMERAS, SEQUENCE_INFO, TRAIN_RESOLUTION,
                                            VNECT_CAMERAS, write_train_sequence)
from posebench.sample.render import render_frames

# Test set: 'relevant' 17 of the 28 joints (0-based), the official test order.
RELEVANT = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)
TEST_ROWS_REAL = {1: 6151, 2: 6080, 3: 5838, 4: 6007, 5: 320, 6: 492}
TEST_VALID_REAL = {1: 603, 2: 540, 3: 505, 4: 553, 5: 276, 6: 452}
EXTRA_IMAGES = {3: 1, 4: 2}  # images past the last label row
SCENES = {1: "green_screen", 2: "green_screen", 3: "studio", 4: "studio", 5: "outdoor", 6: "outdoor"}
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
    r_yup = r_zup @ ZUP_TO_YUP.T
    origin = ZUP_TO_YUP @ centre
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
    body = random_body(rng, SKELETON)
    fps = 25 if ts <= 4 else 30
    world, activity = activity_motion(rng, body, _TEST_ACTIVITIES[ts], n_img, fps)
    if ts > 4:  # outdoor: keep the person inside the wide camera's view
        world[..., :2] *= 0.6
    j28 = world_to_camera(world, r_zup, centre)
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
        u3 = rescale_about_root(a3, scale, 14)
        if labels == "corrected":
            for j, off in _CORRECTED_UNIV_OFFSETS.get(ts, {}).items():
                u3[:, j] += off
        a2 = project(a3, fx, fy, cx, cy, projection_distortion(cam.distortion))
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
                           dist=projection_distortion(cam.distortion), seed=seed * 1000 + 500 + ts)
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
    ``knee_neck`` / ``rigid_spine`` go to `body.universal` (920 + rigid spine makes the 920 mm rule exact)."""
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
                  "knee_neck": DEFAULT_KNEE_NECK if knee_neck is None else float(knee_neck),
                  "skeleton_train": SKELETON, "distortion_order": "opencv k1 k2 p1 p2 k3"}
    if split in ("all", "train"):
        seqs = sorted(SEQUENCE_INFO) if full else DEFAULT_TRAIN
        cameras = tuple(range(NUM_CAMERAS)) if full else VNECT_CAMERAS
        n_frames = 40 if full else 16
        meta["train"] = {}
        for subject, seq in seqs:
            rng = np.random.default_rng([seed, subject, seq])
            meta["train"][f"S{subject}/Seq{seq}"] = write_train_sequence(
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
