"""Detected pairs: the keep rule, every human with every object, the (s_h * s_o)^2.8 prior, errors, scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.data.annotations import HOIDataset, ImageAnn, PairSet, enumerate_pairs, load_annotations
from hoilib.data.detections import FORMAT, keep_by_score, read_detections, write_detections
from hoilib.errors import DataError
from hoilib.measure.metric import HOIDetections
from hoilib.measure.zeroshot import class_mask, score_pairs
from hoilib.models.ezhoi.pairs import pack_pairs
from hoilib.models.ezhoi.train import predict

OBJECTS = ["person", "cup", "ball"]
CLASSES = [
    (0, 0),
    (1, 1),
    (0, 1),
    (1, 2),
    (2, 2),
]  # (verb, object): hug person, hold cup, look cup, kick ball, throw ball
SIZE = (200, 100)


def _image(i: int, gt=()) -> ImageAnn:
    bh = np.array([g[0] for g in gt], dtype=np.float64).reshape(-1, 4)
    bo = np.array([g[1] for g in gt], dtype=np.float64).reshape(-1, 4)
    hoi = np.array([g[2] for g in gt], dtype=np.int64)
    obj = np.array([CLASSES[c][1] for c in hoi], dtype=np.int64)
    verb = np.array([CLASSES[c][0] for c in hoi], dtype=np.int64)
    return ImageAnn(
        index=i,
        filename=f"img{i}.jpg",
        width=SIZE[0],
        height=SIZE[1],
        boxes_h=bh,
        boxes_o=bo,
        hoi=hoi,
        object=obj,
        verb=verb,
    )


def _dataset(tmp_path, n_images=3, objects=OBJECTS) -> HOIDataset:
    return HOIDataset(
        path=tmp_path / "instances_test2015.json",
        image_dir=tmp_path / "images",
        images=[_image(i) for i in range(n_images)],
        objects=list(objects),
        verbs=["hug", "hold", "throw"],
        classes=list(CLASSES),
    )


def _box(k: int) -> list[float]:
    """A distinct box per detection index (so a pair's boxes identify its detections)."""
    x = float(k % 19) * 10.0
    y = float(k // 19) * 10.0
    return [x, y, x + 9.0, y + 9.0]


def _entries():
    """Image 0: 4 humans (2 above 0.2 -> top 3 kept), 20 cups/balls (all above -> top 15 kept).
    Image 1: objects only (no pairs). Image 2: one human and one ball, both below 0.2 (kept: fewer than 3)."""
    h0 = [0.9, 0.5, 0.1, 0.05]
    o0 = [round(0.3 + 0.03 * k, 2) for k in range(20)]
    rng = np.random.default_rng(0)
    perm = rng.permutation(24)  # humans and objects interleaved in the file
    labels0 = [0] * 4 + [1 + k % 2 for k in range(20)]
    scores0 = h0 + o0
    e0 = {
        "filename": "img0.jpg",
        "boxes": [_box(int(k)) for k in range(24)],
        "labels": [labels0[p] for p in perm],
        "scores": [scores0[p] for p in perm],
    }
    e1 = {
        "filename": "img1.jpg",
        "boxes": [_box(0), _box(1)],
        "labels": [1, 2],
        "scores": [0.9, 0.8],
    }
    e2 = {
        "filename": "img2.jpg",
        "boxes": [_box(3), _box(5)],
        "labels": [0, 2],
        "scores": [0.1, 0.15],
    }
    return [e0, e1, e2]


@pytest.fixture()
def det_file(tmp_path):
    path = tmp_path / "detections.json"
    write_detections(path, _entries())
    return path


def test_keep_rule():
    s = np.array([0.9, 0.5, 0.1, 0.05])
    assert keep_by_score(s).tolist() == [0, 1, 2]  # 2 above 0.2 -> the top 3 regardless of score
    assert keep_by_score(np.array([0.1, 0.15])).tolist() == [0, 1]  # fewer than 3 in all: every one
    assert keep_by_score(np.array([0.3, 0.1, 0.25, 0.9, 0.21])).tolist() == [
        0,
        2,
        3,
        4,
    ]  # 4 above: exactly those
    many = np.linspace(0.3, 0.99, 20)[::-1]
    assert keep_by_score(many).tolist() == list(range(15))  # at most 15, the best ones
    assert keep_by_score(np.array([0.5, 0.5, 0.5, 0.5]), max_per_kind=2).tolist() == [
        0,
        1,
    ]  # ties: file order
    assert keep_by_score(np.zeros(0)).tolist() == []
    assert keep_by_score(s, min_score=0.0, min_per_kind=0, max_per_kind=15).tolist() == [0, 1, 2, 3]


def test_pairs_every_kept_human_with_every_kept_detection(tmp_path, det_file):
    ds = _dataset(tmp_path)
    pairs = read_detections(det_file, ds)
    entries = _entries()
    # image 0: 3 kept humans x (3 humans + 15 objects) - 3 self-pairs; image 1: no human; image 2: 1 x 2 - 1
    assert len(pairs) == 3 * 18 - 3 + 0 + 1
    assert np.all(np.diff(pairs.image) >= 0) and set(pairs.image.tolist()) == {0, 2}
    assert not np.any(np.all(pairs.boxes_h == pairs.boxes_o, axis=1)), (
        "a detection is never paired with itself"
    )
    e0 = entries[0]
    score_of = {tuple(b): s for b, s in zip(e0["boxes"], e0["scores"], strict=False)}
    label_of = {tuple(b): lab for b, lab in zip(e0["boxes"], e0["labels"], strict=False)}
    m = pairs.image == 0
    humans = {tuple(b) for b in pairs.boxes_h[m].tolist()}
    objects = {tuple(b) for b in pairs.boxes_o[m].tolist()}
    assert sorted(score_of[b] for b in humans) == [0.1, 0.5, 0.9]  # top 3 humans (only 2 above 0.2)
    kept_objects = sorted((score_of[b] for b in objects if label_of[b] != 0), reverse=True)
    assert (
        kept_objects
        == sorted(
            [s for s, lab in zip(e0["scores"], e0["labels"], strict=False) if lab != 0],
            reverse=True,
        )[:15]
    )
    assert {
        b for b in objects if label_of[b] == 0
    } == humans  # humans are objects too ('person' is an object)
    for bh, bo, obj, prior in zip(
        pairs.boxes_h[m].tolist(),
        pairs.boxes_o[m].tolist(),
        pairs.object[m],
        pairs.prior[m],
        strict=False,
    ):
        assert obj == label_of[tuple(bo)]
        assert np.isclose(
            prior, (score_of[tuple(bh)] * score_of[tuple(bo)]) ** 2.8, rtol=1e-13, atol=0
        )
    m2 = pairs.image == 2
    assert pairs.boxes_h[m2].tolist() == [_box(3)] and pairs.boxes_o[m2].tolist() == [_box(5)]
    assert pairs.object[m2].tolist() == [2] and np.isclose(pairs.prior[m2][0], (0.1 * 0.15) ** 2.8)


def test_options_and_entry_order(tmp_path, det_file):
    ds = _dataset(tmp_path)
    base = read_detections(det_file, ds)
    strict = read_detections(
        det_file, ds, min_score=0.0, min_per_kind=0, max_per_kind=100, exponent=1.0
    )
    assert len(strict) == 4 * 24 - 4 + 1  # every detection kept
    assert np.allclose(strict.prior[strict.image == 2], 0.1 * 0.15)
    # entry order does not matter; unknown filenames are ignored
    shuffled = tmp_path / "shuffled.json"
    write_detections(
        shuffled,
        _entries()[::-1] + [{"filename": "other.jpg", "boxes": [], "labels": [], "scores": []}],
    )
    again = read_detections(shuffled, ds)
    for f in ("image", "boxes_h", "boxes_o", "object", "prior"):
        assert np.array_equal(getattr(base, f), getattr(again, f))


def test_dataset_without_person(tmp_path):
    """HOI-Synth has no 'person' object: humans default to label len(objects) and are not objects."""
    ds = _dataset(tmp_path, n_images=1, objects=["cup", "ball"])
    path = tmp_path / "d.json"
    write_detections(
        path,
        [
            {
                "filename": "img0.jpg",
                "boxes": [_box(0), _box(1), _box(2)],
                "labels": [2, 2, 0],
                "scores": [0.9, 0.8, 0.7],
            }
        ],
    )
    pairs = read_detections(path, ds)
    assert len(pairs) == 2 and pairs.object.tolist() == [0, 0]
    assert pairs.boxes_o.tolist() == [_box(2), _box(2)]


def _bad(tmp_path, edit):
    entries = _entries()
    edit(entries)
    path = tmp_path / "bad_detections.json"
    path.write_text(json.dumps({"format": FORMAT, "images": entries}))
    return path


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda es: es.pop(1), r"image 1 \(img1\.jpg\) of .* has no entry in field 'images'"),
        (
            lambda es: es[1]["boxes"].__setitem__(1, [10, 10, 250, 20]),
            r"image 1 \(img1\.jpg, 'images'\[1\]\): field 'boxes'\[1\] = \[10\.0, 10\.0, 250\.0, "
            r"20\.0\] is not a box inside the image.*x2 <= 200",
        ),
        (
            lambda es: es[1]["boxes"].__setitem__(0, [30, 10, 20, 20]),
            r"image 1 \(img1\.jpg.*field 'boxes'\[0\].*x1 <= x2",
        ),
        (
            lambda es: es[1]["boxes"].__setitem__(0, [1, 2, 3]),
            r"image 1 \(img1\.jpg.*field 'boxes'\[0\] = \[1, 2, 3\] is not a box",
        ),
        (
            lambda es: es[1]["labels"].__setitem__(1, 3),
            r"image 1 \(img1\.jpg.*field 'labels'\[1\] = 3 is not an object index; expected an integer in \[0, 3\)",
        ),
        (
            lambda es: es[1]["labels"].__setitem__(1, 1.0),
            r"image 1 \(img1\.jpg.*field 'labels'\[1\] = 1\.0 is not an object index",
        ),
        (
            lambda es: es[1]["scores"].__setitem__(0, 1.5),
            r"image 1 \(img1\.jpg.*field 'scores'\[0\] = 1\.5 .*expected a finite number in \[0, 1\]",
        ),
        (
            lambda es: es[1]["scores"].__setitem__(0, None),
            r"image 1 \(img1\.jpg.*field 'scores'\[0\] = None",
        ),
        (
            lambda es: es[1]["scores"].pop(),
            r"image 1 \(img1\.jpg.*field 'scores' has 1 entries, expected 2 \(one per box in 'boxes'\)",
        ),
        (
            lambda es: es[1]["labels"].append(0),
            r"image 1 \(img1\.jpg.*field 'labels' has 3 entries, expected 2",
        ),
        (lambda es: es[1].pop("labels"), r"image 1 \(img1\.jpg.*missing field\(s\) \['labels'\]"),
        (lambda es: es.append(dict(es[0])), r"filename 'img0\.jpg' already given by 'images'\[0\]"),
    ],
)
def test_errors_name_file_image_and_field(tmp_path, edit, pattern):
    path = _bad(tmp_path, edit)
    with pytest.raises(DataError, match=r"bad_detections\.json: .*" + pattern):
        read_detections(path, _dataset(tmp_path))


