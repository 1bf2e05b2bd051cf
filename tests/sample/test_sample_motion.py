"""Look-alike motions: physical, deterministic, within joint limits, for every Human3.6M action name."""
from __future__ import annotations

import numpy as np
import pytest

from posebench.sample import body as B
from posebench.sample.motion import ACTIONS, H36M_ACTION_MOTION, motion


@pytest.mark.parametrize("action", ACTIONS)
def test_motion_is_physical(action):
    rng = np.random.default_rng(7)
    body = B.random_body(rng, "h36m32")
    j = motion(body, action, 150, rng)
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
        return motion(B.random_body(rng, "mpi28"), action, 80, rng)

    np.testing.assert_array_equal(run("walking"), run("walking"))
    for name in ("Walking 1", "WalkDog", "TakingPhoto", "SittingDown 2", "Purchases"):
        assert run(name).shape == (80, 28, 3)
    assert set(H36M_ACTION_MOTION.values()) <= set(ACTIONS)
    with pytest.raises(ValueError, match="unknown action"):
        run("juggling")


def test_joint_limits_hold():
    rng = np.random.default_rng(11)
    body = B.random_body(rng, "mpi28")
    names = body.skeleton.joints
    for action in ACTIONS:
        j = motion(body, action, 100, rng)
        for side in ("left", "right"):
            hip, knee, ankle = (j[:, names.index(f"{side}_{n}")] for n in ("hip", "knee", "ankle"))
            u, v = hip - knee, ankle - knee
            cos = np.clip((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1), -1, 1)
            assert np.degrees(np.arccos(cos)).min() > 180 - np.degrees(2.4) - 1e-6  # knee flexion <= 2.4 rad
