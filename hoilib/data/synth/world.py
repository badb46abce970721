"""Generate HOI-Synth: scenes, HICO-DET format annotations, splits, captions, descriptors.

It is longer than 300 lines because the class frequencies, the image sets and the files they
are written to are one deterministic recipe; the drawing lives apart in ``scene`` and ``render``.

The world is a pure function of its spec (seed, image counts, resolution, vocabulary): the
same spec writes byte-identical files. Its classes, their text and each object's look come
from a vocabulary (``vocabularies``): ``synth``, the default book's, or ``hico``, HICO-DET's
verbs, objects and 600 classes (the ``hico-scale`` profiles). Under ``synth``, class
frequencies follow a power law fitted so that about a fifth of the classes are rare (< 10
training instances), as in HICO-DET; under ``hico`` the official rare classes get 1 to 9
training instances and the others a power law fitted to reach 10 at its tail
(``fixed_rare_counts``). The test set adds a floor of ``TEST_FLOOR`` instances per class, so
every (unseen) class's AP rests on enough positives. Pretraining captions read like web
alt-text (see ``vocab.captions_for``): the object always, the verb in a share
``caption_verb_share`` of them, and together they hold every word of the class text. A
``hico`` world draws each scene from a stream of its own, so its images are drawn by as many
processes as there are cores, with the same bytes for any number of them.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hoilib import artifacts, cache
from hoilib.data.crops import pair_crop
from hoilib.data.splits import make_splits
from hoilib.data.synth.scene import (
    POOL_MIN_SCENES,
    draw_pretrain_scene,
    draw_split_scene,
    render_scene,
)
from hoilib.data.synth.vocabularies import Vocabulary, vocabulary
from hoilib.pool import ordered_map, workers
from hoilib.progress import tqdm
from hoilib.timing import timed

GENERATOR_VERSION = 3
RARE_THRESHOLD = 10
# Test instances every class gets when the test set can hold them: an AP resting on fewer
# positives (each unseen class's AP is a point of a zero-shot mAP) is too noisy to read.
TEST_FLOOR = 10
PEOPLE_PER_IMAGE = ([1, 2, 3], [0.35, 0.4, 0.25])
DEFAULT_VOCABULARY = "synth"


@dataclass(frozen=True, kw_only=True)
class WorldSpec:
    """Everything the generated world depends on."""

    seed: int = 0
    n_train_images: int = 1200
    n_test_images: int = 600
    n_pretrain_images: int = 2500
    image_size: int = 160
    crop_size: int = 64
    look_prob: float = 0.35
    rare_fraction: float = 0.2
    caption_verb_share: float = 0.5
    vocabulary: str = DEFAULT_VOCABULARY

    def key(self) -> dict:
        """The spec's fields and the generator's version; the vocabulary only when it is not the
        default, so every world drawn before vocabularies existed keeps its key."""
        fields = asdict(self)
        if fields["vocabulary"] == DEFAULT_VOCABULARY:
            del fields["vocabulary"]
        return {**fields, "generator_version": GENERATOR_VERSION}


def allocate(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integer counts proportional to ``weights`` that sum to ``total`` exactly (largest remainders).

    Each class gets at least ``minimum`` while the total allows it; tiny worlds get the largest
    floor that fits (0 when there are fewer items than classes).
    """
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    minimum = min(minimum, total // n)
    share = (total - minimum * n) * w / w.sum()
    counts = minimum + np.floor(share).astype(np.int64)
    rest = total - int(counts.sum())
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    counts[order[:rest]] += 1
    return counts


def power_law_counts(
    n_classes: int, total: int, rare_fraction: float, *, minimum: int = 1
) -> np.ndarray:
    """Counts by rank r proportional to 1 / (r+1)^alpha, summing to ``total``.

    alpha is found by bisection so that the count at the rare boundary rank
    ((1 - rare_fraction) * n_classes) is 10, i.e. about ``rare_fraction`` of the
    classes end up rare (< 10 instances), as in HICO-DET.
    """
    ranks = np.arange(1, n_classes + 1, dtype=np.float64)
    boundary = int(round((1 - rare_fraction) * n_classes))

    def at_boundary(alpha):
        return allocate(total, ranks**-alpha, minimum)[boundary - 1]

    lo, hi = 0.0, 4.0
    for _ in range(50):  # the boundary count falls as alpha grows
        mid = (lo + hi) / 2
        if at_boundary(mid) >= RARE_THRESHOLD:
            lo = mid
        else:
            hi = mid
    return allocate(total, ranks**-hi, minimum)


def fixed_rare_counts(
    total: int, order: list[int], rare: list[int], *, rng: random.Random
) -> np.ndarray:
    """Training counts with a given rare set: each rare class 1 to 9, the others by their rank in
    ``order`` proportional to 1 / rank^alpha, alpha fitted (as ``power_law_counts`` fits it) so
    the last of them gets 10, where the rare classes begin.

    A world too small to give every other class 10 keeps the proportions of that shape at the
    smallest total that holds it (``allocate``), so its classes are rare only by the list.
    """
    rare_set = set(rare)
    common = [c for c in order if c not in rare_set]
    rare_ranked = [c for c in order if c in rare_set]
    rare_counts = np.array([rng.randint(1, RARE_THRESHOLD - 1) for _ in rare_ranked])
    full = max(total, int(rare_counts.sum()) + RARE_THRESHOLD * len(common))
    share = full - int(rare_counts.sum())
    ranks = np.arange(1, len(common) + 1, dtype=np.float64)
    lo, hi = 0.0, 4.0
    for _ in range(50):  # the last count falls as alpha grows
        mid = (lo + hi) / 2
        if allocate(share, ranks**-mid)[-1] >= RARE_THRESHOLD:
            lo = mid
        else:
            hi = mid
    tail = allocate(share, ranks**-lo)
    floored = np.maximum(tail, RARE_THRESHOLD)  # a largest-remainder step may leave one at 9
    floored[0] -= int(floored.sum() - tail.sum())
    counts = np.zeros(len(order), dtype=np.int64)
    counts[common] = floored
    counts[rare_ranked] = rare_counts
    return counts if full == total else allocate(total, counts)


def _labels(cls_idx, voc: Vocabulary, rng: random.Random, *, look_prob: float, look_cls: dict):
    """HOI labels of one pair: its primary class, plus the look class with some probability."""
    v, o = voc.classes[cls_idx]
    labels = [cls_idx]
    if v in voc.look_compatible and rng.random() < look_prob:
        labels.append(look_cls[o])
    return labels


def _group(items: list, sizes: list[int]) -> list[list]:
    """Split the shuffled instance list into scenes of the drawn sizes (1-3 people each)."""
    assert sum(sizes) == len(items)
    out, k = [], 0
    for s in sizes:
        out.append(items[k : k + s])
        k += s
    return out


def _scenes(root: Path, split: str, groups, *, voc: Vocabulary, spec: WorldSpec, rng, n_workers):
    """Draw and save one image set: (file name, pairs, distractors) per image, in order."""
    img_dir = root / "images" / f"{split}2015"
    img_dir.mkdir(parents=True, exist_ok=True)
    names = [f"synth_{split}2015_{i:06d}.png" for i in range(len(groups))]
    desc = f"HOI-Synth {split} images"
    if voc.scene_streams:
        jobs = [
            (str(img_dir / f), voc.name, spec.seed, split, i, g, spec.image_size)
            for i, (f, g) in enumerate(zip(names, groups, strict=True))
        ]
        drawn = ordered_map(
            draw_split_scene, jobs, n_workers or workers(len(jobs), POOL_MIN_SCENES), desc=desc
        )
        yield from ((f, *d) for f, d in zip(names, drawn, strict=True))
        return
    for fname, group in zip(names, tqdm(groups, desc=desc, leave=False), strict=True):
        img, pairs, distractors = render_scene(
            group, voc, spec.image_size, rng=rng, n_distractors=rng.choice([0, 0, 1, 2])
        )
        with artifacts.atomic_path(img_dir / fname) as tmp:
            img.save(tmp, format="PNG")
        yield fname, pairs, distractors


def _write_split(
    root: Path, split: str, groups, *, voc: Vocabulary, spec: WorldSpec, rng, names: dict, n_workers
):
    """Render one image set and write instances_<split>2015.json and boxes_<split>2015.json."""
    annotation, filenames, sizes, boxes = [], [], [], []
    for fname, pairs, distractors in _scenes(
        root, split, groups, voc=voc, spec=spec, rng=rng, n_workers=n_workers
    ):
        entry = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
        for bh, bo, oi, labels in pairs:
            for c in labels:
                entry["boxes_h"].append(bh)
                entry["boxes_o"].append(bo)
                entry["hoi"].append(c)
                entry["object"].append(oi)
                entry["verb"].append(voc.classes[c][0])
        annotation.append(entry)
        filenames.append(fname)
        sizes.append([spec.image_size, spec.image_size])
        boxes.append(
            {
                "boxes_h": [p[0] for p in pairs],
                "boxes_o": [p[1] for p in pairs] + [b for b, _ in distractors],
                "labels_o": [p[2] for p in pairs] + [oi for _, oi in distractors],
            }
        )
    doc = {
        "annotation": annotation,
        "filenames": filenames,
        "empty": [],
        "size": sizes,
        "objects": names["objects"],
        "verbs": names["verbs"],
        "correspondence": names["correspondence"],
    }
    artifacts.write_json(root / f"instances_{split}2015.json", doc)
    artifacts.write_json(
        root / f"boxes_{split}2015.json",
        {
            "images": boxes,
            "filenames": filenames,
            "schema": "all human and object boxes per image (oracle detector)",
        },
    )
    return annotation


def _class_order(classes, rng: random.Random) -> list[int]:
    """One pass over all classes, dealt verb by verb (round robin), so the first few dozen
    pairs already show every verb several times."""
    by_verb: dict[int, list[int]] = {}
    for c, (v, _) in enumerate(classes):
        by_verb.setdefault(v, []).append(c)
    lists = [rng.sample(cs, len(cs)) for _, cs in sorted(by_verb.items())]
    order = []
    for k in range(max(len(cs) for cs in lists)):
        order += [cs[k] for cs in lists if k < len(cs)]
    return order


def _write_pretrain(
    root: Path, voc: Vocabulary, spec: WorldSpec, *, rng: random.Random, look: dict, n_workers=None
):
    """Render a separate image set and save crops with alt-text-like captions for CLIP pretraining.

    Classes are drawn in passes over all classes (each pass dealt by ``_class_order``), so
    every class is shown once per pass; once the first pass is drawn, every word of the
    class prompts, caption templates and descriptor sentences is in some caption. In a world of
    scene streams, the classes and captions are drawn here first and the scenes afterwards.
    """
    crop_dir = root / "pretrain"
    crop_dir.mkdir(parents=True, exist_ok=True)
    records, queue, jobs = [], [], []
    owed = voc.caption_words()
    streams = voc.scene_streams
    scenes = range(spec.n_pretrain_images)
    if not streams:  # else the bar is the drawing's, below
        scenes = tqdm(scenes, desc="HOI-Synth pretraining scenes", leave=False)
    for i in scenes:
        n = rng.choices(*PEOPLE_PER_IMAGE)[0]
        group = []
        for _ in range(n):
            if not queue:
                queue = _class_order(voc.classes, rng)
            group.append(_labels(queue.pop(0), voc, rng, look_prob=spec.look_prob, look_cls=look))
        if streams:
            pairs, img = [(None, None, voc.classes[g[0]][1], g) for g in group], None
        else:
            img, pairs, _ = render_scene(
                group, voc, spec.image_size, rng=rng, n_distractors=rng.choice([0, 1])
            )
        crops = []
        for j, (bh, bo, oi, labels) in enumerate(pairs):
            caption = voc.caption(labels, rng, spec.caption_verb_share, owed=owed)
            texts = [("union", caption)]
            if rng.random() < 0.3:
                texts.append(("object", voc.object_text(oi, rng)))
            for kind_name, text in texts:
                fname = f"pre_{i:06d}_{j}_{kind_name}.png"
                if streams:
                    crops.append((j, kind_name, fname))
                else:
                    with artifacts.atomic_path(crop_dir / fname) as tmp:
                        pair_crop(img, bh, bo, kind=kind_name, size=spec.crop_size).save(
                            tmp, format="PNG"
                        )
                records.append({"file": f"pretrain/{fname}", "caption": text})
        if streams:
            jobs.append(
                (
                    str(crop_dir),
                    voc.name,
                    spec.seed,
                    i,
                    group,
                    spec.image_size,
                    spec.crop_size,
                    crops,
                )
            )
    if jobs:
        n_workers = n_workers or workers(len(jobs), POOL_MIN_SCENES)
        for _ in ordered_map(
            draw_pretrain_scene, jobs, n_workers, desc="HOI-Synth pretraining scenes"
        ):
            pass
    artifacts.write_json(root / "captions.json", {"captions": records})
    return records


def world_stage(root: str | Path, spec: WorldSpec) -> cache.Entry:
    """The world as a cached entry: keyed by its spec and by the code that draws it."""
    return cache.Entry(Path(root), "world", spec.key(), code="world")


def generate_world(
    root: str | Path, spec: WorldSpec = WorldSpec(), n_workers: int | None = None
) -> Path:
    """Write the whole world under ``root`` (skipped when a complete world of this spec is there).

    ``n_workers``: processes that draw a world of scene streams (None: one per core for a large
    world); the files are the same for any number.
    """
    root = Path(root)
    stage = world_stage(root, spec)
    if stage.done():
        return root
    with timed("world generation"):
        n_classes = _write_world(root, spec, n_workers)
    stage.mark_done(None, {"classes": n_classes})
    return root


def _write_world(root: Path, spec: WorldSpec, n_workers: int | None = None) -> int:
    """Draw and write every file of the world; returns the number of classes."""
    rng = random.Random(spec.seed)
    voc = vocabulary(spec.vocabulary)
    classes = voc.classes
    look = {o: i for i, (v, o) in enumerate(classes) if voc.verbs[v] == voc.look_verb}
    names = {
        "objects": list(voc.object_names),
        "verbs": list(voc.verbs),
        "correspondence": [[i, o, v] for i, (v, o) in enumerate(classes)],
    }
    order = list(range(len(classes)))
    rng.shuffle(order)

    def instances(n_images, test=False):
        sizes = rng.choices(*PEOPLE_PER_IMAGE, k=n_images)
        total = sum(sizes)
        if test and voc.rare is not None and total < len(classes):
            # a HICO-shaped world too small for one test instance a class (CI): one each for
            # classes drawn at random, so every split has seen and unseen classes to score
            counts = np.zeros(len(classes), dtype=np.int64)
            counts[rng.sample(range(len(classes)), total)] = 1
        elif test:  # the training distribution, with TEST_FLOOR of every class when it fits
            counts = allocate(total, train_counts + 0.5, minimum=TEST_FLOOR)
        elif voc.rare is not None:
            counts = fixed_rare_counts(total, order, voc.rare, rng=rng)
        else:
            counts = np.zeros(len(classes), dtype=np.int64)
            counts[order] = power_law_counts(len(classes), total, spec.rare_fraction)
        items = [c for c in range(len(classes)) for _ in range(int(counts[c]))]
        rng.shuffle(items)
        labels = [_labels(c, voc, rng, look_prob=spec.look_prob, look_cls=look) for c in items]
        return _group(labels, sizes), counts

    train_groups, train_counts = instances(spec.n_train_images)
    test_groups, _ = instances(spec.n_test_images, test=True)
    train_ann = _write_split(
        root, "train", train_groups, voc=voc, spec=spec, rng=rng, names=names, n_workers=n_workers
    )
    test_ann = _write_split(
        root, "test", test_groups, voc=voc, spec=spec, rng=rng, names=names, n_workers=n_workers
    )
    n_train = np.zeros(len(classes), dtype=np.int64)
    for entry in train_ann:
        for c in entry["hoi"]:
            n_train[c] += 1
    n_test = np.zeros(len(classes), dtype=np.int64)
    for entry in test_ann:
        for c in entry["hoi"]:
            n_test[c] += 1
    if voc.rare is not None:
        rare = list(voc.rare)
    else:
        rare = [int(i) for i in np.flatnonzero(n_train < RARE_THRESHOLD)]
    splits = voc.splits or make_splits(
        classes,
        n_train,
        rare,
        verbs=voc.verbs,
        objects=voc.object_names,
        seed=spec.seed,
        exclude_verbs=("no_interaction", "look_at"),
    )
    _write_pretrain(root, voc, spec, rng=rng, look=look, n_workers=n_workers)
    meta = {
        "name": "HOI-Synth",
        **({"vocabulary": voc.name} if voc.name != DEFAULT_VOCABULARY else {}),
        "spec": spec.key(),
        "classes": [
            {
                "index": i,
                "verb": voc.verbs[v],
                "object": voc.object_names[o],
                "prompt": voc.prompts[i],
                "descriptors": voc.descriptors[i],
                "phrasings": voc.phrasings[i],
            }
            for i, (v, o) in enumerate(classes)
        ],
        "rare": rare,
        "n_train": n_train.tolist(),
        "n_test": n_test.tolist(),
        "splits": splits,
    }
    artifacts.write_json(root / "world.json", meta)
    return len(classes)