def test_file_level_errors(tmp_path):
    ds = _dataset(tmp_path)
    with pytest.raises(DataError, match="detections file not found: .*nope.json"):
        read_detections(tmp_path / "nope.json", ds)
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"format": "something else", "images": []}))
    with pytest.raises(
        DataError,
        match=r"d\.json: field 'format' = 'something else', expected 'hoi-book detections v1'",
    ):
        read_detections(p, ds)
    p.write_text("{")
    with pytest.raises(DataError, match=r"d\.json is not valid JSON"):
        read_detections(p, ds)


def test_pairset_subset_carries_prior(tmp_path, det_file):
    pairs = read_detections(det_file, _dataset(tmp_path))
    sub = pairs.subset(np.arange(5, 9))
    assert np.array_equal(sub.prior, pairs.prior[5:9]) and np.array_equal(
        sub.boxes_o, pairs.boxes_o[5:9]
    )
    # old constructor call: no prior
    plain = PairSet(
        image=pairs.image, boxes_h=pairs.boxes_h, boxes_o=pairs.boxes_o, object=pairs.object
    )
    assert plain.prior is None and plain.subset([0, 1]).prior is None


def _old_score_pairs(img, txt, pairs, classes, logit_scale=100.0):
    """score_pairs as it was before priors existed (the reference for bit-identity)."""
    cos = F.normalize(img.float(), dim=-1) @ F.normalize(txt.float(), dim=-1).T
    mask = class_mask(pairs, classes)
    probs = (
        cos
        if logit_scale is None
        else torch.softmax((logit_scale * cos).masked_fill(~mask, float("-inf")), dim=-1)
    )
    p_idx, c_idx = torch.nonzero(mask, as_tuple=True)
    p_np = p_idx.numpy()
    return HOIDetections(
        image=pairs.image[p_np],
        hoi=c_idx.numpy().astype(np.int64),
        score=probs[p_idx, c_idx].double().numpy(),
        boxes_h=pairs.boxes_h[p_np],
        boxes_o=pairs.boxes_o[p_np],
    )


