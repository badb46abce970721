"""Candidate pairs from an object detector's output: every kept human with every kept object.

It is longer than 300 lines because every field of a user's detections file is checked where it is
read, each with a one-line error naming the file, the image, the field and what was expected.

The default pair source is the ground truth (:func:`hoilib.data.annotations.enumerate_pairs`:
the annotated boxes, or HOI-Synth's oracle boxes). This module reads the other
source, a detector's boxes (DETR for EZ-HOI/UPT), from one JSON file, and builds
the pairs and their score prior as EZ-HOI's inference does (book/anchors.md).

File format (``hoi-book detections v1``)
----------------------------------------
One JSON object::

    {
      "format": "hoi-book detections v1",
      "images": [
        {
          "filename": "HICO_test2015_00000001.jpg",
          "boxes":  [[x1, y1, x2, y2], ...],
          "labels": [0, 41, ...],
          "scores": [0.98, 0.35, ...]
        },
        ...
      ]
    }

- ``format``: exactly the string ``"hoi-book detections v1"``.
- ``images``: one entry per image, matched to the annotation file's images **by
  filename** (the order of the entries does not matter). Every image of the
  annotation file must have an entry (an image without detections has empty
  lists). Entries whose filename is not an image of the annotation file are
  ignored, so one file can serve a subset of the test set; a filename given
  twice is an error.
- ``boxes``: the detections' boxes, ``[x1, y1, x2, y2]`` in pixels of the
  original image (continuous coordinates, as the metric uses), with
  ``0 <= x1 <= x2 <= width`` and ``0 <= y1 <= y2 <= height`` (the size given for
  the image in the annotation file). Clip to the image before writing: DETR's
  cxcywh -> xyxy conversion can leave it by a fraction of a pixel.
- ``labels``: integer object categories, indices into the annotation file's
  ``objects`` list (COCO-80 order for HICO-DET, where ``person`` is 0).
- ``scores``: the detector's confidence of each detection, a finite number in
  [0, 1].
- ``boxes``, ``labels`` and ``scores`` have one entry per detection. Apply
  non-maximum suppression before writing (UPT/EZ-HOI run per-class NMS at IoU
  0.5 on DETR's output); this reader does not.

Pairs and prior (the EZ-HOI/UPT inference rule)
-----------------------------------------------
Per image, detections are split into humans (label == ``human_label``) and
objects (every other label). Each kind is filtered by the same rule: keep those
with score >= ``min_score`` (0.2); if fewer than ``min_per_kind`` (3) pass, keep
the ``min_per_kind`` highest-scoring ones of that kind regardless of score
instead; never more than ``max_per_kind`` (15), the highest-scoring ones (ties:
the earlier detection in the file). Every kept human is paired with every kept
detection -- the kept objects *and* the kept humans, since ``person`` is also an
object category in HICO-DET ("hug person") -- except itself. Pairs come grouped
by image in increasing image index; within an image, humans in file order, each
with its kept humans (file order) and then its kept objects (file order).

Each pair gets the prior ``(s_h * s_o) ** exponent`` (``exponent`` 2.8 at test
time in UPT/EZ-HOI), computed in float64 and stored in ``PairSet.prior``; the
scorers (:func:`hoilib.measure.zeroshot.score_pairs`, :func:`hoilib.models.ezhoi.train.predict`)
multiply every class score of the pair by it. The classes a pair is scored on
are those of its object box's label, as for ground-truth pairs.

Where the annotation file has no ``person`` object (HOI-Synth), humans carry the
label ``len(objects)`` by default (one past the last object), and are then not
used as objects (no class could score them).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hoilib.artifacts import write_json
from hoilib.data.annotations import HOIDataset, PairSet, outside_image, read_json_object
from hoilib.errors import ConfigError, DataError

FORMAT = "hoi-book detections v1"
ENTRY_KEYS = ("filename", "boxes", "labels", "scores")

__all__ = ["FORMAT", "read_detections", "write_detections", "keep_by_score", "resolve_human_label"]


def resolve_human_label(ds: HOIDataset, human_label: int | None = None) -> int:
    """``human_label``, or by default the index of 'person' in ``ds.objects`` (0 for HICO-DET), else len(objects)."""
    if human_label is not None:
        return int(human_label)
    return ds.objects.index("person") if "person" in ds.objects else len(ds.objects)


def keep_by_score(
    scores: np.ndarray, min_score: float = 0.2, min_per_kind: int = 3, *, max_per_kind: int = 15
) -> np.ndarray:
    """Indices (ascending) of the detections of one kind to keep: the UPT/EZ-HOI rule, see the module docstring.

    Those with ``score >= min_score``; at least the top ``min_per_kind`` (when there are as many), at most
    the top ``max_per_kind``. Ties are broken by position (the earlier detection ranks higher).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_above = int((scores >= min_score).sum())
    n = min(max(n_above, min_per_kind), max_per_kind, len(scores))
    order = np.argsort(-scores, kind="stable")
    return np.sort(order[:n])


