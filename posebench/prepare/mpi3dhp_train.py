"""MPI-INF-3DHP training set (S1..S8 Seq1..2) -> DATA/mpi3dhp/train.h5 and val.h5.

Per sequence: `annot.mat` (MAT v5, 14 x 1 cells: annot2 (N,56), annot3 / univ_annot3 (N,84), 28 joints),
`camera.calibration` (Skeletool text), `imageSequence/video_<c>.avi`, optional `FGmasks/` and `ChairMasks/`
videos of the same frames (kept for background augmentation). Rows are (frame, camera) for the chosen cameras
(default the 8 VNect cameras), at a stride or where some joint moved >= a threshold since the last kept frame
(the reference keeps a frame after 200 mm of universal-skeleton motion); of those, flash frames (more than a
third of the pixels grey > 250, as the reference drops them) are left out and listed per camera. Validation = S4/Seq1 and S8/Seq2, as the
reference implementation. Facts: research/raw-formats.md §2, margipose-reference.md §4, §7-8.

Known faults of the release and how they are handled:
* annot.mat may hold more rows than the video has frames (e.g. S3/Seq1): only the first min(rows, frames) count.
* S6/Seq2/imageSequence/video_2.avi holds 3911 frames only: excluded, as the reference does (`EXCLUDED`).
* S4/Seq2 rows 3759-5852 have left and right swapped (reported by pose_refinement): kept as released and
  recorded in the file attributes (`known_faults`); not corrected, since the exact extent is unverified here.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebench.io_utils import atomic_path, file_sha256, sweep_leftovers
from posebench.prepare.calibration import CalibrationError, read_camera_calibration
from posebench.prepare.jpeg_frames import save_frame
from posebench.prepare.matfile import MatFileError, load_v5
from posebench.prepare.mpi3dhp import Mpi3dhpError
from posebench.prepare.mpi_common import compare_intrinsics, concat_columns, knee_neck_summary, remove_shards, run_sharded
from posebench.skeleton import JOINT_INDEX, ROOT, from_mpi3dhp

SUBJECTS = tuple(range(1, 9))
SEQUENCES = (1, 2)
VNECT_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)
VAL_SEQUENCES = ((4, 1), (8, 2))
EXCLUDED: dict[tuple[int, int, int], str] = {
    (6, 2, 2): "S6/Seq2 video_2.avi holds only 3911 frames (excluded by the reference implementation)",
}
KNOWN_FAULTS = {"S4/Seq2": "rows 3759-5852 have left/right swapped (reported by vegesm/pose_refinement); kept as released"}
DEFAULT_MOTION_MM = 200.0
CALIB_TOLERANCE = 0.01  # fitted vs calibrated focal length (relative) and principal point (fraction of size)
# Joints skipped by the universal-scale estimate: the revised labels' univ knees/ankles disagree with annot3.
_SCALE_SKIP = tuple(JOINT_INDEX[n] for n in ("pelvis", "r_knee", "l_knee", "r_ankle", "l_ankle"))


def read_train_annotations(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """annot.mat -> {'annot2': (14, N, 28, 2), 'annot3': (14, N, 28, 3), 'univ_annot3': ...} float64."""
    path = Path(path)
    mat = load_v5(path, "a training-set MAT v5 annot.mat")
    out: dict[str, np.ndarray] = {}
    for name, k in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
        if name not in mat:
            have = ", ".join(sorted(x for x in mat if not x.startswith("__"))) or "none"
            raise MatFileError(f"{path}: no variable {name!r} (has: {have})")
        cells = np.asarray(mat[name])
        if cells.dtype != object or cells.size != 14 or 1 not in cells.shape:
            raise MatFileError(f"{path}: {name} is {cells.dtype} {cells.shape}, expected a 14 x 1 cell array (one per camera)")
        per_cam = []
        for c, cell in enumerate(cells.ravel()):
            try:
                a = np.asarray(cell, dtype=np.float64)
            except (TypeError, ValueError):
                raise MatFileError(f"{path}: {name}{{{c + 1}}} is not numeric") from None
            if a.ndim != 2 or a.shape[1] != 28 * k or a.shape[0] == 0:
                raise MatFileError(f"{path}: {name}{{{c + 1}}} has shape {a.shape}, expected (N, {28 * k})")
            per_cam.append(a)
        n = {a.shape[0] for a in per_cam}
        if len(n) != 1:
            raise MatFileError(f"{path}: {name} cells have different row counts {sorted(n)}")
        out[name] = np.stack(per_cam).reshape(14, -1, 28, k)
    n = {a.shape[1] for a in out.values()}
    if len(n) != 1:
        raise MatFileError(f"{path}: annot2/annot3/univ_annot3 have different row counts {sorted(n)}")
    return out


def universal_scale(annot3: np.ndarray, univ: np.ndarray) -> float:
    """Universal scale of one sequence: (univ_annot3 - root) = scale * (annot3 - root).

    The median over frames and joints of root-relative length ratios; pelvis, knees and ankles are skipped (as
    the reference does) because revised univ labels differ there. The reference stores the inverse (annot3/univ).
    """
    keep = [j for j in range(annot3.shape[-2]) if j not in _SCALE_SKIP]
    a = np.linalg.norm(annot3[..., keep, :] - annot3[..., ROOT:ROOT + 1, :], axis=-1)
    u = np.linalg.norm(univ[..., keep, :] - univ[..., ROOT:ROOT + 1, :], axis=-1)
    ok = a > 1.0
    if not ok.any():
        raise Mpi3dhpError("annot3 is degenerate (all joints at the pelvis)")
    return float(np.median(u[ok] / a[ok]))


def select_frames(univ: np.ndarray, joints2d: np.ndarray, size: tuple[int, int], stride: int | None,
                  motion_mm: float | None) -> np.ndarray:
    """0-based rows to keep: every ``stride``-th, or after >= ``motion_mm`` of motion of some joint.

    Only frames whose 2D joints all lie inside the image are candidates (as the reference).
    """
    n = len(univ)
    inside = ((joints2d >= 0) & (joints2d < np.asarray(size))).all(axis=(1, 2))
    if stride:
        keep = np.zeros(n, dtype=bool)
        keep[::stride] = True
        return np.flatnonzero(keep & inside)
    assert motion_mm is not None
    cand = np.flatnonzero(inside)
    kept: list[int] = []
    last = None
    for i in cand:  # inherently sequential: the distance is to the last kept frame
        if last is None or np.max(np.linalg.norm(univ[i] - last, axis=-1)) >= motion_mm:
            kept.append(int(i))
            last = univ[i]
    return np.asarray(kept, dtype=np.int64)


def video_info(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of a video; frames from the container, else by demuxing."""
    import av

    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            n = int(stream.frames) if stream.frames else sum(1 for p in c.demux(stream) if p.size)
            return n, w, h
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise Mpi3dhpError(f"{path}: unreadable video ({e})") from None


