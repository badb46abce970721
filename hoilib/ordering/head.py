"""The second setting: EZ-HOI's own head, each order bridged at the strength its own validation chooses.

The design document's rows bridge EZ-HOI's visual features at Diffusion Bridge's
t* = 599. Here the strength (t* > 0 and a blend weight) is chosen on the bridge's held-out
validation images, scored by the model's own sigmoid head, for each order on its own: the
adapted-trained bridge (the correct order) and the raw-trained one (the wrong order) each
get the strength their validation prefers, so neither is tuned for the other. "No bridge"
is its own row. Every strength is also scored on the test set, for the figure and for the
common-strength contrast (the correct order's strength for both), a secondary reading.
"""

from __future__ import annotations

import pandas as pd
import torch

from hoilib.config.schema import Params
from hoilib.measure.zeroshot import score_pairs
from hoilib.models.seedrun import SeedRun
from hoilib.ordering.labels import MAP_COLS
from hoilib.ordering.methods import Context, bridged, evaluate, ezhoi_head
from hoilib.ordering.strength import Validation, applied, choose, grid_of, validation_grid

ORDERS = ("none", "raw", "adapted")  # what the bridge's diffusion model learned ("none": no bridge)


@torch.no_grad()
def val_vision(run, data) -> torch.Tensor:
    """The model's visual features of every pair of the bridge's validation images (``flat_pairs`` order)."""
    val = data.val_bridge
    run.model.eval()
    return run.model.visual_features(val.h, val.o, val.u, pad=val.pad)[~val.pad]


def run_orders(cfg: Params, ctx: Context, run: SeedRun) -> dict:
    """No bridge, and the raw- and adapted-trained bridges, each at its own validated strength.

    The strengths tried are the text-only consumers' (``strength.grid_of``: ``cfg.bridge``'s
    ``t_grid`` and ``lambdas`` at frozen CLIP's width).

    Returns {'rows': (diffusion, seed, t_start, lambda, validation and test mAPs), 'grid':
    every strength on validation and test, 'ap': per-class test AP keyed (diffusion, seed)}.
    """
    sp, head, data = run.space, ezhoi_head(run), ctx.data
    v_val = val_vision(run, data)
    V = Validation.of(data.val_bridge, data.unseen, data.pseudo)
    score = lambda f: V.scores(  # noqa: E731
        score_pairs(f, sp.adapted, V.pairs, classes=ctx.world.classes, head=head)
    )
    grid = grid_of(cfg.bridge, ctx.frozen_test.shape[1])
    diffs = {"raw": run.raw, "adapted": run.adapted}

    def at(d, v):
        return lambda t: bridged(
            cfg,
            diffs[d],
            v,
            vision_mean=run.vision_mean,
            fingerprint=sp.fingerprint,
            allow_mismatch=d == "raw",
            t_start=int(t),
            seed=run.seed,
        )

    base = score(v_val)
    vg = {d: validation_grid(v_val, at(d, v_val), score, grid=grid) for d in diffs}
    chosen = {d: choose(vg[d], base, cfg.bridge.strength_by) for d in diffs}
    rows, grids, ap = [], [], {}
    m = evaluate(ctx, run.vision, sp.adapted, scoring=head)
    ap[("none", run.seed)] = m.ap
    rows.append(_row("none", run.seed, 0, lam=0.0, val=base, m=m))
    for d in diffs:
        tests = {}  # test features bridged once per t*
        for t, lam in grid:
            if t not in tests:
                tests[t] = at(d, run.vision)(t)
            at_val = vg[d][(vg[d].t_start == t) & (vg[d]["lambda"] == lam)].iloc[0]
            m = evaluate(
                ctx, applied(run.vision, tests.__getitem__, t, lam=lam), sp.adapted, scoring=head
            )
            grids.append(_row(d, run.seed, t, lam=lam, val=at_val, m=m))
            if (t, lam) == (chosen[d].t_start, chosen[d].lam):
                ap[(d, run.seed)] = m.ap
                rows.append(
                    _row(d, run.seed, t, lam=lam, val=at_val, m=m) | {"chosen_by": chosen[d].by}
                )
    return {"rows": pd.DataFrame(rows), "grid": pd.DataFrame(grids), "ap": ap}


def _row(diffusion, seed, t, *, lam, val, m) -> dict:
    return (
        {"diffusion": diffusion, "seed": seed, "t_start": int(t), "lambda": float(lam)}
        | {"val_seen": float(val["seen"]), "val_pseudo_unseen": float(val["pseudo-unseen"])}
        | {k: m.as_percent()[k] for k in MAP_COLS}
    )