def _check_options(min_score, min_per_kind, max_per_kind, *, exponent):
    if not (isinstance(min_score, (int, float)) and 0.0 <= float(min_score) <= 1.0):
        raise ConfigError(f"detections: min_score = {min_score!r}, expected a number in [0, 1]")
    for name, v in (("min_per_kind", min_per_kind), ("max_per_kind", max_per_kind)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"detections: {name} = {v!r}, expected an integer >= 0")
    if min_per_kind > max_per_kind:
        raise ConfigError(
            f"detections: min_per_kind = {min_per_kind} > max_per_kind = {max_per_kind}; expected min <= max"
        )
    if not (isinstance(exponent, (int, float)) and math.isfinite(exponent) and exponent >= 0):
        raise ConfigError(f"detections: exponent = {exponent!r}, expected a finite number >= 0")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _parse_entry(
    path, where: str, e: dict, *, w: int, h: int, n_objects: int, human_label: int, ann_path
):
    """Validated (boxes (n, 4), labels (n,), scores (n,)) of one image entry."""
    for k in ("boxes", "labels", "scores"):
        if not isinstance(e[k], list):
            raise DataError(
                f"{path}: {where}: field '{k}' is {type(e[k]).__name__}, expected a list (one entry per detection)"
            )
    n = len(e["boxes"])
    for k in ("labels", "scores"):
        if len(e[k]) != n:
            raise DataError(
                f"{path}: {where}: field '{k}' has {len(e[k])} entries, expected {n} (one per box in 'boxes')"
            )
    for j, b in enumerate(e["boxes"]):
        if not (
            isinstance(b, list)
            and len(b) == 4
            and all(_is_number(x) and math.isfinite(x) for x in b)
        ):
            raise DataError(
                f"{path}: {where}: field 'boxes'[{j}] = {b!r} is not a box; expected [x1, y1, x2, "
                "y2], four finite numbers"
            )
    boxes = np.asarray(e["boxes"], dtype=np.float64).reshape(n, 4)
    bad = outside_image(boxes, w, h)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {where}: field 'boxes'[{j}] = {boxes[j].tolist()} is not a box inside the image; "
            f"expected 0 <= x1 <= x2 <= {w} and 0 <= y1 <= y2 <= {h} (the image's size in {ann_path})"
        )
    for j, lab in enumerate(e["labels"]):
        if (
            isinstance(lab, bool)
            or not isinstance(lab, int)
            or not (0 <= lab < n_objects or lab == human_label)
        ):
            extra = f" or {human_label} (humans)" if not 0 <= human_label < n_objects else ""
            raise DataError(
                f"{path}: {where}: field 'labels'[{j}] = {lab!r} is not an object index; expected an integer "
                f"in [0, {n_objects}){extra} (the 'objects' list of {ann_path})"
            )
    for j, s in enumerate(e["scores"]):
        if not (_is_number(s) and math.isfinite(s) and 0.0 <= s <= 1.0):
            raise DataError(
                f"{path}: {where}: field 'scores'[{j}] = {s!r} is not a detection score; expected "
                "a finite number in [0, 1]"
            )
    return (
        boxes,
        np.asarray(e["labels"], dtype=np.int64).reshape(n),
        np.asarray(e["scores"], dtype=np.float64).reshape(n),
    )


