"""Every table chapter 5 computes, in one call whose result the chapter caches (``chapters.memo``).

The design document's fixed-t* table, its t* sweep and gap measures, the text-only
consumer's 2 x 2, EZ-HOI's head with validation-chosen strength and the geometry of the
two text spaces: frames and per-class APs only, so a warm rebuild reads them back.
"""

from __future__ import annotations

import pandas as pd

from hoilib.chapters import claims, consumer, head_bridge
from hoilib.chapters.methods import gap_table, run_table, sweep
from hoilib.timing import timed


def compute_tables(cfg, ctx, runs, data, world) -> dict:
    """The chapter's numbers for these seeds: frames and per-class APs keyed (method, seed)."""
    with timed("scoring"):
        df, ap, feats = run_table(cfg, ctx, runs)
        sw = sweep(cfg, ctx, runs[0], cfg.sweep_t_starts, cfg.sweep_steps)
        gaps = gap_table(cfg, ctx, feats, runs[0].seed)
        cache: dict = {}  # bridged sets shared by the seeds (the raw corpus's closed form)
        text = [consumer.run_2x2(cfg, ctx, r, data, world, cache) for r in runs]
        head = [head_bridge.run_orders(cfg, ctx, r, data) for r in runs]
    text_df, text_ap = claims.text_frame(
        pd.concat([t[0] for t in text], ignore_index=True),
        {k: v for t in text for k, v in t[2].items()},
    )
    head_df, head_ap = claims.head_frame(
        pd.concat([h[0] for h in head], ignore_index=True),
        {k: v for h in head for k, v in h[2].items()},
    )
    return {
        "per_seed": df,
        "ap": ap,
        "sweep": sw,
        "gaps": gaps,
        "text": text_df,
        "text_ap": text_ap,
        "head": head_df,
        "head_ap": head_ap,
        "geometry": claims.geometry_table(runs),
    }
