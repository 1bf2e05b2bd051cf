"""A run's display label and the cluster-bootstrap interval of its metrics, as the protocol aggregates them."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from posebench.results import Result
from posebench.stats import Interval


def run_label(result: Result) -> str:
    """A run's display name: its `--name`, else its model (with options worth naming) or its predictions file."""
    if result.meta.get("name"):
        return str(result.meta["name"])
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


def group_intervals(result: Result, metric: str, by: str, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per group of ``by``: value (rows pooled), and a cluster-bootstrap interval (low, high) over its clusters
    (NaN when the group lies inside one cluster)."""
    from posebench.results import display_names
    from posebench.stats import FewClustersWarning, cluster_bootstrap

    t = result.table(by, [metric], names=False).drop(index="All")
    per = result.per_sample(metric)
    key = cluster_key(result)
    clusters = np.asarray(result.groups[key]).astype(str) if key else np.arange(len(per))
    g = np.asarray(result.groups[by]).astype(str)
    out = {}
    for key in t.index:
        sel = g == key
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            iv = cluster_bootstrap(per[sel], np.asarray(clusters)[sel], None, n_boot=n_boot, seed=seed)
        one = iv.n_clusters < 2  # a group inside one cluster (e.g. a sequence clustered by sequence) has no interval
        out[key] = {"value": float(t.loc[key, metric]), "low": np.nan if one else iv.low,
                    "high": np.nan if one else iv.high}
    return display_names(pd.DataFrame.from_dict(out, orient="index"), by)
