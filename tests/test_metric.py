"""Hand-computed checks of the HICO-DET protocol in hoilib.measure.metric.

11-point AP reminder: AP = mean over t in {0, .1, ..., 1} of
max{precision_k : recall_k >= t} (0 if recall never reaches t), i.e. a sum of
11 terms divided by 11.
"""

import json
import math

import numpy as np
import pytest

from hoilib.measure.metric import (
    HOIDetections,
    HOIGroundTruth,
    average_precision_11pt,
    box_iou,
    evaluate_hoi,
    match_detections,
)

# Reference boxes: GT human H and object OBJ; MISS is disjoint from both.
H = [0.0, 0.0, 10.0, 10.0]
OBJ = [20.0, 0.0, 30.0, 10.0]
MISS = [100.0, 100.0, 110.0, 110.0]


def dets(rows):
    """rows: (image, hoi, score, box_h, box_o)."""
    if not rows:
        return HOIDetections.empty()
    im, c, s, bh, bo = zip(*rows, strict=False)
    return HOIDetections(
        image=np.array(im),
        hoi=np.array(c),
        score=np.array(s, float),
        boxes_h=np.array(bh, float),
        boxes_o=np.array(bo, float),
    )


def gts(rows):
    """rows: (image, hoi, box_h, box_o)."""
    if not rows:
        return HOIGroundTruth.empty()
    im, c, bh, bo = zip(*rows, strict=False)
    return HOIGroundTruth(
        image=np.array(im),
        hoi=np.array(c),
        boxes_h=np.array(bh, float),
        boxes_o=np.array(bo, float),
    )


# ---------------------------------------------------------------- box_iou


def test_box_iou_continuous_coordinates():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array(
        [
            [0, 0, 10, 10],  # identical -> 1
            [5, 0, 15, 10],  # inter 5*10=50, union 100+100-50=150 -> 1/3
            [10, 0, 20, 10],  # touching edge: inter 0 (no +1 pixel) -> 0
            [0, 0, 10, 20],  # inter 100, union 100+200-100=200 -> 1/2
            [3, 3, 3, 3],  # zero-area point inside: inter 0 -> 0
        ],
        float,
    )
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0, 0.5, 0.0]])
    # two degenerate boxes: union 0 -> defined as 0, not NaN
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 5)
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)
    with pytest.raises(ValueError):
        box_iou(np.zeros((2, 3)), a)


# ---------------------------------------------------------------- 11-pt AP


def test_ap_11pt_by_hand():
    # ranks TP, FP, TP with 2 GT: prec = 1, 1/2, 2/3 ; rec = .5, .5, 1
    # t = 0..0.5 (6 thresholds): max prec at rec>=t = 1
    # t = 0.6..1 (5 thresholds): only rank 3 -> 2/3
    # AP = (6*1 + 5*2/3) / 11 = 28/33
    assert average_precision_11pt(np.array([1, 0, 1]), 2) == pytest.approx(28 / 33)
    # missed GT: one TP of 4 GT -> rec .25, prec 1 -> t in {0,.1,.2} -> 3/11
    assert average_precision_11pt(np.array([1]), 4) == pytest.approx(3 / 11)
    # no detections but GT -> 0 ; no GT -> NaN
    assert average_precision_11pt(np.zeros(0), 3) == 0.0
    assert math.isnan(average_precision_11pt(np.zeros(0), 0))
    assert math.isnan(average_precision_11pt(np.array([0, 0]), 0))


