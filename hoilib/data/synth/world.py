"""Generate HOI-Synth: scenes, HICO-DET format annotations, splits, captions, descriptors.

It is longer than 300 lines because the class frequencies, the scenes and the files they
are written to are one deterministic recipe; the drawing lives apart in ``render``.

The world is a pure function of its spec (seed, image counts, resolution): the
same spec writes byte-identical annotation files. Class frequencies follow a
power law fitted so that about a fifth of the classes are rare (< 10 training
instances), as in HICO-DET; the test set adds a floor of ``TEST_FLOOR`` instances per
class, so every (unseen) class's AP rests on enough positives. Pretraining captions read
like web alt-text (see ``vocab.captions_for``): the object always, the verb in a share
``caption_verb_share`` of them, and together they hold every word of the class text.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hoilib import artifacts, cache
from hoilib.data.crops import pair_crop
from hoilib.data.splits import make_splits
from hoilib.data.synth import render
from hoilib.data.synth.vocab import (
    LOOK_COMPATIBLE,
    OBJECT_NAMES,
    OBJECT_TEMPLATES,
    OBJECTS,
    VERBS,
    caption_words,
    captions_for,
    class_phrasings,
    class_prompt,
    descriptors,
    hoi_classes,
)
from hoilib.progress import tqdm
from hoilib.timing import timed

GENERATOR_VERSION = 3
RARE_THRESHOLD = 10
# Test instances every class gets when the test set can hold them: an AP resting on fewer
# positives (each unseen class's AP is a point of a zero-shot mAP) is too noisy to read.
TEST_FLOOR = 10
PEOPLE_PER_IMAGE = ([1, 2, 3], [0.35, 0.4, 0.25])


@dataclass(frozen=True)
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

    def key(self) -> dict:
        return {**asdict(self), "generator_version": GENERATOR_VERSION}


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
    n_classes: int, total: int, rare_fraction: float, minimum: int = 1
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


def _labels(cls_idx, classes, rng: random.Random, look_prob: float, look_cls: dict) -> list[int]:
    """HOI labels of one pair: its primary class, plus look_at with some probability."""
    v, o = classes[cls_idx]
    labels = [cls_idx]
    if VERBS[v] in LOOK_COMPATIBLE and rng.random() < look_prob:
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


def _place_pair(labels, classes, size_ss, H, rng, strip):
    """Pose one person and their object; return (pose, (kind, cx, cy, w, h, d), union box) in supersampled px."""
    v, o = classes[labels[0]]
    verb = VERBS[v]
    kind = OBJECTS[o]
    looks = verb == "look_at" or len(labels) > 1
    d = rng.choice([-1, 1])
    scale = rng.uniform(0.85, 1.15)
    ow, oh = kind.size[0] * H * scale, kind.size[1] * H * scale
    pose = render.make_pose(verb, looks, (0.0, 0.0), H, d, rng)
    cx, cy = render.object_anchor(verb, pose, H, d, ow, oh, (0.0, 0.0), rng)
    pb = pose.box()
    ob = [cx - ow / 2, cy - oh / 2, cx + ow / 2, cy + oh / 2]
    ub = [min(pb[0], ob[0]), min(pb[1], ob[1]), max(pb[2], ob[2]), max(pb[3], ob[3])]
    if verb in ("ride", "sit_on"):
        ground_y = ob[3]
    else:
        ground_y = max(0.0, ob[3])  # feet are at y=0
    margin = 2.0 * render.SS
    lo_x, hi_x = strip
    target_x = rng.uniform(lo_x, hi_x)
    dx = target_x - (ub[0] + ub[2]) / 2
    dx = min(max(dx, margin - ub[0]), size_ss - margin - ub[2])
    ground = rng.uniform(0.8, 0.96) * size_ss
    dy = ground - ground_y
    dy = min(max(dy, margin - ub[1]), size_ss - margin - ub[3])
    fits = ub[2] - ub[0] < size_ss - 2 * margin and ub[3] - ub[1] < size_ss - 2 * margin
    return verb, kind, pose, (cx + dx, cy + dy, ow, oh, d), (dx, dy), fits


def _shift_pose(pose: render.Pose, dx: float, dy: float) -> render.Pose:
    sh = lambda p: (p[0] + dx, p[1] + dy)  # noqa: E731
    return render.Pose(
        head=sh(pose.head),
        head_r=pose.head_r,
        neck=sh(pose.neck),
        hip=sh(pose.hip),
        hands=[(sh(e), sh(h)) for e, h in pose.hands],
        legs=[(sh(k), sh(f)) for k, f in pose.legs],
        gaze=pose.gaze,
        width=pose.width,
    )


def render_scene(
    pairs: list[list[int]], classes, image_size: int, rng: random.Random, n_distractors: int
):
    """Draw one scene; return the image, per-pair (human box, object box, object index), and all boxes."""
    size_ss = image_size * render.SS
    img, dr = render.new_canvas(image_size, rng)
    n = len(pairs)
    drawn, ann = [], []
    for i, labels in enumerate(pairs):
        strip = (size_ss * i / n, size_ss * (i + 1) / n)
        H = rng.uniform(0.36, 0.48) * size_ss * (1.0 if n < 3 else 0.85)
        for _ in range(6):
            verb, kind, pose, (cx, cy, ow, oh, d), (dx, dy), fits = _place_pair(
                labels, classes, size_ss, H, rng, strip
            )
            if fits:
                break
            H *= 0.8
        pose = _shift_pose(pose, dx, dy)
        color = render.jitter_color(kind.color, rng)
        shirt = tuple(rng.randint(40, 220) for _ in range(3))
        obj_first = verb in ("ride", "sit_on") or (verb != "carry" and rng.random() < 0.5)
        person = ("person", pose, shirt)
        thing = ("object", kind, cx, cy, ow, oh, color, d)
        drawn += [thing, person] if obj_first else [person, thing]
        ob = [cx - ow / 2, cy - oh / 2, cx + ow / 2, cy + oh / 2]
        ann.append((pose.box(), ob, OBJECT_NAMES.index(kind.name), labels))
    extra = []
    for _ in range(n_distractors):
        kind = rng.choice(OBJECTS)
        H = 0.4 * size_ss
        ow, oh = kind.size[0] * H, kind.size[1] * H
        cx = rng.uniform(ow / 2 + 4, size_ss - ow / 2 - 4)
        cy = rng.uniform(0.55 * size_ss, size_ss - oh / 2 - 4)
        item = (
            "object",
            kind,
            cx,
            cy,
            ow,
            oh,
            render.jitter_color(kind.color, rng),
            rng.choice([-1, 1]),
        )
        drawn.insert(0 if rng.random() < 0.7 else len(drawn), item)
        extra.append(
            ([cx - ow / 2, cy - oh / 2, cx + ow / 2, cy + oh / 2], OBJECT_NAMES.index(kind.name))
        )
    for item in drawn:
        if item[0] == "person":
            render.draw_person(dr, item[1], item[2])
        else:
            _, kind, cx, cy, ow, oh, color, d = item
            render.draw_object(dr, kind, cx, cy, ow, oh, color, d)
    img = render.finish(img, image_size)
    lim = float(image_size)

    def to_px(b):
        return [round(min(max(c / render.SS, 0.0), lim), 2) for c in b]

    pairs_out = [(to_px(bh), to_px(bo), oi, labels) for bh, bo, oi, labels in ann]
    distractors = [(to_px(b), oi) for b, oi in extra]
    return img, pairs_out, distractors


def _write_split(
    root: Path, split: str, groups, classes, spec: WorldSpec, rng: random.Random, names: dict
):
    """Render one image set and write instances_<split>2015.json and boxes_<split>2015.json."""
    img_dir = root / "images" / f"{split}2015"
    img_dir.mkdir(parents=True, exist_ok=True)
    annotation, filenames, sizes, boxes = [], [], [], []
    for i, group in enumerate(tqdm(groups, desc=f"HOI-Synth {split} images", leave=False)):
        img, pairs, distractors = render_scene(
            group, classes, spec.image_size, rng, rng.choice([0, 0, 1, 2])
        )
        fname = f"synth_{split}2015_{i:06d}.png"
        with artifacts.atomic_path(img_dir / fname) as tmp:
            img.save(tmp, format="PNG")
        entry = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
        for bh, bo, oi, labels in pairs:
            for c in labels:
                entry["boxes_h"].append(bh)
                entry["boxes_o"].append(bo)
                entry["hoi"].append(c)
                entry["object"].append(oi)
                entry["verb"].append(classes[c][0])
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


def _write_pretrain(root: Path, classes, spec: WorldSpec, rng: random.Random, look: dict):
    """Render a separate image set and save crops with alt-text-like captions for CLIP pretraining.

    Classes are drawn in passes over all classes (each pass dealt by ``_class_order``), so
    every class is shown once per pass; once the first pass is drawn, every word of the
    class prompts, caption templates and descriptor sentences is in some caption.
    """
    crop_dir = root / "pretrain"
    crop_dir.mkdir(parents=True, exist_ok=True)
    records, queue = [], []
    owed = caption_words()
    for i in tqdm(range(spec.n_pretrain_images), desc="HOI-Synth pretraining scenes", leave=False):
        n = rng.choices(*PEOPLE_PER_IMAGE)[0]
        group = []
        for _ in range(n):
            if not queue:
                queue = _class_order(classes, rng)
            group.append(_labels(queue.pop(0), classes, rng, spec.look_prob, look))
        img, pairs, _ = render_scene(group, classes, spec.image_size, rng, rng.choice([0, 1]))
        for j, (bh, bo, oi, labels) in enumerate(pairs):
            verbs = [VERBS[classes[c][0]] for c in labels]
            kind = OBJECTS[oi]
            caption = captions_for(verbs, kind, rng, spec.caption_verb_share, owed)
            crops = [("union", caption)]
            if rng.random() < 0.3:
                text = rng.choice(OBJECT_TEMPLATES).format(o=kind.name, c=kind.color_word)
                crops.append(("object", text))
            for kind_name, caption in crops:
                fname = f"pre_{i:06d}_{j}_{kind_name}.png"
                with artifacts.atomic_path(crop_dir / fname) as tmp:
                    pair_crop(img, bh, bo, kind_name, spec.crop_size).save(tmp, format="PNG")
                records.append({"file": f"pretrain/{fname}", "caption": caption})
    artifacts.write_json(root / "captions.json", {"captions": records})
    return records


def world_stage(root: str | Path, spec: WorldSpec) -> cache.Entry:
    """The world as a cached entry: keyed by its spec and by the code that draws it."""
    return cache.Entry(Path(root), "world", spec.key(), code="world")


def generate_world(root: str | Path, spec: WorldSpec = WorldSpec()) -> Path:
    """Write the whole world under ``root`` (skipped when a complete world of this spec is there)."""
    root = Path(root)
    stage = world_stage(root, spec)
    if stage.done():
        return root
    with timed("world generation"):
        n_classes = _write_world(root, spec)
    stage.mark_done(None, {"classes": n_classes})
    return root


def _write_world(root: Path, spec: WorldSpec) -> int:
    """Draw and write every file of the world; returns the number of classes."""
    rng = random.Random(spec.seed)
    classes = hoi_classes()
    look = {o: i for i, (v, o) in enumerate(classes) if VERBS[v] == "look_at"}
    names = {
        "objects": list(OBJECT_NAMES),
        "verbs": list(VERBS),
        "correspondence": [[i, o, v] for i, (v, o) in enumerate(classes)],
    }
    order = list(range(len(classes)))
    rng.shuffle(order)

    def instances(n_images, test=False):
        sizes = rng.choices(*PEOPLE_PER_IMAGE, k=n_images)
        total = sum(sizes)
        if test:  # the training distribution, with TEST_FLOOR of every class when it fits
            counts = allocate(total, train_counts + 0.5, minimum=TEST_FLOOR)
        else:
            counts = np.zeros(len(classes), dtype=np.int64)
            counts[order] = power_law_counts(len(classes), total, spec.rare_fraction)
        items = [c for c in range(len(classes)) for _ in range(int(counts[c]))]
        rng.shuffle(items)
        labels = [_labels(c, classes, rng, spec.look_prob, look) for c in items]
        return _group(labels, sizes), counts

    train_groups, train_counts = instances(spec.n_train_images)
    test_groups, _ = instances(spec.n_test_images, test=True)
    train_ann = _write_split(root, "train", train_groups, classes, spec, rng, names)
    test_ann = _write_split(root, "test", test_groups, classes, spec, rng, names)
    n_train = np.zeros(len(classes), dtype=np.int64)
    for entry in train_ann:
        for c in entry["hoi"]:
            n_train[c] += 1
    n_test = np.zeros(len(classes), dtype=np.int64)
    for entry in test_ann:
        for c in entry["hoi"]:
            n_test[c] += 1
    rare = [int(i) for i in np.flatnonzero(n_train < RARE_THRESHOLD)]
    splits = make_splits(
        classes,
        n_train,
        rare,
        VERBS,
        OBJECT_NAMES,
        seed=spec.seed,
        exclude_verbs=("no_interaction", "look_at"),
    )
    _write_pretrain(root, classes, spec, rng, look)
    meta = {
        "name": "HOI-Synth",
        "spec": spec.key(),
        "classes": [
            {
                "index": i,
                "verb": VERBS[v],
                "object": OBJECT_NAMES[o],
                "prompt": class_prompt(VERBS[v], OBJECT_NAMES[o]),
                "descriptors": descriptors(VERBS[v], OBJECTS[o]),
                "phrasings": class_phrasings(VERBS[v], OBJECTS[o]),
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
