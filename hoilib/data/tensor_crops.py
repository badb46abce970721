"""Human, object and union crops cut from decoded images on any torch device, pixel for pixel as ``crops``.

On a GPU, cutting and resizing three crops per pair with Pillow on the CPU starves the image
tower (issue 21: extraction reached a quarter of the bare forward). Here the CPU only decodes
each image once; the squares are padded and resized on the device as two matrix products per
crop (columns, then rows) with Pillow's own integer weights (``resample``), rounded and clipped
between the passes as Pillow does. The products run in float64, where every partial sum of
pixel x weight is an integer far below 2^53, so they are exact in any summation order: the crops
equal ``crops.pair_crop``'s byte for byte, on the CPU and on a GPU, and the features (and their
cache key) do not depend on which path cut them.
"""

from __future__ import annotations

import numpy as np
import torch

from hoilib.data.crops import PAD, union_box
from hoilib.data.resample import PRECISION_BITS, bicubic_weights, square_geometry

HALF = float(1 << (PRECISION_BITS - 1))
ONE = float(1 << PRECISION_BITS)
GREY = float(PAD[0])
# bound on the float64 copy of the images one batched product reads (145 crops of 640 x 480)
CHUNK_BYTES = 1 << 30


def kind_boxes(boxes_h: np.ndarray, boxes_o: np.ndarray, kind: str) -> np.ndarray:
    """The box each pair's ``kind`` crop is cut around ('human', 'object' or 'union'), xyxy."""
    h = np.asarray(boxes_h, dtype=np.float64).reshape(-1, 4)
    o = np.asarray(boxes_o, dtype=np.float64).reshape(-1, 4)
    if kind == "human":
        return h
    if kind == "object":
        return o
    if kind == "union":
        return np.array([union_box(a, b) for a, b in zip(h, o, strict=True)]).reshape(-1, 4)
    raise ValueError(f"crop kind must be one of ('human', 'object', 'union'), got {kind!r}")


def _axis_plan(origin: np.ndarray, side: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One axis of every square: the image sample each output's first weight falls on (n, size), and
    Pillow's integer weights padded to the widest (n, size, k), as float32 (exact below 2^24)."""
    per = [bicubic_weights(int(s), size) for s in side]
    ksize = max((k.shape[1] for _, k in per), default=1)
    first = np.zeros((len(side), size), np.int64)
    coef = np.zeros((len(side), size, ksize), np.float32)
    for i, (st, k) in enumerate(per):
        first[i] = origin[i] + st
        coef[i, :, : k.shape[1]] = k
    return first, coef


def plan_crops(boxes: np.ndarray, image_of: np.ndarray, size: int, *, margin: float = 0.1) -> dict:
    """What ``crop_resize`` needs to cut box i of image ``image_of[i]``, computed on the CPU (in a loader worker).

    Tensors: 'image_of' (n,), and per axis 'x_first'/'y_first' (n, size), the image sample each
    output's first weight falls on (outside the image: grey), and 'x_coef'/'y_coef' (n, size, k),
    Pillow's integer weights. Small, so a batch's plan crosses to the GPU quickly.
    """
    left, top, side = square_geometry(boxes, margin)
    plan = {"image_of": np.asarray(image_of, np.int64).reshape(-1)}
    for axis, origin in (("x", left), ("y", top)):
        plan[f"{axis}_first"], plan[f"{axis}_coef"] = _axis_plan(origin, side, size)
    return {k: torch.from_numpy(v) for k, v in plan.items()}


def _dense(first: torch.Tensor, coef: torch.Tensor, extent: torch.Tensor, *, span: int):
    """Dense (n, size, span) float64 weights over the image's samples, and the weight on grey (n, size).

    A gather, not a scatter: deterministic on a GPU, and each sample gets its one weight.
    """
    coef = coef.to(torch.float64)
    k = coef.shape[2]
    extent = extent.view(-1, 1, 1)
    pos = first[:, :, None] + torch.arange(k, device=first.device)
    inside = (pos >= 0) & (pos < extent)
    x = torch.arange(span, device=first.device).view(1, 1, span)
    tap = x - first[:, :, None]
    ok = (tap >= 0) & (tap < k) & (x < extent)
    dense = torch.where(ok, coef.gather(2, tap.clamp(0, k - 1)), 0.0)
    return dense, torch.where(inside, 0.0, coef).sum(2)


def _clip8(acc: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8``: the accumulated fixed-point sum shifted back to 0..255."""
    return torch.floor(acc / ONE).clamp_(0, 255)


def crop_resize(images: torch.Tensor, hw: torch.Tensor, plan: dict, *, size: int) -> torch.Tensor:
    """uint8 (n, size, size, 3) crops on ``images``' device, as ``square_crop`` cuts them (``plan_crops``).

    ``images``: uint8 (m, H, W, 3), each image at the top left of its slot; ``hw``: (m, 2) each
    image's true height and width (the rest of a slot is never read).
    """
    dev = images.device
    plan = {k: v.to(dev, non_blocking=True) for k, v in plan.items()}
    n, (span_h, span_w) = len(plan["image_of"]), images.shape[1:3]
    out = torch.empty(n, size, size, 3, dtype=torch.uint8, device=dev)
    # crops per batched product: their images' float64 copy stays under CHUNK_BYTES
    chunk = max(1, CHUNK_BYTES // (3 * span_h * span_w * 8))
    for a in range(0, n, chunk):
        part = {k: v[a : a + chunk] for k, v in plan.items()}
        idx = part["image_of"]
        kx, grey_x = _dense(part["x_first"], part["x_coef"], hw[idx, 1], span=span_w)
        ky, grey_y = _dense(part["y_first"], part["y_coef"], hw[idx, 0], span=span_h)
        c = len(idx)
        img = images[idx].permute(0, 3, 1, 2).to(torch.float64).reshape(c, 3 * span_h, span_w)
        # columns: (c, 3H, W) x (c, W, size), plus the grey the square adds left and right
        cols = _clip8(torch.bmm(img, kx.transpose(1, 2)) + (HALF + GREY * grey_x[:, None, :]))
        # a row of the square above or below the image is grey all along
        grey_row = _clip8(HALF + GREY * part["x_coef"].to(torch.float64).sum(2))  # (c, size)
        rows_in = cols.view(c, 3, span_h, size).permute(0, 2, 1, 3).reshape(c, span_h, 3 * size)
        acc = torch.bmm(ky, rows_in).view(c, size, 3, size)
        acc = acc + (HALF + grey_y[:, :, None, None] * grey_row[:, None, None, :])
        out[a : a + chunk] = _clip8(acc).permute(0, 1, 3, 2).to(torch.uint8)
    return out
