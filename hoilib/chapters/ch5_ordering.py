"""Chapter 5: does the bridge help only when its diffusion model learned the adapted space? The ordering experiment.

The experiment lives in ``hoilib.ordering`` (consumers, strength choice, claims, the experiment);
this module runs it over the seeds, keeps its results in one object and says what they
mean in computed sentences. The design document's hypothetical table is typed once here.
Every setting that decides the answer is a parameter of the ``bridge``, ``consumers`` and
``claims`` sections (``DECIDING``), shown by ``deciding_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hoilib import memo
from hoilib.chapters.ch5_fixed import FixedTable
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.config import Params, section_names
from hoilib.figures import explorer_figure, interactive, umap_fit
from hoilib.models.diffusion.bridge import OrderError
from hoilib.models.seedrun import SeedRun, seed_runs
from hoilib.ordering import claims, common, dose, labels, twobytwo
from hoilib.ordering.experiment import OrderingTables, stage_tables
from hoilib.ordering.labels import MAP_COLS
from hoilib.ordering.methods import Context, bridged, make_context, method_features
from hoilib.ordering.strength import t_grid

NAME = "05_evaluation"
NEEDS_SPLIT = True
PARAMS = (
    "ezhoi.seeds",
    "ezhoi.pseudo_unseen_share",
    "ezhoi.bridge_val_fraction",
    *section_names("consumers"),
    *section_names("claims"),
    "evaluation.dose_alphas",
    *section_names("bridge"),
    *(f"evaluation.{k}" for k in ("capdec_steps", "capdec_variance", "capdec_lr")),
    *(f"evaluation.{k}" for k in ("capdec_temperature", "decap_temperature")),
    "run.device",
    *(f"evaluation.{k}" for k in ("gap_permutations", "umap_points", "umap_epochs")),
    "world.split",
    "run.seed",
    "world.pair_source",
)
# the settings that decide the chapter's answer: what is tried, how each consumer is fitted, the rules
DECIDING = (
    "bridge.t_grid",
    "bridge.lambdas",
    "bridge.strength_by",
    "bridge.steps",
    "bridge.recipe",
    *section_names("consumers"),
    *section_names("claims"),
    "evaluation.dose_alphas",
)
# the fixed-t* rows whose means the prose reads, as '<Method.key>_<column>'
SHORT = (labels.NONE, labels.WRONG, labels.CORRECT, labels.WRONG_MATCHED, labels.CORRECT_MATCHED)
SHORT += (labels.FROZEN_CLIP, labels.RAW_EVERYWHERE)


@dataclass(kw_only=True)
class OrderingChapter(ChapterResult):
    profile: str
    ctx: Context
    runs: list[SeedRun]
    tables: OrderingTables  # every table of the experiment (``ordering.experiment``)
    costs: dict  # each stage of ``tables``: (seconds, computed in this run)
    cfg: Params  # the run's parameters (the rules read ``cfg.claims``)
    guard: str = ""  # what the order guard says when nobody asked for the mismatch
    # (Method, seed) -> (features, text): the joint picture
    feats: dict = field(default_factory=dict)
    bridge: dict = field(default_factory=dict)  # the fixed-t* rows' bridge settings

    # ---- the positive control and the answer -----------------------------------------
    @property
    def unseen(self) -> np.ndarray:
        return np.asarray(self.ctx.data.unseen)

    @property
    def controls(self) -> pd.DataFrame:
        return self.tables.controls

    @property
    def primary(self) -> str | None:
        return claims.primary(self.controls)

    def judged(self, kind: str, consumer: str = "adapted") -> pd.DataFrame:
        pairs = claims.text_pairs(kind, consumer)
        return claims.judged(self.tables.text_ap, pairs, self.unseen, cfg=self.cfg.claims)

    def head_judged(self) -> pd.DataFrame:
        return claims.judged(
            self.tables.head_ap, claims.head_pairs(), self.unseen, cfg=self.cfg.claims
        )

    def deciding_settings(self) -> pd.DataFrame:
        """The settings that decided this chapter's answer (``deciding_settings``)."""
        return deciding_settings(self.cfg, int(self.ctx.frozen_test.shape[1]))

    def cost_table(self) -> pd.DataFrame:
        """Each stage of the tables: its seconds when computed, and whether this run computed it."""
        done = {True: "computed", False: "read from the cache"}
        rows = {k: (s, done[n]) for k, (s, n) in self.costs.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["seconds", "this run"])

    def control_table(self) -> pd.DataFrame:
        c = self.controls.copy()
        c["test Unseen gain [95% interval]"] = [
            f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"
            for m, lo, hi in c[["test Unseen gain", "lo", "hi"]].values
        ]
        c["validation gain"] = c["validation gain"].map(lambda x: f"{x:+.2f}")
        c["passes"] = c.passes.map({True: "passes", False: "fails"})
        cols = ["kind", "consumer", "validation classes", "validation gain"]
        return c[cols + ["test Unseen gain [95% interval]", "passes"]].set_index(
            ["kind", "consumer"]
        )

    def every_consumer(self) -> pd.DataFrame:
        """Unseen correct-minus-wrong of every adapted-text consumer, the control's result beside it."""
        rows = []
        for kind in dict.fromkeys(self.tables.text.kind):
            j = self.judged(kind)
            r = j[(j.contrast == "correct - wrong") & (j.column == "unseen")].iloc[0]
            ok = self.controls[(self.controls.kind == kind) & (self.controls.consumer == "adapted")]
            rows.append(
                {
                    "consumer (adapted text)": kind,
                    "positive control": "passes" if bool(ok.passes.iloc[0]) else "fails",
                    "correct - wrong, Unseen": f"{r['mean']:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}]",
                    "verdict (own family)": r.verdict,
                }
            )
        return pd.DataFrame(rows).set_index("consumer (adapted text)")

    def answer(self) -> str:
        """The chapter's answer in one computed sentence (the book's first page repeats it)."""
        kind = self.primary
        if kind is None:
            c = self.tables.controls
            best = c[c.consumer == "adapted"].sort_values("validation gain").iloc[-1]
            return (
                "no text-only consumer passed the positive control (its consistent bridge did not "
                f"beat no bridge by {self.cfg.claims.control_margin:g} point on validation; the best "
                f"there, {best.kind} fitted on adapted text, gained "
                f"{best['validation gain']:+.2f} points there and {best['test Unseen gain']:+.2f} "
                f"Unseen points on the test set, interval {best.lo:+.2f} to {best.hi:+.2f}), so "
                "this world cannot test whether the training order matters."
            )
        j = self.judged(kind)
        r = j[(j.contrast == "correct - wrong") & (j.column == "unseen")].iloc[0]
        return (
            f"with the consumer the gap hurts and the bridge helps ({kind} fitted on adapted "
            f"text, chosen on validation among those that passed the positive control), the "
            f"correct order minus the wrong order is {r['mean']:+.2f} Unseen mAP points (95% "
            f"interval {r.lo:+.2f} to {r.hi:+.2f}; the design document predicts "
            f"{r.margin:+.1f}): {r.verdict.upper()}."
        )

    # ---- the strength grid, validation, dose ------------------------------------------
    def strength_grid(self, kind: str | None = None, setting: str = "text") -> pd.DataFrame:
        """Correct minus wrong at every (t*, lambda), mean over seeds: validation and test Unseen."""
        if setting != "text":
            return twobytwo.correct_minus_wrong(self.tables.head_grid)
        g = self.tables.text_grid
        return twobytwo.correct_minus_wrong(
            g[(g.kind == (kind or self.primary)) & (g.consumer == "adapted")]
        )

    def chosen_strengths(self, kind: str | None = None, setting: str = "text") -> pd.DataFrame:
        """The strength validation chose for the consistent cell, per seed."""
        if setting == "text":
            d = twobytwo.consistent_cell(self.tables.text, kind or self.primary)
        else:
            d = self.tables.head[self.tables.head.diffusion == "adapted"]
        return d[["seed", "t_start", "lambda"]]

    def transfer(self) -> pd.DataFrame:
        choices = claims.transfer(self.tables.text_grid, self.tables.text)
        return claims.transfer_summary(choices)

    def dose_summary(self) -> pd.DataFrame:
        return dose.summary(self.tables.dose, self.tables.dose_ap, self.unseen, cfg=self.cfg.claims)

    # ---- the design document's fixed-t* table -----------------------------------------
    @property
    def fixed(self) -> FixedTable:
        return FixedTable(
            profile=self.profile, per_seed=self.tables.per_seed, ap=self.tables.ap,
            unseen=self.unseen, n_seeds=len(self.runs), claims=self.cfg.claims,
        )  # fmt: skip

    # ---- what the prose and the metrics file read ----------------------------------------
    def numbers(self) -> dict:
        out = {"sweep_seed": self.runs[0].seed}
        for method in SHORT:
            for col in MAP_COLS:
                out[f"{method.key}_{col}"] = float(self.fixed.means.loc[method.label, col])
        out["primary"] = self.primary or "none"
        out["dose_kind"] = self.tables.dose_kind
        out["n_pass"] = int(self.controls[self.controls.consumer == "adapted"].passes.sum())
        out["n_kinds"] = int((self.controls.consumer == "adapted").sum())
        return out

    def metrics(self) -> dict:
        verdicts = [] if self.primary is None else self.judged(self.primary).to_dict("records")
        return self.tables.records() | {
            "answer": self.answer(),
            "primary_consumer": self.primary,
            "verdict_primary": verdicts,
            "verdict_head": self.head_judged().to_dict(orient="records"),
            "verdict_fixed": self.fixed.judged().to_dict(orient="records"),
            "unseen_classes": np.flatnonzero(self.unseen).tolist(),
            "pseudo_unseen_classes": np.flatnonzero(np.asarray(self.ctx.data.pseudo)).tolist(),
            "bridge": self.bridge,
            "common_strength": common.common_strength(self.tables),
        }


