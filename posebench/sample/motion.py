"""Look-alike motions: smooth per-action anatomical angles posed by forward kinematics.

Writer side of the look-alike releases (`posebench.sample.body` holds the bodies and skeletons): each
action draws a few smooth random signals within joint limits; the root walks a circle, drifts or stays.
World mm, z up, floor at z = 0.
"""
from __future__ import annotations

import numpy as np

from posebench.sample.body import POINT_INDEX, POINT_PARENTS, POINTS, Body
from posebench.sample.geometry import axis_rotation

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
        rot[:, i] = axis_rotation(2, tw) @ axis_rotation(1, asign * ab) @ axis_rotation(0, fsign * fl)
    return rot


def pose_points(body: Body, root_rot: np.ndarray, root_pos: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Forward kinematics: (N,3,3) root rotation, (N,3) root position, (N,P,3,3) local rotations ->
    (N,P,3) positions of every internal point."""
    n = len(root_pos)
    glob = np.empty((n, len(POINTS), 3, 3))
    pos = np.empty((n, len(POINTS), 3))
    for i, p in enumerate(POINT_PARENTS):  # points are listed parents first
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
    root_rot = axis_rotation(2, heading) @ axis_rotation(0, np.broadcast_to(root["pitch"], (n_frames,)))
    root_pos = np.concatenate([xy, np.zeros((n_frames, 1))], 1)
    pts = pose_points(body, root_rot, root_pos, _local_rotations(ang))
    pts[..., 2] += root["contact"] + root["hop"][:, None] - pts[..., 2].min(axis=1, keepdims=True)
    return pts[:, [POINT_INDEX[p] for p in body.skeleton.points]]
