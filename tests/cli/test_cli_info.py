"""`posebench info`: counts, images, hash and knee-neck distribution of prepared files; clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.cli.info import info_dict
from posebench.data import write_prepared
from posebench.skeleton import JOINT_INDEX


def _pose(knee_neck: float) -> np.ndarray:
    """A canonical pose whose knee-neck length is ``knee_neck`` (three collinear segments)."""
    p = np.zeros((17, 3))
    p[JOINT_INDEX["l_hip"]] = (100, 0, 0)
    p[JOINT_INDEX["l_knee"]] = (100, 0.5 * knee_neck, 0)
    p[JOINT_INDEX["spine"]] = (0, -0.25 * knee_neck, 0)
    p[JOINT_INDEX["neck"]] = (0, -0.5 * knee_neck, 0)
    return p + (0, 0, 4000)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("info")
    n = 6
    cols = {"joints3d": np.stack([_pose(900.0 + 10 * i) for i in range(n)]), "joints2d": np.zeros((n, 17, 2)),
            "intrinsics": np.ones((n, 4)), "subject": np.array([9, 9, 9, 11, 11, 11]),
            "camera": np.array([1, 2, 1, 2, 1, 2]), "frame": np.arange(n),
            "action": np.array(["Directions", "Directions", "Eating", "Eating", "Eating", "Walking"], dtype=object),
            "sequence": np.array(["Directions 1"] * 2 + ["Eating"] * 3 + ["Walking"], dtype=object),
            "image": np.array(["images/a.jpg", "", "images/b.jpg", "", "", ""], dtype=object)}
    h36m = d / "h36m.h5"
    h = write_prepared(h36m, cols, {"dataset": "h36m", "split": "test", "sources": {"release": "test"}})
    univ = dict(cols, joints3d_univ=np.stack([_pose(920.0)] * n))
    univ_path = d / "univ.h5"
    write_prepared(univ_path, univ, {"dataset": "h36m", "split": "test"})
    return h36m, h, univ_path


def test_counts_images_hash_and_knee_neck(files):
    path, content_hash, univ = files
    info = info_dict(path)
    assert info["rows"] == 6 and info["rows_with_images"] == 2 and info["content_hash"] == content_hash
    assert info["counts"]["subject"] == {"9": 3, "11": 3}
    assert info["counts"]["action"] == {"Directions": 2, "Eating": 3, "Walking": 1}
    assert info["counts"]["camera"] == {"1": 3, "2": 3} and "activity" not in info["counts"]
    k = info["knee_neck_mm"]
    assert k["column"] == "joints3d" and k["min"] == pytest.approx(900) and k["max"] == pytest.approx(950)
    assert k["median"] == pytest.approx(925)
    assert info["sources"] == {"release": "test"}
    ku = info_dict(univ)["knee_neck_mm"]
    assert ku["column"] == "joints3d_univ" and ku["mean"] == pytest.approx(920)
    assert ku["sd"] == pytest.approx(0, abs=1e-6)


def test_cli_text_and_json(files):
    path, content_hash, _ = files
    res = CliRunner().invoke(main, ["info", str(path)])
    assert res.exit_code == 0, res.output
    assert content_hash in res.output and "per subject (2): 9: 3, 11: 3" in res.output
    assert "with images 2" in res.output and "knee-neck length on joints3d" in res.output
    res = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert json.loads(res.output)["counts"]["sequence"]["Eating"] == 3


def test_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    for p in (bad, tmp_path / "absent.h5"):
        res = CliRunner().invoke(main, ["info", str(p)])
        assert res.exit_code == 1 and str(p) in res.output and "Traceback" not in res.output
