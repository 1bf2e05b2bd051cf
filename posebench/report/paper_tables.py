"""The paper's tables: methods in rows, groups (actions, activities, ...) in columns, the protocol's aggregate as
the mean column; local runs beside published rows. Plus overlays of several runs (PCK curves, per-group bars
with cluster-bootstrap intervals).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from posebench.errors import PosebenchError
from posebench.protocols import Protocol
from posebench.results import Result

MEAN = "Mean"


class TableError(PosebenchError):
    """A paper table cannot be made as asked (no runs, unknown grouping or metric)."""


def _is_lookalike(result: Result) -> bool:
    return bool((result.meta.get("data") or {}).get("lookalike"))


def runs_for(protocol: Protocol, runs: list[Result]) -> list[Result]:
    """The runs scored under ``protocol`` (by name), oldest first."""
    return [r for r in runs if r.protocol.name == protocol.name]


def paper_table(protocol: str | Protocol, runs: list[Result], by: str = "action", metric: str | None = None,
                published: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Methods x groups of ``metric`` (default: the headline) with a Mean column = the protocol's aggregate.

    Local runs come first (look-alike ones labelled so), then published rows (their reported mean only).
    Returns the table and the notes that must travel with it.
    """
    from posebench.protocols import load_protocol
    from posebench.report import run_label

    protocol = load_protocol(protocol) if isinstance(protocol, (str, os.PathLike)) else protocol
    metric = metric or protocol.headline
    md = protocol.metric(metric)  # unknown metric -> ProtocolError
    runs = runs_for(protocol, runs)
    notes: list[str] = []
    rows: dict[str, pd.Series] = {}
    for r in runs:
        try:
            t = r.table(by, [metric])
        except KeyError as e:
            raise TableError(str(e).strip("\"'")) from None
        label = run_label(r) + (" [look-alike data]" if _is_lookalike(r) else "")
        while label in rows:
            label += "'"
        s = t[metric].drop(index="All")
        s[MEAN] = float(r.meta["summary"][metric])
        rows[label] = s
    if not rows and (published is None or published.empty):
        raise TableError(f"no runs under protocol {protocol.name!r} and no published rows to tabulate")
    df = pd.DataFrame(rows).T if rows else pd.DataFrame(columns=[MEAN])
    if MEAN in df.columns:
        df = df[[c for c in df.columns if c != MEAN] + [MEAN]]
    if published is not None and not published.empty:
        pub = published[(published.protocol == protocol.name) & (published.metric == metric)]
        for _, p in pub.iterrows():
            df.loc[f"{p['method']} (published)", MEAN] = float(p["value"])
        if len(pub):
            notes.append("published rows: their reported overall figure only (per-group figures are not transcribed)")
    agg = (f"the mean over {md.group_by} groups" if md.aggregate == "actions" else "all frames pooled")
    notes.insert(0, f"{metric} ({md.unit}); each column pools its frames; {MEAN} is the protocol's aggregate "
                    f"({agg})")
    if any(_is_lookalike(r) for r in runs):
        notes.insert(0, "LOOK-ALIKE DATA in the runs marked so: not comparable with published figures on the real "
                        "dataset")
    df.index.name = "method"
    return df, notes


def render_table(df: pd.DataFrame, notes: list[str], fmt: str, digits: int = 1) -> str:
    """The table in md, csv or latex, with its notes (as a list in md, % comments in LaTeX, none in csv)."""
    from posebench.report import render

    if fmt not in ("md", "csv", "latex"):
        raise TableError(f"unknown table format {fmt!r} (md, csv, latex)")
    body = render(df, fmt, digits=digits)
    if fmt == "md":
        return body + "".join(f"\n- {n}" for n in notes) + "\n"
    if fmt == "latex":
        return "".join(f"% {n}\n" for n in notes) + body
    return body


def overlay_figures(runs: list[Result], by: str | None = None, metric: str | None = None,
                    n_boot: int = 1000) -> dict[str, Any]:
    """Figures comparing several runs of one protocol: 'pck' (curves) and 'bars' (per group, with intervals)."""
    from posebench.report import plots
    from posebench.report import run_label

    if not runs:
        raise TableError("no runs to overlay")
    p = runs[0].protocol
    if any(r.protocol.name != p.name for r in runs):
        raise TableError("overlays need runs of one protocol: " + ", ".join(sorted({r.protocol.name for r in runs})))
    labels = []
    for r in runs:
        label = run_label(r)
        while label in labels:
            label += "'"
        labels.append(label)
    figs: dict[str, Any] = {}
    curve = next((m for m in p.metrics if m.align == "none" and m.name in runs[0].errors), None)
    if curve is not None:
        figs["pck"] = plots.pck_curve({lab: r.errors[curve.name] for lab, r in zip(labels, runs)},
                                      title=f"3D PCK vs threshold, {p.name} ({curve.name} errors)")
    metric = metric or p.headline
    by = by or next((k for k in p.breakdowns if k in runs[0].groups), None)
    if by is not None:
        from posebench.report.intervals import group_intervals

        ivs = [group_intervals(r, metric, by, n_boot=n_boot) for r in runs]
        value = pd.DataFrame({lab: iv["value"] for lab, iv in zip(labels, ivs)})
        low = pd.DataFrame({lab: iv["low"] for lab, iv in zip(labels, ivs)})
        high = pd.DataFrame({lab: iv["high"] for lab, iv in zip(labels, ivs)})
        m = p.metric(metric)
        figs["bars"] = plots.group_bars(value, f"{metric} ({m.unit})",
                                        f"{metric} by {by} on {p.name} (bars: 95% cluster-bootstrap intervals)",
                                        low=low, high=high)
    return figs


def write_overlays(runs: list[Result], out: str | os.PathLike, by: str | None = None, metric: str | None = None,
                   n_boot: int = 1000) -> list[Path]:
    """Save :func:`overlay_figures` as ``out/overlay-<name>.png`` and ``.pdf``."""
    from posebench.report import plots

    out = Path(out)
    written: list[Path] = []
    for name, fig in overlay_figures(runs, by, metric, n_boot).items():
        written += plots.save_figure(fig, out / f"overlay-{name}")
    return written
