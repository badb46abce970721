"""The vocabularies a HOI-Synth world is drawn over, behind one interface the generator reads.

``synth`` is the default book's world (``vocab``: 11 verbs, 14 objects, its plausible classes,
rare set and splits drawn by the generator); ``hico`` is HICO-DET's shape (``hico_vocab``: the
official 117 verbs, 80 objects, 600 classes, rare set, zero-shot splits and prompts). A
``Vocabulary`` holds the names written to the annotation files, each object's look, each verb's
pose family, the class text and the caption rule; where it names a rare set and splits they
are used as given, else the generator draws them (the default's recipe, unchanged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from hoilib.data.synth import vocab
from hoilib.data.synth.vocab import ObjectKind

NAMES = ("synth", "hico")


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    """Everything class-specific a world is drawn from."""

    name: str
    verbs: list[str]  # as written to the annotation files
    object_names: list[str]  # as written to the annotation files
    objects: list[ObjectKind]  # each object's look (its ``name`` is the object's text)
    classes: list[tuple[int, int]]  # (verb index, object index), in class order
    families: list[str]  # per verb: the renderer's pose family (``render.make_pose``)
    look_verb: str | None  # the verb whose class may be added to a pair's (look_at), if any
    look_compatible: frozenset[int]  # verbs whose pairs may also carry the look class
    prompts: list[str]
    descriptors: list[list[str]]
    phrasings: list[list[str]]
    caption: Callable  # (class labels, rng, verb share, owed words) -> a pretraining caption
    caption_words: Callable[[], set[str]]  # the words the captions owe
    rare: list[int] | None  # a fixed rare set (drawn under 10), or None: drawn by the power law
    splits: dict[str, list[int]] | None  # fixed unseen lists, or None: drawn by make_splits
    # each scene drawn from a stream of its own, so several processes draw the same bytes (the
    # default world keeps the single stream its published numbers were drawn from)
    scene_streams: bool

    def object_text(self, o: int, rng) -> str:
        """The caption of an object-only pretraining crop."""
        kind = self.objects[o]
        return rng.choice(vocab.OBJECT_TEMPLATES).format(o=kind.name, c=kind.color_word)


def _synth() -> Vocabulary:
    classes = vocab.hoi_classes()
    verbs, objs = vocab.VERBS, vocab.OBJECTS

    def caption(labels, rng, share, *, owed):
        names = [verbs[classes[c][0]] for c in labels]
        return vocab.captions_for(
            names, objs[classes[labels[0]][1]], rng, verb_share=share, owed=owed
        )

    return Vocabulary(
        name="synth",
        verbs=list(verbs),
        object_names=list(vocab.OBJECT_NAMES),
        objects=list(objs),
        classes=classes,
        families=list(verbs),
        look_verb="look_at",
        look_compatible=frozenset(verbs.index(v) for v in vocab.LOOK_COMPATIBLE),
        prompts=[vocab.class_prompt(verbs[v], objs[o].name) for v, o in classes],
        descriptors=[vocab.descriptors(verbs[v], objs[o]) for v, o in classes],
        phrasings=[vocab.class_phrasings(verbs[v], objs[o]) for v, o in classes],
        caption=caption,
        caption_words=vocab.caption_words,
        rare=None,
        splits=None,
        scene_streams=False,
    )


def _hico() -> Vocabulary:
    from hoilib.data.hico import lists
    from hoilib.data.synth.hico_vocab import hico_text, verb_family

    text = hico_text()
    return Vocabulary(
        name="hico",
        verbs=lists.verbs(),
        object_names=lists.objects(),
        objects=text.objects,
        classes=text.classes,
        families=[verb_family(v) for v in lists.verbs()],
        look_verb=None,
        look_compatible=frozenset(),
        prompts=list(text.prompts),
        descriptors=text.descriptors,
        phrasings=[text.phrasings(i) for i in range(len(text.classes))],
        caption=text.caption,
        caption_words=text.caption_words,
        rare=lists.rare(),
        splits={s: lists.unseen(s) for s in lists.SPLITS},
        scene_streams=True,
    )


@lru_cache(maxsize=len(NAMES))
def vocabulary(name: str = "synth") -> Vocabulary:
    """The named vocabulary (``NAMES``), built once per process."""
    if name not in NAMES:
        raise ValueError(f"unknown HOI-Synth vocabulary {name!r}; known: {', '.join(NAMES)}")
    return _synth() if name == "synth" else _hico()
