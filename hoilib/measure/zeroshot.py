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

from hoilib.data.annotations import PairSet, pair_key
from hoilib.measure.gap import shift_along_gap
from hoilib.measure.metric import HOIDetections, HOIGroundTruth, HOIMetrics, evaluate_hoi


def class_mask(pairs: PairSet, classes: list[tuple[int, int]]) -> torch.Tensor:
    """(P, C) bool: class c is valid for pair p when its object is the pair's object."""
    cls_obj = torch.tensor([o for _, o in classes])
    return torch.as_tensor(pairs.object)[:, None] == cls_obj[None, :]


def score_pairs(
    img: torch.Tensor,
    txt: torch.Tensor,
    pairs: PairSet,
    *,
    classes,
    logit_scale: float | None = 100.0,
    head: tuple[float, float] | None = None,
) -> HOIDetections:
    """Detections (one row per pair and valid class) with softmax scores over the valid classes.

    ``head=(scale, bias)`` scores with sigmoid(scale * cosine + bias), EZ-HOI's head
    (``logit_scale`` is then ignored).

    ``logit_scale=None`` scores with the plain cosine instead: what a sigmoid head
    (EZ-HOI's scale * cosine + bias) ranks identically within every class, so it
    gives the same mAP.

    When ``pairs.prior`` is set (detected pairs), every score of a pair is
    multiplied by its prior, as EZ-HOI/UPT weight ``sigmoid(logit)`` by
    ``(s_h * s_o) ** 2.8``. In cosine mode the cosine is first mapped to
    ``(cos + 1) / 2`` (in [0, 1]), so that the product stays monotone in both
    factors (a negative cosine times a larger prior would rank lower). Without a
    prior both modes are exactly as before (no mapping, no product).
    """
    cos = F.normalize(img.float(), dim=-1) @ F.normalize(txt.float(), dim=-1).T
    mask = class_mask(pairs, classes)
    if head is not None:
        probs = torch.sigmoid(float(head[0]) * cos + float(head[1]))
    elif logit_scale is None:
        probs = cos
    else:
        probs = torch.softmax((logit_scale * cos).masked_fill(~mask, float("-inf")), dim=-1)
    return _detections(probs, mask, pairs, cosine=head is None and logit_scale is None)


def score_logits(logits: torch.Tensor, pairs: PairSet, classes) -> HOIDetections:
    """Detections from any classifier's (P, C) logits: a softmax over each pair's valid classes.

    The valid classes are those of the pair's object, as in ``score_pairs``; a pair's
    prior (detected pairs) multiplies its scores.
    """
    mask = class_mask(pairs, classes)
    probs = torch.softmax(logits.float().masked_fill(~mask, float("-inf")), dim=-1)
    return _detections(probs, mask, pairs)


def _detections(probs, mask, pairs: PairSet, *, cosine: bool = False) -> HOIDetections:
    """One detection per pair and valid class, scored by ``probs`` (times the pair's prior when set)."""
    p_idx, c_idx = torch.nonzero(mask, as_tuple=True)
    p_np = p_idx.numpy()
    score = probs[p_idx, c_idx].double().numpy()
    if pairs.prior is not None:
        if cosine:
            score = (score + 1.0) / 2.0
        score = score * np.asarray(pairs.prior, dtype=np.float64)[p_np]
    return HOIDetections(
        image=pairs.image[p_np],
        hoi=c_idx.numpy().astype(np.int64),
        score=score,
        boxes_h=pairs.boxes_h[p_np],
        boxes_o=pairs.boxes_o[p_np],
    )


def zero_shot_map(
    img, txt, pairs, *, classes, gt: HOIGroundTruth, rare=None, unseen=None, logit_scale=100.0
) -> HOIMetrics:
    return evaluate_hoi(
        score_pairs(img, txt, pairs, classes=classes, logit_scale=logit_scale),
        gt,
        len(classes),
        rare=rare,
        unseen=unseen,
    )


def shuffled_control(
    img, txt, pairs, *, classes, gt, repeats: int = 5, seed: int = 0, logit_scale=100.0
) -> np.ndarray:
    """Full mAP with class prompts randomly reassigned among classes, one value per repeat."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(repeats):
        perm = torch.randperm(len(classes), generator=gen)
        out.append(
            zero_shot_map(
                img, txt[perm], pairs, classes=classes, gt=gt, logit_scale=logit_scale
            ).full
        )
    return np.array(out)


def gap_shift_curve(
    img, txt, pairs, *, classes, gt, deltas, rare=None, unseen=None, logit_scale=100.0
):
    """Liang et al.'s shift experiment on HOI detection: mAP as both modalities move along the gap."""
    from hoilib.measure.gap import centroid_gap

    rows = []
    for d in deltas:
        a, b = shift_along_gap(img, txt, float(d))
        m = zero_shot_map(
            a, b, pairs, classes=classes, gt=gt, rare=rare, unseen=unseen, logit_scale=logit_scale
        )
        rows.append(
            {
                "delta": float(d),
                "gap_norm": centroid_gap(a, b)[1],
                "full": m.full,
                "rare": m.rare,
                "non_rare": m.non_rare,
                "unseen": m.unseen,
                "seen": m.seen,
            }
        )
    return rows


def annotated_pairs(ds, pairs: PairSet, iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``pairs`` of the candidate pair matching each annotated pair, and its first class.

    A candidate matches when both its boxes overlap the annotated ones with IoU >= ``iou``
    (the HICO rule; ground-truth candidates match exactly). Each annotated pair is kept
    once, with its best-matching candidate; annotated pairs no candidate covers are left out.
    """
    from hoilib.measure.metric import box_iou

    by_image: dict[int, np.ndarray] = {}
    for i in np.unique(pairs.image):
        by_image[int(i)] = np.flatnonzero(pairs.image == i)
    idx, cls, seen = [], [], set()
    for im in ds.images:
        cand = by_image.get(int(im.index))
        for k in range(len(im.hoi)):
            key = pair_key(im.index, im.boxes_h[k], im.boxes_o[k])
            if key in seen or cand is None:
                continue
            seen.add(key)
            ov = np.minimum(
                box_iou(im.boxes_h[k][None], pairs.boxes_h[cand])[0],
                box_iou(im.boxes_o[k][None], pairs.boxes_o[cand])[0],
            )
            best = int(np.argmax(ov))
            if ov[best] >= iou:
                idx.append(int(cand[best]))
                cls.append(int(im.hoi[k]))
    return np.asarray(idx, dtype=np.int64), np.asarray(cls, dtype=np.int64)
