"""Report figures: PCK-vs-threshold curves, per-group bars, worst-case skeleton overlays (PNG and PDF).

Figures are built on matplotlib's object API with the Agg canvas (no pyplot state, no display needed) and
written atomically; PDFs carry no creation date so the same inputs give the same bytes.
"""
from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from posebench.io_utils import atomic_path
from posebench.metrics import AUC_THRESHOLDS, PCK_THRESHOLD
from posebench.skeleton import BONES, JOINTS, ROOT

DEFAULT_THRESHOLDS = AUC_THRESHOLDS  # the curve's thresholds are AUC's (0:5:150 mm)
_RIGHT = {i for i, n in enumerate(JOINTS) if n.startswith("r_")}
_LEFT = {i for i, n in enumerate(JOINTS) if n.startswith("l_")}
GT_COLOUR, RIGHT_COLOUR, LEFT_COLOUR, MID_COLOUR = "#333333", "#d62728", "#1f77b4", "#2ca02c"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def wrap_title(title: str, width_in: float, fontsize: float = 12.0) -> str:
    """``title`` broken into lines that fit a figure ``width_in`` inches wide (no clipped titles)."""
    per_line = max(20, int(width_in * 72 / (0.62 * fontsize)))
    return "\n".join(textwrap.wrap(title, per_line, break_on_hyphens=False)) or title


def _legend_outside(ax, fontsize: float = 8) -> None:
    """The legend to the right of the axes (the layout makes room for it), never over the data."""
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize=fontsize, frameon=False)


def save_figure(fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` (atomically); returns the paths."""
    out = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150 if fmt == "png" else None, metadata=meta)
        out.append(path)
    return out


def pck_curve(errors: Mapping[str, np.ndarray], thresholds: np.ndarray = DEFAULT_THRESHOLDS,
              title: str = "3D PCK vs threshold", marker: float | None = PCK_THRESHOLD) -> Figure:
    """PCK (%) against the distance threshold (strict <), one line per run; ``errors[name]`` is (N, J) mm."""
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    t = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    for name, err in errors.items():
        e = np.asarray(err).ravel()
        # e < t_k  <=>  (number of thresholds <= e) <= k: one search per error, not one comparison per threshold
        below = np.bincount(np.searchsorted(t[order], e, side="right"), minlength=len(t) + 1)[:len(t)].cumsum()
        curve = np.empty(len(t))
        curve[order] = below / max(len(e), 1) * 100.0
        auc = curve.mean()
        ax.plot(t, curve, linewidth=2, label=f"{name} (AUC {auc:.1f}%)")
    if marker is not None:
        ax.axvline(marker, color="#999999", linestyle=":", linewidth=1)
    ax.set(xlabel="threshold (mm)", ylabel="joints within threshold (%)", xlim=(t.min(), t.max()), ylim=(0, 100))
    ax.set_title(wrap_title(title, 0.7 * fig.get_figwidth()))
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return fig


def group_bars(table: pd.DataFrame, ylabel: str, title: str,
               low: pd.DataFrame | None = None, high: pd.DataFrame | None = None) -> Figure:
    """Grouped bars: one group per row of ``table`` (e.g. action), one bar per column (a run).

    ``low``/``high`` (same shape) draw interval whiskers, e.g. bootstrap intervals.
    """
    n_groups, n_runs = table.shape
    fig = _figure(max(6.0, 0.55 * n_groups * max(1, n_runs) ** 0.5 + 2.0), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / max(n_runs, 1)
    x = np.arange(n_groups)
    for k, col in enumerate(table.columns):
        values = table[col].to_numpy(dtype=np.float64)
        yerr = None
        if low is not None and high is not None:
            # a percentile interval need not contain the pooled value; whiskers never point inwards
            yerr = np.vstack([values - low[col].to_numpy(dtype=np.float64),
                              high[col].to_numpy(dtype=np.float64) - values])
            yerr = np.nan_to_num(np.clip(yerr, 0.0, None))
        ax.bar(x + (k - (n_runs - 1) / 2) * width, values, width, label=str(col), yerr=yerr, capsize=2)
    crowded = n_groups > 6
    ax.set_xticks(x, [str(i) for i in table.index], rotation=35 if crowded else 0, ha="right" if crowded else "center")
    ax.set(ylabel=ylabel)
    ax.set_title(wrap_title(title, (0.7 if n_runs > 1 else 0.95) * fig.get_figwidth()))
    ax.grid(axis="y", alpha=0.3)
    if n_runs > 1:
        _legend_outside(ax)
    return fig


def worst_indices(per_sample: np.ndarray, k: int, higher_is_worse: bool = True,
                  distinct: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``k`` worst rows (largest error, or smallest PCK), worst first.

    With ``distinct`` (e.g. the take of each row), the worst row of each distinct value comes first, so one
    bad take does not fill every panel; the rest follow in order of badness.
    """
    v = np.asarray(per_sample, dtype=np.float64)
    order = np.argsort(-v if higher_is_worse else v, kind="stable")
    if distinct is not None:
        _, first = np.unique(np.asarray(distinct)[order], return_index=True)
        leaders = order[np.sort(first)]
        order = np.concatenate([leaders, order[~np.isin(order, leaders)]])
    return order[:k]


def _draw_skeleton(ax, pose: np.ndarray, axes: tuple[int, int], gt: bool) -> None:
    a, b = axes
    for p, c in BONES:
        colour = GT_COLOUR if gt else RIGHT_COLOUR if c in _RIGHT else LEFT_COLOUR if c in _LEFT else MID_COLOUR
        ax.plot(pose[[p, c], a], -pose[[p, c], b], color=colour, linewidth=1.5 if gt else 2.0,
                linestyle="--" if gt else "-", alpha=0.8 if gt else 1.0)
    ax.scatter(pose[:, a], -pose[:, b], s=6, color=GT_COLOUR if gt else "#000000", zorder=3)


def skeleton_overlays(gt: np.ndarray, pred: np.ndarray, titles: Sequence[str] | None = None,
                      suptitle: str = "Worst cases: prediction (colour) over ground truth (dashed)") -> Figure:
    """Front (x-y) and side (z-y) views of root-centred predictions over ground truth, one column per case."""
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    gt = gt - gt[:, ROOT:ROOT + 1]
    pred = pred - pred[:, ROOT:ROOT + 1]
    k = len(gt)
    fig = _figure(2.2 * max(k, 1) + 0.4, 4.8)
    span = max(float(np.abs(np.concatenate([gt, pred])).max()) * 1.05, 1.0) if k else 1.0
    for i in range(k):
        for row, (axes, label) in enumerate((((0, 1), "front (x, y)"), ((2, 1), "side (z, y)"))):
            ax = fig.add_subplot(2, k, row * k + i + 1)
            _draw_skeleton(ax, gt[i], axes, gt=True)
            _draw_skeleton(ax, pred[i], axes, gt=False)
            ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal", xticks=[], yticks=[])
            if row == 0 and titles is not None:
                ax.set_title(titles[i], fontsize=8)
            if i == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(wrap_title(suptitle, fig.get_figwidth(), 10.0), fontsize=10)
    return fig
