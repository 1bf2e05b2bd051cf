"""`posebench evaluate --from/--joint-order/--name`, `convert`, `table`, `site`, and `compare` with too few clusters."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.data import write_prepared
from posebench.predictions import read_predictions, write_predictions
from posebench.skeleton import from_canonical
from tests.test_importers import CAMS, _h36m_data


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-tables")
    data = _h36m_data()
    write_prepared(root / "test.h5", data.columns, data.attrs)
    gt = np.asarray(data["joints3d"], dtype=np.float64)
    pred = gt + np.random.default_rng(0).normal(0, 20, gt.shape)
    tree: dict = {}
    for s in (9, 11):
        for seq in ("Directions 1", "TakingPhoto 1"):
            tree.setdefault(f"S{s}", {})[seq] = [
                from_canonical(pred[(data["subject"] == s) & (data["sequence"] == seq) & (data["camera"] == c)],
                               "h36m17") / 1000.0 for c in CAMS]
    np.savez(root / "vp3d.npz", positions_3d=np.array(tree, dtype=object))
    write_predictions(root / "h36m17.h5", from_canonical(pred, "h36m17"), np.arange(len(pred)))
    return root, pred


def test_evaluate_from_videopose3d_with_a_name_and_the_ceiling_line(setup):
    root, pred = setup
    res = _run("evaluate", "-p", "h36m-lifting", "-d", root / "test.h5", "--predictions", root / "vp3d.npz",
               "--name", "VideoPose3D (mine)", "--results-dir", root / "res")
    assert res.exit_code == 0, res.output
    assert "ceiling: The ground truth scores perfectly" in res.stdout
    run = json.loads(next((root / "res" / "runs").glob("*videopose3d*.json")).read_text())  # run ids are lower case
    assert run["name"] == "VideoPose3D (mine)" and run["predictions"]["format"] == "videopose3d"
    res = _run("evaluate", "-p", "h36m-lifting", "-d", root / "test.h5", "--predictions", root / "h36m17.h5",
               "--no-save", "--format", "json")
    assert res.exit_code == 1 and "'h36m17' order" in res.output and "--joint-order h36m17" in res.output
    res = _run("evaluate", "-p", "h36m-lifting", "-d", root / "test.h5", "--predictions", root / "h36m17.h5",
               "--joint-order", "h36m17", "--no-save", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ceiling"]["perfect"] is True


def test_convert_then_table_and_site(setup, tmp_path):
    root, pred = setup
    res = _run("convert", root / "vp3d.npz", tmp_path / "plain.h5", "-p", "h36m-lifting", "-d", root / "test.h5")
    assert res.exit_code == 0, res.output
    joints, idx = read_predictions(tmp_path / "plain.h5")
    np.testing.assert_allclose(joints, pred[idx], atol=1e-9)
    res = _run("evaluate", "-p", "h36m-lifting", "-d", root / "test.h5", "--predictions", tmp_path / "plain.h5",
               "--name", "converted", "--results-dir", tmp_path / "res")
    assert res.exit_code == 0, res.output
    res = _run("table", "-p", "h36m-lifting", "--by", "action", "--results-dir", tmp_path / "res", "--format", "md",
               "--overlays", tmp_path / "figs")
    assert res.exit_code == 0, res.output
    assert "| method | Directions | Photo | Mean |" in res.stdout.replace("  ", " ")
    assert "| converted |" in res.stdout and "(published)" in res.stdout
    assert (tmp_path / "figs" / "overlay-bars.png").is_file() and (tmp_path / "figs" / "overlay-pck.png").is_file()
    res = _run("table", "-p", "h36m-lifting", "--by", "activity", "--results-dir", tmp_path / "res")
    assert res.exit_code == 1 and "grouping 'activity'" in res.output
    res = _run("site", "--out", tmp_path / "site", "--results-dir", tmp_path / "res", "--n-boot", "100")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "site" / "index.html").is_file() and list((tmp_path / "site").glob("run-*converted*.html"))


def test_compare_says_five_clusters_cannot_declare_a_winner(setup, tmp_path):
    root, pred = setup
    data_path = root / "test.h5"
    for k, noise in enumerate((5.0, 60.0)):
        write_predictions(tmp_path / f"m{k}.h5", pred + noise, np.arange(len(pred)))
        res = _run("evaluate", "-p", "h36m-lifting", "-d", data_path, "--predictions", tmp_path / f"m{k}.h5",
                   "--name", f"m{k}", "--results-dir", tmp_path / "res")
        assert res.exit_code == 0, res.output
    ids = sorted(p.stem for p in (tmp_path / "res" / "runs").glob("*.json"))
    res = _run("compare", *ids, "--results-dir", tmp_path / "res", "--n-boot", "100")
    assert res.exit_code == 0, res.output
    # 4 takes (S9/S11 x 2 sequences): the smallest possible p is 2/2^4
    assert "smallest possible p-value is 0.125" in res.output and "no winner can be declared" in res.output
    assert "at least 6 clusters" in res.output
