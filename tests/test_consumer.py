"""Chapter 5's text-only setting and EZ-HOI's head: one validated strength for both orders (issue 18)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hoilib.measure.zeroshot import score_logits
from hoilib.ordering import consumers, head, strength, twobytwo
from hoilib.ordering.labels import cell_name


@pytest.fixture(scope="module")
def exp(tiny_experiment):
    cfg, world, data, ctx, run = tiny_experiment
    return cfg.updated({"consumers.steps": 40}), world, data, ctx, run


@pytest.fixture(scope="module")
def text(exp):
    cfg, world, data, ctx, run = exp
    return twobytwo.run_text(cfg, ctx, run)


def test_blend_ends_are_the_input_and_the_bridge():
    v, b = torch.randn(4, 8), F.normalize(torch.randn(4, 8), dim=-1)
    assert torch.allclose(strength.blend(v, b, 0.0), F.normalize(v, dim=-1), atol=1e-6)
    assert torch.allclose(strength.blend(v, b, 1.0), b, atol=1e-6)


def test_the_choice_is_a_bridge_with_the_best_validation_score_and_ties_go_to_the_weaker():
    grid = strength.strengths((0, 199, 599), (0.5, 1.0))
    assert grid[0] == (199, 0.5) and (0, 0.5) not in grid  # t* = 0 is never a candidate
    g = pd.DataFrame(
        [{"t_start": t, "lambda": lam, "seen": 1.0, "pseudo-unseen": 2.0} for t, lam in grid]
    )
    g.loc[(g.t_start == 599) & (g["lambda"] == 0.5), "pseudo-unseen"] = 5.0
    g.loc[(g.t_start == 199) & (g["lambda"] == 1.0), "pseudo-unseen"] = (
        5.0  # tie: 199 * 1 < 599 * .5
    )
    c = strength.choose(g, {"seen": 0.0, "pseudo-unseen": 1.0}, "pseudo-unseen")
    assert (c.t_start, c.lam, c.by, c.gain) == (199, 1.0, "pseudo-unseen", 4.0)
    flat = strength.choose(
        g.assign(**{"pseudo-unseen": np.nan}), {"seen": 0.5, "pseudo-unseen": 1}, "pseudo-unseen"
    )
    # no pseudo class: seen decides
    assert flat.by == "seen" and (flat.t_start, flat.lam) == grid[0]
    with pytest.raises(ValueError, match="by must be one of"):
        strength.choose(g, {}, by="test")


def test_each_order_gets_the_strength_its_own_validation_chose(exp, text):
    """The plan's primary strength rule: neither order is bridged at the strength tuned for the other."""
    cfg, world, data, ctx, run = exp
    rows = text["rows"]
    assert len(rows) == len(consumers.KINDS) * 2 * (1 + 2 * len(twobytwo.DENOISERS))
    bridged = rows[rows.diffusion != "none"]
    assert (bridged.t_start > 0).all()  # a bridge, never "no bridge" in disguise
    # one strength per (consumer, order): the closed form is scored at the trained model's
    per_order = bridged.groupby(["kind", "consumer", "diffusion"])[["t_start", "lambda"]].nunique()
    assert (per_order == 1).all().all()
    assert (rows[rows.diffusion == "none"].t_start == 0).all()
    grid = text["grid"]
    n = len(strength.grid_of(cfg.bridge, ctx.frozen_test.shape[1]))
    assert len(grid) == len(consumers.KINDS) * 2 * n  # both orders, consumers of adapted text
    assert set(grid.consumer) == {"adapted"}
    # every adapted consumer's order sits at the best validation score of its own grid
    trained = bridged[(bridged.consumer == "adapted") & (bridged.denoiser == "trained MLP")]
    for _, r in trained.iterrows():
        g = grid[(grid.kind == r.kind) & (grid.diffusion == r.diffusion)]
        col = "val_" + r.chosen_by.replace("-", "_")
        best = g.loc[g[col].fillna(-np.inf).idxmax()]  # idxmax: the first (weakest) of ties
        assert (r.t_start, r["lambda"]) == (best.t_start, best["lambda"])
        assert r.unseen == best.unseen  # and its test features were bridged there (same scores)


def test_no_bridge_prototypes_score_like_chapter_1(exp, text):
    """The no-bridge prototype consumer is frozen CLIP scored against class means by CLIP's softmax."""
    from hoilib.ordering.methods import evaluate

    cfg, world, data, ctx, run = exp
    sp = run.space
    held = consumers.held_out_rows(sp.corpus_class, world.num_classes, cfg=cfg.consumers)
    z = F.normalize(sp.adapted_corpus[~held].double(), dim=-1)
    protos = F.normalize(
        consumers.class_means(z, sp.corpus_class[~held].long(), world.num_classes), dim=-1
    )
    plain = evaluate(ctx, ctx.frozen_test, protos.float(), scoring=ctx.frozen_scale)
    key = (cell_name("adapted", "none", kind="prototypes"), run.seed)
    assert np.allclose(text["ap"][key], plain.ap, equal_nan=True, atol=1e-6)


