"""Paired comparisons of two methods over seeds and classes, and the verdict rule the book applies to a claim.

A direction counts only when every seed agrees and the class-level Wilcoxon test
gives p < alpha; anything less is "not shown", whichever way the mean leans.
"""

from __future__ import annotations

import numpy as np


def paired_tests(df, ap: dict, a: str, b: str, unseen: np.ndarray):
    """b minus a: over seeds (paired t-test on Full/Seen/Unseen) and over classes (Wilcoxon on
    seed-mean per-class AP).
    """
    import pandas as pd
    from scipy import stats

    da, db = df[df.method == a].set_index("seed"), df[df.method == b].set_index("seed")
    seeds = sorted(set(da.index) & set(db.index))
    out = []
    for col, mask in (("full", np.ones_like(unseen)), ("seen", ~unseen), ("unseen", unseen)):
        diff = (db.loc[seeds, col] - da.loc[seeds, col]).to_numpy(dtype=float)
        p_seed = (
            float(stats.ttest_rel(db.loc[seeds, col], da.loc[seeds, col]).pvalue)
            if len(seeds) > 1 and diff.std() > 0
            else float("nan")
        )
        ca = np.mean(
            [ap[(a, s)] for s in seeds], axis=0
        )  # NaN (no test GT) in the same classes for every seed
        cb = np.mean([ap[(b, s)] for s in seeds], axis=0)
        keep = mask & ~np.isnan(ca) & ~np.isnan(cb)
        dc = 100 * (cb - ca)[keep]
        p_cls = float(stats.wilcoxon(dc).pvalue) if np.any(dc != 0) else float("nan")
        out.append(
            {
                "mAP": col,
                "mean difference (points)": float(diff.mean()),
                "seeds": len(seeds),
                "seeds where b > a": int((diff > 0).sum()),
                "paired t-test p (seeds)": p_seed,
                "classes": int(keep.sum()),
                "classes where b > a": int((dc > 0).sum()),
                "Wilcoxon p (classes)": p_cls,
            }
        )
    return pd.DataFrame(out).set_index("mAP")


def judge(tests, col: str = "unseen", expected: int = 1, alpha: float = 0.05) -> str:
    """'supported', 'contradicted' or 'not shown' for a claimed sign of (b - a) in one column of ``paired_tests``.

    A direction counts only when every seed agrees and the class-level Wilcoxon test
    has p < alpha; anything less is 'not shown', whichever way the mean leans.
    """
    r = tests.loc[col]
    diff, n, up = r["mean difference (points)"], int(r["seeds"]), int(r["seeds where b > a"])
    p = r["Wilcoxon p (classes)"]
    down = n - up if diff != 0 else 0
    significant = p == p and p < alpha  # NaN-safe
    if significant and np.sign(diff) == expected and (up if expected > 0 else down) == n:
        return "supported"
    if significant and np.sign(diff) == -expected and (down if expected > 0 else up) == n:
        return "contradicted"
    return "not shown"


def verdict(claims: list[tuple[str, object, int]], cols=("unseen", "seen", "full")):
    """A table: one row per claim (text, paired_tests frame, expected sign of b - a), one judgement per mAP column."""
    import pandas as pd

    rows = {}
    for text, tests, expected in claims:
        row = {}
        for c in cols:
            r = tests.loc[c]
            row[f"{c} mAP"] = (
                f"{judge(tests, c, expected).upper()} ({r['mean difference (points)']:+.2f} points; "
                f"{int(r['seeds where b > a'])}/{int(r['seeds'])} seeds, {int(r['classes where b > a'])}/"
                f"{int(r['classes'])} classes with b > a; p = {r['Wilcoxon p (classes)']:.2g})"
            )
        rows[text] = row
    return pd.DataFrame(rows).T
