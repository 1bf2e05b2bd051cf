"""A run's display label and the cluster-bootstrap interval of its metrics, as the protocol aggregates them."""
from __future__ import annotations

import warnings
from pathlib import Path

from posebench.results import Result
from posebench.stats import Interval


def run_label(result: Result) -> str:
    """A run's display name: its model (with checkpoint/options worth naming) or its predictions file."""
    model = result.meta.get("model")
    if model:
        name = str(model.get("name") or "model")
        if (model.get("options") or {}).get("multicrop"):
            name += " (multi-crop)"
        return name
    pred = result.meta.get("predictions") or {}
    return Path(str(pred.get("path") or "predictions")).stem


def cluster_key(result: Result) -> str | None:
    """The column a run's intervals resample (from its aggregates: no per-row data is read)."""
    return result.aggregates.cluster_key


def metric_interval(result: Result, metric: str, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Cluster-bootstrap interval of one of a run's metrics, with the protocol's aggregation, from the run's
    aggregates (no per-row data is read; no warning raised: the returned Interval carries it)."""
    from posebench.stats import FewClustersWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return result.aggregates.interval(metric, n_boot=n_boot, seed=seed)
