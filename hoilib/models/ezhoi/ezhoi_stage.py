"""Chapter 2's experiments: build the model from a backbone and world, train per split/flags/seed, evaluate.

Every trained model is a resumable stage: its checkpoint is reused while the
backbone, world, split, flags, seed and training settings are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hoilib import artifacts, cache, distributed
from hoilib.config import Params, resolve_device, stage_root
from hoilib.data.annotations import PairSet
from hoilib.data.pseudo import pseudo_unseen
from hoilib.data.world import World
from hoilib.measure.metric import evaluate_hoi
from hoilib.models.backbone import Backbone
from hoilib.models.ezhoi.checkpoint import load_checkpoint, save_checkpoint
from hoilib.models.ezhoi.model import EZHOI, EZHOIConfig
from hoilib.models.ezhoi.pairs import PairTensors, pack_pairs
from hoilib.models.ezhoi.prompts import related_classes
from hoilib.models.ezhoi.train import predict, train_ezhoi
from hoilib.models.features import extract_pair_features
from hoilib.timing import timed

# name -> (use_prompts, use_adapter, use_descriptors, prompt kind; None = the profile's prompt_kind)
ABLATIONS = {
    "full": (True, True, True, None),
    "class-specific prompts": (True, True, True, "class"),
    "no prompts": (False, True, True, None),
    "no text adapter": (True, False, True, None),
    "no descriptors": (True, True, False, None),
    "frozen text": (False, False, False, None),
}


@dataclass
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


@torch.no_grad()
def descriptor_features(backbone: Backbone, world: World, k: int = 3) -> torch.Tensor:
    """(C, k, D): each class's k descriptor sentences closest (cosine) to its class prompt, frozen CLIP text."""
    prompts = backbone.encode_text(world.prompts)
    out = []
    for c, sentences in enumerate(world.descriptors):
        f = backbone.encode_text(sentences)
        top = torch.argsort(f @ prompts[c], descending=True)[:k]
        out.append(f[top])
    return torch.stack(out)


def build_model(
    cfg: Params,
    backbone: Backbone,
    world: World,
    flags=(True, True, True, None),
    desc=None,
    trained: np.ndarray | None = None,
) -> EZHOI:
    """The model of one configuration; ``trained`` (C,) marks the classes it trains on, which
    class-specific prompts need (a held-out class borrows its relatives' context)."""
    for p in backbone.model.parameters():
        p.requires_grad_(False)
    backbone.model.eval()
    ecfg = EZHOIConfig(
        dim=backbone.embed_dim,
        num_classes=world.num_classes,
        use_prompts=flags[0],
        use_adapter=flags[1],
        use_descriptors=flags[2],
        n_ctx=cfg.ezhoi.n_ctx,
        prompt_depth=cfg.ezhoi.prompt_depth,
        prompt_kind=(flags[3] if len(flags) > 3 else None) or cfg.ezhoi.prompt_kind,
    )
    desc = descriptor_features(backbone, world) if desc is None else desc
    relate = None
    if ecfg.prompt_kind == "class":
        trained = np.ones(world.num_classes, bool) if trained is None else trained
        relate = related_classes(world.classes, trained)
    return EZHOI(ecfg, backbone.model, backbone.tokenizer(world.prompts), desc, relate)


