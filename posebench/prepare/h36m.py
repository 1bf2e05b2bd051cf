"""Human3.6M official release -> DATA/h36m/{train,test}.h5 (one row per pose frame and camera) + JPEG frames.

Reads, per subject, sequence and camera: D3_Positions_mono (camera space, mm), D2_Positions (video pixels)
and, where present, D3_Positions_mono_universal; maps 32 -> 17 joints (`posebench.skeleton.from_h36m`);
names sequences through the official (action, subaction) table (`h36m_tables`), never by parsing names.
Rows are the pose frames: a longer video is truncated to them, a shorter or broken one leaves image=''.
Frames 0, 64, 128, ... of S9/S11 (every ``image_stride``-th of training subjects) are written as JPEG under
DATA/h36m/images/S<s>/<sequence>.<camera>/<frame:06d>.jpg (0-based frame index). Intrinsics are fitted
per view with Human3.6M's own lens model (`posebench.prepare.intrinsics`, model "h36m") and checked against
metadata.xml's calibration (a warning beyond 0.1 %; the worst view is recorded in the file's sources).
Facts: research/raw-formats.md §1, eval-anchors.md §4-6, margipose-reference.md §3, §8.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from posebench import __version__
from posebench.data import write_prepared
from posebench.errors import PosebenchError
from posebench.io_utils import sweep_leftovers
from posebench.lookalike import lookalike_attrs
from posebench.prepare import h36m_tables as T
from posebench.prepare.intrinsics import IntrinsicsFitError, fit_intrinsics_report, relative_deviation
from posebench.prepare.shards import ShardStore, input_fingerprints, run_tasks
from posebench.prepare.video import VideoError, index_video, iter_frames, save_jpeg
from posebench.skeleton import from_h36m

TEST_IMAGE_STRIDE = 64  # the h36m protocol's frames (0, 64, 128, ...)
DEFAULT_TRAIN_STRIDE = 5  # every 5th training frame (Sun et al. / SPIN); --image-stride, 0 = none
CALIBRATION_TOLERANCE = 0.001  # relative: warn beyond 0.1 % (the full-model fit is exact on data drawn with it)
LENS_MODEL = "h36m"  # k1, k2, k3 and the tangential pair (pA, pB), as metadata.xml <w0> has them
POSE_DIRS = {"mono": "D3_Positions_mono", "d2": "D2_Positions", "univ": "D3_Positions_mono_universal"}
LAYOUT = """expected the official layout under {src}:
  S<n>/MyPoseFeatures/D3_Positions_mono/<sequence>.<camera>.cdf            (required)
  S<n>/MyPoseFeatures/D2_Positions/<sequence>.<camera>.cdf                 (required)
  S<n>/MyPoseFeatures/D3_Positions_mono_universal/<sequence>.<camera>.cdf  (optional)
  S<n>/Videos/<sequence>.<camera>.mp4
e.g. S9/MyPoseFeatures/D3_Positions_mono/Directions 1.54138969.cdf (the archives' members, extracted in SRC)"""


class H36MError(PosebenchError):
    """The Human3.6M source tree or one of its files is not what the preparer expects."""


@dataclass(frozen=True)
class View:
    """One (subject, action, subaction, camera): one pose file per kind and one video."""

    subject: int
    action: int
    subaction: int
    sequence: str
    camera: int
    univ: bool = True  # read D3_Positions_mono_universal (when every subject of the split has it)

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.subject, self.action, self.subaction, self.camera)

    @property
    def stem(self) -> str:
        return f"{self.sequence}.{self.camera}"

    def pose_path(self, src: Path, kind: str) -> Path:
        return src / f"S{self.subject}" / "MyPoseFeatures" / POSE_DIRS[kind] / f"{self.stem}.cdf"

    def video_path(self, src: Path) -> Path:
        return src / f"S{self.subject}" / "Videos" / f"{self.stem}.mp4"

    def image_dir(self) -> str:
        return f"images/S{self.subject}/{self.stem}"


