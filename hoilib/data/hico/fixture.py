"""A tiny HICO-DET copy for tests: official lists, real JPEG files, the fredzzhang/hicodet annotation format.

    python -m hoilib.data.hico.fixture DIR [--train 16 --test 14 --seed 0]

The classes it annotates include unseen classes of every zero-shot split (in train
and test) so each split has something to hold out and to evaluate. The pictures are
coloured boxes, not photographs: the fixture tests the code path, not the model.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

from hoilib import artifacts
from hoilib.data.hico import lists

W, H = 160, 120


def fixture_classes(per_split: int = 2, n_seen: int = 4) -> list[int]:
    """Unseen classes of each split (first of each list) plus classes seen in every split."""
    unseen = {s: lists.unseen(s) for s in lists.SPLITS}
    chosen: list[int] = []
    for s in lists.SPLITS:
        chosen += [c for c in unseen[s] if c not in chosen][:per_split]
    everywhere = set().union(*unseen.values())
    chosen += [c for c in range(len(lists.classes())) if c not in everywhere][:n_seen]
    return chosen


def _box(rng: random.Random, x0: int, x1: int) -> list[float]:
    w, h = rng.randint(24, 44), rng.randint(30, 70)
    x = rng.randint(x0, max(x0, x1 - w))
    y = rng.randint(4, H - h - 4)
    return [float(x), float(y), float(x + w), float(y + h)]


def _image(rng: random.Random, classes: list[int], table) -> tuple[dict, Image.Image]:
    img = Image.new("RGB", (W, H), tuple(rng.randint(150, 230) for _ in range(3)))
    dr = ImageDraw.Draw(img)
    ann = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
    for k in range(rng.choice((1, 1, 2))):
        c = rng.choice(classes)
        verb, obj = table[c]
        bh, bo = _box(rng, 4 + 78 * k, 40 + 78 * k), _box(rng, 30 + 78 * k, 76 + 78 * k)
        dr.rectangle(bh, fill=(40, 60, 200))
        dr.rectangle(bo, fill=tuple(40 + (obj * 37 + i * 71) % 200 for i in range(3)))
        for key, val in (
            ("boxes_h", bh),
            ("boxes_o", bo),
            ("hoi", c),
            ("object", obj),
            ("verb", verb),
        ):
            ann[key].append(val)
    return ann, img


def make_fixture(root: str | Path, n_train: int = 16, n_test: int = 14, *, seed: int = 0) -> Path:
    """Write instances_{train,test}2015.json and images/{train,test}2015/*.jpg under root; returns root."""
    root = Path(root)
    rng = random.Random(seed)
    table = lists.classes()
    classes = fixture_classes()
    for split, n in (("train", n_train), ("test", n_test)):
        folder = root / "images" / f"{split}2015"
        folder.mkdir(parents=True, exist_ok=True)
        anns, names = [], []
        for i in range(n):
            # every chosen class appears once before any repeats, so each has train and test instances
            pool = [classes[i % len(classes)]] if i < len(classes) else classes
            ann, img = _image(rng, pool, table)
            name = f"HICO_{split}2015_{i + 1:08d}.jpg"
            with artifacts.atomic_path(folder / name) as tmp:
                img.save(tmp, format="JPEG", quality=90)
            anns.append(ann)
            names.append(name)
        doc = {
            "annotation": anns,
            "filenames": names,
            "size": [[W, H]] * n,
            "empty": [],
            "objects": lists.objects(),
            "verbs": lists.verbs(),
            "correspondence": [[h, o, v] for h, (v, o) in enumerate(table)],
        }
        artifacts.write_json(root / f"instances_{split}2015.json", doc)
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="write a tiny HICO-DET-format fixture")
    ap.add_argument("root")
    ap.add_argument("--train", type=int, default=16)
    ap.add_argument("--test", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(make_fixture(a.root, a.train, a.test, seed=a.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
