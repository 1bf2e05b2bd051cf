"""Look-alike bodies: the internal body model, the source skeletons, subjects and the universal skeleton.

Writer side of the look-alike releases: the skeletons are defined from the documented facts (H36M
`metadata.xml` <skel_pos>, MPI-INF-3DHP `mpii_get_joint_set.m`), never imported from `posebench.skeleton`,
so a mistake in one cannot hide in both.

Conventions: world coordinates in mm, z up, floor at z = 0. A body is a 31-point internal model (a
six-segment bending spine, clavicles, hands, thumbs, feet, toes) posed by forward kinematics
(`posebench.sample.motion`); each source skeleton picks its joints from those points (duplicates included
where the real data has them, e.g. H36M Spine = Hips, LeftShoulder = Neck).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --- The internal body model -------------------------------------------------------------------
# point name -> (parent, rest direction in the body frame: x = subject's right, y = forward, z = up,
#                nominal length in mm). Arms hang down at rest; feet point forward.
_MODEL: dict[str, tuple[str | None, tuple[float, float, float], float]] = {
    "pelvis": (None, (0, 0, 0), 0.0),
    "lumbar": ("pelvis", (0, 0, 1), 115.0),
    "spine": ("lumbar", (0, 0, 1), 115.0),
    "spine2": ("spine", (0, 0, 1), 80.0),
    "spine3": ("spine2", (0, 0, 1), 80.0),
    "spine4": ("spine3", (0, 0, 1), 60.0),
    "neck": ("spine4", (0, 0, 1), 30.0),
    "head": ("neck", (0, 0.2, 1), 110.0),
    "head_top": ("head", (0, -0.1, 1), 105.0),
    "l_clavicle": ("spine4", (-1, 0.1, 0.3), 40.0),
    "l_shoulder": ("l_clavicle", (-1, 0, -0.35), 130.0),
    "l_elbow": ("l_shoulder", (0, 0, -1), 275.0),
    "l_wrist": ("l_elbow", (0, 0, -1), 250.0),
    "l_hand": ("l_wrist", (0, 0, -1), 95.0),
    "l_thumb": ("l_wrist", (0, 0.6, -1), 90.0),
    "r_clavicle": ("spine4", (1, 0.1, 0.3), 40.0),
    "r_shoulder": ("r_clavicle", (1, 0, -0.35), 130.0),
    "r_elbow": ("r_shoulder", (0, 0, -1), 275.0),
    "r_wrist": ("r_elbow", (0, 0, -1), 250.0),
    "r_hand": ("r_wrist", (0, 0, -1), 95.0),
    "r_thumb": ("r_wrist", (0, 0.6, -1), 90.0),
    "l_hip": ("pelvis", (-1, 0, -0.05), 130.0),
    "l_knee": ("l_hip", (0, 0, -1), 440.0),
    "l_ankle": ("l_knee", (0, 0, -1), 440.0),
    "l_foot": ("l_ankle", (0, 1, -0.5), 140.0),
    "l_toe": ("l_foot", (0, 1, -0.1), 60.0),
    "r_hip": ("pelvis", (1, 0, -0.05), 130.0),
    "r_knee": ("r_hip", (0, 0, -1), 440.0),
    "r_ankle": ("r_knee", (0, 0, -1), 440.0),
    "r_foot": ("r_ankle", (0, 1, -0.5), 140.0),
    "r_toe": ("r_foot", (0, 1, -0.1), 60.0),
}
POINTS: tuple[str, ...] = tuple(_MODEL)
POINT_INDEX: dict[str, int] = {n: i for i, n in enumerate(POINTS)}
POINT_PARENTS: np.ndarray = np.array([-1 if p is None else POINT_INDEX[p] for p, _, _ in _MODEL.values()])


_PDIR = np.array([np.asarray(d, float) / (np.linalg.norm(d) or 1.0) for _, d, _ in _MODEL.values()])
_PLEN = np.array([length for _, _, length in _MODEL.values()])
# Bones whose lengths vary together (left and right stay symmetric within a subject).
_GROUPS = ("spine", "neck", "head", "clavicle", "upper_arm", "forearm", "hand", "hip", "thigh", "shin", "foot")
_GROUP_OF = {
    "lumbar": "spine", "spine": "spine", "spine2": "spine", "spine3": "spine", "spine4": "spine",
    "neck": "neck", "head": "head", "head_top": "head", "clavicle": "clavicle", "shoulder": "clavicle",
    "elbow": "upper_arm", "wrist": "forearm", "hand": "hand", "thumb": "hand", "hip": "hip",
    "knee": "thigh", "ankle": "shin", "foot": "foot", "toe": "foot",
}


def _group(point: str) -> str | None:
    return _GROUP_OF.get(point.split("_", 1)[-1] if point[:2] in ("l_", "r_") else point)


# --- Source skeletons --------------------------------------------------------------------------
@dataclass(frozen=True)
class Skeleton:
    """A source skeleton: joint names in file order, parents (-1 for the root), body-part labels.

    ``points`` names the internal body-model point each joint is read from; ``radius`` is the limb
    radius in mm of the bone that ends at each joint (0: not drawn); ``key`` names the joints the
    renderer needs (pelvis, neck, head, head_top, shoulders, hips) and the 920 mm rule's joints.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    parts: tuple[str, ...]
    points: tuple[str, ...]
    radius: tuple[float, ...]
    key: dict[str, int] = field(default_factory=dict)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs of the tree."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def num_joints(self) -> int:
        return len(self.joints)


