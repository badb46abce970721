"""Every table chapter 5 computes, in one call whose result the chapter caches (``chapters.memo``).

The text-only consumers' 2 x 2 with its positive control, EZ-HOI's head at one validated
strength, the dose-response, the design document's fixed-t* table with its t* sweep and
gap measures, and the geometry of the two text spaces: frames and per-class APs only,
so a warm rebuild reads them back.
"""

from __future__ import annotations

import pandas as pd

from hoilib.ordering import claims, dose, head, twobytwo
from hoilib.ordering.methods import gap_table, run_table, sweep
from hoilib.timing import timed


def _merge(parts: list[dict], key: str) -> pd.DataFrame:
    return pd.concat([p[key] for p in parts], ignore_index=True)


def _frame(parts: list[dict], frame) -> tuple[pd.DataFrame, dict]:
    """``frame`` (``claims.text_frame`` or ``claims.head_frame``) over every seed's rows and APs."""
    return frame(_merge(parts, "rows"), {k: v for p in parts for k, v in p["ap"].items()})


def text_frame(text: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The text-only consumers' frame and APs over the seeds' ``twobytwo.run_text`` results."""
    return _frame(text, claims.text_frame)


def dose_kind(ctrl: pd.DataFrame) -> str:
    """The consumer the dose-response uses: the primary one, else the adapted one validation favours most."""
    chosen = claims.primary(ctrl)
    if chosen is not None:
        return chosen
    adapted = ctrl[ctrl.consumer == "adapted"]
    return str(adapted.sort_values("validation gain", ascending=False).kind.iloc[0])


def matched_strength(rows: pd.DataFrame, kind: str) -> tuple[int, float]:
    """The (t*, lambda) validation chose for one seed's ``kind`` consumer of adapted text (its matched cell)."""
    r = twobytwo.consistent_cell(rows, kind).iloc[0]
    return int(r.t_start), float(r["lambda"])


def compute_tables(cfg, ctx, runs) -> dict:
    """The chapter's numbers for these seeds: frames and per-class APs keyed (method, seed)."""
    data, world = ctx.data, ctx.world
    t_grid = twobytwo.t_grid(ctx.frozen_test.shape[1])
    cache: dict = {}  # bridged sets shared by the seeds (the raw corpus's closed form)
    with timed("scoring"):
        df, ap, feats = run_table(cfg, ctx, runs)
        sw = sweep(cfg, ctx, runs[0], cfg.bridge.sweep_t_starts, cfg.bridge.sweep_steps)
        gaps = gap_table(cfg, ctx, feats, runs[0].seed)
    with timed("text-only consumers"):
        text = [twobytwo.run_text(cfg, ctx, r, cache) for r in runs]
    with timed("EZ-HOI head, validated"):
        heads = [head.run_orders(cfg, ctx, r, t_grid) for r in runs]
    text_df, text_ap = text_frame(text)
    head_df, head_ap = _frame(heads, claims.head_frame)
    ctrl = claims.controls(text_df, text_ap, data.unseen)
    kind = dose_kind(ctrl)
    with timed("dose-response"):
        doses = [
            dose.run_dose(cfg, ctx, r, data, world, kind, matched_strength(t["rows"], kind), cache,
                          t["consumers"])
            for r, t in zip(runs, text, strict=True)
        ]  # fmt: skip
    return {
        "per_seed": df,
        "ap": ap,
        "sweep": sw,
        "gaps": gaps,
        "text": text_df,
        "text_ap": text_ap,
        "text_grid": _merge(text, "grid"),
        "gapcost": _merge(text, "gapcost"),
        "controls": ctrl,
        "head": head_df,
        "head_ap": head_ap,
        "head_grid": _merge(heads, "grid"),
        "dose": pd.concat([d[0] for d in doses], ignore_index=True),
        "dose_ap": {k: v for d in doses for k, v in d[1].items()},
        "dose_kind": kind,
        "geometry": claims.geometry_table(runs),
    }
