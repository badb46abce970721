"""Chapter 0: the data and the backbone (HOI-Synth or the user's HICO-DET copy, and the CLIP that embeds it)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hoilib.chapters.notebook import Chapter, ChapterResult

NAME = "00_hoi_synth"
NEEDS_SPLIT = False
PARAMS = (
    "world.dataset",
    "world.data_root",
    "world.seed",
    "world.n_train_images",
    "world.n_test_images",
    "world.n_pretrain_images",
    "world.caption_verb_share",
    "world.image_size",
    "world.vocabulary",
    "world.split",
    "backbone.name",
    "backbone.pretrained",
    "backbone.steps",
    "backbone.batch",
    "backbone.lr",
    "backbone.patch_size",
    "run.seed",
)


@dataclass(kw_only=True)
class DataChapter(ChapterResult):
    statistics: pd.DataFrame  # one row per statistic of the world
    classes: pd.DataFrame  # per class: name, train and test counts, rare
    backbone: str  # one line on the backbone
    # the small CLIP's contrastive loss per step (None for open_clip models)
    pretraining_losses: list[float] | None

    def numbers(self) -> dict:
        return {"n_classes": len(self.classes), "n_rare": int(self.classes["rare"].sum())}

    def metrics(self) -> dict:
        stats = {
            str(k): (v.item() if hasattr(v, "item") else v)
            for k, v in self.statistics.iloc[:, 0].items()
        }
        return {"statistics": stats, "backbone": self.backbone}


def run(ch: Chapter) -> DataChapter:
    h = ch.backbone.history
    return DataChapter(
        statistics=ch.world.statistics(),
        classes=ch.world.class_table(),
        backbone=ch.backbone.describe(),
        pretraining_losses=list(h["losses"]) if h else None,
    )
