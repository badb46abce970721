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


def _counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each of ``n_boot`` resamples of size ``n`` (n_boot, n)."""
    idx = rng.integers(0, n, (n_boot, n))
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)


def _resampled_means(rng: np.random.Generator, d: np.ndarray, n_boot: int) -> np.ndarray:
    """The mean of ``d`` (seeds, classes) under ``n_boot`` draws of its seeds and, shared by them, its
    classes: the mean of ``d[s][:, c]`` is ``count_s @ d @ count_c / (S * C)``, so no loop is needed."""
    s, c = _counts(rng, n_boot, d.shape[0]), _counts(rng, n_boot, d.shape[1])
    return ((s @ d) * c).sum(axis=1) / d.size


def _draws(rng: np.random.Generator, worlds: list[list[np.ndarray]], n_boot: int) -> np.ndarray:
    """``n_boot`` resampled means over the worlds of the mean over each one's parts.

    Each draw picks ``n`` worlds with replacement; every pick gets fresh seed and class draws,
    so a world drawn twice is resampled twice, as in a loop over draws. Only the picked world
    of each slot is resampled (cost linear in the worlds).
    """
    n = len(worlds)
    picks = rng.integers(0, n, (n_boot, n))
    total = np.zeros(n_boot)
    for slot in range(n):
        for w, parts in enumerate(worlds):
            hit = np.flatnonzero(picks[:, slot] == w)
            if hit.size:
                total[hit] += np.mean([_resampled_means(rng, d, hit.size) for d in parts], axis=0)
    return total / n


def _interval(
    rng: np.random.Generator, worlds: list[list[np.ndarray]], n_boot: int, *, level: float
):
    """Percentile interval of ``_draws``."""
    lo, hi = np.quantile(_draws(rng, worlds, n_boot), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def monte_carlo_error(draws: np.ndarray, *, level: float, parts: int = 10) -> tuple[float, float]:
    """Standard errors of the percentile interval's ends from the draws' own randomness: the ends
    of ``parts`` interleaved subsets, their spread divided by sqrt(parts) (a subset of B/parts
    draws has sqrt(parts) times the error of all B)."""
    q = [(1 - level) / 2, (1 + level) / 2]
    ends = np.array([np.quantile(draws[k::parts], q) for k in range(parts)])
    se = ends.std(axis=0, ddof=1) / np.sqrt(parts)
    return float(se[0]), float(se[1])


def nested_bootstrap(diffs, *, n_boot: int, level: float, seed: int) -> dict:
    """Mean and percentile interval of the per-class difference; ``diffs[w]`` is (seeds, classes) of world w."""
    worlds = _check(diffs)
    if not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    lo, hi = _interval(np.random.default_rng(seed), [[d] for d in worlds], n_boot, level=level)
    return {
        "mean": point(worlds),
        "lo": lo,
        "hi": hi,
        "worlds": len(worlds),
        "seeds": int(sum(d.shape[0] for d in worlds)),
        "level": level,
    }


def pooled_bootstrap(worlds, *, n_boot: int, level: float, seed: int) -> dict:
    """Like ``nested_bootstrap`` over several splits: ``worlds[w]`` is a list of (seeds, classes) arrays,
    one per split of world w. A world's value is the mean over its splits; each draw resamples
    the worlds, then within each split its seeds and classes."""
    ws = [_check(w) for w in worlds]
    if not ws:
        raise ValueError("worlds: need at least one world")
    if not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    draws = _draws(np.random.default_rng(seed), ws, n_boot)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    mc_lo, mc_hi = monte_carlo_error(draws, level=level)
    return {
        "mean": float(np.mean([np.mean([d.mean() for d in w]) for w in ws])),
        "lo": float(lo),
        "hi": float(hi),
        "mc_lo": mc_lo,
        "mc_hi": mc_hi,
        "worlds": len(ws),
        "seeds": int(sum(d.shape[0] for w in ws for d in w)),
        "level": level,
    }
