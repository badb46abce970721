"""Chapter 1: the modality gap of the frozen backbone, measured four ways, and zero-shot HOI detection across it."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.data.annotations import PairSet, pair_key
from hoilib.figures import umap_fit
from hoilib.figures.figure_style import PALETTE
from hoilib.measure import gap
from hoilib.measure.zeroshot import (
    annotated_pairs,
    gap_shift_curve,
    shuffled_control,
    zero_shot_map,
)
from hoilib.models.backbone_stage import features_of_test_pairs

NAME = "01_modality_gap"
NEEDS_SPLIT = False
PARAMS = (
    "world.split",
    "run.seed",
    "evaluation.gap_permutations",
    "evaluation.gap_shift_deltas",
    "evaluation.shuffle_repeats",
    "evaluation.umap_points",
    "evaluation.umap_epochs",
    "backbone.feature_batch",
    "world.pair_source",
    "run.device",
)


@dataclass(kw_only=True)
class GapChapter(ChapterResult):
    pairs: PairSet  # every candidate (human, object) test pair
    feats: dict[str, torch.Tensor]  # crop kind -> (P, D) frozen image features of the pairs
    n_annotated: int  # pairs that match an annotated (oracle) pair
    n_prompts: int
    summary: dict  # gap measures: annotated union crops vs the text of their class
    cosines: dict[str, np.ndarray]  # within- and across-modality cosines
    umap: pd.DataFrame  # one joint UMAP fit of union crops and prompts
    zero_shot: pd.DataFrame  # mAP (%) per crop kind, and the shuffled-label control
    shuffled: np.ndarray  # Full mAP (0-1) of each shuffled-label repeat
    shift: list[dict]  # mAP along the gap direction (Liang et al.'s experiment)
    # zero-shot accuracy (%) on objects and on verbs given the object, and chance
    parts: pd.DataFrame

    def numbers(self) -> dict:
        s = self.summary
        return {
            "centroid_gap_norm": float(s["centroid_gap_norm"]),
            "two_sample_accuracy": float(s["two_sample_accuracy"]),
            # in percent, as the table of gap measures shows it
            "two_sample_accuracy_pct": 100 * float(s["two_sample_accuracy"]),
            "mmd2": float(s["mmd2"]),
            "mmd_p_value": float(s["mmd_p_value"]),
            "zs_full": float(self.zero_shot.loc["union crops", "full"]),
            "zs_ctrl": float(100 * self.shuffled.mean()),
            "zs_ctrl_std": float(100 * self.shuffled.std()),
            "obj_acc": float(self.parts.loc["object", "accuracy"]),
            "obj_chance": float(self.parts.loc["object", "chance"]),
            "verb_acc": float(self.parts.loc["verb given the object", "accuracy"]),
            "verb_chance": float(self.parts.loc["verb given the object", "chance"]),
        }

    def metrics(self) -> dict:
        return {
            "gap": self.summary,
            "zero_shot": self.zero_shot.to_dict(orient="index"),
            "shuffled_full": self.shuffled.tolist(),
            "gap_shift": self.shift,
            "object_verb_accuracy": self.parts.to_dict(orient="index"),
        }


def run(ch: Chapter) -> GapChapter:
    cfg, world, backbone = ch.cfg, ch.world, ch.backbone
    pairs, feats = features_of_test_pairs(cfg.backbone, cfg.run, world, backbone=backbone)
    text = backbone.encode_text(world.prompts)
    pos, pos_cls = annotated_pairs(world.test, pairs)
    img_pos, txt_pos = feats["union"][pos], text[pos_cls]
    summary = gap.gap_summary(
        img_pos, txt_pos, seed=cfg.run.seed, n_permutations=cfg.evaluation.gap_permutations
    )
    cosines = gap.cosine_distributions(feats["union"], text, seed=cfg.run.seed)
    umap = umap_fit.umap_embedding(
        {"image": feats["union"].numpy(), "text": txt_pos.numpy()},
        **umap_fit.run_settings(cfg),
    )
    args = dict(pairs=pairs, classes=world.classes, gt=world.test.ground_truth())
    masks = dict(rare=world.rare, unseen=world.unseen(cfg.world.split))
    scale = float(backbone.model.logit_scale.exp().detach())
    rows = {
        f"{k} crops": zero_shot_map(feats[k], text, **args, **masks, logit_scale=scale).as_percent()
        for k in ("union", "human", "object")
    }
    ctrl = np.asarray(
        shuffled_control(
            feats["union"],
            text,
            **args,
            repeats=cfg.evaluation.shuffle_repeats,
            seed=cfg.run.seed,
            logit_scale=scale,
        )
    )
    rows["union crops, shuffled labels (mean)"] = {"full": float(100 * ctrl.mean())}
    shift = gap_shift_curve(
        feats["union"],
        text,
        **args,
        deltas=cfg.evaluation.gap_shift_deltas,
        **masks,
        logit_scale=scale,
    )
    return GapChapter(
        pairs=pairs,
        feats=feats,
        n_annotated=len(pos),
        n_prompts=len(world.prompts),
        summary=summary,
        cosines=cosines,
        umap=umap,
        zero_shot=pd.DataFrame(rows).T.round(2),
        shuffled=ctrl,
        shift=shift,
        parts=object_verb_accuracy(
            world, pairs, feats["union"], text=text, backbone=backbone, pos=pos, pos_cls=pos_cls
        ),
    )


def object_verb_accuracy(world, pairs, feats, *, text, backbone, pos, pos_cls) -> pd.DataFrame:
    """Frozen CLIP's zero-shot accuracy (%) on the annotated test pairs' union crops, split in two.

    Object: the top of the prompts 'a photo of a {object}'. Verb given the object: only the
    class prompts (``text``) of the pair's object are scored; a hit when the top class's verb
    is one of the pair's annotated verbs. Chance: 1 / objects, and the mean share of the
    object's classes whose verb is annotated.
    """
    classes = world.classes
    names = [o.replace("_", " ") for o in world.test.objects]
    obj_text = backbone.encode_text([f"a photo of a {o}" for o in names])
    verbs: dict[tuple, set[int]] = {}
    for im in world.test.images:
        for k in range(len(im.hoi)):
            key = pair_key(im.index, im.boxes_h[k], im.boxes_o[k])
            verbs.setdefault(key, set()).add(classes[int(im.hoi[k])][0])
    img = torch.nn.functional.normalize(feats[pos].float(), dim=-1)
    obj_pred = (img @ obj_text.T).argmax(1).numpy()
    obj_hit, verb_hit, verb_chance = [], [], []
    for row, (i, c) in enumerate(zip(pos.tolist(), pos_cls.tolist(), strict=True)):
        v0, o = classes[c]
        key = pair_key(pairs.image[i], pairs.boxes_h[i], pairs.boxes_o[i])
        gold = verbs.get(key, {v0})
        own = [k for k, (_, ok) in enumerate(classes) if ok == o]
        top = own[int((img[row] @ text[own].T).argmax())]
        obj_hit.append(obj_pred[row] == o)
        verb_hit.append(classes[top][0] in gold)
        verb_chance.append(np.mean([classes[k][0] in gold for k in own]))
    rows = {
        "object": (np.mean(obj_hit), 1 / len(names)),
        "verb given the object": (np.mean(verb_hit), np.mean(verb_chance)),
    }
    table = pd.DataFrame(rows, index=["accuracy", "chance"]).T * 100
    table["pairs"] = len(pos)
    return table.round(1)


def gap_drawing(seed: int = 0):
    """A drawn (not measured) modality gap (Liang et al. 2022), seeded: two narrow cones of image
    and text embeddings on a section of the unit sphere, their centroids and the centroid gap."""
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    th, ink = np.linspace(0, np.pi, 181), "#222222"
    ax.plot(np.cos(th), np.sin(th), color="#bbbbbb", lw=1)
    cents = {}
    for name, mid, ha in (("image", np.pi / 2 + 0.75, "right"), ("text", np.pi / 2 - 0.75, "left")):
        col, ang = PALETTE[name], mid + 0.3 * rng.standard_normal(60)
        wedge = np.linspace(mid - 0.6, mid + 0.6, 30)
        ax.fill([0, *np.cos(wedge)], [0, *np.sin(wedge)], color=col, alpha=0.08, lw=0)
        ax.scatter(np.cos(ang), np.sin(ang), s=14, color=col, alpha=0.8)
        c = cents[name] = np.array([np.cos(ang).mean(), np.sin(ang).mean()])
        ax.plot([0, c[0]], [0, c[1]], color=col, ls="--", lw=1)
        ax.scatter(*c, s=80, color=col, edgecolor="black", marker="X", zorder=3)
        ax.text(1.1 * np.cos(mid), 1.1 * np.sin(mid), f"{name} embeddings", color=col, ha=ha)
        ax.text(*(0.45 * c + [0, -0.08]), f"{name} centroid", color=col, fontsize=9, ha="center")
    arrow = dict(arrowstyle="-|>", color=ink, lw=2)
    ax.annotate("", xy=cents["image"], xytext=cents["text"], arrowprops=arrow)
    gap = "centroid gap\nmean(image) - mean(text)"
    ax.text(0, 0.64, gap, color=ink, fontweight="bold", ha="center", va="top")
    ax.text(0.0, -0.08, "origin", fontsize=8, ha="center")
    ax.text(1.0, -0.1, "unit sphere (a section)", color="#888888", fontsize=8, ha="center")
    title = "The modality gap, drawn (synthetic points, not data)"
    ax.set(aspect="equal", xlim=(-1.7, 1.7), ylim=(-0.15, 1.2), title=title)
    ax.set_axis_off()
    fig.tight_layout()
    return fig
