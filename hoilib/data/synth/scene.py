"""One HOI-Synth scene: people posed by their verbs' families beside their objects, and distractors;
and the drawing of many scenes by several processes where a world allows it.

``render_scene`` reads its classes through a ``Vocabulary`` (``vocabularies``): a verb is posed
by its family (the default world's verbs are their own families), an object drawn with its
look. A world with one random stream (the default, whose images are published) draws its
scenes in order in one process. A world with ``scene_streams`` draws scene ``i`` of a split from
``scene_rng(seed, split, i)`` alone, so ``pool.ordered_map`` may hand scenes to worker processes and
the files are the same bytes for any number of them.
"""

from __future__ import annotations

import random
from pathlib import Path

from hoilib import artifacts
from hoilib.data.crops import pair_crop
from hoilib.data.synth import render
from hoilib.data.synth.vocabularies import Vocabulary, vocabulary

# fewer scenes than this are drawn in this process: starting workers would cost more
POOL_MIN_SCENES = 2000


def _place_pair(labels, voc: Vocabulary, size_ss, *, H, rng, strip):
    """Pose one person and their object; return (pose, (kind, cx, cy, w, h, d), union box) in supersampled px."""
    v, o = voc.classes[labels[0]]
    verb = voc.families[v]
    kind = voc.objects[o]
    looks = verb == "look_at" or len(labels) > 1
    d = rng.choice([-1, 1])
    scale = rng.uniform(0.85, 1.15)
    ow, oh = kind.size[0] * H * scale, kind.size[1] * H * scale
    pose = render.make_pose(verb, looks, (0.0, 0.0), H=H, d=d, rng=rng)
    cx, cy = render.object_anchor(verb, pose, H, d=d, ow=ow, oh=oh, feet=(0.0, 0.0), rng=rng)
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
    pairs: list[list[int]],
    voc: Vocabulary,
    image_size: int,
    *,
    rng: random.Random,
    n_distractors: int,
):
    """Draw one scene; return the image, per-pair (human box, object box, object index, labels),
    and the distractors' (box, object index)."""
    size_ss = image_size * render.SS
    img, dr = render.new_canvas(image_size, rng)
    n = len(pairs)
    drawn, ann = [], []
    for i, labels in enumerate(pairs):
        strip = (size_ss * i / n, size_ss * (i + 1) / n)
        H = rng.uniform(0.36, 0.48) * size_ss * (1.0 if n < 3 else 0.85)
        for _ in range(6):
            verb, kind, pose, (cx, cy, ow, oh, d), (dx, dy), fits = _place_pair(
                labels, voc, size_ss, H=H, rng=rng, strip=strip
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
        ann.append((pose.box(), ob, voc.classes[labels[0]][1], labels))
    extra = []
    for _ in range(n_distractors):
        kind = rng.choice(voc.objects)
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
            ([cx - ow / 2, cy - oh / 2, cx + ow / 2, cy + oh / 2], voc.objects.index(kind))
        )
    for item in drawn:
        if item[0] == "person":
            render.draw_person(dr, item[1], item[2])
        else:
            _, kind, cx, cy, ow, oh, color, d = item
            render.draw_object(dr, kind, cx, cy=cy, w=ow, h=oh, color=color, d=d)
    img = render.finish(img, image_size)
    lim = float(image_size)

    def to_px(b):
        return [round(min(max(c / render.SS, 0.0), lim), 2) for c in b]

    pairs_out = [(to_px(bh), to_px(bo), oi, labels) for bh, bo, oi, labels in ann]
    distractors = [(to_px(b), oi) for b, oi in extra]
    return img, pairs_out, distractors


def scene_rng(seed: int, split: str, i: int) -> random.Random:
    """The random stream of scene ``i`` of a split (train, test, pretrain) in a world of streams."""
    return random.Random(f"hoi-synth-{seed}-{split}-{i}")


def draw_split_scene(job: tuple) -> tuple[list, list]:
    """Draw and save one train/test image from its own stream; return (pairs, distractors)."""
    path, vocab_name, seed, split, i, group, image_size = job
    rng = scene_rng(seed, split, i)
    n_distractors = rng.choice([0, 0, 1, 2])
    img, pairs, distractors = render_scene(
        group, vocabulary(vocab_name), image_size, rng=rng, n_distractors=n_distractors
    )
    with artifacts.atomic_path(Path(path)) as tmp:
        img.save(tmp, format="PNG")
    return pairs, distractors


def draw_pretrain_scene(job: tuple) -> None:
    """Draw one pretraining scene from its own stream and save its planned crops."""
    crop_dir, vocab_name, seed, i, group, image_size, crop_size, crops = job
    rng = scene_rng(seed, "pretrain", i)
    n_distractors = rng.choice([0, 1])
    img, pairs, _ = render_scene(
        group, vocabulary(vocab_name), image_size, rng=rng, n_distractors=n_distractors
    )
    for j, kind_name, fname in crops:
        bh, bo = pairs[j][0], pairs[j][1]
        with artifacts.atomic_path(Path(crop_dir) / fname) as tmp:
            pair_crop(img, bh, bo, kind=kind_name, size=crop_size).save(tmp, format="PNG")
