"""Chapter 2: EZ-HOI-style text adaptation trained on the seen classes, against frozen CLIP, with its ablation."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hoilib import memo
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.config import section_names
from hoilib.data.splits import SPLIT_NAMES
from hoilib.data.world import World
from hoilib.measure.summary import fmt, mean_std
from hoilib.measure.zeroshot import zero_shot_map
from hoilib.models import textspace
from hoilib.models.backbone import Backbone
from hoilib.models.ezhoi.ezhoi_stage import (
    ABLATIONS,
    descriptor_features,
    evaluate_model,
    train_or_load,
)
from hoilib.models.split_data import SplitData

NAME = "02_ezhoi_training"
NEEDS_SPLIT = True
PARAMS = ("world.split", *section_names("ezhoi"), "run.seed", "run.device")
COLS = ("full", "seen", "unseen", "rare", "non_rare")


@dataclass(kw_only=True)
class EZHOIChapter(ChapterResult):
    split: str
    split_line: str  # the split, its unseen classes and the image counts, in words
    results: pd.DataFrame  # one row per (configuration, seed): mAP (%), best epoch, seconds
    histories: dict  # (configuration, seed) -> training history
    baseline: dict  # frozen CLIP's zero-shot mAP (%) on the same test pairs

    @property
    def full(self) -> pd.DataFrame:
        return self.results[self.results.model == "full"]

    def table(self) -> pd.DataFrame:
        """The full model (mean ± std over seeds) beside frozen CLIP."""
        t = mean_std(self.full)
        t.loc["frozen CLIP (zero-shot)"] = {c: fmt(self.baseline[c]) for c in COLS} | {"seeds": "-"}
        return t

    def numbers(self) -> dict:
        out = {"n_seeds": len(self.full)}
        for col in ("seen", "unseen", "full"):
            vals = self.full[col].astype(float)
            out[f"ez_{col}"] = float(vals.mean())
            out[f"ez_{col}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            out[f"base_{col}"] = (
                float("nan") if self.baseline[col] is None else float(self.baseline[col])
            )
        return out

    def metrics(self) -> dict:
        return {
            "split": self.split,
            "baseline": self.baseline,
            "runs": self.results.to_dict(orient="records"),
        }


def frozen_baseline(world: World, backbone: Backbone, data: SplitData) -> dict:
    """Chapter 1's zero-shot detector (frozen CLIP, union crops) on the same test pairs."""
    scale = float(backbone.model.logit_scale.exp().detach())
    m = zero_shot_map(
        data.test_feats["union"],
        backbone.encode_text(world.prompts),
        data.test_pairs,
        classes=world.classes,
        gt=world.test.ground_truth(),
        rare=world.rare,
        unseen=data.unseen,
        logit_scale=scale,
    )
    return m.as_percent()


def run_grid(ch: Chapter, names, seeds):
    """Train (or load) every (configuration, seed); a tidy results frame and the histories."""
    desc = descriptor_features(ch.backbone, ch.world, folder=textspace.folder(ch.cfg.run))
    models = {
        (name, int(seed)): train_or_load(
            ch.cfg.ezhoi,
            ch.cfg.run,
            ch.backbone,
            world=ch.world,
            data=ch.data,
            name=name,
            seed=int(seed),
            desc=desc,
        )
        for name in names
        for seed in seeds
    }
    scores = memo.cached(  # scoring 15 models is what a warm rebuild would otherwise redo
        ch,
        "ch2-evaluation",
        lambda: {
            f"{name}/{seed}": evaluate_model(model, ch.world, ch.data)
            for (name, seed), (model, _) in models.items()
        },
        code=__name__,
    )
    rows, histories = [], {}
    for (name, seed), (_, meta) in models.items():
        h = meta["history"]
        rows.append(
            {
                "model": name,
                "seed": seed,
                **scores[f"{name}/{seed}"],
                "best epoch": h["best_epoch"],
                "train s": h["seconds"],
            }
        )
        histories[(name, seed)] = h
    return pd.DataFrame(rows), histories


def run(ch: Chapter) -> EZHOIChapter:
    cfg, d = ch.cfg, ch.data
    names = list(ABLATIONS) if cfg.ezhoi.ablation else ["full"]
    results, histories = run_grid(ch, names, cfg.ezhoi.seeds)
    pseudo = int((~d.unseen & ~d.trained).sum())
    split = cfg.world.split
    line = (
        f"split {split} ({SPLIT_NAMES[split]}): {int(d.unseen.sum())} unseen of {ch.world.num_classes} "
        f"classes, and {pseudo} seen classes held out of training as pseudo-unseen validation classes "
        f"(chapter 5); {len(d.train)} training images, {len(d.val)} validation images that choose the "
        f"best epoch, {len(d.val_bridge)} more that chapter 5's bridge strengths are chosen on, and "
        f"{len(d.test)} test images"
    )
    return EZHOIChapter(
        split=cfg.world.split,
        split_line=line,
        results=results,
        histories=histories,
        baseline=frozen_baseline(ch.world, ch.backbone, d),
    )