PARTS: tuple[str, ...] = ("head", "torso", "left_arm", "right_arm", "left_leg", "right_leg")

_R = {"spine": 0.0, "neck": 45.0, "head": 0.0, "clavicle": 0.0, "upper_arm": 48.0, "forearm": 40.0,
      "hand": 30.0, "thumb": 0.0, "hip": 0.0, "thigh": 72.0, "shin": 52.0, "foot": 40.0, "toe": 32.0}


def _part(point: str) -> str:
    side = {"l_": "left_", "r_": "right_"}.get(point[:2])
    if side is None:
        return "head" if point in ("head", "head_top") else "torso"
    limb = "arm" if any(k in point for k in ("clavicle", "shoulder", "elbow", "wrist", "hand", "thumb")) else "leg"
    return side + limb


def _radius(point: str) -> float:
    base = point.split("_", 1)[-1] if point[:2] in ("l_", "r_") else point
    if base == "thumb":
        return 0.0
    return _R.get({"elbow": "upper_arm", "wrist": "forearm", "knee": "thigh", "ankle": "shin"}.get(base, base), 0.0)


def _make(name: str, joints: tuple[str, ...], parents: tuple[int, ...], points: tuple[str, ...],
          key: dict[str, str]) -> Skeleton:
    radius = tuple(0.0 if points[j] == points[p] or p < 0 else _radius(points[j]) for j, p in enumerate(parents))
    index = {}
    for k, point in key.items():
        index[k] = points.index(point)
    return Skeleton(name, joints, parents, tuple(_part(p) for p in points), points, radius, index)


_H36M_JOINTS = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "Site", "LeftUpLeg", "LeftLeg",
    "LeftFoot", "LeftToeBase", "Site", "Spine", "Spine1", "Neck", "Head", "Site", "LeftShoulder",
    "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "Site", "L_Wrist_End", "Site",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "Site", "R_Wrist_End", "Site",
)
# metadata.xml <skel_pos> <parent> (1-based there), here 0-based with -1 for the root.
_H36M_PARENTS = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19, 22,
                 12, 24, 25, 26, 27, 28, 27, 30)
# Duplicates as in the released files: Spine = Hips, L/RShoulder = Neck, HandThumb = Hand, Site = Wrist_End.
_H36M_POINTS = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "r_foot", "r_toe", "l_hip", "l_knee", "l_ankle", "l_foot",
    "l_toe", "pelvis", "spine", "neck", "head", "head_top", "neck", "l_shoulder", "l_elbow", "l_wrist",
    "l_wrist", "l_thumb", "l_hand", "l_hand", "neck", "r_shoulder", "r_elbow", "r_wrist", "r_wrist",
    "r_thumb", "r_hand", "r_hand",
)
_MPI_JOINTS = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top", "left_clavicle",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand", "right_clavicle", "right_shoulder",
    "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
    "left_toe", "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)
