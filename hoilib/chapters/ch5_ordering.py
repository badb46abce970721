"""Chapter 5: does the bridge help only when its diffusion model learned the adapted space? The ordering experiment.

The experiment lives in ``hoilib.ordering`` (consumers, strength choice, claims, tables);
this module runs it over the seeds, keeps its results in one object and says what they
mean in computed sentences. The design document's hypothetical table is typed once here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hoilib.chapters import explorer_figure, interactive, memo, umap_fit
from hoilib.chapters.ch5_fixed import NONE, FixedTable
from hoilib.chapters.notebook import Chapter, ChapterResult
from hoilib.config import section_names
from hoilib.models.diffusion.bridge import OrderError
from hoilib.models.seedrun import SeedRun, seed_runs
from hoilib.ordering import claims, dose, twobytwo
from hoilib.ordering.labels import CORRECT, CORRECT_MATCHED, WRONG, WRONG_MATCHED
from hoilib.ordering.methods import Context, bridged, make_context, method_features
from hoilib.ordering.tables import compute_tables

NAME = "05_evaluation"
NEEDS_SPLIT = True
PARAMS = (
    "ezhoi.seeds",
    "ezhoi.pseudo_unseen_share",
    "ezhoi.bridge_val_fraction",
    "evaluation.consumer_steps",
    "evaluation.consumer_hidden",
    "evaluation.consumer_batch",
    "evaluation.dose_alphas",
    *section_names("bridge"),
    "evaluation.capdec_steps",
    "run.device",
    "evaluation.gap_permutations",
    "evaluation.umap_points",
    "evaluation.umap_epochs",
    "world.split",
    "run.seed",
    "world.pair_source",
)
SHORT = {
    "none": NONE,
    "wrong": WRONG,
    "correct": CORRECT,
    "wrong_matched": WRONG_MATCHED,
    "correct_matched": CORRECT_MATCHED,
    "frozen": "frozen CLIP, no bridge",
    "raw_everywhere": "frozen CLIP + raw-trained bridge (raw everywhere)",
}


@dataclass
class OrderingChapter(ChapterResult):
    profile: str
    ctx: Context
    runs: list[SeedRun]
    t: dict  # ``ordering.tables.compute_tables``'s frames and per-class APs
    guard: str = ""  # what the order guard says when nobody asked for the mismatch
    # (method, seed) -> (features, text): the joint picture
    feats: dict = field(default_factory=dict)
    bridge: dict = field(default_factory=dict)  # the fixed-t* rows' bridge settings

    # ---- the positive control and the answer -----------------------------------------
    @property
    def unseen(self) -> np.ndarray:
        return np.asarray(self.ctx.data.unseen)

    @property
    def controls(self) -> pd.DataFrame:
        return self.t["controls"]

    @property
    def primary(self) -> str | None:
        return claims.primary(self.controls)

    def judged(self, kind: str, consumer: str = "adapted") -> pd.DataFrame:
        return claims.judged(self.t["text_ap"], claims.text_pairs(kind, consumer), self.unseen)

    def head_judged(self) -> pd.DataFrame:
        return claims.judged(self.t["head_ap"], claims.head_pairs(), self.unseen)

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
        for kind in dict.fromkeys(self.t["text"].kind):
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
            c = self.t["controls"]
            best = c[c.consumer == "adapted"].sort_values("validation gain").iloc[-1]
            return (
                "no text-only consumer passed the positive control (its consistent bridge did not "
                f"beat no bridge by {claims.CONTROL_MARGIN:g} point on validation and on the test "
                f"set; the best on validation, {best.kind} fitted on adapted text, gained "
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
            return twobytwo.correct_minus_wrong(self.t["head_grid"])
        g = self.t["text_grid"]
        return twobytwo.correct_minus_wrong(
            g[(g.kind == (kind or self.primary)) & (g.consumer == "adapted")]
        )

    def chosen_strengths(self, kind: str | None = None, setting: str = "text") -> pd.DataFrame:
        """The strength validation chose for the consistent cell, per seed."""
        if setting == "text":
            d = twobytwo.consistent_cell(self.t["text"], kind or self.primary)
        else:
            d = self.t["head"][self.t["head"].diffusion == "adapted"]
        return d[["seed", "t_start", "lambda"]]

    def transfer(self) -> pd.DataFrame:
        t = claims.transfer(self.t["text_grid"], self.t["text"])
        return claims.transfer_summary(t)

    def dose_summary(self) -> pd.DataFrame:
        return dose.summary(self.t["dose"], self.t["dose_ap"], self.unseen)

    # ---- the design document's fixed-t* table -----------------------------------------
    @property
    def fixed(self) -> FixedTable:
        return FixedTable(
            self.profile, self.t["per_seed"], self.t["ap"], self.unseen, len(self.runs)
        )

    @property
    def per_seed(self) -> pd.DataFrame:
        return self.t["per_seed"]

    # ---- what the prose and the metrics file read ----------------------------------------
    def numbers(self) -> dict:
        out = {"sweep_seed": self.runs[0].seed}
        for key, name in SHORT.items():
            for col in ("full", "seen", "unseen"):
                out[f"{key}_{col}"] = float(self.fixed.means.loc[name, col])
        out["primary"] = self.primary or "none"
        out["dose_kind"] = self.t["dose_kind"]
        out["n_pass"] = int(self.controls[self.controls.consumer == "adapted"].passes.sum())
        out["n_kinds"] = int((self.controls.consumer == "adapted").sum())
        return out

    def metrics(self) -> dict:
        t = self.t
        verdicts = {} if self.primary is None else self.judged(self.primary)
        return {
            "answer": self.answer(),
            "primary_consumer": self.primary,
            "controls": t["controls"].to_dict(orient="records"),
            "verdict_primary": [] if self.primary is None else verdicts.to_dict(orient="records"),
            "verdict_head": self.head_judged().to_dict(orient="records"),
            "verdict_fixed": self.fixed.judged().to_dict(orient="records"),
            "text_only": t["text"].to_dict(orient="records"),
            "gap_cost": t["gapcost"].to_dict(orient="records"),
            "head_validated": t["head"].to_dict(orient="records"),
            "dose": t["dose"].to_dict(orient="records"),
            "dose_kind": t["dose_kind"],
            "dose_ap": [
                {"alpha": a, "order": o, "seed": int(s), "ap": _plain(v)}
                for (a, o, s), v in t["dose_ap"].items()
            ],
            "per_seed": self.t["per_seed"].to_dict(orient="records"),
            "geometry": t["geometry"].reset_index().to_dict(orient="records"),
            "per_class_ap": _ap_lists(t["ap"] | t["text_ap"] | t["head_ap"]),
            "unseen_classes": np.flatnonzero(self.unseen).tolist(),
            "pseudo_unseen_classes": np.flatnonzero(np.asarray(self.ctx.data.pseudo)).tolist(),
            "sweep": t["sweep"].to_dict(orient="records"),
            "gaps": t["gaps"]
            .reset_index()
            .rename(columns={"index": "method"})
            .to_dict(orient="records"),
            "bridge": self.bridge,
        }


def _plain(v) -> list:
    return [None if x != x else float(x) for x in np.asarray(v)]


def _ap_lists(ap: dict) -> list[dict]:
    """Per-class AP (NaN as None) of every (method, seed), for tables over many runs."""
    return [{"method": m, "seed": int(s), "ap": _plain(v)} for (m, s), v in ap.items()]


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
    runs = seed_runs(ch.cfg, ch.backbone, ch.world, ch.data)
    t = memo.cached(
        ch,
        "05_tables",
        lambda: compute_tables(cfg, ctx, runs),
        compute_tables.__module__,
    )
    # the joint picture needs the first seed's bridged features only: two bridge calls
    feats = {(m, runs[0].seed): method_features(cfg, m, runs[0], ctx)[:2] for m in (CORRECT, WRONG)}
    b = cfg.bridge  # the metrics keep the names they were published under
    settings = {"bridge_t_start": b.t_start, "bridge_steps": b.steps, "bridge_recipe": b.recipe}
    guard = guard_message(cfg, runs[0])
    return OrderingChapter(cfg.run.profile, ctx, runs, t, guard=guard, feats=feats, bridge=settings)


def joint_figure(ch: Chapter, res: OrderingChapter):
    """Text spaces, vision and bridged vision of the first seed in one UMAP fit, as an interactive figure."""
    sets, labels = joint_sets(res.runs, res.ctx, res.feats)
    return interactive.joint_embedding(
        sets,
        labels,
        ch.world.class_names(),
        np.asarray(ch.data.unseen),
        # five sets: half each
        **umap_fit.run_settings(ch.cfg, n_per_set=ch.cfg.evaluation.umap_points // 2),
        title="text spaces, vision and bridged vision (one UMAP fit)",
    )


def tstar_figure(explorer, t_values=(0, 299, 599, 899)):
    """The explorer's t* slider for the HTML book: three annotated pairs, unseen classes first."""
    return explorer_figure.tstar_slider(
        explorer,
        explorer.example_pairs(3),
        t_values,
        title="top-5 classes of bridged test pairs; slide t*",
    )
