"""Cluster bootstrap and paired cluster test: exactness of the estimate, coverage, error rates, warnings."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from posebench.stats import (FewClustersWarning, StatsInputError, cluster_bootstrap, expanded_alpha,
                             paired_test)


def _clustered(rng: np.random.Generator, n_clusters: int, shape: float = 2.0):
    """Rows in clusters of 20..59 with a skewed cluster effect (like per-take error levels); true mean 50+10*shape."""
    sizes = rng.integers(20, 60, n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    effect = rng.gamma(shape, 10.0, n_clusters)
    return 50.0 + effect[cl] + rng.normal(0.0, 15.0, len(cl)), cl, 50.0 + 10.0 * shape


def _coverage(n_clusters: int, reps: int = 400, seed: int = 0) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    hits = warned = 0
    for r in range(reps):
        v, cl, truth = _clustered(rng, n_clusters)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            iv = cluster_bootstrap(v, cl, n_boot=1000, seed=r)
        warned += any(issubclass(w.category, FewClustersWarning) for w in caught)
        hits += iv.low <= truth <= iv.high
    return hits / reps, warned


def test_coverage_with_60_clusters_is_nominal():
    coverage, warned = _coverage(60)
    # 400 repetitions: Monte Carlo s.e. ~1.1 points; measured 94.0% over 3000 repetitions of this design.
    assert 0.92 <= coverage <= 0.98, coverage
    assert warned == 0


def test_six_clusters_warn_and_undercover():
    coverage, warned = _coverage(6)
    assert warned == 400  # every interval over MPI-INF-3DHP's six sequences carries the warning
    # The documented reason for the warning: measured ~90% (3000 repetitions), short of 95% even when expanded.
    assert 0.80 <= coverage < 0.95, coverage


def test_estimate_is_the_protocol_aggregate():
    rng = np.random.default_rng(1)
    v = rng.normal(60, 10, 300)
    cl = rng.integers(0, 30, 300)
    g = rng.choice(["Walk", "Sit", "Eat"], 300)
    assert cluster_bootstrap(v, cl, n_boot=50).estimate == pytest.approx(v.mean(), rel=1e-12)
    mean_of_means = np.mean([v[g == k].mean() for k in np.unique(g)])
    iv = cluster_bootstrap(v, cl, g, n_boot=200)
    assert iv.estimate == pytest.approx(mean_of_means, rel=1e-12)
    assert iv.low < iv.estimate < iv.high


def test_views_of_one_take_do_not_narrow_the_interval():
    """Four identical views per take carry the information of one: the interval must not shrink."""
    rng = np.random.default_rng(2)
    take_values = rng.normal(55, 8, 40)
    one = cluster_bootstrap(take_values, np.arange(40), n_boot=500, seed=3)
    four = cluster_bootstrap(np.repeat(take_values, 4), np.repeat(np.arange(40), 4), n_boot=500, seed=3)
    assert (four.low, four.high) == pytest.approx((one.low, one.high), rel=1e-12)
    naive = cluster_bootstrap(np.repeat(take_values, 4), np.arange(160), n_boot=500, seed=3)
    assert naive.high - naive.low < 0.6 * (four.high - four.low)  # row resampling would overstate certainty


def test_fixed_seed_is_reproducible_and_expanded_alpha_tends_to_nominal():
    rng = np.random.default_rng(4)
    v, cl, _ = _clustered(rng, 25)
    assert cluster_bootstrap(v, cl, seed=7) == cluster_bootstrap(v, cl, seed=7)
    assert expanded_alpha(0.95, 6) < expanded_alpha(0.95, 60) < 0.025
    assert expanded_alpha(0.95, 100000) == pytest.approx(0.025, abs=1e-4)


def test_paired_identical_runs_and_clear_difference():
    rng = np.random.default_rng(5)
    v, cl, _ = _clustered(rng, 40)
    same = paired_test(v, v, cl)
    assert same.difference == 0.0 and same.p_value == 1.0
    better = paired_test(v - 5.0 + rng.normal(0, 1, len(v)), v, cl)
    assert better.difference == pytest.approx(-5.0, abs=0.2)
    assert better.high < 0 and better.p_value < 0.001
    assert better.n_clusters == 40 and not better.exact


def test_paired_exact_with_six_clusters_warns():
    rng = np.random.default_rng(6)
    v, cl, _ = _clustered(rng, 6)
    with pytest.warns(FewClustersWarning):
        c = paired_test(v + 3.0, v, cl)
    assert c.exact and c.warning
    assert c.p_value == pytest.approx(2 / 64)  # the smallest two-sided p-value six clusters allow


def test_paired_type_one_error_is_controlled():
    """No true difference, correlated within clusters: rejections at 5% stay near 5%."""
    rng = np.random.default_rng(7)
    rejections = 0
    reps = 200
    for r in range(reps):
        base, cl, _ = _clustered(rng, 30)
        shift = rng.normal(0, 3, 30)[cl]  # a cluster-level difference with mean zero
        a = base + shift + rng.normal(0, 2, len(cl))
        rejections += paired_test(a, base, cl, n_boot=200, n_perm=1000, seed=r).p_value < 0.05
    assert rejections / reps <= 0.09, rejections


def test_bad_input_is_a_clear_error():
    with pytest.raises(StatsInputError, match="one length"):
        cluster_bootstrap(np.ones(5), np.ones(4))
    with pytest.raises(StatsInputError, match="same rows"):
        paired_test(np.ones(5), np.ones(4), np.ones(5))
    with pytest.raises(StatsInputError, match="non-finite"):
        cluster_bootstrap(np.array([1.0, np.nan]), np.array([0, 1]))


def test_t_quantile_without_scipy_matches_scipy():
    from scipy.stats import t

    from posebench.stats import t_quantile

    for df in (1, 2, 3, 5, 19, 59, 1000, 2001, 543343):
        for p in (0.6, 0.975, 0.995, 0.025):
            assert t_quantile(p, df) == pytest.approx(t.ppf(p, df), rel=1e-11)


def test_cell_statistics_give_the_per_row_results():
    from posebench.stats import _cluster_sums, bootstrap_cells, paired_cells

    rng = np.random.default_rng(3)
    clusters, groups = rng.integers(0, 25, 500), rng.integers(0, 4, 500)
    a, b = rng.normal(50, 5, 500), rng.normal(51, 5, 500)
    sa, counts = _cluster_sums(a, clusters, groups)
    sb, _ = _cluster_sums(b, clusters, groups)
    assert bootstrap_cells(sa, counts, 500) == cluster_bootstrap(a, clusters, groups)
    ref = paired_test(a, b, clusters, groups)
    got = paired_cells(sa, sb, counts, 500)
    assert got.p_value == ref.p_value and got.difference == pytest.approx(ref.difference, rel=1e-12)
    assert (got.low, got.high) == pytest.approx((ref.low, ref.high), rel=1e-9)
