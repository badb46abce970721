"""One EZ-HOI seed with everything built on it: its text spaces, visual features and two diffusion models.

Chapters 4 and 5 both need, per seed, chapter 2's model, chapter 3's spaces and the
diffusion models of each space; this is the one place that assembles them (each part
a cached stage, trained when missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hoilib.config import Params
from hoilib.models import textspace
from hoilib.models.diffusion import diffusion_stage
from hoilib.models.diffusion.model import TextDiffusion
from hoilib.models.ezhoi.ezhoi_stage import (
    checkpoint_path,
    descriptor_features,
    pair_visual_features,
    train_or_load,
)
from hoilib.models.ezhoi.model import EZHOI
from hoilib.models.gap_closing import modality_mean
from hoilib.models.split_data import SplitData


@dataclass(kw_only=True)
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


@torch.no_grad()
def train_features(
    model: EZHOI, data: SplitData
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's visual features of every training pair, and of the annotated ones with their first class."""
    tr = data.train
    model.eval()
    v = model.visual_features(tr.h, tr.o, tr.u, pad=tr.pad)
    labelled = tr.targets.any(-1) & ~tr.pad
    return v[~tr.pad], v[labelled], tr.targets[labelled].float().argmax(-1)


def seed_runs(cfg: Params, backbone, world, *, data: SplitData) -> list[SeedRun]:
    """``seed_run`` for every EZ-HOI seed, encoding the descriptor sentences once for all of them
    (at HICO-DET's 600 classes that encoding costs more than loading a seed's checkpoint)."""
    desc = descriptor_features(backbone, world, folder=textspace.folder(cfg.run))
    return [
        seed_run(cfg, backbone, world, data=data, seed=int(s), desc=desc) for s in cfg.ezhoi.seeds
    ]


def seed_run(
    cfg: Params,
    backbone,
    world,
    *,
    data: SplitData,
    seed: int,
    show_progress: bool = True,
    desc=None,
) -> SeedRun:
    """Chapter 2's model, chapter 3's spaces and chapter 4's diffusion models for one seed (trained if missing).

    ``desc``: ``descriptor_features(backbone, world)`` when the caller has it (None: encoded here)."""
    model, _ = train_or_load(
        cfg.ezhoi, cfg.run, backbone, world=world, data=data, name="full", seed=seed, desc=desc
    )
    space = textspace.extract_cached(
        model,
        world,
        backbone.tokenizer,
        checkpoint=checkpoint_path(cfg.run, data.split, "full", seed=seed),
        folder=textspace.folder(cfg.run),
    )
    allv, pos, pos_cls = train_features(model, data)
    diffs = {
        w: diffusion_stage.train_or_load(
            cfg.diffusion, cfg.run, space, which=w, seed=seed, show_progress=show_progress
        )
        for w in diffusion_stage.SPACES
    }
    return SeedRun(
        seed=seed,
        model=model,
        space=space,
        vision=pair_visual_features(model, data),
        train_vision=allv,
        train_pos=pos,
        train_pos_cls=pos_cls,
        adapted=diffs["adapted"],
        raw=diffs["raw"],
    )
