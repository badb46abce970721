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


def holm(pvalues: dict[str, float] | list[float], alpha: float = 0.05):
    """Holm's (1979) step-down adjusted p-values, same keys or order as given.

    A book that judges many (claim, column) cells at alpha each would call some
    direction shown by luck alone; comparing Holm-adjusted p with alpha keeps the chance
    of any false "supported" below alpha over the family, without Bonferroni's full cost.
    NaN (no test possible) stays NaN and is not counted in the family. ``alpha`` only
    checks the level the caller will compare with: the adjusted values do not depend on it.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must lie in (0, 1), got {alpha!r}")
    keys = list(pvalues) if isinstance(pvalues, dict) else None
    p = np.asarray(list(pvalues.values()) if keys is not None else list(pvalues), dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues: expected a flat list or dict of numbers, got shape {p.shape}")
    bad = ~np.isnan(p) & ~((p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"pvalues: {int(bad.sum())} value(s) outside [0, 1], e.g. {p[bad][0]!r}")
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    # the i-th smallest (from 0) is multiplied by m - i; the running max keeps the order
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return dict(zip(keys, out.tolist(), strict=True)) if keys is not None else out.tolist()


def judge(
    tests, col: str = "unseen", expected: int = 1, alpha: float = 0.05, p: float | None = None
) -> str:
    """'supported', 'contradicted' or 'not shown' for a claimed sign of (b - a) in one column of ``paired_tests``.

    A direction counts only when every seed agrees and the class-level Wilcoxon test
    has p < alpha; anything less is 'not shown', whichever way the mean leans. ``p``
    replaces the frame's Wilcoxon p (a multiplicity-adjusted one, from ``verdict``).
    """
    r = tests.loc[col]
    diff, n, up = r["mean difference (points)"], int(r["seeds"]), int(r["seeds where b > a"])
    if p is None:
        p = r["Wilcoxon p (classes)"]
    down = n - up if diff != 0 else 0
    significant = p == p and p < alpha  # NaN-safe
    if significant and np.sign(diff) == expected and (up if expected > 0 else down) == n:
        return "supported"
    if significant and np.sign(diff) == -expected and (down if expected > 0 else up) == n:
        return "contradicted"
    return "not shown"


def judgements(
    claims: list[tuple[str, object, int]], cols=("unseen", "seen", "full"), adjust: bool = False
) -> tuple[dict, dict, int]:
    """Each (claim index, column)'s judgement and its Holm-adjusted p (with ``adjust``), and the
    family size: every (claim, column) cell with a test, the family the reader sees at once."""
    cells = [(i, c) for i in range(len(claims)) for c in cols]
    raw = [float(claims[i][1].loc[c, "Wilcoxon p (classes)"]) for i, c in cells]
    adjusted = dict(zip(cells, holm(raw), strict=True)) if adjust else {}
    judged = {
        (i, c): judge(claims[i][1], c, claims[i][2], p=adjusted.get((i, c))) for i, c in cells
    }
    return judged, adjusted, int(np.sum(~np.isnan(raw)))


def verdict(
    claims: list[tuple[str, object, int]], cols=("unseen", "seen", "full"), adjust: bool = False
):
    """A table: one row per claim (text, paired_tests frame, expected sign of b - a), one judgement per mAP column.

    With ``adjust``, every cell is judged with its Holm-adjusted Wilcoxon p over all the
    (claim, column) cells in the table (``judgements``).
    """
    import pandas as pd

    judged, adjusted, family = judgements(claims, cols, adjust)
    rows = {}
    for i, (text, tests, _) in enumerate(claims):
        row = {}
        for c in cols:
            r = tests.loc[c]
            p = f"p = {r['Wilcoxon p (classes)']:.2g}"
            if adjust:
                p += f", p_Holm = {adjusted[(i, c)]:.2g} over {family} tests"
            row[f"{c} mAP"] = (
                f"{judged[(i, c)].upper()} "
                f"({r['mean difference (points)']:+.2f} points; "
                f"{int(r['seeds where b > a'])}/{int(r['seeds'])} seeds, {int(r['classes where b > a'])}/"
                f"{int(r['classes'])} classes with b > a; {p})"
            )
        rows[text] = row
    return pd.DataFrame(rows).T
