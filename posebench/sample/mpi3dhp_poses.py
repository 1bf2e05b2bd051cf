"""The people of the look-alike MPI-INF-3DHP release: skeleton, activities and their motions, universal scale.

Writer side only (research/raw-formats.md §2-3): the 28-joint skeleton of `mpii_get_joint_set.m`, the seven
test-set activities drawn as consecutive motion segments, and the universal-skeleton rescaling of `univ_annot3`.
"""
from __future__ import annotations

import numpy as np

from posebench.sample.body import DEFAULT_KNEE_NECK, Body, knee_neck_length, universal
from posebench.sample.motion import motion

SKELETON = "mpi28"
ACTIVITIES = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
              5: "On The Floor", 6: "Sports", 7: "Miscellaneous"}
# Activity id -> the motions that stand in for it.
ACTIVITY_MOTIONS = {1: ("walking", "standing"), 2: ("exercising",), 3: ("sitting",),
                    4: ("reaching", "crouching"), 5: ("lying",), 6: ("sports",), 7: ("misc",)}


def univ_scales(joints28: np.ndarray, knee_neck: float | None, rigid_spine: bool) -> np.ndarray:
    """Per-frame universal scale factors (N,) of a 28-joint sequence, from `body.universal`."""
    kn = DEFAULT_KNEE_NECK if knee_neck is None else float(knee_neck)
    univ = universal(joints28, SKELETON, knee_neck=kn, rigid_spine=rigid_spine)
    return knee_neck_length(univ, SKELETON) / knee_neck_length(joints28, SKELETON)


def rescale_about_root(joints: np.ndarray, scale: np.ndarray, root: int) -> np.ndarray:
    """(N, J, 3) joints scaled by a per-frame (N,) factor about joint ``root``."""
    r = joints[:, [root]]
    return r + scale[:, None, None] * (joints - r)


def activity_motion(rng: np.random.Generator, body: Body, segments: tuple[int, ...], n: int,
                    fps: float) -> tuple[np.ndarray, np.ndarray]:
    """World joints (n, 28, 3) as consecutive activity segments, and the (n,) activity id per frame."""
    bounds = np.linspace(0, n, len(segments) + 1).round().astype(int)
    parts, labels = [], []
    for act, a, b in zip(segments, bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        choices = ACTIVITY_MOTIONS[act]
        seg = motion(body, choices[int(rng.integers(len(choices)))], int(b - a), rng, fps)
        if parts:  # continue where the last segment ended (the pose changes, the place does not jump)
            seg[..., :2] += parts[-1][-1, 4, :2] - seg[0, 4, :2]
        parts.append(seg)
        labels.append(np.full(b - a, act))
    return np.concatenate(parts), np.concatenate(labels)
