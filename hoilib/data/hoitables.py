"""Column tables of HOI detections and ground truth: validated, frozen numpy arrays, one row per pair.

They live apart from the metric so that readers of annotations (``hicodet``) depend on
these containers only, not on how AP is computed: a change to the metric then leaves the
cached features, whose code key follows the annotation reader, untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["HOIDetections", "HOIGroundTruth"]


def _freeze(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)  # never alias (and freeze) the caller's array
    arr.setflags(write=False)
    return arr


def _validate_columns(obj, cls_name: str, has_score: bool) -> None:
    """Coerce, check and freeze the column arrays of a detection/GT table.

    Validation happens at construction so that errors point at the offending
    field instead of surfacing later as a wrong mAP.
    """

    def fail(field: str, msg: str):
        raise ValueError(f"{cls_name}.{field}: {msg}")

    def int_column(field: str) -> np.ndarray:
        arr = np.asarray(getattr(obj, field))
        if arr.size == 0:
            arr = arr.reshape(-1)
            arr = arr.astype(np.int64) if arr.dtype.kind in "fiu" else arr
        if arr.dtype.kind not in "iu":
            fail(field, f"expected an integer array, got dtype {arr.dtype}")
        return arr.astype(np.int64, copy=False)

    image = int_column("image")
    if image.ndim != 1:
        fail("image", f"expected shape (N,), got {image.shape}")
    n = image.shape[0]

    hoi = int_column("hoi")
    if hoi.shape != (n,):
        fail("hoi", f"expected shape (N,) = ({n},), got {hoi.shape}")
    if n and hoi.min() < 0:
        fail("hoi", f"class indices must be >= 0, got {int(hoi.min())}")

    cols = {"image": image, "hoi": hoi}
    if has_score:
        score = np.asarray(obj.score)
        if score.size == 0:
            score = score.reshape(-1)
        if score.dtype.kind not in "fiu":
            fail("score", f"expected a real array, got dtype {score.dtype}")
        score = score.astype(np.float64, copy=False)
        if score.shape != (n,):
            fail("score", f"expected shape (N,) = ({n},), got {score.shape}")
        if not np.all(np.isfinite(score)):
            fail("score", "scores must be finite (NaN/inf would make the ranking undefined)")
        cols["score"] = score

    for field in ("boxes_h", "boxes_o"):
        boxes = np.asarray(getattr(obj, field))
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.dtype.kind not in "fiu":
            fail(field, f"expected a real array, got dtype {boxes.dtype}")
        boxes = boxes.astype(np.float64, copy=False)
        if boxes.shape != (n, 4):
            fail(field, f"expected shape (N, 4) = ({n}, 4), got {boxes.shape}")
        if not np.all(np.isfinite(boxes)):
            fail(field, "boxes must be finite")
        if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
            fail(field, "boxes must be xyxy with x2 >= x1 and y2 >= y1")
        cols[field] = boxes

    for field, arr in cols.items():
        object.__setattr__(obj, field, _freeze(arr))


def _concat(cls, parts: Sequence):
    parts = list(parts)
    if not parts:
        return cls.empty()
    for p in parts:
        if not isinstance(p, cls):
            raise TypeError(
                f"{cls.__name__}.concat: expected {cls.__name__}, got {type(p).__name__}"
            )
    return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass(frozen=True, kw_only=True)
class HOIDetections:
    """Column table of N scored HOI detections.

    Columns are copied, validated and made read-only on construction, so a
    table cannot change after it was checked.
    """

    image: np.ndarray  # (N,) int64 image id
    hoi: np.ndarray  # (N,) int64 HOI class index
    score: np.ndarray  # (N,) float64, finite
    boxes_h: np.ndarray  # (N, 4) float64 xyxy human box
    boxes_o: np.ndarray  # (N, 4) float64 xyxy object box

    def __post_init__(self):
        _validate_columns(self, "HOIDetections", has_score=True)

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @classmethod
    def empty(cls) -> HOIDetections:
        """A table with zero rows (e.g. a model that detects nothing)."""
        return cls(
            image=np.zeros(0, np.int64),
            hoi=np.zeros(0, np.int64),
            score=np.zeros(0),
            boxes_h=np.zeros((0, 4)),
            boxes_o=np.zeros((0, 4)),
        )

    @classmethod
    def concat(cls, parts: Sequence[HOIDetections]) -> HOIDetections:
        """Row-wise concatenation (e.g. of per-image outputs), order kept."""
        return _concat(cls, parts)


@dataclass(frozen=True, kw_only=True)
class HOIGroundTruth:
    """Column table of M annotated human-object pairs (see HOIDetections)."""

    image: np.ndarray  # (M,) int64
    hoi: np.ndarray  # (M,) int64
    boxes_h: np.ndarray  # (M, 4) float64
    boxes_o: np.ndarray  # (M, 4) float64

    def __post_init__(self):
        _validate_columns(self, "HOIGroundTruth", has_score=False)

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @classmethod
    def empty(cls) -> HOIGroundTruth:
        """A table with zero rows."""
        return cls(
            image=np.zeros(0, np.int64),
            hoi=np.zeros(0, np.int64),
            boxes_h=np.zeros((0, 4)),
            boxes_o=np.zeros((0, 4)),
        )

    @classmethod
    def concat(cls, parts: Sequence[HOIGroundTruth]) -> HOIGroundTruth:
        """Row-wise concatenation, order kept (GT order only breaks overlap ties)."""
        return _concat(cls, parts)
