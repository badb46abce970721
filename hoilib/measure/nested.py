"""A confidence interval that respects how the runs were made: worlds, then seeds, then classes.

A sweep over world seeds (each a new world and a new backbone run) with several model
seeds per world has nested variance: seeds of one world share its world and backbone,
and every seed of a world is scored on the same test images. Treating all runs as
independent would understate the interval. The bootstrap here resamples world seeds
with replacement, then the model seeds within each drawn world, then the classes of
that world (one class draw shared by its seeds, since they share the test set), and
reports the percentile interval of the mean per-class difference.
"""

from __future__ import annotations

import numpy as np


def _check(diffs) -> list[np.ndarray]:
    out = []
    for i, d in enumerate(diffs):
        a = np.asarray(d, dtype=float)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(
                f"diffs[{i}]: expected a (seeds, classes) array with at least one of each, "
                f"got shape {a.shape}"
            )
        if np.isnan(a).any():
            raise ValueError(f"diffs[{i}]: holds NaN; drop classes without test positives first")
        out.append(a)
    if not out:
        raise ValueError("diffs: need at least one world")
    return out


def point(diffs) -> float:
    """Mean over worlds of the mean over seeds of the mean over classes (a difference of mAPs)."""
    return float(np.mean([d.mean() for d in _check(diffs)]))


def nested_bootstrap(diffs, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Mean and percentile interval of the per-class difference; ``diffs[w]`` is (seeds, classes) of world w."""
    worlds = _check(diffs)
    if not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(worlds), len(worlds))
        vals = []
        for w in picks:
            d = worlds[w]
            s = rng.integers(0, d.shape[0], d.shape[0])
            c = rng.integers(0, d.shape[1], d.shape[1])
            vals.append(d[np.ix_(s, c)].mean())
        stats[b] = np.mean(vals)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return {
        "mean": point(worlds),
        "lo": float(lo),
        "hi": float(hi),
        "worlds": len(worlds),
        "seeds": int(sum(d.shape[0] for d in worlds)),
        "level": level,
    }


def pooled_bootstrap(worlds, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Like ``nested_bootstrap`` over several splits: ``worlds[w]`` is a list of (seeds, classes) arrays,
    one per split of world w. A world's value is the mean over its splits; each draw resamples
    the worlds, then within each split its seeds and classes."""
    ws = [_check(w) for w in worlds]
    if not ws:
        raise ValueError("worlds: need at least one world")
    if not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        vals = []
        for w in rng.integers(0, len(ws), len(ws)):
            per_split = []
            for d in ws[w]:
                s = rng.integers(0, d.shape[0], d.shape[0])
                c = rng.integers(0, d.shape[1], d.shape[1])
                per_split.append(d[np.ix_(s, c)].mean())
            vals.append(np.mean(per_split))
        stats[b] = np.mean(vals)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return {
        "mean": float(np.mean([np.mean([d.mean() for d in w]) for w in ws])),
        "lo": float(lo),
        "hi": float(hi),
        "worlds": len(ws),
        "seeds": int(sum(d.shape[0] for w in ws for d in w)),
        "level": level,
    }
