"""``metric.class_aps`` (every class's AP at once) gives the per-class function's bits exactly."""

from __future__ import annotations

import numpy as np
import pytest

from hoilib.measure.metric import RECALL_GRIDS, average_precision_11pt, class_aps


def _case(rng):
    """Random ranked TP flags over classes (some empty, some without positives)."""
    n_classes = int(rng.integers(1, 25))
    sizes = rng.integers(0, 50, n_classes) * (rng.random(n_classes) < 0.85)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    tp = rng.random(bounds[-1]) < rng.random()
    hits = np.array([int(tp[bounds[c] : bounds[c + 1]].sum()) for c in range(n_classes)])
    n_gt = hits + rng.integers(0, 5, n_classes)
    n_gt[(rng.random(n_classes) < 0.1) & (hits == 0)] = 0
    return tp, bounds, n_gt


@pytest.mark.parametrize("grid", list(RECALL_GRIDS))
def test_class_aps_same_bits_as_per_class(grid):
    rng = np.random.default_rng(7)
    for _ in range(400):
        tp, bounds, n_gt = _case(rng)
        ref = np.full(len(n_gt), np.nan)
        for c in np.flatnonzero(n_gt):
            ref[c] = average_precision_11pt(tp[bounds[c] : bounds[c + 1]], int(n_gt[c]), grid)
        got = class_aps(tp, bounds, n_gt, grid)
        assert np.array_equal(np.isnan(ref), np.isnan(got))
        assert ref[~np.isnan(ref)].tobytes() == got[~np.isnan(got)].tobytes()


def test_class_aps_refuses_more_hits_than_positives():
    with pytest.raises(ValueError, match="3 true positives but only n_gt=2"):
        class_aps(np.array([1, 1, 1]), np.array([0, 3]), np.array([2]))


def test_class_aps_empty_class_and_no_detections():
    out = class_aps(np.zeros(0, bool), np.array([0, 0, 0]), np.array([2, 0]))
    assert out[0] == 0.0 and np.isnan(out[1])
