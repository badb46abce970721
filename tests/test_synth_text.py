"""HOI-Synth text: the pretraining captions teach every word the class text uses, read like
alt-text (object always, verb in a stated share), and descriptors tell the verbs apart."""

from __future__ import annotations

import json
import random

from hoilib.data.build import prepare_world
from hoilib.data.synth.vocab import (
    OBJECTS,
    VERB_TEXT,
    VERBS,
    captions_for,
    descriptors,
    hoi_classes,
    words,
)
from hoilib.models.textspace import corpus_sets


def test_captions_hold_every_word_of_the_class_text(tiny_cfg, tiny_world):
    """Prompts, prompt templates and descriptor sentences: no word left at random init."""
    world = prepare_world(tiny_cfg)
    needed = set()
    for sentences in corpus_sets(world):  # prompts, each prompt template, each descriptor
        for t in sentences:
            needed |= words(t)
    for ds in world.descriptors:
        for d in ds:
            needed |= words(d)
    captions = json.loads((tiny_world / "captions.json").read_text())["captions"]
    seen = set().union(*(words(r["caption"]) for r in captions))
    assert not needed - seen, sorted(needed - seen)


def test_no_descriptor_shared_by_two_verbs_of_an_object():
    by_object: dict[int, dict[str, int]] = {}
    for v, o in hoi_classes():
        ds = descriptors(VERBS[v], OBJECTS[o])
        assert len(ds) == len(set(ds)) >= 3
        for d in ds:
            first = by_object.setdefault(o, {}).setdefault(d, v)
            assert first == v, (OBJECTS[o].name, d, VERBS[first], VERBS[v])


def test_captions_name_the_object_always_and_the_verb_in_the_stated_share():
    rng = random.Random(0)
    for share in (0.3, 0.5, 1.0):
        named, n = 0, 3000
        for k in range(n):
            v, o = hoi_classes()[k % len(hoi_classes())]
            verb, obj = VERBS[v], OBJECTS[o]
            text = captions_for([verb], obj, rng, verb_share=share, owed=set())
            head = text.split(";")[0]
            assert obj.name in head.split(), text
            named += VERB_TEXT[verb][0] in head
        assert abs(named / n - share) < 0.03, (share, named / n)


def test_captions_come_in_several_phrasings(tiny_world):
    captions = json.loads((tiny_world / "captions.json").read_text())["captions"]
    heads = {r["caption"].split(";")[0].split(" a ")[0] for r in captions}
    assert len(heads) >= 4, heads
    assert any("sky" in r["caption"] or "ground" in r["caption"] for r in captions)


def test_the_profile_parameter_reaches_the_world_spec():
    from hoilib.config import resolve
    from hoilib.data.build import world_spec

    assert world_spec(resolve("smoke", {"world.caption_verb_share": 0.3})).caption_verb_share == 0.3
