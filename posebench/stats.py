"""Cluster bootstrap confidence intervals and a paired, cluster-aware comparison of two runs.

Rows are not independent: the four views of a Human3.6M take share one pose, and an MPI-INF-3DHP sequence is
one person in one scene. So the unit that is resampled (bootstrap) or sign-flipped (paired test) is the cluster
(the protocol's ``cluster`` key: ``take`` or ``sequence``), never the row. Both work on plain arrays: per-row
values in the summary's units, a cluster id per row and, for protocols that average over actions, a group
label per row (the aggregate is then the unweighted mean of the group means, as `posebench.evaluation` does).
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from posebench.errors import PosebenchError

MIN_CLUSTERS = 20  # below this an interval or p-value over clusters means little (MPI-INF-3DHP has 6)
EXACT_FLIPS_UP_TO = 16  # enumerate all 2**C sign flips up to this many clusters, else sample them


class FewClustersWarning(UserWarning):
    """Too few independent clusters for a bootstrap interval or cluster test to reach its nominal level."""


class StatsInputError(PosebenchError):
    """Arrays given to the bootstrap or the paired test do not line up."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile cluster-bootstrap interval."""

    estimate: float
    low: float
    high: float
    level: float
    n_clusters: int
    n_rows: int
    warning: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two runs on shared rows: A, B, A - B with its interval, and a two-sided p-value."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float
    level: float
    n_clusters: int
    n_rows: int
    exact: bool
    warning: str | None = None


