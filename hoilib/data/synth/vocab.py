"""The HOI-Synth vocabulary: verbs, objects, plausible (verb, object) classes and their text.

Verbs are defined by geometry and pose (see ``render``); objects differ in shape,
colour and texture families, so a small CLIP can tell them apart. Class text
(prompts, captions, descriptors) is generated here so the backbone's word
vocabulary is closed and known.

It is longer than 300 lines because most of it is the verbs' text (a table), and the caption
rule the HICO-shaped vocabulary shares (``caption_by_rule``, ``phrasings_of``) lives with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERBS: list[str] = [
    "no_interaction",
    "hold",
    "carry",
    "ride",
    "sit_on",
    "kick",
    "throw",
    "look_at",
    "push",
    "lift",
    "walk_with",
]

# verb -> (gerund phrase, descriptor sentences: visual cues of the verb; the fourth adds the
# object's look, so every sentence differs between the verbs of one object)
VERB_TEXT: dict[str, tuple[str, list[str]]] = {
    "no_interaction": (
        "standing apart from",
        [
            "the person stands away from the {o} with arms down",
            "the person turns the head away from the {o}",
            "there is open space between the person and the {o}",
            "the {c} {o} with a {t} {s} shape stands away from the person",
        ],
    ),
    "hold": (
        "holding",
        [
            "one arm reaches forward and the hand grips the {o}",
            "the {o} sits at the hand of the person",
            "the {o} is small and close to the front hand",
            "the hand grips the {c} {o} with a {t} {s} shape",
        ],
    ),
    "carry": (
        "carrying",
        [
            "both arms hug the {o} in front of the chest",
            "the {o} covers the middle of the body",
            "the person walks with the {o} held against the body",
            "both arms hug the {c} {o} with a {t} {s} shape",
        ],
    ),
    "ride": (
        "riding",
        [
            "the person is on top of the {o} with the legs down on its side",
            "the body of the person rises above the {o}",
            "the {o} carries the person over the ground",
            "the {c} {o} with a {t} {s} shape carries the person",
        ],
    ),
    "sit_on": (
        "sitting on",
        [
            "the person sits on the {o} with bent knees",
            "the legs point forward over the {o}",
            "the hip of the person rests on the top of the {o}",
            "the person sits on the {c} {o} with a {t} {s} shape",
        ],
    ),
    "kick": (
        "kicking",
        [
            "one leg swings forward and the foot hits the {o}",
            "the {o} is on the ground at the front foot",
            "the person stands on one leg next to the {o}",
            "the foot hits the {c} {o} with a {t} {s} shape",
        ],
    ),
    "throw": (
        "throwing",
        [
            "one arm is raised high toward the {o}",
            "the {o} flies in the air above and ahead of the person",
            "the {o} is high and away from the hand",
            "the {c} {o} with a {t} {s} shape flies in the air",
        ],
    ),
    "look_at": (
        "looking at",
        [
            "the head of the person turns toward the {o}",
            "the eyes of the person face the {o}",
            "the person faces the {o} from a distance",
            "the eyes of the person face the {c} {o} with a {t} {s} shape",
        ],
    ),
    "push": (
        "pushing",
        [
            "the body leans forward and both arms press the {o}",
            "both hands touch the side of the {o}",
            "the {o} stands on the ground in front of the arms",
            "both hands press the {c} {o} with a {t} {s} shape",
        ],
    ),
    "lift": (
        "lifting",
        [
            "both arms are raised and the {o} is above the head",
            "the {o} is high over the person",
            "the hands hold the {o} up over the head",
            "the {c} {o} with a {t} {s} shape is raised above the head",
        ],
    ),
    "walk_with": (
        "walking with",
        [
            "the person walks with long steps beside the {o}",
            "the {o} is on the ground next to the legs",
            "the legs are apart and the {o} moves along",
            "the {c} {o} with a {t} {s} shape moves along next to the person",
        ],
    ),
}


@dataclass(frozen=True, kw_only=True)
class ObjectKind:
    """How an object category looks: shape family, base colour (RGB), texture, size (x person height)."""

    name: str
    shape: str
    color: tuple[int, int, int]
    texture: str
    size: tuple[float, float]
    color_word: str


# name, shape, colour (RGB), texture, size (x person height), colour word: one object kind a row
_OBJECT_ROWS = (
    ("ball", "disc", (220, 40, 40), "solid", (0.22, 0.22), "red"),
    ("horse", "quadruped", (140, 90, 40), "solid", (0.95, 0.62), "brown"),
    ("bicycle", "bicycle", (30, 70, 220), "solid", (0.75, 0.45), "blue"),
    ("chair", "chair", (30, 150, 50), "solid", (0.38, 0.52), "green"),
    ("box", "square", (240, 140, 20), "hatch", (0.34, 0.34), "orange"),
    ("bottle", "bottle", (20, 200, 210), "solid", (0.13, 0.34), "cyan"),
    ("umbrella", "umbrella", (130, 40, 170), "stripes", (0.5, 0.48), "purple"),
    ("skateboard", "board", (235, 215, 20), "solid", (0.55, 0.12), "yellow"),
    ("dog", "quadruped", (120, 120, 120), "dots", (0.45, 0.3), "grey"),
    ("kite", "diamond", (240, 90, 170), "stripes", (0.3, 0.36), "pink"),
    ("bench", "bench", (90, 60, 20), "stripes", (0.7, 0.32), "dark"),
    ("cup", "cup", (245, 245, 245), "dots", (0.17, 0.2), "white"),
    ("book", "book", (20, 30, 110), "lines", (0.2, 0.26), "navy"),
    ("frisbee", "flat", (140, 230, 40), "ring", (0.3, 0.1), "lime"),
)  # fmt: skip
OBJECTS: list[ObjectKind] = [
    ObjectKind(name=n, shape=sh, color=c, texture=t, size=z, color_word=w)
    for n, sh, c, t, z, w in _OBJECT_ROWS
]
OBJECT_NAMES = [o.name for o in OBJECTS]

# Plausible interactions beyond the two every object has (look_at, no_interaction).
_INTERACTIONS: dict[str, list[str]] = {
    "hold": ["ball", "bottle", "umbrella", "cup", "book", "kite", "frisbee", "box"],
    "carry": ["box", "chair", "skateboard", "bicycle", "dog", "book"],
    "ride": ["horse", "bicycle", "skateboard"],
    "sit_on": ["chair", "bench", "horse", "bicycle", "box"],
    "kick": ["ball", "box", "bottle"],
    "throw": ["ball", "frisbee", "bottle", "book"],
    "push": ["bicycle", "box", "chair", "bench"],
    "lift": ["box", "chair", "ball", "dog", "bench"],
    "walk_with": ["dog", "horse", "bicycle"],
}

# Primary verbs that may co-occur with look_at on the same pair (multi-label pairs).
LOOK_COMPATIBLE = {"hold", "carry", "kick", "throw", "push", "lift", "walk_with"}


def hoi_classes() -> list[tuple[int, int]]:
    """All (verb index, object index) classes, ordered by object then verb (like HICO's list)."""
    classes = []
    for oi, obj in enumerate(OBJECT_NAMES):
        for vi, verb in enumerate(VERBS):
            if verb in ("no_interaction", "look_at") or obj in _INTERACTIONS.get(verb, []):
                classes.append((vi, oi))
    return classes


def class_prompt(verb: str, obj: str) -> str:
    """The text prompt of one HOI class, as the zero-shot classifier reads it."""
    if verb == "no_interaction":
        return f"a photo of a person and a {obj}"
    return f"a photo of a person {VERB_TEXT[verb][0]} a {obj}"


# Pretraining captions read like web alt-text: they always name the object, name the
# interaction only in a share of captions (``WorldSpec.caption_verb_share``), and come in
# several phrasings; some speak only of the object and the scene. The scene phrases hold
# for every drawn background (a pale sky, darker ground, clutter strokes).
VERB_CAPTIONS = [
    "a photo of a person {v} a {o}",
    "a person {v} a {o}",
    "someone {v} a {c} {o}",
    "a picture of a person {v} the {o}",
    "a person {v} a {o} {scene}",
    "a person {v} a {c} {o} with a {t} {s} shape",
]
OBJECT_CAPTIONS = [
    "a photo of a {o}",
    "a {c} {o} {scene}",
    "a person and a {c} {o}",
    "a picture of a {o} {scene}",
    "the {o} {scene}",
    "a {c} {o} with a {t} {s} shape",
]
SCENES = ["on the ground", "under a pale sky", "in front of the horizon", "with clutter around"]
OBJECT_TEMPLATES = ["a photo of a {o}", "a {c} {o}", "a picture of the {c} {o}"]
# Share of captions that carry a descriptor-style sentence beyond those that teach a new word.
DESCRIPTOR_SHARE = 0.25
_WORD = re.compile(r"[a-z_]+")


def words(text: str) -> set[str]:
    """The words of a text as the backbone's word tokenizer splits it."""
    return set(_WORD.findall(text.lower()))


def class_texts() -> list[str]:
    """Every class prompt and descriptor sentence: the text the backbone must have read."""
    out = []
    for v, o in hoi_classes():
        out.append(class_prompt(VERBS[v], OBJECT_NAMES[o]))
        out += descriptors(VERBS[v], OBJECTS[o])
    return out


def caption_words() -> set[str]:
    """Words the pretraining captions owe: class text, caption templates and scene phrases."""
    out = set()
    for t in class_texts() + VERB_CAPTIONS + OBJECT_CAPTIONS + SCENES:
        out |= words(t.replace("{", " ").replace("}", " ")) - {"v", "o", "c", "t", "s", "scene"}
    return out


def _pick(options: list[str], owed: set[str], rng) -> str:
    """The option teaching the most still-unseen words, else a random one."""
    gain = [len(words(t) & owed) for t in options]
    best = max(gain)
    return options[gain.index(best)] if best else rng.choice(options)


def caption_by_rule(
    fill: dict, cues: list[str], rng, *, verb_share: float, owed: set[str], template=None
) -> str:
    """The caption rule every vocabulary shares (see ``captions_for``); ``fill`` names the verb
    phrase 'v', ``cues`` are the pair's descriptors, ``template`` adapts a caption template."""
    adapt = template or (lambda t: t)
    scene = _pick(SCENES, owed, rng)
    name_verb = rng.random() < verb_share or bool(words(fill["v"]) & owed)
    templates = VERB_CAPTIONS if name_verb else OBJECT_CAPTIONS
    text = _pick([adapt(t).format(**fill, scene=scene) for t in templates], owed, rng)
    owed -= words(text)
    if any(words(d) & owed for d in cues) or rng.random() < DESCRIPTOR_SHARE:
        cue = _pick(cues, owed, rng)
        owed -= words(cue)
        text = f"{text}; {cue}"
    return text


def captions_for(
    verbs: list[str], obj: ObjectKind, rng, *, verb_share: float, owed: set[str]
) -> str:
    """A pretraining caption for a pair with these verbs (multi-label pairs name both).

    The verb is named with probability ``verb_share`` (and always while a word of its
    phrase is still unseen); a descriptor sentence of the pair is appended when it
    teaches an unseen word, else with probability ``DESCRIPTOR_SHARE``. ``owed`` (the
    words no caption has yet) shrinks in place, so every word ends up in the corpus once
    each class has been drawn.
    """
    phrase = " and ".join(VERB_TEXT[v][0] for v in verbs if v != "no_interaction")
    if not phrase:
        phrase = VERB_TEXT["no_interaction"][0]
    fill = dict(v=phrase, o=obj.name, c=obj.color_word, t=obj.texture, s=obj.shape)
    cues = [d for v in verbs for d in descriptors(v, obj)]
    return caption_by_rule(fill, cues, rng, verb_share=verb_share, owed=owed)


def phrasings_of(fill: dict, cues: list[str], template=None) -> list[str]:
    """Every verb-naming caption of one class, bare and joined with each of its descriptors."""
    adapt = template or (lambda t: t)
    heads = []
    for t in VERB_CAPTIONS:  # the scene template once per scene
        t = adapt(t)
        heads += [t.format(**fill, scene=sc) for sc in (SCENES if "{scene}" in t else [""])]
    return heads + [f"{h}; {d}" for h in heads for d in cues]


def class_phrasings(verb: str, obj: ObjectKind) -> list[str]:
    """Every verb-naming pretraining caption of one class, bare and joined with each descriptor.

    The text-space corpus reads these (in this fixed order, the same count for every class):
    the backbone learned the class from them, and an object-only caption names no class.
    """
    fill = dict(v=VERB_TEXT[verb][0], o=obj.name, c=obj.color_word, t=obj.texture, s=obj.shape)
    return phrasings_of(fill, descriptors(verb, obj))


def descriptors(verb: str, obj: ObjectKind) -> list[str]:
    """Sentences describing the visual cues of one class (for action-descriptor attention).

    All four are the verb's own, so no sentence is shared by two verbs of one object; the
    fourth also names the object's colour, texture and shape.
    """
    fill = dict(o=obj.name, c=obj.color_word, t=obj.texture, s=obj.shape)
    return [s.format(**fill) for s in VERB_TEXT[verb][1]]
