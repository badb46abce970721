"""The text-only consumer and the bridge strength chosen on validation (issue 11, items 2 and 3)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.chapters import consumer


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
    assert torch.allclose(consumer.blend(v, b, 0.0), F.normalize(v, dim=-1), atol=1e-6)
    assert torch.allclose(consumer.blend(v, b, 1.0), b, atol=1e-6)


def test_choice_takes_the_best_validation_score_and_ties_go_to_the_weaker_bridge():
    v = torch.randn(5, 4)
    target = F.normalize(torch.ones(5, 4), dim=-1)
    choice = consumer.choose_strength(
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
    flat = consumer.choose_strength(v, lambda t: target, lambda f: 1.0, t_grid=(0, 599))
    assert (flat.t_start, flat.lam) == (0, 0.0)  # nothing helps: no bridge


def test_2x2_runs_and_the_no_bridge_cells_are_the_plain_consumer(exp):
    cfg, world, data, ctx, run = exp
    df, choices = consumer.run_2x2(cfg, ctx, run, data, world)
    assert len(df) == len(consumer.CONSUMERS) * len(consumer.DIFFUSIONS)
    assert set(zip(df.consumer, df.diffusion, strict=True)) == {
        (c, d) for c in consumer.CONSUMERS for d in consumer.DIFFUSIONS
    }
    assert (df[df.diffusion == "none"].t_start == 0).all()
    assert df[["full", "seen"]].notna().all().all()
    for (_, d, _), ch in choices.items():
        assert set(ch.grid.t_start) == ({0} if d == "none" else set(consumer.T_GRID))


def test_the_choice_never_reads_test_labels(exp):
    """Scrambling every test label (and the test features' order) leaves every chosen (t*, lambda) as it was."""
    cfg, world, data, ctx, run = exp
    _, before = consumer.run_2x2(cfg, ctx, run, data, world)
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
    _, after = consumer.run_2x2(cfg, bad_ctx, run, bad, world)
    assert {k: (c.t_start, c.lam) for k, c in before.items()} == {
        k: (c.t_start, c.lam) for k, c in after.items()
    }
