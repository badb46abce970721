"""HICO-DET mean average precision for HOI detection (numpy only).

It is longer than 300 lines because the whole protocol (boxes, matching, the official
threshold grid, AP and the class masks) reads top to bottom against ``eval_hico.m``;
split, a reader would check it across files.

This module is the single place where HOI detection quality is measured, so
every protocol choice is written down here rather than left implicit.

Protocol
--------
1. **Boxes** are ``(x1, y1, x2, y2)`` floats in continuous coordinates.  IoU is
   ``intersection / union`` *without* the ``+1`` pixel convention of the
   original Matlab code; boxes with zero union (two degenerate boxes) have
   IoU 0.  Boxes must be finite with ``x2 >= x1`` and ``y2 >= y1``.
2. **Units.**  A detection is ``(image, hoi class, score, human box, object
   box)``; a ground-truth (GT) pair is ``(image, hoi class, human box, object
   box)``.  A detection can only ever match a GT pair of the same class in
   the same image.
3. **Ranking.**  Per class, detections from all images are sorted by score,
   descending, with a *stable* sort: detections with equal scores keep
   their input (row) order.  The result is therefore deterministic, and a
   tie between a true and a false positive is resolved by the caller's row
   order (the first row is ranked higher).
4. **Matching** (as ``eval_hico.m`` of the official HICO-DET benchmark).
   For each detection in ranked order the overlap with a GT pair is
   ``min(IoU_human, IoU_object)``.  Among *all* GT pairs of that class and
   image -- matched or not -- the one with the highest overlap is chosen
   (ties: the first GT in input order, like Matlab's ``max``).  If that
   overlap is ``>= iou_threshold`` (0.5) and that GT is not matched yet, the
   detection is a true positive (TP) and the GT becomes matched.  Otherwise
   it is a false positive (FP): duplicate detections of one GT are FPs, and
   so is a detection whose best GT is already taken even when another
   unmatched GT overlaps it by more than the threshold (the official code
   does not fall back to the second best GT).  Detections in an image with
   no GT of their class are FPs.
5. **AP** per class from the ranked TP/FP list: recall is divided by the
   number of GT pairs of the class (missed GTs lower recall), precision is
   ``TP / rank``.  AP is the VOC-2007 11-point interpolation: the mean over
   ``t in {0, 0.1, ..., 1.0}`` of the maximum precision at recall ``>= t``
   (0 if recall never reaches ``t``).  The thresholds are the official
   benchmark's: ``eval_hico.m`` loops ``for t = 0:0.1:1``, and MATLAB builds
   that range from both ends (``a + k*d`` for the first half, ``b - (n-k)*d``
   for the second), so its fourth value is ``3*0.1 = 0.30000000000000004``
   while 0.6 and 0.7 are the doubles nearest to 0.6 and 0.7.  A recall of
   exactly 0.3 (3 of 10 GT) therefore does *not* count at ``t = 0.3``; 0.6 and
   0.7 do.  ``torch.linspace(0, 1, 11, dtype=torch.float64)``, which the
   UPT / ADA-CM / EZ-HOI line uses, gives the same grid (tested).  Two other
   conventions are kept as named options (``recall_grid``) for comparing with
   papers that used them, never as the default: ``"k/10"`` (exact tenths,
   hoilib's grid before it followed the benchmark) and ``"np.arange"``
   (``np.arange(0, 1.1, 0.1)``, GEN-VLKT's evaluator, which differs from the
   official grid at 0.6 and 0.7).
6. **Classes without GT** have AP ``NaN`` and are excluded from every mean
   (they are listed by :attr:`HOIMetrics.excluded_classes`).  A class with
   GT but no detections has AP 0 and is included.
7. **Summaries** are plain means of per-class AP over the classes with GT:
   ``full`` (all), ``rare``/``non_rare`` (from an optional boolean rare mask,
   HICO-DET's "fewer than 10 training instances") and ``unseen``/``seen``
   (from an optional boolean mask of the unseen classes of a zero-shot
   split).  A summary whose mask was not given is ``None``; a summary whose
   subset contains no class with GT is ``NaN``.
8. **Units of the numbers.**  AP and all means are fractions in ``[0, 1]``;
   use :meth:`HOIMetrics.as_percent` or :meth:`HOIMetrics.format_row` for
   tables, which conventionally print percent.

Implementation: all detection/GT pairs sharing an (image, class) key are
enumerated and their IoUs computed in vectorised passes (chunked to at most
``_MAX_PAIRS`` pairs, so memory stays bounded); the
sequential greedy matching reduces to "the first ranked detection whose best
GT is g, with overlap above the threshold, is the TP for g", which is also
vectorised.  Only the final per-class AP uses a Python loop over classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hoilib.data.hoitables import HOIDetections, HOIGroundTruth

__all__ = [
    "HOIDetections",
    "HOIGroundTruth",
    "HOIMetrics",
    "evaluate_hoi",
    "match_detections",
    "average_precision_11pt",
    "box_iou",
]


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop`` to the last bit: built from both ends, the middle as their mean.

    This is how ``for t = 0:0.1:1`` in the official ``eval_hico.m`` enumerates its thresholds.
    """
    n = int(
        np.floor((stop - start) / step + 2.0 * np.finfo(float).eps * max(abs(start), abs(stop)))
    )
    last = start + n * step
    k = np.arange(n // 2 + 1, dtype=np.float64)
    out = np.empty(n + 1, dtype=np.float64)
    out[: n // 2 + 1] = start + k * step
    out[n - np.arange(n // 2 + 1)] = last - k * step
    if n % 2 == 0:
        out[n // 2] = (start + last) / 2
    return out


# The 11 recall thresholds of each convention; see item 5 of the module docstring.
RECALL_GRIDS = {
    "official": matlab_colon(0.0, 0.1, 1.0),
    "k/10": np.arange(11, dtype=np.float64) / 10.0,
    "np.arange": np.arange(0.0, 1.1, 0.1),
}


# --------------------------------------------------------------------------
# IoU
# --------------------------------------------------------------------------


def _iou_broadcast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of broadcastable box arrays ``(..., 4)``; shared by both IoU entry
    points so the pairwise and matrix forms give bit-identical values."""
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    out = np.zeros(np.broadcast_shapes(iw.shape, union.shape), dtype=np.float64)
    np.divide(inter, union, out=out, where=union > 0)  # zero union -> IoU 0
    return out


def _as_boxes(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: expected shape (n, 4), got {arr.shape}")
    return arr


def box_iou(a, b) -> np.ndarray:
    """IoU matrix ``(n, m)`` between xyxy boxes ``a (n, 4)`` and ``b (m, 4)``.

    Continuous coordinates (no +1), zero-union pairs give 0.
    """
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
    return _iou_broadcast(a[:, None, :], b[None, :, :])


def _nan_to_none(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


@dataclass(frozen=True, kw_only=True)
class HOIMetrics:
    """Result of :func:`evaluate_hoi`; all AP values are fractions in [0, 1]."""

    ap: np.ndarray  # (C,) per-class AP, NaN where the class has no GT
    n_gt: np.ndarray  # (C,) number of GT pairs per class
    full: float
    rare: float | None
    non_rare: float | None
    unseen: float | None
    seen: float | None

    _SUMMARIES = ("full", "rare", "non_rare", "unseen", "seen")

    @property
    def num_classes(self) -> int:
        return int(self.ap.shape[0])

    @property
    def excluded_classes(self) -> np.ndarray:
        """Classes without GT: AP is NaN and they are left out of all means."""
        return np.flatnonzero(np.asarray(self.n_gt) == 0)

    def to_dict(self) -> dict:
        """JSON-serialisable dict (numpy -> Python types, NaN -> None)."""
        out = {
            "ap": [_nan_to_none(v) for v in np.asarray(self.ap)],
            "n_gt": [int(v) for v in np.asarray(self.n_gt)],
            "excluded_classes": [int(v) for v in self.excluded_classes],
        }
        for name in self._SUMMARIES:
            out[name] = _nan_to_none(getattr(self, name))
        return out

    def as_percent(self) -> dict:
        """Summary means in percent for tables (None where not available)."""
        out = {}
        for name in self._SUMMARIES:
            v = _nan_to_none(getattr(self, name))
            out[name] = None if v is None else 100.0 * v
        return out

    def format_row(self, digits: int = 2, names: Sequence[str] | None = None) -> str:
        """One table row like ``full 21.43 | rare 17.10 | ...`` in percent.

        Missing summaries print as ``-``; ``names`` selects/orders columns.
        """
        pct = self.as_percent()
        names = (
            list(names)
            if names is not None
            else [n for n in self._SUMMARIES if getattr(self, n) is not None]
        )
        cells = []
        for n in names:
            v = pct[n]
            cells.append(f"{n} {'-' if v is None else format(v, f'.{digits}f')}")
        return " | ".join(cells)


# --------------------------------------------------------------------------
# AP
# --------------------------------------------------------------------------


def _grid(recall_grid: str) -> np.ndarray:
    if recall_grid not in RECALL_GRIDS:
        raise ValueError(f"recall_grid: expected one of {list(RECALL_GRIDS)}, got {recall_grid!r}")
    return RECALL_GRIDS[recall_grid]


def average_precision_11pt(tp: np.ndarray, n_gt: int, recall_grid: str = "official") -> float:
    """VOC-2007 11-point interpolated AP from ranked 0/1 TP flags.

    ``tp[k]`` is 1 if the detection at rank k is a true positive.  Recall is
    divided by ``n_gt`` so unmatched GTs cost recall; ``n_gt == 0`` gives NaN
    (the class is not evaluable).  Raises if ``tp`` is not 0/1 or has more
    TPs than GTs (which no valid matching can produce).  ``recall_grid`` names
    the thresholds (``RECALL_GRIDS``; the official benchmark's by default).
    """
    grid = _grid(recall_grid)
    tp = np.asarray(tp)
    if tp.ndim != 1:
        raise ValueError(f"tp: expected shape (N,), got {tp.shape}")
    if tp.size and not np.all((tp == 0) | (tp == 1)):
        raise ValueError("tp: expected a 0/1 array")
    n_gt = int(n_gt)
    if n_gt < 0:
        raise ValueError(f"n_gt: must be >= 0, got {n_gt}")
    if n_gt == 0:
        return float("nan")
    tp_cum = np.cumsum(tp.astype(np.float64))
    if tp.size and tp_cum[-1] > n_gt:
        raise ValueError(f"tp: {int(tp_cum[-1])} true positives but only n_gt={n_gt}")
    if tp.size == 0:
        return 0.0
    recall = tp_cum / n_gt
    precision = tp_cum / np.arange(1, tp.size + 1, dtype=np.float64)
    # max precision at ranks >= k; recall is non-decreasing, so "recall >= t"
    # is a suffix of the ranking starting at searchsorted(recall, t).
    prec_suffix_max = np.maximum.accumulate(precision[::-1])[::-1]
    first = np.searchsorted(recall, grid, side="left")
    reached = first < tp.size
    p = np.zeros_like(grid)
    p[reached] = prec_suffix_max[first[reached]]
    return float(p.mean())


def class_aps(
    tp_ranked: np.ndarray, bounds: np.ndarray, n_gt: np.ndarray, recall_grid: str = "official"
) -> np.ndarray:
    """``average_precision_11pt`` of every class at once (NaN where ``n_gt`` is 0).

    ``tp_ranked``: 0/1 flags sorted by class, then score; class c's detections are
    ``bounds[c]:bounds[c + 1]``. The same operations on the same values as the per-class
    function (cumulative counts are whole numbers, exact in float64; maxima are exact; each
    class's 11 precisions are averaged as one row), so the same bits, without a Python
    loop over classes: chapter 5 scores thousands of rankings.
    """
    grid = _grid(recall_grid)
    n_gt = np.asarray(n_gt, dtype=np.int64)
    ap = np.full(len(n_gt), np.nan)
    cls = np.flatnonzero(n_gt)
    if cls.size == 0:
        return ap
    tp = np.asarray(tp_ranked).astype(np.float64)
    lo, hi = bounds[:-1], bounds[1:]
    size = hi - lo
    seg = np.repeat(np.arange(len(n_gt)), size)  # the class of each ranked detection
    before = np.concatenate([[0.0], np.cumsum(tp)])
    tp_cum = before[1:] - before[lo][seg]  # TPs so far within the class (whole numbers)
    totals = before[hi] - before[lo]
    over = (totals > n_gt) & (n_gt > 0)  # a class without positives is not scored (NaN)
    if np.any(over):
        c = int(np.flatnonzero(over)[0])
        raise ValueError(f"tp: {int(totals[c])} true positives but only n_gt={int(n_gt[c])}")
    rank1 = (np.arange(len(tp)) - lo[seg] + 1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp_cum / n_gt[seg]
    precision = tp_cum / rank1
    # first rank of each class whose recall reaches each threshold (recall rises within a class)
    below = np.empty((len(lo), len(grid)), dtype=np.int64)  # ranks below each threshold
    for k, t in enumerate(grid):
        count = np.concatenate([[0], np.cumsum(recall < t)])
        below[:, k] = count[hi] - count[lo]
    first = lo[:, None] + below
    reached = below < size[:, None]
    # max precision from that rank to the class's end: maximum.reduceat over (start, end) pairs
    padded = np.concatenate([precision, [0.0]])
    pairs = np.stack([first, np.broadcast_to(hi[:, None], first.shape)], -1).reshape(-1)
    top = np.maximum.reduceat(padded, pairs)[::2].reshape(first.shape)
    p = np.where(reached, top, 0.0)[cls]
    ap[cls] = p.mean(axis=1)
    return ap


# --------------------------------------------------------------------------
# Matching and evaluation
# --------------------------------------------------------------------------


def _check_class_range(hoi: np.ndarray, num_classes: int, name: str) -> None:
    if hoi.size and (hoi.min() < 0 or hoi.max() >= num_classes):
        bad = hoi[(hoi < 0) | (hoi >= num_classes)][0]
        raise ValueError(f"{name}: class index {int(bad)} outside [0, {num_classes})")


def _ranking(dets: HOIDetections) -> np.ndarray:
    """Row indices sorted by class, then score descending; stable (ties keep row order)."""
    order = np.argsort(-dets.score, kind="stable")
    return order[np.argsort(dets.hoi[order], kind="stable")]


# Upper bound on (detection, GT) pairs materialised at once (~10 arrays of
# this many float64 -> a few hundred MB at most).
_MAX_PAIRS = 4_000_000


def _best_gt_chunk(dets, gt, gorder, *, lo, cnt, offset, iou_threshold) -> np.ndarray:
    """For detections ``offset .. offset+len(cnt)``: index of the GT with the
    highest min(IoU_h, IoU_o) if that overlap passes the threshold, else -1.

    ``lo``/``cnt`` locate each detection's GT candidates in ``gorder``.  Ties
    go to the first candidate, i.e. the first GT in input order.
    """
    m = cnt.shape[0]
    out = np.full(m, -1, dtype=np.int64)
    total = int(cnt.sum())
    if total == 0:
        return out
    seg_start = np.cumsum(cnt) - cnt
    det_rep = np.repeat(np.arange(m), cnt)
    gt_idx = gorder[np.repeat(lo, cnt) + (np.arange(total) - np.repeat(seg_start, cnt))]
    ov = np.minimum(
        _iou_broadcast(dets.boxes_h[det_rep + offset], gt.boxes_h[gt_idx]),
        _iou_broadcast(dets.boxes_o[det_rep + offset], gt.boxes_o[gt_idx]),
    )
    has = cnt > 0
    seg_max = np.maximum.reduceat(ov, seg_start[has])
    # first pair (lowest GT input position) attaining each detection's max
    cand = np.flatnonzero(ov == np.repeat(seg_max, cnt[has]))
    dets_with_gt, first = np.unique(det_rep[cand], return_index=True)
    keep = ov[cand[first]] >= iou_threshold
    out[dets_with_gt[keep]] = gt_idx[cand[first]][keep]
    return out


def match_detections(
    dets: HOIDetections, gt: HOIGroundTruth, iou_threshold: float = 0.5
) -> np.ndarray:
    """Boolean TP flag per detection row (input order), by the HICO-DET rule.

    Exposed so callers can inspect/visualise which detections counted; see
    item 4 of the module docstring for the exact rule.
    """
    return _match(dets, gt, _iou_threshold(iou_threshold), _ranking(dets))


def _iou_threshold(value) -> float:
    """The IoU threshold as a float in [0, 1], or a ValueError naming it."""
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"iou_threshold: must be in [0, 1], got {value}")
    return value


def _match(dets: HOIDetections, gt: HOIGroundTruth, iou_threshold: float, rank) -> np.ndarray:
    """``match_detections`` with the ranking (``_ranking(dets)``) given: ``evaluate_hoi`` sorts once."""
    n = len(dets)
    tp = np.zeros(n, dtype=bool)
    if n == 0 or len(gt) == 0:
        return tp

    # Dense (image, class) key shared by detections and GT.
    num_classes = int(max(dets.hoi.max(), gt.hoi.max())) + 1
    _, img_inv = np.unique(np.concatenate([dets.image, gt.image]), return_inverse=True)
    key = img_inv.astype(np.int64) * num_classes + np.concatenate([dets.hoi, gt.hoi])
    dkey, gkey = key[:n], key[n:]

    # GT grouped by key, stable so GT input order (the overlap tie-break) holds.
    gorder = np.argsort(gkey, kind="stable")
    gkey_sorted = gkey[gorder]
    lo = np.searchsorted(gkey_sorted, dkey, side="left")
    cnt = np.searchsorted(gkey_sorted, dkey, side="right") - lo

    # Best GT per detection, over all (detection, GT of same image & class)
    # pairs, in chunks of detections so memory stays bounded even when one
    # image holds thousands of detections and GTs.
    best_gt = np.full(n, -1, dtype=np.int64)
    pair_end = np.cumsum(cnt)
    start = 0
    while start < n:
        # largest stop with at most _MAX_PAIRS pairs (always >= 1 detection)
        base = pair_end[start] - cnt[start]
        stop = max(start + 1, int(np.searchsorted(pair_end, base + _MAX_PAIRS, side="right")))
        sl = slice(start, stop)
        best_gt[sl] = _best_gt_chunk(
            dets, gt, gorder, lo=lo[sl], cnt=cnt[sl], offset=start, iou_threshold=iou_threshold
        )
        start = stop

    # Greedy matching in ranked order == first ranked detection claiming each GT.
    ranked_gt = best_gt[rank]
    claim_pos = np.flatnonzero(ranked_gt >= 0)
    _, first_claim = np.unique(ranked_gt[claim_pos], return_index=True)
    tp[rank[claim_pos[first_claim]]] = True
    return tp


def _masked_mean(ap: np.ndarray, mask: np.ndarray) -> float:
    vals = ap[mask & ~np.isnan(ap)]
    return float(vals.mean()) if vals.size else float("nan")


def _check_mask(mask, num_classes: int, name: str) -> np.ndarray | None:
    """Masks must be boolean (C,): an integer index list of length C would
    otherwise be silently misread as a mask."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name}: expected a boolean mask, got dtype {arr.dtype}")
    if arr.shape != (num_classes,):
        raise ValueError(
            f"{name}: expected shape (num_classes,) = ({num_classes},), got {arr.shape}"
        )
    return arr


def evaluate_hoi(
    dets: HOIDetections,
    gt: HOIGroundTruth,
    num_classes: int,
    *,
    rare: np.ndarray | None = None,
    unseen: np.ndarray | None = None,
    iou_threshold: float = 0.5,
    recall_grid: str = "official",
) -> HOIMetrics:
    """HICO-DET mAP (fractions in [0, 1]) with the protocol of the module docstring.

    ``rare`` / ``unseen`` are optional boolean masks over the ``num_classes``
    HOI classes; the corresponding summaries are ``None`` when omitted.
    ``recall_grid`` picks the 11 AP thresholds (item 5; keep the default to
    report numbers comparable with the official benchmark).
    """
    if not isinstance(dets, HOIDetections):
        raise TypeError(f"dets: expected HOIDetections, got {type(dets).__name__}")
    if not isinstance(gt, HOIGroundTruth):
        raise TypeError(f"gt: expected HOIGroundTruth, got {type(gt).__name__}")
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    _check_class_range(dets.hoi, num_classes, "dets.hoi")
    _check_class_range(gt.hoi, num_classes, "gt.hoi")
    rare = _check_mask(rare, num_classes, "rare")
    unseen = _check_mask(unseen, num_classes, "unseen")
    _grid(recall_grid)

    rank = _ranking(dets)  # once: the matching and the per-class APs both read it
    tp = _match(dets, gt, _iou_threshold(iou_threshold), rank)
    n_gt = np.bincount(gt.hoi, minlength=num_classes).astype(np.int64)

    tp_ranked = tp[rank]
    bounds = np.searchsorted(dets.hoi[rank], np.arange(num_classes + 1), side="left")
    ap = class_aps(tp_ranked, bounds, n_gt, recall_grid)

    everything = np.ones(num_classes, dtype=bool)
    ap.setflags(write=False)
    n_gt.setflags(write=False)
    return HOIMetrics(
        ap=ap,
        n_gt=n_gt,
        full=_masked_mean(ap, everything),
        rare=None if rare is None else _masked_mean(ap, rare),
        non_rare=None if rare is None else _masked_mean(ap, ~rare),
        unseen=None if unseen is None else _masked_mean(ap, unseen),
        seen=None if unseen is None else _masked_mean(ap, ~unseen),
    )
