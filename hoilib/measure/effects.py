"""An effect with its interval, and a verdict against the size a claim predicts.

The book reads each contrast (b minus a, in mAP points) three ways: whether its
interval shows the predicted direction, whether it rules out an effect as large as
the design document predicts, and the largest effect it cannot rule out. The words:

- **supported**: the interval lies on the predicted side of 0 and the (Holm-adjusted)
  p is below alpha, and no seed goes against it (a tie counts for neither side);
- **supported, smaller than predicted**: supported, and the interval's far end is
  short of the predicted size;
- **contradicted**: the same evidence for the opposite direction;
- **ruled out at the predicted size**: not supported, and the interval's far end is
  short of the predicted size (the data exclude an effect that large);
- **inconclusive**: none of these.

The far end is the interval's bound on the predicted side: ``hi`` for a predicted
gain, ``lo`` for a predicted loss; effects beyond it are what the data exclude.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from hoilib.measure.nested import nested_bootstrap
from hoilib.measure.signed_rank import wilcoxon_p

VERDICTS = (
    "supported",
    "supported, smaller than predicted",
    "contradicted",
    "ruled out at the predicted size",
    "inconclusive",
)


def verdict(
    lo: float,
    hi: float,
    margin: float,
    *,
    p: float = 0.0,
    seeds_with: int | None = None,
    seeds_against: int = 0,
    alpha: float,
) -> str:
    """The word for an effect with interval [lo, hi] when the claim predicts ``margin`` (sign = direction).

    ``p`` is the test's (adjusted) p-value; ``seeds_against`` counts seeds whose
    difference goes the other way (ties are neither), and any such seed keeps
    "supported" and "contradicted" from being said.
    """
    if margin == 0 or any(map(math.isnan, (lo, hi))):
        raise ValueError(f"need a nonzero margin and a finite interval, got {margin}, [{lo}, {hi}]")
    if lo > hi:
        raise ValueError(f"interval bounds out of order: [{lo}, {hi}]")
    sign = 1 if margin > 0 else -1
    near, far = (lo, hi) if sign > 0 else (-hi, -lo)  # in the predicted direction
    significant = p == p and p < alpha
    if significant and far < 0 and (seeds_with or 0) == 0:
        return "contradicted"
    if significant and near > 0 and seeds_against == 0:
        return "supported" if far >= abs(margin) else "supported, smaller than predicted"
    if far < abs(margin):
        return "ruled out at the predicted size"
    return "inconclusive"


def directed_verdict(
    lo: float, hi: float, margin: float, *, p: float, up: int, down: int, alpha: float
) -> str:
    """``verdict`` from the units (seeds, worlds) whose difference went up and down: those in the
    predicted direction count for the claim, the others against it (a predicted loss swaps them)."""
    with_, against = (up, down) if margin > 0 else (down, up)
    return verdict(lo, hi, margin, p=p, seeds_with=with_, seeds_against=against, alpha=alpha)


def excludable(lo: float, hi: float, margin: float) -> float:
    """The smallest effect in the predicted direction the interval rules out: its far end."""
    return hi if margin > 0 else lo


def t_interval(values, *, level: float) -> dict:
    """Mean and Student-t interval of a few independent values (world-level means), and its p vs 0.

    With few top-level units a percentile bootstrap covers poorly; the t interval is
    calibrated for them if the world means are roughly normal. One value gives no interval.
    """
    x = np.asarray(values, float)
    n = len(x)
    if n < 2:
        return {
            "mean": float(x.mean()) if n else math.nan,
            "lo": math.nan,
            "hi": math.nan,
            "p": math.nan,
            "n": n,
        }
    se = x.std(ddof=1) / math.sqrt(n)
    if se <= 1e-12 * max(1.0, abs(float(x.mean()))):  # equal values (to rounding): no spread
        se = 0.0
    half = stats.t.ppf((1 + level) / 2, n - 1) * se
    p = float(stats.ttest_1samp(x, 0.0).pvalue) if se > 0 else (0.0 if x.mean() != 0 else 1.0)
    return {
        "mean": float(x.mean()),
        "lo": float(x.mean() - half),
        "hi": float(x.mean() + half),
        "p": p,
        "n": n,
    }


def worlds_needed(
    values,
    half_width: float,
    *,
    level: float,
    most: int = 1000,
    current: float | None = None,
) -> int | None:
    """How many worlds an interval needs to reach ``half_width``.

    At the spread of the world means ``values``, a t interval's need; with ``current``, the
    half-width the reported interval has now (it may be wider, e.g. a bootstrap over classes
    too), also that half-width shrunk as 1/sqrt(worlds): the larger of the two.
    """
    x = np.asarray(values, float)
    if len(x) < 2:
        return None
    scaled = 0 if current is None else math.ceil(len(x) * (current / half_width) ** 2)
    sd = x.std(ddof=1)
    for n in range(2, most + 1):
        if stats.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n) <= half_width:
            return max(n, scaled) if max(n, scaled) <= most else None
    return None


def contrast(diffs, *, level: float, n_boot: int, seed: int) -> dict:
    """One world's contrast from its (seeds, classes) per-class differences (points).

    Mean, a nested-bootstrap interval over seeds and classes (``n_boot`` draws from ``seed``,
    coverage ``level``; chapter 5 passes its ``claims`` section's), the Wilcoxon p of the
    seed-mean class differences, and how many seeds go each way (ties: neither).
    """
    d = np.asarray(diffs, float)
    boot = nested_bootstrap([d], n_boot=n_boot, level=level, seed=seed)
    per_seed = d.mean(axis=1)
    cls = d.mean(axis=0)
    p = wilcoxon_p(cls) if np.any(cls != 0) else 1.0
    return {
        "mean": float(per_seed.mean()),
        "lo": boot["lo"],
        "hi": boot["hi"],
        "p": p,
        "seeds up": int((per_seed > 0).sum()),
        "seeds down": int((per_seed < 0).sum()),
        "seeds": len(per_seed),
        "classes": d.shape[1],
    }
