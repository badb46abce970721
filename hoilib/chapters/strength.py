"""The bridge strength, chosen on validation: a start step t* and a blend weight lambda.

v' = normalize((1 - lambda) v + lambda bridge(v)). Both are chosen on the held-out
seen-class validation images of the training split (EZ-HOI never trains on them), by
the validation mAP of the same scorer the test set is scored with, and only then is
the test set bridged. t* = 0 ("no bridge") is always a candidate, and ties go to the
weaker bridge, so a bridge is used only when validation says it helps.
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
from hoilib.models.ezhoi.train import gt_of

T_GRID = (0, 199, 399, 599, 799, 999)  # start steps tried on validation (0 = no bridge)
LAMBDAS = (0.25, 0.5, 0.75, 1.0)  # blend weights tried on validation (with t* = 0 all give v)


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
    return pairs, gt_of(data), data.u[r, p]


@dataclass
class StrengthChoice:
    """The bridge strength chosen on validation, and every (t*, lambda) tried with its validation mAP."""

    t_start: int
    lam: float
    val_map: float
    grid: pd.DataFrame  # columns t_start, lambda, val_map (seen-class mAP on validation, %)

    def apply(self, vision: torch.Tensor, bridge_at: Callable[[int], torch.Tensor]):
        """The chosen strength applied to other features (the test set): bridged only if t* > 0."""
        if self.t_start == 0:
            return F.normalize(vision.float(), dim=-1)
        return blend(vision, bridge_at(self.t_start), self.lam)


def choose_strength(
    vision: torch.Tensor,
    bridge_at: Callable[[int], torch.Tensor] | None,
    evaluate: Callable[[torch.Tensor], float],
    t_grid=T_GRID,
    lambdas=LAMBDAS,
) -> StrengthChoice:
    """The (t*, lambda) with the best ``evaluate`` of the blended features; ties go to the weaker bridge.

    ``bridge_at(t)`` bridges ``vision`` from start step t; ``evaluate`` scores features
    (validation mAP). t* = 0 is "no bridge" and is tried once; ``bridge_at=None`` tries only it.
    """
    rows = []
    for t in sorted({int(t) for t in t_grid} | {0}) if bridge_at else [0]:
        if t == 0:
            score = evaluate(F.normalize(vision.float(), dim=-1))
            rows.append({"t_start": 0, "lambda": 0.0, "val_map": float(score)})
            continue
        b = bridge_at(t)
        for lam in sorted(lambdas):
            score = evaluate(blend(vision, b, lam))
            rows.append({"t_start": t, "lambda": float(lam), "val_map": float(score)})
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


def validation_evaluator(val: PairTensors, text: torch.Tensor, classes, scoring, unseen):
    """``evaluate(features)`` for ``choose_strength``: seen-class mAP (%) on the validation images only.

    ``scoring`` is a softmax logit scale (float) or EZ-HOI's head (scale, bias), as in
    ``chapters.methods.evaluate``; the validation images hold seen classes only.
    """
    pairs, gt, _ = flat_pairs(val)
    n = len(classes)
    head = tuple(scoring) if isinstance(scoring, (tuple, list)) else None

    def evaluate(features: torch.Tensor) -> float:
        dets = score_pairs(features, text, pairs, classes, None if head else scoring, head=head)
        seen = evaluate_hoi(dets, gt, n, unseen=unseen).seen
        return float("nan") if seen is None else 100.0 * float(seen)

    return evaluate
