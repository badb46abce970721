"""Human, object and union crops of a box pair, as the CLIP image tower sees them.

One function serves backbone pretraining, feature extraction and the widgets, so
every stage crops the same way: a square around the box (10% margin), padded with
grey where it leaves the image, resized to the backbone's input size.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

PAD = (128, 128, 128)
CROP_KINDS = ("human", "object", "union")


def union_box(bh: Sequence[float], bo: Sequence[float]) -> list[float]:
    return [min(bh[0], bo[0]), min(bh[1], bo[1]), max(bh[2], bo[2]), max(bh[3], bo[3])]


def square_crop(
    img: Image.Image, box: Sequence[float], size: int, *, margin: float = 0.1
) -> Image.Image:
    """Crop a square around ``box`` (xyxy, pixels) and resize it to ``size`` x ``size``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * (1 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    canvas = Image.new("RGB", (s, s), PAD)
    src = img.crop((max(left, 0), max(top, 0), min(left + s, img.width), min(top + s, img.height)))
    canvas.paste(src, (max(left, 0) - left, max(top, 0) - top))
    return canvas.resize((size, size), Image.Resampling.BICUBIC)


def pair_crop(img: Image.Image, bh, bo, *, kind: str, size: int) -> Image.Image:
    """The ``kind`` crop ('human', 'object' or 'union') of one human-object pair."""
    if kind == "human":
        return square_crop(img, bh, size)
    if kind == "object":
        return square_crop(img, bo, size)
    if kind == "union":
        return square_crop(img, union_box(bh, bo), size)
    raise ValueError(f"crop kind must be one of {CROP_KINDS}, got {kind!r}")
