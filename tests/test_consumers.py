"""Text-only consumers on hand-made text: fitted to held-out text, never touching anything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.config.schema import ConsumersCfg
from hoilib.ordering import consumers

CLASSES = [(0, 0), (1, 0), (0, 1), (1, 1)]  # (verb, object)
FIT = ConsumersCfg()  # the schema's defaults


def _corpus(n_sets=10, dim=16, spread=0.15, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(len(CLASSES), dim, generator=g), dim=-1)
    rows = [centres + spread * torch.randn(len(CLASSES), dim, generator=g) for _ in range(n_sets)]
    return torch.cat(rows), torch.arange(len(CLASSES)).repeat(n_sets), centres


def test_held_out_rows_are_whole_sentence_sets():
    _, cls, _ = _corpus()
    held = consumers.held_out_rows(cls, len(CLASSES), cfg=FIT)
    per_set = held.view(-1, len(CLASSES))
    assert (per_set.all(dim=1) | ~per_set.any(dim=1)).all() and int(per_set.all(dim=1).sum()) == 2
    assert torch.equal(held, consumers.held_out_rows(cls, len(CLASSES), cfg=FIT))
    # the share and the seed are the consumers section's
    half = consumers.held_out_rows(
        cls, len(CLASSES), cfg=FIT.model_copy(update={"held_out_share": 0.5})
    )
    assert int(half.view(-1, len(CLASSES)).all(dim=1).sum()) == 5
    other = consumers.held_out_rows(
        cls, len(CLASSES), cfg=FIT.model_copy(update={"held_out_seed": 1})
    )
    assert not torch.equal(held, other)
    with pytest.raises(ValueError, match="whole sets"):
        consumers.held_out_rows(cls[:-1], len(CLASSES), cfg=FIT)


def fit_one(kind, corpus, cls, n, held, space, scale=100.0, steps=3000, seed=0, **cfg):
    """One consumer through ``fit_consumers``, the only way the chapters fit them."""
    fits = consumers.fit_consumers(
        [(kind, space)],
        {space: corpus},
        cls,
        n_classes=n,
        held=held,
        cfg=FIT.model_copy(update={"steps": steps, **cfg}),
        scale=scale,
        seed=seed,
    )
    return fits[(kind, space)]


@pytest.mark.parametrize("kind", consumers.KINDS)
def test_every_kind_learns_the_text_and_keeps_its_best_held_out_fit(kind):
    corpus, cls, centres = _corpus()
    held = consumers.held_out_rows(cls, len(CLASSES), cfg=FIT)
    c = fit_one(kind, corpus, cls, len(CLASSES), held, "raw", scale=30, steps=200)
    assert consumers.text_accuracy(c, corpus[held], cls[held], classes=CLASSES) == 1.0
    assert np.isfinite(c.held_out_loss) and c.kind == kind
    assert c.logits(torch.randn(5, 16)).shape == (5, len(CLASSES))
    if kind in ("linear", "MLP"):
        assert c.chosen.startswith("step ")
    if kind == "Gaussian":
        assert c.chosen.startswith("shrinkage ")
    with pytest.raises(ValueError, match="consumer kind"):
        fit_one("kNN", corpus, cls, len(CLASSES), held, "raw")


def test_a_fit_depends_only_on_its_text_and_seed():
    corpus, cls, _ = _corpus()
    held = consumers.held_out_rows(cls, len(CLASSES), cfg=FIT)
    x = torch.randn(7, 16)
    a = fit_one("MLP", corpus, cls, len(CLASSES), held, "raw", steps=100, seed=3)
    b = fit_one("MLP", corpus, cls, len(CLASSES), held, "raw", steps=100, seed=3)
    assert torch.equal(a.logits(x), b.logits(x))


def test_accuracy_counts_any_label_among_the_valid_classes():
    logits = torch.tensor([[5.0, 1.0, 9.0, 0.0], [0.0, 2.0, 1.0, 3.0]])
    valid = torch.tensor([[True, True, False, False], [False, False, True, True]])
    correct = torch.tensor([[True, False, True, False], [False, False, True, False]])
    # row 0 right (class 0), row 1 wrong (3)
    assert consumers.accuracy(logits, valid, correct) == 0.5


def test_class_means_name_a_missing_class():
    with pytest.raises(ValueError, match=r"no corpus vector for classes \[2\]"):
        consumers.class_means(torch.ones(2, 3), torch.tensor([0, 1]), 3)


def test_the_fit_reads_its_settings_from_the_consumers_section():
    """Steps, check interval and shrinkages come from the section: no hidden module constant."""
    corpus, cls, _ = _corpus()
    held = consumers.held_out_rows(cls, len(CLASSES), cfg=FIT)
    mlp = fit_one("MLP", corpus, cls, len(CLASSES), held, "raw", steps=30, check_every=7)
    assert mlp.chosen.endswith("of 30") and int(mlp.chosen.split()[1]) in (7, 14, 21, 28, 30)
    one = fit_one("Gaussian", corpus, cls, len(CLASSES), held, "raw", shrinkage=[0.42])
    assert one.chosen == "shrinkage 0.42"