def test_ap_11pt_recall_exactly_on_threshold():
    # 10 GT, ranks TP TP TP FP: rec = .1 .2 .3 .3, prec = 1 1 1 .75
    # official grid (MATLAB 0:0.1:1): its 4th threshold is 0.30000000000000004 > 3/10, so
    # recall 0.3 does NOT count at t = 0.3: t = 0, .1, .2 -> 1, the rest 0 -> AP = 3/11
    assert average_precision_11pt(np.array([1, 1, 1, 0]), 10) == 3 / 11
    # the exact-tenths grid (hoilib before) counts it: 4/11; np.arange (GEN-VLKT) misses it like the official one
    assert average_precision_11pt(np.array([1, 1, 1, 0]), 10, "k/10") == 4 / 11
    assert average_precision_11pt(np.array([1, 1, 1, 0]), 10, "np.arange") == 3 / 11


@pytest.mark.parametrize(
    "hits,official,k10,arange",
    [
        # 6 of 10 GT: the official grid's 0.6 is the double nearest 0.6 == 6/10 -> counts (7 thresholds reached);
        # np.arange's 0.6000000000000001 does not (6), and its 0.30000000000000004 is still below 0.6 (fine)
        (6, 7, 7, 6),
        # 7 of 10 GT: official 0.7 == 7/10 counts (8 thresholds); np.arange's 0.7000000000000001 does not (7)
        (7, 8, 8, 7),
        # 3 of 10: official and np.arange miss t = 0.3 (3), exact tenths count it (4)
        (3, 3, 4, 3),
    ],
)
def test_ap_11pt_grids_at_0_3_0_6_0_7(hits, official, k10, arange):
    tp = np.array([1] * hits + [0] * 5)  # precision 1 up to recall hits/10, then no more recall
    assert average_precision_11pt(tp, 10) == official / 11
    assert average_precision_11pt(tp, 10, "k/10") == k10 / 11
    assert average_precision_11pt(tp, 10, "np.arange") == arange / 11


