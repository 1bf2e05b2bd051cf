"""Protocols load from package data, validate, and reject unknown keys with a suggestion."""
from __future__ import annotations

import pytest

from posebench.protocols import ProtocolError, list_protocols, load_protocol, parse_protocol
from posebench.skeleton import JOINT_SETS, ROOT

SHIPPED = ["h36m", "h36m-lifting", "mpi3dhp", "mpi3dhp-corrected", "mpi3dhp-corrected-margipose-code",
           "mpi3dhp-official"]


def test_shipped_protocols_load_from_package_data():
    names = [p.name for p in list_protocols()]
    assert set(SHIPPED) <= set(names)
    for p in list_protocols():
        assert p.source.startswith("posebench.protocols_data/"), "read through importlib.resources, not a repo path"
        assert p.citation and p.description
        assert p.headline in p.metric_names


@pytest.mark.parametrize("name", SHIPPED)
def test_round_trip_through_result_echo(name):
    p = load_protocol(name)
    from posebench.protocols import Protocol

    assert Protocol.from_dict(p.to_dict()) == p


def test_h36m_matches_the_decisions():
    p = load_protocol("h36m")
    assert p.selection.subjects == (9, 11) and p.selection.frame_stride == 64
    (ex,) = p.selection.exclude
    assert (ex.subject, ex.sequence, ex.camera) == (11, "Directions", 54138969) and ex.reason
    assert p.granted == ("root_depth",) and p.rescale == "none"
    assert all(m.aggregate == "frames" and m.joints == JOINT_SETS["all"] for m in p.metrics)
    assert "paper-era" in p.deviations


def test_lifting_protocol_is_action_mean_and_not_named_p1_p2():
    p = load_protocol("h36m-videopose3d")
    assert p.name == "h36m-lifting" and "p1" not in p.name.lower() and "p2" not in p.name.lower()
    assert p.selection.frame_stride == 1
    assert {m.name: m.align for m in p.metrics} == {"mpjpe": "none", "pa_mpjpe": "procrustes", "n_mpjpe": "scale"}
    assert all(m.aggregate == "actions" and m.group_by == "action" for m in p.metrics)
    (ex,) = p.selection.exclude
    assert ex.camera is None and ex.sequence == "Directions"


def test_mpi_protocols():
    official = load_protocol("mpi3dhp-official")
    assert official.rescale == "none" and set(official.labels) == {"original", "corrected"}
    assert official.metric("mpjpe").joints == JOINT_SETS["all"]
    assert official.metric("pck").joints == JOINT_SETS["vnect14"]
    for name, labels in (("mpi3dhp", ("original",)), ("mpi3dhp-uncorrected", ("original",)),
                         ("mpi3dhp-corrected", ("corrected",))):
        p = load_protocol(name)
        assert p.labels == labels and p.rescale == "knee_neck_920" and p.target == "joints3d_univ"
        assert p.selection.valid_only
        for m in p.metrics:
            assert m.joints == JOINT_SETS["vnect14"] and ROOT not in m.joints
            if m.name.startswith("pa_"):
                assert m.fit_joints == JOINT_SETS["all"] and m.align == "procrustes"


def _minimal(**over):
    raw = {"name": "x", "version": 1, "dataset": "h36m", "split": "test", "metrics": [{"name": "mpjpe"}]}
    raw.update(over)
    return raw


def test_unknown_keys_suggest_the_near_name():
    with pytest.raises(ProtocolError, match="did you mean 'selection'"):
        parse_protocol(_minimal(selecton={}))
    with pytest.raises(ProtocolError, match="did you mean 'frame_stride'"):
        parse_protocol(_minimal(selection={"frame_strid": 64}))
    with pytest.raises(ProtocolError, match="did you mean 'fit_joints'"):
        parse_protocol(_minimal(metrics=[{"name": "pa_mpjpe", "align": "procrustes", "fitjoints": "all"}]))
    with pytest.raises(ProtocolError, match="did you mean 'pa_mpjpe'"):
        parse_protocol(_minimal(metrics=[{"name": "pampjpe"}]))
    with pytest.raises(ProtocolError, match="did you mean 'h36m'"):
        load_protocol("h36n")


def test_inconsistent_metrics_are_refused():
    with pytest.raises(ProtocolError, match="cannot use alignment"):
        parse_protocol(_minimal(metrics=[{"name": "mpjpe", "align": "procrustes"}]))
    with pytest.raises(ProtocolError, match="group_by"):
        parse_protocol(_minimal(metrics=[{"name": "mpjpe", "aggregate": "actions"}]))
    with pytest.raises(ProtocolError, match="unknown joint"):
        parse_protocol(_minimal(metrics=[{"name": "mpjpe", "joints": ["nose"]}]))
    with pytest.raises(ProtocolError, match="reason"):
        parse_protocol(_minimal(selection={"exclude": [{"subject": 11}]}))