FLASH_GREY = 250  # a pixel brighter than this (grey level) is blown out
FLASH_FRACTION = 1 / 3  # a frame with more blown-out pixels than this is a flash frame (as the reference)


def is_flash(grey: np.ndarray) -> bool:
    """True when more than a third of a frame's pixels are brighter than grey level 250 (a camera flash)."""
    return bool((np.asarray(grey) > FLASH_GREY).mean() > FLASH_FRACTION)


def extract_frames(video: Path, frames: Iterable[int], out_dir: Path, height: int, suffix: str = ".jpg",
                   drop_flashes: bool = False) -> tuple[int, int, int, int, list[int]]:
    """Write the wanted 0-based frames as ``img_%06d`` (1-based, as ffmpeg) files.

    Returns (w, h, stored w, stored h, flash frames). With ``drop_flashes`` a wanted frame that is a flash is
    reported and not written (an earlier run's copy is removed).
    """
    import av
    from PIL import Image

    wanted = sorted(set(int(f) for f in frames))
    path_of = lambda i: out_dir / f"img_{i + 1:06d}{suffix}"  # noqa: E731
    flashes: list[int] = []
    todo = [f for f in wanted if not path_of(f).is_file()]
    if drop_flashes:  # frames stored by an interrupted run are checked from their files
        for f in wanted:
            if path_of(f).is_file():
                with Image.open(path_of(f)) as im:
                    if is_flash(np.asarray(im.convert("L"))):
                        flashes.append(f)
                        path_of(f).unlink()
    try:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            size = (w, h) if height <= 0 or h <= height else (max(1, round(w * height / h)), height)  # never upscale
            if todo:
                want, last, seen = set(todo), todo[-1], 0
                for i, frame in enumerate(c.decode(stream)):
                    seen = i + 1
                    if i in want:
                        if drop_flashes and is_flash(frame.to_ndarray(format="gray")):
                            flashes.append(i)
                        else:
                            img = frame.to_image()
                            if img.size != size:
                                nearest = suffix == ".png"
                                img = img.resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS)
                            with atomic_path(path_of(i)) as tmp:
                                if suffix == ".png":
                                    img.save(tmp, format="PNG")
                                else:
                                    save_frame(img, tmp, 95)
                    if i >= last:
                        break
                if seen <= last:
                    raise Mpi3dhpError(f"{video}: ended after {seen} frames, before frame {last} (short video?)")
    except (av.error.FFmpegError, IndexError, OSError) as e:
        raise Mpi3dhpError(f"{video}: unreadable video ({e})") from None
    return w, h, size[0], size[1], sorted(flashes)


