"""The text-only consumer and the bridge strength chosen on validation (issue 11, items 2 and 3)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.ordering import strength
from hoilib.ordering import twobytwo as consumer


@pytest.fixture(scope="module")
def exp(tiny_experiment):
    return tiny_experiment


def test_prototypes_are_unit_class_means_and_name_a_missing_class():
    corpus = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    p = consumer.prototypes(corpus, torch.tensor([0, 0, 1]), 2)
    assert torch.allclose(p, torch.tensor([[2**-0.5, 2**-0.5], [1.0, 0.0]]), atol=1e-6)
    with pytest.raises(ValueError, match=r"corpus_class: no corpus vector for classes \[2\]"):
        consumer.prototypes(corpus, torch.tensor([0, 0, 1]), 3)


def test_blend_ends_are_the_input_and_the_bridge():
    v, b = torch.randn(4, 8), F.normalize(torch.randn(4, 8), dim=-1)
    assert torch.allclose(strength.blend(v, b, 0.0), F.normalize(v, dim=-1), atol=1e-6)
    assert torch.allclose(strength.blend(v, b, 1.0), b, atol=1e-6)


def test_choice_takes_the_best_validation_score_and_ties_go_to_the_weaker_bridge():
    v = torch.randn(5, 4)
    target = F.normalize(torch.ones(5, 4), dim=-1)
    choice = strength.choose_strength(
        v,
        lambda t: target,
        lambda f: float((f * target).sum()),
        t_grid=(0, 199, 599),
        lambdas=(0.5, 1.0),
    )
    assert (choice.t_start, choice.lam) == (
        199,
        1.0,
    )  # t=199 and t=599 tie at lambda 1: the weaker wins
    assert len(choice.grid) == 1 + 2 * 2 and choice.val_map == pytest.approx(
        choice.grid.val_map.max()
    )
    flat = strength.choose_strength(v, lambda t: target, lambda f: 1.0, t_grid=(0, 599))
    assert (flat.t_start, flat.lam) == (0, 0.0)  # nothing helps: no bridge


@pytest.fixture(scope="module")
def two_by_two(exp):
    cfg, world, data, ctx, run = exp
    return consumer.run_2x2(cfg, ctx, run, data, world)


def test_2x2_runs_and_the_no_bridge_cells_are_the_plain_consumer(exp, two_by_two):
    cfg, world, data, ctx, run = exp
    df, choices, ap = two_by_two
    cells = consumer.cells()
    assert len(df) == len(cells) == 2 * (1 + 2 * len(consumer.DENOISERS))
    assert list(zip(df.consumer, df.diffusion, df.denoiser, strict=True)) == cells
    assert (df[df.diffusion == "none"].t_start == 0).all()
    assert df[["full", "seen"]].notna().all().all()
    for (_, d, _, _), ch in choices.items():
        assert set(ch.grid.t_start) == ({0} if d == "none" else set(strength.T_GRID))
    # the no-bridge cell is the plain prototype consumer on frozen features
    from hoilib.ordering.methods import evaluate

    protos = consumer.prototypes(
        run.space.adapted_corpus, run.space.corpus_class, world.num_classes
    )
    plain = evaluate(ctx, ctx.frozen_test, protos, ctx.frozen_scale)
    row = df[(df.consumer == "adapted") & (df.diffusion == "none")].iloc[0]
    assert row.full == pytest.approx(plain.as_percent()["full"])
    assert np.allclose(ap[("adapted", "none", "none", run.seed)], plain.ap, equal_nan=True)


def test_object_mask_keeps_the_classes_of_the_pairs_object():
    classes = [(0, 0), (1, 0), (0, 1)]
    m = consumer.object_mask(np.array([0, 1]), torch.tensor([0, 1, 2, 2]), classes)
    assert m.tolist() == [[True, True, False, False], [False, False, True, True]]


def test_validated_head_setting_runs_and_no_bridge_is_the_model(exp):
    from hoilib.ordering import head as head_bridge
    from hoilib.ordering.methods import evaluate, ezhoi_head

    cfg, world, data, ctx, run = exp
    df, choices, ap = head_bridge.run_orders(cfg, ctx, run, data)
    assert list(df.diffusion) == list(head_bridge.ORDERS)
    plain = evaluate(ctx, run.vision, run.space.adapted, ezhoi_head(run)).as_percent()
    assert df.iloc[0].full == pytest.approx(plain["full"]) and df.iloc[0].t_start == 0
    assert len(head_bridge.val_vision(run, data)) == int((~data.val.pad).sum())


def test_the_choice_never_reads_test_labels(exp):
    """Scrambling every test label (and the test features' order) leaves every chosen (t*, lambda) as it was."""
    cfg, world, data, ctx, run = exp
    _, before, _ = consumer.run_2x2(cfg, ctx, run, data, world)
    rng = np.random.default_rng(0)
    scrambled_targets = data.test.targets[
        ..., torch.as_tensor(rng.permutation(data.test.targets.shape[-1]))
    ]
    bad = dataclasses.replace(data, test=dataclasses.replace(data.test, targets=scrambled_targets))
    bad_ctx = dataclasses.replace(
        ctx,
        data=bad,
        pos_cls=rng.permutation(ctx.pos_cls),
        frozen_test=ctx.frozen_test[torch.as_tensor(rng.permutation(len(ctx.frozen_test)))],
    )
    _, after, _ = consumer.run_2x2(cfg, bad_ctx, run, bad, world)
    assert {k: (c.t_start, c.lam) for k, c in before.items()} == {
        k: (c.t_start, c.lam) for k, c in after.items()
    }
