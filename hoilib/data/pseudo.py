"""Pseudo-unseen classes: seen classes held out of EZ-HOI's training, to validate choices made for unseen ones.

Apart from ``data.splits`` so that the world generator's code digest (which covers the
split rules) does not move when this rule does.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from hoilib.data.splits import SPLITS, _keeps_composition

PSEUDO_SHARE = (
    0.1  # share of the classes (UC), verbs (UV) or objects (UO) held out as pseudo-unseen
)
NO_VERB = ("no_interaction", "look_at", "no interaction")  # verbs a UV split never hides


def pseudo_unseen(
    classes: Sequence[tuple[int, int]],
    n_train: Sequence[int],
    rare: Sequence[bool],
    *,
    unseen: np.ndarray,
    split: str,
    verbs: Sequence[str],
    share: float = PSEUDO_SHARE,
) -> np.ndarray:
    """Seen classes held out of EZ-HOI's training to validate choices made for unseen classes.

    Chosen the way ``split`` chooses its unseen classes, among the seen ones: UV hides
    whole seen verbs, UO whole seen objects, RF-UC the rarest seen classes and NF-UC
    seen non-rare classes (shuffled), each UC pick keeping its verb and object seen
    elsewhere. The draw depends only on the class list, the counts and the split, so it
    is fixed before any model is trained. ``share`` 0 holds out nothing.
    """
    n = len(classes)
    unseen = np.asarray(unseen, bool)
    out = np.zeros(n, bool)
    if share <= 0:
        return out
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"pseudo-unseen-{split}")
    seen = [i for i in range(n) if not unseen[i]]
    if split in ("uv", "uo"):
        axis = 0 if split == "uv" else 1
        hidden = {classes[i][axis] for i in range(n) if unseen[i]}
        cand = sorted({classes[i][axis] for i in seen} - hidden)
        if split == "uv":
            cand = [v for v in cand if verbs[v] not in NO_VERB]
        k = max(1, round(share * len(cand))) if cand else 0
        picked = set(rng.sample(cand, k))
        out[[i for i in seen if classes[i][axis] in picked]] = True
        return out
    counts, rare = np.asarray(n_train), np.asarray(rare, bool)
    if split == "rf-uc":
        order = sorted(seen, key=lambda i: (counts[i], i))
    else:
        order = [i for i in seen if not rare[i]]
        rng.shuffle(order)
        order += [i for i in seen if rare[i]]
    held = set(np.flatnonzero(unseen).tolist())
    k = max(1, round(share * n))
    for c in order:
        if out.sum() >= k:
            break
        if _keeps_composition(classes, held, c):
            held.add(c)
            out[c] = True
    return out