def prepare_train_camera(seq_dir: Path, subject: int, seq: int, camera: int, out: Path, height: int,
                         stride: int | None, motion_mm: float | None, masks: bool, scale: float,
                         ann_path: Path | None = None) -> dict[str, Any]:
    """One (sequence, camera): selected rows as prepared columns plus a report."""
    from posebench.prepare.intrinsics import fit_intrinsics

    ann = read_train_annotations(ann_path or seq_dir / "annot.mat")
    a2 = from_mpi3dhp(ann["annot2"][camera])
    a3 = from_mpi3dhp(ann["annot3"][camera])
    u3 = from_mpi3dhp(ann["univ_annot3"][camera])
    video = seq_dir / "imageSequence" / f"video_{camera}.avi"
    if not video.is_file():
        raise Mpi3dhpError(f"{video}: missing (download the camera's video or leave it out with --cameras)")
    n_video, vw, vh = video_info(video)
    n = min(len(a2), n_video)
    a2, a3, u3 = a2[:n], a3[:n], u3[:n]
    calib = read_camera_calibration(seq_dir / "camera.calibration")
    if camera not in calib:
        raise Mpi3dhpError(f"{seq_dir / 'camera.calibration'}: no camera {camera}")
    cam = calib[camera]
    rows = select_frames(u3, a2, (vw, vh), stride, motion_mm)
    name = f"S{subject}/Seq{seq}"
    rel = Path("images") / "train" / f"S{subject}" / f"Seq{seq}"
    tag = "original" if height <= 0 else f"h{height}"
    vdir = rel / tag / f"video_{camera}"
    w, h, sw, sh, flashes = extract_frames(video, rows, out / vdir, height, drop_flashes=True)
    rows = rows[~np.isin(rows, flashes)]
    mask_cols = {}
    for folder, col in (("FGmasks", "fg_mask"), ("ChairMasks", "chair_mask")):
        mvideo = seq_dir / folder / f"video_{camera}.avi"
        paths = np.full(len(rows), "", dtype=object)
        if masks and mvideo.is_file() and len(rows):
            mdir = rel / tag / f"{folder}_{camera}"
            have = rows < video_info(mvideo)[0]  # a shorter mask video leaves the last rows without a mask
            extract_frames(mvideo, rows[have], out / mdir, height, suffix=".png")  # masks: no flash test
            paths[have] = [(mdir / f"img_{r + 1:06d}.png").as_posix() for r in rows[have]]
        mask_cols[col] = paths
    good = np.isfinite(a3).all((1, 2)) & (a3[..., 2] > 0).all(1)
    fitted = np.asarray(fit_intrinsics(a3[good], a2[good]), dtype=np.float64)
    cs = (w / cam.size[0], h / cam.size[1])  # the calibration's pixels -> the video's
    check = compare_intrinsics(fitted, np.array(cam.intrinsics) * [cs[0], cs[1], cs[0], cs[1]], (w, h),
                               CALIB_TOLERANCE, CALIB_TOLERANCE)
    sx, sy = sw / w, sh / h
    k = len(rows)
    cols = {
        "joints3d": a3[rows], "joints3d_univ": u3[rows], "joints2d": a2[rows] * [sx, sy],
        "intrinsics": np.tile(fitted * [sx, sy, sx, sy], (k, 1)), "univ_scale": np.full(k, scale),
        "subject": np.full(k, subject, dtype=np.int64), "camera": np.full(k, camera, dtype=np.int64),
        "frame": rows.astype(np.int64), "action": np.full(k, "", dtype=object),
        "sequence": np.full(k, name, dtype=object),
        "image": np.array([(vdir / f"img_{r + 1:06d}.jpg").as_posix() for r in rows], dtype=object),
        **mask_cols,
    }
    report = {"rows": int(len(ann["annot2"][camera])), "video_frames": n_video, "used_rows": n, "kept": k,
              "extra_annotation_rows": max(0, len(ann["annot2"][camera]) - n_video),
              "flash_frames_dropped": [int(f) for f in flashes],
              "intrinsics_check": check}
    return cols, report


