"""The consumer Diffusion Bridge was built for: a classifier trained on text only, scoring bridged vision.

Diffusion Bridge feeds a bridged vector to a decoder that has only ever seen text; the
claim that the diffusion model must learn the *adapted* text space is a claim about
such a consumer. Here the consumer is a nearest-prototype classifier whose class
prototypes are the normalised class means of a text corpus (raw or adapted), and the
vectors it scores are frozen CLIP's union-crop features, bridged or not (EZ-HOI's
visual branch plays no part). The bridge strength, a start step t* and a blend weight
lambda (v' = normalize((1 - lambda) v + lambda bridge(v))), is chosen on the held-out
seen-class validation images of the training split, never on the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.data.annotations import PairSet
from hoilib.measure.metric import HOIGroundTruth, evaluate_hoi
from hoilib.measure.zeroshot import score_pairs
from hoilib.models.ezhoi.pairs import PairTensors

T_GRID = (0, 199, 399, 599, 799, 999)  # start steps tried on validation (0 = no bridge)
LAMBDAS = (0.25, 0.5, 0.75, 1.0)  # blend weights tried on validation (with t* = 0 all give v)


def prototypes(corpus: torch.Tensor, corpus_class: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, D) unit class prototypes: the normalised mean of each class's normalised corpus vectors."""
    z = F.normalize(corpus.double(), dim=-1)
    idx = torch.as_tensor(corpus_class, dtype=torch.long)
    sums = torch.zeros(n_classes, z.shape[1], dtype=torch.float64).index_add_(0, idx, z)
    missing = torch.bincount(idx, minlength=n_classes) == 0
    if bool(missing.any()):
        raise ValueError(
            f"corpus_class: no corpus vector for classes {torch.nonzero(missing).flatten().tolist()}"
        )
    return F.normalize(sums, dim=-1).float()


def blend(v: torch.Tensor, bridged: torch.Tensor, lam: float) -> torch.Tensor:
    """normalize((1 - lam) v + lam bridged): lam = 0 keeps v, lam = 1 is the bridge's output."""
    return F.normalize((1.0 - lam) * F.normalize(v.float(), dim=-1) + lam * bridged.float(), dim=-1)


def flat_pairs(data: PairTensors) -> tuple[PairSet, HOIGroundTruth, torch.Tensor]:
    """A packed set (e.g. the validation images) as scoreable pairs, their ground truth and union features."""
    keep = ~data.pad
    r, p = torch.nonzero(keep, as_tuple=True)
    r_np, p_np = r.numpy(), p.numpy()
    pairs = PairSet(
        data.image[r_np], data.boxes_h[r_np, p_np], data.boxes_o[r_np, p_np], data.obj[r, p].numpy()
    )
    rr, pp, cc = torch.nonzero(data.targets > 0, as_tuple=True)
    gt = HOIGroundTruth(
        image=data.image[rr.numpy()],
        hoi=cc.numpy().astype(np.int64),
        boxes_h=data.boxes_h[rr.numpy(), pp.numpy()],
        boxes_o=data.boxes_o[rr.numpy(), pp.numpy()],
    )
    return pairs, gt, data.u[r, p]


@dataclass
class StrengthChoice:
    """The bridge strength chosen on validation, and every (t*, lambda) tried with its validation mAP."""

    t_start: int
    lam: float
    val_map: float
    grid: pd.DataFrame  # columns t_start, lambda, val_map (seen-class mAP on validation, %)


