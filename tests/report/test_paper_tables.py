"""Paper tables (methods x groups, the protocol's aggregate as Mean) and overlays of several runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import posebench
from posebench.report import load_published
from posebench.report.paper_tables import MEAN, TableError, overlay_figures, paper_table, render_table
from tests.test_importers import _h36m_data, _mpi_data


@pytest.fixture(scope="module")
def h36m_runs():
    data = _h36m_data()
    gt = np.asarray(data["joints3d"], dtype=np.float64)
    runs = []
    for k, noise in enumerate((15.0, 40.0)):
        pred = gt + np.random.default_rng(k).normal(0, noise, gt.shape)
        r = posebench.evaluate((pred, np.arange(len(gt))), "h36m-lifting", data)
        r.meta["predictions"]["path"] = f"model-{k}.h5"  # names the row
        runs.append(r)
    return runs


def test_methods_by_actions_with_the_protocol_mean(h36m_runs):
    df, notes = paper_table("h36m-lifting", h36m_runs, by="action", published=load_published())
    assert list(df.columns) == ["Directions", "Photo", MEAN]
    for r, label in zip(h36m_runs, ("model-0", "model-1")):
        assert df.loc[label, MEAN] == pytest.approx(r.summary["mpjpe"])
        assert df.loc[label, "Photo"] == pytest.approx(r.table("action").loc["Photo", "mpjpe"])
        # the protocol's mean is the unweighted mean of the action columns here (equal-size actions)
        assert df.loc[label, MEAN] == pytest.approx(df.loc[label, ["Directions", "Photo"]].mean())
    pub = [i for i in df.index if i.endswith("(published)")]
    assert any("VideoPose3D" in i or "Pavllo" in i for i in pub), pub
    assert df.loc[pub, "Directions"].isna().all() and df.loc[pub, MEAN].notna().all()
    assert "mean over action groups" in notes[0]
    md = render_table(df, notes, "md")
    assert "| model-0 |" in md and "mean over action groups" in md
    tex = render_table(df, notes, "latex")
    assert "\\begin{tabular}" in tex and tex.startswith("% mpjpe")
    csv = render_table(df, notes, "csv")
    assert pd.read_csv(__import__("io").StringIO(csv)).shape[0] == len(df)


def test_lookalike_runs_are_labelled_and_noted(h36m_runs):
    h36m_runs[0].meta["data"]["lookalike"] = True
    try:
        df, notes = paper_table("h36m-lifting", h36m_runs, published=load_published())
    finally:
        del h36m_runs[0].meta["data"]["lookalike"]
    assert "model-0 [look-alike data]" in df.index and notes[0].startswith("LOOK-ALIKE DATA")


def test_action_table_on_mpi_is_refused():
    data = _mpi_data()
    r = posebench.evaluate((np.asarray(data["joints3d_univ"], float), np.arange(len(data))), "mpi3dhp-official", data)
    with pytest.raises(TableError, match="'action' is empty.*activity"):
        paper_table("mpi3dhp-official", [r], by="action")
    df, _ = paper_table("mpi3dhp-official", [r], by="activity")
    assert list(df.columns)[0] == "Standing/Walking" and df.columns[-1] == MEAN


def test_overlays_draw_every_run_with_intervals(h36m_runs):
    figs = overlay_figures(h36m_runs, n_boot=200)
    assert set(figs) == {"pck", "bars"}
    ax = figs["bars"].axes[0]
    assert len(ax.patches) == 4  # 2 actions x 2 runs
    assert len([c for c in ax.containers if hasattr(c, "errorbar") and c.errorbar is not None]) == 2
    assert len(figs["pck"].axes[0].get_lines()) >= 2


def test_a_named_run_carries_its_name():
    data = _h36m_data()
    gt = np.asarray(data["joints3d"], dtype=np.float64)
    r = posebench.evaluate((gt + 5.0, np.arange(len(gt))), "h36m-lifting", data, run_name="VideoPose3D (ours, 243 f)")
    assert r.meta["name"] == "VideoPose3D (ours, 243 f)"
    assert r.run_id.startswith("h36m-lifting--videopose3d--ours--243-f--")  # run ids are plain lower case
    with pytest.raises(ValueError, match="blank"):
        posebench.evaluate((gt, np.arange(len(gt))), "h36m-lifting", data, run_name="  ")


def test_leaderboard_ties_share_a_rank_and_the_next_skips(tmp_path):
    from posebench.report import build_leaderboard
    from posebench.results import list_runs

    data = _h36m_data()
    gt = np.asarray(data["joints3d"], dtype=np.float64)
    noise = np.random.default_rng(0).normal(0, 15, gt.shape)
    for name, pred in (("model-0", gt + noise), ("model-0-again", gt + noise * (1 + 1e-7)),  # equal as printed
                       ("model-1", gt + 3 * noise)):
        posebench.evaluate((pred, np.arange(len(gt))), "h36m-lifting", data, run_name=name, save=True,
                           results_dir=tmp_path)
    board = build_leaderboard(list_runs(tmp_path), load_published().iloc[:0], protocol="h36m-lifting", n_boot=50)[0]
    ranked = board.rows[board.rows.status == "ranked"]
    assert dict(zip(ranked["method"], ranked["rank"])) == {"model-0": 1, "model-0-again": 1, "model-1": 3}
