"""Kinematic pose prior for look-alike data: source skeletons, per-subject bodies, per-action motions.

Everything here is the *writer* side of the look-alike releases: the skeletons are defined from the
documented facts (H36M `metadata.xml` <skel_pos>, MPI-INF-3DHP `mpii_get_joint_set.m`), never imported
from `posebench.skeleton`, so a mistake in one cannot hide in both.

Conventions: world coordinates in mm, z up, floor at z = 0. A body is a 31-point internal model (a
six-segment bending spine, clavicles, hands, thumbs, feet, toes) posed by forward kinematics; each source
skeleton picks its joints from those points (duplicates included where the real data has them, e.g.
H36M Spine = Hips, LeftShoulder = Neck). Camera space: x right, y down, z forward (optical axis).
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
_PINDEX = {n: i for i, n in enumerate(POINTS)}
_PPARENT = np.array([-1 if p is None else _PINDEX[p] for p, _, _ in _MODEL.values()])
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


# --- Rotations ---------------------------------------------------------------------------------
def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N,3,3) right-handed rotations about x (0), y (1) or z (2)."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def rotation_xyz(angles: np.ndarray) -> np.ndarray:
    """(…,3) Euler angles (rad) -> (…,3,3) R = Rx(a0)·Ry(a1)·Rz(a2), the Human3.6M <w0> convention
    (world -> camera: X_cam = R (X_world - T))."""
    a = np.asarray(angles, dtype=np.float64)
    return _rot(0, a[..., 0]) @ _rot(1, a[..., 1]) @ _rot(2, a[..., 2])


# --- Motions -----------------------------------------------------------------------------------
ACTIONS: tuple[str, ...] = ("walking", "standing", "sitting", "reaching", "crouching", "lying",
                            "exercising", "sports", "misc", "phoning", "eating", "greeting")
# Every Human3.6M action (metadata names and file names) -> the motion that stands in for it.
H36M_ACTION_MOTION: dict[str, str] = {
    "Directions": "reaching", "Discussion": "misc", "Eating": "eating", "Greeting": "greeting",
    "Phoning": "phoning", "Posing": "exercising", "Purchases": "reaching", "Sitting": "sitting",
    "SittingDown": "lying", "Smoking": "phoning", "TakingPhoto": "crouching", "Photo": "crouching",
    "Waiting": "standing", "Walking": "walking", "WalkingDog": "walking", "WalkDog": "walking",
    "WalkingTogether": "walking", "WalkTogether": "walking",
}
# (min, max) in rad of each anatomical angle: flexion fl, abduction ab, twist tw (see _local_rotations).
_LIMITS: dict[tuple[str, str], tuple[float, float]] = {
    ("lumbar", "fl"): (-0.35, 0.9), ("spine", "fl"): (-0.3, 0.7), ("spine2", "fl"): (-0.2, 0.4),
    ("spine3", "fl"): (-0.2, 0.4), ("spine4", "fl"): (-0.2, 0.3), ("neck", "fl"): (-0.6, 0.8),
    ("lumbar", "ab"): (-0.4, 0.4), ("spine", "ab"): (-0.3, 0.3), ("lumbar", "tw"): (-0.5, 0.5),
    ("spine", "tw"): (-0.4, 0.4), ("neck", "tw"): (-1.0, 1.0), ("neck", "ab"): (-0.4, 0.4),
    ("hip", "fl"): (-0.4, 2.2), ("hip", "ab"): (-0.3, 0.8), ("hip", "tw"): (-0.5, 0.5),
    ("knee", "fl"): (0.0, 2.4), ("ankle", "fl"): (-0.5, 0.7),
    ("shoulder", "fl"): (-0.8, 3.0), ("shoulder", "ab"): (-0.2, 2.9), ("shoulder", "tw"): (-1.0, 1.0),
    ("elbow", "fl"): (0.0, 2.5), ("clavicle", "ab"): (-0.15, 0.3),
}


def _smooth(rng: np.random.Generator, t: np.ndarray, amp: float, fmax: float = 0.4) -> np.ndarray:
    """A smooth random signal of about ±amp: three sinusoids below fmax Hz with random phases."""
    f = rng.uniform(0.03, fmax, 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    a = rng.uniform(0.5, 1.0, 3)
    return amp * (a[None] * np.sin(2 * np.pi * f[None] * t[:, None] + ph[None])).sum(1) / a.sum()


class _Angles(dict):
    """(point, dof) -> (N,) angle arrays; missing entries are zero."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def add(self, point: str, dof: str, value) -> None:
        self[(point, dof)] = self.get((point, dof), np.zeros(self.n)) + np.broadcast_to(value, (self.n,))

    def both(self, joint: str, dof: str, left, right=None) -> None:
        self.add("l_" + joint, dof, left)
        self.add("r_" + joint, dof, left if right is None else right)


