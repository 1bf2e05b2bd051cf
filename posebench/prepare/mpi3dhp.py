"""MPI-INF-3DHP test set (TS1..TS6 annot_data.mat, v7.3) -> DATA/mpi3dhp/test-<labels>.h5.

Every label row becomes one prepared row (valid or not; protocols select `valid`). Ground truth: `joints3d` =
annot3 (camera mm, projects onto annot2), `joints3d_univ` = univ_annot3 (what the official script scores),
both already in canonical order; `joints3d_univ_from_annot3` = annot3 / the sequence's universal scale (about
the camera origin), the ground truth the MargiPose code scores (see `margipose_univ_scale`). Images
`TSk/imageSequence/img_%06d.jpg` (1-based: row i is image i+1) are copied or resized to a fixed height into
DATA/mpi3dhp/images/test/<size>/TSk/, and `joints2d` and the fitted intrinsics are expressed in the stored
image's pixels (x' = x * stored_width / width, likewise y: pixel edges map onto pixel edges; images are never
upscaled). Facts: research/raw-formats.md §3, eval-anchors.md §1.

Release-specific facts recorded in the file attributes: valid frames per sequence and whether they equal the
original release's 603/540/505/553/276/452 (= 2929), the fitted-vs-official intrinsics check per sequence
(`intrinsics_check`; TS5-6 are GoPro frames with strong distortion, hence looser bounds), images beyond the
label rows (TS3: 1, TS4: 2 in the real release; ignored), and the ground truth's knee-neck distribution.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posebench.io_utils import file_sha256, sweep_leftovers
from posebench.names import SEQUENCE_SCENE, SEQUENCES
from posebench.prepare.calibration import CalibrationError, TcCamera, read_tc_calibration
from posebench.prepare.matfile import MatFileError, open_v73, read_v73
from posebench.prepare.mpi_common import (PrepareError, compare_intrinsics, concat_columns, knee_neck_summary,
                                          remove_shards, run_sharded, store_image)
from posebench.skeleton import JOINT_INDEX, JOINTS, ROOT

SEQS: tuple[str, ...] = tuple(SEQUENCES)  # TS1..TS6
# Valid frames per sequence published with the original label release (official test README).
ORIGINAL_VALID_COUNTS: dict[str, int] = {"TS1": 603, "TS2": 540, "TS3": 505, "TS4": 553, "TS5": 276, "TS6": 452}
NATIVE_SIZE: dict[str, tuple[int, int]] = {s: (2048, 2048) for s in SEQS[:4]} | {s: (1920, 1080) for s in SEQS[4:]}
CALIB_FILES: dict[str, str] = {s: "ts1-4cameras.calib" for s in SEQS[:4]} | {s: "ts5-6cameras.calib" for s in SEQS[4:]}
CALIB_DIRS = ("test_util/camera_calibration", "camera_calibration", "test_util", ".")
# Fitted-vs-calibrated tolerance: relative for focal lengths, fraction of the image width/height for the centre.
# TS5-6 (GoPro) have strong radial distortion that a pinhole fit absorbs, hence the looser bounds.
TOLERANCE: dict[str, tuple[float, float]] = {s: (0.01, 0.01) for s in SEQS[:4]} | {s: (0.05, 0.03) for s in SEQS[4:]}
REFERENCE_HEIGHT = 768  # MargiPose stores test images resized to height 768 (aspect kept)
LABELS = ("original", "corrected")
# Joints the MargiPose code leaves out of its universal-scale estimate (data/mpi_inf_3dhp/preprocess.py): in the
# corrected release's TS6, univ_annot3 knees and ankles are not annot3 at one scale.
MARGIPOSE_SCALE_SKIP: tuple[str, ...] = ("pelvis", "l_knee", "l_ankle", "r_knee", "r_ankle")


class Mpi3dhpError(PrepareError):
    """The MPI-INF-3DHP source tree or one of its files is not what the preparer expects."""


@dataclass(frozen=True)
class TestAnnotations:
    """One sequence's annot_data.mat, canonical order, one entry per label row."""

    annot2: np.ndarray  # (N, 17, 2) px of the original images
    annot3: np.ndarray  # (N, 17, 3) camera mm
    univ_annot3: np.ndarray  # (N, 17, 3) universal-scale mm
    valid: np.ndarray  # (N,) bool
    activity: np.ndarray  # (N,) int


