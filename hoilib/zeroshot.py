"""Zero-shot HOI detection with frozen CLIP: score every candidate pair against every class prompt.

A pair's scores are a softmax, at CLIP's temperature, over the classes whose
object matches the pair's object box (HICO-DET restricts verbs to the object the
same way). The shuffled-label control scores the same features against a
permuted class-to-prompt assignment: what the metric gives when text carries no
information.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hoilib.gap import shift_along_gap
from hoilib.hicodet import PairSet, pair_key
from hoilib.metric import HOIDetections, HOIGroundTruth, HOIMetrics, evaluate_hoi


def class_mask(pairs: PairSet, classes: list[tuple[int, int]]) -> torch.Tensor:
    """(P, C) bool: class c is valid for pair p when its object is the pair's object."""
    cls_obj = torch.tensor([o for _, o in classes])
    return torch.as_tensor(pairs.object)[:, None] == cls_obj[None, :]


def score_pairs(img: torch.Tensor, txt: torch.Tensor, pairs: PairSet, classes, logit_scale: float | None = 100.0) -> HOIDetections:
    """Detections (one row per pair and valid class) with softmax scores over the valid classes.

    ``logit_scale=None`` scores with the plain cosine instead: what a sigmoid head
    (EZ-HOI's scale * cosine + bias) ranks identically within every class, so it
    gives the same mAP.
    """
    cos = F.normalize(img.float(), dim=-1) @ F.normalize(txt.float(), dim=-1).T
    mask = class_mask(pairs, classes)
    if logit_scale is None:
        probs = cos
    else:
        probs = torch.softmax((logit_scale * cos).masked_fill(~mask, float("-inf")), dim=-1)
    p_idx, c_idx = torch.nonzero(mask, as_tuple=True)
    p_np = p_idx.numpy()
    return HOIDetections(
        image=pairs.image[p_np], hoi=c_idx.numpy().astype(np.int64), score=probs[p_idx, c_idx].double().numpy(),
        boxes_h=pairs.boxes_h[p_np], boxes_o=pairs.boxes_o[p_np],
    )


def zero_shot_map(img, txt, pairs, classes, gt: HOIGroundTruth, rare=None, unseen=None, logit_scale=100.0) -> HOIMetrics:
    return evaluate_hoi(score_pairs(img, txt, pairs, classes, logit_scale), gt, len(classes), rare=rare, unseen=unseen)


def shuffled_control(img, txt, pairs, classes, gt, repeats: int = 5, seed: int = 0, logit_scale=100.0) -> np.ndarray:
    """Full mAP with class prompts randomly reassigned among classes, one value per repeat."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(repeats):
        perm = torch.randperm(len(classes), generator=gen)
        out.append(zero_shot_map(img, txt[perm], pairs, classes, gt, logit_scale=logit_scale).full)
    return np.array(out)


def gap_shift_curve(img, txt, pairs, classes, gt, deltas, rare=None, unseen=None, logit_scale=100.0):
    """Liang et al.'s shift experiment on HOI detection: mAP as both modalities move along the gap."""
    from hoilib.gap import centroid_gap

    rows = []
    for d in deltas:
        a, b = shift_along_gap(img, txt, float(d))
        m = zero_shot_map(a, b, pairs, classes, gt, rare=rare, unseen=unseen, logit_scale=logit_scale)
        rows.append({"delta": float(d), "gap_norm": centroid_gap(a, b)[1], "full": m.full, "rare": m.rare,
                     "non_rare": m.non_rare, "unseen": m.unseen, "seen": m.seen})
    return rows


def annotated_pairs(ds, pairs: PairSet) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``pairs`` of the annotated pairs, and the first class of each (image-caption pairs)."""
    index = {}
    for p in range(len(pairs)):
        index.setdefault(pair_key(pairs.image[p], pairs.boxes_h[p], pairs.boxes_o[p]), p)
    idx, cls, seen = [], [], set()
    for im in ds.images:
        for k in range(len(im.hoi)):
            key = pair_key(im.index, im.boxes_h[k], im.boxes_o[k])
            if key in index and key not in seen:
                seen.add(key)
                idx.append(index[key])
                cls.append(int(im.hoi[k]))
    return np.asarray(idx, dtype=np.int64), np.asarray(cls, dtype=np.int64)
