"""MPII Human Pose (`mpii_human_pose_v1_u12_1.mat` + `images/`) -> DATA/mpii/train.h5 and val.h5 (2D contract).

One row per annotated training person (img_train == 1, with annopoints): the 16 MPII joints mapped to the
canonical 17 by :func:`posebench.skeleton.from_mpii` (head and spine synthesised, with their masks), `centre`
(objpos), `scale` (person height / 200 px), the head box (x1, y1, x2, y2; PCKh uses it) and visibility.
Coordinates are kept as released (MATLAB pixel coordinates). Facts and quirks: research/raw-formats.md §4.

Validation split (documented, deterministic): an image goes to val when the first byte of SHA-1 of its file
name is < 26 (about 10 %), so all persons of an image share a split and the split does not depend on file order
or on the posebench version. Or pass a text file of 0-based annolist indices, one per line (`--val-indices`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebench.io_utils import atomic_path, file_sha256, sweep_leftovers
from posebench.prepare.matfile import MatFileError, load_v5
from posebench.prepare.mpi_common import PrepareError
from posebench.skeleton import from_mpii

MAT_NAME = "mpii_human_pose_v1_u12_1.mat"
VAL_HASH_BELOW = 26  # first SHA-1 byte of the image name < 26 -> val (26/256 = 10.2 %)


class MpiiError(PrepareError):
    """The MPII source tree or annotation file is not what the preparer expects."""


def _items(x: Any) -> list[Any]:
    """A MATLAB struct array / cell / scalar as a list (squeeze_me collapses 1-element arrays)."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _field(obj: Any, name: str) -> Any:
    """A struct field, or None when the struct lacks it or it is empty."""
    v = getattr(obj, name, None) if hasattr(obj, "_fieldnames") else None
    if isinstance(v, np.ndarray) and v.size == 0:
        return None
    if isinstance(v, str) and v == "":
        return None
    return v


def _number(x: Any) -> float | None:
    """A scalar from int / float / 1-element array / '0'-'1' chars; None for empty."""
    if x is None:
        return None
    if isinstance(x, str):
        x = x.strip()
        if not x:
            return None
        try:
            return float(x)
        except ValueError:
            return None
    a = np.asarray(x)
    if a.size != 1 or a.dtype.kind not in "biuf":
        return None
    v = float(a.ravel()[0])
    return v if np.isfinite(v) else None


def find_mat(src: Path) -> Path:
    """The annotation file under ``src`` (top level or the unzipped mpii_human_pose_v1_u12_2/ folder)."""
    for p in (src / MAT_NAME, src / "mpii_human_pose_v1_u12_2" / MAT_NAME):
        if p.is_file():
            return p
    if src.is_file() and src.suffix == ".mat":
        return src
    raise MpiiError(f"{src}: no {MAT_NAME} (unzip mpii_human_pose_v1_u12_2.zip here)")


