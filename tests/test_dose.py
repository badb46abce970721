"""The dose-response: target spaces between raw and adapted text, bridged by the closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.ordering import dose, twobytwo
from hoilib.ordering.bridges import CLOSED_FORM, MLP, BridgeCache


def test_blended_spaces_run_from_raw_through_adapted():
    raw, ad = torch.randn(6, 8), torch.randn(6, 8)
    assert torch.allclose(dose.blended(raw, ad, 0.0), F.normalize(raw, dim=-1), atol=1e-6)
    assert torch.allclose(dose.blended(raw, ad, 1.0), F.normalize(ad, dim=-1), atol=1e-6)
    assert torch.allclose(dose.blended(raw, ad, 1.5).norm(dim=-1), torch.ones(6), atol=1e-6)


def test_at_alpha_zero_both_orders_are_one_bridge(tiny_experiment):
    cfg, world, data, ctx, run = tiny_experiment
    cfg = cfg.updated({"evaluation.dose_alphas": [0.0, 1.0]})
    cache = BridgeCache.of(cfg.bridge, ctx)
    rows, ap = dose.run_dose(
        ctx,
        run,
        "Gaussian",
        strength=(599, 0.5),
        alphas=cfg.evaluation.dose_alphas,
        consumers_cfg=cfg.consumers,
        cache=cache,
    )
    r0 = rows[rows.alpha == 0.0].iloc[0]
    assert r0["linear CKA"] == pytest.approx(1.0) and r0.t_start > 0
    assert np.allclose(ap[(0.0, "correct", run.seed)], ap[(0.0, "wrong", run.seed)], equal_nan=True)
    assert rows[rows.alpha == 1.0]["linear CKA"].iloc[0] < 1.0
    s = dose.summary(rows, ap, data.unseen, cfg=cfg.claims)
    assert s.loc[s.alpha == 0.0, "mean"].iloc[0] == 0.0 and list(s.alpha) == [0.0, 1.0]


def test_the_cache_keeps_each_set_once_and_the_seedless_rule(tiny_experiment):
    """A closed-form set with the direct recipe serves every seed (no noise is drawn); sdedit's
    and the trained model's sets are a seed's own."""
    cfg, world, data, ctx, run = tiny_experiment
    sp = run.space
    fp = sp.meta["raw_fingerprint"]
    cache = BridgeCache.of(cfg.bridge, ctx)
    wrong = cache.closed_form(sp.raw_corpus, fp, "raw")
    assert cache.closed_form(sp.raw_corpus, fp, "raw") is wrong and list(cache.denoisers) == [fp]
    a = cache.bridged(wrong, CLOSED_FORM, seed=0, t=599, where="test")
    assert cache.bridged(wrong, CLOSED_FORM, seed=1, t=599, where="test") is a
    assert [k.seed for k in cache.sets] == [None] and a.shape == ctx.frozen_test.shape
    cache.bridged(run.raw, MLP, seed=run.seed, t=599, where="val")
    assert {k.seed for k in cache.sets} == {None, run.seed}
    noisy = BridgeCache.of(cfg.bridge.model_copy(update={"recipe": "sdedit"}), ctx)
    w = noisy.closed_form(sp.raw_corpus, fp, "raw")
    b0 = noisy.bridged(w, CLOSED_FORM, seed=0, t=599, where="test")
    b1 = noisy.bridged(w, CLOSED_FORM, seed=1, t=599, where="test")
    assert not torch.equal(b0, b1) and {k.seed for k in noisy.sets} == {0, 1}
    with pytest.raises(ValueError, match="where in"):
        cache.bridged(wrong, CLOSED_FORM, seed=0, t=599, where="train")
    with pytest.raises(ValueError, match="expected cfg.bridge"):  # a cache bridged another way
        twobytwo.run_text(cfg.updated({"bridge.recipe": "sdedit"}), ctx, run, cache=cache)
