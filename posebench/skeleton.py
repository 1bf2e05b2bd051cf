"""The canonical 17-joint skeleton and the maps from the source skeletons.

Canonical order is the MPI-INF-3DHP test order, as MargiPose uses it (research/margipose-reference.md §1).
Source skeletons (Human3.6M-32, MPI-INF-3DHP-28, MPII-16) are listed by name; the maps give, for each
canonical joint, the index of the source joint it is taken from.
"""
from __future__ import annotations

import numpy as np

from posebench.errors import PosebenchError

JOINTS: tuple[str, ...] = (
    "head_top", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
NUM_JOINTS = len(JOINTS)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINTS)}
ROOT = JOINT_INDEX["pelvis"]

# Parent of each joint (the root is its own parent): head_top->neck, neck->spine->pelvis, head->neck.
PARENTS: tuple[int, ...] = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, 14, 14, 1)
# Index of each joint's mirror image under a horizontal flip.
FLIP_INDICES: tuple[int, ...] = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 14, 15, 16)
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13))
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p != c)

# Named joint subsets that protocols refer to.
JOINT_SETS: dict[str, tuple[int, ...]] = {
    "all": tuple(range(NUM_JOINTS)),
    # The 14 joints MPI-INF-3DHP's PCK/AUC score (VNect common skeleton): no pelvis, spine, head.
    "vnect14": tuple(range(14)),
    "no_root": tuple(i for i in range(NUM_JOINTS) if i != ROOT),
}

# Body-part groups of the official MPI-INF-3DHP tables, in their printed order.
MPI3DHP_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (0,), "Neck": (1,), "Shou": (2, 5), "Elbow": (3, 6), "Wrist": (4, 7),
    "Hip": (8, 11), "Knee": (9, 12), "Ankle": (10, 13),
}

# --- Source skeletons -------------------------------------------------------------------------

# Human3.6M 32-joint skeleton as named in metadata.xml <skel_pos> ("Site" = end effector).
H36M_32: tuple[str, ...] = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "Site", "LeftUpLeg", "LeftLeg",
    "LeftFoot", "LeftToeBase", "Site", "Spine", "Spine1", "Neck", "Head", "Site", "LeftShoulder",
    "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "Site", "L_Wrist_End", "Site",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "Site",
    "R_Wrist_End", "Site",
)
H36M_TO_CANONICAL: tuple[int, ...] = (15, 13, 25, 26, 27, 17, 18, 19, 1, 2, 3, 6, 7, 8, 0, 12, 14)

# MPI-INF-3DHP training-set 28-joint skeleton (annot.mat rows of 28 joints).
MPI3DHP_28: tuple[str, ...] = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top", "left_clavicle",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand", "right_clavicle", "right_shoulder",
    "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
    "left_toe", "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)
MPI3DHP_TO_CANONICAL: tuple[int, ...] = (7, 5, 14, 15, 16, 9, 10, 11, 23, 24, 25, 18, 19, 20, 4, 3, 6)

# MPII Human Pose 16 joints (annopoints ids 0..15).
MPII_16: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
    "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
# Canonical joints 0..14 taken directly; spine (15) and head (16) are synthesised.
MPII_TO_CANONICAL: tuple[int, ...] = (9, 8, 12, 11, 10, 13, 14, 15, 2, 1, 0, 3, 4, 5, 6)
MPII_HEAD_WEIGHTS = (0.5, 0.5)  # head = 0.5 head_top + 0.5 upper_neck
MPII_SPINE_WEIGHTS = (0.53, 0.47)  # spine = 0.53 thorax + 0.47 pelvis


def _take(joints: np.ndarray, index: tuple[int, ...], n_source: int) -> np.ndarray:
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != n_source:
        raise ValueError(f"expected (..., {n_source}, D) source joints, got shape {joints.shape}")
    return joints[..., list(index), :]


def from_h36m(joints: np.ndarray) -> np.ndarray:
    """Human3.6M 32-joint array (..., 32, D) -> canonical (..., 17, D)."""
    return _take(joints, H36M_TO_CANONICAL, 32)


def from_mpi3dhp(joints: np.ndarray) -> np.ndarray:
    """MPI-INF-3DHP training 28-joint array (..., 28, D) -> canonical (..., 17, D)."""
    return _take(joints, MPI3DHP_TO_CANONICAL, 28)