def read_annotations(path: str | os.PathLike) -> dict[str, Any]:
    """Parse the RELEASE struct -> per-person arrays (16-joint, annolist index, person index, ...) + counts."""
    path = Path(path)
    mat = load_v5(path, "the MAT v5 MPII annotation file", struct_as_record=False, squeeze_me=True)
    if "RELEASE" not in mat:
        raise MatFileError(f"{path}: no RELEASE struct")
    rel = mat["RELEASE"]
    annolist = _items(_field(rel, "annolist"))
    train_flags = np.atleast_1d(np.asarray(_field(rel, "img_train") if _field(rel, "img_train") is not None else []))
    if not annolist:
        raise MatFileError(f"{path}: RELEASE.annolist is missing or empty")
    if train_flags.dtype.kind not in "biuf" or train_flags.shape != (len(annolist),):
        raise MatFileError(f"{path}: RELEASE.img_train has shape {train_flags.shape}, expected ({len(annolist)},) numbers")
    rows: dict[str, list] = {k: [] for k in ("joints", "visible", "present", "centre", "scale", "head_box",
                                               "has_head_box", "name", "index", "person", "single_person")}
    single = _single_person(_field(rel, "single_person"), len(annolist), path)
    skipped = {"test_images": 0, "no_annopoints": 0, "no_scale_or_objpos": 0}
    for i, entry in enumerate(annolist):
        if not hasattr(entry, "_fieldnames"):
            raise MatFileError(f"{path}: annolist({i + 1}) is not a struct")
        if train_flags[i] != 1:
            skipped["test_images"] += 1
            continue
        image = _field(entry, "image")
        name = _field(image, "name") if image is not None else None
        if not isinstance(name, str) or "/" in name or "\\" in name or name in (".", ".."):
            raise MatFileError(f"{path}: annolist({i + 1}).image.name is missing or not a plain file name ({name!r})")
        for r, rect in enumerate(_items(_field(entry, "annorect"))):
            if not hasattr(rect, "_fieldnames"):
                continue
            points = _items(_field(_field(rect, "annopoints"), "point")) if _field(rect, "annopoints") is not None else []
            if not points:
                skipped["no_annopoints"] += 1
                continue
            scale = _number(_field(rect, "scale"))
            objpos = _field(rect, "objpos")
            cx, cy = (_number(_field(objpos, "x")), _number(_field(objpos, "y"))) if objpos is not None else (None, None)
            if scale is None or cx is None or cy is None or scale <= 0:
                skipped["no_scale_or_objpos"] += 1
                continue
            joints = np.zeros((16, 2))
            vis = np.zeros(16, dtype=bool)
            present = np.zeros(16, dtype=bool)  # a missing joint is one absent from the .mat (not x*y == 0)
            for p in points:
                pid, x, y = (_number(_field(p, k)) for k in ("id", "x", "y"))
                if pid is None or x is None or y is None:
                    continue
                if pid != int(pid) or not 0 <= pid <= 15:
                    raise MatFileError(f"{path}: annolist({i + 1}).annorect({r + 1}) has joint id {pid}, expected 0..15")
                joints[int(pid)] = (x, y)
                present[int(pid)] = True
                vis[int(pid)] = _number(_field(p, "is_visible")) == 1
            box = [_number(_field(rect, k)) for k in ("x1", "y1", "x2", "y2")]
            rows["joints"].append(joints)
            rows["visible"].append(vis)
            rows["present"].append(present)
            rows["centre"].append((cx, cy))
            rows["scale"].append(scale)
            rows["head_box"].append([0.0 if b is None else b for b in box])
            rows["has_head_box"].append(None not in box)
            rows["name"].append(name)
            rows["index"].append(i)
            rows["person"].append(r)
            rows["single_person"].append(r + 1 in single.get(i, ()))  # single_person holds 1-based rect indices
    if not rows["joints"]:
        raise MatFileError(f"{path}: no annotated training person found")
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["name"] = out["name"].astype(object)
    out["skipped"] = skipped
    out["n_images"] = len(annolist)
    return out


def _single_person(value: Any, n: int, path: Path) -> dict[int, set[int]]:
    """RELEASE.single_person (n x 1 cell of 1-based rect indices, or empty) -> image index -> set of indices."""
    if value is None:
        return {}
    cells = list(np.asarray(value, dtype=object).ravel())
    if len(cells) != n:
        raise MatFileError(f"{path}: RELEASE.single_person has {len(cells)} entries, expected {n}")
    out = {}
    for i, c in enumerate(cells):
        a = np.atleast_1d(np.asarray(c))
        if a.size and a.dtype.kind in "iuf":
            out[i] = {int(x) for x in a.ravel() if np.isfinite(x)}
    return out


def default_is_val(names: Sequence[str]) -> np.ndarray:
    """The documented default split: SHA-1(image name)[0] < VAL_HASH_BELOW -> val."""
    return np.array([hashlib.sha1(n.encode()).digest()[0] < VAL_HASH_BELOW for n in names], dtype=bool)


