"""Pillow's bicubic resize and ``square_crop``'s geometry, as arrays, so crops can be cut on a GPU.

``crops.square_crop`` pads a square around a box with grey and resizes it with
``Image.resize(..., BICUBIC)``. Pillow resizes an 8-bit image in two passes (columns, then
rows), each a weighted sum in fixed point: float64 filter weights, normalised, rounded to
integers of 22 fractional bits, accumulated from half a unit, shifted back and clipped to
0..255 (``src/libImaging/Resample.c``: ``precompute_coeffs``, ``normalize_coeffs_8bpc``,
``clip8``). This module computes the same integer weights with the same float64 operations in
the same order, so ``tensor_crops`` reproduces Pillow's pixels exactly, not approximately; a
test compares both on random boxes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PRECISION_BITS = 22  # Pillow's 32 - 8 - 2
SUPPORT = 2.0  # the bicubic filter's support
A = -0.5  # Pillow's bicubic parameter


def _bicubic(x: np.ndarray) -> np.ndarray:
    """Pillow's ``bicubic_filter``, operation for operation (no fused multiply-add)."""
    x = np.abs(x)
    near = ((A + 2.0) * x - (A + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * A
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@lru_cache(maxsize=4096)
def bicubic_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each output sample starts in the input and its integer weights: (start (out,), (out, ksize)).

    Weight t of output j applies to input sample start[j] + t; the integers carry 22
    fractional bits, as Pillow's 8-bit resampler uses them. Arrays are read-only (cached).
    """
    scale = float(in_size) / out_size
    filterscale = max(scale, 1.0)
    support = SUPPORT * filterscale
    ksize = int(np.ceil(support)) * 2 + 1
    center = (np.arange(out_size) + 0.5) * scale
    ss = 1.0 / filterscale
    # C's (int) truncates; the values it truncates toward zero are negative and clipped to 0
    start = np.maximum(np.floor(center - support + 0.5), 0).astype(np.int64)
    stop = np.minimum(np.floor(center + support + 0.5), in_size).astype(np.int64)
    count = stop - start
    taps = np.arange(ksize)
    w = _bicubic(((taps[None, :] + start[:, None]) - center[:, None] + 0.5) * ss)
    w = np.where(taps[None, :] < count[:, None], w, 0.0)
    total = np.zeros(out_size)
    for t in range(ksize):  # summed in order, as the C loop does
        total = total + w[:, t]
    w = np.where(total[:, None] != 0.0, w / np.where(total == 0.0, 1.0, total)[:, None], w)
    one = float(1 << PRECISION_BITS)
    k = np.where(w < 0, np.trunc(-0.5 + w * one), np.trunc(0.5 + w * one)).astype(np.int64)
    start.setflags(write=False)
    k.setflags(write=False)
    return start, k


def square_geometry(
    boxes: np.ndarray, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``square_crop``'s square for each xyxy box: (left, top, side) as int64, the same roundings."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    side = np.maximum(np.maximum(x1 - x0, y1 - y0), 1.0) * (1 + margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # np.round, like Python's round, rounds halves to even
    left = np.round(cx - side / 2).astype(np.int64)
    top = np.round(cy - side / 2).astype(np.int64)
    s = np.maximum(1, np.round(side).astype(np.int64))
    return left, top, s
