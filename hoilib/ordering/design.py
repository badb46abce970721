"""How many worlds a confirmatory plan needs, from the exploratory worlds' spread, and why worlds, not seeds.

With the world as the unit, a contrast's interval is a t over world means: its half-width
is t(W-1) * sd / sqrt(W). The sd of a world mean has two parts: how much worlds differ
(``between``), and how much the model seeds of one world differ, averaged over the seeds
and splits run in it (``within / (seeds * splits)``). More seeds per world shrink only
the second part; more worlds shrink both. ``components`` estimates the two from the
exploratory runs (one-way analysis of variance of per-seed means), and ``design`` gives,
for each contrast, the worlds a given number of seeds and splits needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hoilib.ordering.grid import run_diffs  # the grid's own reading of a run's per-class APs


def seed_means(runs: list[dict], a: str, b: str, *, col: str) -> dict[int, list[np.ndarray]]:
    """world -> per split, the (seeds,) mean per-class difference b - a in points."""
    out: dict[int, list[np.ndarray]] = {}
    for r in runs:
        d = run_diffs(r, a, b, col=col)
        if d is not None:
            out.setdefault(r["world_seed"], []).append(d.mean(axis=1))
    return out


def components(by_world: dict[int, list[np.ndarray]]) -> dict:
    """Between-world and within-world (seed) variance of a contrast, and the world means' sd."""
    world_means = np.array([np.mean([s.mean() for s in splits]) for splits in by_world.values()])
    within = [x - s.mean() for splits in by_world.values() for s in splits for x in s]
    dof = sum(len(s) - 1 for splits in by_world.values() for s in splits)
    s2_seed = float(np.sum(np.square(within)) / dof) if dof > 0 else float("nan")
    n_seeds = float(np.mean([len(s) for splits in by_world.values() for s in splits]))
    n_splits = float(np.mean([len(splits) for splits in by_world.values()]))
    s2_means = float(world_means.var(ddof=1)) if len(world_means) > 1 else float("nan")
    return {
        "worlds": len(world_means),
        "world means sd": float(np.sqrt(s2_means)),
        "seed sd": float(np.sqrt(s2_seed)),
        "world sd": float(np.sqrt(max(0.0, s2_means - s2_seed / (n_seeds * n_splits)))),
        "seeds": n_seeds,
        "splits": n_splits,
    }


def sd_of_world_mean(c: dict, *, seeds: int, splits: int) -> float:
    """The sd a world mean would have with ``seeds`` model seeds in each of ``splits`` splits."""
    return float(np.sqrt(c["world sd"] ** 2 + c["seed sd"] ** 2 / (seeds * splits)))


def worlds_for(sd: float, half_width: float, *, level: float, most: int = 1000) -> int | None:
    """The fewest worlds whose t interval over world means of this ``sd`` has ``half_width`` or less."""
    for n in range(2, most + 1):
        if stats.t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n) <= half_width:
            return n
    return None


def design(
    runs: list[dict],
    pairs: dict[str, dict[str, tuple[str, str]]],
    *,
    half_width: float,
    level: float,
    seeds_options=(1, 3, 6),
    splits: int,
) -> pd.DataFrame:
    """One row per (setting, contrast) on Unseen mAP: variance parts and the worlds each seed count needs.

    ``pairs``: setting -> contrast -> (a, b), as ``ordering.grid.settings`` gives them.
    The worlds needed are for a t interval of half-width ``half_width`` at ``level``
    (``worlds_for``, at the sd a world mean would have).
    """
    rows = []
    for setting, contrasts in pairs.items():
        for name, (a, b) in contrasts.items():
            by_world = seed_means(runs, a, b, col="unseen")
            if len(by_world) < 2:
                continue
            c = components(by_world)
            row = {"setting": setting, "contrast": name} | c
            for s in seeds_options:
                sd = sd_of_world_mean(c, seeds=s, splits=splits)
                row[f"worlds at {s} seeds"] = worlds_for(sd, half_width, level=level)
            rows.append(row)
    return pd.DataFrame(rows)
