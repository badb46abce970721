"""Chapter 5's experiment on the tiny world: every method runs, 'no bridge' is chapter 2's model,
the tests judge honestly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hoilib.measure import paired
from hoilib.models.diffusion.bridge import OrderError
from hoilib.models.ezhoi.ezhoi_stage import evaluate_model
from hoilib.ordering import methods as ordering


@pytest.fixture(scope="module")
def exp(tiny_experiment):
    return tiny_experiment


def test_no_bridge_row_is_the_trained_model(exp):
    cfg, world, data, ctx, run = exp
    v, t, scale = ordering.method_features(cfg, "EZ-HOI, no bridge", run, ctx)
    ours = ordering.evaluate(ctx, v, t, scale).as_percent()
    # sigmoid(scale * cos + bias): same ranking within each class
    theirs = evaluate_model(run.model, world, data)
    for k in ("full", "seen", "unseen"):
        assert ours[k] == pytest.approx(theirs[k], abs=1e-9), k


def test_every_method_gives_unit_features_for_every_test_pair(exp):
    cfg, world, data, ctx, run = exp
    df, ap, feats = ordering.run_table(cfg, ctx, [run])
    assert list(dict.fromkeys(df.method)) == list(ordering.METHODS)
    for (name, _), (v, t) in feats.items():
        assert v.shape == (len(data.test_pairs), v.shape[1]) and t.shape == (
            world.num_classes,
            v.shape[1],
        ), name
        assert torch.allclose(v.norm(dim=-1), torch.ones(len(v)), atol=1e-4), name
    assert not torch.allclose(feats[(ordering.CORRECT, 0)][0], feats[(ordering.WRONG, 0)][0])
    assert all(np.isfinite(df[c]).all() for c in ("full", "seen"))


def test_wrong_order_needs_the_explicit_mismatch(exp):
    cfg, world, data, ctx, run = exp
    vmean = ordering.modality_mean(run.train_vision)
    with pytest.raises(OrderError, match="wrong-order ablation"):
        ordering.bridged(cfg, run.raw, run.vision, vmean, run.space.fingerprint)
    # correct order: allowed
    ordering.bridged(cfg, run.adapted, run.vision, vmean, run.space.fingerprint)
    # raw everywhere
    ordering.bridged(
        cfg, run.raw, ctx.frozen_test, ctx.frozen_train_mean, run.space.meta["raw_fingerprint"]
    )


def test_sweep_at_t_zero_equals_no_bridge(exp):
    cfg, world, data, ctx, run = exp
    sw = ordering.sweep(cfg, ctx, run, [0, 599], [1], recipes=("direct",))
    none = ordering.evaluate(
        ctx, run.vision, run.space.adapted, ordering.ezhoi_head(run)
    ).as_percent()
    at0 = sw[(sw.t_start == 0)]
    assert len(at0) == 2 and np.allclose(at0.full, none["full"])  # both orders
    assert set(sw.steps) == {1, cfg.bridge.steps}


def test_explorer_state_and_figure(exp):
    cfg, world, data, ctx, run = exp
    from hoilib.chapters.explorer import BridgeExplorer

    ex = BridgeExplorer(cfg, run, ctx)
    pairs = ex.example_pairs(2)
    assert pairs and all(p in set(ctx.pos.tolist()) for p in pairs)
    s0 = ex.state(pairs[0], 0)
    assert s0["cos_to_input"] == pytest.approx(1.0, abs=1e-5)  # t* = 0: the feature does not move
    assert 1 <= len(s0["top"]) <= 5 and s0["top"]["score"].is_monotonic_decreasing
    assert ex.state(pairs[0], 599)["cos_to_input"] < 0.999
    w = ex.widget()
    (cls, pair), t = w.children[0].children, w.children[1]
    names = {ex.names[c] for c in ctx.pos_cls.tolist()}
    assert {
        o.removesuffix(" (unseen)") for o in cls.options
    } == names  # every annotated class, once
    assert (t.min, t.max, t.value) == (0, 999, cfg.bridge.t_start)
    assert set(pair.options) <= set(ctx.pos.tolist())
    for option in cls.options:  # choosing a class offers exactly its annotated pairs
        cls.value = option
        want = {
            p
            for p, c in zip(ctx.pos.tolist(), ctx.pos_cls.tolist(), strict=False)
            if option.startswith(ex.names[c]) and option.removesuffix(" (unseen)") == ex.names[c]
        }
        assert set(pair.options) == want
    import matplotlib.pyplot as plt

    open_figures = len(plt.get_fignums())
    t.value = 0  # redraws through the observer without raising
    assert len(plt.get_fignums()) == open_figures  # and closes what it drew


def _frame(a_vals, b_vals):
    rows = [
        {"method": m, "seed": s, "full": v, "seen": v, "unseen": v}
        for m, vals in (("a", a_vals), ("b", b_vals))
        for s, v in enumerate(vals)
    ]
    return pd.DataFrame(rows)


def test_paired_tests():
    rng = np.random.default_rng(0)
    unseen = np.zeros(40, dtype=bool)
    unseen[:20] = True
    base = rng.uniform(0.2, 0.6, size=(3, 40))
    ap = {("a", s): base[s] for s in range(3)} | {("b", s): base[s] + 0.05 for s in range(3)}
    df = _frame([10, 11, 12], [15, 16, 17])
    t = paired.paired_tests(df, ap, "a", "b", unseen)
    assert t.loc["unseen", "mean difference (points)"] == pytest.approx(5.0)
    assert (
        t.loc["unseen", "classes where b > a"] == 20
        and t.loc["unseen", "Wilcoxon p (classes)"] < 0.05
    )
    same = {("a", s): base[s] for s in range(3)} | {("b", s): base[s] for s in range(3)}
    flat = paired.paired_tests(_frame([10, 11, 12], [10, 11, 12]), same, "a", "b", unseen)
    assert np.isnan(flat.loc["unseen", "Wilcoxon p (classes)"])
    assert flat.loc["unseen", "mean difference (points)"] == 0.0
