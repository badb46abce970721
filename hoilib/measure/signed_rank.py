"""Wilcoxon's signed-rank p of per-class differences, exact and fast at small samples.

For a sample of at most 13 with ties or zeros, scipy runs a permutation test over all
2**n sign flips and calls its statistic from Python once per flip (about 0.35 s a
call; a book makes hundreds). Flipping signs leaves the ranks of |d| as they are, so
the null distribution of the positive-rank sum is a subset-sum count over fixed ranks:
counted here exactly, it gives the float scipy returns (tests/test_signed_rank.py
compares the two on random samples). Every other case goes to scipy unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# scipy's own limit: 2**13 sign flips fit in its default 9,999 resamples
_ENUMERATED = 13


def wilcoxon_p(diffs) -> float:
    """Two-sided p of ``scipy.stats.wilcoxon(diffs)`` (zeros dropped, Wilcoxon's rule)."""
    d = np.asarray(diffs, dtype=float).ravel()
    nonzero = d[d != 0]
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    if (
        d.size == 0
        or d.size > _ENUMERATED
        or np.isnan(d).any()
        or not (ties or len(nonzero) < d.size)
    ):
        return float(stats.wilcoxon(d).pvalue)
    # average ranks are whole or half: doubled, they are exact integers
    doubled = np.rint(2 * stats.rankdata(np.abs(nonzero))).astype(np.int64)
    counts = np.zeros(int(doubled.sum()) + 1, dtype=np.int64)
    counts[0] = 1
    for r in doubled:
        counts[r:] = counts[r:] + counts[:-r]
    observed = int(doubled[nonzero > 0].sum())
    flips = 2 ** (d.size - len(nonzero))  # a zero's sign flip leaves the sum as it is
    total = 2**d.size
    below = int(counts[: observed + 1].sum()) * flips / total
    above = int(counts[observed:].sum()) * flips / total
    return float(min(max(min(below, above) * 2, 0.0), 1.0))
