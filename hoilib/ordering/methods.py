"""The methods of the ordering experiment: each turns a seed's test-pair features and class text into a score.

For each EZ-HOI seed, the model's visual features of every test pair are scored
against its adapted class text: directly (no bridge), after a bridge trained on the
raw CLIP text space (the wrong order: the guard is told to allow the mismatch),
after a bridge trained on the adapted space (the correct order), or after a cheap
gap-closing baseline at the same place. "Raw everywhere" is the consistent pipeline
without EZ-HOI: frozen CLIP features, a raw-trained bridge, raw text. Every result
keeps its per-class APs so chapter 5 can test paired differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hoilib.config import Params, resolve_device
from hoilib.measure.metric import HOIMetrics, evaluate_hoi
from hoilib.measure.zeroshot import annotated_pairs, score_pairs
from hoilib.models import gap_closing
from hoilib.models.diffusion.bridge import bridge, noise_matched_t
from hoilib.models.diffusion.model import TextDiffusion
from hoilib.models.gap_closing import modality_mean
from hoilib.models.seedrun import SeedRun
from hoilib.models.split_data import SplitData
from hoilib.ordering.labels import (
    CAPDEC,
    CORRECT,
    CORRECT_MATCHED,
    DECAP,
    FROZEN_CLIP,
    MEAN_CENTER,
    METHODS,
    NONE,
    PROCRUSTES,
    RAW_EVERYWHERE,
    SOFTMAX,
    WRONG,
    WRONG_MATCHED,
    Method,
)

# the bridged rows of EZ-HOI: the text space each one's diffusion model learned
LEARNED = {WRONG: "raw", CORRECT: "adapted", WRONG_MATCHED: "raw", CORRECT_MATCHED: "adapted"}


@dataclass(kw_only=True)
class Context:
    """What every seed shares: the test pairs, ground truth, frozen CLIP features and raw class text."""

    world: object
    data: SplitData
    frozen_test: torch.Tensor  # (P, D) union-crop features of the test pairs
    frozen_train_mean: torch.Tensor  # (D,) mean of the normalised training union features
    frozen_scale: float  # CLIP's logit scale (zero-shot softmax temperature)
    pos: np.ndarray  # indices of annotated test pairs
    pos_cls: np.ndarray  # their (first) class


def make_context(world, backbone, data: SplitData) -> Context:
    tr = data.train
    pos, pos_cls = annotated_pairs(world.test, data.test_pairs)
    return Context(
        world=world,
        data=data,
        frozen_test=data.test_feats["union"],
        frozen_train_mean=modality_mean(tr.u[~tr.pad]),
        frozen_scale=float(backbone.model.logit_scale.exp().detach()),
        pos=pos,
        pos_cls=pos_cls,
    )


def bridged(
    cfg: Params,
    diff: TextDiffusion,
    vision: torch.Tensor,
    *,
    vision_mean: torch.Tensor,
    fingerprint: str,
    allow_mismatch: bool = False,
    t_start: int | None = None,
    steps: int | None = None,
    recipe: str | None = None,
    seed: int,
) -> torch.Tensor:
    """The bridge with the profile's settings unless given (sdedit noise is seeded by ``seed``)."""
    return bridge(
        diff,
        vision,
        vision_mean,
        space_fingerprint=fingerprint,
        t_start=cfg.bridge.t_start if t_start is None else t_start,
        steps=cfg.bridge.steps if steps is None else steps,
        recipe=recipe or cfg.bridge.recipe,
        allow_mismatch=allow_mismatch,
        generator=torch.Generator().manual_seed(seed),
    )


def ezhoi_head(run: SeedRun) -> tuple[float, float]:
    """(scale, bias) of the model's sigmoid(scale * cosine + bias): how every EZ-HOI row is scored."""
    return float(run.model.logit_scale.exp().detach()), float(run.model.logit_bias.detach())


