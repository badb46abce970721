"""Resumable stages shared by the chapters: the backbone and the cached test-pair features.

Each stage records a fingerprint of its inputs; a rerun with unchanged inputs
loads the result instead of recomputing it.
"""

from __future__ import annotations

from hoilib import artifacts, cache
from hoilib.config import BackboneCfg, Params, RunCfg, resolve_device, stage_root
from hoilib.data.world import World
from hoilib.models.backbone import (
    SYNTH_BACKBONE,
    Backbone,
    SynthCLIPSpec,
    load_open_clip,
    load_synth_clip,
    pretrain_synth_clip,
)
from hoilib.models.features import extract_pair_features
from hoilib.timing import timed


def backbone_seed(cfg: Params) -> int:
    """The pretraining seed: a new world seed is a new world *and* a new backbone run (0, 0 -> 0)."""
    return cfg.run.seed + 1000 * cfg.world.seed


def prepare_backbone(section: BackboneCfg, run: RunCfg, world: World, *, seed: int) -> Backbone:
    """The synth backbone is pretrained once per (world, settings, seed); open_clip models load by name.

    It keys on its own section (``cfg.backbone``); ``run`` says where it lives; ``seed`` is
    ``backbone_seed(cfg)``."""
    if section.name != SYNTH_BACKBONE:
        return load_open_clip(section.name, section.pretrained, device="cpu")
    spec = SynthCLIPSpec(patch_size=section.patch_size)
    extra = list(world.prompts) + [d for ds in world.descriptors for d in ds]
    folder = stage_root(run) / "backbone"
    path = folder / "synth-clip.safetensors"
    inputs = {
        "world": artifacts.sha256_file(world.root / "captions.json"),
        "extra": artifacts.fingerprint(extra),
        "spec": spec.__dict__,
        "settings": section.key(),
        "seed": seed,
        "cpu_kernels": run.cpu_kernels,
    }
    device = resolve_device(run.device)
    if device != "cpu":  # another device trains other weights; the CPU's key stays as it was
        inputs["device"] = device
    stage = cache.Entry(folder, "backbone", inputs, code="backbone")
    found, backbone = stage.stored(path, load_synth_clip)  # a truncated copy is set aside
    if found:
        return backbone
    with timed("pretraining"):
        pretrain_synth_clip(
            world.root,
            path,
            spec,
            extra_texts=extra,
            steps=section.steps,
            batch_size=section.batch,
            lr=section.lr,
            seed=seed,
            device=device,
        )
    stage.mark_done([path])
    return load_synth_clip(path)


def features_of_test_pairs(
    section: BackboneCfg,
    run: RunCfg,
    world: World,
    *,
    backbone: Backbone,
    kinds=("human", "object", "union"),
):
    """Features of every candidate test pair (cached under the stage folder)."""
    pairs = world.test_pairs()
    feats = extract_pair_features(
        backbone,
        world.test,
        pairs,
        cache_dir=stage_root(run) / "features",
        kinds=kinds,
        device=resolve_device(run.device),
        batch_size=section.feature_batch,
    )
    return pairs, feats
