"""Result: one scored run (per-row, per-joint errors + provenance), its typed run JSON and how it is saved.

A run is `<run_id>.json` (provenance, summary, breakdowns, both files' SHA-256) beside `<run_id>.errors.h5`
(per-joint errors, row index, group codes; `posebench.runstore`) and `<run_id>.aggregates` (sufficient
statistics; `posebench.aggregates`). Built by `posebench.results.build_result`; loaded and looked up by
`posebench.run_lookup`; import all of them from `posebench.results`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import pandas as pd

import numpy as np

from posebench import aggregates as _agg
from posebench import metrics as _metrics
from posebench import runstore as _store
from posebench.columns import factorize, natural_key
from posebench.io_utils import file_sha256, write_json_atomic
from posebench.errors import PosebenchError
from posebench.protocols import MetricDef, Protocol
from posebench.skeleton import JOINTS

FORMAT_VERSION = 2  # 2: float32 errors + group codes, aggregates file, files' hashes in the JSON
RESULTS_ENV = "POSEBENCH_RESULTS"
# The default results folder (runs/, reports/, leaderboard.md): not the repository's tracked results/, which
# holds only what ships (published.csv) and what is generated from it (leaderboard.md).
DEFAULT_RESULTS = "posebench-results"


class DataMeta(TypedDict, total=False):
    """The run JSON's `data`: which prepared file was scored (its content hash, not its bytes)."""

    path: str | None
    dataset: str
    split: str
    labels: str | None
    content_hash: str
    rows: int
    hash_verified: bool  # its columns matched its content hash as they were read
    lookalike: bool  # set by `posebench demo`: look-alike data, never ranked with published figures


class PredictionsMeta(TypedDict):
    """The run JSON's `predictions`: the scored file (path None for in-memory arrays) and its hash."""

    path: str | None
    sha256: str


class ModelMeta(TypedDict, total=False):
    """The run JSON's `model`: a registered model's name, checkpoint (and its hash) and options."""

    name: str
    checkpoint: str | None
    checkpoint_hash: str | None
    options: dict[str, Any]


class _RunMetaRequired(TypedDict):
    format_version: int
    run_id: str
    created: str
    protocol: dict[str, Any]  # Protocol.to_dict(), echoed in full
    data: DataMeta
    rows_scored: int
    posebench_version: str
    git_hash: str | None
    units: dict[str, str]  # metric -> "mm" or "%"


class RunMeta(_RunMetaRequired, total=False):
    """The run JSON (`<run_id>.json`), format FORMAT_VERSION: provenance, summary and breakdowns of one run."""

    model: ModelMeta  # a registered model was run ...
    predictions: PredictionsMeta  # ... or a predictions file was scored (a model run may also keep its file)
    summary: dict[str, float]  # metric -> the protocol's aggregate, in `units`
    breakdowns: dict[str, dict[str, dict[str, float]]]  # group key -> group -> metric (and "rows") -> value
    errors_file: str  # the per-row errors HDF5 beside the JSON
    aggregates_file: str  # format 2: the aggregates (JSON) beside it
    errors_sha256: str  # format 2: SHA-256 of the two files' bytes
    aggregates_sha256: str


class ResultFileError(PosebenchError):
    """A stored result cannot be read."""


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """The results folder: the argument, else $POSEBENCH_RESULTS, else ./posebench-results."""
    return Path(results_dir) if results_dir is not None else Path(os.environ.get(RESULTS_ENV, DEFAULT_RESULTS))


def per_sample(errors: np.ndarray, metric: MetricDef) -> np.ndarray:
    """Per-row metric values (mm, or fractions for pck/auc) from per-joint errors."""
    return _metrics.per_sample(errors, metric.kind, threshold=metric.threshold, thresholds=np.asarray(metric.thresholds))