def method_features(cfg: Params, method: Method, run: SeedRun, *, ctx: Context):
    """(test vision features, class text, scoring) of one method (``labels.METHODS``).

    Scoring is a float (softmax at that logit scale: frozen CLIP, chapter 1) or a
    (scale, bias) pair (the EZ-HOI head's sigmoid, so detector priors weigh in as in EZ-HOI).
    """
    sp, vmean = run.space, run.vision_mean
    head = ezhoi_head(run)
    raw_fp = sp.meta["raw_fingerprint"]
    if method == FROZEN_CLIP:
        return ctx.frozen_test, sp.raw, ctx.frozen_scale
    if method == RAW_EVERYWHERE:
        return (
            bridged(
                cfg,
                run.raw,
                ctx.frozen_test,
                vision_mean=ctx.frozen_train_mean,
                fingerprint=raw_fp,
                seed=run.seed,
            ),
            sp.raw,
            ctx.frozen_scale,
        )
    if method == NONE:
        return run.vision, sp.adapted, head
    if method == SOFTMAX:
        return run.vision, sp.adapted, ctx.frozen_scale
    if method in LEARNED:
        wrong = LEARNED[method] == "raw"  # the ablation asks for the mismatch on purpose
        matched = method in (WRONG_MATCHED, CORRECT_MATCHED)
        t = noise_matched_t(run.vision.shape[1]) if matched else None
        diff = run.raw if wrong else run.adapted
        v = bridged(
            cfg,
            diff,
            run.vision,
            vision_mean=vmean,
            fingerprint=sp.fingerprint,
            allow_mismatch=wrong,
            t_start=t,
            seed=run.seed,
        )
        return v, sp.adapted, head
    if method == MEAN_CENTER:
        return (
            gap_closing.mean_center(run.vision, vmean),
            gap_closing.mean_center(sp.adapted, modality_mean(sp.adapted_corpus)),
            head,
        )
    if method == CAPDEC:
        proto = gap_closing.capdec_prototypes(
            sp.adapted_corpus,
            sp.corpus_class,
            sp.adapted,
            variance=cfg.evaluation.capdec_variance,
            steps=cfg.evaluation.capdec_steps,
            lr=cfg.evaluation.capdec_lr,
            temperature=cfg.evaluation.capdec_temperature,
            seed=run.seed,
            device=resolve_device(cfg.run.device),
        )
        return run.vision, proto, head
    if method == DECAP:
        t = cfg.evaluation.decap_temperature
        return (
            gap_closing.decap_project(run.vision, sp.adapted_corpus, temperature=t),
            sp.adapted,
            head,
        )
    if method == PROCRUSTES:
        w = gap_closing.procrustes(
            F.normalize(run.train_pos, dim=-1), sp.adapted[run.train_pos_cls]
        )
        return gap_closing.apply_procrustes(run.vision, w), sp.adapted, head
    raise ValueError(f"unknown method {method!r}; expected one of labels.METHODS")


def evaluate(ctx: Context, vision: torch.Tensor, text: torch.Tensor, *, scoring) -> HOIMetrics:
    """mAP of features scored against class text; ``scoring`` as in ``method_features``."""
    w, d = ctx.world, ctx.data
    head = tuple(scoring) if isinstance(scoring, (tuple, list)) else None
    dets = score_pairs(
        vision,
        text,
        d.test_pairs,
        classes=w.classes,
        logit_scale=None if head else scoring,
        head=head,
    )
    return evaluate_hoi(dets, w.test.ground_truth(), w.num_classes, rare=w.rare, unseen=d.unseen)


def run_table(cfg: Params, ctx: Context, runs: list[SeedRun], *, methods=METHODS):
    """Every method on every seed: a tidy frame (mAP in %, rows named by ``Method.label``),
    per-class APs keyed (label, seed) and the features keyed (method, seed), for gap measures."""
    import pandas as pd

    rows, ap, feats = [], {}, {}
    for method in methods:
        for run in runs[:1] if method == FROZEN_CLIP else runs:  # seed-free: one row
            v, t, scale = method_features(cfg, method, run, ctx=ctx)
            m = evaluate(ctx, v, t, scoring=scale)
            rows.append({"method": method.label, "seed": run.seed, **m.as_percent()})
            ap[(method.label, run.seed)] = m.ap
            feats[(method, run.seed)] = (v, t)
    return pd.DataFrame(rows), ap, feats


def sweep(
    cfg: Params, ctx: Context, run: SeedRun, *, t_starts, steps_list, recipes=("direct", "sdedit")
):
    """mAP of the correct- and wrong-order bridge over start steps (at the profile's step count) and step counts."""
    import pandas as pd

    sp, vmean = run.space, run.vision_mean
    rows = []
    grid = [(t, cfg.bridge.steps, r) for r in recipes for t in t_starts]
    grid += [(cfg.bridge.t_start, s, "direct") for s in steps_list if s != cfg.bridge.steps]
    for order, diff in (("correct", run.adapted), ("wrong", run.raw)):
        for t, s, recipe in grid:
            v = bridged(
                cfg,
                diff,
                run.vision,
                vision_mean=vmean,
                fingerprint=sp.fingerprint,
                allow_mismatch=order == "wrong",
                t_start=int(t),
                steps=int(s),
                recipe=recipe,
                seed=run.seed,
            )
            m = evaluate(ctx, v, sp.adapted, scoring=ezhoi_head(run)).as_percent()
            rows.append(
                {
                    "order": order,
                    "recipe": recipe,
                    "t_start": int(t),
                    "steps": int(s),
                    "full": m["full"],
                    "seen": m["seen"],
                    "unseen": m["unseen"],
                }
            )
    return pd.DataFrame(rows)


def gap_table(cfg: Params, ctx: Context, feats: dict, *, seed: int, methods=METHODS):
    """Gap measures between each method's features of the annotated test pairs and the text of
    their class, one row per method (indexed by its label)."""
    import pandas as pd

    from hoilib.measure.gap import gap_summary

    cols = {}
    for method in methods:
        key = (
            (method, seed) if (method, seed) in feats else next(k for k in feats if k[0] == method)
        )
        v, t = feats[key]
        g = gap_summary(
            v[ctx.pos],
            t[ctx.pos_cls],
            seed=cfg.run.seed,
            n_permutations=cfg.evaluation.gap_permutations,
        )
        cols[method.label] = {
            k: g[k]
            for k in ("centroid_gap_norm", "two_sample_accuracy", "mmd2", "mean_cos_image_text")
        }
    return pd.DataFrame(cols).T
