"""The claim's own setting for one seed: text-only consumers x the text their bridge's diffusion model learned.

For every consumer kind (``ordering.consumers``) fitted on raw or on adapted text, frozen
CLIP's union features of the pairs are scored with no bridge, and bridged by a diffusion
model of the raw and of the adapted corpus (chapter 4's trained MLP). The strength is
chosen per consumer and per order, on validation: the *matched* cell (the diffusion model
learned the consumer's own text) and the mismatched one each at the strength their own
validation prefers, so "correct minus wrong" compares each bridge at its best, neither tuned
for the other (the correct order's strength for both, a secondary reading, is in the test
grid). The closed-form optimal denoiser of the same corpora, at the trained model's
strength, is the control: what a perfectly
trained model of the corpus would do with this recipe. For the consumers of adapted text, every
(t*, lambda) of both orders is also scored on the test set (trained MLP), for the figure of the
whole grid and the transfer table; nothing is chosen from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from hoilib.config.schema import ConsumersCfg, Params
from hoilib.measure.metric import evaluate_hoi
from hoilib.measure.zeroshot import class_mask, score_logits
from hoilib.models.diffusion.bridge import check_order
from hoilib.models.seedrun import SeedRun
from hoilib.ordering import consumers
from hoilib.ordering.bridges import CLOSED_FORM, DENOISERS, MLP, BridgeCache
from hoilib.ordering.labels import MAP_COLS, cell_name
from hoilib.ordering.methods import Context
from hoilib.ordering.strength import (
    VALIDATIONS,
    Validation,
    applied,
    choose,
    flat_pairs,
    grid_of,
    validation_grid,
)

SPACES = ("raw", "adapted")  # the text a consumer was fitted on, and a diffusion model learned


def consistent_cell(rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of the matched (consistent) cell: ``kind`` fitted on adapted text, bridged by the diffusion
    model trained on adapted text; its strength is the one both orders share."""
    return rows[
        (rows.kind == kind)
        & (rows.consumer == "adapted")
        & (rows.diffusion == "adapted")
        & (rows.denoiser == MLP)
    ]


@dataclass(kw_only=True)
class Bridges:
    """One seed's view of the run's ``BridgeCache``: each text space's corpus, fingerprint and model."""

    run: SeedRun
    cache: BridgeCache  # shared across seeds: the raw corpus's closed form is seed-free

    def spaces(self) -> dict:
        sp = self.run.space
        return {
            "raw": (sp.raw_corpus, sp.meta["raw_fingerprint"], self.run.raw),
            "adapted": (sp.adapted_corpus, sp.fingerprint, self.run.adapted),
        }

    def at(self, diffusion: str, denoiser: str, t: int, *, where: str, consumer: str):
        """Features of ``where`` bridged from t by the ``diffusion`` space's ``denoiser``, for a
        consumer of the ``consumer`` space (the order guard is told the mismatch is asked for
        exactly when the two spaces differ)."""
        corpus, fp, trained = self.spaces()[diffusion]
        diff = self.cache.closed_form(corpus, fp, diffusion) if denoiser == CLOSED_FORM else trained
        check_order(diff, self.spaces()[consumer][1], allow_mismatch=diffusion != consumer)
        return self.cache.bridged(diff, denoiser, seed=self.run.seed, t=t, where=where)


def image_accuracy(logits: torch.Tensor, pairs, targets: torch.Tensor, *, classes) -> float:
    """Top-1 accuracy on annotated pairs among the classes of each pair's object (any label counts)."""
    lab = targets.any(-1)
    valid = class_mask(pairs, classes)
    return consumers.accuracy(logits[lab], valid[lab], targets[lab].bool())


