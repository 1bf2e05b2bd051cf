"""Look-alike MPII Human Pose release: `mpii_human_pose_v1_u12_1.mat` (the RELEASE struct) and `images/*.jpg`.

Writer side only (research/raw-formats.md §4): people drawn by `posebench.sample.body`/`motion` and
`posebench.sample.render`, annotated with the 16 MPII joints and written with the irregular nesting the real
file has (per-image annorect fields, missing and empty fields, is_visible as uint8 / char / empty, integer or
float coordinates, 1-based single_person indices, empty frame_sec / vididx). Nothing is shared with the preparers.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from posebench.io_utils import write_json_atomic
from posebench.sample.body import get_skeleton, random_body
from posebench.sample.geometry import look_at, project, world_to_camera
from posebench.sample.motion import motion
from posebench.sample.matv5 import cell, empty, struct_array, write_mat5
from posebench.sample.media import write_jpeg
from posebench.sample.render import render_frames

SKELETON = "mpi28"
MAT_NAME = "mpii_human_pose_v1_u12_1.mat"
# MPII joint ids 0..15 -> (source joint names of the 28-joint skeleton, weights): upper_neck lies between
# the neck and the head centre.
MPII_JOINTS = ("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
               "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist")
_SOURCE = {
    "r_ankle": "right_ankle", "r_knee": "right_knee", "r_hip": "right_hip", "l_hip": "left_hip",
    "l_knee": "left_knee", "l_ankle": "left_ankle", "pelvis": "pelvis", "thorax": "neck",
    "head_top": "head_top", "r_wrist": "right_wrist", "r_elbow": "right_elbow", "r_shoulder": "right_shoulder",
    "l_shoulder": "left_shoulder", "l_elbow": "left_elbow", "l_wrist": "left_wrist",
}
_ACTS = (("sports", "basketball", 1, "sports"), ("running", "jogging", 3, "walking"),
         ("home activities", "vacuuming", 10, "reaching"), ("lying", "lying, resting", 20, "lying"),
         ("occupation", "kneeling, general", 31, "crouching"),
         ("conditioning exercise", "calisthenics", 40, "exercising"),
         ("sitting", "sitting, talking", 50, "sitting"), ("miscellaneous", "standing, talking", 60, "standing"))
_SIZES = ((128, 96), (128, 72), (96, 128), (128, 128), (112, 84))


def mpii_joints(joints28: np.ndarray) -> np.ndarray:
    """(..., 28, D) source joints -> (..., 16, D) MPII joints (upper_neck = mean of neck and head centre)."""
    names = get_skeleton(SKELETON).joints
    out = np.empty(joints28.shape[:-2] + (16, joints28.shape[-1]))
    for i, name in enumerate(MPII_JOINTS):
        if name == "upper_neck":
            out[..., i, :] = 0.5 * (joints28[..., names.index("neck"), :] + joints28[..., names.index("head"), :])
        else:
            out[..., i, :] = joints28[..., names.index(_SOURCE[name]), :]
    return out


def _people(rng: np.random.Generator, n: int, action: str) -> list[np.ndarray]:
    """``n`` posed people (28, 3) z-up world mm, spread across the view at different depths."""
    out = []
    xs = np.linspace(-900.0 * (n - 1), 900.0 * (n - 1), n) + rng.uniform(-150, 150, n)
    for k in range(n):
        body = random_body(rng, SKELETON)
        act = action if k == 0 else str(rng.choice(["standing", "walking", "misc"]))
        frames = motion(body, act, 12, rng, fps=25)
        j = frames[int(rng.integers(len(frames)))]
        j[:, :2] -= j[4, :2]
        j[:, 0] += xs[k]
        j[:, 1] += rng.uniform(-300, 500) if k else 0.0
        out.append(j)
    return out


def _composite(people_cam: list[np.ndarray], intr, size, seed: int) -> np.ndarray:
    """One image with several people: each rendered alone over the same background and noise, pasted far
    to near (pixels where a person's render differs from the empty render)."""
    hidden = np.full((1, get_skeleton(SKELETON).num_joints, 3), -1000.0)
    img = render_frames(hidden, SKELETON, intr, size, seed=seed)[0]
    base = img.copy()
    for j in sorted(people_cam, key=lambda p: -p[4, 2]):
        alone = render_frames(j[None], SKELETON, intr, size, seed=seed)[0]
        person = (alone != base).any(-1)
        img[person] = alone[person]
    return img


def _visible(uv: np.ndarray, z: np.ndarray, uv_all: list[np.ndarray], z_all: list[np.ndarray], k: int) -> np.ndarray:
    """A joint is marked occluded when it lies behind its own torso (inside the shoulder-hip box, > 60 mm
    behind the pelvis) or inside a nearer person's joint box."""
    torso = uv[[2, 3, 12, 13]]
    lo, hi = torso.min(0), torso.max(0)
    inside = ((uv >= lo) & (uv <= hi)).all(1)
    vis = ~(inside & (z > z[6] + 60) & ~np.isin(np.arange(16), [2, 3, 6, 7, 12, 13]))
    for m, (uvm, zm) in enumerate(zip(uv_all, z_all)):
        if m != k and zm[6] < z[6]:
            vis &= ~((uv >= uvm.min(0)) & (uv <= uvm.max(0))).all(1)
    return vis


def _scalar(v, as_int: bool) -> np.ndarray:
    """A MATLAB scalar: an integer class (uint16, int16 when negative) or a double."""
    if not as_int:
        return np.array([[float(v)]])
    i = int(round(float(v)))
    return np.array([[i]], dtype=np.uint16 if i >= 0 else np.int16)


def _point_records(uv: np.ndarray, vis: np.ndarray, size, rng, as_int: bool, vis_style: str) -> tuple[list, list]:
    """MPII `point` records for the joints inside the image (others are left out, as truncated people's are),
    in a shuffled order, with the image's is_visible style; and the ids written."""
    w, h = size
    ids = [i for i in range(16) if 0 <= uv[i, 0] < w and 0 <= uv[i, 1] < h]
    rng.shuffle(ids)
    recs = []
    for i in ids:
        v = int(vis[i])
        if vis_style == "char":
            flag = str(v)
        elif vis_style == "empty" and i in (8, 9):
            flag = empty()
        else:
            flag = np.array([[v]], dtype=np.uint8)
        recs.append({"x": _scalar(uv[i, 0], as_int), "y": _scalar(uv[i, 1], as_int),
                     "id": np.array([[i]], dtype=np.uint8), "is_visible": flag})
    return recs, ids


def _image(idx: int, rng: np.random.Generator, train: bool, seed: int, kind: str,
           cap: int) -> tuple[dict, np.ndarray, dict]:
    """One annolist entry: its RELEASE pieces, the rendered image, and what it holds for the JSON record."""
    w, h = (int(round(v * cap / 128)) for v in _SIZES[int(rng.integers(len(_SIZES)))])
    cat, act_name, act_id, action = _ACTS[int(rng.integers(len(_ACTS)))]
    n = 0 if kind == "empty" else (2 if kind == "multi" else 1)
    people = _people(rng, n, action)
    depth = rng.uniform(2600, 3600) + 800 * max(n - 1, 0)
    centre = np.array([rng.uniform(-200, 200), -depth, rng.uniform(700, 1500)])
    rot = look_at(centre, np.array([0.0, 0.0, 700.0 if action == "lying" else 950.0]))
    f = rng.uniform(1.0, 1.4) * max(w, h)
    intr = (f, f, w / 2 + rng.uniform(-3, 3), h / 2 + rng.uniform(-3, 3))
    cam = [world_to_camera(p, rot, centre) for p in people]
    if kind == "truncated":  # shift the person so that part of the body leaves the image
        cam[0][:, 0] += 0.45 * w / f * cam[0][4, 2]
    img = _composite(cam, intr, (w, h), seed * 100003 + idx)
    uv16 = [mpii_joints(project(c, *intr)) for c in cam]
    z16 = [mpii_joints(c)[:, 2] for c in cam]
    as_int = bool(rng.random() < 0.4)
    vis_style = ("uint8", "char", "empty")[idx % 3]
    rects, people_meta = [], []
    for k, (uv, z) in enumerate(zip(uv16, z16)):
        vis = _visible(uv, z, uv16, z16, k)
        head = np.linalg.norm(uv[9] - uv[8])
        mid = 0.5 * (uv[9] + uv[8])
        box = np.concatenate([mid - 0.59 * head, mid + 0.59 * head])  # PCKh: 0.5*0.6*diag ~ half the head segment
        scale = (uv[:, 1].max() - uv[:, 1].min()) * 1.15 / 200.0
        objpos = 0.5 * (uv[6] + uv[7])
        rec = {"scale": np.array([[scale]]), "objpos": struct_array([{"x": _scalar(objpos[0], True),
                                                                      "y": _scalar(objpos[1], True)}], shape=(1, 1))}
        written = []
        if train:
            no_points = kind == "boxonly"
            rec = {"x1": _scalar(box[0], True), "y1": _scalar(box[1], True), "x2": _scalar(box[2], True),
                   "y2": _scalar(box[3], True), **rec}
            if no_points:
                rec["annopoints"] = empty()
            else:
                points, written = _point_records(uv, vis, (w, h), rng, as_int, vis_style)
                rec["annopoints"] = struct_array([{"point": struct_array(points, ["x", "y", "id", "is_visible"])}],
                                                 shape=(1, 1))
            rec = {k2: rec[k2] for k2 in ("x1", "y1", "x2", "y2", "annopoints", "scale", "objpos")}
        elif kind == "rotations":  # some test rects carry head/torso rotation entries
            for part in ("head", "torso"):
                r = look_at(np.zeros(3), rng.normal(0, 1, 3) + np.array([0, 3.0, 0]))
                rec.update({f"{part}_r{a + 1}{b + 1}": np.array([[r[a, b]]]) for a in range(3) for b in range(3)})
        rects.append(rec)
        people_meta.append({
            "joints": np.round(uv, 0 if as_int else 6).tolist() if train else uv.tolist(),
            "points_written": sorted(int(i) for i in written), "visible": vis.astype(int).tolist(),
            "head_box": [int(round(v)) for v in box], "scale": float(scale),
            "objpos": [int(round(v)) for v in objpos],
        })
    annorect = struct_array(rects) if rects else empty()
    name = f"{int(rng.integers(1, 10**9)):09d}.jpg"
    entry = {"image": struct_array([{"name": name}], shape=(1, 1)), "annorect": annorect,
             "frame_sec": empty() if idx % 2 else np.array([[int(rng.integers(1, 250))]], dtype=np.uint8),
             "vididx": empty() if idx % 2 else np.array([[idx % 3 + 1]], dtype=np.uint16)}
    meta = {"name": name, "size": [w, h], "train": train, "kind": kind, "act_id": act_id,
            "coordinates": "integer" if as_int else "float", "is_visible_style": vis_style, "people": people_meta}
    return entry, img, {"meta": meta, "act": (cat, act_name, act_id)}


def write_tree(out: str | os.PathLike, seed: int = 0, full: bool = False, size: int | None = None) -> dict:
    """Write a look-alike MPII tree under ``out``: the .mat annotation file and `images/`; return what was
    written (also saved as ``out/posebench-sample.json``). ``size`` caps the long image side (default 128)."""
    out = Path(out)
    start = time.perf_counter()
    cap = 128 if size is None else int(size)
    if not 32 <= cap <= 1024:
        raise ValueError(f"size must be in 32..1024 px, got {cap}")
    # Kinds of annolist entries: every path of the real file at least once in the default tree.
    kinds = ["single", "multi", "truncated", "boxonly", "single", "multi", "single",  # train
             "single", "rotations", "empty", "missing"]  # test (no joints)
    n_train = 7
    if full:
        kinds = ["single", "multi", "truncated", "single", "multi", "boxonly", "single", "single"] * 8 \
            + ["single", "rotations", "multi", "empty"] * 5 + ["missing"]
        n_train = 64
    if (out / "posebench-sample.json").is_file():  # an earlier look-alike tree: drop its images
        for old in (out / "images").glob("[0-9]" * 9 + ".jpg"):
            old.unlink()
    rng = np.random.default_rng([seed, 2014])
    entries, metas, acts, single = [], [], [], []
    for idx, kind in enumerate(kinds):
        train = idx < n_train
        entry, img, info = _image(idx, np.random.default_rng([seed, 2014, idx]), train, seed, kind, cap)
        if kind != "missing":
            write_jpeg(out / "images" / info["meta"]["name"], img)
        entries.append(entry)
        metas.append(info["meta"])
        acts.append(info["act"])
        people = info["meta"]["people"]
        ridx = [k + 1 for k in range(len(people))] if len(people) == 1 else (
            [1] if kind == "multi" and idx % 2 else [])
        single.append(np.array(ridx, dtype=np.uint8)[:, None] if ridx else empty())
        info["meta"]["single_person"] = ridx
    videos = [f"{''.join(rng.choice(list('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'), 11))}"
              for _ in range(3)]
    act_records = [{"cat_name": cat if k % 4 else empty(), "act_name": name if k % 4 else empty(),
                    "act_id": np.array([[float(aid if k % 4 else -1)]])} for k, (cat, name, aid) in enumerate(acts)]
    release = struct_array([{
        "annolist": struct_array(entries, ["image", "annorect", "frame_sec", "vididx"]),
        "img_train": np.array([[1.0 if m["train"] else 0.0 for m in metas]]),
        "version": "12",
        "single_person": cell(single, shape=(len(single), 1)),
        "act": struct_array(act_records, ["cat_name", "act_name", "act_id"], shape=(len(act_records), 1)),
        "video_list": cell(videos),
    }], shape=(1, 1))
    write_mat5(out / MAT_NAME, {"RELEASE": release})
    for m, rec in zip(metas, act_records):
        m["act_id"] = int(rec["act_id"][0, 0])
    meta = {"dataset": "mpii", "generator": "posebench.sample.mpii", "seed": seed, "full": full, "size": cap,
            "images": metas, "video_list": videos, "joint_names": list(MPII_JOINTS),
            "missing_images": [m["name"] for m in metas if m["kind"] == "missing"],
            "train_people": sum(len(m["people"]) for m in metas if m["train"] and m["kind"] != "boxonly")}
    write_json_atomic(out / "posebench-sample.json", meta)
    return {**meta, "seconds": round(time.perf_counter() - start, 3)}
