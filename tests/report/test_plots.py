"""Figures on synthetic arrays: written as PNG and PDF, with the content the figure claims."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from posebench.report import plots
from posebench.skeleton import ROOT


@pytest.fixture(scope="module")
def poses():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (5, 17, 3))
    gt[:, ROOT] = 0
    pred = gt + rng.normal(0, 40, gt.shape)
    return gt, pred


def test_pck_curve_values_and_files(tmp_path):
    errors = {"good": np.full((10, 14), 20.0), "bad": np.full((10, 14), 120.0)}
    fig = plots.pck_curve(errors)
    lines = fig.axes[0].get_lines()
    good = lines[0].get_ydata()
    assert good[4] == 0.0 and good[5] == 100.0  # 20 mm is not < 20 mm (strict), but is < 25 mm
    assert "AUC 83.9%" in fig.legends[0].get_texts()[0].get_text()  # 26 of 31 thresholds exceed 20 mm
    paths = plots.save_figure(fig, tmp_path / "pck")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert Image.open(paths[0]).size[0] > 500
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_pdf_bytes_are_reproducible(tmp_path):
    fig = plots.pck_curve({"run": np.arange(140.0).reshape(10, 14)})
    a = plots.save_figure(fig, tmp_path / "a", formats=("pdf",))[0].read_bytes()
    b = plots.save_figure(fig, tmp_path / "b", formats=("pdf",))[0].read_bytes()
    assert a == b


def test_group_bars_with_intervals(tmp_path):
    table = pd.DataFrame({"mean-pose": [120.0, 150.0, 90.0], "nearest-neighbour": [80.0, 95.0, 60.0]},
                         index=["Walking", "Sitting", "Eating"])
    fig = plots.group_bars(table, "MPJPE (mm)", "per action", low=table - 5, high=table + 5)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(table.to_numpy().ravel().tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Walking", "Sitting", "Eating"]
    assert plots.save_figure(fig, tmp_path / "bars")[0].is_file()


def test_worst_indices():
    v = np.array([3.0, 9.0, 1.0, 7.0])
    assert plots.worst_indices(v, 2).tolist() == [1, 3]
    assert plots.worst_indices(v, 2, higher_is_worse=False).tolist() == [2, 0]
    takes = np.array(["a", "a", "b", "a"])
    assert plots.worst_indices(v, 3, distinct=takes).tolist() == [1, 2, 3]  # b's worst before a's second


def test_skeleton_overlays(poses, tmp_path):
    gt, pred = poses
    fig = plots.skeleton_overlays(gt + 5000.0, pred, titles=[f"case {i}" for i in range(5)])
    assert len(fig.axes) == 10  # front and side view per case
    ax = fig.axes[0]
    xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    assert np.abs(xs).max() < 2000  # both skeletons were root-centred (the 5 m offset is gone)
    png = plots.save_figure(fig, tmp_path / "worst")[0]
    img = np.asarray(Image.open(png).convert("RGB"))
    assert (img.std(axis=(0, 1)) > 5).all()  # something was drawn


def test_pck_curve_counts_strictly_below_each_threshold():
    from posebench.report.plots import DEFAULT_THRESHOLDS, pck_curve

    rng = np.random.default_rng(4)
    e = np.abs(rng.normal(60, 40, (3000, 17))).astype(np.float32)
    e[0, :3] = [5.0, 150.0, 0.0]  # on a threshold: not counted there
    fig = pck_curve({"run": e})
    t = np.asarray(DEFAULT_THRESHOLDS, dtype=np.float64)
    expected = (e.astype(np.float64).ravel()[:, None] < t[None, :]).mean(axis=0) * 100.0
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), expected)


def _inside(inner, outer, tol=1.0):
    return (inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol and inner.x1 <= outer.x1 + tol
            and inner.y1 <= outer.y1 + tol)


def test_long_titles_are_wrapped_inside_the_figure_and_legends_stay_off_the_data():
    title = "mpi3dhp-corrected v1: a very long run label with its checkpoint name - MPJPE by activity (look-alike data)"
    table = pd.DataFrame({"run A with a long name": [120.0, 150.0], "run B": [80.0, 95.0]}, index=["x", "y"])
    for fig in (plots.group_bars(table, "MPJPE (mm)", title, low=table - 5, high=table + 5),
                plots.pck_curve({"a": np.full((4, 14), 20.0), "b": np.full((4, 14), 60.0)}, title=title)):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        page = fig.bbox
        assert "\n" in ax.get_title()
        assert _inside(ax.title.get_window_extent(renderer), page)
        legend = fig.legends[0].get_window_extent(renderer)
        assert _inside(legend, page)
        assert legend.x0 >= ax.get_window_extent(renderer).x1 - 1  # right of the plotting area
