"""Write a look-alike Human3.6M release: pose CDFs and H.264 videos in the official tree and names.

    S<n>/MyPoseFeatures/D3_Positions/<Seq>.cdf                       world mm, Pose (1, N, 96)
    S<n>/MyPoseFeatures/D3_Positions_mono/<Seq>.<cam>.cdf            camera mm, Pose (1, N, 96)
    S<n>/MyPoseFeatures/D3_Positions_mono_universal/<Seq>.<cam>.cdf  rescaled mono, Pose (1, N, 96)
    S<n>/MyPoseFeatures/D2_Positions/<Seq>.<cam>.cdf                 pixels, Pose (1, N, 64)
    S<n>/Videos/<Seq>.<cam>.mp4                                      50 fps H.264, a few frames longer
    posebench-sample.json                                            what was generated (not in real releases)

Cameras are the real rig (`h36m_cameras.py`, from metadata.xml <w0>) with intrinsics scaled to the written
resolution: u' = s·u with u measured from the left edge of the first pixel, so fx, cx scale by W/1000.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from posebench.errors import PosebenchError
from posebench.io_utils import atomic_path, write_json_atomic
from posebench.sample import h36m_cameras as C
from posebench.sample.body import DEFAULT_KNEE_NECK, random_body, universal
from posebench.sample.geometry import project, world_to_camera
from posebench.sample.media import write_mp4
from posebench.sample.motion import motion
from posebench.sample.render import render_frames

FPS = 50
SKELETON = "h36m32"
DEFAULT_SIZE = 128
FULL_SIZE = 64  # --full writes 840 videos: smaller frames keep it near a minute
DEFAULT_SUBJECTS = (1, 9, 11)
# The default tree: a few sequences per subject that exercise the naming quirks (S1 TakingPhoto, a digit
# that is not the subaction, S11 Phoning 3) and the corrupt S11 Directions.54138969 video.
DEFAULT_SEQUENCES: dict[int, tuple[str, ...]] = {
    1: ("Directions 1", "TakingPhoto", "SittingDown 2"),
    9: ("Directions 1", "Directions", "Greeting"),
    11: ("Directions 1", "Directions", "Phoning 3"),
}
CORRUPT_VIDEO = (11, "Directions", 54138969)
SUMMARY_FILE = "posebench-sample.json"


class SampleError(PosebenchError):
    """A request the look-alike writer cannot honour (unknown subject, bad size)."""


def write_cdf(path: Path, pose: np.ndarray) -> None:
    """Write ``pose`` (N, K) float64 as the zVariable ``Pose`` of one record, Dim_Sizes [N, K], atomically."""
    from cdflib.cdfwrite import CDF

    pose = np.ascontiguousarray(pose, dtype=np.float64)
    with atomic_path(path) as tmp:
        tmp_cdf = tmp.with_name(tmp.name + ".cdf")  # cdflib insists on the .cdf suffix
        try:
            tmp.unlink()
            cdf = CDF(tmp_cdf)
            cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_DOUBLE, "Num_Elements": 1,
                           "Rec_Vary": True, "Dim_Sizes": list(pose.shape), "Compress": 0},
                          var_data=pose[None])
            cdf.close()
            os.replace(tmp_cdf, tmp)
        finally:
            tmp_cdf.unlink(missing_ok=True)



def corrupt_file(path: Path, rng: np.random.Generator) -> None:
    """Cut a file to about half and append garbage, as a broken download looks (no moov atom)."""
    data = path.read_bytes()
    garbage = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data[: len(data) // 2] + garbage)


def scaled_camera(camera: int, size: int) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """((W, H), (fx, fy, cx, cy), distortion) of a camera at a written width of ``size`` px (H even)."""
    full_w, full_h = C.VIDEO_SIZE[camera]
    width = int(size)
    height = int(round(full_h * width / full_w / 2)) * 2
    intr, dist = C.intrinsics(camera)
    scale = np.array([width / full_w, height / full_h, width / full_w, height / full_h])
    return (width, height), intr * scale, dist


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _subject_body(seed: int, subject: int):
    return random_body(_rng(seed, subject, 0), SKELETON)


def write_tree(out: str | os.PathLike, seed: int = 0, full: bool = False, subjects=None,
               size: int | None = None, gop: int = 250, corrupt_video: bool = True,
               knee_neck: float = DEFAULT_KNEE_NECK, rigid_spine: bool = False,
               n_frames: int | None = None) -> dict:
    """Write a look-alike Human3.6M tree under ``out`` and return (and save) its summary.

    Default: S1, S9, S11 with three sequences each at 128 px; ``full``: every released subject and
    all 30 sequences at 64 px. All four cameras always. ``n_frames`` poses per sequence (default 66..80, so that
    every-64th-frame selection takes two); videos are 1..8 frames longer. Deterministic for a seed:
    each sequence draws from its own stream, so a subset of the tree equals the same files of a full one.
    """
    start = time.perf_counter()
    out = Path(out)
    if size is None:
        size = FULL_SIZE if full else DEFAULT_SIZE
    if not 16 <= int(size) <= 1000 or int(size) % 2:
        raise SampleError(f"--size must be an even width of 16..1000 px (H.264 4:2:0), got {size}")
    if gop < 1:
        raise SampleError(f"--gop must be at least 1, got {gop}")
    if not knee_neck > 0:
        raise SampleError(f"--knee-neck must be a positive length in mm, got {knee_neck}")
    if subjects is None:
        subjects = C.SUBJECTS if full else DEFAULT_SUBJECTS
    subjects = [int(str(s).lstrip("Ss")) for s in subjects]
    for s in subjects:
        if s not in C.SUBJECTS:
            raise SampleError(f"subject S{s} is not in the released set {', '.join(f'S{x}' for x in C.SUBJECTS)}")
    if n_frames is not None and n_frames < 1:
        raise SampleError(f"n_frames must be positive, got {n_frames}")
    cams = {cam: scaled_camera(cam, size) for cam in C.CAMERAS}
    summary: dict = {
        "generator": "posebench.sample.h36m", "dataset": "h36m", "seed": seed, "full": full, "fps": FPS,
        "size": size, "gop": gop, "knee_neck": knee_neck, "rigid_spine": rigid_spine,
        "skeleton": SKELETON, "units": "mm",
        "pixel_convention": "u = 0 at the left edge of the first pixel; intrinsics scaled by W/1000, H/H_full",
        "distortion_model": ("Human3.6M, distortion = <w0> (k1, k2, k3, pA, pB): x' = x(radial + pA y + pB x) "
                             "+ pB r^2, y' = y(radial + pA y + pB x) + pA r^2"),
        "cameras": {str(cam): {"width": wh[0], "height": wh[1], "intrinsics": intr.tolist(),
                               "distortion": dist.tolist()} for cam, (wh, intr, dist) in cams.items()},
        "subjects": {}, "corrupt": [],
    }
    for subject in subjects:
        body = _subject_body(seed, subject)
        wanted = None if full else DEFAULT_SEQUENCES.get(subject)
        entry = {"extrinsics": {}, "sequences": {}}
        for cam in C.CAMERAS:
            rot, centre = C.extrinsics(subject, cam)
            entry["extrinsics"][str(cam)] = {"R": rot.tolist(), "T": centre.tolist()}
        seqs = C.sequences(subject)
        if wanted is not None:
            seqs = [s for s in seqs if s[2] in wanted] or seqs[:3]
        for action, subaction, name in seqs:
            key = C.ACTIONS.index(action) + 2
            rng = _rng(seed, subject, key, subaction)
            n = n_frames if n_frames is not None else int(rng.integers(66, 81))
            extra = dict(zip(C.CAMERAS, _extra_frames(rng)))
            longest = motion(body, action, n + max(extra.values()), rng, fps=FPS) + C.rig_centre(subject)
            world = longest[:n]
            univ_world = universal(world, SKELETON, knee_neck, rigid_spine)
            feats = out / f"S{subject}" / "MyPoseFeatures"
            write_cdf(feats / "D3_Positions" / f"{name}.cdf", world.reshape(n, -1))
            for ci, cam in enumerate(C.CAMERAS):
                (w, h), intr, dist = cams[cam]
                rot, centre = C.extrinsics(subject, cam)
                mono = world_to_camera(world, rot, centre)
                univ = world_to_camera(univ_world, rot, centre)
                uv = project(mono, *intr, dist, model="h36m")
                write_cdf(feats / "D3_Positions_mono" / f"{name}.{cam}.cdf", mono.reshape(n, -1))
                write_cdf(feats / "D3_Positions_mono_universal" / f"{name}.{cam}.cdf", univ.reshape(n, -1))
                write_cdf(feats / "D2_Positions" / f"{name}.{cam}.cdf", uv.reshape(n, -1))
                video_pose = world_to_camera(longest[: n + extra[cam]], rot, centre)
                frames = render_frames(video_pose, SKELETON, intr, (w, h), dist, seed=seed * 100 + ci, model="h36m")
                video = out / f"S{subject}" / "Videos" / f"{name}.{cam}.mp4"
                write_mp4(video, frames, gop=gop)
                if corrupt_video and (subject, name, cam) == CORRUPT_VIDEO:
                    corrupt_file(video, _rng(seed, subject, key, subaction, cam))
                    summary["corrupt"].append(video.relative_to(out).as_posix())
            entry["sequences"][name] = {"action": action, "subaction": subaction, "frames": n,
                                        "video_frames": {str(c): n + int(e) for c, e in extra.items()}}
        summary["subjects"][f"S{subject}"] = entry
    write_json_atomic(out / SUMMARY_FILE, summary)
    return {**summary, "seconds": round(time.perf_counter() - start, 3)}


def _extra_frames(rng: np.random.Generator) -> np.ndarray:
    """Video frames beyond the poses per camera: cameras 1 and 4 alike, 2 and 3 a few more (as in <frames>)."""
    a = int(rng.integers(1, 4))
    b = a + int(rng.integers(1, 5))
    return np.array([a, b, b, a])