def deciding_settings(cfg: Params, dim: int) -> pd.DataFrame:
    """The settings that decide chapter 5's answer (``DECIDING``), with the start steps the strength
    choice tries at feature width ``dim`` (``bridge.t_grid`` plus the noise-matched t*)."""
    rows = [
        {"parameter": "t* tried (t_grid + noise-matched)", "value": list(t_grid(cfg.bridge, dim))}
    ]
    for name in DECIDING:
        section, field_name = name.split(".")
        rows.append({"parameter": name, "value": getattr(getattr(cfg, section), field_name)})
    return pd.DataFrame(rows).set_index("parameter")


def guard_message(cfg, run: SeedRun) -> str:
    """The order guard refusing a raw-trained bridge compared with the adapted space (nobody asked for it)."""
    try:
        bridged(
            cfg, run.raw, run.vision, vision_mean=run.vision_mean,
            fingerprint=run.space.fingerprint, seed=run.seed,
        )  # fmt: skip
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
        "bridged (correct order)": feats[(labels.CORRECT, r0.seed)][0][ctx.pos].numpy(),
        "bridged (wrong order)": feats[(labels.WRONG, r0.seed)][0][ctx.pos].numpy(),
    }
    cc, pc = r0.space.corpus_class.numpy(), np.asarray(ctx.pos_cls)
    return sets, {k: (cc if k.endswith("text") else pc) for k in sets}


