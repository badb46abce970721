"""One view of a dataset for every chapter: train/test annotations, class text, rare and unseen classes.

``prepare_world`` builds HOI-Synth into the run folder (or finds it complete) and
returns the same structure a HICO-DET copy will give, so notebooks never ask
which world they are in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts
from hoilib.errors import ConfigError
from hoilib.hicodet import HOIDataset, PairSet, enumerate_pairs, load_annotations
from hoilib.splits import SPLIT_NAMES, SPLITS, unseen_mask
from hoilib.synth.world import RARE_THRESHOLD, WorldSpec, generate_world


@dataclass
class World:
    root: Path
    train: HOIDataset
    test: HOIDataset
    prompts: list[str]
    descriptors: list[list[str]]
    splits: dict[str, list[int]]
    meta: dict
    pair_source: str = "gt"  # test pairs: 'gt' (annotated boxes, or HOI-Synth's oracle boxes) or a detections file

    @property
    def classes(self) -> list[tuple[int, int]]:
        return self.test.classes

    @property
    def num_classes(self) -> int:
        return self.test.num_classes

    @property
    def n_train(self) -> np.ndarray:
        return self.train.class_counts()

    @property
    def rare(self) -> np.ndarray:
        """Rare classes: fewer than 10 training instances (the HICO-DET rule), or the official list when given."""
        if "rare" in self.meta:
            return unseen_mask(self.meta["rare"], self.num_classes)
        return self.n_train < RARE_THRESHOLD

    def unseen(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise ConfigError(f"split {split!r} is not defined for {self.root}; expected one of {list(self.splits)}")
        return unseen_mask(self.splits[split], self.num_classes)

    def class_names(self) -> list[str]:
        return [f"{self.test.verbs[v]} {self.test.objects[o]}" for v, o in self.classes]

    def test_pairs(self) -> PairSet:
        """Every human with every object: from a detections file, or from the boxes of the world (see pair_source)."""
        if self.pair_source != "gt":
            from hoilib.detections import read_detections

            return read_detections(self.pair_source, self.test)
        return enumerate_pairs(self.test, self.root / "boxes_test2015.json")

    def train_pairs(self) -> PairSet:
        return enumerate_pairs(self.train, self.root / "boxes_train2015.json")

    def statistics(self) -> pd.DataFrame:
        """The world in numbers: what chapter 1 shows and the tests check."""
        n_test = self.test.class_counts()
        rows = [
            ("HOI classes", self.num_classes), ("verbs", len(self.test.verbs)), ("objects", len(self.test.objects)),
            ("training images", len(self.train.images)), ("test images", len(self.test.images)),
            ("training instances", int(self.n_train.sum())), ("test instances", int(n_test.sum())),
            (f"rare classes (< {RARE_THRESHOLD} training instances)", int(self.rare.sum())),
            ("classes without test instances", int((n_test == 0).sum())),
        ]
        rows += [(f"unseen classes, {SPLIT_NAMES[s]} ({s})", len(self.splits[s])) for s in SPLITS if s in self.splits]
        return pd.DataFrame(rows, columns=["statistic", "value"]).set_index("statistic")

    def class_table(self) -> pd.DataFrame:
        df = pd.DataFrame({"class": self.class_names(), "prompt": self.prompts, "train": self.n_train,
                           "test": self.test.class_counts(), "rare": self.rare})
        for s in self.splits:
            df[f"unseen {s}"] = self.unseen(s)
        return df


def world_spec(cfg: dict) -> WorldSpec:
    return WorldSpec(seed=cfg["world_seed"], n_train_images=cfg["n_train_images"], n_test_images=cfg["n_test_images"],
                     n_pretrain_images=cfg["n_pretrain_images"], image_size=cfg["image_size"])


def prepare_world(cfg: dict) -> World:
    """Generate (or reuse) HOI-Synth, or point at a HICO-DET copy, and load both splits."""
    if cfg["dataset"] == "hico-det":
        from hoilib.hico.world import load_hico_world

        world = load_hico_world(cfg)
    else:
        root = Path(cfg["data_root"] or Path(cfg["run_dir"]) / "world")
        generate_world(root, world_spec(cfg))
        meta = artifacts.read_json(root / "world.json", "HOI-Synth world description")
        train = load_annotations(root / "instances_train2015.json")
        test = load_annotations(root / "instances_test2015.json")
        prompts = [c["prompt"] for c in meta["classes"]]
        descriptors = [c["descriptors"] for c in meta["classes"]]
        world = World(root, train, test, prompts, descriptors, meta["splits"], meta)
    if cfg["pair_source"] != "gt":
        src = Path(cfg["pair_source"]).expanduser()
        if not src.is_file():
            raise ConfigError(f"parameter 'pair_source' = {cfg['pair_source']!r}: no such detections file (or use 'gt')")
        world.pair_source = str(src)
    return world
