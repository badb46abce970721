"""How far adaptation moves the text, as a dose-response: correct minus wrong against CKA(raw, t_alpha).

For alpha in the profile's ``dose_alphas``, the text space t_alpha = normalize((1 - alpha)
raw + alpha adapted), row by row of the corpus: alpha 0 is raw text, 1 the adapted space,
1.5 an adaptation pushed further. A consumer of the primary kind is fitted on t_alpha
(text only) and fed frozen CLIP features bridged by the closed-form denoiser of t_alpha
(the correct order: no training, so nothing but the target space changes) or of the raw
corpus (the wrong order), at the strength chosen on validation for the correct one. A
reader with real CLIP and EZ-HOI can measure the linear CKA of their own raw and adapted
text and read off what this world predicts for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.measure.effects import contrast
from hoilib.measure.geometry import linear_cka
from hoilib.measure.metric import evaluate_hoi
from hoilib.measure.zeroshot import score_logits
from hoilib.models.diffusion.bridge import bridge, check_order
from hoilib.models.diffusion.closed_form import ClosedFormDenoiser
from hoilib.ordering import consumers
from hoilib.ordering.strength import (
    Validation,
    applied,
    choose,
    flat_pairs,
    strengths,
    validation_grid,
)


def blended(raw: torch.Tensor, adapted: torch.Tensor, alpha: float) -> torch.Tensor:
    """normalize((1 - alpha) raw + alpha adapted), row by row (both normalised first)."""
    r, a = F.normalize(raw.float(), dim=-1), F.normalize(adapted.float(), dim=-1)
    return F.normalize((1 - alpha) * r + alpha * a, dim=-1)


def run_dose(
    cfg, ctx, run, data, world, kind: str, t_grid, cache: dict
) -> tuple[pd.DataFrame, dict]:
    """One row per alpha (this seed): CKA to raw text, the chosen strength, and correct / wrong / no-bridge mAP.

    Per-class test APs are keyed (alpha, order, seed) with order in none / correct / wrong.
    """
    sp, n, seed = run.space, world.num_classes, run.seed
    val_pairs, _, val_u = flat_pairs(data.val_bridge)
    V = Validation.of(data.val_bridge, data.unseen, data.pseudo)
    gt = world.test.ground_truth()
    held = consumers.held_out_rows(sp.corpus_class, n)
    grid = strengths(t_grid)
    raw_fp = sp.meta["raw_fingerprint"]
    vision = {"val": val_u, "test": ctx.frozen_test}
    if ("closed form", raw_fp) not in cache:
        cache[("closed form", raw_fp)] = ClosedFormDenoiser.from_vectors(
            sp.raw_corpus, raw_fp, "raw"
        )
    wrong = cache[("closed form", raw_fp)]

    def at(diff, where, target, key):
        """Bridged ``where`` from t; the raw corpus's denoiser is asked for another space on purpose."""

        def f(t):
            check_order(diff, target, allow_mismatch=diff is wrong)
            k = ("dose", key, int(t), where)
            if k not in cache:
                cache[k] = bridge(
                    diff,
                    vision[where],
                    ctx.frozen_train_mean,
                    diff.fingerprint,
                    t_start=int(t),
                    steps=cfg.bridge_steps,
                    recipe=cfg.bridge_recipe,
                    generator=torch.Generator().manual_seed(seed),
                    batch_size=max(1, len(vision[where])),
                )
            return cache[k]

        return f

    rows, ap = [], {}
    for alpha in cfg.dose_alphas:
        text = blended(sp.raw_corpus, sp.adapted_corpus, alpha)
        fp = f"{sp.fingerprint}-alpha{alpha:g}"
        correct = ClosedFormDenoiser.from_vectors(text, fp, f"alpha {alpha:g}")
        c = consumers.fit_consumer(
            kind,
            text,
            sp.corpus_class,
            n,
            held,
            f"alpha {alpha:g}",
            ctx.frozen_scale,
            cfg.consumer_steps,
            seed,
        )
        score = lambda f, c=c: V.scores(score_logits(c.logits(f), val_pairs, world.classes))  # noqa: E731
        key = (
            (fp, seed) if cfg.bridge_recipe != "direct" else fp
        )  # the direct recipe draws no noise
        choice = choose(
            validation_grid(val_u, at(correct, "val", fp, key), score, grid),
            score(val_u),
            cfg.strength_by,
        )
        row = {
            "alpha": alpha,
            "seed": seed,
            "linear CKA": linear_cka(sp.raw_corpus, text),
            "t_start": choice.t_start,
            "lambda": choice.lam,
        }
        wrong_at = at(
            wrong, "test", fp, (raw_fp, seed) if cfg.bridge_recipe != "direct" else raw_fp
        )
        for order, feats in (
            ("none", F.normalize(ctx.frozen_test.float(), dim=-1)),
            (
                "correct",
                applied(ctx.frozen_test, at(correct, "test", fp, key), choice.t_start, choice.lam),
            ),
            ("wrong", applied(ctx.frozen_test, wrong_at, choice.t_start, choice.lam)),
        ):
            m = evaluate_hoi(
                score_logits(c.logits(feats), data.test_pairs, world.classes),
                gt,
                n,
                unseen=data.unseen,
            )
            ap[(alpha, order, seed)] = m.ap
            row |= {f"{order} {k}": m.as_percent()[k] for k in ("unseen", "seen", "full")}
        rows.append(row)
    return pd.DataFrame(rows), ap


def summary(rows: pd.DataFrame, ap: dict, unseen) -> pd.DataFrame:
    """Per alpha: CKA to raw text, and correct minus wrong (Unseen) with its interval over seeds and classes."""
    out = []
    unseen = np.asarray(unseen, bool)
    for alpha, g in rows.groupby("alpha", sort=True):
        seeds = sorted(g.seed)
        diffs = 100 * np.stack([ap[(alpha, "correct", s)] - ap[(alpha, "wrong", s)] for s in seeds])
        r = contrast(diffs[:, unseen & ~np.isnan(diffs).any(axis=0)])
        out.append(
            {"alpha": alpha, "linear CKA": g["linear CKA"].mean()}
            | {k: r[k] for k in ("mean", "lo", "hi")}
            | {"no bridge": g["none unseen"].mean(), "correct": g["correct unseen"].mean()}
            | {"wrong": g["wrong unseen"].mean()}
        )
    return pd.DataFrame(out)