def aggregate(values: np.ndarray, metric: MetricDef, groups: Mapping[str, np.ndarray] | None = None,
              rows: np.ndarray | None = None) -> float:
    """The protocol's aggregate of per-row values: pooled over frames, or the unweighted mean of group means."""
    if metric.aggregate == "frames":
        return _metrics.aggregate(values, rows=rows)
    g = None if groups is None else groups.get(metric.group_by)
    if g is None:
        if np.size(np.asarray(values) if rows is None else np.asarray(values)[rows]) == 0:
            return float("nan")
        raise ValueError(f"metric {metric.name!r} averages over {metric.group_by!r} groups, which the data lacks")
    return _metrics.aggregate(values, g, rows)


class Result:
    """A scored run. ``errors[m]`` is (N, J_scored) mm; ``groups[k]`` is (N,) str; ``index`` (N,) rows.

    A stored run loads lazily: its JSON and aggregates first (enough for summaries, intervals, comparisons and
    the leaderboard), its per-row errors file only when ``index``, ``errors`` or ``groups`` is used.
    ``problems`` lists where the JSON disagrees with its files (a tampered or damaged run; never ranked).
    """

    def __init__(self, meta: RunMeta, protocol: Protocol, index: np.ndarray | None = None,
                 errors: dict[str, np.ndarray] | None = None, groups: Mapping[str, np.ndarray] | None = None,
                 path: Path | None = None, *, codes: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                 aggregates: _agg.Aggregates | None = None, errors_path: Path | None = None,
                 per_row: Mapping[str, np.ndarray] | None = None):
        self.meta, self.protocol, self.path = meta, protocol, path
        self._index, self._errors = index, errors
        self._codes = dict(codes) if codes is not None else (
            {k: factorize(np.asarray(v, dtype=object)) for k, v in groups.items()} if groups is not None else None)
        self._groups: dict[str, np.ndarray] | None = None
        self._aggregates = aggregates
        self._errors_path = errors_path
        self.problems: list[str] = []
        self._per_sample: dict[str, np.ndarray] = dict(per_row or {})  # exact per-row values, when given

    def _load(self) -> None:
        if self._errors is None or self._index is None or self._codes is None:
            if self._errors_path is None:
                raise ResultFileError(f"run {self.run_id} has no per-row errors in memory or on disk")
            self._index, self._errors, self._codes = _store.read_errors(self._errors_path)

    @property
    def index(self) -> np.ndarray:
        self._load()
        return self._index  # type: ignore[return-value]

    @property
    def errors(self) -> dict[str, np.ndarray]:
        self._load()
        return self._errors  # type: ignore[return-value]

    @property
    def codes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{key: (codes (N,), labels (K,))}: the grouping keys as integer codes into natural-order labels."""
        self._load()
        return self._codes  # type: ignore[return-value]

    @property
    def groups(self) -> dict[str, np.ndarray]:
        """{key: (N,) str}: the grouping keys row by row (decoded from the codes once)."""
        if self._groups is None:
            self._groups = {k: labels[c] for k, (c, labels) in self.codes.items()}
        return self._groups

    @property
    def aggregates(self) -> _agg.Aggregates:
        """The run's sufficient statistics (stored beside a format-2 run; computed from the errors otherwise)."""
        if self._aggregates is None:
            self._aggregates = _agg.compute(self.protocol, self.index, self.errors, self.codes)
        return self._aggregates

    @property
    def tampered(self) -> bool:
        return bool(self.problems)

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    def per_sample(self, metric: str) -> np.ndarray:
        """Per-row values of a metric in the summary's units (mm, or percent for pck/auc); computed once."""
        if metric not in self._per_sample:
            self._per_sample[metric] = _agg.per_row(self.errors[metric], self.protocol, metric)
        return self._per_sample[metric]

    def aggregate(self, metric: str, rows: np.ndarray | None = None) -> float:
        """The protocol's aggregate of a metric (over ``rows`` positions if given), in summary units."""
        m = self.protocol.metric(metric)
        v = self.per_sample(metric)
        if rows is not None:
            v = v[rows]
        if len(v) == 0:
            return float("nan")
        if m.aggregate == "frames":
            return float(v.mean())
        if m.group_by not in self.codes:
            raise ValueError(f"metric {metric!r} averages over {m.group_by!r} groups, which the data lacks")
        g = self.codes[m.group_by][0]
        g = g if rows is None else g[rows]
        counts = np.bincount(g)
        sums = np.bincount(g, weights=v)
        return float(np.mean(sums[counts > 0] / counts[counts > 0]))

    @property
    def summary(self) -> pd.Series:
        """Headline numbers, one per protocol metric (mm; percent for pck/auc)."""
        import pandas as pd

        s = self.meta["summary"]
        order = [m for m in self.protocol.metric_names if m in s] + [m for m in s if m not in self.protocol.metric_names]
        return pd.Series({m: float(s[m]) for m in order}, name=self.run_id)

    def table(self, by: str, metrics: list[str] | None = None, names: bool = True) -> pd.DataFrame:
        """Per-group values (each group pooled over its rows) plus an 'All' row with the protocol's aggregate.

        Rows are labelled and ordered as the official tables do (activity names, TestSeq1, scenes in the
        README's order); ``names=False`` keeps the stored codes.
        """
        import pandas as pd

        self._check_grouping(by)
        metrics = metrics or list(self.protocol.metric_names)
        found = self.group_rows(by, metrics)
        rows = {k: found[k] for k in _group_order(by, list(found))}
        rows["All"] = {"rows": int(self.meta.get("rows_scored", sum(r["rows"] for r in found.values()))),
                       **{m: float(self.meta["summary"][m]) for m in metrics}}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = by
        return display_names(df, by) if names else df

    def group_rows(self, by: str, metrics: list[str] | None = None) -> dict[str, dict[str, float]]:
        """{group value: {"rows": n, metric: value pooled over the group's rows}} in natural label order."""
        metrics = metrics or list(self.protocol.metric_names)
        agg = self._aggregates
        if agg is not None and by in agg.breakdowns and all(m in agg.breakdowns[by].sums for m in metrics):
            rows = agg.table(by, metrics)
        else:
            if by not in self.codes:
                raise KeyError(f"no grouping {by!r} in this result (has: {', '.join(sorted(self.codes))})")
            c, labels = self.codes[by]
            counts = np.bincount(c, minlength=len(labels))
            sums = {m: np.bincount(c, weights=self.per_sample(m), minlength=len(labels)) for m in metrics}
            rows = {str(lab): {"rows": int(counts[i]), **{m: float(sums[m][i] / counts[i]) for m in metrics}}
                    for i, lab in enumerate(labels.tolist()) if counts[i]}
        return rows

    def _grouping_labels(self, by: str) -> np.ndarray:
        agg = self._aggregates
        if agg is not None and by in agg.breakdowns:
            return np.asarray(agg.breakdowns[by].labels)
        if by not in self.codes:
            raise KeyError(f"no grouping {by!r} in this result (has: {', '.join(sorted(self.codes))})")
        return np.asarray(self.codes[by][1])

    def _check_grouping(self, by: str) -> None:
        """A grouping the result lacks, or one whose labels are all empty (action on MPI), is an error naming the usable ones."""
        if not any(str(v) for v in self._grouping_labels(by).tolist()):
            usable = [k for k, (_, labels) in self.codes.items() if any(str(x) for x in labels.tolist())]
            raise KeyError(f"grouping {by!r} is empty on {self.protocol.dataset} (it has no {by} labels); "
                           f"use one of {', '.join(sorted(usable))}")

    def joint_table(self, metric: str, by: str | None = None,
                    joint_groups: dict[str, tuple[int, ...]] | None = None, names: bool = False) -> pd.DataFrame:
        """Per-joint (or per joint group) values of a metric, per group of rows and 'All' (frames pooled).

        ``attrs['all_row']`` says how 'All' is made, and when it differs from the headline's aggregate.
        """
        import pandas as pd

        m = self.protocol.metric(metric)
        if by is not None:
            self._check_grouping(by)
        err = self.errors[metric]
        if m.kind == "mean":
            per_joint = err.astype(np.float64)
        elif m.kind == "pck":
            per_joint = (err < m.threshold).astype(np.float64)
        else:
            t = np.asarray(m.thresholds)
            per_joint = (err[:, :, None] < t).mean(axis=2)
        scale = 100.0 if m.unit == "%" else 1.0
        joint_names = [JOINTS[j] for j in m.joints]
        if joint_groups is not None:
            cols = {}
            for gname, joints in joint_groups.items():
                pos = [list(m.joints).index(j) for j in joints]
                cols[gname] = per_joint[:, pos].mean(axis=1)
            cols["Total"] = per_joint.mean(axis=1)
            frame = pd.DataFrame(cols)
        else:
            frame = pd.DataFrame(per_joint, columns=joint_names)
            frame["Average"] = per_joint.mean(axis=1)
        frame = frame * scale
        if by is None:
            out = frame.mean().to_frame("All").T
        else:
            c, labels = self.codes[by]
            g = pd.Categorical.from_codes(c, categories=list(labels), ordered=True)
            as_str = {str(v): v for v in labels.tolist()}
            g = g.reorder_categories([as_str[k] for k in _group_order(by, labels)], ordered=True)
            out = frame.groupby(g, observed=True).mean()
            out.loc["All"] = frame.mean()
            out.index.name = by
            if names:
                out = display_names(out, by)
        out.attrs["all_row"] = ("All: frames pooled" if m.aggregate == "frames" else
                                f"All: frames pooled (the headline {m.name} is the mean over {m.group_by} groups)")
        return out

    def save(self, results_dir: str | os.PathLike | None = None) -> Path:
        """Write `<run_id>.errors.h5`, `<run_id>.aggregates` and `<run_id>.json` atomically under RESULTS/runs/.

        Errors are stored as float32 (threshold-safe, see `posebench.runstore`); the aggregates are computed from
        exactly what is stored; the JSON, written last, records both files' SHA-256.
        """
        runs = results_root(results_dir) / "runs"
        # the folder is made by the first atomic write (a path under a file is one OutputError there)
        stored = _store.stored_errors(self.protocol, self.errors)  # no copy when they are float32 already
        errors_name, agg_name = f"{self.run_id}.errors.h5", f"{self.run_id}.aggregates"
        json_path = runs / f"{self.run_id}.json"
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:  # the errors file is written while the aggregates
                written = pool.submit(_store.write_errors, runs / errors_name, self.run_id, self.index, stored,
                                      self.codes)  # are computed from the same arrays
                agg = _agg.compute(self.protocol, self.index, stored, self.codes)
                errors_hash = written.result()
            _agg.write(runs / agg_name, agg)
            self.meta.update({"format_version": FORMAT_VERSION, "errors_file": errors_name,
                              "aggregates_file": agg_name, "errors_sha256": errors_hash,
                              "aggregates_sha256": file_sha256(runs / agg_name)})
            write_json_atomic(json_path, self.meta)
        except BaseException:
            for name in (errors_name, agg_name):  # never an errors or aggregates file without its run
                try:
                    (runs / name).unlink(missing_ok=True)
                except OSError:
                    pass  # e.g. no such folder: the original error says why
            raise
        self._aggregates, self.path, self._errors_path = agg, json_path, runs / errors_name
        return json_path


def display_names(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Rows relabelled with official display names where the key has them (other labels unchanged)."""
    from posebench import names

    def label(v):
        if v == "All":
            return v
        try:
            return names.display_name(by, v)
        except ValueError:
            return str(v)

    return df.rename(index=label)


def _group_order(by: str, values: np.ndarray) -> list[str]:
    """Group values in the official order where there is one (MPI activities, sequences, scenes), else natural."""
    from posebench import names

    found = _ordered_unique(values)
    try:
        official = names.row_order(by)
    except ValueError:
        return found
    return [k for k in official if k in found] + [k for k in found if k not in official]


def _ordered_unique(values: np.ndarray) -> list[str]:
    """Unique values in natural order (numbers as numbers, TS2 before TS10)."""
    return sorted({str(v) for v in values}, key=natural_key)
