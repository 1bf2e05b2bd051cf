"""Two runs of one protocol on the same data, compared row by row: differences, intervals, paired tests."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from posebench.errors import PosebenchError
from posebench.results import Result


ALPHA = 0.05  # a winner is named when the paired test's p-value is below this


class CompareError(PosebenchError):
    """Two runs cannot be compared row by row."""


def compare_runs(a: Result, b: Result, metrics: list[str] | None = None, n_boot: int = 2000,
                 seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Per metric: A, B, A - B with its cluster-bootstrap interval and the paired cluster test, on shared rows.

    Runs over the same rows are paired from their aggregates alone; otherwise from the shared rows' errors.
    """
    from posebench.aggregates import paired
    from posebench.stats import FewClustersWarning, clusters_needed, smallest_p

    if a.protocol.name != b.protocol.name or a.protocol.version != b.protocol.version:
        raise CompareError(f"runs use different protocols: {a.protocol.name} v{a.protocol.version} vs "
                           f"{b.protocol.name} v{b.protocol.version}")
    ha, hb = ((r.meta.get("data") or {}).get("content_hash") for r in (a, b))
    if ha != hb:
        raise CompareError(f"runs scored different data (hash {str(ha)[:10]} vs {str(hb)[:10]}): rows do not pair")
    for r in (a, b):
        if r.problems:
            raise CompareError(f"run {r.run_id} is TAMPERED ({'; '.join(r.problems)}): not compared")
    notes: list[str] = []
    wanted = metrics or list(a.protocol.metric_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        cells = {m: paired(a.aggregates, b.aggregates, m, n_boot=n_boot, seed=seed) for m in wanted}
    if any(c is None for c in cells.values()):  # other rows or cells: pair the shared rows from the errors files
        cells = compare_rows(a, b, wanted, n_boot, seed, notes)
    key = a.aggregates.cluster_key
    if key is None:
        notes.append("no cluster column: rows treated as independent")
    out = {}
    for m, c in cells.items():
        md = a.protocol.metric(m)
        if c.exact and smallest_p(c.n_clusters) >= ALPHA and not any("can never" in n for n in notes):
            notes.insert(0, f"with {c.n_clusters} {key or 'row'} clusters the smallest possible p-value is "
                            f"{smallest_p(c.n_clusters):.4g} (2/2^{c.n_clusters}): no winner can be declared at the "
                            f"{1 - ALPHA:.0%} level, whatever the errors (the comparison can never reach it); "
                            f"that needs at least {clusters_needed(1 - ALPHA)} clusters")
        elif c.warning and not any("clusters" in n for n in notes):
            notes.append(f"only {c.n_clusters} {key} clusters: intervals and p-values are indicative only")
        better = "A" if (c.difference > 0) == md.higher_is_better else "B"
        out[m] = {"unit": md.unit, "A": c.a, "B": c.b, "A-B": c.difference, "ci_low": c.low, "ci_high": c.high,
                  "p": c.p_value, "better": better if c.p_value < ALPHA and c.difference != 0 else "",
                  "clusters": c.n_clusters, "rows": c.n_rows}
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index.name = "metric"
    return df, notes


def compare_rows(a: Result, b: Result, metrics: list[str], n_boot: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """Paired tests on the rows two runs share, from their per-row errors (when their rows differ)."""
    from posebench.stats import FewClustersWarning, paired_test

    shared, ia, ib = np.intersect1d(a.index, b.index, return_indices=True)
    if len(shared) == 0:
        raise CompareError("the runs share no rows")
    if len(shared) < max(len(a.index), len(b.index)):
        notes.append(f"compared on the {len(shared)} shared rows (A has {len(a.index)}, B has {len(b.index)})")
    key = a.aggregates.cluster_key
    clusters = a.codes[key][0] if key else np.arange(len(a.index))
    out = {}
    for m in metrics:
        md = a.protocol.metric(m)
        groups = a.codes[md.group_by][0][ia] if md.aggregate == "actions" else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            out[m] = paired_test(a.per_sample(m)[ia], b.per_sample(m)[ib], clusters[ia], groups, n_boot=n_boot, seed=seed)
    return out