def find_test_root(src: str | os.PathLike) -> Path:
    """The folder holding TS1..TS6; a clear error for a wrong folder or the double-nested zip layout."""
    src = Path(src)
    if not src.is_dir():
        raise Mpi3dhpError(f"{src}: no such folder (expected the MPI-INF-3DHP test set with TS1..TS6)")
    inner = src / "mpi_inf_3dhp_test_set"
    if not (src / "TS1").is_dir() and (inner / "TS1").is_dir() and src.name != "mpi_inf_3dhp_test_set":
        src = inner  # get_testset.sh unpacks into $destination/mpi_inf_3dhp_test_set: accept $destination
    if (src / "TS1").is_dir():
        missing = [s for s in SEQS if not (src / s / "annot_data.mat").is_file()]
        if missing:
            raise Mpi3dhpError(f"{src}: no annot_data.mat for {', '.join(missing)} (incomplete test set?)")
        return src
    for inner in (src / "mpi_inf_3dhp_test_set", src / "mpi_inf_3dhp_test_set" / "mpi_inf_3dhp_test_set"):
        if (inner / "TS1").is_dir():
            raise Mpi3dhpError(f"{src}: TS1..TS6 are one level down (the zip unpacks into a nested "
                               f"mpi_inf_3dhp_test_set folder); pass --src {inner}")
    if (src / "S1" / "Seq1").is_dir():
        raise Mpi3dhpError(f"{src}: this is the training set (S1/Seq1...); use --split train, or point --src at the test set")
    have = ", ".join(sorted(p.name for p in src.iterdir())[:8]) or "nothing"
    raise Mpi3dhpError(f"{src}: not the MPI-INF-3DHP test set (no TS1 folder; found {have})")


def read_test_annotations(path: str | os.PathLike) -> TestAnnotations:
    """Read one TSk/annot_data.mat (MAT v7.3): checked shapes, finiteness on valid rows, activities 1..7."""
    path = Path(path)
    with open_v73(path, "the test set's MAT v7.3 annot_data.mat") as f:
        raw = {k: read_v73(f, k, path) for k in ("annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation")}
    a2 = _joints(raw["annot2"], 2, path, "annot2")
    n = len(a2)
    a3 = _joints(raw["annot3"], 3, path, "annot3")
    u3 = _joints(raw["univ_annot3"], 3, path, "univ_annot3")
    valid = _vector(raw["valid_frame"], path, "valid_frame")
    act = _vector(raw["activity_annotation"], path, "activity_annotation")
    for name, arr in (("annot3", a3), ("univ_annot3", u3), ("valid_frame", valid), ("activity_annotation", act)):
        if len(arr) != n:
            raise MatFileError(f"{path}: {name} has {len(arr)} rows but annot2 has {n}")
    if not np.isin(valid, (0, 1)).all():
        raise MatFileError(f"{path}: valid_frame holds values other than 0/1")
    valid = valid.astype(bool)
    bad = ~(np.isfinite(a2).all((1, 2)) & np.isfinite(a3).all((1, 2)) & np.isfinite(u3).all((1, 2)))
    if (bad & valid).any():
        raise MatFileError(f"{path}: {int((bad & valid).sum())} valid rows hold non-finite joints "
                           f"(first at row {int(np.flatnonzero(bad & valid)[0])})")
    if not (np.isfinite(act) & (act == np.round(act))).all():
        raise MatFileError(f"{path}: activity_annotation holds non-integer values")
    act = act.astype(np.int64)
    if ((act < 1) | (act > 7))[valid].any():
        raise MatFileError(f"{path}: activity_annotation outside 1..7 on valid rows "
                           f"(values {sorted(set(act[valid].tolist()) - set(range(1, 8)))[:5]})")
    if valid.any() and not (a3[valid][..., 2] > 0).all():
        raise MatFileError(f"{path}: annot3 has joints at or behind the camera (z <= 0) on valid rows: not camera-space mm")
    # Unscored (invalid) rows with missing values are zeroed: the prepared contract forbids NaN.
    for a in (a2, a3, u3):
        a[bad] = 0.0
    return TestAnnotations(a2, a3, u3, valid, act)


