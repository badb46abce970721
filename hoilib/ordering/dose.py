"""How far adaptation moves the text, as a dose-response: correct minus wrong against CKA(raw, t_alpha).

For alpha in the profile's ``evaluation.dose_alphas``, the text space t_alpha = normalize((1 - alpha)
raw + alpha adapted), row by row of the corpus: alpha 0 is raw text, 1 the adapted space,
1.5 an adaptation pushed further. A consumer of the primary kind is fitted on t_alpha
(text only) and fed frozen CLIP features bridged by the closed-form denoiser of t_alpha
(the correct order: no training, so nothing but the target space changes) or of the raw
corpus (the wrong order), at the one strength validation chose for the main experiment's
matched cell (the trained diffusion model of adapted text): no strength is chosen per
alpha, so nothing but the target space moves along the curve. A
reader with real CLIP and EZ-HOI can measure the linear CKA of their own raw and adapted
text and read off what this world predicts for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.config.schema import ClaimsCfg, ConsumersCfg
from hoilib.measure.geometry import linear_cka
from hoilib.measure.metric import evaluate_hoi
from hoilib.measure.zeroshot import score_logits
from hoilib.models.diffusion.bridge import check_order
from hoilib.models.diffusion.closed_form import ClosedFormDenoiser
from hoilib.models.seedrun import SeedRun
from hoilib.ordering import claims, consumers
from hoilib.ordering.bridges import CLOSED_FORM, BridgeCache
from hoilib.ordering.labels import UNSEEN_FIRST
from hoilib.ordering.methods import Context
from hoilib.ordering.strength import blend


def blended(raw: torch.Tensor, adapted: torch.Tensor, alpha: float) -> torch.Tensor:
    """normalize((1 - alpha) raw + alpha adapted), row by row (both normalised first)."""
    r, a = F.normalize(raw.float(), dim=-1), F.normalize(adapted.float(), dim=-1)
    return F.normalize((1 - alpha) * r + alpha * a, dim=-1)


def run_dose(
    ctx: Context,
    run: SeedRun,
    kind: str,
    *,
    strength: tuple[int, float],
    alphas: list[float],
    consumers_cfg: ConsumersCfg,
    cache: BridgeCache,
    fitted: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """One row per alpha (this seed): CKA to raw text and correct / wrong / no-bridge test mAP.

    ``strength`` (t*, lambda) is the one validation chose for this seed's matched cell
    of the ``kind`` consumer of adapted text (``twobytwo.run_text``): every alpha of
    ``alphas`` (the profile's ``evaluation.dose_alphas``) is bridged at it with ``cache``'s
    bridge settings, so only the target space changes along the curve. Per-class test APs
    are keyed (alpha, order, seed) with order in none / correct / wrong. ``fitted`` may
    hold this seed's consumers keyed (kind, 'raw' | 'adapted'): alpha 0 and 1 are those
    spaces (normalised), so their consumers are reused instead of fitted again.
    """
    data, world = ctx.data, ctx.world
    sp, n, seed = run.space, world.num_classes, run.seed
    t_start, lam = int(strength[0]), float(strength[1])
    gt = world.test.ground_truth()
    held = consumers.held_out_rows(sp.corpus_class, n, cfg=consumers_cfg)
    raw_fp = sp.meta["raw_fingerprint"]
    wrong = cache.closed_form(sp.raw_corpus, raw_fp, "raw")  # shared with ``twobytwo``

    def bridged(diff, target: str) -> torch.Tensor:
        """Test features bridged at the strength; the raw corpus's denoiser is asked for another space on purpose."""
        check_order(diff, target, allow_mismatch=diff is wrong)
        feats = cache.bridged(diff, CLOSED_FORM, seed=seed, t=t_start, where="test")
        return blend(ctx.frozen_test, feats, lam)

    texts = {f"alpha {a:g}": blended(sp.raw_corpus, sp.adapted_corpus, a) for a in alphas}
    same = {"alpha 0": "raw", "alpha 1": "adapted"}  # blends that are a fitted consumer's own text
    reuse = {
        name: fitted[(kind, same[name])]
        for name in texts
        if fitted is not None and (kind, same.get(name)) in fitted
    }
    new = consumers.fit_consumers(
        [(kind, name) for name in texts if name not in reuse],
        texts,
        sp.corpus_class,
        n_classes=n,
        held=held,
        cfg=consumers_cfg,
        scale=ctx.frozen_scale,
        seed=seed,
    )
    fitted = {(kind, name): c for name, c in reuse.items()} | new
    rows, ap = [], {}
    for alpha in alphas:
        name = f"alpha {alpha:g}"
        fp = f"{sp.fingerprint}-alpha{alpha:g}"
        # at alpha 0 the target is raw text: both orders are the raw corpus's one denoiser; a
        # blend's own denoiser serves one alpha of one seed, so it is built here, not kept
        correct = wrong if alpha == 0 else ClosedFormDenoiser.from_vectors(texts[name], fp, name)
        c = fitted[(kind, name)]
        row = {
            "alpha": alpha,
            "seed": seed,
            "linear CKA": linear_cka(sp.raw_corpus, texts[name]),
            "t_start": t_start,
            "lambda": lam,
        }
        for order, feats in (
            ("none", F.normalize(ctx.frozen_test.float(), dim=-1)),
            ("correct", bridged(correct, fp)),
            ("wrong", bridged(wrong, fp)),
        ):
            m = evaluate_hoi(
                score_logits(c.logits(feats), data.test_pairs, world.classes),
                gt,
                n,
                unseen=data.unseen,
            )
            ap[(alpha, order, seed)] = m.ap
            row |= {f"{order} {k}": m.as_percent()[k] for k in UNSEEN_FIRST}
        rows.append(row)
    return pd.DataFrame(rows), ap


def summary(rows: pd.DataFrame, ap: dict, unseen, *, cfg: ClaimsCfg) -> pd.DataFrame:
    """Per alpha: CKA to raw text, and correct minus wrong (Unseen) with its interval over seeds and
    classes (``cfg``'s bootstrap draws, seed and level)."""
    out = []
    unseen = np.asarray(unseen, bool)
    for alpha, g in rows.groupby("alpha", sort=True):
        seeds = sorted(g.seed)
        diffs = 100 * np.stack([ap[(alpha, "correct", s)] - ap[(alpha, "wrong", s)] for s in seeds])
        r = claims.interval(diffs[:, unseen & ~np.isnan(diffs).any(axis=0)], cfg)
        out.append(
            {"alpha": alpha, "linear CKA": g["linear CKA"].mean()}
            | {k: r[k] for k in ("mean", "lo", "hi")}
            | {"no bridge": g["none unseen"].mean(), "correct": g["correct unseen"].mean()}
            | {"wrong": g["wrong unseen"].mean()}
        )
    return pd.DataFrame(out)
