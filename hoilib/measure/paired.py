"""Paired comparisons of two methods over seeds and classes, and Holm's correction for a family of them.

The verdict a contrast gets (supported, ruled out at a predicted size, inconclusive) lives
in ``measure.effects``.
"""

from __future__ import annotations

import numpy as np

from hoilib.measure.signed_rank import wilcoxon_p


def paired_tests(df, ap: dict, a: str, *, b: str, unseen: np.ndarray):
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
        # NaN (no test GT) in the same classes for every seed
        ca = np.mean([ap[(a, s)] for s in seeds], axis=0)
        cb = np.mean([ap[(b, s)] for s in seeds], axis=0)
        keep = mask & ~np.isnan(ca) & ~np.isnan(cb)
        dc = 100 * (cb - ca)[keep]
        p_cls = wilcoxon_p(dc) if np.any(dc != 0) else float("nan")
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


def holm(pvalues: dict[str, float] | list[float]):
    """Holm's (1979) step-down adjusted p-values, same keys or order as given.

    A book that judges many (claim, column) cells at alpha each would call some
    direction shown by luck alone; comparing Holm-adjusted p with alpha keeps the chance
    of any false "supported" below alpha over the family, without Bonferroni's full cost.
    NaN (no test possible) stays NaN and is not counted in the family. The adjusted values do
    not depend on alpha: the caller compares them with its own (``claims.alpha``).
    """
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
