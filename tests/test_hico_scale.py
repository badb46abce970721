"""hico-scale (issue 21): HOI-Synth over HICO-DET's verbs, objects, 600 classes, rare set, splits and
prompts; its vocabulary, its drawing by several processes, the default world left byte for byte as
it was, and every chapter of the reduced profile end to end."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import SHORT_BUDGETS
from PIL import Image, ImageDraw

from hoilib.config import resolve
from hoilib.data.build import prepare_world, world_spec
from hoilib.data.hico import lists
from hoilib.data.synth import render
from hoilib.data.synth.hico_vocab import FAMILIES, SHAPES, hico_text
from hoilib.data.synth.vocab import VERBS, words
from hoilib.data.synth.vocabularies import vocabulary
from hoilib.data.synth.world import RARE_THRESHOLD, WorldSpec, fixed_rare_counts, generate_world
from hoilib.provenance import config_fingerprint

FILES = (
    "instances_train2015.json",
    "instances_test2015.json",
    "boxes_train2015.json",
    "boxes_test2015.json",
    "world.json",
    "captions.json",
)
# the smoke profile's world, written by the code before vocabularies existed (commit 50decfa)
SMOKE_SPEC = dict(seed=0, n_train_images=60, n_test_images=30, n_pretrain_images=80, image_size=128)
SMOKE_SHA256 = {
    "instances_train2015.json": "4a52f22dc11e992b21c5bbce6107caada3ad5f8244425b097313f166c2e8ceda",
    "instances_test2015.json": "d1f7d992b9b48c46b2b04849bc3afff45aaa10f3e1c23913945d0acf465ba0ad",
    "boxes_train2015.json": "704b9155555e58566ad7f9cdc4354b0d638e03c78f66556739e2f2f9f8d012c5",
    "boxes_test2015.json": "814a31fae83c6025ccb01a3c5bf8bb5de00fb2c556d352e282f60cdec3de3d4e",
    "world.json": "e2ac38adc2baafe2b5987b2b1a91135070e1e7866a69fb825c3749b2990950a1",
    "captions.json": "6d0ec7a0b75667b26e52f702ca75aa9f4f3184623af125015612c8e68f5955a6",
    "images": "9766c647f419eae7c82963650f9864cec96ae1a3c035171c65bc6157afd40933",
}
# config fingerprints (what the chapters' cache keys hash) of the synth profiles. Moved at issue 32,
# on purpose: chapter 5's settings became parameters (bridge.t_grid and bridge.lambdas, the consumers
# and claims sections, evaluation.consumer_* moved to consumers.*, CapDec's noise, rate and
# temperature, DeCap's temperature), with the values the code had; and at issue 34, on purpose:
# ezhoi.prompt_kind's default became the design document's class-specific prompts
FINGERPRINTS = {
    "smoke": "c34f64ba8a915896",
    "synth": "f3c87987bf84645e",
    "synth-grid": "96903242fbc539f3",
    "hico-fixture": "d2824ef67df07ef4",
}
OFFICIAL = {s: lists.unseen(s) for s in lists.SPLITS}


def _digests(root: Path) -> dict[str, str]:
    out = {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in FILES}
    h = hashlib.sha256()
    for p in sorted((root / "images").rglob("*.png")):
        h.update(p.name.encode() + p.read_bytes())
    out["images"] = h.hexdigest()
    return out


def test_the_default_world_and_its_keys_do_not_move(tmp_path):
    """The smoke world's files are the bytes the code wrote before the hico vocabulary; the spec
    key, the parameters' dump and the run fingerprints hold no new field at their defaults."""
    spec = WorldSpec(**SMOKE_SPEC)
    assert spec.key() == {
        **SMOKE_SPEC,
        "crop_size": 64,
        "look_prob": 0.35,
        "rare_fraction": 0.2,
        "caption_verb_share": 0.5,
        "generator_version": 3,
    }
    assert world_spec(resolve("smoke")) == spec
    generate_world(tmp_path, spec)
    assert _digests(tmp_path) == SMOKE_SHA256
    assert {p: config_fingerprint(resolve(p)) for p in FINGERPRINTS} == FINGERPRINTS
    dumped = resolve("synth").model_dump()["world"]
    assert "vocabulary" not in dumped and "corpus_phrasings" not in dumped
    assert resolve("hico-scale").model_dump()["world"]["vocabulary"] == "hico"


def test_the_vocabulary_is_hico_dets_lists():
    voc = vocabulary("hico")
    assert (len(voc.verbs), len(voc.object_names), len(voc.classes)) == (117, 80, 600)
    assert voc.verbs == lists.verbs() and voc.object_names == lists.objects()
    assert voc.classes == lists.classes() and voc.prompts == lists.prompts()
    assert voc.rare == lists.rare() and len(voc.rare) == 138
    assert voc.splits == OFFICIAL
    assert [len(p) for p in voc.phrasings] == [45] * 600  # as many as a default world's class


