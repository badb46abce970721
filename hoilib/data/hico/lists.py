"""Official HICO-DET verbs, objects, HOI classes, rare set, zero-shot splits and CLIP prompts.

The lists are facts copied verbatim from public repositories (see ``provenance()``)
into ``data/hico_lists.json``, so results on HICO-DET use the same indices as the
published baselines instead of a re-derived (and possibly re-ordered) copy.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

# The split names are the generic rules' (hoilib.data.splits); re-exported for ``lists.unseen``'s callers.
from hoilib.data.splits import SPLITS as SPLITS

_SOURCE_KEYS = {
    "uv": "unseen_verb",
    "rf-uc": "rare_first",
    "nf-uc": "non_rare_first",
    "uo": "unseen_object",
}


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    """Read the JSON once; it lives inside the package so it ships with it."""
    text = resources.files(__package__).joinpath("data/hico_lists.json").read_text(encoding="utf-8")
    return json.loads(text)


def _get(key: str) -> Any:
    """Fail loudly, naming the item, if a list was never found upstream and so was left out."""
    try:
        return _data()[key]
    except KeyError:
        raise LookupError(
            f"hico_lists.json has no {key!r}: it was not found in a public source"
        ) from None


def verbs() -> list[str]:
    """The 117 verbs in official order (index 57 is 'no_interaction')."""
    return list(_get("verbs"))


def objects() -> list[str]:
    """The 80 objects in COCO-80 order (person = 0), as fredzzhang/hicodet numbers them."""
    return list(_get("objects"))


def classes() -> list[tuple[int, int]]:
    """The 600 HOI classes as (verb_index, object_index), in official HOI order.

    Built from hicodet's ``correspondence`` rows [hoi, object, verb]; the row index is checked
    so a reordered file cannot silently shift every class.
    """
    rows = _get("correspondence")
    if [r[0] for r in rows] != list(range(len(rows))):
        raise ValueError("correspondence rows are not in HOI index order")
    return [(int(v), int(o)) for _, o, v in rows]


def rare() -> list[int]:
    """The 138 rare HOI classes (fewer than 10 training instances), ascending."""
    return sorted(_get("rare"))


def unseen(split: str) -> list[int]:
    """Unseen HOI class indices for a zero-shot split, ascending (stored in source order).

    Sorting gives set semantics that match ``hoilib.data.splits.make_splits``; the source order
    (meaningful only for RF/NF-UC's ranking) stays in the JSON.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    table = _get("unseen")
    if split not in table:
        raise LookupError(
            f"hico_lists.json has no unseen list for {split!r} "
            f"(upstream key {_SOURCE_KEYS[split]!r} was not found)"
        )
    return sorted(table[split])


def prompts() -> list[str]:
    """The 600 CLIP text prompts of zero-shot HOI work, in official HOI order (prompt i is class i).

    GEN-VLKT's ``hico_text_label`` (also used by EZ-HOI), e.g. 'a photo of a person boarding an
    airplane'; no_interaction classes read 'a photo of a person and a(n) <object>'. Its keys were
    (verb_index, object_index) in the same numbering as ``classes()``, so each prompt is stored at
    the index of its class. Articles are copied verbatim ('a umbrella', 'a skis').
    """
    return list(_get("prompts"))


def provenance() -> dict[str, Any]:
    """Repository, path, commit and cross-checks for every list, so the data can be re-verified."""
    return json.loads(json.dumps(_get("provenance")))
