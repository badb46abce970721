"""Pseudo-unseen classes and the two held-out image sets (issue 18, item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from hoilib.data.pseudo import pseudo_unseen
from hoilib.data.synth.vocab import VERBS, hoi_classes


@pytest.fixture(scope="module")
def classes():
    cls = hoi_classes()
    counts = np.arange(len(cls))[::-1] + 1  # class 0 most frequent
    rare = counts < 10
    return cls, counts, rare


@pytest.mark.parametrize("split", ["uv", "uo", "rf-uc", "nf-uc"])
def test_pseudo_unseen_classes_are_seen_and_picked_as_the_split_picks(classes, split):
    cls, counts, rare = classes
    unseen = np.zeros(len(cls), bool)
    unseen[[c for c, (v, o) in enumerate(cls) if o == 0]] = True  # object 0 unseen, say
    p = pseudo_unseen(cls, counts, rare, unseen=unseen, split=split, verbs=VERBS)
    assert p.any() and not (p & unseen).any()
    again = pseudo_unseen(cls, counts, rare, unseen=unseen, split=split, verbs=VERBS)
    assert np.array_equal(p, again)  # fixed
    picked = np.flatnonzero(p)
    if split in ("uv", "uo"):  # whole verbs or objects, every seen class of them
        axis = 0 if split == "uv" else 1
        keys = {cls[c][axis] for c in picked}
        assert p.sum() == sum(not unseen[c] and cls[c][axis] in keys for c in range(len(cls)))
        if split == "uv":
            assert not {VERBS[k] for k in keys} & {"no_interaction", "look_at"}
    else:
        assert p.sum() == round(0.1 * len(cls))
        for c in picked:  # every pick keeps its verb and object seen in another class
            v, o = cls[c]
            others = [j for j in range(len(cls)) if not unseen[j] and not p[j]]
            assert any(cls[j][0] == v for j in others) and any(cls[j][1] == o for j in others)
    if split == "rf-uc":  # the rarest seen classes first
        assert counts[p].max() <= np.sort(counts[~unseen & ~p]).max()
        assert counts[p].min() == counts[~unseen].min()
    assert not pseudo_unseen(
        cls, counts, rare, unseen=unseen, split=split, verbs=VERBS, share=0.0
    ).any()


def test_split_data_holds_out_two_disjoint_image_sets_and_pseudo_positives(tiny_experiment):
    cfg, world, data, ctx, run = tiny_experiment
    imgs = [set(map(int, s.image)) for s in (data.train, data.val, data.val_bridge)]
    assert not (imgs[0] & imgs[1]) and not (imgs[0] & imgs[2]) and not (imgs[1] & imgs[2])
    assert sum(map(len, imgs)) == len(set(map(int, world.train_pairs().image)))
    assert not (data.trained & data.unseen).any() and not (data.trained & data.pseudo).any()
    # unseen annotations are gone from every training-split set; pseudo-unseen ones are kept
    for s in (data.train, data.val, data.val_bridge):
        assert s.targets[..., np.flatnonzero(data.unseen)].sum() == 0


def test_pseudo_unseen_labels_never_reach_the_loss(tiny_experiment, trained_states):
    """Scrambling the pseudo-unseen targets of the training set changes no trained weight."""
    import torch

    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone

    cfg, world, data, ctx, run = tiny_experiment
    pseudo = torch.as_tensor(np.flatnonzero(data.pseudo))
    noisy = data.train.subset(np.arange(len(data.train)))
    noisy.targets = noisy.targets.clone()
    noisy.targets[..., pseudo] = 1.0 - noisy.targets[..., pseudo]
    assert len(pseudo) and not torch.equal(noisy.targets, data.train.targets)
    bb = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    out = trained_states(cfg, bb, world, (data.train, noisy), data.val, data.trained, epochs=1)
    for k in out[0]:
        assert torch.equal(out[0][k], out[1][k]), k