@dataclass
class Summary:
    """What a prepare run did: files written, views reused, warnings and broken videos."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # split -> {path, rows, content_hash}
    views: int = 0
    reused: int = 0
    warnings: list[str] = field(default_factory=list)
    broken_videos: list[str] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------------

def read_pose_cdf(path: str | os.PathLike, dims: int) -> np.ndarray:
    """The 'Pose' variable of a Human3.6M CDF as (N, 32, dims) float64; H36MError for anything else."""
    import cdflib

    path = Path(path)
    if not path.is_file():
        raise H36MError(f"{path}: no such pose file")
    try:
        raw = cdflib.CDF(str(path)).varget("Pose")
    except Exception as e:  # cdflib raises many types on a damaged file; all mean "not a usable CDF"
        raise H36MError(f"{path}: not a readable CDF file with a 'Pose' variable ({type(e).__name__}: {e})") from None
    a = np.asarray(raw)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]  # one record of (N, K), as the release stores it
    if a.ndim != 2 or a.shape[1] != 32 * dims or a.dtype.kind not in "fiu":
        raise H36MError(f"{path}: 'Pose' has shape {np.shape(raw)} ({a.dtype}), expected (1, N, {32 * dims}) numbers")
    a = a.astype(np.float64).reshape(len(a), 32, dims)
    if not np.isfinite(a).all():
        raise H36MError(f"{path}: 'Pose' holds {int((~np.isfinite(a)).sum())} non-finite values")
    return a


def plan_views(src: str | os.PathLike, subjects: Iterable[int]) -> tuple[list[View], list[str]]:
    """Every view of the subjects, checking the layout; returns (views, notes on optional parts absent)."""
    src = Path(src)
    if not src.is_dir():
        raise H36MError(f"{src}: no such folder\n{LAYOUT.format(src=src)}")
    views: list[View] = []
    notes: list[str] = []
    no_univ: set[int] = set()
    table = T.sequence_table()
    for s in subjects:
        if s not in T.SUBJECTS:
            released = ", ".join(f"S{x}" for x in T.SUBJECTS)
            raise H36MError(f"S{s} is not a released Human3.6M subject (released: {released})")
        if not (src / f"S{s}").is_dir():
            present = [x for x in T.SUBJECTS if (src / f"S{x}").is_dir()]
            hint = (f"\n{src} holds {', '.join(f'S{x}' for x in present)}: prepare those with "
                    f"`posebench prepare h36m --src {src} --out OUT --subjects {','.join(map(str, present))}`"
                    if present else "")
            raise H36MError(f"{src / f'S{s}'}: missing subject folder (asked for S{s}){hint}\n{LAYOUT.format(src=src)}")
        for kind in ("mono", "d2"):
            folder = src / f"S{s}" / "MyPoseFeatures" / POSE_DIRS[kind]
            if not folder.is_dir():
                raise H36MError(f"{folder}: missing folder\n{LAYOUT.format(src=src)}")
        if not (src / f"S{s}" / "MyPoseFeatures" / POSE_DIRS["univ"]).is_dir():
            no_univ.add(s)
        subject_views = [View(s, a, k, table[(s, a, k)], cam)
                         for a in T.ACTIONS for k in T.SUBACTIONS for cam in T.CAMERAS]
        present = [v for v in subject_views if v.pose_path(src, "mono").is_file()]
        if not present:
            raise H36MError(f"{src / f'S{s}' / 'MyPoseFeatures' / POSE_DIRS['mono']}: no pose file of the "
                            f"official names\n{LAYOUT.format(src=src)}")
        absent = sorted({v.sequence for v in subject_views} - {v.sequence for v in present})
        if absent:
            notes.append(f"S{s}: {len(absent)} of 30 sequences absent ({', '.join(absent[:3])}"
                         f"{', ...' if len(absent) > 3 else ''})")
        partial = sorted({v.stem for v in subject_views if v not in present and v.sequence not in absent})
        if partial:
            notes.append(f"S{s}: {len(partial)} views absent ({', '.join(partial[:3])}"
                         f"{', ...' if len(partial) > 3 else ''})")
        views.extend(present)
    missing = [str(v.pose_path(src, "d2")) for v in views if not v.pose_path(src, "d2").is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise H36MError(f"{missing[0]}: missing pose file{more} (D3_Positions_mono has it)\n{LAYOUT.format(src=src)}")
    for split, members in (("train", T.TRAIN_SUBJECTS), ("test", T.TEST_SUBJECTS)):
        lacking = sorted(no_univ & set(members))
        if lacking:  # a column is present for all rows of a file or for none
            notes.append(f"{split}: joints3d_univ left out ({', '.join(f'S{x}' for x in lacking)} "
                         f"without {POSE_DIRS['univ']})")
            views = [replace(v, univ=False) if v.subject in members else v for v in views]
    return views, notes


# --- one view ----------------------------------------------------------------------------------

def image_frames(subject: int, n: int, train_stride: int) -> np.ndarray:
    """The frames of a view that get a JPEG: every 64th for test subjects, every ``train_stride``-th else."""
    stride = TEST_IMAGE_STRIDE if subject in T.TEST_SUBJECTS else train_stride
    return np.arange(0, n, stride, dtype=np.int64) if stride > 0 else np.zeros(0, np.int64)


def _check_calibration(view: View, fitted: tuple[float, ...], size: tuple[int, int] | None) -> tuple[dict, str | None]:
    """Fitted vs metadata.xml intrinsics (scaled to a resized video, as look-alike trees have it); a warning
    beyond CALIBRATION_TOLERANCE at any size (D2_Positions must be in the video's pixels)."""
    if size is None:
        return {"calibration": None, "max_rel_deviation": None, "official_size": None}, None  # no video: unknown size
    calib = np.asarray(T.CALIBRATION[view.camera][:4])
    official = size in T.OFFICIAL_SIZES
    if not official:  # a resized video (look-alike data): intrinsics scale with the size
        full_w, full_h = T.CAMERA_SIZES[view.camera]
        calib = calib * np.array([size[0] / full_w, size[1] / full_h, size[0] / full_w, size[1] / full_h])
    dev = relative_deviation(fitted, calib)
    report = {"calibration": [float(x) for x in calib], "max_rel_deviation": float(dev.max()),
              "official_size": official}
    warning = None
    if dev.max() > CALIBRATION_TOLERANCE:
        warning = (f"S{view.subject} {view.stem}: fitted intrinsics {np.round(fitted, 2).tolist()} differ from the "
                   f"metadata.xml calibration {np.round(calib, 2).tolist()} by {100 * dev.max():.3f} % "
                   f"(> {100 * CALIBRATION_TOLERANCE:g} %)")
    return report, warning


def _write_frames(view: View, video: Path, out_dir: Path, n: int, train_stride: int,
                  report: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int] | None]:
    """JPEG the view's wanted frames; returns the image column and the video size (None: no usable video)."""
    image = np.full(n, "", dtype=object)
    folder = out_dir / view.image_dir()
    try:
        idx = index_video(video)
    except VideoError as e:
        report["broken_video"] = str(video)
        report["warnings"].append(f"{e}; its {n} rows keep their poses with image=''")
        return image, None
    report["video_frames"] = idx.frames
    if 0 < idx.frames < n:
        report["warnings"].append(f"{video}: {idx.frames} video frames for {n} poses; later rows have no image")
    wanted = [int(i) for i in image_frames(view.subject, n, train_stride)]
    if wanted:
        folder.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(folder)
    written = 0
    try:
        for i, frame in iter_frames(video, wanted):
            save_jpeg(frame, folder / f"{i:06d}.jpg")
            image[i] = f"{view.image_dir()}/{i:06d}.jpg"
            written += 1
    except VideoError as e:  # broken part-way: keep the frames written so far
        report["broken_video"] = str(video)
        report["warnings"].append(f"{e}; rows from there on keep their poses with image=''")
    expected = sum(i < idx.frames for i in wanted)
    if "broken_video" not in report and written < expected:
        report["warnings"].append(f"{video}: {expected - written} of {expected} wanted frames could not be decoded")
    return image, (idx.width, idx.height)