_MPI_PARENTS = (2, 0, 3, 4, -1, 1, 5, 6, 1, 8, 9, 10, 11, 1, 13, 14, 15, 16, 4, 18, 19, 20, 21, 4, 23, 24, 25, 26)
_MPI_POINTS = tuple(j.replace("left_", "l_").replace("right_", "r_") for j in _MPI_JOINTS)
_KEY = {"pelvis": "pelvis", "spine": "spine", "neck": "neck", "head": "head", "head_top": "head_top",
        "l_shoulder": "l_shoulder", "r_shoulder": "r_shoulder", "l_hip": "l_hip", "r_hip": "r_hip",
        "l_knee": "l_knee", "r_knee": "r_knee"}

SKELETONS: dict[str, Skeleton] = {
    "h36m32": _make("h36m32", _H36M_JOINTS, _H36M_PARENTS, _H36M_POINTS, _KEY),
    "mpi28": _make("mpi28", _MPI_JOINTS, _MPI_PARENTS, _MPI_POINTS, _KEY),
}


def get_skeleton(skeleton: str | Skeleton) -> Skeleton:
    """A skeleton by name (``h36m32``, ``mpi28``) or the skeleton itself."""
    if isinstance(skeleton, Skeleton):
        return skeleton
    try:
        return SKELETONS[skeleton]
    except KeyError:
        raise ValueError(f"unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)}") from None


# --- Bodies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Body:
    """One subject: a skeleton and the rest offsets (mm, body frame) of the internal model's points."""

    skeleton: Skeleton
    offsets: np.ndarray  # (len(POINTS), 3) rest offset of each point from its parent
    height_scale: float

    @property
    def lengths(self) -> np.ndarray:
        """Length (mm) of each internal segment, point -> parent."""
        return np.linalg.norm(self.offsets, axis=1)


def random_body(rng: np.random.Generator, skeleton: str | Skeleton, height_scale: float | None = None) -> Body:
    """Draw a subject: an overall scale (about N(1, 0.05), clipped to 0.88..1.12) and per-bone-group
    variation of about 4 %, the same on both sides."""
    skel = get_skeleton(skeleton)
    if height_scale is None:
        height_scale = float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12))
    group_scale = {g: float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)) for g in _GROUPS}
    scale = np.array([group_scale.get(_group(p), 1.0) for p in POINTS]) * height_scale
    return Body(skel, _PDIR * (_PLEN * scale)[:, None], float(height_scale))


# --- The universal skeleton --------------------------------------------------------------------
DEFAULT_KNEE_NECK = 1000.0  # mm; realistic and deliberately not 920, so the 920 mm rule is exercised


def knee_neck_length(joints: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """|l_knee-l_hip| + |spine-pelvis| + |neck-spine| per frame of (..., J, 3) source-skeleton joints."""
    k = get_skeleton(skeleton).key
    j = np.asarray(joints, dtype=np.float64)
    seg = lambda a, b: np.linalg.norm(j[..., k[a], :] - j[..., k[b], :], axis=-1)  # noqa: E731
    return seg("l_knee", "l_hip") + seg("spine", "pelvis") + seg("neck", "spine")


def universal(joints: np.ndarray, skeleton: str | Skeleton, knee_neck: float = DEFAULT_KNEE_NECK,
              rigid_spine: bool = False) -> np.ndarray:
    """The universal-skeleton version of a sequence (N, J, 3): scaled about each frame's pelvis.

    Default: one scale per sequence, ``knee_neck`` / (mean knee–neck length), so the per-frame length
    still varies with the bending spine. ``rigid_spine``: one scale per frame, so every frame's
    knee–neck length equals ``knee_neck`` exactly (with 920 mm the 920 mm rule becomes an identity).
    """
    j = np.asarray(joints, dtype=np.float64)
    length = knee_neck_length(j, skeleton)
    if np.any(length <= 0):
        raise ValueError("degenerate pose: zero knee-neck length")
    scale = knee_neck / length if rigid_spine else np.full(length.shape, knee_neck / length.mean())
    root = j[..., [get_skeleton(skeleton).key["pelvis"]], :]
    return root + scale[..., None, None] * (j - root)