def _cluster_sums(values: np.ndarray, clusters: np.ndarray, groups: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster, per-group sums and counts: two (C, G) arrays."""
    values = np.asarray(values, dtype=np.float64)
    clusters = np.asarray(clusters)
    if values.ndim != 1 or len(clusters) != len(values):
        raise StatsInputError(f"values {values.shape} and clusters {clusters.shape} must be (N,) arrays of one length")
    if groups is not None and len(groups) != len(values):
        raise StatsInputError(f"groups has {len(groups)} rows, values {len(values)}")
    if len(values) == 0:
        raise StatsInputError("no rows to resample")
    if not np.isfinite(values).all():
        raise StatsInputError(f"values hold {int((~np.isfinite(values)).sum())} non-finite entries")
    _, c = np.unique(clusters, return_inverse=True)
    _, g = np.unique(np.zeros(len(values)) if groups is None else np.asarray(groups), return_inverse=True)
    n_c, n_g = int(c.max()) + 1, int(g.max()) + 1
    flat = c * n_g + g
    sums = np.bincount(flat, weights=values, minlength=n_c * n_g).reshape(n_c, n_g)
    counts = np.bincount(flat, minlength=n_c * n_g).reshape(n_c, n_g).astype(np.float64)
    return sums, counts


def _aggregate(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of group means along the last axis (a pooled mean when there is one group); NaN-safe."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return np.nanmean(means, axis=-1) if means.shape[-1] > 1 else means[..., 0]


def _few(n_clusters: int, min_clusters: int, what: str, stacklevel: int = 3) -> str | None:
    if n_clusters >= min_clusters:
        return None
    msg = (f"only {n_clusters} independent clusters (< {min_clusters}): the {what} resamples clusters, and with so few "
           f"its nominal level is not reached; read it as indicative only")
    warnings.warn(msg, FewClustersWarning, stacklevel=stacklevel)
    return msg


def expanded_alpha(level: float, n_clusters: int) -> float:
    """Lower tail of the expanded percentile interval (Hesterberg 2015): Phi(-sqrt(C/(C-1)) t_{C-1}).

    The plain percentile bootstrap under-covers with few clusters (it estimates the spread with divisor C and
    a normal quantile); this widens it for C clusters and tends to the plain one as C grows.
    """
    tail = (1.0 - level) / 2.0
    if n_clusters < 2:
        return tail
    return float(NormalDist().cdf(-math.sqrt(n_clusters / (n_clusters - 1)) * t_quantile(1.0 - tail, n_clusters - 1)))


def _t_cdf(t: float, df: int) -> float:
    """Student's t CDF for integer ``df`` from the finite series of Abramowitz & Stegun 26.7.3-4 (no SciPy)."""
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:
        term, total = 1.0, 1.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2.0 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    else:
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        a = s * total
    return 0.5 + math.copysign(0.5 * a, t)


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (``df`` integer >= 1): Cornish-Fisher (A&S 26.7.5) refined by Newton on the exact CDF."""
    z = NormalDist().inv_cdf(p)
    g = ((z ** 3 + z) / 4, (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96, (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384,
         (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160)
    t = z + sum(gk / df ** (k + 1) for k, gk in enumerate(g))
    if df > 2000:  # the expansion's error is below 1e-13 here
        return t
    if df <= 2:  # closed forms
        q = 2 * p - 1
        return math.tan(math.pi * (p - 0.5)) if df == 1 else q * math.sqrt(2 / (1 - q * q))
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(50):
        pdf = math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))
        step = (_t_cdf(t, df) - p) / pdf
        t -= step
        if abs(step) <= 1e-14 * max(1.0, abs(t)):
            break
    return t


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, groups: np.ndarray | None = None, *,
                      n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                      min_clusters: int = MIN_CLUSTERS) -> Interval:
    """Expanded-percentile bootstrap interval of the aggregate of ``values``, resampling whole clusters.

    The aggregate is the pooled mean, or with ``groups`` the unweighted mean of group means. The percentile
    levels are widened for the cluster count (see :func:`expanded_alpha`). Fixed ``seed``: the same inputs give
    the same interval. Warns (FewClustersWarning) below ``min_clusters`` clusters.
    """
    sums, counts = _cluster_sums(values, clusters, groups)
    return bootstrap_cells(sums, counts, len(values), n_boot=n_boot, level=level, seed=seed,
                           min_clusters=min_clusters, _stacklevel=4)


def bootstrap_cells(sums: np.ndarray, counts: np.ndarray, n_rows: int | None = None, *, n_boot: int = 2000,
                    level: float = 0.95, seed: int = 0, min_clusters: int = MIN_CLUSTERS,
                    _stacklevel: int = 3) -> Interval:
    """:func:`cluster_bootstrap` from sufficient statistics: per-(cluster, group) sums and counts, (C, G) each."""
    sums, counts = _check_cells(sums, counts)
    n_c = len(sums)
    estimate = float(_aggregate(sums.sum(0), counts.sum(0)))
    warning = _few(n_c, min_clusters, "bootstrap interval", _stacklevel)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_c, np.full(n_c, 1.0 / n_c), size=n_boot).astype(np.float64)
    # einsum, not @: these products are small, and a threaded BLAS only adds overhead to them
    stats = _aggregate(np.einsum("bc,cg->bg", weights, sums), np.einsum("bc,cg->bg", weights, counts))
    alpha = expanded_alpha(level, n_c)
    low, high = np.nanquantile(stats, [alpha, 1.0 - alpha])
    n = int(counts.sum()) if n_rows is None else int(n_rows)
    return Interval(estimate, float(low), float(high), level, n_c, n, warning)


def _check_cells(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if sums.ndim != 2 or sums.shape != counts.shape or len(sums) == 0:
        raise StatsInputError(f"cell sums {sums.shape} and counts {counts.shape} must be equal (C, G) arrays, C >= 1")
    if not np.isfinite(sums).all():
        raise StatsInputError(f"cell sums hold {int((~np.isfinite(sums)).sum())} non-finite entries")
    return sums, counts


def smallest_p(n_clusters: int) -> float:
    """The smallest two-sided p-value an exact sign-flip test over ``n_clusters`` clusters can give: 2 / 2**C."""
    return float(min(1.0, 2.0 ** (1 - int(n_clusters)))) if n_clusters > 0 else 1.0


def clusters_needed(level: float = 0.95) -> int:
    """The fewest clusters whose exact sign-flip test can reach ``level`` (p < 1 - level): 6 at 95 %."""
    c = 1
    while smallest_p(c) >= 1.0 - level:
        c += 1
    return c


def _sign_flips(n_clusters: int, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    if n_clusters <= EXACT_FLIPS_UP_TO:
        return np.array(list(itertools.product((1.0, -1.0), repeat=n_clusters))), True
    return rng.choice((1.0, -1.0), size=(n_perm, n_clusters)), False


def paired_test(a: np.ndarray, b: np.ndarray, clusters: np.ndarray, groups: np.ndarray | None = None, *,
                n_boot: int = 2000, n_perm: int = 10000, level: float = 0.95, seed: int = 0,
                min_clusters: int = MIN_CLUSTERS) -> Comparison:
    """Compare two runs' per-row values on the same rows: A - B, its cluster-bootstrap interval, and a p-value.

    The p-value is a two-sided sign-flip randomisation test at cluster level (under H0 the sign of each
    cluster's A - B is exchangeable): exact over all 2**C flips for C <= 16 clusters, else ``n_perm`` draws.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise StatsInputError(f"paired runs must hold the same rows: A has {a.shape}, B has {b.shape}")
    sums_a, counts = _cluster_sums(a, clusters, groups)
    sums_b, _ = _cluster_sums(b, clusters, groups)
    return paired_cells(sums_a, sums_b, counts, len(a), n_boot=n_boot, n_perm=n_perm, level=level, seed=seed,
                        min_clusters=min_clusters, _stacklevel=4)


def paired_cells(sums_a: np.ndarray, sums_b: np.ndarray, counts: np.ndarray, n_rows: int | None = None, *,
                 n_boot: int = 2000, n_perm: int = 10000, level: float = 0.95, seed: int = 0,
                 min_clusters: int = MIN_CLUSTERS, _stacklevel: int = 3) -> Comparison:
    """:func:`paired_test` from sufficient statistics: both runs' (C, G) cell sums over the same rows and counts."""
    sums_a, counts = _check_cells(sums_a, counts)
    sums_b, _ = _check_cells(sums_b, counts)
    diff = sums_a - sums_b
    total = counts.sum(0)
    observed = float(_aggregate(diff.sum(0), total))
    warning = _few(len(diff), min_clusters, "paired test", _stacklevel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        ci = bootstrap_cells(diff, counts, n_rows, n_boot=n_boot, level=level, seed=seed, min_clusters=min_clusters)
    flips, exact = _sign_flips(len(diff), n_perm, np.random.default_rng(seed + 1))
    null = _aggregate(np.einsum("bc,cg->bg", flips, diff), np.broadcast_to(total, (len(flips), len(total))))
    tol = 1e-12 * max(1.0, abs(observed))
    hits = int(np.count_nonzero(np.abs(null) >= abs(observed) - tol))
    p = hits / len(flips) if exact else (hits + 1) / (len(flips) + 1)
    n = int(counts.sum()) if n_rows is None else int(n_rows)
    return Comparison(float(_aggregate(sums_a.sum(0), total)), float(_aggregate(sums_b.sum(0), total)), observed,
                      ci.low, ci.high, float(min(1.0, p)), level, len(diff), n, exact, warning)
