"""Computed sentences for the tables a reader asks about: chapter 2's ablation and chapter 5's
same-scoring table, each read by one stated rule, as chapter 5 reads its contrasts.

The rule: a difference is *shown* when its 95% interval excludes 0 and every seed moves the same
way; otherwise it is *not shown*, and the interval says which sizes the data rule out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hoilib.measure.effects import t_interval


def seed_interval(d) -> tuple[float, float, float]:
    """Mean and Student-t 95% interval of per-seed differences (one seed: the interval is the point)."""
    ci = t_interval(d, level=0.95)  # the 95% interval chapter 2's sentences name
    return (ci["mean"],) * 3 if ci["n"] < 2 else (ci["mean"], ci["lo"], ci["hi"])


def _word(lo: float, hi: float, d: np.ndarray) -> str:
    same_way = bool((d > 0).all() or (d < 0).all())
    return "shown" if (lo > 0 or hi < 0) and same_way else "not shown"


def ablation_sentence(results: pd.DataFrame, reference: str = "full", col: str = "unseen") -> str:
    """Each ablation of chapter 2 against the full model, paired by seed, in one sentence."""
    ref = results[results.model == reference].set_index("seed")[col]
    parts, shown, widest = [], [], 0.0
    for model in dict.fromkeys(results.model):
        if model == reference:
            continue
        m = results[results.model == model].set_index("seed")[col]
        d = (m - ref).dropna().to_numpy()
        mean, lo, hi = seed_interval(d)
        word = _word(lo, hi, d)
        shown += [model] if word == "shown" else []
        widest = max(widest, abs(lo), abs(hi))
        parts.append(f"'{model}' {m.mean():.2f}, {mean:+.2f} [{lo:+.2f}, {hi:+.2f}], {word}")
    head = (
        f"Against the full model's {ref.mean():.2f} {col.title()} mAP (mean of {len(ref)} seeds), "
        "each ablation's difference paired by seed with its 95% interval: "
    )
    tail = (
        f" Shown to differ: {', '.join(shown)}."
        if shown
        else f" No ablation is shown to differ from the full model; the intervals leave room for "
        f"differences of up to {widest:.1f} points either way, so this is no evidence that a module "
        "does not matter."
    )
    return head + "; ".join(parts) + "." + tail


def same_scoring_sentence(table: pd.DataFrame, a: str, b: str) -> str:
    """Chapter 5's same-scoring table (``measure.paired.paired_tests``: b minus a, rows by mAP)."""
    parts = []
    for col in ("unseen", "seen", "full"):
        if col not in table.index:
            continue
        r = table.loc[col]
        up, n = int(r["seeds where b > a"]), int(r["seeds"])
        p_seed, p_class = float(r["paired t-test p (seeds)"]), float(r["Wilcoxon p (classes)"])
        shown = p_seed < 0.05 and p_class < 0.05 and up in (0, n)
        parts.append(
            f"{col.title()} {r['mean difference (points)']:+.2f} points ({up} of {n} seeds up, "
            f"seeds' t-test p {p_seed:.2g}, classes' Wilcoxon p {p_class:.2g}: "
            f"{'shown' if shown else 'not shown'})"
        )
    return (
        f"Under one scoring rule, {b} minus {a}: " + "; ".join(parts) + ". A difference counts as "
        "shown only when both tests give p < 0.05 and every seed moves the same way."
    )
