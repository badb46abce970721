"""The nested bootstrap: its point is the mAP difference, its interval widens with world-to-world spread."""

from __future__ import annotations

import numpy as np
import pytest

from hoilib.measure.nested import nested_bootstrap, point


def test_point_is_the_mean_of_world_means():
    d = [np.array([[1.0, 3.0], [1.0, 3.0]]), np.array([[10.0, 10.0, 10.0]])]
    assert point(d) == pytest.approx((2.0 + 10.0) / 2)


def test_constant_differences_give_a_zero_width_interval():
    d = [np.full((3, 5), 2.5) for _ in range(3)]
    r = nested_bootstrap(d, n_boot=200, level=0.95, seed=0)
    assert r["mean"] == r["lo"] == r["hi"] == pytest.approx(2.5)
    assert (r["worlds"], r["seeds"]) == (3, 9)


def test_world_spread_widens_the_interval_that_pooling_would_hide():
    rng = np.random.default_rng(1)
    tight = [rng.normal(1.0, 0.1, (3, 20)) for _ in range(4)]
    spread = [rng.normal(m, 0.1, (3, 20)) for m in (-3.0, 0.0, 2.0, 5.0)]
    a, b = (
        nested_bootstrap(tight, n_boot=500, level=0.95, seed=0),
        nested_bootstrap(spread, n_boot=500, level=0.95, seed=0),
    )
    assert a["lo"] < a["mean"] < a["hi"] and a["hi"] - a["lo"] < 0.3
    assert b["hi"] - b["lo"] > 3.0  # four worlds that disagree: the interval says so
    # seeded: the same interval twice
    assert nested_bootstrap(spread, n_boot=500, level=0.95, seed=0) == b


def test_bad_input_names_the_world():
    with pytest.raises(ValueError, match=r"diffs\[1\]: expected a \(seeds, classes\) array"):
        nested_bootstrap([np.ones((2, 2)), np.ones(3)], n_boot=10, level=0.95, seed=0)
    with pytest.raises(ValueError, match=r"diffs\[0\]: holds NaN"):
        nested_bootstrap([np.array([[np.nan, 1.0]])], n_boot=10, level=0.95, seed=0)
    with pytest.raises(ValueError, match="at least one world"):
        nested_bootstrap([], n_boot=10, level=0.95, seed=0)
