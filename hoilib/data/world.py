"""The World type: one view of a dataset for every chapter (annotations, class text, rare and unseen classes).

It lives apart from ``data.prepare_world`` so that the HICO-DET reader can build one
without importing the code that chooses between worlds (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib.data.annotations import HOIDataset, PairSet, enumerate_pairs
from hoilib.data.splits import SPLIT_NAMES, SPLITS, unseen_mask
from hoilib.data.synth.world import RARE_THRESHOLD
from hoilib.errors import ConfigError


@dataclass(kw_only=True)
class World:
    root: Path
    train: HOIDataset
    test: HOIDataset
    prompts: list[str]
    descriptors: list[list[str]]
    splits: dict[str, list[int]]
    meta: dict
    # test pairs: 'gt' (annotated boxes, or HOI-Synth's oracle boxes) or a detections file
    pair_source: str = "gt"
    # per class: the pretraining captions' verb-naming phrasings (HOI-Synth); empty if none
    phrasings: list[list[str]] = field(default_factory=list)

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
            raise ConfigError(
                f"split {split!r} is not defined for {self.root}; expected one of {list(self.splits)}"
            )
        return unseen_mask(self.splits[split], self.num_classes)

    def class_names(self) -> list[str]:
        return [f"{self.test.verbs[v]} {self.test.objects[o]}" for v, o in self.classes]

    def test_pairs(self) -> PairSet:
        """Every human with every object: from a detections file, or from the boxes of the world (see pair_source)."""
        if self.pair_source != "gt":
            from hoilib.data.detections import read_detections

            return read_detections(self.pair_source, self.test)
        return enumerate_pairs(self.test, self.root / "boxes_test2015.json")

    def train_pairs(self) -> PairSet:
        return enumerate_pairs(self.train, self.root / "boxes_train2015.json")

    def statistics(self) -> pd.DataFrame:
        """The world in numbers: what chapter 1 shows and the tests check."""
        n_test = self.test.class_counts()
        rows = [
            ("HOI classes", self.num_classes),
            ("verbs", len(self.test.verbs)),
            ("objects", len(self.test.objects)),
            ("training images", len(self.train.images)),
            ("test images", len(self.test.images)),
            ("training instances", int(self.n_train.sum())),
            ("test instances", int(n_test.sum())),
            (f"rare classes (< {RARE_THRESHOLD} training instances)", int(self.rare.sum())),
            ("classes without test instances", int((n_test == 0).sum())),
        ]
        rows += [
            (f"unseen classes, {SPLIT_NAMES[s]} ({s})", len(self.splits[s]))
            for s in SPLITS
            if s in self.splits
        ]
        return pd.DataFrame(rows, columns=["statistic", "value"]).set_index("statistic")

    def class_table(self) -> pd.DataFrame:
        df = pd.DataFrame(
            {
                "class": self.class_names(),
                "prompt": self.prompts,
                "train": self.n_train,
                "test": self.test.class_counts(),
                "rare": self.rare,
            }
        )
        for s in self.splits:
            df[f"unseen {s}"] = self.unseen(s)
        return df
