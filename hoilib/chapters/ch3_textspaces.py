"""Chapter 3: the raw and the adapted text spaces of one EZ-HOI checkpoint, and how far adaptation moved them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts, memo
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.config import stage_root
from hoilib.figures import interactive, tables, umap_fit
from hoilib.measure import gap
from hoilib.measure.zeroshot import annotated_pairs
from hoilib.models import textspace
from hoilib.models.ezhoi.ezhoi_stage import checkpoint_path, pair_visual_features, train_or_load

NAME = "03_adapted_embeddings"
NEEDS_SPLIT = True
PARAMS = (
    "world.split",
    "world.corpus_phrasings",
    "ezhoi.seeds",
    "run.seed",
    "evaluation.gap_permutations",
    "evaluation.umap_points",
    "evaluation.umap_epochs",
)
GAP_KEYS = [
    "centroid_gap_norm",
    "two_sample_accuracy",
    "mmd2",
    "mmd_p_value",
    "mean_cos_image_text",
]


@dataclass(kw_only=True)
class TextSpaceChapter(ChapterResult):
    checkpoint: str  # the chapter 2 checkpoint (first seed, full model) the spaces come from
    space: textspace.TextSpace
    movement: dict  # per-class cosine raw vs adapted, centroid shift, corpus MMD
    unseen: np.ndarray  # (C,) bool
    gaps: dict[str, dict]  # gap measures: before (frozen vision, raw text), after, and crossed
    sets: dict[str, np.ndarray]  # the four sets of the joint pictures
    labels: dict[str, np.ndarray]  # each set's class per row
    geometry: dict[
        str, dict
    ]  # CKA and k-NN overlap, raw vs adapted, of the class text and of the corpus

    def movement_table(self) -> pd.DataFrame:
        cos = self.movement["per_class_cosine"]
        m = self.movement
        return (
            pd.DataFrame(
                {
                    "mean cosine, seen classes": [float(cos[~self.unseen].mean())],
                    "mean cosine, unseen classes": [float(cos[self.unseen].mean())],
                    "centroid shift": [m["centroid_shift"]],
                    "corpus MMD^2": [m["corpus_mmd2"]],
                    "corpus MMD p": [m["corpus_mmd_p"]],
                    "corpus MMD sentences per space (seeded subsample)": [
                        int(m["corpus_mmd_rows"])
                    ],
                }
            )
            .T.rename(columns={0: "value"})["value"]
            .map(tables.cell)
            .to_frame()
        )

    def corpus_size(self) -> dict[str, int]:
        return textspace.corpus_size(self.space)

    def geometry_table(self) -> pd.DataFrame:
        """Linear CKA and k-NN overlap of raw vs adapted text in centred space, with the overlap chance level."""
        cols = ["n", "k", "linear CKA", "kNN overlap", "kNN overlap by chance"]
        return pd.DataFrame(self.geometry).T[cols].astype({"n": int, "k": int})

    def gap_table(self) -> pd.DataFrame:
        return tables.gap_measures(pd.DataFrame(self.gaps).loc[GAP_KEYS])

    def numbers(self) -> dict:
        g, size = self.gaps, self.corpus_size()
        return {
            "mean_cos": self.movement["mean_cosine"],
            "centroid_shift": self.movement["centroid_shift"],
            "gap_before": g["frozen vision vs raw text"]["centroid_gap_norm"],
            "gap_after": g["model vision vs adapted text"]["centroid_gap_norm"],
            "cka_classes": self.geometry["class text"]["linear CKA"],
            "knn_classes": self.geometry["class text"]["kNN overlap"],
            "corpus_sets": size["class-sets"],
            "corpus_per_class": size["sentences per class"],
            "corpus_vectors": size["vectors per space"],
        }

    def metrics(self) -> dict:
        g = self.gaps
        return {
            "fingerprint": self.space.fingerprint,
            "raw_fingerprint": self.space.meta["raw_fingerprint"],
            "checkpoint": self.checkpoint,
            "movement": {k: v for k, v in self.movement.items() if k != "per_class_cosine"},
            "corpus": self.corpus_size(),
            "gap_before": g["frozen vision vs raw text"],
            "gap_after": g["model vision vs adapted text"],
            "gap_frozen_vision_adapted_text": g["frozen vision vs adapted text"],
            "geometry_raw_vs_adapted": self.geometry,
        }


def run(ch: Chapter) -> TextSpaceChapter:
    cfg, world, data = ch.cfg, ch.world, ch.data
    seed = int(cfg.ezhoi.seeds[0])
    # chapter 2's checkpoint
    model, _ = train_or_load(
        cfg.ezhoi, cfg.run, ch.backbone, world=world, data=data, name="full", seed=seed
    )
    ckpt = checkpoint_path(cfg.run, cfg.world.split, "full", seed=seed)
    space = textspace.extract_cached(
        model,
        world,
        ch.backbone.tokenizer,
        checkpoint=ckpt,
        folder=stage_root(cfg.run) / "textspace",
    )
    pos, pos_cls = annotated_pairs(world.test, data.test_pairs)
    vis_raw, vis_adapted = data.test_feats["union"][pos], pair_visual_features(model, data)[pos]
    pairs = {
        "frozen vision vs raw text": (vis_raw, space.raw),
        "model vision vs adapted text": (vis_adapted, space.adapted),
        "frozen vision vs adapted text": (vis_raw, space.adapted),
    }
    measures = memo.cached(  # the gap tests and the geometry: what a warm rebuild need not redo
        ch,
        "ch3-measures",
        lambda: {
            "gaps": {
                k: gap.gap_summary(
                    v, t[pos_cls], seed=cfg.run.seed, n_permutations=cfg.evaluation.gap_permutations
                )
                for k, (v, t) in pairs.items()
            },
            "geometry": textspace.geometry(space),
        },
        code=__name__,
        space=space.fingerprint,
    )
    cc = space.corpus_class.numpy()
    sets = {
        "raw text": space.raw_corpus.numpy(),
        "adapted text": space.adapted_corpus.numpy(),
        "frozen vision": vis_raw.numpy(),
        "model vision": vis_adapted.numpy(),
    }
    labels = {"raw text": cc, "adapted text": cc, "frozen vision": pos_cls, "model vision": pos_cls}
    return TextSpaceChapter(
        checkpoint=ckpt.name,
        space=space,
        movement=textspace.movement(space),
        unseen=np.asarray(data.unseen),
        gaps=measures["gaps"],
        sets=sets,
        labels={k: np.asarray(v) for k, v in labels.items()},
        geometry=measures["geometry"],
    )


DOWNLOAD = "text_spaces.npz"  # staged beside the chapter's page (publish.book.stage_downloads)


def write_download(ch: Chapter, res: TextSpaceChapter) -> Path:
    """The raw and adapted class embeddings with their class names, for a reader to explore
    elsewhere: ``<run>/downloads/text_spaces.npz`` (plain arrays, no pickle: ``np.load(f)`` reads it
    with ``allow_pickle=False``): ``classes`` (C,) names, ``raw`` and ``adapted`` (C, d) float32,
    ``unseen`` (C,) bool, ``corpus_raw`` / ``corpus_adapted`` (N, d) and ``corpus_class`` (N,)."""
    sp = res.space
    buf = io.BytesIO()
    np.savez(
        buf,
        classes=np.asarray(ch.world.class_names(), dtype=str),
        raw=sp.raw.numpy().astype(np.float32),
        adapted=sp.adapted.numpy().astype(np.float32),
        unseen=np.asarray(res.unseen, bool),
        corpus_raw=sp.raw_corpus.numpy().astype(np.float32),
        corpus_adapted=sp.adapted_corpus.numpy().astype(np.float32),
        corpus_class=sp.corpus_class.numpy().astype(np.int64),
    )
    return artifacts.write_bytes(Path(ch.cfg.run.run_dir) / "downloads" / DOWNLOAD, buf.getvalue())


def joint_figure(ch: Chapter, res: TextSpaceChapter):
    """The four sets in one UMAP fit, as an interactive figure (hover: set, class, seen or unseen)."""
    return interactive.joint_embedding(
        res.sets,
        res.labels,
        ch.world.class_names(),
        unseen=res.unseen,
        **umap_fit.run_settings(ch.cfg),
        title="raw text, adapted text, frozen and model vision (one UMAP fit)",
    )