def split_data(cfg: Params, world: World, backbone: Backbone, split: str) -> SplitData:
    """Seen-class training pairs (unseen annotations removed), two held-out image sets, and the test pairs."""
    unseen = world.unseen(split)
    pseudo = pseudo_unseen(
        world.classes,
        world.n_train,
        world.rare,
        unseen,
        split,
        world.test.verbs,
        cfg.ezhoi.pseudo_unseen_share,
    )
    train_ds = world.train.without_classes(np.flatnonzero(unseen))
    device = resolve_device(cfg.run.device)
    cache = stage_root(cfg) / "features"
    tr_pairs = world.train_pairs()
    tr_feats = extract_pair_features(
        backbone, world.train, tr_pairs, cache, device=device, batch_size=cfg.backbone.feature_batch
    )
    te_pairs = world.test_pairs()
    te_feats = extract_pair_features(
        backbone, world.test, te_pairs, cache, device=device, batch_size=cfg.backbone.feature_batch
    )
    packed = pack_pairs(train_ds, tr_pairs, tr_feats)
    bridge_idx, val_idx = held_out_images(packed, pseudo, cfg)
    rest = np.setdiff1d(np.arange(len(packed)), np.concatenate([bridge_idx, val_idx]))
    return SplitData(
        split,
        unseen,
        packed.subset(rest),
        packed.subset(val_idx),
        pack_pairs(world.test, te_pairs, te_feats),
        te_pairs,
        te_feats,
        pseudo,
        packed.subset(bridge_idx),
    )


PSEUDO_FLOOR = (
    5  # positives each pseudo-unseen class gets in the bridge's validation images, if it has them
)


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


def train_or_load(
    cfg: Params, backbone: Backbone, world: World, data: SplitData, name: str, seed: int, desc=None
):
    """Train one configuration (or load its checkpoint); returns (model, meta with history)."""
    flags = ABLATIONS[name]
    torch.manual_seed(seed)
    model = build_model(cfg, backbone, world, flags, desc, data.trained)
    inputs = {
        "backbone": backbone.fingerprint,
        "world": artifacts.sha256_file(world.train.path),
        "split": data.split,
        "flags": list(flags[:3]),
        "prompt_kind": model.cfg.prompt_kind,
        "seed": seed,
        "settings": cfg.ezhoi.key(),
        "cpu_kernels": cfg.run.cpu_kernels,
    }
    path = checkpoint_path(cfg, data.split, name, seed)
    stage = cache.Entry(path.parent, path.stem, inputs, code="ezhoi")
    inputs = stage.inputs  # with the code digest, as the checkpoint records them
    if stage.done([path]):
        meta = load_checkpoint(path, model)
        return model, meta
    with timed("EZ-HOI training"):
        hist = train_ezhoi(
            model,
            data.train,
            data.val,
            world.classes,
            data.trained,
            epochs=cfg.ezhoi.epochs,
            batch_images=cfg.ezhoi.batch_images,
            lr=cfg.ezhoi.lr,
            seed=seed,
            device=resolve_device(cfg.run.device),
        )
    meta = {
        "split": data.split,
        "seed": seed,
        "ablation": name,
        "history": hist,
        "inputs": inputs,
        "unseen": np.flatnonzero(data.unseen).tolist(),
        "pseudo_unseen": np.flatnonzero(~data.trained & ~data.unseen).tolist(),
    }
    if distributed.is_main():  # under torchrun every rank holds the same weights; one writes them
        save_checkpoint(path, model, meta)
        stage.mark_done([path])
    distributed.barrier()
    return model, {**meta, "config": model.cfg.to_dict()}


def evaluate_model(model: EZHOI, world: World, data: SplitData) -> dict:
    dets = predict(model, data.test, world.classes)
    return evaluate_hoi(
        dets, world.test.ground_truth(), world.num_classes, rare=world.rare, unseen=data.unseen
    ).as_percent()


def checkpoint_path(cfg: Params, split: str, name: str, seed: int) -> Path:
    return stage_root(cfg) / "ezhoi" / f"{split}-{name.replace(' ', '_')}-seed{seed}.safetensors"


@torch.no_grad()
def pair_visual_features(model: EZHOI, data: SplitData) -> torch.Tensor:
    """The model's fused visual features of every test pair, in ``data.test_pairs`` order."""
    te = data.test
    if len(data.test_pairs) and np.any(np.diff(data.test_pairs.image) < 0):
        raise ValueError("test pairs must be grouped by image in increasing order")
    model.eval()
    v = model.visual_features(te.h, te.o, te.u, te.pad)
    return v[~te.pad]
