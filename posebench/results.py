"""Result: a scored run (per-row, per-joint errors + provenance), its store under RESULTS/runs/ and run lookup.

A run is `<run_id>.json` (provenance, summary, breakdowns) beside `<run_id>.errors.h5` (per-joint errors,
row index, grouping keys). Old format versions keep loading (tests keep a fixture of each).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import h5py
import numpy as np
import pandas as pd

from posebench import __version__, metrics as _metrics
from posebench.errors import PosebenchError
from posebench.h5safe import UnsafeFileError, check_shape, open_h5, plain_dataset, read_dataset
from posebench.io_utils import atomic_path, write_json_atomic
from posebench.protocols import MetricDef, Protocol
from posebench.skeleton import JOINTS

FORMAT_VERSION = 1
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


class ResultFileError(PosebenchError):
    """A stored result cannot be read."""


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """The results folder: the argument, else $POSEBENCH_RESULTS, else ./posebench-results."""
    return Path(results_dir) if results_dir is not None else Path(os.environ.get(RESULTS_ENV, DEFAULT_RESULTS))


def git_hash() -> str | None:
    """The commit of the posebench checkout in use, when it runs from a git clone."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


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


@dataclass
class Result:
    """A scored run. ``errors[m]`` is (N, J_scored) mm; ``groups[k]`` is (N,) str; ``index`` (N,) rows."""

    meta: RunMeta
    protocol: Protocol
    index: np.ndarray
    errors: dict[str, np.ndarray]
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    def per_sample(self, metric: str) -> np.ndarray:
        """Per-row values of a metric in the summary's units (mm, or percent for pck/auc)."""
        m = self.protocol.metric(metric)
        v = per_sample(self.errors[metric], m)
        return v * 100.0 if m.unit == "%" else v

    def aggregate(self, metric: str, rows: np.ndarray | None = None) -> float:
        """The protocol's aggregate of a metric (over ``rows`` positions if given), in summary units."""
        return aggregate(self.per_sample(metric), self.protocol.metric(metric), self.groups, rows)

    @property
    def summary(self) -> pd.Series:
        """Headline numbers, one per protocol metric (mm; percent for pck/auc)."""
        s = self.meta["summary"]
        order = [m for m in self.protocol.metric_names if m in s] + [m for m in s if m not in self.protocol.metric_names]
        return pd.Series({m: float(s[m]) for m in order}, name=self.run_id)

    def table(self, by: str, metrics: list[str] | None = None, names: bool = True) -> pd.DataFrame:
        """Per-group values (each group pooled over its rows) plus an 'All' row with the protocol's aggregate.

        Rows are labelled and ordered as the official tables do (activity names, TestSeq1, scenes in the
        README's order); ``names=False`` keeps the stored codes.
        """
        self._check_grouping(by)
        metrics = metrics or list(self.protocol.metric_names)
        g = self.groups[by]
        keys = _group_order(by, g)
        rows = {}
        for key in keys:
            sel = np.flatnonzero(g == key)
            rows[key] = {"rows": len(sel), **{m: float(self.per_sample(m)[sel].mean()) for m in metrics}}
        rows["All"] = {"rows": len(g), **{m: float(self.meta["summary"][m]) for m in metrics}}
        df = pd.DataFrame.from_dict(rows, orient="index")
        df.index.name = by
        return display_names(df, by) if names else df

    def _check_grouping(self, by: str) -> None:
        if by not in self.groups:
            raise KeyError(f"no grouping {by!r} in this result (has: {', '.join(sorted(self.groups))})")
        if not any(str(v) for v in self.groups[by]):
            usable = [k for k, v in self.groups.items() if any(str(x) for x in v)]
            raise KeyError(f"grouping {by!r} is empty on {self.protocol.dataset} (it has no {by} labels); "
                           f"use one of {', '.join(sorted(usable))}")

    def joint_table(self, metric: str, by: str | None = None,
                    joint_groups: dict[str, tuple[int, ...]] | None = None, names: bool = False) -> pd.DataFrame:
        """Per-joint (or per joint group) values of a metric, per group of rows and 'All' (frames pooled).

        ``attrs['all_row']`` says how 'All' is made, and when it differs from the headline's aggregate.
        """
        m = self.protocol.metric(metric)
        if by is not None:
            self._check_grouping(by)
        err = self.errors[metric]
        if m.kind == "mean":
            per_joint = err
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
            g = pd.Categorical(self.groups[by], categories=_group_order(by, self.groups[by]), ordered=True)
            out = frame.groupby(g, observed=True).mean()
            out.loc["All"] = frame.mean()
            out.index.name = by
            if names:
                out = display_names(out, by)
        out.attrs["all_row"] = ("All: frames pooled" if m.aggregate == "frames" else
                                f"All: frames pooled (the headline {m.name} is the mean over {m.group_by} groups)")
        return out

    def save(self, results_dir: str | os.PathLike | None = None) -> Path:
        """Write `<run_id>.json` and `<run_id>.errors.h5` atomically under RESULTS/runs/; returns the JSON path."""
        runs = results_root(results_dir) / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        errors_name = f"{self.run_id}.errors.h5"
        with atomic_path(runs / errors_name) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["run_id"] = self.run_id
                f.create_dataset("index", data=self.index.astype(np.int64))
                for name, e in self.errors.items():
                    f.create_dataset(f"errors/{name}", data=e.astype(np.float64), compression="gzip", shuffle=True)
                for key, v in self.groups.items():
                    f.create_dataset(f"groups/{key}", data=np.asarray(v, dtype=object), dtype=h5py.string_dtype())
        self.meta["errors_file"] = errors_name
        json_path = runs / f"{self.run_id}.json"
        write_json_atomic(json_path, self.meta)
        self.path = json_path
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
    import re

    def key(s: str):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]

    return sorted({str(v) for v in values}, key=key)


