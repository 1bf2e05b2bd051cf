"""Look-alike bodies: skeletons from the documented facts, subjects, universal rescaling."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from posebench.sample import body as B
from posebench.sample.motion import motion


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
    skel = B.SKELETONS["h36m32"]
    assert skel.joints == names
    assert tuple(max(p, -1) if i else -1 for i, p in enumerate(parents)) == skel.parents
    assert skel.parents[0] == -1 and parents[0] == -1


def test_mpi_skeleton_order_and_tree():
    skel = B.SKELETONS["mpi28"]
    assert skel.joints == MPI28
    assert skel.parents.count(-1) == 1 and skel.joints[skel.parents.index(-1)] == "pelvis"
    for skel in B.SKELETONS.values():  # every joint reaches the root; parts label left/right sides
        for j in range(skel.num_joints):
            seen = 0
            while skel.parents[j] >= 0 and seen < 40:
                j, seen = skel.parents[j], seen + 1
            assert skel.parents[j] == -1
        assert set(skel.parts) == set(B.PARTS)


def test_random_body_varies_per_subject_and_is_symmetric():
    a = B.random_body(np.random.default_rng(1), "h36m32")
    b = B.random_body(np.random.default_rng(2), "h36m32")
    assert not np.allclose(a.lengths, b.lengths)
    idx = {n: i for i, n in enumerate(B.POINTS)}
    for name in ("knee", "ankle", "elbow", "wrist", "shoulder"):
        assert a.lengths[idx["l_" + name]] == pytest.approx(a.lengths[idx["r_" + name]])
    np.testing.assert_array_equal(a.offsets, B.random_body(np.random.default_rng(1), "h36m32").offsets)


def test_universal_rescaling():
    rng = np.random.default_rng(5)
    body = B.random_body(rng, "h36m32")
    j = motion(body, "crouching", 120, rng)
    u = B.universal(j, "h36m32")
    kn = B.knee_neck_length(u, "h36m32")
    assert kn.mean() == pytest.approx(B.DEFAULT_KNEE_NECK) and B.DEFAULT_KNEE_NECK != 920
    assert np.ptp(kn) > 0.01  # the bending spine: the 920 mm rule is not an identity here
    rel_u, rel_j = u - u[:, :1], j - j[:, :1]
    scale = np.linalg.norm(rel_u, axis=-1).sum(1) / np.linalg.norm(rel_j, axis=-1).sum(1)
    np.testing.assert_allclose(rel_u, scale[:, None, None] * rel_j, atol=1e-9)  # one scale per sequence
    assert np.ptp(scale) < 1e-12
    np.testing.assert_allclose(u[:, 0], j[:, 0])  # scaled about the pelvis
    rigid = B.universal(j, "h36m32", knee_neck=920, rigid_spine=True)
    np.testing.assert_allclose(B.knee_neck_length(rigid, "h36m32"), 920.0, rtol=1e-12)
