"""Chapter 5: does the bridge help only when its diffusion model learned the adapted space? The ordering experiment.

The methods live in ``chapters.methods``, the paired tests and the verdict rule in
``measure.paired``; this module runs them over the seeds and holds the design
document's hypothetical table, typed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hoilib.chapters import claims, interactive, memo, umap_fit
from hoilib.chapters.methods import (
    METHODS,
    Context,
    bridged,
    make_context,
    method_features,
)
from hoilib.chapters.names import CORRECT, WRONG
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.chapters.ordering_tables import compute_tables
from hoilib.measure.paired import judgements, paired_tests, verdict
from hoilib.measure.summary import mean_std
from hoilib.models.diffusion.bridge import OrderError
from hoilib.models.seedrun import SeedRun, seed_run

NAME = "05_evaluation"
NEEDS_SPLIT = True
PARAMS = (
    "ezhoi_seeds",
    "bridge_t_start",
    "bridge_steps",
    "bridge_recipe",
    "sweep_t_starts",
    "sweep_steps",
    "capdec_steps",
    "gap_permutations",
    "umap_points",
    "umap_epochs",
    "split",
    "seed",
    "pair_source",
)
NONE = "EZ-HOI, no bridge"
SOFTMAX = "EZ-HOI, softmax at CLIP's temperature"
# The design document's results table, labelled hypothetical there (HICO-DET-scale numbers nobody measured).
HYPOTHETICAL = pd.DataFrame(
    {
        "Diffusion trained on": ["-", "raw embeddings", "adapted embeddings"],
        "unseen": [25.3, 24.8, 27.9],
        "seen": [32.1, 32.5, 33.2],
        "full": [30.2, 30.1, 31.8],
    },
    index=pd.Index(["no bridge", "wrong order", "correct order"], name="setting (hypothetical)"),
)
SHORT = {
    "none": NONE,
    "wrong": WRONG,
    "correct": CORRECT,
    "frozen": "frozen CLIP, no bridge",
    "raw_everywhere": "frozen CLIP + raw-trained bridge (raw everywhere)",
}
# (claim, a, b, expected sign of b - a): what the design document claims, judged on each mAP
CLAIMS = [
    ("the correct order beats the wrong order", WRONG, CORRECT, 1),
    ("the correct order beats no bridge", NONE, CORRECT, 1),
    ("the wrong order hurts (is below no bridge)", NONE, WRONG, -1),
]


@dataclass
class OrderingChapter(ChapterResult):
    profile: str
    ctx: Context
    runs: list[SeedRun]
    guard: str  # what the order guard says when asked to compare a raw-trained bridge with the adapted space
    per_seed: pd.DataFrame  # one row per (method, seed): mAP (%)
    ap: dict  # (method, seed) -> per-class AP
    tests: dict[str, pd.DataFrame]  # claim -> paired tests of b - a
    sweep: pd.DataFrame  # t* and step sweeps of the first seed
    gaps: pd.DataFrame  # gap measures per method (first seed)
    feats: dict  # (method, seed) -> (test features, class text)
    bridge: dict  # the bridge settings every row used
    text: pd.DataFrame  # the text-only consumer: one row per (consumer, diffusion, denoiser, seed)
    text_ap: dict  # (method, seed) -> per-class AP of the text-only cells
    head: (
        pd.DataFrame
    )  # EZ-HOI's head with validation-chosen strength: one row per (diffusion, seed)
    head_ap: dict
    geometry: pd.DataFrame  # raw vs adapted text: CKA and kNN overlap

    def text_claims(self):
        return claims.judge_claims(
            self.text, self.text_ap, claims.TEXT_CLAIMS, self.ctx.data.unseen
        )

    def head_claims(self):
        return claims.judge_claims(
            self.head, self.head_ap, claims.HEAD_CLAIMS, self.ctx.data.unseen
        )

    def headline(self, setting: str) -> str:
        """The computed sentence on "correct beats wrong" for 'text' or 'head'."""
        tests, family = (
            (self.text_claims()[0], claims.TEXT_CLAIMS)
            if setting == "text"
            else (self.head_claims()[0], claims.HEAD_CLAIMS)
        )
        return claims.headline(tests, family, _verdicts(tests, family))

    def same_scoring(self) -> pd.DataFrame:
        """EZ-HOI minus frozen CLIP, both scored by softmax at CLIP's temperature (b - a)."""
        return claims.same_scoring(
            self.per_seed, self.ap, "frozen CLIP, no bridge", SOFTMAX, self.ctx.data.unseen
        )

    @property
    def means(self) -> pd.DataFrame:
        return self.per_seed.groupby("method", sort=False)[["full", "seen", "unseen"]].mean()

    def table(self) -> pd.DataFrame:
        t = mean_std(self.per_seed, by="method", cols=("full", "seen", "unseen"))
        t.insert(0, "what it is", [METHODS[m] for m in t.index])
        return t

    def bars_frame(self) -> pd.DataFrame:
        return self.per_seed[self.per_seed.method != "frozen CLIP, no bridge"]

    def baseline(self) -> dict:
        return {c: float(self.means.loc[NONE, c]) for c in ("seen", "unseen")}

    def side_by_side(self) -> pd.DataFrame:
        hyp = HYPOTHETICAL[["unseen", "seen", "full"]].rename_axis("setting")
        ours = self.means.loc[[NONE, WRONG, CORRECT], ["unseen", "seen", "full"]].set_axis(
            hyp.index
        )
        side = pd.concat(
            {
                "hypothetical (design document, not measured)": hyp,
                f"measured here ({self.profile}, mean of {len(self.runs)} seeds)": ours.round(2),
            },
            axis=1,
        )
        side.loc["correct - wrong"] = side.loc["correct order"] - side.loc["wrong order"]
        side.loc["correct - no bridge"] = side.loc["correct order"] - side.loc["no bridge"]
        return side

    def verdict(self) -> pd.DataFrame:
        return verdict([(text, self.tests[text], sign) for text, *_, sign in CLAIMS], adjust=True)

    def sweep_baseline(self) -> dict:
        row = self.per_seed[
            (self.per_seed.method == NONE) & (self.per_seed.seed == self.runs[0].seed)
        ].iloc[0]
        return {c: float(row[c]) for c in ("unseen", "seen")}

    def numbers(self) -> dict:
        out = {"sweep_seed": self.runs[0].seed}
        for key, name in SHORT.items():
            for col in ("full", "seen", "unseen"):
                out[f"{key}_{col}"] = float(self.means.loc[name, col])
        return out

    def metrics(self) -> dict:
        tests = {
            f"paired_{k}": self.tests[text].reset_index().to_dict(orient="records")
            for k, text in zip(
                ("correct_vs_wrong", "correct_vs_none", "wrong_vs_none"),
                (c[0] for c in CLAIMS),
                strict=False,
            )
        }
        return {
            "per_seed": self.per_seed.to_dict(orient="records"),
            **tests,
            "verdict": _verdicts(self.tests, CLAIMS),
            "text_only": self.text.to_dict(orient="records"),
            "head_validated": self.head.to_dict(orient="records"),
            "text_only_verdict": _verdicts(self.text_claims()[0], claims.TEXT_CLAIMS),
            "head_validated_verdict": _verdicts(self.head_claims()[0], claims.HEAD_CLAIMS),
            "geometry": self.geometry.reset_index().to_dict(orient="records"),
            "per_class_ap": _ap_lists(self.ap | self.text_ap | self.head_ap),
            "unseen_classes": np.flatnonzero(self.ctx.data.unseen).tolist(),
            "sweep": self.sweep.to_dict(orient="records"),
            "gaps": self.gaps.reset_index()
            .rename(columns={"index": "method"})
            .to_dict(orient="records"),
            "bridge": self.bridge,
        }


