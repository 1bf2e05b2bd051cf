"""Sufficient statistics of a run: what summaries, breakdowns, bootstrap intervals and paired tests need.

Per metric, the per-row values (summary units: mm, or percent for pck/auc) summed per (cluster, group) cell,
with the rows per cell: clusters are the protocol's resampling unit (`take`, `sequence`; one per row when the
data has none), groups the metric's `group_by` for an `actions` aggregate (one group when frames are pooled).
Per breakdown key, the rows and value sums per key value. All of it is a few kilobytes whatever the row
count, so the leaderboard and compare never touch per-row data. Computed from the stored (float32) errors,
so anyone can recompute it from the errors file and get the same numbers.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posebench import metrics as _metrics
from posebench.errors import PosebenchError
from posebench.io_utils import write_text_atomic
from posebench.protocols import Protocol
from posebench.stats import Comparison, Interval, _aggregate, bootstrap_cells, paired_cells

FORMAT_VERSION = 1
CLUSTER_FALLBACK = ("take", "sequence")


class AggregatesError(PosebenchError):
    """An aggregates file cannot be read, or two runs' aggregates cannot be paired."""


Codes = Mapping[str, tuple[np.ndarray, np.ndarray]]  # key -> (codes (N,), labels (K,))


@dataclass
class Cells:
    """One metric's (C, G) cell sums and row counts, and the labels of its G groups ('' when pooled)."""

    sums: np.ndarray
    counts: np.ndarray
    groups: np.ndarray


