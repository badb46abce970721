"""The plan's world count (``ordering.design``): variance parts recovered, and the fewest worlds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hoilib.ordering.design import components, sd_of_world_mean, worlds_for


def test_worlds_for_is_the_fewest_worlds_whose_t_half_width_fits():
    sd, hw, level = 4.2, 1.5, 0.95
    n = worlds_for(sd, hw, level=level)
    half = lambda k: stats.t.ppf((1 + level) / 2, k - 1) * sd / math.sqrt(k)  # noqa: E731
    assert half(n) <= hw < half(n - 1)
    assert worlds_for(sd, 1e-6, level=level, most=50) is None


def test_components_recover_the_between_world_and_seed_spread():
    """Many worlds, 3 seeds in each of 2 splits: world sd 2 and seed sd 3 come back, and the sd of a
    world mean at 1 seed is sqrt(2^2 + 3^2 / 2), larger than at 6 seeds."""
    rng = np.random.default_rng(0)
    by_world = {}
    for w in range(4000):
        effect = 5 + 2 * rng.standard_normal()
        by_world[w] = [effect + 3 * rng.standard_normal(3) for _ in range(2)]
    c = components(by_world)
    assert c["seed sd"] == pytest.approx(3, rel=0.03)
    assert c["world sd"] == pytest.approx(2, rel=0.05)
    assert c["world means sd"] == pytest.approx(math.sqrt(4 + 9 / 6), rel=0.03)
    one = sd_of_world_mean(c, seeds=1, splits=2)
    assert one == pytest.approx(math.sqrt(4 + 9 / 2), rel=0.05)
    assert sd_of_world_mean(c, seeds=6, splits=2) < one
