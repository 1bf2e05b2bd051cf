"""The ceiling line (ground truth scored under the protocol) and the wrong-target hint."""
from __future__ import annotations

import numpy as np
import pytest

import posebench
from posebench.skeleton import knee_neck_length
from tests.test_importers import _h36m_data, _mpi_data


def test_ceiling_is_perfect_without_rescaling_and_shows_the_920_rule_biting():
    data = _mpi_data()
    univ = np.asarray(data["joints3d_univ"], dtype=np.float64)
    assert not np.allclose(knee_neck_length(univ), 920.0, rtol=0.01)  # so the rule moves the ground truth
    official = posebench.evaluate((univ, np.arange(len(data))), "mpi3dhp-official", data)
    c = official.meta["ceiling"]
    assert c["perfect"] and c["summary"]["pck"] == 100.0 and c["summary"]["mpjpe"] == 0.0
    assert c["summary"]["auc"] == pytest.approx(100 * 30 / 31)
    corrected = posebench.evaluate((univ, np.arange(len(data))), "mpi3dhp-corrected", data)
    c = corrected.meta["ceiling"]
    assert not c["perfect"] and "knee_neck_920" in c["note"]
    # the ground truth given as predictions scores exactly the ceiling
    assert corrected.summary.to_dict() == pytest.approx(c["summary"], abs=1e-9)
    assert c["summary"]["mpjpe"] > 1.0 and c["summary"]["pa_mpjpe"] == pytest.approx(0.0, abs=1e-6)


def test_true_scale_predictions_on_a_universal_protocol_get_a_hint():
    data = _mpi_data()
    true_scale = np.asarray(data["joints3d"], dtype=np.float64)
    r = posebench.evaluate((true_scale, np.arange(len(data))), "mpi3dhp-official", data)
    assert "true-scale `joints3d`" in r.meta["hints"][0]
    r = posebench.evaluate((np.asarray(data["joints3d_univ"], float), np.arange(len(data))), "mpi3dhp-official", data)
    assert "hints" not in r.meta
    # rescaling protocols make the scale irrelevant: no hint there
    r = posebench.evaluate((true_scale, np.arange(len(data))), "mpi3dhp-corrected", data)
    assert "hints" not in r.meta
    h = _h36m_data()
    r = posebench.evaluate((np.asarray(h["joints3d"], float), np.arange(len(h))), "h36m-lifting", h)
    assert r.meta["ceiling"]["perfect"] and "hints" not in r.meta