def prepare_view(src: str | os.PathLike, out_dir: str | os.PathLike, view: View,
                 train_stride: int = DEFAULT_TRAIN_STRIDE) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Columns of one view (one row per pose frame) and its report; writes its JPEG frames."""
    src, out_dir = Path(src), Path(out_dir)
    mono = read_pose_cdf(view.pose_path(src, "mono"), 3)
    d2 = read_pose_cdf(view.pose_path(src, "d2"), 2)
    univ_path = view.pose_path(src, "univ")
    univ = read_pose_cdf(univ_path, 3) if view.univ else None
    n = len(mono)
    for name, arr in (("D2_Positions", d2), ("D3_Positions_mono_universal", univ)):
        if arr is not None and len(arr) != n:
            raise H36MError(f"{view.pose_path(src, 'd2' if name == 'D2_Positions' else 'univ')}: {len(arr)} frames, "
                            f"but D3_Positions_mono has {n}")
    report: dict[str, Any] = {"view": f"S{view.subject}/{view.stem}", "frames": n, "warnings": []}
    try:
        fit = fit_intrinsics_report(mono, d2, model=LENS_MODEL)
    except IntrinsicsFitError as e:
        raise H36MError(f"{view.pose_path(src, 'mono')}: cannot fit intrinsics against D2_Positions ({e})") from None
    report["intrinsics_fit"] = {"fx": fit.fx, "fy": fit.fy, "cx": fit.cx, "cy": fit.cy, "k1": fit.k1, "k2": fit.k2,
                                "k3": fit.k3, "pA": fit.pa, "pB": fit.pb, "rms_px": fit.rms_px}

    image, size = _write_frames(view, view.video_path(src), out_dir, n, train_stride, report)
    report["video_size"] = list(size) if size else None
    check, warning = _check_calibration(view, fit.intrinsics, size)
    report["calibration_check"] = check
    if warning:
        report["warnings"].append(warning)

    cols: dict[str, np.ndarray] = {
        "joints3d": from_h36m(mono).astype(np.float32),
        "joints2d": from_h36m(d2).astype(np.float32),
        "intrinsics": np.tile(np.asarray(fit.intrinsics, np.float32), (n, 1)),
        "subject": np.full(n, view.subject, np.int64),
        "camera": np.full(n, view.camera, np.int64),
        "frame": np.arange(n, dtype=np.int64),
        "action": np.full(n, T.ACTION_NAMES[view.action], dtype=object),
        "subaction": np.full(n, view.subaction, np.int64),
        "sequence": np.full(n, view.sequence, dtype=object),
        "take": np.full(n, f"S{view.subject}/{view.sequence}", dtype=object),
        "image": image,
    }
    if univ is not None:
        try:
            ufit = fit_intrinsics_report(univ, d2, model=LENS_MODEL)
        except IntrinsicsFitError as e:
            raise H36MError(f"{univ_path}: cannot fit intrinsics against D2_Positions ({e})") from None
        cols["joints3d_univ"] = from_h36m(univ).astype(np.float32)
        cols["intrinsics_univ"] = np.tile(np.asarray(ufit.intrinsics, np.float32), (n, 1))
        report["intrinsics_univ_fit"] = {"fx": ufit.fx, "fy": ufit.fy, "cx": ufit.cx, "cy": ufit.cy,
                                         "rms_px": ufit.rms_px}
    return cols, report


# --- the run -------------------------------------------------------------------------------------

def _fingerprint_spec(src: Path, view: View, train_stride: int) -> tuple[list[Any], list[Path]]:
    parts: list[Any] = [__version__, list(view.key), view.sequence, view.univ, train_stride, TEST_IMAGE_STRIDE,
                        LENS_MODEL]
    return parts, [view.pose_path(src, k) for k in POSE_DIRS] + [view.video_path(src)]


def parse_subjects(values: Iterable[str | int] | None) -> tuple[int, ...]:
    """'9', 'S9', '9,11', ['S1', '5'] -> sorted subject numbers (all released subjects when empty)."""
    out: set[int] = set()
    for v in values or ():
        for part in str(v).replace(",", " ").split():
            p = part.upper().removeprefix("S")
            if not p.isdigit():
                raise H36MError(f"{part!r} is not a subject (use 9, S9 or 9,11)")
            out.add(int(p))
    return tuple(sorted(out)) or T.SUBJECTS


def prepare_h36m(src: str | os.PathLike, out: str | os.PathLike, jobs: int = 1,
                 subjects: Sequence[int] | None = None, image_stride: int = DEFAULT_TRAIN_STRIDE,
                 progress: bool = True, keep_shards: bool = False,
                 on_view_done: Callable[[tuple], None] | None = None) -> Summary:
    """Prepare DATA/h36m/train.h5 (S1, S5-S8) and/or test.h5 (S9, S11) from an extracted release.

    Views run in parallel (joblib) and land as shards under DATA/h36m/.shards/ first, so an interrupted
    run resumes where it stopped; the split files are merged in sorted order and renamed into place.
    """
    if image_stride < 0:
        raise H36MError(f"--image-stride must be >= 0 (0: no training images), got {image_stride}")
    src, out_dir = Path(src), Path(out) / "h36m"
    subjects = tuple(sorted(set(subjects or T.SUBJECTS)))
    views, notes = plan_views(src, subjects)
    summary = Summary(views=len(views), warnings=list(notes))
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out_dir)  # a final file from an interrupted merge (its writer is gone)
    store = ShardStore(out_dir / ".shards")
    prints = input_fingerprints({v.key: _fingerprint_spec(src, v, image_stride) for v in views}, jobs=jobs)
    tasks = {v.key: (prepare_view, (src, out_dir, v, image_stride)) for v in views}
    summary.reused = run_tasks(store, tasks, prints, jobs=jobs, progress=progress, desc="h36m views", unit="view",
                               on_done=on_view_done)

    for split, split_subjects in (("train", T.TRAIN_SUBJECTS), ("test", T.TEST_SUBJECTS)):
        keys = [v.key for v in views if v.subject in split_subjects]
        if not keys:
            continue
        cols, reports = store.merge(keys)
        for r in reports:
            summary.warnings.extend(r["warnings"])
            if "broken_video" in r:
                summary.broken_videos.append(r["broken_video"])
        attrs = {"dataset": "h36m", "split": split, "sources": _sources(split, subjects, image_stride, reports),
                 **lookalike_attrs(src)}
        path = out_dir / f"{split}.h5"
        content_hash = write_prepared(path, cols, attrs)
        summary.outputs[split] = {"path": str(path), "rows": int(len(cols["frame"])), "content_hash": content_hash,
                                  "images": int((cols["image"] != "").sum())}
    if not keep_shards:
        store.remove()
    return summary


def _sources(split: str, subjects: Sequence[int], image_stride: int, reports: list[dict]) -> dict[str, Any]:
    """Provenance (deterministic: no paths or times): what was read and how."""
    devs = {r["view"]: d for r in reports if (d := r["calibration_check"]["max_rel_deviation"]) is not None}
    worst = max(devs, key=devs.__getitem__) if devs else None
    return {
        "release": "Human3.6M (vision.imar.ro), D3_Positions_mono + D2_Positions (+ D3_Positions_mono_universal)",
        "subjects": [s for s in subjects if s in (T.TEST_SUBJECTS if split == "test" else T.TRAIN_SUBJECTS)],
        "views": len(reports),
        "image_stride": TEST_IMAGE_STRIDE if split == "test" else image_stride,
        "image_names": "images/S<s>/<sequence>.<camera>/<frame:06d>.jpg, 0-based frame index",
        "intrinsics": ("fitted per view from D3_Positions_mono vs D2_Positions with Human3.6M's lens model "
                       "(pinhole + k1, k2, k3 + tangential pA, pB; soft-L1)"),
        "calibration_max_rel_deviation": devs[worst] if devs else None,
        "calibration_median_rel_deviation": float(np.median(list(devs.values()))) if devs else None,
        "calibration_worst_view": worst,
        "calibration_warning_threshold": CALIBRATION_TOLERANCE,
        "broken_videos": sorted(r["view"] for r in reports if "broken_video" in r),
        "joint_map": "posebench.skeleton.H36M_TO_CANONICAL",
    }


# --- archives --------------------------------------------------------------------------------------

def _md5(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_archives(folder: str | os.PathLike) -> dict[str, str]:
    """Check downloaded archives against the published MD5 sums: name -> 'ok' | 'mismatch' | 'missing'.

    Looks for each archive as <folder>/<name>, <folder>/archives/<name> or the server's
    <folder>/Poses/<kind>/SubjectSpecific_<k>.tgz, Videos/SubjectSpecific_<k>.tgz.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise H36MError(f"{folder}: no such archive folder")
    server = T.server_names()
    out: dict[str, str] = {}
    for name, expected in T.ARCHIVE_MD5.items():
        places = (folder / name, folder / "archives" / name, folder / server[name])
        found = next((p for p in places if p.is_file()), None)
        out[name] = "missing" if found is None else ("ok" if _md5(found) == expected else "mismatch")
    return out
