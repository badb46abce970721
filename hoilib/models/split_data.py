"""A split's pairs for every chapter: EZ-HOI's training images, two disjoint held-out sets, the test set.

``split_data`` removes the split's unseen classes from training, holds seen classes out as
pseudo-unseen validation classes (``data.pseudo``), draws the two held-out image sets (one
chooses EZ-HOI's epoch, the other chapter 5's bridge strengths) and packs the frozen-CLIP
features of every pair (``models.features``, cached).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hoilib.config import Params, resolve_device, stage_root
from hoilib.data.annotations import PairSet
from hoilib.data.pseudo import pseudo_unseen
from hoilib.data.world import World
from hoilib.models.backbone import Backbone
from hoilib.models.ezhoi.pairs import PairTensors, pack_pairs
from hoilib.models.features import extract_pair_features


@dataclass(kw_only=True)
class SplitData:
    """A split's pairs: EZ-HOI's training images, two disjoint held-out image sets, and the test set.

    ``val`` chooses EZ-HOI's best epoch; ``val_bridge`` (other images) chooses chapter 5's
    bridge strengths. ``pseudo`` marks seen classes held out of EZ-HOI's training
    (``data.splits.pseudo_unseen``): their annotations stay in the held-out sets, so a
    choice made for unseen classes can be validated on classes the model never trained on.
    """

    split: str
    unseen: np.ndarray
    train: PairTensors
    val: PairTensors
    test: PairTensors
    test_pairs: PairSet
    test_feats: dict
    pseudo: np.ndarray | None = None
    val_bridge: PairTensors | None = None

    @property
    def trained(self) -> np.ndarray:
        """The classes EZ-HOI's loss sees: seen and not pseudo-unseen."""
        pseudo = np.zeros_like(self.unseen) if self.pseudo is None else self.pseudo
        return ~self.unseen & ~pseudo


def split_data(cfg: Params, world: World, backbone: Backbone, *, split: str) -> SplitData:
    """Seen-class training pairs (unseen annotations removed), two held-out image sets, and the test pairs."""
    unseen = world.unseen(split)
    pseudo = pseudo_unseen(
        world.classes,
        world.n_train,
        world.rare,
        unseen=unseen,
        split=split,
        verbs=world.test.verbs,
        share=cfg.ezhoi.pseudo_unseen_share,
    )
    train_ds = world.train.without_classes(np.flatnonzero(unseen))
    device = resolve_device(cfg.run.device)
    cache = stage_root(cfg.run) / "features"
    tr_pairs = world.train_pairs()
    tr_feats = extract_pair_features(
        backbone,
        world.train,
        tr_pairs,
        cache_dir=cache,
        device=device,
        batch_size=cfg.backbone.feature_batch,
    )
    te_pairs = world.test_pairs()
    te_feats = extract_pair_features(
        backbone,
        world.test,
        te_pairs,
        cache_dir=cache,
        device=device,
        batch_size=cfg.backbone.feature_batch,
    )
    packed = pack_pairs(train_ds, tr_pairs, tr_feats)
    bridge_idx, val_idx = held_out_images(packed, pseudo, cfg)
    rest = np.setdiff1d(np.arange(len(packed)), np.concatenate([bridge_idx, val_idx]))
    return SplitData(
        split=split,
        unseen=unseen,
        train=packed.subset(rest),
        val=packed.subset(val_idx),
        test=pack_pairs(world.test, te_pairs, te_feats),
        test_pairs=te_pairs,
        test_feats=te_feats,
        pseudo=pseudo,
        val_bridge=packed.subset(bridge_idx),
    )


# positives each pseudo-unseen class gets in the bridge's validation images, if it has them
PSEUDO_FLOOR = 5


def held_out_images(packed: PairTensors, pseudo: np.ndarray, cfg: Params):
    """(bridge-validation, epoch-validation) image indices into ``packed``, sorted and disjoint.

    The bridge's images come first: every pseudo-unseen class gets ``PSEUDO_FLOOR``
    positives (at most half of those it has), then random images fill the share
    ``bridge_val_fraction``; ``ezhoi_val_fraction`` of the images, drawn from the rest,
    choose EZ-HOI's epoch. One seeded order serves both, so the draw is fixed per seed.
    """
    n = len(packed)
    order = np.random.default_rng(cfg.run.seed + 1000).permutation(n)
    has = (packed.targets > 0).any(dim=1).numpy()  # (images, classes)
    chosen: set[int] = set()
    for c in np.flatnonzero(pseudo):
        want = min(PSEUDO_FLOOR, int(has[:, c].sum()) // 2)
        got = int(has[sorted(chosen), c].sum())
        for i in order[has[order, c]]:
            if got >= want:
                break
            if int(i) not in chosen:
                chosen.add(int(i))
                got += 1
    n_bridge = max(1, int(round(cfg.ezhoi.bridge_val_fraction * n)))
    for i in order:
        if len(chosen) >= n_bridge:
            break
        chosen.add(int(i))
    left = [int(i) for i in order if int(i) not in chosen]
    n_val = max(1, int(round(cfg.ezhoi.val_fraction * n)))
    return np.asarray(sorted(chosen), int), np.sort(np.asarray(left[:n_val], int))