@pytest.mark.parametrize("logit_scale", [100.0, None])
def test_score_pairs_applies_prior(tmp_path, det_file, logit_scale):
    pairs = read_detections(det_file, _dataset(tmp_path))
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(len(pairs), 16, generator=g), torch.randn(len(CLASSES), 16, generator=g)
    plain = PairSet(
        image=pairs.image, boxes_h=pairs.boxes_h, boxes_o=pairs.boxes_o, object=pairs.object
    )
    old, new = (
        _old_score_pairs(img, txt, plain, CLASSES, logit_scale),
        score_pairs(img, txt, plain, classes=CLASSES, logit_scale=logit_scale),
    )
    for f in ("image", "hoi", "score", "boxes_h", "boxes_o"):
        assert np.array_equal(getattr(old, f), getattr(new, f)), (
            f"no prior: {f} must be bit-identical to before"
        )
    with_prior = score_pairs(img, txt, pairs, classes=CLASSES, logit_scale=logit_scale)
    rows = np.repeat(np.arange(len(pairs)), class_mask(pairs, CLASSES).sum(1).numpy())
    base = old.score if logit_scale is not None else (old.score + 1.0) / 2.0
    assert np.array_equal(with_prior.hoi, old.hoi) and np.array_equal(with_prior.image, old.image)
    assert np.allclose(with_prior.score, base * pairs.prior[rows], rtol=1e-12, atol=0)
    assert (with_prior.score >= 0).all()


