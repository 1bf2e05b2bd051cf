"""The per-run report: summary, breakdown and per-joint tables in four formats, figures, and an index.md."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from posebench.io_utils import write_text_atomic
from posebench.protocols import MetricDef
from posebench.report.intervals import cluster_key, group_intervals, metric_interval, run_label
from posebench.report.tables import render, to_markdown
from posebench.results import Result
from posebench.skeleton import JOINT_SETS, MPI3DHP_GROUPS


def summary_table(result: Result, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Each metric (recomputed from the run's aggregates) with its unit and cluster-bootstrap interval."""
    rows = {}
    for m in result.protocol.metrics:
        iv = metric_interval(result, m.name, n_boot=n_boot, seed=seed)
        rows[m.name] = {"value": iv.estimate, "unit": m.unit, "ci_low": iv.low,
                        "ci_high": iv.high, "clusters": iv.n_clusters, "rows": iv.n_rows}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "metric"
    return df


def group_names(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows renamed to their official display names where there are some (MPI-INF-3DHP activities, TestSeqN)."""
    from posebench.results import display_names

    return display_names(table, key)


def joint_groups_for(metric: MetricDef) -> dict[str, tuple[int, ...]] | None:
    """MPI-INF-3DHP's printed joint groups when a metric scores its 14 joints, else per joint."""
    return MPI3DHP_GROUPS if tuple(metric.joints) == JOINT_SETS["vnect14"] else None


def _write_table(df: pd.DataFrame, stem: Path, digits: int = 2) -> list[Path]:
    out = []
    for fmt, ext in (("csv", "csv"), ("md", "md"), ("latex", "tex"), ("json", "json")):
        path = stem.with_suffix(f".{ext}")
        write_text_atomic(path, render(df, fmt, digits=digits))
        out.append(path)
    return out


def load_poses(result: Result, data: str | os.PathLike | None = None, predictions: str | os.PathLike | None = None,
               positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | str:
    """Ground truth and prediction (root-centred, rescaled as the protocol does) for a run's rows (or just the
    ``positions`` of its index: only those rows of the predictions are read), or the reason they cannot be had.

    The poses must reproduce the run's stored errors for the headline metric: another predictions file at the
    recorded path is named as such rather than drawn.
    """
    from posebench.data import PreparedFileError, read_attrs, read_prepared
    from posebench.evaluation import compute_errors, prepare_poses
    from posebench.predictions import PredictionsError

    pred_path = predictions or (result.meta.get("predictions") or {}).get("path")
    data_path = data or (result.meta.get("data") or {}).get("path")
    if not pred_path or not Path(pred_path).is_file():
        return "no predictions file recorded or given (--predictions)"
    if not data_path or not Path(data_path).is_file():
        return "the prepared file is not at its recorded path (give --data)"
    positions = np.arange(len(result.index)) if positions is None else np.asarray(positions, dtype=np.int64)
    rows = result.index[positions]
    target = result.protocol.target
    try:
        if read_attrs(data_path).get("content_hash") != (result.meta.get("data") or {}).get("content_hash"):
            return f"{data_path} is not the data this run scored (content hash differs)"
        # Only the chunks holding these rows are read: the check below against the run's stored errors (whose
        # file the run's hashes vouch for) is what proves these are the rows it scored.
        gt = np.asarray(read_prepared(data_path, columns=[target], rows=rows, verify=False)[target])
        joints = prediction_rows(pred_path, rows)
    except (PreparedFileError, PredictionsError) as e:
        return str(e)
    head = result.protocol.headline
    again = compute_errors(result.protocol, joints, gt)[head]
    if not np.allclose(again, result.errors[head][positions], rtol=1e-5, atol=1e-3):
        return f"{pred_path} does not reproduce this run's errors (not the predictions it scored)"
    pred, gt = prepare_poses(result.protocol, joints, gt)  # exactly as they were scored
    return gt, pred


def prediction_rows(path: str | os.PathLike, rows: np.ndarray) -> np.ndarray:
    """The predicted joints (len(rows), 17, 3) for prepared-file ``rows``, reading only those rows of an HDF5 file."""
    from posebench.h5safe import UnsafeFileError, check_shape, is_hdf5, open_h5, plain_dataset, read_dataset
    from posebench.predictions import PredictionsError, match_index, read_predictions

    if not is_hdf5(path):
        joints, idx = read_predictions(path)
        return joints[match_index(idx, rows, int(max(idx.max(initial=-1), rows.max(initial=-1))) + 1)]
    try:
        with open_h5(path, "predictions file") as f:
            ids, ds = plain_dataset(f, "index"), plain_dataset(f, "joints3d")
            n = check_shape(ids, trailing=(), kinds="iu")[0]
            check_shape(ds, trailing=(17, 3), kinds="fiu", rows=n)
            index = read_dataset(ids).astype(np.int64)
            order = np.argsort(index, kind="stable")
            at = np.searchsorted(index[order], rows)
            found = (at < n) & (index[order][np.minimum(at, max(n - 1, 0))] == rows) if n else np.zeros(len(rows), bool)
            if not found.all():
                raise PredictionsError(f"{path}: no prediction for row {int(rows[~found][0])}")
            joints = read_dataset(ds, order[at]).astype(np.float64)
    except UnsafeFileError as e:
        raise PredictionsError(str(e)) from None
    if not np.isfinite(joints).all():
        raise PredictionsError(f"{path}: joints3d has NaN/inf in the rows drawn")
    return joints


def worst_case_figure(result: Result, n: int = 6, data: str | os.PathLike | None = None,
                      predictions: str | os.PathLike | None = None, suptitle: str | None = None):
    """Skeleton overlays of a run's ``n`` worst rows by its headline metric, or the reason they cannot be drawn."""
    from posebench.report import plots

    head = result.protocol.metric(result.protocol.headline)
    per = result.per_sample(head.name)
    label_key = cluster_key(result)
    worst = plots.worst_indices(per, n, higher_is_worse=not head.higher_is_better,
                                distinct=result.codes[label_key][0] if label_key else None)
    poses = load_poses(result, data, predictions, positions=worst)
    if isinstance(poses, str):
        return poses
    titles = [(f"{result.groups[label_key][i]}\n" if label_key else "") + f"row {int(result.index[i])}: "
              f"{per[i]:.0f} {head.unit}" for i in worst]
    suptitle = suptitle or (f"{run_label(result)} on {result.protocol.name}: worst {head.name} "
                            "(prediction in colour, ground truth dashed)")
    return plots.skeleton_overlays(poses[0], poses[1], titles, suptitle=suptitle)


def write_report(result: Result, out: str | os.PathLike, *, data: str | os.PathLike | None = None,
                 predictions: str | os.PathLike | None = None, n_worst: int = 6, n_boot: int = 2000,
                 seed: int = 0) -> list[Path]:
    """Tables (CSV/Markdown/LaTeX/JSON) and figures (PNG/PDF) for one run, plus an index.md, into ``out``."""
    from posebench.report import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    p = result.protocol
    head = p.metric(p.headline)
    summary = summary_table(result, n_boot=n_boot, seed=seed)
    written += _write_table(summary, out / "summary")
    md = [f"# Report: {result.run_id}\n"]
    if (result.meta.get("data") or {}).get("lookalike"):
        md.append("> **LOOK-ALIKE DATA** (posebench sample): synthetic poses, not the real dataset; these figures are "
                  "not comparable with published results.\n")
    md += [f"{run_label(result)} on **{p.name} v{p.version}** ({p.title}); "
           f"{result.meta.get('rows_scored', len(result.index))} rows; data hash "
           f"{str((result.meta.get('data') or {}).get('content_hash'))[:12]}.\n",
           "## Summary (95% cluster-bootstrap intervals)\n", to_markdown(summary, digits=2)]
    if result.problems:
        md.insert(1, f"**TAMPERED: {'; '.join(result.problems)}.** Every figure below is recomputed from the "
                     "run's files, not taken from its JSON.\n")
    if summary["clusters"].min() < 20:
        md.append(f"\nOnly {int(summary['clusters'].min())} independent clusters: the intervals are indicative only.\n")
    ceiling = result.meta.get("ceiling")
    if ceiling:
        values = ", ".join(f"{m} {ceiling['summary'][m]:.2f}" for m in p.metric_names if m in ceiling["summary"])
        md.append(f"\n**Ceiling** (the ground truth scored the same way): {values}. {ceiling['note']}.\n")
    md += [f"\n**Hint:** {h}.\n" for h in result.meta.get("hints", [])]
    usable = [k for k in p.breakdowns if k in result.groups and any(str(v) for v in result.groups[k])]
    for key in usable:
        table = group_names(result.table(key), key)
        written += _write_table(table, out / f"by-{key}")
        md += [f"\n## By {key}\n", to_markdown(table, digits=2)]
        iv = group_intervals(result, head.name, key, n_boot=n_boot, seed=seed)  # bars carry their intervals
        label = run_label(result)
        fig = plots.group_bars(iv[["value"]].set_axis([label], axis=1), f"{head.name} ({head.unit})",
                               f"{head.name} by {key}: {label} (95% cluster-bootstrap intervals)",
                               low=iv[["low"]].set_axis([label], axis=1), high=iv[["high"]].set_axis([label], axis=1))
        written += plots.save_figure(fig, out / f"bars-{key}")
        md.append(f"\n![{head.name} by {key}](bars-{key}.png)\n")
    for m in [head] + [x for x in p.metrics if x.name == "mpjpe" and x is not head]:
        groups = joint_groups_for(m)
        by = usable[0] if usable else None
        table = result.joint_table(m.name, by=by, joint_groups=groups)
        note = table.attrs.get("all_row", "")
        table = group_names(table, by) if by else table.rename_axis("rows")
        written += _write_table(table, out / f"joints-{m.name}")
        md += [f"\n## {m.name} ({m.unit}) per {'joint group' if groups else 'joint'}\n", to_markdown(table, digits=1),
               f"\n{note}.\n"]
    curve_metric = next((m for m in p.metrics if m.align == "none" and m.name in result.errors), None)
    if curve_metric is not None:
        fig = plots.pck_curve({run_label(result): result.errors[curve_metric.name]},
                              title=f"3D PCK vs threshold ({curve_metric.name} errors, {p.name})")
        written += plots.save_figure(fig, out / "pck-curve")
        md.append("\n## PCK vs threshold\n\n![PCK curve](pck-curve.png)\n")
    fig = worst_case_figure(result, n_worst, data, predictions)
    if isinstance(fig, str):
        md.append(f"\n## Worst cases\n\nNot drawn: {fig}.\n")
    else:
        written += plots.save_figure(fig, out / "worst-cases")
        md.append(f"\n## Worst cases by {head.name}\n\n![worst cases](worst-cases.png)\n")
    index = out / "index.md"
    write_text_atomic(index, "\n".join(md))
    return [index, *written]