def _spine_flex(a: _Angles, total) -> None:
    """Spread a forward bend over the spine's segments (a bending, not a rigid, back)."""
    for point, w in (("lumbar", 0.35), ("spine", 0.25), ("spine2", 0.15), ("spine3", 0.15), ("spine4", 0.1)):
        a.add(point, "fl", w * np.asarray(total))


def _action_angles(action: str, t: np.ndarray, rng: np.random.Generator) -> tuple[_Angles, dict]:
    """Anatomical angles per frame for one action, plus root settings (path, pitch, contact height)."""
    n = len(t)
    a = _Angles(n)
    sm = lambda amp, fmax=0.4: _smooth(rng, t, amp, fmax)  # noqa: E731
    root = {"path": "still", "pitch": 0.0, "contact": 15.0, "hop": np.zeros(n), "speed": 0.0}
    # Idle variation everyone has: breathing-like spine sway, head turns, relaxed arms.
    _spine_flex(a, 0.05 + sm(0.06))
    a.add("lumbar", "tw", sm(0.08))
    a.add("neck", "tw", sm(0.3, 0.3))
    a.add("neck", "fl", sm(0.12))
    a.both("shoulder", "ab", 0.12 + sm(0.06), 0.12 + sm(0.06))
    a.both("elbow", "fl", 0.25 + np.abs(sm(0.15)), 0.25 + np.abs(sm(0.15)))
    a.both("shoulder", "fl", sm(0.1), sm(0.1))
    side = rng.choice(["l_", "r_"])
    other = "r_" if side == "l_" else "l_"
    if action == "walking":
        f = rng.uniform(0.8, 1.0)
        ph = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
        swing = rng.uniform(0.35, 0.45)
        a.add("l_hip", "fl", 0.1 + swing * np.sin(ph))
        a.add("r_hip", "fl", 0.1 - swing * np.sin(ph))
        a.add("l_knee", "fl", 0.15 + 0.55 * np.clip(np.sin(ph + 1.4), 0, None))
        a.add("r_knee", "fl", 0.15 + 0.55 * np.clip(np.sin(ph + 1.4 + np.pi), 0, None))
        a.add("l_shoulder", "fl", -0.3 * np.sin(ph))
        a.add("r_shoulder", "fl", 0.3 * np.sin(ph))
        a.add("lumbar", "tw", 0.08 * np.sin(ph))
        root.update(path="circle", speed=rng.uniform(900, 1300))
    elif action == "standing":
        a.both("hip", "ab", 0.05 + sm(0.03), 0.05 + sm(0.03))
        a.add("lumbar", "ab", sm(0.06))
        root.update(path="drift")
    elif action == "sitting":
        a.both("hip", "fl", 1.5 + sm(0.12), 1.5 + sm(0.12))
        a.both("knee", "fl", 1.45 + sm(0.2), 1.45 + sm(0.2))
        a.both("hip", "ab", 0.12 + sm(0.05), 0.12 + sm(0.05))
        _spine_flex(a, 0.1 + sm(0.25))
        a.both("shoulder", "fl", 0.45 + sm(0.2), 0.45 + sm(0.2))
        a.both("elbow", "fl", 0.9 + sm(0.3), 0.9 + sm(0.3))
    elif action in ("reaching", "crouching"):
        up = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.2, 0.35) * t + rng.uniform(0, 2 * np.pi))
        if action == "reaching":
            a.add(side + "shoulder", "fl", 0.3 + 2.1 * up)
            a.add(side + "shoulder", "ab", 0.3 * up)
            a.add(side + "elbow", "fl", 0.6 * (1 - up))
            _spine_flex(a, 0.4 * up * rng.choice([-0.5, 1.0]))
            a.add("lumbar", "tw", 0.3 * up * (1 if side == "l_" else -1))
        else:
            depth = 0.4 + 0.6 * up
            a.both("hip", "fl", 1.9 * depth, 1.9 * depth)
            a.both("knee", "fl", 2.2 * depth, 2.2 * depth)
            a.both("ankle", "fl", 0.5 * depth, 0.5 * depth)
            _spine_flex(a, 0.6 * depth)
            a.both("shoulder", "fl", 0.9 * depth + sm(0.2), 0.9 * depth + sm(0.2))
            a.both("elbow", "fl", 1.6 * depth, 1.6 * depth)
        root.update(path="drift")
    elif action == "lying":
        a.add(side + "hip", "fl", 0.8 + sm(0.6))
        a.add(side + "knee", "fl", 1.2 + sm(0.6))
        a.add(other + "knee", "fl", 0.2 + np.abs(sm(0.3)))
        a.both("shoulder", "ab", 0.5 + sm(0.4), 0.5 + sm(0.4))
        a.add("neck", "fl", 0.3)
        root.update(pitch=np.pi / 2 + sm(0.1), contact=rng.uniform(80, 100))
    elif action == "exercising":
        ph = 2 * np.pi * rng.uniform(0.6, 0.9) * t
        cyc = 0.5 - 0.5 * np.cos(ph)
        if rng.random() < 0.5:  # jumping jacks
            a.both("shoulder", "ab", 2.6 * cyc, 2.6 * cyc)
            a.both("hip", "ab", 0.35 * cyc, 0.35 * cyc)
            root["hop"] = 60 * np.abs(np.sin(ph))
        else:  # squats with arms forward
            a.both("hip", "fl", 1.6 * cyc, 1.6 * cyc)
            a.both("knee", "fl", 2.0 * cyc, 2.0 * cyc)
            a.both("ankle", "fl", 0.4 * cyc, 0.4 * cyc)
            _spine_flex(a, 0.5 * cyc)
            a.both("shoulder", "fl", 1.5 * cyc, 1.5 * cyc)
    elif action == "sports":
        ph = 2 * np.pi * rng.uniform(0.7, 1.1) * t
        a.add(side + "shoulder", "fl", 1.2 + 1.2 * np.sin(ph))
        a.add(side + "elbow", "fl", 1.0 + 0.8 * np.sin(ph + 1.0))
        a.add(other + "shoulder", "fl", 0.6 - 0.6 * np.sin(ph))
        a.add(other + "hip", "fl", 0.3 + 0.6 * np.clip(np.sin(ph + 0.5), 0, None))
        a.add(other + "knee", "fl", 0.4 + 0.5 * np.clip(np.sin(ph - 0.5), 0, None))
        a.add("lumbar", "tw", 0.35 * np.sin(ph))
        _spine_flex(a, 0.25 + 0.15 * np.sin(ph))
        root.update(path="drift", hop=40 * np.clip(np.sin(2 * ph), 0, None))
    elif action in ("misc", "phoning", "eating", "greeting"):
        if action == "misc":
            for joint in ("shoulder", "elbow", "hip"):
                a.both(joint, "fl", 0.4 + sm(0.5, 0.6), 0.4 + sm(0.5, 0.6))
            a.both("knee", "fl", np.abs(sm(0.6)), np.abs(sm(0.6)))
            _spine_flex(a, sm(0.4))
            a.add("lumbar", "tw", sm(0.3))
            root.update(path="drift")
        elif action == "phoning":
            a.add(side + "shoulder", "fl", 0.5 + sm(0.1))
            a.add(side + "shoulder", "ab", 0.35 + sm(0.1))
            a.add(side + "elbow", "fl", 2.1 + sm(0.1))
            a.add(side + "shoulder", "tw", 0.5 if side == "l_" else -0.5)
            root.update(path="circle" if rng.random() < 0.5 else "drift", speed=rng.uniform(300, 600))
        elif action == "eating":
            bite = np.clip(np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t), 0, None)
            a.both("hip", "fl", 1.5 + sm(0.1), 1.5 + sm(0.1))
            a.both("knee", "fl", 1.5 + sm(0.1), 1.5 + sm(0.1))
            _spine_flex(a, 0.25 + 0.15 * bite)
            a.add(side + "shoulder", "fl", 0.5 + 0.3 * bite)
            a.add(side + "elbow", "fl", 1.2 + 1.0 * bite)
            a.add(other + "shoulder", "fl", 0.5)
            a.add(other + "elbow", "fl", 1.2)
        else:  # greeting: a wave, then a bow
            wave = np.sin(2 * np.pi * rng.uniform(1.2, 1.8) * t)
            a.add(side + "shoulder", "ab", 1.9 + sm(0.1))
            a.add(side + "elbow", "fl", 1.2 + 0.4 * wave)
            a.add(side + "shoulder", "tw", 0.3 * wave)
            _spine_flex(a, 0.3 * np.clip(np.sin(2 * np.pi * 0.2 * t), 0, None))
            root.update(path="drift")
    else:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    for (point, dof), value in list(a.items()):
        base = point[2:] if point[:2] in ("l_", "r_") else point
        lo, hi = _LIMITS.get((base, dof), _LIMITS.get((point, dof), (-np.pi, np.pi)))
        a[(point, dof)] = np.clip(value, lo, hi)
    return a, root