def _verdicts(tests: dict, family) -> dict:
    """Each claim's Unseen-mAP judgement, Holm-adjusted over the family's table as the chapter shows it."""
    judged, _, _ = judgements([(t, tests[t], sign) for t, *_, sign in family], adjust=True)
    return {t: judged[(i, "unseen")] for i, (t, *_) in enumerate(family)}


def _ap_lists(ap: dict) -> list[dict]:
    """Per-class AP (NaN as None) of every (method, seed), for tables over many runs."""
    return [
        {"method": m, "seed": int(s), "ap": [None if x != x else float(x) for x in np.asarray(v)]}
        for (m, s), v in ap.items()
    ]


def guard_message(cfg, run: SeedRun) -> str:
    """The order guard refusing a raw-trained bridge compared with the adapted space (nobody asked for it)."""
    try:
        bridged(cfg, run.raw, run.vision, run.vision_mean, run.space.fingerprint)
    except OrderError as e:
        return f"OrderError: {e}"
    return "the guard did not refuse (a bug: the two spaces should differ)"


def joint_sets(runs: list[SeedRun], ctx: Context, feats: dict) -> tuple[dict, dict]:
    """The five sets of the joint picture (first seed) and each row's class."""
    r0 = runs[0]
    sets = {
        "raw text": r0.space.raw_corpus.numpy(),
        "adapted text": r0.space.adapted_corpus.numpy(),
        "model vision": r0.vision[ctx.pos].numpy(),
        "bridged (correct order)": feats[(CORRECT, r0.seed)][0][ctx.pos].numpy(),
        "bridged (wrong order)": feats[(WRONG, r0.seed)][0][ctx.pos].numpy(),
    }
    cc, pc = r0.space.corpus_class.numpy(), np.asarray(ctx.pos_cls)
    return sets, {k: (cc if k.endswith("text") else pc) for k in sets}


