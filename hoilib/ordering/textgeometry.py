"""Chapter 5's geometry table: how far EZ-HOI's adaptation moved the text, over the seeds.

A module of its own so that its cache entry (``experiment.stage_tables``) is keyed on this code
alone: a change to a consumer or a bridge does not recompute it.
"""

from __future__ import annotations

import pandas as pd

from hoilib.models import textspace


def geometry_table(runs) -> pd.DataFrame:
    """Linear CKA and 10-NN overlap of raw vs adapted text (class text and corpus), mean over seeds."""
    rows = [
        {"text": "corpus" if what == "sentence corpus" else what, "seed": r.seed, **g}
        for r in runs
        for what, g in textspace.geometry(r.space).items()
    ]
    g = pd.DataFrame(rows)
    out = g.groupby("text", sort=False)[
        ["linear CKA", "kNN overlap", "kNN overlap by chance", "n"]
    ].mean()
    out["n"] = out["n"].astype(int)
    return out
