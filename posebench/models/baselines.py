"""Sanity baselines registered as models: the mean training pose, and nearest-neighbour 3D lookup from 2D.

Both read the prepared *training* split of the protocol's dataset (`DATA/<dataset>/train.h5`) and return
camera-space mm: a root-relative pose placed at the granted ground-truth root depth, or else at the depth where
its size matches the 2D pose (weak perspective), with the root on the ray through the 2D root.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from posebench.data import PreparedData, PreparedFileError, prepared_path, read_prepared
from posebench.errors import PosebenchError
from posebench.skeleton import ROOT

DEFAULT_DEPTH_MM = 5000.0  # used only when a row's 2D pose is unusable
SCORE_ELEMENTS = 1 << 24  # queries x training rows scored at once (64 MB of float32)


class TrainingDataError(PosebenchError):
    """The training split a baseline needs is missing or unusable."""


def load_training(protocol: Any, data: str | os.PathLike | PreparedData | None,
                  train: str | os.PathLike | PreparedData | None = None) -> PreparedData:
    """The prepared training split (joints2d, joints3d) of the protocol's dataset, or ``train`` if given."""
    if isinstance(train, PreparedData):
        return train
    if train is not None:
        path = Path(train)
    elif isinstance(data, PreparedData):
        raise TrainingDataError("baselines need the training split on disk: pass a data folder, or train=PATH")
    elif data is not None and str(data).endswith(".h5"):
        path = Path(data).with_name("train.h5")  # a prepared test file: its training split lies beside it
    else:
        path = prepared_path(data, protocol.dataset, "train")
    if not path.is_file():
        raise TrainingDataError(f"{path}: no prepared training split for {protocol.dataset!r}; the baselines learn "
                                f"from it (run `posebench prepare {protocol.dataset} ...` with the training split)")
    try:
        out = read_prepared(path, columns=["joints2d", "joints3d"])
    except PreparedFileError as e:
        raise TrainingDataError(str(e)) from None
    if len(out) == 0:
        raise TrainingDataError(f"{path}: the training split has no rows")
    return out


def root_relative(joints3d: np.ndarray) -> np.ndarray:
    """(N,17,3) poses with the pelvis moved to the origin (float32, to keep 1.56M rows in ~320 MB)."""
    j = np.asarray(joints3d, dtype=np.float32)
    return j - j[:, ROOT:ROOT + 1]


def normalise_2d(joints2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre on the 2D root and scale to unit norm: (N, 34) float32 vectors and an (N,) usable-row mask."""
    j = np.asarray(joints2d, dtype=np.float64)
    rel = (j - j[:, ROOT:ROOT + 1]).reshape(len(j), -1)
    norm = np.linalg.norm(rel, axis=1)
    ok = np.isfinite(norm) & (norm > 1e-6)
    out = np.zeros_like(rel)
    out[ok] = rel[ok] / norm[ok, None]
    return out.astype(np.float32), ok


def place_at_depth(rel: np.ndarray, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Camera-space poses from root-relative ones: root depth granted, or fitted so the 3D size matches the 2D."""
    rel = np.asarray(rel, dtype=np.float64)
    j2d = np.asarray(batch["joints2d"], dtype=np.float64)
    fx, fy, cx, cy = np.asarray(batch["intrinsics"], dtype=np.float64).T
    if "root_depth" in batch:
        z = np.asarray(batch["root_depth"], dtype=np.float64)
    else:
        size3 = np.sqrt(np.mean(np.sum(rel[:, :, :2] ** 2, axis=-1), axis=1))
        sq = np.sum((j2d - j2d[:, ROOT:ROOT + 1]) ** 2, axis=-1)
        finite = np.isfinite(sq)
        with np.errstate(invalid="ignore", divide="ignore"):
            size2 = np.sqrt(np.where(finite, sq, 0.0).sum(axis=1) / finite.sum(axis=1))
            z = fx * size3 / size2
        z = np.where(np.isfinite(z) & (z > 0), z, DEFAULT_DEPTH_MM)
    u, v = j2d[:, ROOT, 0], j2d[:, ROOT, 1]
    u = np.where(np.isfinite(u), u, cx)
    v = np.where(np.isfinite(v), v, cy)
    root = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1)
    return rel + root[:, None, :]


class MeanPose:
    """Predicts the mean root-relative training pose for every row (the floor any model must beat)."""

    name = "mean-pose"
    checkpoint_hash = None

    def __init__(self, protocol: Any, data: str | os.PathLike | PreparedData | None = None,
                 checkpoint: str | None = None, device: str | None = None, train: Any = None):
        joints = load_training(protocol, data, train)["joints3d"]
        self.pose = (joints.mean(axis=0, dtype=np.float64)
                     - joints[:, ROOT].mean(axis=0, dtype=np.float64)[None, :])

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        n = len(batch["joints2d"])
        return place_at_depth(np.broadcast_to(self.pose, (n, *self.pose.shape)), batch)


class NearestNeighbour:
    """Chen & Ramanan (CVPR 2017): the training 3D pose whose normalised 2D pose is nearest to the query's.

    2D poses are root-centred and scaled to unit norm, so the nearest neighbour is the largest dot product; the
    search is exact, in blocks of ``block_rows`` training rows (float32 matrix products), so 1.56M training rows
    need ~210 MB of keys and no tree. The matched root-relative 3D pose is placed by :func:`place_at_depth`.
    """

    name = "nearest-neighbour"
    checkpoint_hash = None

    def __init__(self, protocol: Any, data: str | os.PathLike | PreparedData | None = None,
                 checkpoint: str | None = None, device: str | None = None, train: Any = None,
                 block_rows: int = 1 << 18):
        training = load_training(protocol, data, train)
        self.block_rows = int(block_rows)
        j2d = training["joints2d"]
        parts = [normalise_2d(j2d[s:s + self.block_rows]) for s in range(0, len(j2d), self.block_rows)]
        self.keys = np.concatenate([p[0] for p in parts])
        ok = np.concatenate([p[1] for p in parts])
        if not ok.any():
            raise TrainingDataError("no training row has a usable 2D pose")
        self.penalty = np.where(ok, 0.0, -np.inf).astype(np.float32)
        self.poses = root_relative(training["joints3d"])

    def match(self, joints2d: np.ndarray) -> np.ndarray:
        """Training-row index of the nearest normalised 2D pose for each query (B,17,2)."""
        q, _ = normalise_2d(joints2d)
        best = np.full(len(q), -np.inf, dtype=np.float32)
        arg = np.zeros(len(q), dtype=np.int64)
        step = max(1024, min(self.block_rows, SCORE_ELEMENTS // max(len(q), 1)))  # bound the score matrix
        for s in range(0, len(self.keys), step):
            scores = q @ self.keys[s:s + step].T
            scores += self.penalty[s:s + step]
            k = scores.argmax(axis=1)
            top = scores[np.arange(len(q)), k]
            better = top > best
            best[better] = top[better]
            arg[better] = k[better] + s
        return arg

    def predict(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return place_at_depth(self.poses[self.match(batch["joints2d"])], batch)