def run(ch: Chapter) -> OrderingChapter:
    cfg = ch.cfg
    ctx = make_context(ch.world, ch.backbone, ch.data)
    runs = seed_runs(ch.cfg, ch.backbone, ch.world, data=ch.data)
    tables, costs = stage_tables(cfg, ctx, runs, store=lambda *a, **kw: memo.cached(ch, *a, **kw))
    # the joint picture needs the first seed's bridged features only: two bridge calls
    feats = {
        (m, runs[0].seed): method_features(cfg, m, runs[0], ctx=ctx)[:2]
        for m in (labels.CORRECT, labels.WRONG)
    }
    b = cfg.bridge  # the metrics keep the names they were published under
    settings = {"bridge_t_start": b.t_start, "bridge_steps": b.steps, "bridge_recipe": b.recipe}
    return OrderingChapter(
        profile=cfg.run.profile, ctx=ctx, runs=runs, tables=tables, costs=costs, cfg=cfg,
        guard=guard_message(cfg, runs[0]), feats=feats, bridge=settings,
    )  # fmt: skip


def joint_figure(ch: Chapter, res: OrderingChapter):
    """Text spaces, vision and bridged vision of the first seed in one UMAP fit, as an interactive figure."""
    sets, set_classes = joint_sets(res.runs, res.ctx, res.feats)
    return interactive.joint_embedding(
        sets,
        set_classes,
        ch.world.class_names(),
        unseen=np.asarray(ch.data.unseen),
        # five sets: half each
        **umap_fit.run_settings(ch.cfg, n_per_set=ch.cfg.evaluation.umap_points // 2),
        title="text spaces, vision and bridged vision (one UMAP fit)",
    )


def tstar_figure(explorer, t_values):
    """The HTML book's explorer: each class's first annotated test pair in a menu, t* on a slider."""
    pairs = {label: found[0] for label, found in explorer.pairs_by_class().items()}
    title = "top-5 classes of a bridged test pair: pick a class, slide t*"
    return explorer_figure.tstar_slider(explorer, pairs, t_values, title=title)
