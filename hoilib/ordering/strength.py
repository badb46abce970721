"""The bridge strength, chosen on validation: a start step t* and a blend weight lambda.

v' = normalize((1 - lambda) v + lambda bridge(v)). The strength is chosen on the bridge's
own held-out images (``SplitData.val_bridge``: EZ-HOI neither trains on them nor picks
its epoch with them) by the validation mAP of the scorer the test set is scored with,
over one of two sets of classes: the seen classes EZ-HOI trained on, or the
pseudo-unseen classes it never trained on (``data.pseudo``), which resemble the test's
unseen classes. Only then is the test set bridged. Each order of a comparison gets the
strength its own validation chooses (neither is tuned for the other), and that strength is
a bridge (t* > 0): "no bridge" is its own row, never a silent stand-in for one. The start steps and
blend weights tried are the bridge section's ``t_grid`` and ``lambdas`` (``grid_of``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.config.schema import BridgeCfg
from hoilib.data.annotations import PairSet
from hoilib.measure.metric import HOIDetections, HOIGroundTruth, evaluate_hoi
from hoilib.models.diffusion.bridge import noise_matched_t
from hoilib.models.ezhoi.pairs import PairTensors
from hoilib.models.ezhoi.train import gt_of

VALIDATIONS = ("pseudo-unseen", "seen")  # the classes whose validation mAP can choose


def blend(v: torch.Tensor, bridged: torch.Tensor, lam: float) -> torch.Tensor:
    """normalize((1 - lam) v + lam bridged): lam = 0 keeps v, lam = 1 is the bridge's output."""
    return F.normalize((1.0 - lam) * F.normalize(v.float(), dim=-1) + lam * bridged.float(), dim=-1)


def flat_pairs(data: PairTensors) -> tuple[PairSet, HOIGroundTruth, torch.Tensor]:
    """A packed set (e.g. the validation images) as scoreable pairs, their ground truth and union features."""
    keep = ~data.pad
    r, p = torch.nonzero(keep, as_tuple=True)
    r_np, p_np = r.numpy(), p.numpy()
    pairs = PairSet(
        image=data.image[r_np],
        boxes_h=data.boxes_h[r_np, p_np],
        boxes_o=data.boxes_o[r_np, p_np],
        object=data.obj[r, p].numpy(),
    )
    return pairs, gt_of(data), data.u[r, p]


def strengths(t_grid, lambdas) -> list[tuple[int, float]]:
    """Every (t*, lambda) a choice may take, weakest bridge first (t* * lambda, then t*)."""
    grid = [(int(t), float(lam)) for t in t_grid for lam in lambdas if t > 0]
    return sorted(set(grid), key=lambda s: (s[0] * s[1], s[0]))


def t_grid(cfg: BridgeCfg, dim: int) -> tuple[int, ...]:
    """The start steps a choice may take: ``cfg.t_grid`` and the noise-matched reference t* of ``dim``."""
    return tuple(sorted(set(cfg.t_grid) | {noise_matched_t(dim)}))


def grid_of(cfg: BridgeCfg, dim: int) -> list[tuple[int, float]]:
    """Every (t*, lambda) chapter 5 tries on validation for features of width ``dim``."""
    return strengths(t_grid(cfg, dim), cfg.lambdas)


@dataclass(kw_only=True)
class Validation:
    """``scores(features)`` -> validation mAP (%) over the seen and the pseudo-unseen classes."""

    pairs: PairSet
    gt: HOIGroundTruth
    trained: np.ndarray  # (C,) classes EZ-HOI trained on
    pseudo: np.ndarray  # (C,) pseudo-unseen classes
    n_classes: int

    @classmethod
    def of(cls, val: PairTensors, unseen, pseudo) -> Validation:
        pairs, gt, _ = flat_pairs(val)
        unseen = np.asarray(unseen, bool)
        pseudo = np.zeros_like(unseen) if pseudo is None else np.asarray(pseudo, bool)
        return cls(
            pairs=pairs,
            gt=gt,
            trained=~unseen & ~pseudo,
            pseudo=pseudo & ~unseen,
            n_classes=len(unseen),
        )

    def scores(self, dets: HOIDetections) -> dict[str, float]:
        """{'seen': mAP over trained classes, 'pseudo-unseen': over pseudo-unseen ones} (%; NaN if none)."""
        ap = evaluate_hoi(
            dets, self.gt, self.n_classes
        ).ap  # NaN where a class has no positive here
        return {"seen": _mean_pct(ap, self.trained), "pseudo-unseen": _mean_pct(ap, self.pseudo)}


def _mean_pct(ap: np.ndarray, mask: np.ndarray) -> float:
    vals = ap[mask & ~np.isnan(ap)]
    return 100.0 * float(vals.mean()) if vals.size else float("nan")


def deciding(grid: pd.DataFrame, by: str) -> str:
    """The validation column that decides: ``by``, or 'seen' when ``by`` has no number (no pseudo class)."""
    return by if grid[by].notna().any() else "seen"


@dataclass(kw_only=True)
class StrengthChoice:
    """The (t* > 0, lambda) chosen on validation, what decided it, and the grid it was read from."""

    t_start: int
    lam: float
    by: str  # the validation column that chose ("pseudo-unseen" or "seen")
    val: dict  # the chosen strength's validation mAPs
    base: dict  # the same consumer's validation mAPs without a bridge
    grid: pd.DataFrame  # t_start, lambda, seen, pseudo-unseen (validation mAP, %)

    @property
    def gain(self) -> float:
        """Validation gain of the chosen bridge over no bridge, on the deciding classes (points)."""
        return self.val[self.by] - self.base[self.by]


def choose(grid: pd.DataFrame, base: dict, by: str) -> StrengthChoice:
    """The bridge (t* > 0) with the best validation mAP on the ``by`` classes; ties go to the weaker bridge.

    ``grid`` holds one row per (t_start, lambda) in ``strengths`` order with the
    validation mAPs; ``base`` the same without a bridge.
    """
    if by not in VALIDATIONS:
        raise ValueError(f"by must be one of {VALIDATIONS}, got {by!r}")
    col = deciding(grid, by)
    vals = grid[col].fillna(-np.inf).to_numpy()
    best = grid.iloc[int(np.argmax(vals))]  # argmax keeps the first (weakest) of equal values
    return StrengthChoice(
        t_start=int(best.t_start),
        lam=float(best["lambda"]),
        by=col,
        val={k: float(best[k]) for k in VALIDATIONS},
        base=dict(base),
        grid=grid,
    )


def validation_grid(
    vision: torch.Tensor,
    bridge_at: Callable[[int], torch.Tensor],
    score: Callable[[torch.Tensor], dict],
    *,
    grid: list[tuple[int, float]],
) -> pd.DataFrame:
    """Validation mAPs of every (t*, lambda) in ``grid``; ``bridge_at(t)`` bridges ``vision`` from t."""
    rows, cache = [], {}
    for t, lam in grid:
        if t not in cache:
            cache[t] = bridge_at(t)
        rows.append({"t_start": t, "lambda": lam, **score(blend(vision, cache[t], lam))})
    return pd.DataFrame(rows)


def applied(vision: torch.Tensor, bridge_at: Callable[[int], torch.Tensor], t: int, *, lam: float):
    """A strength applied to other features (the test set): normalised input when t = 0."""
    if t == 0:
        return F.normalize(vision.float(), dim=-1)
    return blend(vision, bridge_at(t), lam)