def _local_rotations(a: _Angles) -> np.ndarray:
    """Anatomical angles -> (N, P, 3, 3) local rotations, R = Rz(tw)·Ry(ab)·Rx(fl) with signs chosen so
    that positive flexion bends forward (spine, hips, shoulders, elbows) or back (knees), and positive
    abduction moves a limb away from the midline on either side."""
    n = a.n
    rot = np.broadcast_to(np.eye(3), (n, len(POINTS), 3, 3)).copy()
    for i, point in enumerate(POINTS):
        fl, ab, tw = (a.get((point, d), np.zeros(n)) for d in ("fl", "ab", "tw"))
        if not (fl.any() or ab.any() or tw.any()):
            continue
        base = point[2:] if point[:2] in ("l_", "r_") else point
        upward = base in ("pelvis", "lumbar", "spine", "spine2", "spine3", "spine4", "neck", "head")
        fsign = -1.0 if upward or base == "knee" else 1.0
        asign = -1.0 if point.startswith("r_") else 1.0
        if base == "clavicle":  # a shrug: the shoulder end goes up
            asign = 1.0 if point.startswith("r_") else -1.0
        rot[:, i] = _rot(2, tw) @ _rot(1, asign * ab) @ _rot(0, fsign * fl)
    return rot


def pose_points(body: Body, root_rot: np.ndarray, root_pos: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Forward kinematics: (N,3,3) root rotation, (N,3) root position, (N,P,3,3) local rotations ->
    (N,P,3) positions of every internal point."""
    n = len(root_pos)
    glob = np.empty((n, len(POINTS), 3, 3))
    pos = np.empty((n, len(POINTS), 3))
    for i, p in enumerate(_PPARENT):  # points are listed parents first
        if p < 0:
            glob[:, i] = root_rot @ local[:, i]
            pos[:, i] = root_pos
        else:
            glob[:, i] = glob[:, p] @ local[:, i]
            pos[:, i] = pos[:, p] + glob[:, p] @ body.offsets[i]
    return pos


def motion(body: Body, action: str, n_frames: int, rng: np.random.Generator, fps: float = 50.0) -> np.ndarray:
    """A smooth motion of ``action`` (one of ACTIONS, or a Human3.6M action name) -> (n_frames, J, 3)
    float64 world mm of the body's skeleton, z up, the lowest point resting on the floor z = 0
    (plus a contact height: joint centres sit above the floor), near the world origin."""
    action = H36M_ACTION_MOTION.get(action.split(" ")[0], action)
    if n_frames < 1:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    t = np.arange(n_frames) / float(fps)
    ang, root = _action_angles(action, t, rng)
    heading0 = rng.uniform(-np.pi, np.pi)
    if root["path"] == "circle":
        radius = rng.uniform(1000, 1500)
        sign = rng.choice([-1.0, 1.0])
        alpha = rng.uniform(0, 2 * np.pi) + sign * root["speed"] / radius * t
        xy = radius * np.stack([np.cos(alpha), np.sin(alpha)], 1)
        heading = alpha + (0.0 if sign > 0 else np.pi)
    else:
        start = rng.uniform(-500, 500, 2)
        drift = 250.0 if root["path"] == "drift" else 30.0
        xy = start + np.stack([_smooth(rng, t, drift, 0.15), _smooth(rng, t, drift, 0.15)], 1)
        heading = heading0 + _smooth(rng, t, 0.6 if root["path"] == "drift" else 0.1, 0.1)
    root_rot = _rot(2, heading) @ _rot(0, np.broadcast_to(root["pitch"], (n_frames,)))
    root_pos = np.concatenate([xy, np.zeros((n_frames, 1))], 1)
    pts = pose_points(body, root_rot, root_pos, _local_rotations(ang))
    pts[..., 2] += root["contact"] + root["hop"][:, None] - pts[..., 2].min(axis=1, keepdims=True)
    return pts[:, [_PINDEX[p] for p in body.skeleton.points]]


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


# --- Cameras -----------------------------------------------------------------------------------
def world_to_camera(points: np.ndarray, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """X_cam = R (X_world - C) for (..., 3) points; R (3,3) world -> camera, C the camera centre (mm)."""
    return (np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64)) @ np.asarray(rotation).T


def project(points_cam: np.ndarray, fx: float, fy: float, cx: float, cy: float,
            dist: np.ndarray | None = None) -> np.ndarray:
    """Pinhole projection of camera-space points (..., 3) -> pixels (..., 2), with optional distortion.

    ``dist`` = (k1, k2, k3, p1, p2) in the Brown–Conrady form OpenCV uses: with x, y = X/Z, Y/Z and
    r² = x² + y², x' = x(1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2x²), and
    y' = y(…) + p1 (r² + 2y²) + 2 p2 x y; u = fx x' + cx, v = fy y' + cy. Note the order: radial terms
    first, as Human3.6M's <w0> lists them; its two tangential values (pA, pB) are used as (p1, p2).
    """
    p = np.asarray(points_cam, dtype=np.float64)
    x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
    if dist is not None:
        k1, k2, k3, p1, p2 = (float(v) for v in np.asarray(dist, dtype=np.float64).ravel()[:5])
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        x, y = (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)
    return np.stack([fx * x + cx, fy * y + cy], axis=-1)
