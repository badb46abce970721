"""Chapter 5's experiment on the tiny world: every method runs, 'no bridge' is chapter 2's model,
the tests judge honestly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hoilib.errors import ArtifactError
from hoilib.measure import paired
from hoilib.models.diffusion.bridge import OrderError
from hoilib.models.ezhoi.ezhoi_stage import evaluate_model
from hoilib.ordering import labels
from hoilib.ordering import methods as ordering
from hoilib.ordering.experiment import OrderingTables


@pytest.fixture(scope="module")
def exp(tiny_experiment):
    return tiny_experiment


def test_no_bridge_row_is_the_trained_model(exp):
    cfg, world, data, ctx, run = exp
    v, t, scale = ordering.method_features(cfg, labels.NONE, run, ctx=ctx)
    ours = ordering.evaluate(ctx, v, t, scoring=scale).as_percent()
    # sigmoid(scale * cos + bias): same ranking within each class
    theirs = evaluate_model(run.model, world, data)
    for k in labels.MAP_COLS:
        assert ours[k] == pytest.approx(theirs[k], abs=1e-9), k


def test_every_method_gives_unit_features_for_every_test_pair(exp):
    cfg, world, data, ctx, run = exp
    df, ap, feats = ordering.run_table(cfg, ctx, [run])
    assert list(dict.fromkeys(df.method)) == [m.label for m in labels.METHODS]
    assert set(ap) == {(m.label, s) for m, s in feats}  # APs by label, features by method
    for (name, _), (v, t) in feats.items():
        assert v.shape == (len(data.test_pairs), v.shape[1]) and t.shape == (
            world.num_classes,
            v.shape[1],
        ), name
        assert torch.allclose(v.norm(dim=-1), torch.ones(len(v)), atol=1e-4), name
    assert not torch.allclose(feats[(ordering.CORRECT, 0)][0], feats[(ordering.WRONG, 0)][0])
    assert all(np.isfinite(df[c]).all() for c in ("full", "seen"))


def test_method_features_dispatch_on_the_method_not_its_label(exp):
    cfg, world, data, ctx, run = exp
    with pytest.raises(ValueError, match="unknown method"):
        ordering.method_features(cfg, labels.NONE.label, run, ctx=ctx)  # a label is not a method
    v, t, _ = ordering.method_features(cfg, labels.CORRECT_MATCHED, run, ctx=ctx)
    w, _, _ = ordering.method_features(cfg, labels.CORRECT, run, ctx=ctx)
    assert t is run.space.adapted and not torch.allclose(v, w)  # its own t*: not the fixed one
    _, raw_text, scale = ordering.method_features(cfg, labels.RAW_EVERYWHERE, run, ctx=ctx)
    assert raw_text is run.space.raw and scale == ctx.frozen_scale


def test_wrong_order_needs_the_explicit_mismatch(exp):
    cfg, world, data, ctx, run = exp
    vmean = ordering.modality_mean(run.train_vision)
    with pytest.raises(OrderError, match="wrong-order ablation"):
        ordering.bridged(
            cfg,
            run.raw,
            run.vision,
            vision_mean=vmean,
            fingerprint=run.space.fingerprint,
            seed=run.seed,
        )
    # correct order: allowed
    ordering.bridged(
        cfg,
        run.adapted,
        run.vision,
        vision_mean=vmean,
        fingerprint=run.space.fingerprint,
        seed=run.seed,
    )
    # raw everywhere
    ordering.bridged(
        cfg,
        run.raw,
        ctx.frozen_test,
        vision_mean=ctx.frozen_train_mean,
        fingerprint=run.space.meta["raw_fingerprint"],
        seed=run.seed,
    )


def test_sweep_at_t_zero_equals_no_bridge(exp):
    cfg, world, data, ctx, run = exp
    sw = ordering.sweep(cfg, ctx, run, t_starts=[0, 599], steps_list=[1], recipes=("direct",))
    none = ordering.evaluate(
        ctx, run.vision, run.space.adapted, scoring=ordering.ezhoi_head(run)
    ).as_percent()
    at0 = sw[(sw.t_start == 0)]
    assert len(at0) == 2 and np.allclose(at0.full, none["full"])  # both orders
    assert set(sw.steps) == {1, cfg.bridge.steps}


def test_explorer_state_and_figure(exp):
    cfg, world, data, ctx, run = exp
    from hoilib.figures.explorer import BridgeExplorer

    ex = BridgeExplorer(cfg, run, ctx)
    by_class = ex.pairs_by_class()
    pairs = [found[0] for found in by_class.values()][:2]
    assert pairs and all(p in set(ctx.pos.tolist()) for p in pairs)
    # unseen classes first, then by name; the labels say which are unseen
    new = [label.endswith(" (unseen)") for label in by_class]
    assert new == sorted(new, reverse=True) and any(new)
    assert sum(map(len, by_class.values())) == len(ctx.pos)
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
    assert list(cls.options) == list(by_class)
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
    t = paired.paired_tests(df, ap, "a", b="b", unseen=unseen)
    assert t.loc["unseen", "mean difference (points)"] == pytest.approx(5.0)
    assert (
        t.loc["unseen", "classes where b > a"] == 20
        and t.loc["unseen", "Wilcoxon p (classes)"] < 0.05
    )
    same = {("a", s): base[s] for s in range(3)} | {("b", s): base[s] for s in range(3)}
    flat = paired.paired_tests(_frame([10, 11, 12], [10, 11, 12]), same, "a", b="b", unseen=unseen)
    assert np.isnan(flat.loc["unseen", "Wilcoxon p (classes)"])
    assert flat.loc["unseen", "mean difference (points)"] == 0.0


# the row labels the published metrics files hold: a registry edit must not rename one
PUBLISHED = {
    "frozen": "frozen CLIP, no bridge",
    "raw_everywhere": "frozen CLIP + raw-trained bridge (raw everywhere)",
    "none": "EZ-HOI, no bridge",
    "softmax": "EZ-HOI, softmax at CLIP's temperature",
    "wrong": "EZ-HOI + raw-trained bridge (wrong order)",
    "correct": "EZ-HOI + adapted-trained bridge (correct order)",
    "wrong_matched": "EZ-HOI + raw-trained bridge (wrong order), noise-matched t*",
    "correct_matched": "EZ-HOI + adapted-trained bridge (correct order), noise-matched t*",
    "mean_center": "EZ-HOI + mean-centering (C3)",
    "capdec": "EZ-HOI + CapDec noise",
    "decap": "EZ-HOI + DeCap projection",
    "procrustes": "EZ-HOI + Procrustes",
}


def test_the_method_registry_keeps_the_published_labels_in_table_order():
    assert {m.key: m.label for m in labels.METHODS} == PUBLISHED
    assert [m.key for m in labels.METHODS] == list(PUBLISHED)  # the chapter's table order
    assert labels.BY_LABEL == {m.label: m for m in labels.METHODS}
    assert labels.fixed_pairs()["correct - wrong"] == (PUBLISHED["wrong"], PUBLISHED["correct"])


def _tables(**over) -> OrderingTables:
    frame = pd.DataFrame({"method": ["a"], "seed": [0], "unseen": [1.5]})
    aps = {f: {(f, 0): np.array([0.5, np.nan])} for f in ("ap", "text_ap", "head_ap")}
    fields = {f: frame for f in ("per_seed", "sweep", "text", "text_grid", "gapcost")}
    fields |= {f: frame for f in ("controls", "head", "head_grid", "dose", "geometry")}
    fields |= aps | {"dose_ap": {(0.5, "correct", 0): np.array([0.25])}, "dose_kind": "MLP"}
    return OrderingTables(**(fields | {"gaps": pd.DataFrame({"mmd2": [0.1]}, index=["a"])} | over))


def test_the_chapters_tables_survive_the_memos_exact_json():
    import json

    from hoilib import artifacts, exactjson

    tables = _tables(per_seed=pd.DataFrame({"method": ["b"], "seed": [1], "unseen": [2.0]}))
    stored = artifacts.dumps_json(exactjson.encode(tables.to_dict()), compact=True)  # as memo does
    back = OrderingTables.from_dict(exactjson.decode(json.loads(stored)))
    assert back.per_seed.equals(tables.per_seed) and back.dose_kind == "MLP"
    assert list(back.head_ap) == [("head_ap", 0)]
    assert np.array_equal(back.head_ap[("head_ap", 0)], [0.5, np.nan], equal_nan=True)
    stale = tables.to_dict()
    del stale["gaps"]
    with pytest.raises(ArtifactError, match="gaps"):
        OrderingTables.from_dict(stale)


def test_the_metrics_records_hold_every_per_class_ap_under_its_row_name():
    rec = _tables().records()
    assert rec["per_class_ap"] == [
        {"method": m, "seed": 0, "ap": [0.5, None]} for m in ("ap", "text_ap", "head_ap")
    ]
    assert rec["dose_ap"] == [{"alpha": 0.5, "order": "correct", "seed": 0, "ap": [0.25]}]
    assert rec["gaps"] == [{"method": "a", "mmd2": 0.1}]