def _feats(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: F.normalize(torch.randn(n, d, generator=g), dim=-1) for k in ("human", "object", "union")
    }


class _StubModel(torch.nn.Module):
    """predict's interface: visual features = the union feature, logits = 5 * cosine - 1."""

    def __init__(self, txt):
        super().__init__()
        self.txt = torch.nn.Parameter(txt, requires_grad=False)

    def text_features(self):
        return self.txt

    def visual_features(self, h, o, u, *, pad):
        return u

    def logits(self, v, t):
        return 5.0 * v @ t.T - 1.0


def test_pack_and_predict_apply_prior(tmp_path, det_file):
    ds = _dataset(tmp_path)
    pairs = read_detections(det_file, ds)
    feats = _feats(len(pairs))
    packed = pack_pairs(ds, pairs, feats)
    assert packed.prior.shape == packed.pad.shape and packed.prior.dtype == torch.float64
    assert torch.equal(
        packed.prior[packed.pad], torch.ones(int(packed.pad.sum()), dtype=torch.float64)
    )
    assert np.array_equal(np.sort(packed.prior[~packed.pad].numpy()), np.sort(pairs.prior))
    assert torch.equal(packed.subset([1]).prior, packed.prior[1:2])
    plain_pairs = PairSet(
        image=pairs.image, boxes_h=pairs.boxes_h, boxes_o=pairs.boxes_o, object=pairs.object
    )
    plain = pack_pairs(ds, plain_pairs, feats)
    assert torch.equal(plain.prior, torch.ones_like(plain.prior))

    model = _StubModel(
        F.normalize(
            torch.randn(len(CLASSES), 8, generator=torch.Generator().manual_seed(1)), dim=-1
        )
    )
    d_prior = predict(model, packed, CLASSES, batch_images=1)
    d_ones = predict(model, plain, CLASSES, batch_images=1)
    plain.prior = (
        None  # a PairTensors built without a prior (e.g. by hand): the plain sigmoid scores
    )
    d_none = predict(model, plain, CLASSES, batch_images=1)
    assert np.array_equal(d_ones.score, d_none.score), (
        "a prior of ones must leave the scores bit-identical"
    )
    assert np.array_equal(d_prior.hoi, d_none.hoi) and np.array_equal(
        d_prior.boxes_o, d_none.boxes_o
    )
    key = {
        (int(i), tuple(h), tuple(o)): p
        for i, h, o, p in zip(
            pairs.image, pairs.boxes_h.tolist(), pairs.boxes_o.tolist(), pairs.prior, strict=False
        )
    }
    expect = np.array(
        [
            key[(int(i), tuple(h), tuple(o))]
            for i, h, o in zip(
                d_none.image, d_none.boxes_h.tolist(), d_none.boxes_o.tolist(), strict=False
            )
        ]
    )
    assert np.allclose(d_prior.score, d_none.score * expect, rtol=1e-12, atol=0)


def test_oracle_detections_reproduce_enumerate_pairs(tiny_world, tmp_path):
    """HOI-Synth's oracle boxes written as detections (score 1) give the same pairs as the ground-truth source."""
    ds = load_annotations(tiny_world / "instances_test2015.json")
    boxes = json.loads(Path(tiny_world / "boxes_test2015.json").read_text())["images"]
    human = len(ds.objects)
    entries = [
        {
            "filename": im.filename,
            "boxes": e["boxes_h"] + e["boxes_o"],
            "labels": [human] * len(e["boxes_h"]) + e["labels_o"],
            "scores": [1.0] * (len(e["boxes_h"]) + len(e["boxes_o"])),
        }
        for im, e in zip(ds.images, boxes, strict=False)
    ]
    path = tmp_path / "oracle.json"
    write_detections(path, entries)
    got = read_detections(path, ds)
    ref = enumerate_pairs(ds, tiny_world / "boxes_test2015.json")
    for f in ("image", "boxes_h", "boxes_o", "object"):
        assert np.array_equal(getattr(got, f), getattr(ref, f)), f
    assert np.array_equal(got.prior, np.ones(len(ref)))
