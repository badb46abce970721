"""The second setting: EZ-HOI's own head, with the bridge strength chosen on validation.

The design document's rows bridge EZ-HOI's visual features at Diffusion Bridge's
t* = 599. Here the same two orders (the raw-trained and the adapted-trained diffusion
model) get a start step and blend weight chosen on the held-out seen-class
validation images, scored by the model's own sigmoid head, exactly as the text-only
consumer's are; "no bridge" is always a candidate.
"""

from __future__ import annotations

import pandas as pd
import torch

from hoilib.chapters.methods import bridged, evaluate, ezhoi_head
from hoilib.chapters.strength import choose_strength, validation_evaluator

ORDERS = ("none", "raw", "adapted")  # what the bridge's diffusion model learned ("none": no bridge)


@torch.no_grad()
def val_vision(run, data) -> torch.Tensor:
    """The model's visual features of every validation pair, in ``strength.flat_pairs`` order."""
    val = data.val
    run.model.eval()
    return run.model.visual_features(val.h, val.o, val.u, val.pad)[~val.pad]


def run_orders(cfg, ctx, run, data) -> tuple[pd.DataFrame, dict, dict]:
    """No bridge, raw-trained and adapted-trained bridge on EZ-HOI's head, strength chosen on validation.

    Returns rows (diffusion, seed, t_start, lambda, val_map, full, seen, unseen), the
    choices and the per-class test APs, keyed (diffusion, seed).
    """
    sp, head = run.space, ezhoi_head(run)
    v_val = val_vision(run, data)
    val_eval = validation_evaluator(data.val, sp.adapted, ctx.world.classes, head, data.unseen)
    rows, choices, ap = [], {}, {}
    for diffusion in ORDERS:
        diff = {"raw": run.raw, "adapted": run.adapted}.get(diffusion)

        def at(t, v, diff=diff, mismatch=diffusion == "raw"):
            return bridged(
                cfg, diff, v, run.vision_mean, sp.fingerprint, mismatch, int(t), seed=run.seed
            )

        choice = choose_strength(
            v_val, None if diff is None else (lambda t, a=at: a(t, v_val)), val_eval
        )
        test = choice.apply(run.vision, lambda t, a=at: a(t, run.vision))
        m = evaluate(ctx, test, sp.adapted, head)
        rows.append(
            {
                "diffusion": diffusion,
                "seed": run.seed,
                "t_start": choice.t_start,
                "lambda": choice.lam,
            }
            | {"val_map": choice.val_map}
            | {k: m.as_percent()[k] for k in ("full", "seen", "unseen")}
        )
        choices[(diffusion, run.seed)], ap[(diffusion, run.seed)] = choice, m.ap
    return pd.DataFrame(rows), choices, ap
