"""A tiny prepared data folder with rendered images (generated once per session) for the margipose tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from posebench.data import write_prepared
from posebench.skeleton import BONES, ROOT

IMAGE_SIZE = 160


def _poses(rng: np.random.Generator, n: int) -> np.ndarray:
    base = rng.normal(0, 250, size=(1, 17, 3)) * np.array([0.6, 1.6, 0.4])
    pose = base + rng.normal(0, 60, size=(n, 17, 3))
    root = np.stack([rng.uniform(-300, 300, n), rng.uniform(-200, 200, n), rng.uniform(3500, 5000, n)], axis=1)
    return pose - pose[:, ROOT:ROOT + 1] + root[:, None]


def _draw(path: Path, joints2d: np.ndarray, blob: int | None = None) -> None:
    im = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (20, 30, 40))
    d = ImageDraw.Draw(im)
    if blob is None:
        for a, b in BONES:
            d.line([tuple(joints2d[a]), tuple(joints2d[b])], fill=(60 + 11 * b, 200 - 9 * b, 120), width=2)
    else:  # one bright dot at one joint, for geometry tests
        x, y = joints2d[blob]
        d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def make_tree(root: Path, n_train: int = 24, n_test: int = 8, blob: int | None = None, seed: int = 0) -> Path:
    """DATA/mpi3dhp/train.h5, DATA/h36m/test.h5 (S9, frames 0, 64, ...) and DATA/mpii/train.h5 with images."""
    rng = np.random.default_rng(seed)
    k = np.array([200.0, 200.0, IMAGE_SIZE / 2, IMAGE_SIZE / 2])
    for dataset, split, n in (("mpi3dhp", "train", n_train), ("h36m", "test", n_test)):
        joints = _poses(rng, n)
        j2d = joints[..., :2] / joints[..., 2:] * k[:2] + k[2:]
        images = []
        for i in range(n):
            rel = f"images/{split}/{i:04d}.png"
            _draw(root / dataset / rel, j2d[i], blob)
            images.append(rel)
        write_prepared(root / dataset / f"{split}.h5", {
            "joints3d": joints, "joints2d": j2d, "intrinsics": np.tile(k, (n, 1)),
            "subject": np.full(n, 9 if dataset == "h36m" else 1), "camera": np.full(n, 54138969 if dataset == "h36m" else 0),
            "frame": np.arange(n) * 64, "action": np.full(n, "Walking" if dataset == "h36m" else ""),
            "sequence": np.full(n, "Walking" if dataset == "h36m" else "S1/Seq1"), "image": np.array(images)},
            {"dataset": dataset, "split": split})
    n = 8
    j2d = _poses(rng, n)[..., :2] / 4500 * 200 + IMAGE_SIZE / 2
    mask = np.ones((n, 17), bool)
    mask[0, 3] = False
    images = []
    for i in range(n):
        rel = f"images/{i:04d}.png"
        _draw(root / "mpii" / rel, j2d[i], blob)
        images.append(rel)
    centre = (j2d.min(1) + j2d.max(1)) / 2
    scale = (j2d.max(1) - j2d.min(1)).max(1) * 1.5 / 250
    write_prepared(root / "mpii" / "train.h5", {"joints2d": j2d, "mask": mask, "centre": centre - [0, 0],
                                               "scale": scale, "image": np.array(images)},
                   {"dataset": "mpii", "split": "train", "kind": "2d"})
    return root


@pytest.fixture(scope="session")
def data_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("mp-data"))


@pytest.fixture(scope="session")
def blob_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("mp-blob"), n_train=6, n_test=2, blob=4)
