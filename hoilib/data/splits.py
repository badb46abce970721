"""HICO-style zero-shot splits: unseen verb, rare-first / non-rare-first unseen composition, unseen object.

The same rules serve any (verb, object) class list. For HICO-DET the official
index lists ship as package data instead; these rules build the HOI-Synth
analogues with the HICO proportions (UV: ~17% of verbs; RF/NF-UC: 20% of classes;
UO: ~15% of objects).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

SPLITS = ("uv", "rf-uc", "nf-uc", "uo")
SPLIT_NAMES = {
    "uv": "unseen verb",
    "rf-uc": "rare-first unseen composition",
    "nf-uc": "non-rare-first unseen composition",
    "uo": "unseen object",
}


def _keeps_composition(classes, unseen: set, cand: int) -> bool:
    """A UC split may hide a class only while its verb and its object stay seen in some other class."""
    v, o = classes[cand]
    seen = [i for i in range(len(classes)) if i not in unseen and i != cand]
    return any(classes[i][0] == v for i in seen) and any(classes[i][1] == o for i in seen)


def make_splits(
    classes: Sequence[tuple[int, int]],
    n_train: Sequence[int],
    rare: Sequence[int],
    *,
    verbs: Sequence[str],
    objects: Sequence[str],
    seed: int = 0,
    exclude_verbs: Sequence[str] = (),
    uc_fraction: float = 0.2,
    uv_fraction: float = 0.17,
    uo_fraction: float = 0.15,
) -> dict[str, list[int]]:
    """Return {split name: sorted unseen class indices}."""
    rng = random.Random(f"splits-{seed}")
    n = len(classes)
    k = max(1, round(uc_fraction * n))
    counts = np.asarray(n_train)
    rare_set = set(int(i) for i in rare)

    def pick(order):
        unseen: set[int] = set()
        for c in order:
            if len(unseen) >= k:
                break
            if _keeps_composition(classes, unseen, c):
                unseen.add(c)
        return sorted(unseen)

    rf_order = sorted(range(n), key=lambda i: (counts[i], i))
    non_rare = [i for i in range(n) if i not in rare_set]
    rng.shuffle(non_rare)
    nf_order = non_rare + sorted(rare_set)

    eligible_verbs = [
        vi
        for vi, v in enumerate(verbs)
        if v not in exclude_verbs and any(c[0] == vi for c in classes)
    ]
    n_uv = max(1, round(uv_fraction * len(eligible_verbs)))
    unseen_verbs = set(rng.sample(eligible_verbs, n_uv))
    used_objects = sorted({c[1] for c in classes})
    n_uo = max(1, round(uo_fraction * len(used_objects)))
    unseen_objects = set(rng.sample(used_objects, n_uo))
    return {
        "uv": [i for i, (v, _) in enumerate(classes) if v in unseen_verbs],
        "rf-uc": pick(rf_order),
        "nf-uc": pick(nf_order),
        "uo": [i for i, (_, o) in enumerate(classes) if o in unseen_objects],
    }


def unseen_mask(unseen: Sequence[int], n_classes: int) -> np.ndarray:
    m = np.zeros(n_classes, dtype=bool)
    m[np.asarray(list(unseen), dtype=np.int64)] = True
    return m