def new_run_id(protocol: str, who: str) -> str:
    """Unique, sortable and readable: `<protocol>--<model>--<UTC time>-<random>` (no clobbering)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in who)[:60] or "run"
    return f"{protocol}--{safe}--{stamp}-{secrets.token_hex(3)}"


def build_result(protocol: Protocol, data, rows: np.ndarray, errors: dict[str, np.ndarray],
                 groups: dict[str, np.ndarray], predictions: PredictionsMeta | None = None,
                 model: ModelMeta | None = None) -> Result:
    """Assemble a Result with its summary, breakdowns and provenance."""
    who = (model or {}).get("name") or Path(str((predictions or {}).get("path") or "predictions")).stem
    meta: RunMeta = {
        "format_version": FORMAT_VERSION,
        "run_id": new_run_id(protocol.name, who),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "protocol": protocol.to_dict(),
        "data": {"path": str(data.path) if data.path else None, "dataset": data.dataset, "split": data.split,
                 "labels": data.labels, "content_hash": data.content_hash, "rows": int(len(data)),
                 **({"lookalike": True} if getattr(data, "lookalike", False) else {})},
        "rows_scored": int(len(rows)),
        "posebench_version": __version__,
        "git_hash": git_hash(),
        "units": {m.name: m.unit for m in protocol.metrics},
    }
    if model is not None:
        meta["model"] = model
    else:
        meta["predictions"] = predictions or {}  # type: ignore[typeddict-item]
    result = Result(meta, protocol, rows.astype(np.int64), errors, groups)
    meta["summary"] = {m: result.aggregate(m) for m in protocol.metric_names}
    meta["breakdowns"] = {}
    for key in protocol.breakdowns:
        if key in groups and any(str(v) for v in groups[key]):  # an empty grouping has no table
            t = result.table(key, names=False).drop(index="All")
            meta["breakdowns"][key] = {str(k): {c: (int(v) if c == "rows" else float(v)) for c, v in r.items()}
                                       for k, r in t.iterrows()}
    return result


def load_result(path: str | os.PathLike) -> Result:
    """Load a stored run from its JSON (and the errors HDF5 beside it)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ResultFileError(f"{path}: not a readable result JSON ({e})") from None
    version = meta.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise ResultFileError(f"{path}: result format {version} is newer than this posebench ({FORMAT_VERSION})")
    meta = _upgrade(meta)
    protocol = Protocol.from_dict(meta["protocol"])
    errors_path = path.parent / Path(meta["errors_file"]).name
    try:
        with open_h5(errors_path, "run errors file") as f:
            index = read_dataset(plain_dataset(f, "index"))
            n = len(index)
            errors = {}
            for k in _members(f, "errors"):
                ds = plain_dataset(f, f"errors/{k}")
                check_shape(ds, kinds="f", rows=n)
                errors[k] = read_dataset(ds)
            groups = {}
            for k in _members(f, "groups"):
                ds = plain_dataset(f, f"groups/{k}")
                check_shape(ds, trailing=(), rows=n)
                groups[k] = read_dataset(ds).astype(object)
    except (UnsafeFileError, OSError, KeyError) as e:
        raise ResultFileError(f"{errors_path}: cannot read the run's per-row errors ({e})") from None
    return Result(meta, protocol, index, errors, groups, path)


def _members(f: h5py.File, group: str) -> list[str]:
    """Names in a group of the errors file; the group itself must be a plain group inside the file."""
    link = f.get(group, getlink=True)
    if link is None:
        return []
    if not isinstance(link, h5py.HardLink) or not isinstance(f[group], h5py.Group):
        raise UnsafeFileError(f"{f.filename}: {group!r} is not a plain group")
    return list(f[group].keys())


def _upgrade(meta: dict[str, Any]) -> RunMeta:
    """Bring older result JSON up to the current format (version 1 is the first)."""
    meta.setdefault("breakdowns", {})
    meta.setdefault("units", {})
    return cast(RunMeta, meta)


def list_runs(results_dir: str | os.PathLike | None = None) -> list[Result]:
    """Every stored run under RESULTS/runs/, oldest first."""
    runs = results_root(results_dir) / "runs"
    return [load_result(p) for p in sorted(runs.glob("*.json"))] if runs.is_dir() else []


class RunLookupError(PosebenchError, LookupError):
    """A run named on the command line does not exist (or the name is ambiguous)."""


def resolve_run(spec: str | os.PathLike, results_dir: str | os.PathLike | None = None) -> Result:
    """A run by JSON path, run id, or unique run-id prefix under RESULTS/runs/."""
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        return load_result(path)
    runs = results_root(results_dir) / "runs"
    exact = runs / f"{spec}.json"
    if exact.is_file():
        return load_result(exact)
    matches = sorted(runs.glob(f"{spec}*.json")) if runs.is_dir() else []
    if len(matches) == 1:
        return load_result(matches[0])
    if len(matches) > 1:
        raise RunLookupError(f"run {str(spec)!r} is ambiguous in {runs}: {', '.join(m.stem for m in matches[:5])}")
    raise RunLookupError(f"no run {str(spec)!r} in {runs} (give a run id, a unique prefix, or a .json path)")
