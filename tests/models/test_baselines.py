"""Baselines: mean pose and nearest-neighbour lookup, on a small prepared training split written to tmp."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from posebench.models.baselines import (MeanPose, NearestNeighbour, TrainingDataError, normalise_2d, place_at_depth)
from posebench.data import write_prepared
from posebench.models import create_model
from posebench.protocols import load_protocol
from posebench.skeleton import ROOT

INTRINSICS = np.array([1145.0, 1144.0, 512.0, 515.0])


def _poses(rng: np.random.Generator, n: int) -> np.ndarray:
    base = rng.normal(0, 250, (17, 3))
    base[ROOT] = 0
    rel = base + rng.normal(0, 80, (n, 17, 3))
    rel[:, ROOT] = 0
    return rel


def _project(cam: np.ndarray, k: np.ndarray = INTRINSICS) -> np.ndarray:
    fx, fy, cx, cy = k
    return np.stack([fx * cam[..., 0] / cam[..., 2] + cx, fy * cam[..., 1] / cam[..., 2] + cy], axis=-1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 500
    rel = _poses(rng, n)
    root = np.stack([rng.uniform(-500, 500, n), rng.uniform(-300, 300, n), rng.uniform(3500, 6000, n)], axis=1)
    cam = rel + root[:, None]
    folder = tmp_path_factory.mktemp("data")
    write_prepared(folder / "h36m" / "train.h5", {
        "joints3d": cam, "joints2d": _project(cam), "intrinsics": np.tile(INTRINSICS, (n, 1)),
        "subject": np.ones(n, np.int64), "camera": np.zeros(n, np.int64), "frame": np.arange(n),
        "action": np.full(n, "Walking"), "sequence": np.full(n, "Walking 1"), "image": np.full(n, ""),
    }, {"dataset": "h36m", "split": "train"})
    return folder, cam


def _batch(cam: np.ndarray, granted: bool) -> dict[str, np.ndarray]:
    out = {"joints2d": _project(cam), "intrinsics": np.tile(INTRINSICS, (len(cam), 1))}
    if granted:
        out["root_depth"] = cam[:, ROOT, 2]
    return out


def test_registered_and_created_by_name(data_dir):
    folder, _ = data_dir
    model = create_model("mean-pose", protocol=load_protocol("h36m"), data=folder, checkpoint=None, device=None)
    assert model.name == "mean-pose"


def test_mean_pose_is_the_training_mean_at_the_granted_depth(data_dir):
    folder, cam = data_dir
    model = MeanPose(load_protocol("h36m"), folder)
    rel = cam - cam[:, ROOT:ROOT + 1]
    np.testing.assert_allclose(model.pose, rel.mean(axis=0), atol=1e-2)  # float32 storage
    query = cam[:3] + np.array([100.0, -50.0, 800.0])
    out = model.predict(_batch(query, granted=True))
    np.testing.assert_allclose(out[:, ROOT], query[:, ROOT], rtol=1e-4)  # root on the 2D root's ray, at GT depth
    np.testing.assert_allclose(out - out[:, ROOT:ROOT + 1], np.broadcast_to(model.pose, (3, 17, 3)), atol=1e-6)


def test_nearest_neighbour_finds_the_same_pose_seen_elsewhere(data_dir):
    folder, cam = data_dir
    model = NearestNeighbour(load_protocol("h36m"), folder)
    rows = np.array([3, 77, 420])
    moved = cam[rows] - cam[rows, ROOT:ROOT + 1] + np.array([[[0.0, 0.0, 4200.0]]])  # same pose, another place
    assert model.match(_project(moved)).tolist() == rows.tolist()
    out = model.predict(_batch(moved, granted=False))
    np.testing.assert_allclose(out - out[:, ROOT:ROOT + 1], moved - moved[:, ROOT:ROOT + 1], atol=1e-2)
    assert np.all(np.abs(out[:, ROOT, 2] / 4200.0 - 1.0) < 0.15)  # weak-perspective depth is plausible


def test_blocked_search_is_exact(data_dir):
    folder, cam = data_dir
    model = NearestNeighbour(load_protocol("h36m"), folder, block_rows=37)
    rng = np.random.default_rng(1)
    queries = _project(_poses(rng, 50) + np.array([0.0, 0.0, 4500.0]))
    q, _ = normalise_2d(queries)
    reference = cdist(q.astype(np.float64), model.keys.astype(np.float64)).argmin(axis=1)
    assert model.match(queries).tolist() == reference.tolist()


def test_unusable_2d_rows_are_never_matched(data_dir, tmp_path):
    _, cam = data_dir
    n = 20
    j2d = _project(cam[:n])
    j2d[:10] = np.nan  # e.g. rows whose 2D annotation is missing
    write_prepared(tmp_path / "h36m" / "train.h5", {
        "joints3d": cam[:n], "joints2d": j2d, "intrinsics": np.tile(INTRINSICS, (n, 1)),
        "subject": np.ones(n, np.int64), "camera": np.zeros(n, np.int64), "frame": np.arange(n),
        "action": np.full(n, "Walking"), "sequence": np.full(n, "Walking 1"), "image": np.full(n, ""),
    }, {"dataset": "h36m", "split": "train"})
    model = NearestNeighbour(load_protocol("h36m"), tmp_path)
    assert (model.match(_project(cam[:5])) >= 10).all()


def test_depth_fallback_and_missing_training_split(tmp_path):
    rel = np.zeros((1, 17, 3))
    out = place_at_depth(rel, {"joints2d": np.full((1, 17, 2), np.nan), "intrinsics": INTRINSICS[None]})
    assert np.isfinite(out).all()
    with pytest.raises(TrainingDataError, match="no prepared training split"):
        MeanPose(load_protocol("h36m"), tmp_path)