def run(ch: Chapter) -> OrderingChapter:
    cfg = ch.cfg
    ctx = make_context(ch.world, ch.backbone, ch.data)
    runs = [
        seed_run(cfg, ch.backbone, ch.world, ch.data, int(s)) for s in cfg.ezhoi_seeds
    ]  # chapters 2-4's, reused
    t = memo.cached(
        ch,
        "05_tables",
        lambda: compute_tables(cfg, ctx, runs, ch.data, ch.world),
        compute_tables.__module__,
    )
    df, ap = t["per_seed"], t["ap"]
    tests = {text: paired_tests(df, ap, a, b, ch.data.unseen) for text, a, b, _ in CLAIMS}
    # the joint picture needs the first seed's bridged features only: two bridge calls
    feats = {(m, runs[0].seed): method_features(cfg, m, runs[0], ctx)[:2] for m in (CORRECT, WRONG)}
    bridge = {k: getattr(cfg, k) for k in ("bridge_t_start", "bridge_steps", "bridge_recipe")}
    return OrderingChapter(
        cfg.profile,
        ctx,
        runs,
        guard_message(cfg, runs[0]),
        df,
        ap,
        tests,
        t["sweep"],
        t["gaps"],
        feats,
        bridge,
        t["text"],
        t["text_ap"],
        t["head"],
        t["head_ap"],
        t["geometry"],
    )


def joint_figure(ch: Chapter, res: OrderingChapter):
    """Text spaces, vision and bridged vision of the first seed in one UMAP fit, as an interactive figure."""
    sets, labels = joint_sets(res.runs, res.ctx, res.feats)
    return interactive.joint_embedding(
        sets,
        labels,
        ch.world.class_names(),
        np.asarray(ch.data.unseen),
        **umap_fit.run_settings(ch.cfg, n_per_set=ch.cfg.umap_points // 2),  # five sets: half each
        title="text spaces, vision and bridged vision (one UMAP fit)",
    )


def tstar_figure(explorer, t_values=(0, 299, 599, 899)):
    """The explorer's t* slider for the HTML book: three annotated pairs, unseen classes first."""
    return interactive.tstar_slider(
        explorer,
        explorer.example_pairs(3),
        t_values,
        title="top-5 classes of bridged test pairs; slide t*",
    )
