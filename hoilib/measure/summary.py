"""Numbers for tables: 'mean ± std' over seeds, and 'n/a' where a mean has nothing to average."""

from __future__ import annotations

import numpy as np


def fmt(x, digits: int = 2) -> str:
    """A number for a table; 'n/a' where a mean has no class to average over (None or NaN)."""
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def mean_std(df, by: str = "model", cols=("full", "seen", "unseen", "rare", "non_rare")):
    """'mean ± std' strings per group, in the order the groups first appear."""
    import pandas as pd

    out = {}
    for name, g in df.groupby(by, sort=False):
        row = {}
        for c in cols:
            vals = g[c].astype(float)
            if vals.isna().any():
                row[c] = "n/a"
            else:
                row[c] = f"{vals.mean():.2f} ± {vals.std(ddof=1) if len(vals) > 1 else 0.0:.2f}"
        out[name] = row | {"seeds": len(g)}
    return pd.DataFrame(out).T