class _Seed:
    """One seed's data, bridges and scorers, shared by every consumer of ``run_text``; the bridge
    settings (strength grid, ``strength_by``) are the cache's ``BridgeCfg``."""

    def __init__(
        self, ctx: Context, run: SeedRun, cache: BridgeCache, *, consumers_cfg: ConsumersCfg
    ):
        data, world = ctx.data, ctx.world
        self.run, self.data, self.world = run, data, world
        self.bridge_cfg, self.consumers_cfg = cache.cfg, consumers_cfg
        self.val_pairs, _, self.val_u = flat_pairs(data.val_bridge)
        self.val_targets = data.val_bridge.targets[~data.val_bridge.pad]
        self.V = Validation.of(data.val_bridge, data.unseen, data.pseudo)
        self.test_gt = world.test.ground_truth()
        self.test_u = ctx.frozen_test
        self.scale = ctx.frozen_scale
        self.B = Bridges(run=run, cache=cache)
        self.grid = grid_of(self.bridge_cfg, self.val_u.shape[1])
        self.held = consumers.held_out_rows(
            run.space.corpus_class, world.num_classes, cfg=consumers_cfg
        )

    def bridged(self, diffusion, denoiser, where, *, consumer):
        return lambda t: self.B.at(diffusion, denoiser, t, where=where, consumer=consumer)

    def val_scores(self, c, feats) -> dict:
        return self.V.scores(score_logits(c.logits(feats), self.val_pairs, self.world.classes))

    def test_map(self, c, feats):
        w = self.world
        dets = score_logits(c.logits(feats), self.data.test_pairs, w.classes)
        return evaluate_hoi(dets, self.test_gt, w.num_classes, rare=w.rare, unseen=self.data.unseen)

    def fit_all(self) -> dict:
        """Every (kind, space) consumer of this seed, fitted on text only (``consumers.fit_consumers``)."""
        specs = [(k, s) for k in consumers.KINDS for s in SPACES]
        corpora = {s: self.B.spaces()[s][0] for s in SPACES}
        return consumers.fit_consumers(
            specs,
            corpora,
            self.run.space.corpus_class,
            n_classes=self.world.num_classes,
            held=self.held,
            cfg=self.consumers_cfg,
            scale=self.scale,
            seed=self.run.seed,
        )

    def consumer(self, c) -> dict:
        """Rows, grid rows, gap cost and per-class APs of one fitted consumer."""
        kind, space, seed = c.kind, c.space, self.run.seed
        head = {"kind": kind, "consumer": space, "seed": seed}
        score = lambda f: self.val_scores(c, f)  # noqa: E731
        base = score(self.val_u)
        m = self.test_map(c, self.test_u)
        ap = {(cell_name(space, "none", kind=kind), seed): m.ap}
        none = {"diffusion": "none", "denoiser": "none", "t_start": 0, "lambda": 0.0}
        rows = [head | none | _val(base) | _pct(m)]
        vg = {
            d: validation_grid(
                self.val_u, self.bridged(d, MLP, "val", consumer=space), score, grid=self.grid
            )
            for d in SPACES
        }
        # each order at the strength its own validation chooses (the plan's primary rule), so
        # neither order is tuned for the other's benefit
        chosen = {d: choose(vg[d], base, self.bridge_cfg.strength_by) for d in SPACES}
        choice = chosen[space]
        at = {d: _at(vg[d], chosen[d].t_start, chosen[d].lam) for d in SPACES}
        for den in DENOISERS:  # the closed form at the trained model's strength: the control
            for d in SPACES:
                feats = applied(
                    self.test_u,
                    self.bridged(d, den, "test", consumer=space),
                    chosen[d].t_start,
                    lam=chosen[d].lam,
                )
                m = self.test_map(c, feats)
                ap[(cell_name(space, d, den, kind=kind), seed)] = m.ap
                picked = {
                    "diffusion": d,
                    "denoiser": den,
                    "t_start": chosen[d].t_start,
                    "lambda": chosen[d].lam,
                    "chosen_by": chosen[d].by,
                }
                rows.append(head | picked | _val(at[d]) | _pct(m))
        grid = []  # the whole grid on the test set, both orders, for the consumers of adapted text
        for d in SPACES if space == "adapted" else ():  # (the figure and the transfer read it)
            for t, lam in self.grid:
                feats = applied(
                    self.test_u, self.bridged(d, MLP, "test", consumer=space), t, lam=lam
                )
                grid.append(
                    head
                    | {"diffusion": d, "t_start": t, "lambda": lam}
                    | _val(_at(vg[d], t, lam))
                    | _pct(self.test_map(c, feats))
                )
        matched = applied(
            self.val_u,
            self.bridged(space, MLP, "val", consumer=space),
            choice.t_start,
            lam=choice.lam,
        )
        text = self.B.spaces()[space][0][self.held]
        labels = self.run.space.corpus_class[self.held]

        def acc(f):
            return image_accuracy(
                c.logits(f), self.val_pairs, self.val_targets, classes=self.world.classes
            )

        gap = head | {
            "held-out text accuracy": consumers.text_accuracy(
                c, text, labels, classes=self.world.classes
            ),
            "image accuracy": acc(self.val_u),
            "bridged image accuracy": acc(matched),
            "held-out text loss": c.held_out_loss,
            "fit": c.chosen,
        }
        return {"rows": rows, "grid": grid, "gapcost": [gap], "ap": ap}