def test_no_text_only_consumer_sees_an_image_feature_while_it_trains(exp, monkeypatch):
    """Every tensor handed to a consumer's fit is a row subset of a text corpus, never an image feature."""
    cfg, world, data, ctx, run = exp
    seen_inputs, fitted = [], []
    real = consumers.fit_consumers

    def spy(specs, texts, corpus_class, *a, **k):
        # every tensor the fit receives: the texts of each spec, and the labels
        seen_inputs.extend(texts[space].detach().clone() for _, space in specs)
        fitted.extend(specs)
        return real(specs, texts, corpus_class, *a, **k)

    monkeypatch.setattr(consumers, "fit_consumers", spy)
    twobytwo.run_text(cfg, ctx, run)
    images = torch.cat(
        [ctx.frozen_test, strength.flat_pairs(data.val_bridge)[2], data.train.u[~data.train.pad]]
    )
    corpora = (run.space.raw_corpus, run.space.adapted_corpus)
    assert sorted(fitted) == sorted((k, s) for k in consumers.KINDS for s in ("raw", "adapted"))
    for x in seen_inputs:
        assert any(torch.equal(x, c) for c in corpora)
        d = torch.cdist(F.normalize(x.float(), dim=-1), F.normalize(images.float(), dim=-1))
        assert float(d.min()) > 1e-4  # no row of any image set


def test_no_choice_reads_any_test_label_path(exp, text, monkeypatch):
    """Issue 34: every choice chapter 5 makes (each order's strength for the text-only consumers and
    for EZ-HOI's head, each consumer's gate, the primary consumer, the dose-response's strengths) is
    the same with every test-label path scrambled: the ground truth the scorer reads, the context's
    pair classes and the test set's packed targets."""
    from hoilib.ordering import claims, experiment

    cfg, world, data, ctx, run = exp
    before_head = head.run_orders(cfg, ctx, run)["rows"]
    real = type(world.test).ground_truth
    rng = np.random.default_rng(0)

    def scrambled(ds):
        gt = real(ds)
        return dataclasses.replace(gt, hoi=rng.permutation(gt.hoi))

    monkeypatch.setattr(type(world.test), "ground_truth", scrambled)
    t = data.test.targets
    monkeypatch.setattr(
        data.test, "targets", t[torch.randperm(len(t), generator=torch.Generator().manual_seed(0))]
    )
    bad = dataclasses.replace(ctx, pos_cls=rng.permutation(ctx.pos_cls))
    after = twobytwo.run_text(cfg, bad, run)
    after_head = head.run_orders(cfg, bad, run)["rows"]
    cols = ["kind", "consumer", "diffusion", "denoiser", "t_start", "lambda", "chosen_by"]
    pd.testing.assert_frame_equal(text["rows"][cols], after["rows"][cols])
    hcols = ["diffusion", "t_start", "lambda"]
    pd.testing.assert_frame_equal(before_head[hcols], after_head[hcols])
    gate = lambda out: claims.controls(*experiment.text_frame([out]), data.unseen, cfg=cfg.claims)  # noqa: E731
    g0, g1 = gate(text), gate(after)
    assert list(g0.passes) == list(g1.passes) and np.allclose(
        g0["validation gain"], g1["validation gain"]
    )
    assert claims.primary(g0) == claims.primary(g1)
    # the dose-response's strength
    dose = [experiment.matched_strength(o["rows"], "Gaussian") for o in (text, after)]
    assert dose[0] == dose[1]
    # the test scores did move
    assert not np.allclose(text["rows"].unseen, after["rows"].unseen, equal_nan=True)


def test_the_head_setting_bridges_each_order_at_its_own_validated_strength(exp):
    from hoilib.ordering.methods import evaluate, ezhoi_head

    cfg, world, data, ctx, run = exp
    out = head.run_orders(cfg, ctx, run)
    rows = out["rows"]
    assert list(rows.diffusion) == list(head.ORDERS)
    plain = evaluate(ctx, run.vision, run.space.adapted, scoring=ezhoi_head(run)).as_percent()
    assert rows.iloc[0].full == pytest.approx(plain["full"]) and rows.iloc[0].t_start == 0
    g = out["grid"]
    for _, r in rows.iloc[1:].iterrows():  # raw, adapted: each at the best of its own grid
        assert r.t_start > 0
        mine = g[g.diffusion == r.diffusion]
        col = "val_" + r.chosen_by.replace("-", "_")
        best = mine.loc[mine[col].fillna(-np.inf).idxmax()]
        assert (r.t_start, r["lambda"]) == (best.t_start, best["lambda"])
    assert len(head.val_vision(run, data)) == int((~data.val_bridge.pad).sum())


def test_validation_scores_split_trained_and_pseudo_unseen_classes(exp):
    cfg, world, data, ctx, run = exp
    v = strength.Validation.of(data.val_bridge, data.unseen, data.pseudo)
    assert not (v.trained & v.pseudo).any() and not (v.trained & data.unseen).any()
    logits = torch.randn(len(v.pairs), world.num_classes)
    scores = v.scores(score_logits(logits, v.pairs, world.classes))
    assert set(scores) == {"seen", "pseudo-unseen"} and np.isfinite(scores["seen"])


def test_the_bridge_sections_t_grid_is_what_chapter_5_tries(exp):
    """``--set bridge.t_grid=[399]``: the text-only consumers and the head try t* = 399 and the
    noise-matched t* only, with the section's blend weights."""
    from hoilib.config import resolve
    from hoilib.models.diffusion.bridge import noise_matched_t

    cfg, world, data, ctx, run = exp
    assert resolve("smoke", {"bridge.t_grid": [399]}).bridge.t_grid == [399]
    narrow = cfg.updated({"bridge.t_grid": [399], "bridge.lambdas": [0.5], "consumers.steps": 20})
    tried = {399, noise_matched_t(ctx.frozen_test.shape[1])}
    out = twobytwo.run_text(narrow, ctx, run)
    assert set(out["grid"].t_start) == tried and set(out["grid"]["lambda"]) == {0.5}
    bridged = out["rows"][out["rows"].diffusion != "none"]
    assert set(bridged.t_start) <= tried and set(bridged["lambda"]) == {0.5}
    heads = head.run_orders(narrow, ctx, run)["grid"]
    assert set(heads.t_start) == tried and set(heads["lambda"]) == {0.5}
