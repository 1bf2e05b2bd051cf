"""The canonical skeleton and the source maps, re-derived from the official files where they exist."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from posebench import skeleton as sk


def test_h36m_names_match_metadata_xml(testdata):
    root = ET.parse(testdata / "h36m" / "metadata.xml").getroot()
    items = root.find("skel_pos").find("tree").findall("item")
    names = tuple(it.findtext("name") for it in items)
    assert names == sk.H36M_32
    parents = [int(it.findtext("parent")) - 1 for it in items]  # MATLAB 1-based
    # Canonical joints taken from H36M keep their kinematic meaning: knee's parent is the hip, etc.
    m = sk.H36M_TO_CANONICAL
    for child, parent in (("r_knee", "r_hip"), ("r_ankle", "r_knee"), ("l_knee", "l_hip"),
                          ("l_elbow", "l_shoulder"), ("r_wrist", "r_elbow"), ("head", "neck")):
        assert parents[m[sk.JOINT_INDEX[child]]] == m[sk.JOINT_INDEX[parent]], (child, parent)
    assert names[m[sk.JOINT_INDEX["head_top"]]] == "Site" and parents[m[0]] == m[sk.JOINT_INDEX["head"]]


def test_maps_by_name():
    by = {n: i for i, n in enumerate(sk.MPI3DHP_28)}
    expect = ["head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
              "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
              "pelvis", "spine", "head"]
    assert sk.MPI3DHP_TO_CANONICAL == tuple(by[n] for n in expect)
    # The official 1-based test-set 'relevant' indices.
    assert [i + 1 for i in sk.MPI3DHP_TO_CANONICAL] == [8, 6, 15, 16, 17, 10, 11, 12, 24, 25, 26, 19, 20, 21, 5, 4, 7]


def test_tree_and_flip_are_consistent():
    assert sk.PARENTS[sk.ROOT] == sk.ROOT and sk.JOINTS[sk.ROOT] == "pelvis"
    assert sorted(sk.FLIP_INDICES) == list(range(17))
    for a, b in sk.FLIP_PAIRS:
        assert sk.JOINTS[a].replace("r_", "l_") == sk.JOINTS[b]
        assert sk.FLIP_INDICES[a] == b and sk.FLIP_INDICES[b] == a
    assert len(sk.BONES) == 16


def test_mpii_synthesised_joints_and_masks():
    j = np.arange(1, 33, dtype=float).reshape(1, 16, 2)
    j[0, 9] = 0  # head_top missing
    out, mask = sk.from_mpii(j)
    thorax, pelvis = j[0, 7], j[0, 6]
    np.testing.assert_allclose(out[0, 15], 0.53 * thorax + 0.47 * pelvis)
    assert mask[0, 15] and not mask[0, 16] and not mask[0, 0]
    assert (out[0, 16] == 0).all()
    assert mask[0, 14] and (out[0, 14] == j[0, 6]).all()


def test_knee_neck_length():
    pose = np.zeros((17, 3))
    i = sk.JOINT_INDEX
    pose[i["l_hip"]] = (100, 0, 0)
    pose[i["l_knee"]] = (100, -450, 0)
    pose[i["spine"]] = (0, 200, 0)
    pose[i["neck"]] = (0, 470, 0)
    assert sk.knee_neck_length(pose) == 450 + 200 + 270