def test_official_grid_is_matlab_colon_and_torch_linspace():
    import torch

    from hoilib.measure.metric import RECALL_GRIDS, matlab_colon

    grid = RECALL_GRIDS["official"]
    np.testing.assert_array_equal(grid, torch.linspace(0, 1, 11, dtype=torch.float64).numpy())
    assert grid[3] == 0.30000000000000004 and grid[3] > 3 / 10  # 0 + 3*0.1, from the low end
    assert grid[6] == 6 / 10 and grid[7] == 7 / 10  # 1 - 4*0.1 and 1 - 3*0.1, from the high end
    assert grid[5] == 0.5  # the middle: (0 + 1) / 2
    np.testing.assert_array_equal(RECALL_GRIDS["np.arange"], np.arange(0, 1.1, 0.1))
    assert list(RECALL_GRIDS["k/10"]) == [k / 10 for k in range(11)]
    # MATLAB's colon on other ranges: integers exact, and built from both ends
    np.testing.assert_array_equal(matlab_colon(0, 1, 5), [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(
        matlab_colon(1, 0.1, 2), torch.linspace(1, 2, 11, dtype=torch.float64).numpy()
    )
    with pytest.raises(ValueError, match="recall_grid"):
        average_precision_11pt(np.array([1]), 1, "linspace")


def test_ap_11pt_invalid():
    with pytest.raises(ValueError):
        average_precision_11pt(np.array([1, 2]), 3)  # not 0/1
    with pytest.raises(ValueError):
        average_precision_11pt(np.array([1, 1]), 1)  # more TP than GT
    with pytest.raises(ValueError):
        average_precision_11pt(np.array([1]), -1)
    with pytest.raises(ValueError):
        average_precision_11pt(np.ones((2, 2)), 4)


# ---------------------------------------------------------------- matching / evaluate


def test_perfect_detections_ap_one():
    g = gts([(0, 0, H, OBJ), (1, 0, H, OBJ), (1, 1, OBJ, H)])
    d = dets([(0, 0, 0.9, H, OBJ), (1, 0, 0.3, H, OBJ), (1, 1, 0.5, OBJ, H)])
    m = evaluate_hoi(d, g, num_classes=2)
    np.testing.assert_array_equal(m.ap, [1.0, 1.0])
    np.testing.assert_array_equal(m.n_gt, [2, 1])
    assert m.full == 1.0
    assert m.rare is m.non_rare is m.unseen is m.seen is None


def test_single_fp_ranked_before_tp():
    # 1 GT; ranks FP(.9), TP(.8): prec 0, 1/2 ; rec 0, 1
    # every t in 0..1 is reached by rank 2 (rec 1) -> max prec 1/2 -> AP = 11*.5/11 = .5
    g = gts([(0, 0, H, OBJ)])
    d = dets([(0, 0, 0.8, H, OBJ), (0, 0, 0.9, MISS, OBJ)])
    m = evaluate_hoi(d, g, 1)
    assert m.ap[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(match_detections(d, g), [True, False])
    # 2 GT; ranks FP, TP, TP: prec 0, 1/2, 2/3 ; rec 0, .5, 1
    # for every t the best precision at rec >= t is rank 3 -> 2/3 -> AP = 2/3
    g2 = gts([(0, 0, H, OBJ), (1, 0, H, OBJ)])
    d2 = dets([(0, 0, 0.9, MISS, OBJ), (0, 0, 0.8, H, OBJ), (1, 0, 0.7, H, OBJ)])
    assert evaluate_hoi(d2, g2, 1).ap[0] == pytest.approx(2 / 3)


def test_score_ties_keep_input_order():
    # Equal scores: the stable sort ranks the earlier row first.
    g = gts([(0, 0, H, OBJ)])
    fp_first = dets([(0, 0, 0.5, MISS, OBJ), (0, 0, 0.5, H, OBJ)])
    # ranks FP, TP -> prec 0, 1/2 ; rec 0, 1 -> AP .5
    assert evaluate_hoi(fp_first, g, 1).ap[0] == pytest.approx(0.5)
    tp_first = dets([(0, 0, 0.5, H, OBJ), (0, 0, 0.5, MISS, OBJ)])
    # ranks TP, FP -> prec 1, 1/2 ; rec 1, 1 -> max prec 1 for all t -> AP 1
    assert evaluate_hoi(tp_first, g, 1).ap[0] == pytest.approx(1.0)
    # ties with two identical boxes: the first row gets the TP, the second is the duplicate FP
    dup = dets([(0, 0, 0.5, H, OBJ), (0, 0, 0.5, H, OBJ), (0, 0, 0.5, H, OBJ)])
    np.testing.assert_array_equal(match_detections(dup, g), [True, False, False])


def test_duplicate_detection_is_fp():
    # GT a in image 0, GT b in image 1 (never detected). Two exact hits on a.
    g = gts([(0, 0, H, OBJ), (1, 0, H, OBJ)])
    d = dets([(0, 0, 0.8, H, OBJ), (0, 0, 0.9, H, OBJ)])
    # ranked: row1 (.9) TP, row0 (.8) duplicate FP
    np.testing.assert_array_equal(match_detections(d, g), [False, True])
    # prec 1, 1/2 ; rec .5, .5 -> t = 0..0.5 -> 1 (6 terms), t >= .6 -> 0 -> AP 6/11
    assert evaluate_hoi(d, g, 1).ap[0] == pytest.approx(6 / 11)


def test_best_gt_already_matched_is_fp_even_if_other_gt_unmatched():
    # GT1 = (H, OBJ), GT2 = (H, O2) in the same image/class.
    # OBJ vs O2: inter 8*10 = 80, union 100+100-80 = 120 -> 2/3 >= .5
    O2 = [22.0, 0.0, 32.0, 10.0]
    g = gts([(0, 0, H, OBJ), (0, 0, H, O2)])
    # Both detections are exact copies of GT1: overlap 1 with GT1, 2/3 with GT2.
    d = dets([(0, 0, 0.9, H, OBJ), (0, 0, 0.8, H, OBJ)])
    # det1 -> GT1 TP. det2's best GT is GT1 (already matched) -> FP, no fallback
    # to GT2 (official eval_hico.m behaviour).
    np.testing.assert_array_equal(match_detections(d, g), [True, False])
    # prec 1, 1/2 ; rec .5, .5 -> AP 6/11 (a fallback matcher would give 1)
    assert evaluate_hoi(d, g, 1).ap[0] == pytest.approx(6 / 11)
    # Control: a detection that is closer to GT2 does match GT2.
    d_ok = dets([(0, 0, 0.9, H, OBJ), (0, 0, 0.8, H, O2)])
    np.testing.assert_array_equal(match_detections(d_ok, g), [True, True])
    assert evaluate_hoi(d_ok, g, 1).ap[0] == pytest.approx(1.0)


def test_detections_in_images_without_gt_are_fp():
    # GT of class 0 only in image 0; image 1 has GT of class 1 only; image 7 has none.
    g = gts([(0, 0, H, OBJ), (1, 1, H, OBJ)])
    d = dets(
        [
            (1, 0, 0.95, H, OBJ),  # image 1 has no class-0 GT -> FP
            (7, 0, 0.9, H, OBJ),  # image 7 has no GT at all -> FP
            (0, 0, 0.8, H, OBJ),  # TP
            (1, 1, 0.5, H, OBJ),  # TP for class 1
        ]
    )
    np.testing.assert_array_equal(match_detections(d, g), [False, False, True, True])
    m = evaluate_hoi(d, g, 2)
    # class 0 ranks FP, FP, TP: prec 0, 0, 1/3 ; rec 0, 0, 1 -> AP 1/3
    assert m.ap[0] == pytest.approx(1 / 3)
    assert m.ap[1] == pytest.approx(1.0)
    assert m.full == pytest.approx((1 / 3 + 1) / 2)


def test_class_without_gt_is_nan_and_excluded():
    # classes: 0 has GT and a TP (AP 1); 1 has GT but no detection (AP 0);
    # 2 has detections but no GT (NaN, excluded); 3 has nothing (NaN, excluded).
    g = gts([(0, 0, H, OBJ), (0, 1, H, OBJ)])
    d = dets([(0, 0, 0.9, H, OBJ), (0, 2, 0.8, H, OBJ)])
    m = evaluate_hoi(d, g, 4)
    assert m.ap[0] == 1.0 and m.ap[1] == 0.0
    assert np.isnan(m.ap[2]) and np.isnan(m.ap[3])
    np.testing.assert_array_equal(m.excluded_classes, [2, 3])
    assert m.full == pytest.approx(0.5)  # (1 + 0) / 2, classes 2, 3 not counted
    dd = m.to_dict()
    json.dumps(dd)  # JSON-serialisable
    assert dd["ap"] == [1.0, 0.0, None, None]
    assert dd["n_gt"] == [1, 1, 0, 0]
    assert dd["excluded_classes"] == [2, 3]
    assert dd["full"] == 0.5 and dd["rare"] is None


def test_no_gt_at_all_gives_nan_full():
    m = evaluate_hoi(dets([(0, 0, 0.9, H, OBJ)]), gts([]), 2)
    assert np.isnan(m.ap).all() and math.isnan(m.full)
    assert m.to_dict()["full"] is None
    m2 = evaluate_hoi(dets([]), gts([(0, 1, H, OBJ)]), 2)
    assert m2.ap[1] == 0.0 and m2.full == 0.0


def test_both_boxes_must_overlap():
    g = gts([(0, 0, H, OBJ)])
    O_shift = [25.0, 0.0, 35.0, 10.0]  # vs OBJ: inter 50, union 150 -> 1/3
    H_shift = [5.0, 0.0, 15.0, 10.0]  # vs H: 1/3
    O_half = [20.0, 0.0, 30.0, 20.0]  # vs OBJ: inter 100, union 200 -> exactly .5
    d = dets(
        [
            (0, 0, 0.9, H, O_shift),  # human IoU 1, object 1/3 -> min 1/3 -> FP
            (0, 0, 0.8, H_shift, OBJ),  # object IoU 1, human 1/3 -> FP
        ]
    )
    np.testing.assert_array_equal(match_detections(d, g), [False, False])
    assert evaluate_hoi(d, g, 1).ap[0] == 0.0
    # overlap exactly at the threshold counts (>=)
    np.testing.assert_array_equal(match_detections(dets([(0, 0, 0.9, H, O_half)]), g), [True])
    # a stricter threshold rejects it
    assert evaluate_hoi(dets([(0, 0, 0.9, H, O_half)]), g, 1, iou_threshold=0.6).ap[0] == 0.0


def test_rare_and_unseen_means():
    # class 0: TP -> AP 1 ; class 1: FP then TP -> AP .5 (see test_single_fp_ranked_before_tp)
    # class 2: GT, no dets -> AP 0 ; class 3: no GT -> NaN (excluded everywhere)
    g = gts([(0, 0, H, OBJ), (0, 1, H, OBJ), (0, 2, H, OBJ)])
    d = dets(
        [(0, 0, 0.9, H, OBJ), (0, 1, 0.9, MISS, OBJ), (0, 1, 0.8, H, OBJ), (0, 3, 0.7, H, OBJ)]
    )
    rare = np.array([True, False, False, True])
    unseen = np.array([False, True, True, False])
    m = evaluate_hoi(d, g, 4, rare=rare, unseen=unseen)
    np.testing.assert_allclose(m.ap[:3], [1.0, 0.5, 0.0])
    assert m.full == pytest.approx((1 + 0.5 + 0) / 3)  # 0.5
    assert m.rare == pytest.approx(1.0)  # {0} (3 has no GT)
    assert m.non_rare == pytest.approx((0.5 + 0) / 2)  # {1, 2}
    assert m.unseen == pytest.approx(0.25)  # {1, 2}
    assert m.seen == pytest.approx(1.0)  # {0} (3 excluded)
    pct = m.as_percent()
    assert pct["full"] == pytest.approx(50.0) and pct["unseen"] == pytest.approx(25.0)
    assert (
        m.format_row() == "full 50.00 | rare 100.00 | non_rare 25.00 | unseen 25.00 | seen 100.00"
    )
    # a subset whose classes all lack GT -> NaN (None in to_dict)
    m2 = evaluate_hoi(d, g, 4, rare=np.array([False, False, False, True]))
    assert math.isnan(m2.rare) and m2.to_dict()["rare"] is None
    assert m2.non_rare == pytest.approx(0.5)
    assert m2.unseen is None and "unseen" not in m2.format_row()


def test_invalid_inputs_raise():
    ok_box = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"boxes_h.*\(2, 4\)"):
        HOIDetections(
            image=np.arange(2),
            hoi=np.zeros(2, int),
            score=np.ones(2),
            boxes_h=np.zeros((2, 3)),
            boxes_o=ok_box,
        )
    with pytest.raises(ValueError, match=r"score.*\(2,\)"):
        HOIDetections(
            image=np.arange(2),
            hoi=np.zeros(2, int),
            score=np.ones(3),
            boxes_h=ok_box,
            boxes_o=ok_box,
        )
    with pytest.raises(ValueError, match=r"HOIGroundTruth\.hoi.*\(2,\)"):
        HOIGroundTruth(image=np.arange(2), hoi=np.zeros(1, int), boxes_h=ok_box, boxes_o=ok_box)
    with pytest.raises(ValueError, match="score"):
        HOIDetections(
            image=np.arange(2),
            hoi=np.zeros(2, int),
            score=np.array([1.0, np.nan]),
            boxes_h=ok_box,
            boxes_o=ok_box,
        )
    with pytest.raises(ValueError, match="score"):
        HOIDetections(
            image=np.arange(2),
            hoi=np.zeros(2, int),
            score=np.array([1.0, np.inf]),
            boxes_h=ok_box,
            boxes_o=ok_box,
        )
    with pytest.raises(ValueError, match="image"):
        HOIDetections(
            image=np.array([0.0, 1.5]),
            hoi=np.zeros(2, int),
            score=np.ones(2),
            boxes_h=ok_box,
            boxes_o=ok_box,
        )
    with pytest.raises(ValueError, match="boxes_o"):
        HOIGroundTruth(
            image=np.arange(1),
            hoi=np.zeros(1, int),
            boxes_h=np.zeros((1, 4)),
            boxes_o=np.array([[5.0, 0, 1, 1]]),
        )
    with pytest.raises(ValueError, match="hoi"):
        HOIGroundTruth(
            image=np.arange(1),
            hoi=np.array([-1]),
            boxes_h=np.zeros((1, 4)),
            boxes_o=np.zeros((1, 4)),
        )

    g = gts([(0, 0, H, OBJ)])
    d = dets([(0, 0, 0.9, H, OBJ)])
    with pytest.raises(ValueError, match=r"dets\.hoi"):
        evaluate_hoi(dets([(0, 3, 0.9, H, OBJ)]), g, 3)
    with pytest.raises(ValueError, match=r"gt\.hoi"):
        evaluate_hoi(d, gts([(0, 5, H, OBJ)]), 3)
    with pytest.raises(ValueError, match="rare"):
        evaluate_hoi(d, g, 3, rare=np.array([True, False]))
    with pytest.raises(ValueError, match="unseen"):
        evaluate_hoi(d, g, 3, unseen=np.array([0, 1, 2]))  # index list, not a mask
    with pytest.raises(ValueError, match="num_classes"):
        evaluate_hoi(d, g, 0)
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate_hoi(d, g, 1, iou_threshold=1.5)


def test_containers_concat_and_frozen():
    a = dets([(0, 0, 0.9, H, OBJ)])
    b = dets([(1, 1, 0.2, OBJ, H), (2, 0, 0.3, H, OBJ)])
    c = HOIDetections.concat([a, b])
    assert len(c) == 3
    np.testing.assert_array_equal(c.image, [0, 1, 2])
    np.testing.assert_array_equal(c.score, [0.9, 0.2, 0.3])
    assert c.image.dtype == np.int64 and c.boxes_h.dtype == np.float64
    assert len(HOIDetections.concat([])) == 0
    assert len(HOIGroundTruth.concat([gts([(0, 0, H, OBJ)]), gts([])])) == 1
    with pytest.raises(ValueError):
        c.score[0] = 5.0  # read-only columns
    # the caller's arrays are copied, not frozen in place
    s = np.ones(1)
    HOIDetections(
        image=np.zeros(1, int),
        hoi=np.zeros(1, int),
        score=s,
        boxes_h=np.zeros((1, 4)),
        boxes_o=np.zeros((1, 4)),
    )
    s[0] = 2.0


# ---------------------------------------------------------------- randomised


def _official_thresholds():
    """``for t = 0:0.1:1`` in MATLAB, written out independently of hoilib: 0 + k*0.1 for the first
    half, 1 - k*0.1 from the top for the second, the middle (0 + 1) / 2."""
    lo = [0.0 + k * 0.1 for k in range(6)]
    hi = [1.0 - k * 0.1 for k in range(5)][::-1]
    return lo[:5] + [(0.0 + 1.0) / 2] + hi


def _reference_ap(tp: list, npos: int) -> float:
    """eval_hico.m's AP, as a loop: rec = cumsum(tp)/npos, prec = cumsum(tp)./(cumsum(fp)+cumsum(tp)),
    ap = sum over t of max(prec(rec >= t)) / 11 (0 where empty)."""
    ctp = cfp = 0
    rec, prec = [], []
    for x in tp:
        ctp += x
        cfp += 1 - x
        rec.append(ctp / npos)
        prec.append(ctp / (ctp + cfp))
    ap = 0.0
    for t in _official_thresholds():
        p = [pr for r, pr in zip(rec, prec, strict=False) if r >= t]
        ap += (max(p) if p else 0.0) / 11
    return ap


def _reference_eval(d: HOIDetections, g: HOIGroundTruth, num_classes: int, thr: float = 0.5):
    """Straight loop transcription of eval_hico.m (per class, per detection), sharing no code with
    hoilib.measure.metric.
    """
    ap = np.full(num_classes, np.nan)
    for c in range(num_classes):
        gidx = np.flatnonzero(g.hoi == c)
        if gidx.size == 0:
            continue
        matched = set()
        didx = np.flatnonzero(d.hoi == c)
        didx = didx[np.argsort(-d.score[didx], kind="stable")]
        tp = []
        for i in didx:
            same = [j for j in gidx if g.image[j] == d.image[i]]
            if not same:
                tp.append(0)
                continue
            ov = [
                min(_iou_loop(d.boxes_h[i], g.boxes_h[j]), _iou_loop(d.boxes_o[i], g.boxes_o[j]))
                for j in same
            ]
            k = int(np.argmax(ov))
            if ov[k] >= thr and same[k] not in matched:
                matched.add(same[k])
                tp.append(1)
            else:
                tp.append(0)
        ap[c] = _reference_ap(tp, gidx.size)
    return ap


def _iou_loop(a, b) -> float:
    """IoU of two xyxy boxes in continuous coordinates (hoilib's convention, item 1 of its docstring)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _random_problem(rng, n_img=25, n_cls=6, n_gt=60, n_rand=60, distinct=True):
    def rand_boxes(n):
        xy = rng.uniform(0, 80, size=(n, 2))
        wh = rng.uniform(5, 30, size=(n, 2))
        return np.concatenate([xy, xy + wh], axis=1)

    g = HOIGroundTruth(
        image=rng.integers(0, n_img, n_gt),
        hoi=rng.integers(0, n_cls, n_gt),
        boxes_h=rand_boxes(n_gt),
        boxes_o=rand_boxes(n_gt),
    )
    # noisy copies of GT (some duplicated) + random clutter
    src = rng.integers(0, n_gt, 2 * n_gt)

    def jitter(b):
        return b + rng.normal(0, 3, size=b.shape) * [1, 1, 1, 1]

    bh = np.sort(jitter(g.boxes_h[src]).reshape(-1, 2, 2), axis=1).reshape(-1, 4)
    bo = np.sort(jitter(g.boxes_o[src]).reshape(-1, 2, 2), axis=1).reshape(-1, 4)
    n = src.size + n_rand
    score = rng.permutation(n) / n if distinct else rng.integers(0, 5, n) / 5
    d = HOIDetections(
        image=np.concatenate([g.image[src], rng.integers(0, n_img, n_rand)]),
        hoi=np.concatenate([g.hoi[src], rng.integers(0, n_cls, n_rand)]),
        score=score,
        boxes_h=np.concatenate([bh, rand_boxes(n_rand)]),
        boxes_o=np.concatenate([bo, rand_boxes(n_rand)]),
    )
    return d, g


def _take(d: HOIDetections, idx):
    return HOIDetections(
        image=d.image[idx],
        hoi=d.hoi[idx],
        score=d.score[idx],
        boxes_h=d.boxes_h[idx],
        boxes_o=d.boxes_o[idx],
    )


def test_random_permutation_invariance_and_reference():
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = _random_problem(rng)
        m = evaluate_hoi(d, g, 7)  # class 6 never appears -> NaN
        assert np.isnan(m.ap[6])
        np.testing.assert_allclose(m.ap, _reference_eval(d, g, 7), equal_nan=True)
        assert np.nanmax(m.ap) > 0  # the problem is non-trivial
        perm = rng.permutation(len(d))
        mp = evaluate_hoi(_take(d, perm), g, 7)
        np.testing.assert_array_equal(mp.ap, m.ap)  # bitwise (NaN == NaN here)
        assert mp.full == m.full
        # TP flags follow their rows
        np.testing.assert_array_equal(
            match_detections(_take(d, perm), g), match_detections(d, g)[perm]
        )


def test_chunked_pair_pass_is_identical(monkeypatch):
    # tiny chunks (incl. chunks smaller than one detection's GT list) must not change anything
    import hoilib.measure.metric as metric

    rng = np.random.default_rng(3)
    d, g = _random_problem(rng, n_img=3)
    full = match_detections(d, g)
    for max_pairs in (1, 7, 50):
        monkeypatch.setattr(metric, "_MAX_PAIRS", max_pairs)
        np.testing.assert_array_equal(match_detections(d, g), full)


def test_random_ties_match_reference():
    # many equal scores: the vectorised path must follow the same stable order as the loop
    rng = np.random.default_rng(1)
    for _ in range(3):
        d, g = _random_problem(rng, distinct=False)
        np.testing.assert_allclose(
            evaluate_hoi(d, g, 6).ap, _reference_eval(d, g, 6), equal_nan=True
        )


def test_scale_smoke():
    # ~50k detections x 100 classes must run comfortably (no timing assertion, just no blow-up)
    rng = np.random.default_rng(2)
    d, g = _random_problem(rng, n_img=2000, n_cls=100, n_gt=20000, n_rand=10000)
    assert len(d) == 50000
    m = evaluate_hoi(d, g, 100)
    assert 0 < m.full < 1


def _problem_on_the_thresholds(rng, n_cls=8, n_gt=10, n_img=6):
    """Every class has 10 GT pairs; exact copies of a random 3, 6 or 7 of them (so recall ends at
    exactly 0.3, 0.6 or 0.7) plus random clutter, all with random scores."""

    def rand_boxes(n):
        xy = rng.uniform(0, 80, size=(n, 2))
        return np.concatenate([xy, xy + rng.uniform(5, 30, size=(n, 2))], axis=1)

    g = HOIGroundTruth(
        image=rng.integers(0, n_img, n_cls * n_gt),
        hoi=np.repeat(np.arange(n_cls), n_gt),
        boxes_h=rand_boxes(n_cls * n_gt),
        boxes_o=rand_boxes(n_cls * n_gt),
    )
    hit = np.concatenate(
        [c * n_gt + rng.choice(n_gt, rng.choice([3, 6, 7]), replace=False) for c in range(n_cls)]
    )
    n_fp = 3 * n_cls
    d = HOIDetections(
        image=np.concatenate([g.image[hit], rng.integers(0, n_img, n_fp)]),
        hoi=np.concatenate([g.hoi[hit], rng.integers(0, n_cls, n_fp)]),
        score=rng.uniform(0, 1, hit.size + n_fp),
        boxes_h=np.concatenate([g.boxes_h[hit], rand_boxes(n_fp)]),
        boxes_o=np.concatenate([g.boxes_o[hit], rand_boxes(n_fp)]),
    )
    return d, g


def test_random_detections_on_the_thresholds_match_eval_hico():
    # the independent transcription of eval_hico.m and hoilib agree to 1e-12 on problems whose recalls end
    # exactly at 0.3, 0.6 and 0.7; the exact-tenths grid disagrees there, so the test can tell them apart
    rng = np.random.default_rng(7)
    differs = 0
    for _ in range(20):
        d, g = _problem_on_the_thresholds(rng)
        m = evaluate_hoi(d, g, 8)
        np.testing.assert_allclose(m.ap, _reference_eval(d, g, 8), rtol=0, atol=1e-12)
        differs += int(np.sum(evaluate_hoi(d, g, 8, recall_grid="k/10").ap != m.ap))
    assert differs > 0
