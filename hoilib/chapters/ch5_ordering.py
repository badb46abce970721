"""Chapter 5's experiment: does the bridge help only when its diffusion model learned the adapted space?

For each EZ-HOI seed, the model's visual features of every test pair are scored
against its adapted class text: directly (no bridge), after a bridge trained on the
raw CLIP text space (the wrong order: the guard is told to allow the mismatch),
after a bridge trained on the adapted space (the correct order), or after a cheap
gap-closing baseline at the same place. "Raw everywhere" is the consistent pipeline
without EZ-HOI: frozen CLIP features, a raw-trained bridge, raw text. Every result
keeps its per-class APs so the chapter can test paired differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hoilib.measure import baselines

from hoilib.models import textspace
from hoilib.measure.baselines import modality_mean
from hoilib.models.diffusion import diffusion_stage as diffusion_stages
from hoilib.models.diffusion.bridge import bridge
from hoilib.models.diffusion.model import TextDiffusion
from hoilib.models.ezhoi.ezhoi_stage import SplitData, checkpoint_path, pair_visual_features, train_or_load
from hoilib.models.ezhoi.model import EZHOI
from hoilib.measure.metric import HOIMetrics, evaluate_hoi
from hoilib.measure.zeroshot import annotated_pairs, score_pairs

WRONG, CORRECT = "EZ-HOI + raw-trained bridge (wrong order)", "EZ-HOI + adapted-trained bridge (correct order)"
METHODS = {  # name -> what it is; the order of the chapter's table
    "frozen CLIP, no bridge": "frozen union-crop features vs raw class text (chapter 1)",
    "frozen CLIP + raw-trained bridge (raw everywhere)": "the consistent pipeline without EZ-HOI",
    "EZ-HOI, no bridge": "the model's visual features vs its adapted class text (chapter 2)",
    WRONG: "bridge whose diffusion model learned frozen CLIP's text space",
    CORRECT: "bridge whose diffusion model learned the adapted text space",
    "EZ-HOI + mean-centering (C3)": "each modality minus its mean, renormalised",
    "EZ-HOI + CapDec noise": "class prototypes fitted on noise-injected adapted text",
    "EZ-HOI + DeCap projection": "vision projected onto the adapted text corpus",
    "EZ-HOI + Procrustes": "rotation fitted on seen-class training pairs",
}
FROZEN = tuple(m for m in METHODS if m.startswith("frozen"))


@dataclass
class Context:
    """What every seed shares: the test pairs, ground truth, frozen CLIP features and raw class text."""

    world: object
    data: SplitData
    frozen_test: torch.Tensor  # (P, D) union-crop features of the test pairs
    frozen_train_mean: torch.Tensor  # (D,) mean of the normalised training union features
    frozen_scale: float  # CLIP's logit scale (zero-shot softmax temperature)
    pos: np.ndarray  # indices of annotated test pairs
    pos_cls: np.ndarray  # their (first) class


@dataclass
class SeedRun:
    """One EZ-HOI seed with its text spaces, visual features and the two diffusion models."""

    seed: int
    model: EZHOI
    space: textspace.TextSpace
    vision: torch.Tensor  # (P, D) the model's visual features of the test pairs
    train_vision: torch.Tensor  # (N, D) of every training pair
    train_pos: torch.Tensor  # (M, D) of annotated training pairs (seen classes only)
    train_pos_cls: torch.Tensor  # (M,)
    adapted: TextDiffusion
    raw: TextDiffusion

    @property
    def vision_mean(self) -> torch.Tensor:
        """Mean of the model's training-pair features: what the bridge and mean-centering subtract."""
        return modality_mean(self.train_vision)


def make_context(world, backbone, data: SplitData) -> Context:
    tr = data.train
    pos, pos_cls = annotated_pairs(world.test, data.test_pairs)
    return Context(world, data, data.test_feats["union"], modality_mean(tr.u[~tr.pad]), float(backbone.model.logit_scale.exp().detach()),
                   pos, pos_cls)


