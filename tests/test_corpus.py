"""The text-space corpus: the pretraining captions' phrasings of every class, pushed as class-sets."""

from __future__ import annotations

import json
import shutil

import torch

from hoilib.data.build import prepare_world
from hoilib.data.synth.vocab import (
    OBJECTS,
    SCENES,
    VERB_CAPTIONS,
    VERB_TEXT,
    VERBS,
    class_phrasings,
    class_prompt,
    descriptors,
    hoi_classes,
    words,
)
from hoilib.data.world import World
from hoilib.models import textspace
from hoilib.models.backbone import WordTokenizer
from hoilib.models.textspace import corpus_sets

CLASSES = [(VERBS[v], OBJECTS[o]) for v, o in hoi_classes()]


def _world(phrasings: bool) -> World:
    """A World holding only the class text that ``corpus_sets`` reads."""
    return World(
        root=None,
        train=None,
        test=None,
        prompts=[class_prompt(v, o.name) for v, o in CLASSES],
        descriptors=[descriptors(v, o) for v, o in CLASSES],
        splits={},
        meta={},
        phrasings=[class_phrasings(v, o) for v, o in CLASSES] if phrasings else [],
    )


def test_every_class_gets_the_same_phrasings_naming_its_verb_and_object():
    counts = {len(class_phrasings(v, o)) for v, o in CLASSES}
    n_heads = len(VERB_CAPTIONS) - 1 + len(SCENES)  # the scene template once per scene
    assert counts == {n_heads * (1 + 4)}  # alone, and with each of the 4 descriptors
    seen: dict[str, tuple] = {}
    for v, o in CLASSES:
        ps = class_phrasings(v, o)
        assert len(set(ps)) == len(ps)
        for p in ps:
            head = p.split(";")[0]
            assert VERB_TEXT[v][0] in head and o.name in words(head), (v, o.name, p)
            assert seen.setdefault(p, (v, o.name)) == (v, o.name), p  # no two classes share one


def test_corpus_sets_add_one_class_set_per_phrasing():
    old, new = corpus_sets(_world(False)), corpus_sets(_world(True))
    c, k = len(CLASSES), len(class_phrasings(*CLASSES[0]))
    assert len(old) == 8 and len(new) == 8 + k
    assert new[:8] == old
    assert all(len(s) == c for s in new)
    for j, (v, o) in enumerate(CLASSES):
        assert [s[j] for s in new[8:]] == class_phrasings(v, o)  # sentence j is class j's
        assert all(o.name in words(s[j]) for s in new)
    assert corpus_sets(_world(True)) == new  # deterministic


def test_world_without_phrasings_gives_the_old_corpus():
    w = _world(False)
    w.phrasings = [[] for _ in CLASSES]  # an old world.json: every class without the field
    assert len(corpus_sets(w)) == 8


def test_generated_world_carries_phrasings_and_an_old_one_still_loads(
    tiny_cfg, tiny_world, tmp_path
):
    world = prepare_world(tiny_cfg)
    assert world.phrasings == [class_phrasings(v, o) for v, o in CLASSES]
    old = tmp_path / "old"
    shutil.copytree(tiny_world, old)
    meta = json.loads((old / "world.json").read_text())
    for cls in meta["classes"]:
        del cls["phrasings"]
    (old / "world.json").write_text(json.dumps(meta))
    loaded = prepare_world(tiny_cfg.updated({"world.data_root": str(old)}))
    assert loaded.phrasings == [[] for _ in CLASSES]
    assert len(corpus_sets(loaded)) == 8


def test_long_sentences_are_cut_to_leave_room_for_the_context_tokens():
    tok = WordTokenizer.from_corpus(["a b c d e f g"], context_length=8)
    out = textspace._tokens(tok, ["a b", "a b c d e f g"], room=2)
    assert torch.equal(out[0], tok(["a b"])[0])  # a sentence that fits keeps its tokens
    assert out[1].tolist() == [tok.sot, *tok(["a b c d"])[0, 1:5].tolist(), tok.eot, 0, 0]