def read_detections(
    path: str | Path,
    ds: HOIDataset,
    human_label: int | None = None,
    *,
    min_score: float = 0.2,
    min_per_kind: int = 3,
    max_per_kind: int = 15,
    exponent: float = 2.8,
) -> PairSet:
    """Pairs of ``ds``'s images from a detections file (format and rule: module docstring), with their prior.

    ``human_label``: the label of humans; None = the index of 'person' in ``ds.objects`` (0 for HICO-DET), or
    ``len(ds.objects)`` when there is none (HOI-Synth). ``min_score``, ``min_per_kind``, ``max_per_kind``:
    which detections of each kind (humans, objects) are kept per image; ``exponent``: prior = (s_h * s_o) ** exponent.
    Every problem raises :class:`DataError` naming the file, the image (index and filename), the field and what
    was expected.
    """
    _check_options(min_score, min_per_kind, max_per_kind, exponent=exponent)
    path = Path(path)
    doc = read_json_object(
        path,
        "detections file",
        f"Expected a JSON file in the '{FORMAT}' format (see hoilib/data/detections.py)",
        fields="fields 'format' and 'images'",
    )
    if doc.get("format") != FORMAT:
        raise DataError(f"{path}: field 'format' = {doc.get('format')!r}, expected {FORMAT!r}")
    entries = doc.get("images")
    if not isinstance(entries, list):
        raise DataError(
            f"{path}: field 'images' is {type(entries).__name__}, expected a list with one entry per image"
        )
    by_name: dict[str, int] = {}
    for k, e in enumerate(entries):
        if not isinstance(e, dict):
            raise DataError(
                f"{path}: field 'images'[{k}] is {type(e).__name__}, expected an object with fields {list(ENTRY_KEYS)}"
            )
        fname = e.get("filename")
        if not isinstance(fname, str):
            raise DataError(
                f"{path}: field 'images'[{k}].filename = {fname!r}, expected an image filename (string)"
            )
        if fname in by_name:
            raise DataError(
                f"{path}: field 'images'[{k}]: filename {fname!r} already given by 'images'[{by_name[fname]}]; "
                "expected one entry per image"
            )
        by_name[fname] = k
    human_label = resolve_human_label(ds, human_label)
    n_objects = len(ds.objects)
    humans_are_objects = 0 <= human_label < n_objects
    img, bhs, bos, objs, priors = [], [], [], [], []
    for im in ds.images:
        k = by_name.get(im.filename)
        if k is None:
            raise DataError(
                f"{path}: image {im.index} ({im.filename}) of {ds.path} has no entry in field 'images'; "
                "expected one entry per image (empty lists for an image without detections)"
            )
        where = f"image {im.index} ({im.filename}, 'images'[{k}])"
        e = entries[k]
        missing = [f for f in ENTRY_KEYS if f not in e]
        if missing:
            raise DataError(
                f"{path}: {where}: missing field(s) {missing}; expected {list(ENTRY_KEYS)}"
            )
        boxes, labels, scores = _parse_entry(
            path,
            where,
            e,
            w=im.width,
            h=im.height,
            n_objects=n_objects,
            human_label=human_label,
            ann_path=ds.path,
        )
        is_h = labels == human_label
        hum, obj = np.flatnonzero(is_h), np.flatnonzero(~is_h)
        keep_h = hum[keep_by_score(scores[hum], min_score, min_per_kind, max_per_kind=max_per_kind)]
        keep_o = obj[keep_by_score(scores[obj], min_score, min_per_kind, max_per_kind=max_per_kind)]
        others = np.concatenate([keep_h, keep_o]) if humans_are_objects else keep_o
        if len(keep_h) == 0 or len(others) == 0:
            continue
        hh = np.repeat(keep_h, len(others))
        oo = np.tile(others, len(keep_h))
        valid = hh != oo
        hh, oo = hh[valid], oo[valid]
        img.append(np.full(len(hh), im.index, dtype=np.int64))
        bhs.append(boxes[hh])
        bos.append(boxes[oo])
        objs.append(labels[oo])
        priors.append((scores[hh] * scores[oo]) ** float(exponent))
    if not img:
        return PairSet(
            image=np.zeros(0, np.int64),
            boxes_h=np.zeros((0, 4)),
            boxes_o=np.zeros((0, 4)),
            object=np.zeros(0, np.int64),
            prior=np.zeros(0),
        )
    return PairSet(
        image=np.concatenate(img),
        boxes_h=np.concatenate(bhs).reshape(-1, 4),
        boxes_o=np.concatenate(bos).reshape(-1, 4),
        object=np.concatenate(objs).astype(np.int64),
        prior=np.concatenate(priors).astype(np.float64),
    )


def _plain(x):
    """Numpy arrays and torch tensors as (nested) lists of Python numbers; anything else as given."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def write_detections(path: str | Path, entries) -> Path:
    """Write a detections file atomically (canonical JSON via :func:`hoilib.artifacts.write_json`).

    ``entries``: a list of dicts with ``filename``, ``boxes``, ``labels`` and ``scores`` (lists, numpy arrays or
    tensors; values are written as given, so a test can write a bad file). Only the presence of the fields is
    checked here; :func:`read_detections` checks the rest.
    """
    images = []
    for k, e in enumerate(entries):
        missing = [f for f in ENTRY_KEYS if f not in e]
        if missing:
            raise ValueError(
                f"write_detections: entry {k} is missing field(s) {missing}; expected {list(ENTRY_KEYS)}"
            )
        images.append(
            {
                "filename": e["filename"],
                "boxes": _plain(e["boxes"]),
                "labels": _plain(e["labels"]),
                "scores": _plain(e["scores"]),
            }
        )
    return write_json(path, {"format": FORMAT, "images": images})