def read_val_indices(path: str | os.PathLike, n_images: int) -> np.ndarray:
    """A text file of 0-based annolist indices (one per line, '#' comments) -> sorted unique array."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MpiiError(f"{path}: cannot read the validation index list ({type(e).__name__})") from None
    for lineno, line in enumerate(lines, start=1):
        t = line.split("#", 1)[0].strip()
        if not t:
            continue
        if not t.isdigit() or int(t) >= n_images:
            raise MpiiError(f"{path}:{lineno}: {t!r} is not an annolist index in 0..{n_images - 1}")
        out.append(int(t))
    if not out:
        raise MpiiError(f"{path}: no validation indices")
    return np.unique(out)


def _copy_images(names: Sequence[str], src: Path, dst: Path) -> list[str]:
    missing = []
    for n in names:
        s, d = src / n, dst / n
        if d.is_file():
            continue
        if not s.is_file():
            missing.append(n)
            continue
        with atomic_path(d) as tmp:
            shutil.copyfile(s, tmp)
    return missing


def prepare_mpii(src: str | os.PathLike, out: str | os.PathLike, images: bool = True,
                 val_indices: str | os.PathLike | None = None, jobs: int = 1, progress: bool = True,
                 echo=print) -> tuple[Path, Path]:
    """Prepare DATA/mpii/train.h5 and val.h5; returns both paths."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    from posebench.data import write_prepared
    from posebench.lookalike import lookalike_attrs

    src = Path(src)
    if not src.exists():
        raise MpiiError(f"{src}: no such folder (expected the MPII Human Pose release)")
    mat_path = find_mat(src)
    ann = read_annotations(mat_path)
    out_dir = Path(out) / "mpii"
    sweep_leftovers(out_dir)
    names = ann["name"]
    keep = np.ones(len(names), dtype=bool)
    missing: list[str] = []
    if images:
        img_src = src / "images"
        if not img_src.is_dir():
            raise MpiiError(f"{img_src}: no images folder (unpack mpii_human_pose_v1.tar.gz, or pass --no-images)")
        unique = sorted(set(names))
        chunks = [unique[k:k + 500] for k in range(0, len(unique), 500)]
        results = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_copy_images)(c, img_src, out_dir / "images") for c in chunks)
        for m in tqdm(results, total=len(chunks), desc="mpii images", disable=not progress, unit="chunk"):
            missing += m
        keep = ~np.isin(names, missing)
    image_col = np.array([f"images/{n}" if images else "" for n in names], dtype=object)
    if val_indices is not None:
        is_val = np.isin(ann["index"], read_val_indices(val_indices, ann["n_images"]))
        split_rule = {"val_indices_file": str(val_indices), "sha256": file_sha256(val_indices)}
    else:
        is_val = default_is_val(names)
        split_rule = {"rule": f"sha1(image name)[0] < {VAL_HASH_BELOW}"}
    joints2d, mask = from_mpii(ann["joints"], present=ann["present"])
    _, visible = from_mpii(ann["joints"], ann["visible"], present=ann["present"])
    sources = {MAT_NAME: file_sha256(mat_path)}
    paths = []
    for split, rows in (("train", keep & ~is_val), ("val", keep & is_val)):
        cols = {"joints2d": joints2d[rows], "mask": mask[rows], "visible": visible[rows],
                "centre": ann["centre"][rows], "scale": ann["scale"][rows], "head_box": ann["head_box"][rows],
                "has_head_box": ann["has_head_box"][rows],
                "image": image_col[rows], "image_name": names[rows],
                "annolist_index": ann["index"][rows].astype(np.int64), "person": ann["person"][rows].astype(np.int64),
                "single_person": ann["single_person"][rows].astype(bool)}
        attrs = {"dataset": "mpii", "split": split, "kind": "2d", "sources": sources, "split_rule": split_rule,
                 "skipped": ann["skipped"], "missing_images": len(missing),
                 "coordinates": "as released (MATLAB pixel coordinates); person index 0-based", **lookalike_attrs(src)}
        target = out_dir / f"{split}.h5"
        write_prepared(target, cols, attrs)
        echo(f"{split}: {int(rows.sum())} persons from {len(set(names[rows]))} images -> {target}")
        paths.append(target)
    if missing:
        echo(f"{len(missing)} images named in the annotations are missing under {src / 'images'}; their persons were left out")
    return paths[0], paths[1]
