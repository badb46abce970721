"""One view of a dataset for every chapter: train/test annotations, class text, rare and unseen classes.

``prepare_world`` builds HOI-Synth into the run folder (or finds it complete) and
returns the same structure a HICO-DET copy will give, so notebooks never ask
which world they are in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hoilib import artifacts
from hoilib.config import Params, stage_root
from hoilib.data.annotations import load_annotations
from hoilib.data.synth.world import WorldSpec, generate_world
from hoilib.data.world import World
from hoilib.errors import ConfigError


def world_spec(cfg: Params) -> WorldSpec:
    return WorldSpec(
        seed=cfg.world.seed,
        n_train_images=cfg.world.n_train_images,
        n_test_images=cfg.world.n_test_images,
        n_pretrain_images=cfg.world.n_pretrain_images,
        image_size=cfg.world.image_size,
        caption_verb_share=cfg.world.caption_verb_share,
        vocabulary=cfg.world.vocabulary,
    )


def prepare_world(cfg: Params) -> World:
    """Generate (or reuse) HOI-Synth, or point at a HICO-DET copy, and load both splits."""
    if cfg.world.dataset == "hico-det":
        from hoilib.data.hico.world import load_hico_world

        world = load_hico_world(cfg)
    else:
        root = Path(cfg.world.data_root or stage_root(cfg.run) / "world")
        generate_world(root, world_spec(cfg))
        meta = artifacts.read_json(root / "world.json", "HOI-Synth world description")
        train = load_annotations(root / "instances_train2015.json")
        test = load_annotations(root / "instances_test2015.json")
        prompts = [c["prompt"] for c in meta["classes"]]
        descriptors = [c["descriptors"] for c in meta["classes"]]
        # a world.json written before phrasings existed has none: the corpus is then the old one
        # (up to world.corpus_phrasings of them: a smaller text corpus for a CI-sized run)
        phrasings = [c.get("phrasings", [])[: cfg.world.corpus_phrasings] for c in meta["classes"]]
        world = World(
            root=root,
            train=train,
            test=test,
            prompts=prompts,
            descriptors=descriptors,
            splits=meta["splits"],
            meta=meta,
            phrasings=phrasings,
        )
    return replace(world, pair_source=pair_source(cfg))


def pair_source(cfg: Params) -> str:
    """'gt', or the detections file the test pairs come from (made absolute; it must exist)."""
    if cfg.world.pair_source == "gt":
        return "gt"
    src = Path(cfg.world.pair_source).expanduser()
    if not src.is_file():
        raise ConfigError(
            f"parameter 'world.pair_source' = {cfg.world.pair_source!r}: no such detections file "
            "(or use 'gt')"
        )
    return str(src)