def _joints(a: np.ndarray, k: int, path: Path, name: str) -> np.ndarray:
    # MATLAB 3 x 17 x 1 x N reads as (N, 1, 17, 3) through h5py; accept (N, 17, k) too.
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[1:] != (17, k):
        raise MatFileError(f"{path}: {name} has shape {a.shape}, expected (N, 1, 17, {k}) (MATLAB {k}x17x1xN)")
    if len(a) == 0:
        raise MatFileError(f"{path}: {name} has no rows")
    return np.ascontiguousarray(a, dtype=np.float64)


def _vector(a: np.ndarray, path: Path, name: str) -> np.ndarray:
    if a.ndim == 2 and 1 in a.shape:
        a = a.ravel()
    if a.ndim != 1:
        raise MatFileError(f"{path}: {name} has shape {a.shape}, expected (N, 1)")
    return a


def find_calibration(src: Path, seq: str, calib_dir: str | os.PathLike | None = None) -> Path | None:
    """The official .calib file for a sequence, searched in --calib-dir or the usual places under the tree."""
    name = CALIB_FILES[seq]
    dirs = [Path(calib_dir)] if calib_dir else [src / d for d in CALIB_DIRS] + [src.parent / d for d in CALIB_DIRS]
    for d in dirs:
        if (d / name).is_file():
            return d / name
    if calib_dir:
        raise Mpi3dhpError(f"{calib_dir}: no {name} (the official test-set calibration for {seq})")
    return None


def check_intrinsics(fitted: Sequence[float], camera: TcCamera, size: tuple[int, int], seq: str) -> dict[str, Any]:
    """Compare fitted (fx, fy, cx, cy) with the calibration at image ``size``; tolerance per TOLERANCE."""
    return compare_intrinsics(fitted, camera.intrinsics(*size), size, *TOLERANCE[seq])


