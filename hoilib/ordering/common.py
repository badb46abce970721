"""The secondary strength rule: both orders at one common strength, the one the correct order's validation chose.

The primary rule bridges each order at the strength its own validation prefers. The
secondary reading asks what correct minus wrong would be if the wrong order were bridged
at the correct order's strength instead, as the book did before the plan. It is read off
the test grids chapter 5 already scores (every strength, both orders, for the consumers of
adapted text and for EZ-HOI's head), so it costs no bridging; its unit is a seed's mAP,
not a class's AP, so only the grid's t over world means reads it.
"""

from __future__ import annotations

import pandas as pd

from hoilib.ordering.labels import MAP_COLS, MLP


def _at(grid: pd.DataFrame, seed, t: int, lam: float) -> pd.Series:
    g = grid[(grid.seed == seed) & (grid.t_start == t) & (grid["lambda"] == lam)]
    return g.iloc[0]


def common_strength(tables) -> list[dict]:
    """Per setting and seed: the correct order's test mAPs at its chosen strength and the wrong
    order's at that same strength (``tables``: chapter 5's ``OrderingTables``)."""
    out = []
    text, tg = tables.text, tables.text_grid
    adapted = text[(text.consumer == "adapted") & (text.diffusion == "adapted")]
    for _, r in adapted[adapted.denoiser == MLP].iterrows():
        g = tg[(tg.kind == r.kind) & (tg.consumer == "adapted")]
        wrong = _at(g[g.diffusion == "raw"], r.seed, r.t_start, r["lambda"])
        out.append(_row(f"text-only: {r.kind}", r.seed, r, wrong))
    head, hg = tables.head, tables.head_grid
    for _, r in head[head.diffusion == "adapted"].iterrows():
        wrong = _at(hg[hg.diffusion == "raw"], r.seed, r.t_start, r["lambda"])
        out.append(_row("head", r.seed, r, wrong))
    return out


def _row(setting: str, seed, correct, wrong) -> dict:
    return {
        "setting": setting,
        "seed": int(seed),
        "t_start": int(correct["t_start"]),
        "lambda": float(correct["lambda"]),
        "correct": {k: float(correct[k]) for k in MAP_COLS},
        "wrong": {k: float(wrong[k]) for k in MAP_COLS},
    }
