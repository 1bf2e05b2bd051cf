"""How many clusters a paired sign-flip test needs before it can declare a winner at all."""
from __future__ import annotations

import warnings

import numpy as np

from posebench.stats import clusters_needed, paired_test, smallest_p


def test_five_clusters_can_never_reach_95_percent():
    assert smallest_p(5) == 0.0625 and smallest_p(6) == 0.03125
    assert clusters_needed(0.95) == 6 and clusters_needed(0.99) == 8
    rows = np.arange(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # B is better on every one of the 5 clusters, by a lot: still p = 1/16, the smallest possible
        c = paired_test(rows + 50.0, rows, np.repeat(np.arange(5), 2))
    assert c.p_value == smallest_p(5)
