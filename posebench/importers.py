"""Predictions in the layouts other tools write -> posebench's (joints3d (M,17,3) mm canonical, index (M,)).

Layouts (``--from``):
* ``posebench``: HDF5/.npz with `joints3d` + `index` (docs/contracts.md).
* ``videopose3d``: .npz whose `positions_3d` is {subject 'S9': {sequence 'Directions 1': [one (T,17,3) array
  per camera, in metadata order]}}, every frame of each sequence, metres or mm, `h36m17` order.
* ``mmpose``: mmpose's 3D results, JSON (`instance_info`: [{frame_id, instances: [{keypoints (17,3)}]}], or a
  list of such entries) or a pickle of `preds`/`target_image_paths` dicts read by a loader that builds only
  plain data; entries carrying `index` or an image path are matched by it, others are taken in template order.
* ``mpi-mat``: the `inference_data.mat` MPI-INF-3DHP lifting papers feed the official test scripts: `TS1`..`TS6`
  each 3x17x1xN over that sequence's valid frames in order, root-relative universal mm, `mpi17` order.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posebench.predictions import LAYOUT_HINT, PredictionsError, read_predictions
from posebench.safeload import UnsafePickleError, load_npz, load_pickle
from posebench.skeleton import NUM_JOINTS, check_order, order_permutation

FORMATS: dict[str, str] = {
    "posebench": "joints3d + index (HDF5 or .npz)",
    "videopose3d": "VideoPose3D .npz: positions_3d {subject: {sequence: [per-camera (T,17,3)]}}",
    "mmpose": "mmpose 3D results (JSON, or a pickle of plain data)",
    "mpi-mat": "MPI-INF-3DHP inference_data.mat (TS1..TS6, 3x17x1xN)",
}
DEFAULT_ORDER = {"posebench": "canonical", "videopose3d": "h36m17", "mmpose": "h36m17", "mpi-mat": "mpi17"}
EXPECTED = LAYOUT_HINT


class ImportFormatError(PredictionsError):
    """A predictions file is not in the layout it was read as; the message names the expected one."""


@dataclass
class Imported:
    """Predictions brought to posebench's form, with what was assumed on the way."""

    joints3d: np.ndarray
    index: np.ndarray
    fmt: str
    joint_order: str
    scale: float
    checked: bool = False  # True: already passed check_predictions, units included, as returned