def find_train_root(src: str | os.PathLike) -> Path:
    """The folder holding S1..S8; a clear error for the test set or a wrong folder."""
    src = Path(src)
    if not src.is_dir():
        raise Mpi3dhpError(f"{src}: no such folder (expected the MPI-INF-3DHP training set with S1..S8)")
    if any((src / f"S{s}").is_dir() for s in SUBJECTS):
        return src
    if (src / "TS1").is_dir():
        raise Mpi3dhpError(f"{src}: this is the test set (TS1..TS6); use --split test")
    have = ", ".join(sorted(p.name for p in src.iterdir())[:8]) or "nothing"
    raise Mpi3dhpError(f"{src}: not the MPI-INF-3DHP training set (no S1..S8 folders; found {have})")


def prepare_train(src: str | os.PathLike, out: str | os.PathLike, cameras: Sequence[int] = VNECT_CAMERAS,
                  height: int = 768, stride: int | None = None, motion_mm: float | None = DEFAULT_MOTION_MM,
                  masks: bool = True, jobs: int = 1, progress: bool = True,
                  subjects: Sequence[int] = SUBJECTS, echo=print) -> tuple[Path, Path]:
    """Prepare train.h5 and val.h5 under ``out``/mpi3dhp; returns both paths."""
    from posebench.data import write_prepared
    from posebench.lookalike import lookalike_attrs

    if stride is not None and stride < 1:
        raise Mpi3dhpError(f"--stride must be >= 1, got {stride}")
    if stride is None and (motion_mm is None or motion_mm <= 0):
        raise Mpi3dhpError("give --stride N or a positive --motion-mm threshold")
    bad = [c for c in cameras if not 0 <= c <= 13]
    if bad:
        raise Mpi3dhpError(f"--cameras: {bad} are not MPI-INF-3DHP camera indices (0..13)")
    root = find_train_root(src)
    out_dir = Path(out) / "mpi3dhp"
    sweep_leftovers(out_dir)
    seqs = [(s, q) for s in subjects for q in SEQUENCES if (root / f"S{s}" / f"Seq{q}").is_dir()]
    if not seqs:
        raise Mpi3dhpError(f"{root}: no S<n>/Seq<m> folders for subjects {list(subjects)}")
    sources, scales, tasks, excluded = {}, {}, {}, {}
    for s, q in seqs:
        d = root / f"S{s}" / f"Seq{q}"
        for f in ("annot.mat", "camera.calibration"):
            if not (d / f).is_file():
                raise Mpi3dhpError(f"{d / f}: missing")
        try:
            read_camera_calibration(d / "camera.calibration")
        except CalibrationError as e:
            raise Mpi3dhpError(str(e)) from None
        ann = read_train_annotations(d / "annot.mat")
        use = [c for c in cameras]
        scales[(s, q)] = universal_scale(from_mpi3dhp(ann["annot3"][use]), from_mpi3dhp(ann["univ_annot3"][use]))
        sources[f"S{s}/Seq{q}/annot.mat"] = file_sha256(d / "annot.mat")
        sources[f"S{s}/Seq{q}/camera.calibration"] = file_sha256(d / "camera.calibration")
        for c in cameras:
            if (s, q, c) in EXCLUDED:
                excluded[f"S{s}/Seq{q}/video_{c}"] = EXCLUDED[(s, q, c)]
                continue
            inputs = [d / "annot.mat", d / "camera.calibration"] + [d / f / f"video_{c}.avi" for f in
                                                                    ("imageSequence", "FGmasks", "ChairMasks")]
            tasks[f"S{s}_Seq{q}_c{c}"] = (prepare_train_camera, (d, s, q, c, out_dir, height, stride, motion_mm,
                                                                 masks, scales[(s, q)]), inputs)
    sel = f"stride{stride}" if stride else f"motion{motion_mm:g}"
    shard_dir = out_dir / ".shards" / f"train-{sel}-h{height}-{'-'.join(map(str, cameras))}"
    results = run_sharded(tasks, shard_dir, jobs=jobs, progress=progress, desc="mpi3dhp train")
    paths = []
    for split, members in (("train", [k for k in seqs if k not in VAL_SEQUENCES]),
                           ("val", [k for k in seqs if k in VAL_SEQUENCES])):
        keys = [f"S{s}_Seq{q}_c{c}" for s, q in members for c in cameras if f"S{s}_Seq{q}_c{c}" in tasks]
        target = out_dir / f"{split}.h5"
        if not keys:
            echo(f"{split}: no sequences present; {target} not written")
            continue
        columns = concat_columns([results[k]["columns"] for k in keys])
        reports = {k: results[k]["report"] for k in keys}
        checks = {k: r["intrinsics_check"] for k, r in reports.items()}
        attrs = {"dataset": "mpi3dhp", "split": split, "kind": "3d", "cameras": list(cameras), "image_height": height,
                 "frame_selection": {**({"stride": stride} if stride else {"motion_mm": motion_mm}),
                                     "inside_image": True, "flash_frames_dropped": "more than 1/3 of pixels grey > 250"},
                 "univ_scale": {f"S{s}/Seq{q}": scales[(s, q)] for s, q in members if (s, q) in scales},
                 "sources": {k: v for k, v in sources.items() if any(k.startswith(f"S{s}/Seq{q}/") for s, q in members)},
                 "excluded": excluded, "known_faults": KNOWN_FAULTS,
                 "extra_annotation_rows": {k: r["extra_annotation_rows"] for k, r in reports.items() if r["extra_annotation_rows"]},
                 "flash_frames": {k: r["flash_frames_dropped"] for k, r in reports.items() if r["flash_frames_dropped"]},
                 "intrinsics_check": checks, "intrinsics_ok": all(c["ok"] for c in checks.values()),
                 "gt_knee_neck_mm": knee_neck_summary(columns["joints3d_univ"]), **lookalike_attrs(src)}
        write_prepared(target, columns, attrs)
        echo(f"{split}: {len(columns['frame'])} rows from {len(members)} sequences x {len(cameras)} cameras -> {target}")
        bad = [k for k, c in checks.items() if not c["ok"]]
        if bad:
            warnings.warn(f"{target}: fitted intrinsics of {', '.join(bad[:5])} disagree with camera.calibration "
                          f"beyond {CALIB_TOLERANCE:.0%}", stacklevel=2)
        paths.append(target)
    remove_shards(shard_dir)
    return tuple(paths)  # type: ignore[return-value]
