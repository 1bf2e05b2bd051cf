"""Two runs of one protocol on the same data, compared row by row: differences, intervals, paired tests."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from posebench.errors import PosebenchError
from posebench.report.intervals import cluster_key, resample_units
from posebench.results import Result


ALPHA = 0.05  # a winner is named when the paired test's p-value is below this


class CompareError(PosebenchError):
    """Two runs cannot be compared row by row."""


def compare_runs(a: Result, b: Result, metrics: list[str] | None = None, n_boot: int = 2000,
                 seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Per metric: A, B, A - B with its cluster-bootstrap interval and the paired cluster test, on shared rows."""
    from posebench.stats import FewClustersWarning, clusters_needed, paired_test, smallest_p

    if a.protocol.name != b.protocol.name or a.protocol.version != b.protocol.version:
        raise CompareError(f"runs use different protocols: {a.protocol.name} v{a.protocol.version} vs "
                           f"{b.protocol.name} v{b.protocol.version}")
    ha, hb = ((r.meta.get("data") or {}).get("content_hash") for r in (a, b))
    if ha != hb:
        raise CompareError(f"runs scored different data (hash {str(ha)[:10]} vs {str(hb)[:10]}): rows do not pair")
    shared, ia, ib = np.intersect1d(a.index, b.index, return_indices=True)
    if len(shared) == 0:
        raise CompareError("the runs share no rows")
    notes = []
    if len(shared) < max(len(a.index), len(b.index)):
        notes.append(f"compared on the {len(shared)} shared rows (A has {len(a.index)}, B has {len(b.index)})")
    key = cluster_key(a)
    if key is None:
        notes.append("no cluster column: rows treated as independent")
    out = {}
    for m in metrics or list(a.protocol.metric_names):
        md = a.protocol.metric(m)
        clusters, groups = resample_units(a, m)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FewClustersWarning)
            c = paired_test(a.per_sample(m)[ia], b.per_sample(m)[ib], clusters[ia],
                            None if groups is None else groups[ia], n_boot=n_boot, seed=seed)
        if c.exact and smallest_p(c.n_clusters) >= ALPHA and not any("can never" in n for n in notes):
            notes.insert(0, f"with {c.n_clusters} {key or 'row'} clusters the smallest possible p-value is "
                            f"{smallest_p(c.n_clusters):.4g} (2/2^{c.n_clusters}): no winner can be declared at the "
                            f"{1 - ALPHA:.0%} level, whatever the errors; that needs at least "
                            f"{clusters_needed(1 - ALPHA)} clusters")
        elif caught and not any("clusters" in n for n in notes):
            notes.append(f"only {c.n_clusters} {key} clusters: intervals and p-values are indicative only")
        better = "A" if (c.difference > 0) == md.higher_is_better else "B"
        out[m] = {"unit": md.unit, "A": c.a, "B": c.b, "A-B": c.difference, "ci_low": c.low, "ci_high": c.high,
                  "p": c.p_value, "better": better if c.p_value < ALPHA and c.difference != 0 else "",
                  "clusters": c.n_clusters, "rows": c.n_rows}
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index.name = "metric"
    return df, notes