def prepare_test_sequence(root: Path, seq: str, out: Path, height: int, images: bool,
                          calib_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """One test sequence -> its prepared columns (dict) and a report (under key 'report')."""
    from posebench.prepare.intrinsics import fit_intrinsics

    ann_path = root / seq / "annot_data.mat"
    ann = read_test_annotations(ann_path)
    n = len(ann.valid)
    img_dir = root / seq / "imageSequence"
    tag = "original" if height <= 0 else f"h{height}"
    rel_dir = Path("images") / "test" / tag / seq
    image = np.full(n, "", dtype=object)
    src_size = NATIVE_SIZE[seq]
    stored_size = src_size
    missing, extra = 0, 0
    if images:
        if not img_dir.is_dir():
            raise Mpi3dhpError(f"{img_dir}: no imageSequence folder (pass --no-images to prepare labels only)")
        sizes = set()
        for i in range(n):
            name = f"img_{i + 1:06d}.jpg"
            if not (img_dir / name).is_file():
                missing += 1
                continue
            w, h, sw, sh = store_image(img_dir / name, out / rel_dir / name, height)
            sizes.add((w, h, sw, sh))
            image[i] = (rel_dir / name).as_posix()
        if len(sizes) > 1:
            raise Mpi3dhpError(f"{img_dir}: images of different sizes {sorted(sizes)[:3]}")
        if sizes:
            w, h, sw, sh = sizes.pop()
            src_size, stored_size = (w, h), (sw, sh)
        extra = sum(1 for p in img_dir.glob("img_*.jpg") if _frame_number(p.name) > n)
    valid_fit = np.isfinite(ann.annot3).all((1, 2)) & (ann.annot3[..., 2] > 0).all(1)
    if not valid_fit.any():
        raise Mpi3dhpError(f"{ann_path}: no row with usable 3D joints to fit intrinsics on")
    fitted = np.asarray(fit_intrinsics(ann.annot3[valid_fit], ann.annot2[valid_fit]), dtype=np.float64)
    check = None
    calib_path = find_calibration(root, seq, calib_dir)
    if calib_path is not None:
        try:
            cam = read_tc_calibration(calib_path)
        except CalibrationError as e:
            raise Mpi3dhpError(str(e)) from None
        check = check_intrinsics(fitted, cam[min(cam)], src_size, seq)
        check["file"] = calib_path.name
        check["file_sha256"] = file_sha256(calib_path)
    sx, sy = stored_size[0] / src_size[0], stored_size[1] / src_size[1]
    scale2 = np.array([sx, sy])
    intr = fitted * np.array([sx, sy, sx, sy])
    k = int(seq[2:])
    ratio, residual = margipose_univ_scale(ann.annot3, ann.univ_annot3)
    from_annot3 = ann.annot3 / ratio
    rel = lambda a: a - a[:, ROOT:ROOT + 1]  # noqa: E731
    disagree = np.abs(rel(from_annot3) - rel(ann.univ_annot3)).max(axis=(0, 2))  # per joint, mm
    cols = {
        "joints3d": ann.annot3, "joints3d_univ": ann.univ_annot3, "joints2d": ann.annot2 * scale2,
        "joints3d_univ_from_annot3": from_annot3, "univ_scale": np.full(n, 1.0 / ratio),
        "intrinsics": np.tile(intr, (n, 1)), "valid": ann.valid, "activity": ann.activity,
        "scene": np.full(n, SEQUENCE_SCENE[seq], dtype=object), "sequence": np.full(n, seq, dtype=object),
        "subject": np.full(n, k, dtype=np.int64), "camera": np.zeros(n, dtype=np.int64),
        "frame": np.arange(n, dtype=np.int64), "action": np.full(n, "", dtype=object), "image": image,
    }
    report = {"rows": n, "valid": int(ann.valid.sum()), "missing_images": missing, "images_beyond_labels": extra,
              "source_size": list(src_size), "stored_size": list(stored_size), "intrinsics_check": check,
              "annot_sha256": file_sha256(ann_path),
              "univ_scale": {"annot3_over_univ": ratio, "residual_mm": residual,
                             "univ_from_annot3_max_diff_mm": float(disagree.max()),
                             "joints_differing": [JOINTS[j] for j, d in enumerate(disagree) if d > 1e-3]}}
    return cols, report


def margipose_univ_scale(annot3: np.ndarray, univ: np.ndarray) -> tuple[float, float]:
    """A sequence's universal scale as the MargiPose code estimates it, and how well it explains univ_annot3.

    The median, over rows, joints (less MARGIPOSE_SCALE_SKIP) and coordinates with |root-relative univ| > 1e-6 mm,
    of root-relative annot3 / root-relative univ_annot3 (the code's `_calculate_univ_scale_factor`); the code's
    ground truth is then annot3 divided by it. Returns (that ratio, the largest |annot3 / ratio - univ_annot3|
    in mm, root-relative, over the joints used; the code asserts it is below 1e-6).
    """
    keep = [j for j in range(annot3.shape[-2]) if j not in [JOINT_INDEX[n] for n in MARGIPOSE_SCALE_SKIP]]
    rel_a = (annot3 - annot3[..., ROOT:ROOT + 1, :])[..., keep, :]
    rel_u = (univ - univ[..., ROOT:ROOT + 1, :])[..., keep, :]
    ok = np.abs(rel_u) > 1e-6
    if not ok.any():
        raise Mpi3dhpError("univ_annot3 is degenerate (all joints at the pelvis)")
    ratio = float(np.median(rel_a[ok] / rel_u[ok]))
    return ratio, float(np.abs(rel_a / ratio - rel_u).max())


def reports_checks(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The intrinsics checks that were made (sequences with a calibration file)."""
    return [r["intrinsics_check"] for r in reports.values() if r["intrinsics_check"] is not None]


def _frame_number(name: str) -> int:
    try:
        return int(name[4:-4])
    except ValueError:
        return 0


def count_summary(valid_counts: dict[str, int], labels: str) -> dict[str, Any]:
    """Whether the valid-frame counts match the original release's (603/540/505/553/276/452 = 2929)."""
    match = all(valid_counts.get(s) == ORIGINAL_VALID_COUNTS[s] for s in SEQS)
    note = ""
    if labels == "original" and not match:
        note = "valid-frame counts differ from the original release's: these may be the corrected labels"
    elif labels == "corrected" and match:
        note = "valid-frame counts equal the original release's: these may be the original labels"
    return {"valid_counts": valid_counts, "valid_total": int(sum(valid_counts.values())),
            "original_valid_counts": ORIGINAL_VALID_COUNTS, "counts_match_original": bool(match), "note": note}


def prepare_test(src: str | os.PathLike, out: str | os.PathLike, labels: str, height: int = REFERENCE_HEIGHT,
                 images: bool = True, jobs: int = 1, calib_dir: str | os.PathLike | None = None,
                 progress: bool = True, echo=print) -> Path:
    """Prepare the whole test set into ``out``/mpi3dhp/test-<labels>.h5; returns its path."""
    from posebench.data import write_prepared
    from posebench.lookalike import lookalike_attrs

    if labels not in LABELS:
        raise Mpi3dhpError(f"--labels must be one of {', '.join(LABELS)} (no file marks its release), got {labels!r}")
    root = find_test_root(src)
    out_dir = Path(out) / "mpi3dhp"
    target = out_dir / f"test-{labels}.h5"
    sweep_leftovers(out_dir)  # e.g. .test-corrected.h5.<pid>.*.tmp of an interrupted run
    shard_dir = out_dir / ".shards" / f"test-{labels}-{'original' if height <= 0 else height}"
    results = run_sharded(
        {seq: (prepare_test_sequence, (root, seq, out_dir, height, images, calib_dir),
               [root / seq / "annot_data.mat", root / seq / "imageSequence",
                find_calibration(root, seq, calib_dir) or root / CALIB_FILES[seq]]) for seq in SEQS},
        shard_dir, jobs=jobs, progress=progress, desc=f"mpi3dhp test ({labels})")
    columns = concat_columns([results[s]["columns"] for s in SEQS])
    reports = {s: results[s]["report"] for s in SEQS}
    valid_counts = {s: reports[s]["valid"] for s in SEQS}
    counts = count_summary(valid_counts, labels)
    checks = {s: reports[s]["intrinsics_check"] for s in SEQS}
    bad = [s for s, c in checks.items() if c is not None and not c["ok"]]
    attrs = {
        "dataset": "mpi3dhp", "split": "test", "labels": labels, "kind": "3d",
        "image_height": height,
        "sources": {f"{s}/annot_data.mat": reports[s]["annot_sha256"] for s in SEQS}
        | {c["file"]: c["file_sha256"] for c in reports_checks(reports)},
        "valid_counts": valid_counts, "valid_total": counts["valid_total"],
        "original_valid_counts": ORIGINAL_VALID_COUNTS, "counts_match_original": counts["counts_match_original"],
        "intrinsics_check": checks, "intrinsics_ok": not bad and all(c is not None for c in checks.values()),
        "sequence_report": {s: {k: v for k, v in r.items() if k not in ("intrinsics_check", "annot_sha256")}
                            for s, r in reports.items()},
    }
    attrs["gt_knee_neck_mm"] = knee_neck_summary(columns["joints3d_univ"][columns["valid"]])
    attrs.update(lookalike_attrs(src))
    write_prepared(target, columns, attrs)
    for s in SEQS:
        r = reports[s]
        extra = f", {r['images_beyond_labels']} images beyond the label rows ignored" if r["images_beyond_labels"] else ""
        miss = f", {r['missing_images']} rows without an image" if r["missing_images"] else ""
        echo(f"{s}: {r['valid']:5d} valid of {r['rows']} rows (original release: {ORIGINAL_VALID_COUNTS[s]}){extra}{miss}")
    echo(f"total: {counts['valid_total']} valid frames; "
         f"{'match' if counts['counts_match_original'] else 'differ from'} the original release's 2929")
    if counts["note"]:
        warnings.warn(f"{target}: {counts['note']}", stacklevel=2)
    unchecked = [s for s, c in checks.items() if c is None]
    if unchecked:
        warnings.warn(f"no official .calib file found for {', '.join(unchecked)} (looked under {root} and its parent; "
                      f"see --calib-dir): fitted intrinsics not checked", stacklevel=2)
    if bad:
        warnings.warn(f"fitted intrinsics of {', '.join(bad)} disagree with the official calibration beyond the "
                      f"tolerance (see the file's intrinsics_check attribute)", stacklevel=2)
    remove_shards(shard_dir)
    return target
