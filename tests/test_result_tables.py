"""Result tables as the official scripts print them: names by default, official order, no empty groupings,
and the per-joint table saying how its 'All' row is made."""
from __future__ import annotations

import numpy as np
import pytest

import posebench
from posebench.data import PreparedData
from posebench.names import ACTIVITIES
from tests.test_importers import _h36m_data, _mpi_data


def _mpi_run():
    data = _mpi_data()
    scene = {1: "green_screen", 2: "green_screen", 3: "studio", 4: "studio", 5: "outdoor", 6: "outdoor"}
    cols = dict(data.columns)
    cols["scene"] = np.array([scene[int(s)] for s in cols["subject"]], dtype=object)
    data = PreparedData.from_arrays("mpi3dhp", "test", labels="corrected", **cols)
    univ = np.asarray(data["joints3d_univ"], dtype=np.float64)
    return posebench.evaluate((univ + 10.0 * np.sin(np.arange(univ.size)).reshape(univ.shape), np.arange(len(data))),
                              "mpi3dhp-official", data)


def test_activity_names_and_official_orders_by_default():
    r = _mpi_run()
    t = r.table("activity")
    assert list(t.index) == [ACTIVITIES[k] for k in range(1, 8)] + ["All"]
    assert list(r.table("activity", names=False).index) == [str(k) for k in range(1, 8)] + ["All"]
    # README order (green screen, studio, outdoor), not alphabetical (outdoor before studio)
    assert list(r.table("scene").index) == ["Green screen", "Studio (no green screen)", "Outdoor", "All"]
    assert list(r.table("sequence").index) == [f"TestSeq{k}" for k in range(1, 7)] + ["All"]
    assert r.table("scene").loc["All", "pck"] == pytest.approx(r.summary["pck"])


def test_action_on_mpi_is_an_error_naming_the_usable_groupings():
    r = _mpi_run()
    with pytest.raises(KeyError, match="'action' is empty on mpi3dhp.*activity"):
        r.table("action")
    with pytest.raises(KeyError, match="empty"):
        r.joint_table("mpjpe", by="action")


def test_joint_table_says_its_all_row_is_frames_pooled_beside_an_action_mean_headline():
    data = _h36m_data()
    gt = np.asarray(data["joints3d"], dtype=np.float64)
    rng = np.random.default_rng(0)
    r = posebench.evaluate((gt + rng.normal(0, 20, gt.shape), np.arange(len(gt))), "h36m-lifting", data)
    j = r.joint_table("mpjpe", by="action")
    assert "mean over action groups" in j.attrs["all_row"]
    pooled = r.per_sample("mpjpe").mean()
    assert j.loc["All", "Average"] == pytest.approx(pooled)
    m = _mpi_run().joint_table("pck")
    assert m.attrs["all_row"] == "All: frames pooled"
