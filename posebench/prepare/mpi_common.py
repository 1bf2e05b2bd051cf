"""Helpers shared by the MPI-INF-3DHP and MPII preparers: sharded parallel runs, image storing, summaries."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebench.errors import PosebenchError
from posebench.io_utils import atomic_path
from posebench.prepare.jpeg_frames import save_frame
from posebench.skeleton import knee_neck_length


class PrepareError(PosebenchError):
    """A source file or folder is not what a preparer expects (the message names it)."""


def store_image(src: Path, dst: Path, height: int) -> tuple[int, int, int, int]:
    """Copy ``src`` to ``dst`` (height 0, or no taller) or shrink it to ``height`` px (aspect kept), atomically.

    Returns (source width, source height, stored width, stored height). An existing ``dst`` (written
    atomically by an earlier run) is reused.
    """
    from PIL import Image

    try:
        with Image.open(src) as im:
            w, h = im.size
            if height <= 0 or h <= height:  # never upscale: small images are copied as they are
                if not dst.is_file():
                    with atomic_path(dst) as tmp:
                        shutil.copyfile(src, tmp)
                return w, h, w, h
            out = (max(1, round(w * height / h)), height)
            if not dst.is_file():
                im.draft("RGB", out)  # JPEG DCT scaling: decode near the target size, much faster
                small = im.convert("RGB").resize(out, Image.Resampling.LANCZOS)
                with atomic_path(dst) as tmp:
                    save_frame(small, tmp, 95)
    except OSError as e:
        raise PrepareError(f"{src}: unreadable image ({e})") from None
    return w, h, out[0], out[1]


def run_sharded(tasks: dict[str, tuple[Any, tuple, Sequence[Path]]], shard_dir: Path, jobs: int = 1,
                progress: bool = True, desc: str = "") -> dict[str, dict[str, Any]]:
    """Run ``fn(*args)`` per key (tasks: key -> (fn, args, input files)) in parallel, each result an atomic shard.

    A valid shard from an interrupted run with the same inputs is reused (posebench.prepare.shards), so a
    re-run only redoes the missing sequences. Returns key -> {'columns', 'report'}.
    """
    from posebench.prepare.shards import ShardStore, input_fingerprints, run_tasks

    store = ShardStore(shard_dir)
    prints = input_fingerprints({(k,): (list(args), list(inputs)) for k, (_, args, inputs) in tasks.items()}, jobs)
    run_tasks(store, {(k,): (fn, args) for k, (fn, args, _) in tasks.items()}, prints, jobs=jobs,
              progress=progress, desc=desc)
    out = {}
    for k in tasks:
        cols, report = store.read((k,))
        out[k] = {"columns": cols, "report": report}
    return out


def compare_intrinsics(fitted: Sequence[float], calibration: Sequence[float], size: tuple[int, int],
                       focal_tol: float, centre_tol: float) -> dict[str, Any]:
    """Fitted vs calibrated (fx, fy, cx, cy): focal error relative, centre error as a fraction of the image size."""
    f, c = np.asarray(fitted, dtype=np.float64), np.asarray(calibration, dtype=np.float64)
    f_err = float(np.max(np.abs(f[:2] - c[:2]) / c[:2]))
    c_err = float(np.max(np.abs(f[2:] - c[2:]) / np.asarray(size, dtype=np.float64)))
    return {"fitted": f.round(4).tolist(), "calibration": c.round(4).tolist(), "focal_rel_error": round(f_err, 6),
            "centre_rel_error": round(c_err, 6), "tolerance": [focal_tol, centre_tol],
            "ok": bool(f_err <= focal_tol and c_err <= centre_tol)}


def concat_columns(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-sequence column dicts (same keys) in the given order."""
    parts = [p for p in parts if p and len(next(iter(p.values())))]
    if not parts:
        raise PrepareError("no rows to write (every sequence was empty or excluded)")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def remove_shards(shard_dir: Path) -> None:
    """Delete a run's shard folder, and DATA/<dataset>/.shards when nothing else is left in it."""
    shutil.rmtree(shard_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        shard_dir.parent.rmdir()


def knee_neck_summary(joints: np.ndarray) -> dict[str, float]:
    """Distribution of the 920 mm rule's length over ground-truth poses (mm): what `posebench info` reports."""
    if len(joints) == 0:
        return {}
    kn = knee_neck_length(joints)
    q = np.percentile(kn, [0, 5, 50, 95, 100])
    return {"mean": round(float(kn.mean()), 3), "std": round(float(kn.std()), 3), "min": round(float(q[0]), 3),
            "p5": round(float(q[1]), 3), "median": round(float(q[2]), 3), "p95": round(float(q[3]), 3),
            "max": round(float(q[4]), 3)}
