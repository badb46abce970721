"""Zero-shot scoring: valid classes only, perfect text gives perfect mAP, cached features are reused."""

from __future__ import annotations

import numpy as np
import torch

from hoilib.data.annotations import PairSet
from hoilib.measure.metric import HOIGroundTruth
from hoilib.measure.zeroshot import annotated_pairs, score_pairs, shuffled_control, zero_shot_map
from hoilib.models.features import extract_pair_features


def _toy():
    classes = [(0, 0), (1, 0), (0, 1), (1, 1)]  # (verb, object)
    box = np.array([[0, 0, 10, 10]] * 4, dtype=float)
    boxo = np.array(
        [[20, 0, 30, 10], [40, 0, 50, 10], [20, 0, 30, 10], [40, 0, 50, 10]], dtype=float
    )
    pairs = PairSet(
        image=np.array([0, 0, 1, 1]), boxes_h=box, boxes_o=boxo, object=np.array([0, 1, 0, 1])
    )
    gt = HOIGroundTruth(
        image=np.array([0, 0, 1, 1]), hoi=np.array([0, 3, 1, 2]), boxes_h=box, boxes_o=boxo
    )
    return classes, pairs, gt


def test_scores_only_classes_of_the_pair_object():
    classes, pairs, _ = _toy()
    dets = score_pairs(torch.randn(4, 8), torch.randn(4, 8), pairs, classes=classes)
    objs = np.array([o for _, o in classes])[dets.hoi]
    assert np.array_equal(objs, pairs.object[np.repeat(np.arange(4), 2)])
    sums = np.bincount(np.repeat(np.arange(4), 2), weights=dets.score)
    assert np.allclose(sums, 1.0)


def test_perfect_text_gives_perfect_map_and_shuffled_does_not():
    classes, pairs, gt = _toy()
    text = torch.eye(4)
    img = text[[0, 3, 1, 2]]  # each pair's feature equals its class's text feature
    assert zero_shot_map(img, text, pairs, classes=classes, gt=gt).full == 1.0
    ctrl = shuffled_control(img, text, pairs, classes=classes, gt=gt, repeats=6, seed=0)
    assert ctrl.mean() < 1.0


def test_annotated_pairs_finds_every_gt_pair(tiny_backbone):
    world, _ = tiny_backbone
    pairs = world.test_pairs()
    idx, cls = annotated_pairs(world.test, pairs)
    gt = world.test.ground_truth()
    assert len(idx) == len(
        {
            (int(i), tuple(h), tuple(o))
            for i, h, o in zip(gt.image, gt.boxes_h, gt.boxes_o, strict=False)
        }
    )
    rows = {
        (int(i), int(c), tuple(h), tuple(o))
        for i, c, h, o in zip(gt.image, gt.hoi, gt.boxes_h, gt.boxes_o, strict=False)
    }
    # each found pair is a ground-truth pair of the class reported for it
    for p, c in zip(idx, cls, strict=False):
        assert (
            int(pairs.image[p]),
            int(c),
            tuple(pairs.boxes_h[p]),
            tuple(pairs.boxes_o[p]),
        ) in rows


def test_feature_cache_reused_and_keyed_by_boxes(tiny_backbone, tmp_path):
    world, bb = tiny_backbone
    pairs = world.test_pairs()
    sub = PairSet(
        image=pairs.image[:10],
        boxes_h=pairs.boxes_h[:10],
        boxes_o=pairs.boxes_o[:10],
        object=pairs.object[:10],
    )
    f1 = extract_pair_features(bb, world.test, sub, cache_dir=tmp_path, show_progress=False)
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 1
    f2 = extract_pair_features(bb, world.test, sub, cache_dir=tmp_path, show_progress=False)
    assert all(torch.equal(f1[k], f2[k]) for k in f1)
    moved = PairSet(
        image=sub.image, boxes_h=sub.boxes_h + 1.0, boxes_o=sub.boxes_o, object=sub.object
    )
    extract_pair_features(bb, world.test, moved, cache_dir=tmp_path, show_progress=False)
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 2
    assert f1["union"].shape == (10, bb.embed_dim)


def test_annotated_pairs_match_detected_boxes_by_iou(tiny_backbone):
    world, _ = tiny_backbone
    pairs = world.test_pairs()
    exact, cls = annotated_pairs(world.test, pairs)
    # a detector's boxes are never exact
    shifted = PairSet(
        image=pairs.image,
        boxes_h=pairs.boxes_h + 1.0,
        boxes_o=pairs.boxes_o - 1.0,
        object=pairs.object,
    )
    idx, cls2 = annotated_pairs(world.test, shifted)
    assert np.array_equal(idx, exact) and np.array_equal(cls2, cls)
    far = PairSet(
        image=pairs.image,
        boxes_h=pairs.boxes_h + 1000.0,
        boxes_o=pairs.boxes_o,
        object=pairs.object,
    )
    assert len(annotated_pairs(world.test, far)[0]) == 0  # no overlap, no match