@torch.no_grad()
def train_features(model: EZHOI, data: SplitData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's visual features of every training pair, and of the annotated ones with their first class."""
    tr = data.train
    model.eval()
    v = model.visual_features(tr.h, tr.o, tr.u, tr.pad)
    labelled = tr.targets.any(-1) & ~tr.pad
    return v[~tr.pad], v[labelled], tr.targets[labelled].float().argmax(-1)


def seed_run(cfg: dict, backbone, world, data: SplitData, seed: int, show_progress: bool = True) -> SeedRun:
    """Chapter 2's model, chapter 3's spaces and chapter 4's diffusion models for one seed (trained if missing)."""
    model, _ = train_or_load(cfg, backbone, world, data, "full", seed)
    space = textspace.extract(model, world, backbone.tokenizer, checkpoint_path(cfg, data.split, "full", seed))
    allv, pos, pos_cls = train_features(model, data)
    diffs = {w: diffusion_stages.train_or_load(cfg, space, w, seed, show_progress) for w in diffusion_stages.SPACES}
    return SeedRun(seed, model, space, pair_visual_features(model, data), allv, pos, pos_cls, diffs["adapted"], diffs["raw"])


def bridged(cfg: dict, diff: TextDiffusion, vision: torch.Tensor, vision_mean: torch.Tensor, fingerprint: str,
            allow_mismatch: bool = False, t_start: int | None = None, steps: int | None = None, recipe: str | None = None,
            seed: int = 0) -> torch.Tensor:
    """The bridge with the profile's settings unless given (sdedit noise is seeded)."""
    return bridge(diff, vision, vision_mean, fingerprint, t_start=cfg.bridge_t_start if t_start is None else t_start,
                  steps=cfg.bridge_steps if steps is None else steps, recipe=recipe or cfg.bridge_recipe,
                  allow_mismatch=allow_mismatch, generator=torch.Generator().manual_seed(seed))


def ezhoi_head(run: SeedRun) -> tuple[float, float]:
    """(scale, bias) of the model's sigmoid(scale * cosine + bias): how every EZ-HOI row is scored."""
    return float(run.model.logit_scale.exp().detach()), float(run.model.logit_bias.detach())


def method_features(cfg: dict, name: str, run: SeedRun, ctx: Context):
    """(test vision features, class text, scoring) of one method.

    Scoring is a float (softmax at that logit scale: frozen CLIP, chapter 1) or a
    (scale, bias) pair (the EZ-HOI head's sigmoid, so detector priors weigh in as in EZ-HOI).
    """
    sp, vmean = run.space, run.vision_mean
    head = ezhoi_head(run)
    raw_fp = sp.meta["raw_fingerprint"]
    if name == "frozen CLIP, no bridge":
        return ctx.frozen_test, sp.raw, ctx.frozen_scale
    if name == "frozen CLIP + raw-trained bridge (raw everywhere)":
        return bridged(cfg, run.raw, ctx.frozen_test, ctx.frozen_train_mean, raw_fp, seed=run.seed), sp.raw, ctx.frozen_scale
    if name == "EZ-HOI, no bridge":
        return run.vision, sp.adapted, head
    if name == WRONG:  # the ablation asks for the mismatch on purpose
        return bridged(cfg, run.raw, run.vision, vmean, sp.fingerprint, allow_mismatch=True, seed=run.seed), sp.adapted, head
    if name == CORRECT:
        return bridged(cfg, run.adapted, run.vision, vmean, sp.fingerprint, seed=run.seed), sp.adapted, head
    if name == "EZ-HOI + mean-centering (C3)":
        return baselines.mean_center(run.vision, vmean), baselines.mean_center(sp.adapted, modality_mean(sp.adapted_corpus)), head
    if name == "EZ-HOI + CapDec noise":
        proto = baselines.capdec_prototypes(sp.adapted_corpus, sp.corpus_class, sp.adapted, steps=cfg.capdec_steps, seed=run.seed)
        return run.vision, proto, head
    if name == "EZ-HOI + DeCap projection":
        return baselines.decap_project(run.vision, sp.adapted_corpus), sp.adapted, head
    if name == "EZ-HOI + Procrustes":
        w = baselines.procrustes(F.normalize(run.train_pos, dim=-1), sp.adapted[run.train_pos_cls])
        return baselines.apply_procrustes(run.vision, w), sp.adapted, head
    raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")


def evaluate(ctx: Context, vision: torch.Tensor, text: torch.Tensor, scoring) -> HOIMetrics:
    """mAP of features scored against class text; ``scoring`` as in ``method_features``."""
    w, d = ctx.world, ctx.data
    head = tuple(scoring) if isinstance(scoring, (tuple, list)) else None
    dets = score_pairs(vision, text, d.test_pairs, w.classes, None if head else scoring, head=head)
    return evaluate_hoi(dets, w.test.ground_truth(), w.num_classes, rare=w.rare, unseen=d.unseen)


def run_table(cfg: dict, ctx: Context, runs: list[SeedRun], methods=tuple(METHODS)):
    """Every method on every seed: a tidy frame (mAP in %), per-class APs and the features (for gap measures)."""
    import pandas as pd

    rows, ap, feats = [], {}, {}
    for name in methods:
        for run in runs[:1] if name == "frozen CLIP, no bridge" else runs:  # seed-free: one row
            v, t, scale = method_features(cfg, name, run, ctx)
            m = evaluate(ctx, v, t, scale)
            rows.append({"method": name, "seed": run.seed, **m.as_percent()})
            ap[(name, run.seed)] = m.ap
            feats[(name, run.seed)] = (v, t)
    return pd.DataFrame(rows), ap, feats


def sweep(cfg: dict, ctx: Context, run: SeedRun, t_starts, steps_list, recipes=("direct", "sdedit")):
    """mAP of the correct- and wrong-order bridge over start steps (at the profile's step count) and step counts."""
    import pandas as pd

    sp, vmean = run.space, run.vision_mean
    rows = []
    grid = [(t, cfg.bridge_steps, r) for r in recipes for t in t_starts]
    grid += [(cfg.bridge_t_start, s, "direct") for s in steps_list if s != cfg.bridge_steps]
    for order, diff in (("correct", run.adapted), ("wrong", run.raw)):
        for t, s, recipe in grid:
            v = bridged(cfg, diff, run.vision, vmean, sp.fingerprint, allow_mismatch=order == "wrong", t_start=int(t),
                        steps=int(s), recipe=recipe, seed=run.seed)
            m = evaluate(ctx, v, sp.adapted, ezhoi_head(run)).as_percent()
            rows.append({"order": order, "recipe": recipe, "t_start": int(t), "steps": int(s), "full": m["full"],
                         "seen": m["seen"], "unseen": m["unseen"]})
    return pd.DataFrame(rows)


def paired_tests(df, ap: dict, a: str, b: str, unseen: np.ndarray):
    """b minus a: over seeds (paired t-test on Full/Seen/Unseen) and over classes (Wilcoxon on seed-mean per-class AP)."""
    import pandas as pd
    from scipy import stats

    da, db = df[df.method == a].set_index("seed"), df[df.method == b].set_index("seed")
    seeds = sorted(set(da.index) & set(db.index))
    out = []
    for col, mask in (("full", np.ones_like(unseen)), ("seen", ~unseen), ("unseen", unseen)):
        diff = (db.loc[seeds, col] - da.loc[seeds, col]).to_numpy(dtype=float)
        p_seed = float(stats.ttest_rel(db.loc[seeds, col], da.loc[seeds, col]).pvalue) if len(seeds) > 1 and diff.std() > 0 else float("nan")
        ca = np.mean([ap[(a, s)] for s in seeds], axis=0)  # NaN (no test GT) in the same classes for every seed
        cb = np.mean([ap[(b, s)] for s in seeds], axis=0)
        keep = mask & ~np.isnan(ca) & ~np.isnan(cb)
        dc = 100 * (cb - ca)[keep]
        p_cls = float(stats.wilcoxon(dc).pvalue) if np.any(dc != 0) else float("nan")
        out.append({"mAP": col, "mean difference (points)": float(diff.mean()), "seeds": len(seeds),
                    "seeds where b > a": int((diff > 0).sum()), "paired t-test p (seeds)": p_seed,
                    "classes": int(keep.sum()), "classes where b > a": int((dc > 0).sum()),
                    "Wilcoxon p (classes)": p_cls})
    return pd.DataFrame(out).set_index("mAP")


def gap_table(cfg: dict, ctx: Context, feats: dict, seed: int, methods=tuple(METHODS)):
    """Gap measures between each method's features of the annotated test pairs and the text of their class."""
    import pandas as pd

    from hoilib.measure.gap import gap_summary

    cols = {}
    for name in methods:
        key = (name, seed) if (name, seed) in feats else next(k for k in feats if k[0] == name)
        v, t = feats[key]
        g = gap_summary(v[ctx.pos], t[ctx.pos_cls], seed=cfg.seed, n_permutations=cfg.gap_permutations)
        cols[name] = {k: g[k] for k in ("centroid_gap_norm", "two_sample_accuracy", "mmd2", "mean_cos_image_text")}
    return pd.DataFrame(cols).T


def judge(tests, col: str = "unseen", expected: int = 1, alpha: float = 0.05) -> str:
    """'supported', 'contradicted' or 'not shown' for a claimed sign of (b - a) in one column of ``paired_tests``.

    A direction counts only when every seed agrees and the class-level Wilcoxon test
    has p < alpha; anything less is 'not shown', whichever way the mean leans.
    """
    r = tests.loc[col]
    diff, n, up = r["mean difference (points)"], int(r["seeds"]), int(r["seeds where b > a"])
    p = r["Wilcoxon p (classes)"]
    down = n - up if diff != 0 else 0
    significant = p == p and p < alpha  # NaN-safe
    if significant and np.sign(diff) == expected and (up if expected > 0 else down) == n:
        return "supported"
    if significant and np.sign(diff) == -expected and (down if expected > 0 else up) == n:
        return "contradicted"
    return "not shown"


def verdict(claims: list[tuple[str, object, int]], cols=("unseen", "seen", "full")):
    """A table: one row per claim (text, paired_tests frame, expected sign of b - a), one judgement per mAP column."""
    import pandas as pd

    rows = {}
    for text, tests, expected in claims:
        row = {}
        for c in cols:
            r = tests.loc[c]
            row[f"{c} mAP"] = (f"{judge(tests, c, expected).upper()} ({r['mean difference (points)']:+.2f} points; "
                               f"{int(r['seeds where b > a'])}/{int(r['seeds'])} seeds, {int(r['classes where b > a'])}/"
                               f"{int(r['classes'])} classes with b > a; p = {r['Wilcoxon p (classes)']:.2g})")
        rows[text] = row
    return pd.DataFrame(rows).T