def test_every_verb_has_a_pose_family_and_every_object_a_distinct_look():
    listed = [v for vs in FAMILIES.values() for v in vs]
    assert len(listed) == len(set(listed)) and set(listed) <= set(lists.verbs())
    assert set(FAMILIES) <= set(VERBS) and set(vocabulary("hico").families) <= set(VERBS)
    named = [o for os in SHAPES.values() for o in os]
    assert sorted(named) == sorted(lists.objects())
    looks = vocabulary("hico").objects
    assert len({(k.shape, k.color, k.texture, k.size) for k in looks}) == 80
    assert len({(k.shape, k.color_word) for k in looks}) == 80
    dr = ImageDraw.Draw(Image.new("RGB", (64, 64)))
    for k in looks:  # every look is one the renderer draws
        render.draw_object(dr, k, 32, cy=32, w=40 * k.size[0], h=40 * k.size[1], color=k.color, d=1)


def test_the_class_text_reads_back_the_prompts_and_tells_verbs_apart():
    text = hico_text()
    for i, (v, o) in enumerate(text.classes):
        obj = text.objects[o].name
        if text.verbs[v] != "no_interaction":
            assert (
                f"a photo of a person {text.phrase[i]} {text.article[i]} {obj}" == text.prompts[i]
            )
        ds = text.descriptors[i]
        assert len(ds) == len(set(ds)) == 4 and all(obj in d for d in ds)
    by_object: dict[int, dict[str, int]] = {}
    for i, (v, o) in enumerate(text.classes):
        for d in text.descriptors[i]:
            assert by_object.setdefault(o, {}).setdefault(d, v) == v, d


def test_one_pass_of_captions_teaches_every_word_of_the_class_text():
    text = hico_text()
    voc = vocabulary("hico")
    needed = set().union(*(words(t) for t in voc.prompts))
    needed |= set().union(*(words(d) for ds in voc.descriptors for d in ds))
    needed |= set().union(*(words(p) for ps in voc.phrasings for p in ps))
    owed = text.caption_words()
    assert needed <= owed
    rng = random.Random(0)
    caps = [text.caption([c], rng, 0.5, owed=owed) for c in rng.sample(range(600), 600)]
    assert owed == set() and needed <= set().union(*(words(c) for c in caps))


def test_the_rare_classes_are_drawn_under_ten_and_the_rest_a_long_tail():
    rare = lists.rare()
    order = random.Random(0).sample(range(600), 600)
    counts = fixed_rare_counts(72_000, order, rare, rng=random.Random(1))
    mask = np.zeros(600, dtype=bool)
    mask[rare] = True
    assert counts.sum() == 72_000 and counts.dtype == np.int64
    assert (1 <= counts[mask]).all() and (counts[mask] < RARE_THRESHOLD).all()
    assert (counts[~mask] >= RARE_THRESHOLD).all() and counts.max() > 100 * RARE_THRESHOLD
    common = counts[[c for c in order if not mask[c]]]
    assert common[-1] < 11 and (np.diff(common) <= 1).all()  # falling with the rank to 10
    assert np.median(common) < 0.2 * common.mean()  # a long tail
    assert fixed_rare_counts(120, order, rare, rng=random.Random(1)).sum() == 120


def test_a_hico_world_is_the_same_bytes_for_any_number_of_processes(tmp_path):
    spec = WorldSpec(
        seed=1, n_train_images=12, n_test_images=6, n_pretrain_images=20, image_size=96,
        vocabulary="hico",
    )  # fmt: skip
    assert spec.key()["vocabulary"] == "hico"
    one, two = generate_world(tmp_path / "one", spec, 1), generate_world(tmp_path / "two", spec, 2)
    assert _digests(one) == _digests(two)
    crops = [sorted((r / "pretrain").iterdir()) for r in (one, two)]
    assert [p.name for p in crops[0]] == [p.name for p in crops[1]] and crops[0]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(*crops, strict=True))
    meta = json.loads((one / "world.json").read_text())
    assert meta["vocabulary"] == "hico" and meta["rare"] == lists.rare()


@pytest.mark.slow
def test_every_chapter_runs_on_hico_scale_ci(tmp_path):
    """The CI check of issue 21: `hoilib run --profile hico-scale-ci` passes on the CPU at 600 classes
    (its world and sweeps, on the shortest budgets: the budgets' numbers are the smoke book's)."""
    from hoilib.run.runner import chapter_paths, notebook_errors, run_profile

    run_dir = tmp_path / "run"
    overrides = {"run.run_dir": str(run_dir), **SHORT_BUDGETS}
    timings = run_profile("hico-scale-ci", overrides, log=lambda *_: None)
    assert set(timings) == {p.name for p in chapter_paths()}
    for p in chapter_paths():
        assert notebook_errors(run_dir / "notebooks" / p.name) == []
        metrics = json.loads((run_dir / "metrics" / f"{p.stem}.json").read_text())
        assert metrics["profile"] == "hico-scale-ci" and metrics["metrics"], p.name
    world = prepare_world(resolve("hico-scale-ci", overrides))
    assert (world.num_classes, len(world.test.verbs), len(world.test.objects)) == (600, 117, 80)
    assert np.flatnonzero(world.rare).tolist() == lists.rare()
    assert {s: np.flatnonzero(world.unseen(s)).tolist() for s in lists.SPLITS} == OFFICIAL
    stats = json.loads((run_dir / "metrics" / "00_hoi_synth.json").read_text())["metrics"]
    assert stats["statistics"]["HOI classes"] == 600
    m5 = json.loads((run_dir / "metrics" / "05_evaluation.json").read_text())["metrics"]
    assert {r["method"] for r in m5["per_seed"]} >= {"EZ-HOI, no bridge"}