def from_mpii(joints: np.ndarray, visible: np.ndarray | None = None,
              present: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MPII 16-joint 2D array (..., 16, 2) -> canonical (..., 17, 2) and its (..., 17) mask.

    A source joint is valid when it is ``present`` (..., 16) and, if given, ``visible`` is true; the
    synthesised head needs head_top and upper_neck, spine takes the thorax mask. In the official .mat a
    missing joint is simply absent, so a reader passes ``present`` and a joint on the image edge (x = 0 or
    y = 0) stays valid. Without ``present`` (arrays from later conversions, e.g. pose-hg-train's annot.h5,
    which store missing joints as zeros) a joint is valid when x*y != 0.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 2 or joints.shape[-2:] != (16, 2):
        raise ValueError(f"expected (..., 16, 2) MPII joints, got shape {joints.shape}")
    if present is None:
        src_mask = joints[..., 0] * joints[..., 1] != 0
    else:
        src_mask = np.asarray(present, dtype=bool)
        if src_mask.shape != joints.shape[:-1]:
            raise ValueError(f"expected a {joints.shape[:-1]} presence mask, got shape {src_mask.shape}")
        src_mask = src_mask.copy()
    if visible is not None:
        src_mask &= np.asarray(visible, dtype=bool)
    out = np.zeros(joints.shape[:-2] + (17, 2))
    mask = np.zeros(joints.shape[:-2] + (17,), dtype=bool)
    out[..., :15, :] = joints[..., list(MPII_TO_CANONICAL), :]
    mask[..., :15] = src_mask[..., list(MPII_TO_CANONICAL)]
    thorax, pelvis, neck, top = (MPII_16.index(n) for n in ("thorax", "pelvis", "upper_neck", "head_top"))
    out[..., 15, :] = MPII_SPINE_WEIGHTS[0] * joints[..., thorax, :] + MPII_SPINE_WEIGHTS[1] * joints[..., pelvis, :]
    mask[..., 15] = src_mask[..., thorax]
    out[..., 16, :] = MPII_HEAD_WEIGHTS[0] * joints[..., top, :] + MPII_HEAD_WEIGHTS[1] * joints[..., neck, :]
    mask[..., 16] = src_mask[..., top] & src_mask[..., neck]
    out[~mask] = 0.0
    return out, mask


def resolve_joints(spec: str | list | tuple | None) -> tuple[int, ...]:
    """A joint selection (set name, or list of names / indices) -> sorted canonical indices."""
    if spec is None:
        return JOINT_SETS["all"]
    if isinstance(spec, str):
        if spec not in JOINT_SETS:
            raise ValueError(f"unknown joint set {spec!r}; known: {', '.join(JOINT_SETS)}")
        return JOINT_SETS[spec]
    out = []
    for j in spec:
        if isinstance(j, str):
            if j not in JOINT_INDEX:
                raise ValueError(f"unknown joint {j!r}; known: {', '.join(JOINTS)}")
            out.append(JOINT_INDEX[j])
        elif isinstance(j, (int, np.integer)) and 0 <= int(j) < NUM_JOINTS:
            out.append(int(j))
        else:
            raise ValueError(f"joint index {j!r} is not in 0..{NUM_JOINTS - 1}")
    if len(set(out)) != len(out):
        raise ValueError(f"joint selection {spec!r} names a joint twice")
    return tuple(sorted(out))


def knee_neck_length(joints: np.ndarray) -> np.ndarray:
    """|l_knee-l_hip| + |spine-pelvis| + |neck-spine| of canonical (..., 17, 3) poses: the 920 mm rule's length."""
    j = np.asarray(joints, dtype=np.float64)
    i = JOINT_INDEX
    seg = lambda a, b: np.linalg.norm(j[..., i[a], :] - j[..., i[b], :], axis=-1)  # noqa: E731
    return seg("l_knee", "l_hip") + seg("spine", "pelvis") + seg("neck", "spine")


# --- Named joint orders of predictions files ----------------------------------------------------

# Each order lists, position by position, the canonical joint it holds.
ORDERS: dict[str, tuple[str, ...]] = {
    "canonical": JOINTS,
    # Human3.6M 17 joints as VideoPose3D and mmpose keep them (pelvis first; 'thorax' is our neck,
    # their 'neck/nose' our head, their 'head' our head_top).
    "h36m17": ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "neck", "head",
               "head_top", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"),
    # MPI-INF-3DHP test-set 17 joints (annot3/univ_annot3, `mpii_get_joints('relevant')`): the canonical order.
    "mpi17": JOINTS,
}
ORDER_NOTES: dict[str, str] = {
    "canonical": "posebench's order (head_top first, pelvis 15th)",
    "h36m17": "Human3.6M 17-joint order of VideoPose3D and mmpose (pelvis first)",
    "mpi17": "MPI-INF-3DHP test-set order (head_top first; the same as canonical)",
}
# A declared order is refused when another known order's skeleton_misfit is this many times lower.
ORDER_MARGIN = 1.5


def order_permutation(order: str) -> np.ndarray:
    """Positions in an ``order`` array of each canonical joint: ``canonical = joints[..., perm, :]``."""
    if order not in ORDERS:
        raise PosebenchError(f"unknown joint order {order!r}; known: {', '.join(ORDERS)}")
    names = ORDERS[order]
    return np.array([names.index(j) for j in JOINTS], dtype=np.int64)


def to_canonical(joints: np.ndarray, order: str) -> np.ndarray:
    """(..., 17, D) joints in a named order -> canonical order."""
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected (..., {NUM_JOINTS}, D) joints, got shape {joints.shape}")
    return joints[..., order_permutation(order), :]


def from_canonical(joints: np.ndarray, order: str) -> np.ndarray:
    """Canonical (..., 17, D) joints -> the named order."""
    joints = np.asarray(joints)
    return joints[..., np.argsort(order_permutation(order)), :]


# Left/right bone pairs whose lengths match on a body: upper/lower arm, thigh/shin, pelvis-hip, neck-shoulder.
_SYMMETRIC_BONES = (((2, 3), (5, 6)), ((3, 4), (6, 7)), ((8, 9), (11, 12)), ((9, 10), (12, 13)),
                    ((14, 8), (14, 11)), ((1, 2), (1, 5)))


def skeleton_misfit(joints: np.ndarray, order: str = "canonical", max_rows: int = 2000) -> float:
    """How badly ``joints`` read in ``order`` fit a body (lower is better; scale-free, so units do not matter).

    Median over rows of compactness x (1 + 2 asymmetry): compactness is the summed bone length over the mean
    distance between joints (~7 on real poses, ~11 when a wrong order joins far-apart joints); asymmetry is the
    mean relative left/right difference of paired bones (0 on real poses, ~0.5 in a wrong order).
    """
    j = np.asarray(joints, dtype=np.float64)
    if len(j) > max_rows:
        j = j[np.linspace(0, len(j) - 1, max_rows).astype(np.int64)]
    c = to_canonical(j, order)
    p, ch = np.array(BONES).T
    bones = np.linalg.norm(c[:, ch] - c[:, p], axis=-1).sum(axis=1)
    diff = c[:, :, None, :] - c[:, None, :, :]
    mean_dist = np.linalg.norm(diff, axis=-1).sum(axis=(1, 2)) / (NUM_JOINTS * (NUM_JOINTS - 1))
    seg = lambda a: np.linalg.norm(c[:, a[0]] - c[:, a[1]], axis=-1)  # noqa: E731
    asym = np.mean([2 * np.abs(seg(r) - seg(l)) / (seg(r) + seg(l) + 1e-12) for r, l in _SYMMETRIC_BONES], axis=0)
    ok = mean_dist > 0
    if not ok.any():
        return float("nan")
    return float(np.median(bones[ok] / mean_dist[ok] * (1 + 2 * asym[ok])))


def detect_order(joints: np.ndarray) -> dict[str, float]:
    """Misfit of ``joints`` read in each known order (lower fits better), distinct permutations only."""
    out: dict[str, float] = {}
    seen: dict[tuple[int, ...], str] = {}
    for name in ORDERS:
        key = tuple(order_permutation(name))
        if key in seen:
            continue
        seen[key] = name
        out[name] = skeleton_misfit(joints, name)
    return out


def check_order(joints: np.ndarray, declared: str = "canonical") -> None:
    """Raise PosebenchError naming the order when ``joints`` fit another known order much better than ``declared``."""
    perm = tuple(order_permutation(declared))
    scores = detect_order(joints)
    mine = next(v for k, v in scores.items() if tuple(order_permutation(k)) == perm)
    best = min(scores, key=lambda k: scores[k])
    if not np.isfinite(mine) or tuple(order_permutation(best)) == perm:
        return
    if mine > ORDER_MARGIN * scores[best]:
        raise PosebenchError(
            f"the joints look like the {best!r} order ({ORDER_NOTES[best]}), not the declared {declared!r}: "
            f"read as {best} they fit a body {mine / scores[best]:.1f}x better; pass --joint-order {best} "
            f"(Python: joint_order={best!r}) or reorder the file")
