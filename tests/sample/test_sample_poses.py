"""The pose prior: skeletons from the documented facts, bodies, motions, universal rescaling, projection."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from posebench.sample import poses as P

MPI28 = ("spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top", "left_clavicle",
         "left_shoulder", "left_elbow", "left_wrist", "left_hand", "right_clavicle", "right_shoulder",
         "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
         "left_toe", "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe")


@pytest.fixture(scope="module")
def metadata(testdata):
    return ET.parse(testdata / "h36m" / "metadata.xml").getroot()


def test_h36m_skeleton_matches_metadata_skel_pos(metadata):
    items = metadata.find("skel_pos").find("tree").findall("item")
    names = tuple(it.find("name").text for it in items)
    parents = tuple(int(it.find("parent").text) - 1 for it in items)  # 1-based there, root its own parent
    skel = P.SKELETONS["h36m32"]
    assert skel.joints == names
    assert tuple(max(p, -1) if i else -1 for i, p in enumerate(parents)) == skel.parents
    assert skel.parents[0] == -1 and parents[0] == -1


def test_mpi_skeleton_order_and_tree():
    skel = P.SKELETONS["mpi28"]
    assert skel.joints == MPI28
    assert skel.parents.count(-1) == 1 and skel.joints[skel.parents.index(-1)] == "pelvis"
    for skel in P.SKELETONS.values():  # every joint reaches the root; parts label left/right sides
        for j in range(skel.num_joints):
            seen = 0
            while skel.parents[j] >= 0 and seen < 40:
                j, seen = skel.parents[j], seen + 1
            assert skel.parents[j] == -1
        assert set(skel.parts) == set(P.PARTS)


def test_random_body_varies_per_subject_and_is_symmetric():
    a = P.random_body(np.random.default_rng(1), "h36m32")
    b = P.random_body(np.random.default_rng(2), "h36m32")
    assert not np.allclose(a.lengths, b.lengths)
    idx = {n: i for i, n in enumerate(P.POINTS)}
    for name in ("knee", "ankle", "elbow", "wrist", "shoulder"):
        assert a.lengths[idx["l_" + name]] == pytest.approx(a.lengths[idx["r_" + name]])
    np.testing.assert_array_equal(a.offsets, P.random_body(np.random.default_rng(1), "h36m32").offsets)


@pytest.mark.parametrize("action", P.ACTIONS)
def test_motion_is_physical(action):
    rng = np.random.default_rng(7)
    body = P.random_body(rng, "h36m32")
    j = P.motion(body, action, 150, rng)
    assert j.shape == (150, 32, 3) and j.dtype == np.float64
    assert j[..., 2].min() >= 0 and j[..., 2].min(1).max() < 120  # on the floor, not floating
    assert np.abs(np.diff(j, axis=0)).max() < 150  # smooth at 50 fps: < 7.5 m/s anywhere
    skel = body.skeleton
    limbs = [(p, c) for p, c in skel.bones if skel.parts[p] == skel.parts[c] != "torso"]
    assert len(limbs) >= 16
    for p, c in limbs:  # rigid limb bones: constant length within the sequence (the spine bends)
        length = np.linalg.norm(j[:, c] - j[:, p], axis=-1)
        assert np.ptp(length) < 1e-6
    names = skel.joints
    np.testing.assert_allclose(j[:, names.index("Spine")], j[:, 0])  # released duplicates
    np.testing.assert_allclose(j[:, names.index("LeftShoulder")], j[:, names.index("Neck")])
    height = j[:, 15, 2].max() if action not in ("lying",) else None
    if action in ("walking", "standing", "phoning", "greeting"):
        assert 1400 < height < 2000


def test_motion_deterministic_and_h36m_action_names():
    def run(action):
        rng = np.random.default_rng(3)
        return P.motion(P.random_body(rng, "mpi28"), action, 80, rng)

    np.testing.assert_array_equal(run("walking"), run("walking"))
    for name in ("Walking 1", "WalkDog", "TakingPhoto", "SittingDown 2", "Purchases"):
        assert run(name).shape == (80, 28, 3)
    assert set(P.H36M_ACTION_MOTION.values()) <= set(P.ACTIONS)
    with pytest.raises(ValueError, match="unknown action"):
        run("juggling")


def test_joint_limits_hold():
    rng = np.random.default_rng(11)
    body = P.random_body(rng, "mpi28")
    names = body.skeleton.joints
    for action in P.ACTIONS:
        j = P.motion(body, action, 100, rng)
        for side in ("left", "right"):
            hip, knee, ankle = (j[:, names.index(f"{side}_{n}")] for n in ("hip", "knee", "ankle"))
            u, v = hip - knee, ankle - knee
            cos = np.clip((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1), -1, 1)
            assert np.degrees(np.arccos(cos)).min() > 180 - np.degrees(2.4) - 1e-6  # knee flexion <= 2.4 rad


def test_universal_rescaling():
    rng = np.random.default_rng(5)
    body = P.random_body(rng, "h36m32")
    j = P.motion(body, "crouching", 120, rng)
    u = P.universal(j, "h36m32")
    kn = P.knee_neck_length(u, "h36m32")
    assert kn.mean() == pytest.approx(P.DEFAULT_KNEE_NECK) and P.DEFAULT_KNEE_NECK != 920
    assert np.ptp(kn) > 0.01  # the bending spine: the 920 mm rule is not an identity here
    rel_u, rel_j = u - u[:, :1], j - j[:, :1]
    scale = np.linalg.norm(rel_u, axis=-1).sum(1) / np.linalg.norm(rel_j, axis=-1).sum(1)
    np.testing.assert_allclose(rel_u, scale[:, None, None] * rel_j, atol=1e-9)  # one scale per sequence
    assert np.ptp(scale) < 1e-12
    np.testing.assert_allclose(u[:, 0], j[:, 0])  # scaled about the pelvis
    rigid = P.universal(j, "h36m32", knee_neck=920, rigid_spine=True)
    np.testing.assert_allclose(P.knee_neck_length(rigid, "h36m32"), 920.0, rtol=1e-12)


def test_project_pinhole_and_distortion():
    pts = np.array([[100.0, -50.0, 2000.0], [0.0, 0.0, 1000.0]])
    uv = P.project(pts, 1000, 1100, 64, 60)
    np.testing.assert_allclose(uv, [[114.0, 32.5], [64.0, 60.0]])
    np.testing.assert_allclose(P.project(pts, 1000, 1100, 64, 60, np.zeros(5)), uv)
    x = np.array([[200.0, 0.0, 1000.0]])  # x = 0.2, r^2 = 0.04
    k = P.project(x, 1, 1, 0, 0, [-0.2, 0.1, 0.01, 0, 0])[0, 0]
    assert k == pytest.approx(0.2 * (1 - 0.2 * 0.04 + 0.1 * 0.04**2 + 0.01 * 0.04**3))
    tan = P.project(np.array([[100.0, 200.0, 1000.0]]), 1, 1, 0, 0, [0, 0, 0, 0.01, 0.02])[0]
    x, y, r2 = 0.1, 0.2, 0.05  # OpenCV: x' = x + 2 p1 x y + p2 (r2 + 2x^2), y' = y + p1 (r2 + 2y^2) + 2 p2 x y
    np.testing.assert_allclose(tan, [x + 2 * 0.01 * x * y + 0.02 * (r2 + 2 * x * x),
                                     y + 0.01 * (r2 + 2 * y * y) + 2 * 0.02 * x * y])


def test_rotation_convention_pinned_on_s1_54138969(metadata):
    w0 = np.array(metadata.find("w0").text.strip("[] \n").split(), dtype=float)
    angles, centre = w0[0:3], w0[3:6]  # camera 1, subject 1
    np.testing.assert_allclose(centre, [1841.107, 4955.285, 1563.445], atol=1e-3)
    # VideoPose3D's S1 camera-to-world quaternion (w, x, y, z) for 54138969 (research/eval-anchors.md §6).
    w, x, y, z = 0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088
    cam_to_world = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    np.testing.assert_allclose(P.rotation_xyz(angles), cam_to_world.T, atol=1e-6)
    # The camera looks down at the capture area: camera y (down) has a negative world z component.
    assert P.rotation_xyz(angles)[1, 2] < -0.9
