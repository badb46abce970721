"""The user's HICO-DET copy as a ``World``: annotations, images, official lists, prompts and descriptors.

Two layouts are found without configuration: fredzzhang/hicodet's
(``instances_{train,test}2015.json`` beside ``hico_20160224_det/images/{train,test}2015``)
and the flat one HOI-Synth and the test fixture write (``images/{train,test}2015``).
The annotation files must hold the official 600 classes in the official order,
because the rare set and the zero-shot splits are the published index lists.
"""

from __future__ import annotations

from pathlib import Path

from hoilib.config import Params
from hoilib.data.annotations import HOIDataset, load_annotations
from hoilib.data.hico import lists
from hoilib.errors import ConfigError, DataError

GET_DATA = (
    "HICO-DET: download hico_20160224_det.tar.gz (images) from the dataset's page (Chao et al., "
    "http://www-personal.umich.edu/~ywchao/hico/) and the instances_{train,test}2015.json annotation files "
    "from https://github.com/fredzzhang/hicodet; put both in one folder and pass it as world.data_root"
)
LAYOUTS = ("hico_20160224_det/images", "images")


def locate(root: Path, split: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of one split, from either layout; a clear error names what is missing."""
    ann = root / f"instances_{split}2015.json"
    if not ann.is_file():
        raise DataError(f"HICO-DET annotation file not found: {ann}. {GET_DATA}.")
    tried = [root / lay / f"{split}2015" for lay in LAYOUTS]
    for d in tried:
        if d.is_dir():
            return ann, d
    raise DataError(
        f"HICO-DET {split} images not found: looked for {' and '.join(map(str, tried))}. {GET_DATA}."
    )


def check_official(ds: HOIDataset) -> None:
    """The file's verbs, objects and class order must be the official ones the split lists index."""
    for field, got, want in (
        ("verbs", ds.verbs, lists.verbs()),
        ("objects", ds.objects, lists.objects()),
        ("correspondence", ds.classes, lists.classes()),
    ):
        if list(got) != list(want):
            bad = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            raise DataError(
                f"{ds.path}: field '{field}' differs from the official HICO-DET list at index {bad} "
                f"(got {got[bad] if bad < len(got) else 'nothing'!r}, expected "
                f"{want[bad] if bad < len(want) else 'nothing'!r}; {len(got)} entries, expected {len(want)})"
            )


def phrase(verb: str, obj: str) -> tuple[str, str]:
    """Readable verb and object ('stop_at', 'baseball_bat' -> 'stop at', 'baseball bat')."""
    return verb.replace("_", " "), obj.replace("_", " ")


def descriptors(verb: str, obj: str) -> list[str]:
    """Template descriptor sentences of one class.

    EZ-HOI attends over LLaVA-written descriptions; those are not public data we can
    ship, so each class gets a few templated sentences instead (stated in the book).
    """
    v, o = phrase(verb, obj)
    if verb == "no_interaction":
        return [
            f"a person and a {o} that the person does not interact with",
            f"a person next to a {o}",
            f"a {o} in a scene with a person",
        ]
    return [
        f"a person who is about to {v} a {o}",
        f"the hands and body of a person who {v}s a {o}",
        f"a {o} and a person; the person {v}s it",
    ]


def load_hico_world(cfg: Params):
    """A ``World`` over the user's copy (or the test fixture): official lists, GEN-VLKT prompts,
    template descriptors.
    """
    from hoilib.data.world import World

    if not cfg.world.data_root:
        raise ConfigError(
            f"profile {cfg.run.profile!r}: parameter 'world.data_root' is empty; set it to your HICO-DET folder, "
            f"e.g. --set world.data_root=/data/hicodet. {GET_DATA}."
        )
    root = Path(cfg.world.data_root).expanduser()
    if not root.is_dir():
        raise DataError(f"parameter 'world.data_root' = {str(root)!r} is not a folder. {GET_DATA}.")
    where = {
        split: locate(root, split) for split in ("train", "test")
    }  # every missing piece before any reading
    sets = {}
    for split, (ann, images) in where.items():
        sets[split] = load_annotations(ann, images)
        check_official(sets[split])
    verbs, objects = lists.verbs(), lists.objects()
    prompts = lists.prompts()
    desc = [descriptors(verbs[v], objects[o]) for v, o in lists.classes()]
    splits = {s: lists.unseen(s) for s in lists.SPLITS}
    meta = {
        "dataset": "hico-det",
        "root": str(root),
        "rare": lists.rare(),
        "provenance": lists.provenance(),
    }
    return World(
        root=root,
        train=sets["train"],
        test=sets["test"],
        prompts=prompts,
        descriptors=desc,
        splits=splits,
        meta=meta,
    )