@dataclass
class Breakdown:
    """Rows and per-metric value sums per value of one grouping key."""

    labels: np.ndarray
    counts: np.ndarray
    sums: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Aggregates:
    """A run's sufficient statistics (see the module docstring)."""

    rows: int
    index_sha256: str
    cluster_key: str | None
    clusters: np.ndarray
    metrics: dict[str, Cells]
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)

    def value(self, metric: str) -> float:
        """The protocol's aggregate (pooled, or mean of group means) in summary units."""
        c = self._cells(metric)
        return float(_aggregate(c.sums.sum(0), c.counts.sum(0).astype(np.float64)))

    def summary(self) -> dict[str, float]:
        """Every metric's aggregate."""
        return {m: self.value(m) for m in self.metrics}

    def interval(self, metric: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
        """Cluster-bootstrap interval of a metric (warnings left to the caller)."""
        c = self._cells(metric)
        return bootstrap_cells(c.sums, c.counts, self.rows, n_boot=n_boot, seed=seed, level=level)

    def table(self, by: str, metrics: list[str] | None = None) -> dict[str, dict[str, float]]:
        """{key value: {"rows": n, metric: pooled mean}} for a breakdown key, in natural label order."""
        b = self.breakdowns[by]
        names = metrics or list(b.sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {str(lab): {"rows": int(n), **{m: float(b.sums[m][i] / n) for m in names}}
                    for i, (lab, n) in enumerate(zip(b.labels.tolist(), b.counts.tolist()))}

    def _cells(self, metric: str) -> Cells:
        if metric not in self.metrics:
            raise AggregatesError(f"no aggregates for metric {metric!r} (has: {', '.join(self.metrics)})")
        return self.metrics[metric]


def index_hash(index: np.ndarray) -> str:
    """SHA-256 of a run's row index as int64 (two runs pair cell by cell only when these agree)."""
    return hashlib.sha256(np.ascontiguousarray(index, dtype="<i8").data).hexdigest()


def cluster_key(protocol: Protocol, keys: Mapping[str, object]) -> str | None:
    """The resampling unit: the protocol's cluster column if the run has it, else take/sequence, else rows."""
    if protocol.cluster and protocol.cluster in keys:
        return protocol.cluster
    return next((k for k in CLUSTER_FALLBACK if k in keys), None)


def per_row(errors: np.ndarray, protocol: Protocol, metric: str) -> np.ndarray:
    """Per-row values of a metric in summary units (mm, or percent for pck/auc) from per-joint errors."""
    m = protocol.metric(metric)
    v = _metrics.per_sample(errors, m.kind, threshold=m.threshold, thresholds=np.asarray(m.thresholds))
    return v * 100.0 if m.unit == "%" else v


def compute(protocol: Protocol, index: np.ndarray, errors: Mapping[str, np.ndarray], codes: Codes) -> Aggregates:
    """Aggregates of a run from its per-joint errors and group codes (the stored arrays, for reproducibility)."""
    n = len(index)
    key = cluster_key(protocol, codes)
    if key is None:
        c_codes, c_labels = np.arange(n), np.array([str(i) for i in index], dtype=object)
    else:
        c_codes, c_labels = codes[key]
    n_c = len(c_labels)
    cells: dict[str, Cells] = {}
    values = {}
    for m in protocol.metrics:
        if m.name not in errors:
            continue
        v = values[m.name] = per_row(errors[m.name], protocol, m.name)
        if m.aggregate == "actions":
            if m.group_by not in codes:
                raise AggregatesError(f"metric {m.name!r} averages over {m.group_by!r} groups, which the run lacks")
            g_codes, g_labels = codes[m.group_by]
        else:
            g_codes, g_labels = np.zeros(n, np.int64), np.array([""], dtype=object)
        n_g = len(g_labels)
        flat = np.asarray(c_codes, np.int64) * n_g + g_codes
        sums = np.bincount(flat, weights=v, minlength=n_c * n_g).reshape(n_c, n_g)
        counts = np.bincount(flat, minlength=n_c * n_g).reshape(n_c, n_g)
        cells[m.name] = Cells(sums, counts.astype(np.int64), np.asarray(g_labels, dtype=object))
    breakdowns = {}
    for k in protocol.breakdowns:
        if k in codes:
            kc, kl = codes[k]
            breakdowns[k] = Breakdown(np.asarray(kl, dtype=object), np.bincount(kc, minlength=len(kl)).astype(np.int64),
                                      {m: np.bincount(kc, weights=v, minlength=len(kl)) for m, v in values.items()})
    return Aggregates(n, index_hash(index), key, np.asarray(c_labels, dtype=object), cells, breakdowns)


def paired(a: Aggregates, b: Aggregates, metric: str, n_boot: int = 2000, seed: int = 0) -> Comparison | None:
    """The paired cluster test of two runs from their aggregates, or None when their rows or cells differ."""
    if a.index_sha256 != b.index_sha256 or a.cluster_key != b.cluster_key:
        return None
    ca, cb = a._cells(metric), b._cells(metric)
    if (ca.sums.shape != cb.sums.shape or not np.array_equal(ca.counts, cb.counts)
            or a.clusters.tolist() != b.clusters.tolist() or ca.groups.tolist() != cb.groups.tolist()):
        return None
    return paired_cells(ca.sums, cb.sums, ca.counts, a.rows, n_boot=n_boot, seed=seed)


def write(path: str | os.PathLike, agg: Aggregates) -> None:
    """Write an aggregates file atomically: small JSON (floats written exactly: they read back bit for bit)."""
    doc = {"format_version": FORMAT_VERSION, "rows": agg.rows, "index_sha256": agg.index_sha256,
           "cluster_key": agg.cluster_key, "clusters": [str(c) for c in agg.clusters.tolist()],
           "metrics": {m: {"groups": [str(g) for g in c.groups.tolist()], "sums": c.sums.tolist(),
                           "counts": c.counts.tolist()} for m, c in agg.metrics.items()},
           "breakdowns": {k: {"labels": [str(x) for x in b.labels.tolist()], "counts": b.counts.tolist(),
                              "sums": {m: v.tolist() for m, v in b.sums.items()}} for k, b in agg.breakdowns.items()}}
    write_text_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")


def read(path: str | os.PathLike) -> Aggregates:
    """Read an aggregates file; any defect (JSON, types, shapes) is one AggregatesError naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise AggregatesError(f"{path}: not a readable run aggregates file ({e})") from None
    try:
        if doc.get("format_version") != FORMAT_VERSION:
            raise AggregatesError(f"{path}: aggregates format {doc.get('format_version')!r}, expected {FORMAT_VERSION}")
        clusters = _labels(doc["clusters"])
        metrics = {}
        for name, c in doc["metrics"].items():
            groups = _labels(c["groups"])
            sums = _array(c["sums"], np.float64, (len(clusters), len(groups)))
            counts = _array(c["counts"], np.int64, (len(clusters), len(groups)))
            metrics[str(name)] = Cells(sums, counts, groups)
        breakdowns = {}
        for key, b in doc.get("breakdowns", {}).items():
            labels = _labels(b["labels"])
            breakdowns[str(key)] = Breakdown(labels, _array(b["counts"], np.int64, (len(labels),)),
                                             {str(m): _array(v, np.float64, (len(labels),)) for m, v in b["sums"].items()})
        key = doc.get("cluster_key")
        return Aggregates(int(doc["rows"]), str(doc["index_sha256"]), None if key is None else str(key), clusters,
                          metrics, breakdowns)
    except AggregatesError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise AggregatesError(f"{path}: not a valid run aggregates file ({type(e).__name__}: {e})") from None


def _labels(v: object) -> np.ndarray:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("labels must be a list of strings")
    return np.array(v, dtype=object)


def _array(v: object, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(v, dtype=dtype)
    if a.shape != shape:
        raise ValueError(f"expected shape {shape}, got {a.shape}")
    if dtype is np.float64 and not np.isfinite(a).all():
        raise ValueError("non-finite sums")
    return a
