"""The HOI-Synth vocabulary: verbs, objects, plausible (verb, object) classes and their text.

Verbs are defined by geometry and pose (see ``render``); objects differ in shape,
colour and texture families, so a small CLIP can tell them apart. Class text
(prompts, captions, descriptors) is generated here so the backbone's word
vocabulary is closed and known.
"""

from __future__ import annotations

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

# verb -> (gerund phrase, short visual cue used in descriptor sentences)
VERB_TEXT: dict[str, tuple[str, list[str]]] = {
    "no_interaction": (
        "standing apart from",
        [
            "the person stands away from the {o} with arms down",
            "the person turns the head away from the {o}",
            "there is open space between the person and the {o}",
        ],
    ),
    "hold": (
        "holding",
        [
            "one arm reaches forward and the hand grips the {o}",
            "the {o} sits at the hand of the person",
            "the {o} is small and close to the front hand",
        ],
    ),
    "carry": (
        "carrying",
        [
            "both arms hug the {o} in front of the chest",
            "the {o} covers the middle of the body",
            "the person walks with the {o} held against the body",
        ],
    ),
    "ride": (
        "riding",
        [
            "the person is on top of the {o} with the legs down on its side",
            "the body of the person rises above the {o}",
            "the {o} carries the person over the ground",
        ],
    ),
    "sit_on": (
        "sitting on",
        [
            "the person sits on the {o} with bent knees",
            "the legs point forward over the {o}",
            "the hip of the person rests on the top of the {o}",
        ],
    ),
    "kick": (
        "kicking",
        [
            "one leg swings forward and the foot hits the {o}",
            "the {o} is on the ground at the front foot",
            "the person stands on one leg next to the {o}",
        ],
    ),
    "throw": (
        "throwing",
        [
            "one arm is raised high toward the {o}",
            "the {o} flies in the air above and ahead of the person",
            "the {o} is high and away from the hand",
        ],
    ),
    "look_at": (
        "looking at",
        [
            "the head of the person turns toward the {o}",
            "the eyes of the person face the {o}",
            "the person faces the {o} from a distance",
        ],
    ),
    "push": (
        "pushing",
        [
            "the body leans forward and both arms press the {o}",
            "both hands touch the side of the {o}",
            "the {o} stands on the ground in front of the arms",
        ],
    ),
    "lift": (
        "lifting",
        [
            "both arms are raised and the {o} is above the head",
            "the {o} is high over the person",
            "the hands hold the {o} up over the head",
        ],
    ),
    "walk_with": (
        "walking with",
        [
            "the person walks with long steps beside the {o}",
            "the {o} is on the ground next to the legs",
            "the legs are apart and the {o} moves along",
        ],
    ),
}


@dataclass(frozen=True)
class ObjectKind:
    """How an object category looks: shape family, base colour (RGB), texture, size (x person height)."""

    name: str
    shape: str
    color: tuple[int, int, int]
    texture: str
    size: tuple[float, float]
    color_word: str


OBJECTS: list[ObjectKind] = [
    ObjectKind("ball", "disc", (220, 40, 40), "solid", (0.22, 0.22), "red"),
    ObjectKind("horse", "quadruped", (140, 90, 40), "solid", (0.95, 0.62), "brown"),
    ObjectKind("bicycle", "bicycle", (30, 70, 220), "solid", (0.75, 0.45), "blue"),
    ObjectKind("chair", "chair", (30, 150, 50), "solid", (0.38, 0.52), "green"),
    ObjectKind("box", "square", (240, 140, 20), "hatch", (0.34, 0.34), "orange"),
    ObjectKind("bottle", "bottle", (20, 200, 210), "solid", (0.13, 0.34), "cyan"),
    ObjectKind("umbrella", "umbrella", (130, 40, 170), "stripes", (0.5, 0.48), "purple"),
    ObjectKind("skateboard", "board", (235, 215, 20), "solid", (0.55, 0.12), "yellow"),
    ObjectKind("dog", "quadruped", (120, 120, 120), "dots", (0.45, 0.3), "grey"),
    ObjectKind("kite", "diamond", (240, 90, 170), "stripes", (0.3, 0.36), "pink"),
    ObjectKind("bench", "bench", (90, 60, 20), "stripes", (0.7, 0.32), "dark"),
    ObjectKind("cup", "cup", (245, 245, 245), "dots", (0.17, 0.2), "white"),
    ObjectKind("book", "book", (20, 30, 110), "lines", (0.2, 0.26), "navy"),
    ObjectKind("frisbee", "flat", (140, 230, 40), "ring", (0.3, 0.1), "lime"),
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


CAPTION_TEMPLATES = [
    "a photo of a person {v} a {o}",
    "a person {v} a {o}",
    "someone {v} a {c} {o}",
    "a picture of a person {v} the {o}",
]
OBJECT_TEMPLATES = ["a photo of a {o}", "a {c} {o}", "a picture of the {c} {o}"]


def captions_for(verbs: list[str], obj: ObjectKind, rng) -> str:
    """A pretraining caption for a pair with these verbs (multi-label pairs mention both)."""
    parts = []
    for v in verbs:
        if v == "no_interaction":
            parts.append(None)
        else:
            parts.append(VERB_TEXT[v][0])
    if all(p is None for p in parts):
        return rng.choice(["a photo of a person and a {o}", "a person next to a {c} {o}"]).format(
            o=obj.name, c=obj.color_word
        )
    phrase = " and ".join(p for p in parts if p)
    return rng.choice(CAPTION_TEMPLATES).format(v=phrase, o=obj.name, c=obj.color_word)


def descriptors(verb: str, obj: ObjectKind) -> list[str]:
    """Sentences describing the visual cues of one class (for action-descriptor attention)."""
    cues = [s.format(o=obj.name) for s in VERB_TEXT[verb][1]]
    look = f"the {obj.name} is {obj.color_word} with a {obj.texture} {obj.shape} shape"
    return cues + [look]
