"""HOI-Synth over HICO-DET's vocabulary: its 117 verbs, 80 objects and 600 classes, drawn by the
default world's renderer, with class text whose every word the pretraining captions teach.

What is HICO-DET's and what is made here:

- **Lists.** The verbs, objects, the 600 classes in official order (``correspondence``), the 138
  rare classes, the four zero-shot splits and the 600 GEN-VLKT prompts are read from
  ``hoilib.data.hico.lists`` unchanged, so a ``hico-scale`` world is indexed as HICO-DET is.
- **Verbs.** The renderer draws eleven pose families (the default world's verbs: where the
  object sits relative to hands, feet, hip or head). Each HICO verb is drawn with one family,
  chosen by hand in ``FAMILIES`` by what the body does (on top of it: ``ride``; seated:
  ``sit_on``; hands pressing or working on it: ``push``; above the head: ``lift``; in the air
  ahead: ``throw``; at the foot: ``kick``; beside it on foot: ``walk_with``; hugged to the body:
  ``carry``; eyes on it: ``look_at``); every verb not listed is drawn held in one hand
  (``hold``), the most common HICO action. A table by hand, not a hash, so the drawn pose is at
  least plausible for the verb. Several verbs share a family, so most of the 117
  verbs are **not** visually identifiable, and need not be: this world measures what a run at
  HICO-DET's size and shape costs and that every chapter runs at 600 classes, not accuracy.
- **Objects.** Each object gets a look the renderer already draws: a shape family chosen by
  what the thing is (``SHAPES``), then, in list order within the family, a colour of
  ``PALETTE`` and a texture of ``TEXTURES``, and a size from the family's, scaled by a few
  percent per object; no two objects share (shape, colour), so all 80 looks are distinct.
- **Text.** Prompts are the official ones; a class's verb phrase ("sitting on") and object text
  ("dining table") are read back from its prompt. Descriptors are four templated sentences
  (the verb phrase with the family's drawn cues, and the object's look), so no sentence is
  shared by two verbs of one object, as in the default world. Captions use the default world's
  templates and rules (``vocab.captions_for``): the object always, the verb in a share of them,
  a descriptor when it teaches a word, so one pass over the classes teaches every word of the
  prompts and descriptors (the tokenizer's vocabulary is closed).
- **Labels.** Every pair carries one class: HICO has no ``look_at`` verb to add, and a second
  label would lift a rare class's count past 9. The counts (the official rare classes 1 to 9,
  the others a long tail) are ``world.fixed_rare_counts``'.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hoilib.data.hico import lists
from hoilib.data.synth.vocab import (
    OBJECT_CAPTIONS,
    SCENES,
    VERB_CAPTIONS,
    VERB_TEXT,
    ObjectKind,
    caption_by_rule,
    phrasings_of,
    words,
)

# renderer pose family -> the HICO verbs drawn with it (every other verb: hold)
FAMILIES: dict[str, tuple[str, ...]] = {
    "no_interaction": ("no_interaction",),
    "ride": ("ride", "board", "hop_on", "straddle", "drive", "row", "sail", "jump", "stand_on"),
    "sit_on": ("sit_on", "sit_at", "lie_on", "eat_at", "type_on"),
    "kick": ("kick", "dribble", "block", "grind", "slide", "flip"),
    "throw": ("throw", "catch", "launch", "release", "fly", "swing", "hit", "serve", "spin"),
    "look_at": (
        "watch", "inspect", "check", "read", "point", "teach", "direct", "smell",
        "hunt", "buy", "pay", "stop_at", "greet", "wave", "sign",
    ),
    "push": (
        "push", "pull", "drag", "move", "open", "operate", "control", "repair", "clean",
        "wash", "hose", "paint", "adjust", "assemble", "break", "fill", "flush", "turn",
        "scratch", "dry", "park", "exit",
    ),
    "lift": ("lift", "pick_up", "stand_under", "load", "install", "set", "toast"),
    "walk_with": (
        "walk", "run", "chase", "herd", "lasso", "train", "feed", "pet", "groom",
        "shear", "milk", "race", "tag",
    ),
    "carry": ("carry", "hug", "pack", "wear", "tie", "zip", "kiss"),
}  # fmt: skip
# shape family -> the objects drawn with it, in HICO's object order within the family
SHAPES: dict[str, tuple[str, ...]] = {
    "quadruped": (
        "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
        "teddy_bear",
    ),
    "bicycle": ("bicycle", "motorcycle"),
    "board": (
        "car", "airplane", "bus", "train", "truck", "boat", "skis", "snowboard",
        "skateboard", "surfboard",
    ),
    "chair": ("chair", "couch", "toilet"),
    "bench": ("bench", "bed", "dining_table", "sink", "keyboard"),
    "square": (
        "traffic_light", "parking_meter", "backpack", "handbag", "suitcase", "microwave",
        "oven", "toaster", "refrigerator", "tv", "laptop",
    ),
    "bottle": (
        "person", "fire_hydrant", "bottle", "wine_glass", "potted_plant", "vase", "hair_drier",
    ),
    "umbrella": ("umbrella", "broccoli"),
    "diamond": ("stop_sign", "bird", "tie", "kite", "sandwich", "pizza", "cake"),
    "disc": ("sports_ball", "apple", "orange", "donut", "clock", "mouse", "baseball_glove"),
    "flat": ("frisbee", "bowl", "hot_dog", "banana", "carrot"),
    "cup": ("cup",),
    "book": (
        "book", "cell_phone", "remote", "baseball_bat", "tennis_racket", "fork", "knife",
        "spoon", "scissors", "toothbrush",
    ),
}  # fmt: skip
# (width, height) in person heights of each shape family (the default world's objects' sizes)
SIZES: dict[str, tuple[float, float]] = {
    "quadruped": (0.8, 0.55),
    "bicycle": (0.75, 0.45),
    "board": (0.7, 0.18),
    "chair": (0.38, 0.52),
    "bench": (0.7, 0.32),
    "square": (0.34, 0.34),
    "bottle": (0.14, 0.36),
    "umbrella": (0.5, 0.48),
    "diamond": (0.3, 0.36),
    "disc": (0.22, 0.22),
    "flat": (0.3, 0.1),
    "cup": (0.17, 0.2),
    "book": (0.2, 0.26),
}
PALETTE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (220, 40, 40)),
    ("brown", (140, 90, 40)),
    ("blue", (30, 70, 220)),
    ("green", (30, 150, 50)),
    ("orange", (240, 140, 20)),
    ("cyan", (20, 200, 210)),
    ("purple", (130, 40, 170)),
    ("yellow", (235, 215, 20)),
    ("grey", (120, 120, 120)),
    ("pink", (240, 90, 170)),
    ("white", (245, 245, 245)),
    ("navy", (20, 30, 110)),
    ("lime", (140, 230, 40)),
    ("black", (35, 35, 35)),
)
TEXTURES = ("solid", "hatch", "stripes", "dots", "lines", "ring")
NO_INTERACTION_PHRASE = VERB_TEXT["no_interaction"][0]
_PROMPT = re.compile(r"^a photo of a person (?:(?P<verb>.+) )?(?P<art>an?) (?P<obj>.+)$")


def verb_family(verb: str) -> str:
    """The renderer's pose family a HICO verb is drawn with (``FAMILIES``; else hold)."""
    return next((fam for fam, verbs in FAMILIES.items() if verb in verbs), "hold")


