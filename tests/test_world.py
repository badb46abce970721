"""HOI-Synth: determinism, statistics, zero-shot splits, captions and descriptors."""

from __future__ import annotations

import json

import numpy as np
from conftest import TINY

from hoilib.data.annotations import load_annotations
from hoilib.data.build import prepare_world
from hoilib.data.splits import SPLITS
from hoilib.data.synth.vocab import OBJECT_NAMES, VERBS, hoi_classes
from hoilib.data.synth.world import (
    RARE_THRESHOLD,
    TEST_FLOOR,
    WorldSpec,
    allocate,
    generate_world,
    power_law_counts,
)


def test_vocabulary_sizes():
    classes = hoi_classes()
    assert len(VERBS) >= 10 and len(OBJECT_NAMES) >= 12 and len(classes) >= 60
    assert len(set(classes)) == len(classes)


def test_same_seed_byte_identical_annotations(tmp_path, tiny_world):
    other = tmp_path / "again"
    generate_world(other, TINY)
    for name in (
        "instances_train2015.json",
        "instances_test2015.json",
        "world.json",
        "captions.json",
        "boxes_test2015.json",
    ):
        assert (other / name).read_bytes() == (tiny_world / name).read_bytes(), name
    a = sorted((tiny_world / "images" / "test2015").iterdir())
    b = sorted((other / "images" / "test2015").iterdir())
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_other_seed_differs(tmp_path, tiny_world):
    generate_world(tmp_path, WorldSpec(**{**TINY.__dict__, "seed": TINY.seed + 1}))
    assert (tmp_path / "instances_train2015.json").read_bytes() != (
        tiny_world / "instances_train2015.json"
    ).read_bytes()


def test_power_law_rare_fraction_at_book_size():
    n = len(hoi_classes())
    counts = power_law_counts(n, 2280, 0.2)
    assert counts.sum() == 2280
    rare = (counts < RARE_THRESHOLD).mean()
    assert 0.15 <= rare <= 0.3, rare


def test_book_size_statistics(tmp_path):
    """The synth profile's world: ~1/5 rare, >= TEST_FLOOR test instances per class, HICO-like splits."""
    spec = WorldSpec(
        seed=0, n_train_images=1200, n_test_images=600, n_pretrain_images=0, image_size=160
    )
    generate_world(tmp_path, spec)
    meta = json.loads((tmp_path / "world.json").read_text())
    n = len(meta["classes"])
    assert 0.15 <= len(meta["rare"]) / n <= 0.3
    assert min(meta["n_test"]) >= TEST_FLOOR  # so every unseen class's AP rests on >= 10 positives
    for s in ("rf-uc", "nf-uc"):
        assert len(meta["splits"][s]) == round(0.2 * n)
    rare = set(meta["rare"])
    assert set(meta["splits"]["rf-uc"]) <= rare | set(
        np.argsort(meta["n_train"])[: round(0.2 * n)].tolist()
    )
    assert not set(meta["splits"]["nf-uc"]) & rare


def test_test_floor_shrinks_with_the_world():
    """A world too small for TEST_FLOOR of every class gets the largest floor that fits."""
    w = np.arange(1, 70, dtype=float)[::-1]
    assert allocate(69 * TEST_FLOOR + 50, w, TEST_FLOOR).min() == TEST_FLOOR
    assert allocate(69 * 3 + 5, w, TEST_FLOOR).min() == 3
    assert allocate(40, w, TEST_FLOOR).sum() == 40


def test_splits_hold_their_definitions(tiny_world):
    meta = json.loads((tiny_world / "world.json").read_text())
    classes = [(VERBS.index(c["verb"]), OBJECT_NAMES.index(c["object"])) for c in meta["classes"]]
    for s in SPLITS:
        unseen = set(meta["splits"][s])
        assert unseen, s
        seen = [classes[i] for i in range(len(classes)) if i not in unseen]
        # composition: every verb and object of an unseen class stays seen elsewhere
        if s.endswith("uc"):
            for i in unseen:
                v, o = classes[i]
                assert any(c[0] == v for c in seen) and any(c[1] == o for c in seen)
    uv_verbs = {classes[i][0] for i in meta["splits"]["uv"]}
    assert all(
        (i in meta["splits"]["uv"]) == (classes[i][0] in uv_verbs) for i in range(len(classes))
    )
    uo_objects = {classes[i][1] for i in meta["splits"]["uo"]}
    assert all(
        (i in meta["splits"]["uo"]) == (classes[i][1] in uo_objects) for i in range(len(classes))
    )


def test_unseen_classes_never_in_filtered_training_annotations(tiny_cfg):
    world = prepare_world(tiny_cfg)
    for s in SPLITS:
        train = world.train.without_classes(world.splits[s])
        used = {int(h) for im in train.images for h in im.hoi}
        assert not used & set(world.splits[s]), s
        assert train.class_counts()[world.unseen(s)].sum() == 0


def test_annotations_in_hico_format_and_multilabel(tiny_world):
    doc = json.loads((tiny_world / "instances_train2015.json").read_text())
    for key in ("annotation", "filenames", "empty", "objects", "verbs", "correspondence", "size"):
        assert key in doc
    assert len(doc["correspondence"]) == len(hoi_classes())
    ds = load_annotations(tiny_world / "instances_train2015.json")
    pairs = {}
    for im in ds.images:
        for k in range(len(im.hoi)):
            pairs.setdefault((im.index, tuple(im.boxes_h[k]), tuple(im.boxes_o[k])), []).append(
                int(im.hoi[k])
            )
    assert any(len(v) > 1 for v in pairs.values()), "expected some multi-label pairs"
    assert any(len(im.boxes_h) and len(np.unique(im.boxes_h, axis=0)) > 1 for im in ds.images), (
        "expected several people per image"
    )


def test_captions_cover_every_verb_and_object(tmp_path):
    generate_world(
        tmp_path,
        WorldSpec(seed=1, n_train_images=4, n_test_images=4, n_pretrain_images=400, image_size=128),
    )
    text = " ".join(
        r["caption"] for r in json.loads((tmp_path / "captions.json").read_text())["captions"]
    )
    from hoilib.data.synth.vocab import VERB_TEXT

    for v in VERBS:
        if v != "no_interaction":
            assert VERB_TEXT[v][0] in text, v
    for o in OBJECT_NAMES:
        assert o in text, o
    meta = json.loads((tmp_path / "world.json").read_text())
    assert all(len(c["descriptors"]) >= 3 for c in meta["classes"])