def detect_format(path: str | os.PathLike) -> str:
    """The layout of a predictions file, from its name and (for .npz) its members."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "mpi-mat"
    if suffix in (".json", ".pkl", ".pickle"):
        return "mmpose"
    if suffix == ".npz":
        try:
            import zipfile

            with zipfile.ZipFile(path) as z:
                names = {n[:-4] for n in z.namelist()}
        except (OSError, zipfile.BadZipFile):
            return "posebench"
        if "positions_3d" in names and "joints3d" not in names:
            return "videopose3d"
    return "posebench"


def import_predictions(path: str | os.PathLike, data: Any, rows: np.ndarray, fmt: str | None = None,
                       joint_order: str | None = None) -> Imported:
    """Read ``path`` in layout ``fmt`` (default: detected) against prepared ``data`` whose ``rows`` a protocol scores.

    Joints are reordered from ``joint_order`` (default: the layout's usual order) to canonical, refused when
    another known order fits much better, and metres become mm.
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown predictions layout {fmt!r}; known: {', '.join(FORMATS)}")
    if not Path(path).is_file():
        raise PredictionsError(f"{path}: no such predictions file" if not Path(path).exists()
                               else f"{path}: not a regular file")
    order = joint_order or DEFAULT_ORDER[fmt]
    order_permutation(order)  # unknown names fail here, before reading
    try:
        if fmt == "posebench":  # at most as many rows as the prepared file: shapes checked before reading
            # Fully checked here when no reordering follows; else the caller checks units on canonical joints.
            joints, index = read_predictions(path, max_rows=len(data) if data is not None else None,
                                             check_units=order == "canonical")
        elif fmt == "videopose3d":
            joints, index = _videopose3d(path, data)
        elif fmt == "mmpose":
            joints, index = _mmpose(path, data, rows)
        else:
            joints, index = _mpi_mat(path, data)
    except UnsafePickleError as e:
        raise ImportFormatError(f"{e}; {EXPECTED}") from None
    out = finish(joints, index, fmt, order, where=str(path))
    out.checked = fmt == "posebench" and order == "canonical"
    return out


def finish(joints: np.ndarray, index: np.ndarray, fmt: str, order: str, where: str = "predictions") -> Imported:
    """Reorder to canonical (refusing a clearly different order), metres -> mm; checks shapes and values."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ImportFormatError(f"{where}: joints have shape {joints.shape}, expected (M, 17, 3); {EXPECTED}")
    try:
        check_order(joints, order)
    except ValueError as e:
        raise PredictionsError(f"{where}: {e}") from None
    perm = order_permutation(order)
    if not np.array_equal(perm, np.arange(NUM_JOINTS)):  # canonical already: no copy
        joints = joints[:, perm]
    scale = 1.0
    finite = np.isfinite(joints).all(axis=(1, 2)) if fmt != "posebench" else None
    if finite is not None and finite.any():
        from posebench.skeleton import BONES

        p, c = np.array(BONES).T
        median = float(np.median(np.linalg.norm(joints[finite][:, c] - joints[finite][:, p], axis=-1)))
        if 0 < median < 5:  # metres (an adult's median bone is ~0.25 m)
            scale = 1000.0
            joints = joints * scale
    return Imported(joints, np.asarray(index, dtype=np.int64), fmt, order, scale)


# --- VideoPose3D ----------------------------------------------------------------------------------

def _canon_sequence(name: str) -> str:
    # VideoPose3D renames S1's 'TakingPhoto'/'WalkingDog' files to the other subjects' 'Photo'/'WalkDog'.
    return str(name).replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")


def _videopose3d(path: str | os.PathLike, data: Any) -> tuple[np.ndarray, np.ndarray]:
    z = load_npz(path)
    if "positions_3d" not in z:
        raise ImportFormatError(f"{path}: no `positions_3d` (has: {', '.join(sorted(z)) or 'nothing'}); "
                                f"VideoPose3D layout is positions_3d = {{'S9': {{'Directions 1': [per-camera "
                                f"(T,17,3)]}}}}; {EXPECTED}")
    tree = z["positions_3d"]
    if not isinstance(tree, dict):
        raise ImportFormatError(f"{path}: `positions_3d` is a {type(tree).__name__}, expected a dict "
                                f"{{'S9': {{'Directions 1': [per-camera (T,17,3)]}}}}; {EXPECTED}")
    subject = np.asarray(data["subject"]).astype(np.int64)
    camera = np.asarray(data["camera"]).astype(np.int64)
    frame = np.asarray(data["frame"]).astype(np.int64)
    sequence = np.array([_canon_sequence(s) for s in np.asarray(data["sequence"])], dtype=object)
    out_j, out_i = [], []
    for skey, seqs in tree.items():
        try:
            s = int(str(skey).lstrip("Ss"))
        except ValueError:
            raise ImportFormatError(f"{path}: subject key {skey!r} is not like 'S9'; {EXPECTED}") from None
        in_subject = subject == s
        if not in_subject.any():
            continue  # e.g. training subjects in a file that also holds the test set
        if not isinstance(seqs, dict):
            raise ImportFormatError(f"{path}: positions_3d[{skey!r}] is not a dict of sequences; {EXPECTED}")
        cams = np.unique(camera[in_subject])
        for qkey, per_cam in seqs.items():
            in_seq = in_subject & (sequence == _canon_sequence(qkey))
            if not in_seq.any():
                raise ImportFormatError(f"{path}: {skey}/{qkey!r} is not a sequence of the prepared file")
            arrays = list(per_cam) if isinstance(per_cam, (list, tuple)) else [per_cam]
            if len(arrays) != len(cams):
                raise ImportFormatError(f"{path}: {skey}/{qkey} holds {len(arrays)} arrays; expected one per camera "
                                        f"({len(cams)}: {', '.join(map(str, cams))}, in that order)")
            for cam, arr in zip(cams, arrays):
                arr = np.asarray(arr)
                if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3) or arr.dtype.kind not in "fiu":
                    raise ImportFormatError(f"{path}: {skey}/{qkey} camera {cam}: shape {arr.shape} {arr.dtype}, "
                                            f"expected numeric (T, 17, 3)")
                r = np.flatnonzero(in_seq & (camera == cam))
                r = r[frame[r] < len(arr)]
                out_j.append(arr[frame[r]])
                out_i.append(r)
    if not out_j:
        raise ImportFormatError(f"{path}: positions_3d names none of the prepared file's subjects "
                                f"({', '.join(f'S{s}' for s in np.unique(subject))})")
    return np.concatenate(out_j), np.concatenate(out_i)


# --- mmpose -----------------------------------------------------------------------------------------

def _mmpose(path: str | os.PathLike, data: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if Path(path).suffix.lower() == ".json":
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ImportFormatError(f"{path}: not readable JSON ({e}); {EXPECTED}") from None
    else:
        obj = load_pickle(path)
    joints, paths, index = _mmpose_entries(obj, path)
    if index is not None:
        return joints, index
    if paths is not None:
        return joints, _match_images(paths, data, path)
    if len(joints) != len(rows):
        raise ImportFormatError(f"{path}: {len(joints)} results carry neither `index` nor an image path, so they are "
                                f"taken in template order, but the protocol scores {len(rows)} rows; {EXPECTED}")
    return joints, np.asarray(rows, dtype=np.int64)


def _best_instance(instances: Any, where: str) -> np.ndarray:
    if not isinstance(instances, list) or not instances:
        raise ImportFormatError(f"{where}: no instances")
    def score(inst: dict) -> float:
        s = inst.get("keypoint_scores")
        return float(np.mean(s)) if s is not None and len(np.ravel(s)) else 0.0
    best = max(instances, key=score) if len(instances) > 1 else instances[0]
    kp = np.asarray(best.get("keypoints") if isinstance(best, dict) else None, dtype=np.float64)
    return kp.reshape(-1, kp.shape[-1])[:, :3] if kp.ndim >= 2 else kp


def _mmpose_entries(obj: Any, path: Any) -> tuple[np.ndarray, list[str] | None, np.ndarray | None]:
    if isinstance(obj, dict) and "instance_info" in obj:
        obj = obj["instance_info"]
    if not isinstance(obj, list) or not obj or not all(isinstance(e, dict) for e in obj):
        raise ImportFormatError(f"{path}: not mmpose 3D results (a list of per-frame dicts, or "
                                f"{{'instance_info': [...]}}); {EXPECTED}")
    if all("preds" in e for e in obj):  # mmpose 0.x test outputs: batches of preds + target_image_paths
        joints = np.concatenate([np.asarray(e["preds"], dtype=np.float64)[..., :3] for e in obj])
        key = next((k for k in ("target_image_paths", "image_paths", "img_paths") if k in obj[0]), None)
        paths = [str(p) for e in obj for p in e[key]] if key else None
        if paths is not None and len(paths) != len(joints):
            raise ImportFormatError(f"{path}: {len(joints)} poses but {len(paths)} image paths")
        return joints, paths, None
    if all("instances" in e for e in obj):
        if all("frame_id" in e for e in obj):
            obj = sorted(obj, key=lambda e: int(e["frame_id"]))
        joints = np.stack([_best_instance(e["instances"], f"{path}: frame {e.get('frame_id', i)}")
                           for i, e in enumerate(obj)])
    elif all("keypoints" in e for e in obj):
        joints = np.stack([_best_instance([e], f"{path}: entry {i}") for i, e in enumerate(obj)])
    else:
        raise ImportFormatError(f"{path}: entries hold neither `instances` nor `keypoints`; {EXPECTED}")
    if all("index" in e for e in obj):
        return joints, None, np.asarray([int(e["index"]) for e in obj], dtype=np.int64)
    key = next((k for k in ("img_path", "image", "image_path") if all(k in e for e in obj)), None)
    return joints, ([str(e[key]) for e in obj] if key else None), None


def _match_images(paths: list[str], data: Any, where: Any) -> np.ndarray:
    """Prepared rows whose `image` path is each given path, or shares its last three (else two) components."""
    images = np.asarray(data["image"]).astype(str)
    index: dict[str, int] = {}
    for depth in (0, 3, 2):  # exact paths first, then tails under another root; an ambiguous tail is dropped
        tails: dict[str, int] = {}
        for i, p in enumerate(images):
            if p:
                key = p if depth == 0 else "/".join(p.split("/")[-depth:])
                tails[key] = -1 if key in tails else i
        for key, i in tails.items():
            index.setdefault(key, i)
    out = np.empty(len(paths), dtype=np.int64)
    for k, p in enumerate(paths):
        q = p.replace("\\", "/")
        hit = next((index[t] for t in (q, "/".join(q.split("/")[-3:]), "/".join(q.split("/")[-2:]))
                    if index.get(t, -1) >= 0), None)
        if hit is None:
            example = next((x for x in images if x), "")
            raise ImportFormatError(f"{where}: image {p!r} is not an image of the prepared file (e.g. {example!r}); "
                                    f"give `index` per entry instead")
        out[k] = hit
    return out


# --- MPI-INF-3DHP inference_data.mat ---------------------------------------------------------------

def _read_mat(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        head = f.read(128)
    if b"MATLAB 7.3" in head[:116] or head[512:520] == b"\x89HDF\r\n\x1a\n":
        from posebench.h5safe import UnsafeFileError, open_h5, plain_dataset, read_dataset

        try:
            with open_h5(path, "MAT-file") as f:
                return {k: np.asarray(read_dataset(plain_dataset(f, k))).T for k in f.keys() if k.startswith("TS")}
        except UnsafeFileError as e:
            raise ImportFormatError(str(e)) from None
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as e:
        raise ImportFormatError(f"{path}: not a readable MAT-file ({e}); MPI-INF-3DHP layout is TS1..TS6 "
                                f"3x17x1xN; {EXPECTED}") from None
    return {k: v for k, v in m.items() if not k.startswith("__")}


def _mpi_mat(path: str | os.PathLike, data: Any) -> tuple[np.ndarray, np.ndarray]:
    mat = _read_mat(path)
    names = sorted(k for k in mat if k.startswith("TS") and k[2:].isdigit())
    if not names:
        raise ImportFormatError(f"{path}: no TS1..TS6 variables (has: {', '.join(sorted(mat)) or 'nothing'}); "
                                f"expected one 3x17x1xN array per test sequence; {EXPECTED}")
    if "valid" not in data:
        raise ImportFormatError(f"{path}: MPI-INF-3DHP .mat predictions need the test set's `valid` column "
                                f"(prepared file {getattr(data, 'path', '')} has none)")
    subject = np.asarray(data["subject"]).astype(np.int64)
    valid = np.asarray(data["valid"]).astype(bool)
    frame = np.asarray(data["frame"]).astype(np.int64)
    out_j, out_i = [], []
    for name in names:
        a = np.asarray(mat[name])
        if a.dtype.kind not in "fiu" or a.shape[:2] != (3, NUM_JOINTS) or a.ndim not in (3, 4) \
                or (a.ndim == 4 and a.shape[2] != 1):
            raise ImportFormatError(f"{path}: {name} has shape {a.shape} {a.dtype}, expected numeric 3x17x1xN")
        joints = a.reshape(3, NUM_JOINTS, -1).transpose(2, 1, 0)
        r = np.flatnonzero((subject == int(name[2:])) & valid)
        r = r[np.argsort(frame[r], kind="stable")]
        if len(r) != len(joints):
            raise ImportFormatError(f"{path}: {name} holds {len(joints)} frames but the prepared test set has "
                                    f"{len(r)} valid frames of {name} (one prediction per valid frame, in order)")
        out_j.append(joints)
        out_i.append(r)
    return np.concatenate(out_j), np.concatenate(out_i)