def object_looks() -> list[ObjectKind]:
    """One look per HICO object, in HICO's object order (see the module docstring)."""
    looks = {}
    for f, (shape, names) in enumerate(SHAPES.items()):
        w, h = SIZES[shape]
        for k, name in enumerate(names):
            color_word, rgb = PALETTE[k % len(PALETTE)]
            scale = 0.85 + 0.05 * (k % 6)
            looks[name] = ObjectKind(
                name=name.replace("_", " "),
                shape=shape,
                color=rgb,
                texture=TEXTURES[(f + k) % len(TEXTURES)],
                size=(round(w * scale, 3), round(h * scale, 3)),
                color_word=color_word,
            )
    return [looks[o] for o in lists.objects()]


def _parts(prompt: str, verb: str) -> tuple[str, str]:
    """(verb phrase, article) of an official prompt; no_interaction reads 'standing apart from'."""
    m = _PROMPT.match(prompt)
    if m is None:
        raise ValueError(
            f"an official prompt not of the form 'a photo of a person ...': {prompt!r}"
        )
    phrase = m["verb"] or ""
    if verb == "no_interaction":
        return NO_INTERACTION_PHRASE, m["art"]
    return phrase, m["art"]


class HicoText:
    """Prompts, descriptors, caption phrasings and pretraining captions of the 600 classes."""

    def __init__(self) -> None:
        self.verbs, self.objects = lists.verbs(), object_looks()
        self.classes, self.prompts = lists.classes(), lists.prompts()
        self.phrase, self.article = zip(
            *(
                _parts(p, self.verbs[v])
                for p, (v, _) in zip(self.prompts, self.classes, strict=True)
            ),
            strict=True,
        )
        self.descriptors = [self._descriptors(i) for i in range(len(self.classes))]

    def _fill(self, i: int) -> dict[str, str]:
        obj = self.objects[self.classes[i][1]]
        return dict(
            v=self.phrase[i], a=self.article[i], o=obj.name, c=obj.color_word, t=obj.texture,
            s=obj.shape,
        )  # fmt: skip

    def _descriptors(self, i: int) -> list[str]:
        """Four sentences, each naming the verb phrase, so two verbs of one object share none: the
        family's first two drawn cues, a plain one, and the object's look."""
        fill = self._fill(i)
        cues = VERB_TEXT[verb_family(self.verbs[self.classes[i][0]])][1]
        return [
            f"{cues[0].format(**fill)} while {fill['v']} it",
            f"{cues[1].format(**fill)} while {fill['v']} it",
            "the person is {v} the {o}".format(**fill),
            "the person is {v} the {c} {o} with a {t} {s} shape".format(**fill),
        ]

    def phrasings(self, i: int) -> list[str]:
        """Every verb-naming caption of class ``i``, bare and joined with each descriptor."""
        return phrasings_of(self._fill(i), self.descriptors[i], _with_article)

    def caption_words(self) -> set[str]:
        """Words the captions owe: prompts, descriptors, caption templates, scenes."""
        out = set()
        for t in self.prompts + [d for ds in self.descriptors for d in ds] + SCENES:
            out |= words(t)
        for t in VERB_CAPTIONS + OBJECT_CAPTIONS:
            out |= words(t.replace("{", " ").replace("}", " ")) - {"v", "o", "c", "t", "s", "scene"}
        return out | {"an"}

    def caption(self, labels: list[int], rng, verb_share: float, *, owed: set[str]) -> str:
        """A pretraining caption of a one-class pair, by ``vocab.captions_for``'s rules."""
        i = labels[0]
        return caption_by_rule(
            self._fill(i),
            self.descriptors[i],
            rng,
            verb_share=verb_share,
            owed=owed,
            template=_with_article,
        )


def _with_article(template: str) -> str:
    """A caption template with the object's own article ('an apple', not 'a apple')."""
    return template.replace("a {o}", "{a} {o}")


@lru_cache(maxsize=1)
def hico_text() -> HicoText:
    """The class text, built once per process."""
    return HicoText()