def choose_strength(
    vision: torch.Tensor,
    bridge_at: Callable[[int], torch.Tensor],
    evaluate: Callable[[torch.Tensor], float],
    t_grid=T_GRID,
    lambdas=LAMBDAS,
) -> StrengthChoice:
    """The (t*, lambda) with the best ``evaluate`` of the blended features; ties go to the weaker bridge.

    ``bridge_at(t)`` bridges ``vision`` from start step t; ``evaluate`` scores features
    (validation mAP). t* = 0 is "no bridge" and is tried once.
    """
    rows = []
    for t in sorted({int(t) for t in t_grid}):
        if t == 0:
            rows.append(
                {
                    "t_start": 0,
                    "lambda": 0.0,
                    "val_map": float(evaluate(F.normalize(vision.float(), dim=-1))),
                }
            )
            continue
        b = bridge_at(t)
        for lam in sorted(lambdas):
            rows.append(
                {
                    "t_start": t,
                    "lambda": float(lam),
                    "val_map": float(evaluate(blend(vision, b, lam))),
                }
            )
    grid = pd.DataFrame(rows)
    # weakest bridge first, so a tie keeps it; NaN (no class to average) never wins
    order = grid.assign(strength=grid.t_start * grid["lambda"]).sort_values(
        ["strength", "t_start"], kind="stable"
    )
    best = (
        order.loc[order.val_map.fillna(-np.inf).idxmax()]
        if order.val_map.notna().any()
        else order.iloc[0]
    )
    return StrengthChoice(int(best.t_start), float(best["lambda"]), float(best.val_map), grid)


def validation_evaluator(
    val: PairTensors, text: torch.Tensor, classes, logit_scale: float, unseen: np.ndarray
):
    """``evaluate(features)`` for ``choose_strength``: seen-class mAP (%) on the validation images only."""
    pairs, gt, _ = flat_pairs(val)
    n = len(classes)

    def evaluate(features: torch.Tensor) -> float:
        dets = score_pairs(features, text, pairs, classes, logit_scale)
        seen = evaluate_hoi(dets, gt, n, unseen=unseen).seen
        return float("nan") if seen is None else 100.0 * float(seen)

    return evaluate


CONSUMERS = ("raw", "adapted")  # the text the consumer's prototypes come from
DIFFUSIONS = (
    "none",
    "raw",
    "adapted",
)  # the text the bridge's diffusion model learned ("none": no bridge)


def run_2x2(cfg, ctx, run, data, world) -> tuple[pd.DataFrame, dict]:
    """The claim's own setting for one seed: consumer text x diffusion text, strength chosen on validation.

    Returns one row per (consumer, diffusion) with the chosen t* and lambda, their
    validation mAP and the test mAP (%), and the choices with their validation grids.
    Frozen CLIP's union features are bridged with the frozen training mean; the bridge
    compares with the consumer's space (a mismatch is asked for in the off-diagonal cells).
    """
    from hoilib.chapters.methods import bridged, evaluate

    sp, n = run.space, world.num_classes
    scale = ctx.frozen_scale
    _, _, val_u = flat_pairs(data.val)
    rows, choices = [], {}
    for consumer in CONSUMERS:
        corpus = sp.raw_corpus if consumer == "raw" else sp.adapted_corpus
        protos = prototypes(corpus, sp.corpus_class, n)
        fingerprint = sp.meta["raw_fingerprint"] if consumer == "raw" else sp.fingerprint
        val_eval = validation_evaluator(data.val, protos, world.classes, scale, data.unseen)
        for diffusion in DIFFUSIONS:
            diff = {"raw": run.raw, "adapted": run.adapted}.get(diffusion)

            def bridge_at(
                t, v, diff=diff, consumer=consumer, diffusion=diffusion, fingerprint=fingerprint
            ):
                return bridged(
                    cfg,
                    diff,
                    v,
                    ctx.frozen_train_mean,
                    fingerprint,
                    t_start=int(t),
                    seed=run.seed,
                    allow_mismatch=diffusion != consumer,
                )

            if diff is None:
                choice = choose_strength(val_u, None, val_eval, t_grid=(0,))
                test = ctx.frozen_test
            else:
                choice = choose_strength(val_u, lambda t: bridge_at(t, val_u), val_eval)
                test = ctx.frozen_test
                if choice.t_start > 0:
                    test = blend(test, bridge_at(choice.t_start, test), choice.lam)
            m = evaluate(ctx, test, protos, scale).as_percent()
            rows.append(
                {
                    "consumer": consumer,
                    "diffusion": diffusion,
                    "seed": run.seed,
                    "t_start": choice.t_start,
                    "lambda": choice.lam,
                    "val_map": choice.val_map,
                    "full": m["full"],
                    "seen": m["seen"],
                    "unseen": m["unseen"],
                }
            )
            choices[(consumer, diffusion, run.seed)] = choice
    return pd.DataFrame(rows), choices
