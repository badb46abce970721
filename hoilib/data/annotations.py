"""Read annotations in the HICO-DET ``instances_{train,test}2015.json`` format (fredzzhang/hicodet).

One reader serves both worlds: HOI-Synth writes this format, and users point the
HICO profiles at their own copy. Every problem is reported with the file, the
image and the field, and what was expected. The module is longer than 300 lines because the
reader and the checks of every field it reads (``instance_labels`` among them) are one concept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hoilib.artifacts import read_json
from hoilib.data.hoitables import HOIGroundTruth
from hoilib.errors import ArtifactError, DataError

REQUIRED_KEYS = ("annotation", "filenames", "size", "objects", "verbs", "correspondence")
PAIR_KEYS = ("boxes_h", "boxes_o", "hoi", "object", "verb")


@dataclass(kw_only=True)
class ImageAnn:
    """One image: its file, size and HOI instances (one row per (human, object, class))."""

    index: int
    filename: str
    width: int
    height: int
    boxes_h: np.ndarray  # (K, 4)
    boxes_o: np.ndarray  # (K, 4)
    hoi: np.ndarray  # (K,)
    object: np.ndarray  # (K,)
    verb: np.ndarray  # (K,)


@dataclass(kw_only=True)
class HOIDataset:
    path: Path
    image_dir: Path
    images: list[ImageAnn]
    objects: list[str]
    verbs: list[str]
    classes: list[tuple[int, int]]  # hoi index -> (verb, object)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def image_path(self, i: int) -> Path:
        return self.image_dir / self.images[i].filename

    def class_counts(self) -> np.ndarray:
        counts = np.zeros(self.num_classes, dtype=np.int64)
        for im in self.images:
            np.add.at(counts, im.hoi, 1)
        return counts

    def ground_truth(self) -> HOIGroundTruth:
        """All annotated (image, class, human box, object box) rows, duplicates removed."""
        rows = {}
        for im in self.images:
            for k in range(len(im.hoi)):
                key = (im.index, int(im.hoi[k]), tuple(im.boxes_h[k]), tuple(im.boxes_o[k]))
                rows.setdefault(key, None)
        if not rows:
            z = np.zeros((0, 4))
            return HOIGroundTruth(
                image=np.zeros(0, np.int64), hoi=np.zeros(0, np.int64), boxes_h=z, boxes_o=z
            )
        keys = list(rows)
        return HOIGroundTruth(
            image=np.array([k[0] for k in keys], dtype=np.int64),
            hoi=np.array([k[1] for k in keys], dtype=np.int64),
            boxes_h=np.array([k[2] for k in keys], dtype=np.float64),
            boxes_o=np.array([k[3] for k in keys], dtype=np.float64),
        )

    def without_classes(self, unseen) -> HOIDataset:
        """A copy whose annotations hold no row of the given classes (zero-shot training data)."""
        drop = set(int(c) for c in unseen)
        images = []
        for im in self.images:
            keep = np.array([int(h) not in drop for h in im.hoi], dtype=bool)
            images.append(
                ImageAnn(
                    index=im.index,
                    filename=im.filename,
                    width=im.width,
                    height=im.height,
                    boxes_h=im.boxes_h[keep],
                    boxes_o=im.boxes_o[keep],
                    hoi=im.hoi[keep],
                    object=im.object[keep],
                    verb=im.verb[keep],
                )
            )
        return HOIDataset(
            path=self.path,
            image_dir=self.image_dir,
            images=images,
            objects=self.objects,
            verbs=self.verbs,
            classes=self.classes,
        )


def outside_image(boxes: np.ndarray, w: float, h: float) -> np.ndarray:
    """(N,) True where an xyxy box is not 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (
        (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > w) | (b[:, 3] > h)
        | (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    )  # fmt: skip


def _fail(path, msg):
    raise DataError(f"{path}: {msg}")


def read_json_object(path: Path, what: str, expected: str, *, fields: str) -> dict:
    """One input file's JSON object; every data reader opens its file here so all fail alike.

    A missing file: "``what`` not found: ``path``. ``expected``"; not JSON or not an object: a
    :class:`DataError` naming the file (``fields`` says which the object must have).
    """
    if not path.is_file():
        raise DataError(f"{what} not found: {path}. {expected}")
    try:
        doc = read_json(path, what)
    except ArtifactError as e:
        raise DataError(str(e)) from e
    if not isinstance(doc, dict):
        _fail(path, f"expected a JSON object with {fields}, got {type(doc).__name__}")
    return doc


def load_annotations(
    path: str | Path, image_dir: str | Path | None = None, check_images: bool = True
) -> HOIDataset:
    """Load and validate one ``instances_*.json``; ``image_dir`` defaults to ``images/<split>`` beside it."""
    path = Path(path)
    doc = read_json_object(
        path,
        "annotation file",
        "Expected a HICO-DET annotation file in the fredzzhang/hicodet "
        "format (instances_train2015.json / instances_test2015.json).",
        fields=f"keys {list(REQUIRED_KEYS)}",
    )
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        _fail(path, f"missing field(s) {missing}; expected keys {list(REQUIRED_KEYS)}")
    ann, files, sizes = doc["annotation"], doc["filenames"], doc["size"]
    if not (len(ann) == len(files) == len(sizes)):
        _fail(
            path,
            f"fields 'annotation' ({len(ann)}), 'filenames' ({len(files)}) and 'size' "
            f"({len(sizes)}) must have one entry per image",
        )
    corr = doc["correspondence"]
    try:
        classes = [(int(v), int(o)) for _, o, v in corr]
    except (TypeError, ValueError) as e:
        _fail(path, f"field 'correspondence' must be a list of [hoi, object, verb] triples: {e}")
    n_cls = len(classes)
    # (C, 2): each class's (verb, object), what every instance's 'verb' and 'object' must repeat
    table = np.asarray(classes, dtype=np.int64).reshape(-1, 2)
    if image_dir is None:
        split = path.stem.replace("instances_", "")
        image_dir = path.parent / "images" / split
    image_dir = Path(image_dir)
    images = []
    for i, (a, fname, size) in enumerate(zip(ann, files, sizes, strict=False)):
        where = f"image {i} ({fname})"
        missing = [k for k in PAIR_KEYS if k not in a]
        if missing:
            _fail(
                path,
                f"{where}: annotation is missing field(s) {missing}; expected {list(PAIR_KEYS)}",
            )
        n = len(a["hoi"])
        for k in PAIR_KEYS:
            if len(a[k]) != n:
                _fail(
                    path,
                    f"{where}: field '{k}' has {len(a[k])} entries, expected {n} (one per HOI instance)",
                )
        try:
            w, h = int(size[0]), int(size[1])
        except (TypeError, ValueError, IndexError):
            _fail(path, f"{where}: field 'size' must be [width, height], got {size!r}")
        bh = np.asarray(a["boxes_h"], dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        bo = np.asarray(a["boxes_o"], dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        for name, b in (("boxes_h", bh), ("boxes_o", bo)):
            bad = outside_image(b, w, h)
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                _fail(
                    path,
                    f"{where}: field '{name}'[{j}] = {b[j].tolist()} is not a box inside the image; "
                    f"expected 0 <= x1 <= x2 <= {w} and 0 <= y1 <= y2 <= {h} (size field)",
                )
        hoi = np.asarray(a["hoi"], dtype=np.int64)
        if n and (hoi.min() < 0 or hoi.max() >= n_cls):
            _fail(
                path,
                f"{where}: field 'hoi' holds {int(hoi.max())}, expected class indices in [0, {n_cls})",
            )
        obj, verb = (
            instance_labels(path, where, a, key=k, hoi=hoi, table=table, doc=doc)
            for k in ("object", "verb")
        )
        if check_images and not (image_dir / fname).is_file():
            raise DataError(f"{path}: {where}: image file not found: {image_dir / fname}")
        images.append(
            ImageAnn(
                index=i,
                filename=fname,
                width=w,
                height=h,
                boxes_h=bh,
                boxes_o=bo,
                hoi=hoi,
                object=obj,
                verb=verb,
            )
        )
    return HOIDataset(
        path=path,
        image_dir=image_dir,
        images=images,
        objects=list(doc["objects"]),
        verbs=list(doc["verbs"]),
        classes=classes,
    )


def pair_key(image: int, bh, bo) -> tuple:
    """Identity of a (human box, object box) pair in an image, robust to float noise (boxes rounded to 0.01 px)."""
    r = lambda b: tuple(np.round(np.asarray(b, dtype=np.float64), 2).tolist())  # noqa: E731
    return (int(image), r(bh), r(bo))


@dataclass(kw_only=True)
class PairSet:
    """Candidate human-object pairs to score: every human with every object of an image.

    ``prior`` (P,) is a per-pair weight that multiplies every class score of the
    pair at inference (detected pairs: ``(s_h * s_o) ** 2.8`` from the detector's
    scores, see :mod:`hoilib.data.detections`). ``None`` means no prior (all ones):
    ground-truth pairs, whose scores are then exactly the unweighted ones.
    """

    image: np.ndarray  # (P,)
    boxes_h: np.ndarray  # (P, 4)
    boxes_o: np.ndarray  # (P, 4)
    object: np.ndarray  # (P,) object category of the object box
    prior: np.ndarray | None = (
        None  # (P,) float64 score weight; None = all ones (ground-truth pairs)
    )

    def __len__(self) -> int:
        return len(self.image)

    def subset(self, idx) -> PairSet:
        """The pairs ``idx`` (indices or a boolean mask), prior included."""
        idx = np.asarray(idx)
        return PairSet(
            image=self.image[idx],
            boxes_h=self.boxes_h[idx],
            boxes_o=self.boxes_o[idx],
            object=self.object[idx],
            prior=None if self.prior is None else np.asarray(self.prior)[idx],
        )


def _unique_rows(b: np.ndarray) -> np.ndarray:
    if len(b) == 0:
        return b.reshape(0, 4)
    _, idx = np.unique(b, axis=0, return_index=True)
    return b[np.sort(idx)]


def enumerate_pairs(ds: HOIDataset, boxes_file: str | Path | None = None) -> PairSet:
    """All human x object pairs per image, from a boxes file (every instance) or from the annotated boxes."""
    per_image = None
    if boxes_file is not None and Path(boxes_file).is_file():
        per_image = read_json(boxes_file, "boxes file")["images"]
        if len(per_image) != len(ds.images):
            raise DataError(
                f"{boxes_file}: field 'images' has {len(per_image)} entries, expected "
                f"{len(ds.images)} (one per image of {ds.path})"
            )
    img, bhs, bos, objs = [], [], [], []
    for im in ds.images:
        if per_image is not None:
            e = per_image[im.index]
            hs = np.asarray(e["boxes_h"], dtype=np.float64).reshape(-1, 4)
            os_ = np.asarray(e["boxes_o"], dtype=np.float64).reshape(-1, 4)
            labels = np.asarray(e["labels_o"], dtype=np.int64)
        else:
            hs = _unique_rows(im.boxes_h)
            os_, first = (
                np.unique(im.boxes_o, axis=0, return_index=True)
                if len(im.boxes_o)
                else (np.zeros((0, 4)), np.zeros(0, int))
            )
            order = np.argsort(first)
            os_, labels = os_[order], im.object[first[order]]
        for h in hs:
            for o, lab in zip(os_, labels, strict=False):
                img.append(im.index)
                bhs.append(h)
                bos.append(o)
                objs.append(lab)
    return PairSet(
        image=np.asarray(img, dtype=np.int64),
        boxes_h=np.asarray(bhs).reshape(-1, 4),
        boxes_o=np.asarray(bos).reshape(-1, 4),
        object=np.asarray(objs, dtype=np.int64),
    )


def instance_labels(
    path, where: str, a: dict, *, key: str, hoi, table: np.ndarray, doc: dict
) -> np.ndarray:
    """One instance field ('object' or 'verb'), range-checked against the file's object or verb list
    and checked against its 'hoi' class through 'correspondence': the object masks are built from it."""
    names, col = ("objects", 1) if key == "object" else ("verbs", 0)
    try:
        x = np.asarray(a[key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}: {where}: field '{key}' must be a list of integer indices, got {a[key]!r}"
        ) from None
    n = len(doc[names])
    out = np.flatnonzero((x < 0) | (x >= n))
    if len(out):
        j = int(out[0])
        raise DataError(
            f"{path}: {where}: field '{key}'[{j}] = {int(x[j])}, expected an index into "
            f"'{names}' in [0, {n})"
        )
    wrong = np.flatnonzero(x != table[hoi, col])
    if len(wrong):
        j = int(wrong[0])
        raise DataError(
            f"{path}: {where}: field '{key}'[{j}] = {int(x[j])}, expected "
            f"{int(table[hoi[j], col])}: the {key} of hoi class {int(hoi[j])} in field 'correspondence'"
        )
    return x