def run_text(cfg: Params, ctx: Context, run: SeedRun, *, cache: BridgeCache | None = None) -> dict:
    """Every consumer of one seed with no bridge and each bridge at the strength its own validation chose.

    Returns {'rows': one row per (kind, consumer, diffusion, denoiser), 'grid': validation
    and test mAP of every strength (trained MLP), 'gapcost': what the gap costs each
    consumer, 'ap': per-class test AP keyed (method, seed), 'consumers': the fitted consumers
    keyed (kind, space), for the dose-response}. No consumer sees an image
    feature while it is fitted: ``consumers.fit_consumers`` receives the text corpora only.
    Pass the same ``cache`` (``BridgeCache.of(cfg.bridge, ctx)``) to every seed's call: the raw
    corpus's closed form is shared. What is tried and fitted is ``cfg.bridge`` (``t_grid``,
    ``lambdas``, ``strength_by``, steps, recipe) and ``cfg.consumers``.
    """
    if cache is None:
        cache = BridgeCache.of(cfg.bridge, ctx)
    elif cache.cfg != cfg.bridge:
        raise ValueError(
            f"cache: its sets were bridged with {cache.cfg.key()}, expected cfg.bridge "
            f"{cfg.bridge.key()}"
        )
    one = _Seed(ctx, run, cache, consumers_cfg=cfg.consumers)
    fitted = one.fit_all()
    parts = [one.consumer(c) for c in fitted.values()]
    out = {k: pd.DataFrame([r for p in parts for r in p[k]]) for k in ("rows", "grid", "gapcost")}
    return out | {"ap": {k: v for p in parts for k, v in p["ap"].items()}, "consumers": fitted}


def fit_seed(cfg: Params, ctx: Context, run: SeedRun, *, cache: BridgeCache) -> dict:
    """The consumers ``run_text`` fits for one seed (its 'consumers'), fitted again on their own:
    what the dose-response reads when the text stage came from the cache."""
    return _Seed(ctx, run, cache, consumers_cfg=cfg.consumers).fit_all()


def _at(grid: pd.DataFrame, t: int, lam: float) -> pd.Series:
    """The row of one strength in a validation grid."""
    return grid[(grid.t_start == t) & (grid["lambda"] == lam)].iloc[0]


def _val(scores) -> dict:
    return {f"val_{k.replace('-', '_')}": float(scores[k]) for k in VALIDATIONS}


def _pct(m) -> dict:
    return {k: m.as_percent()[k] for k in MAP_COLS}


def correct_minus_wrong(grid: pd.DataFrame) -> pd.DataFrame:
    """Adapted-trained minus raw-trained bridge at every (t*, lambda) of a grid, mean over seeds.

    For a consumer of adapted text (or EZ-HOI's head) that is correct minus wrong; columns
    are the validation mAPs and the test Unseen mAP.
    """
    keys, cols = ["seed", "t_start", "lambda"], ["val_pseudo_unseen", "val_seen", "unseen"]
    c = grid[grid.diffusion == "adapted"].set_index(keys)[cols]
    w = grid[grid.diffusion == "raw"].set_index(keys)[cols]
    return (c - w).groupby(["t_start", "lambda"]).mean().reset_index()
