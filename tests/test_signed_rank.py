"""The signed-rank p the book reports equals scipy's, float for float."""

import warnings

import numpy as np
import pytest
from scipy import stats

from hoilib.measure.signed_rank import wilcoxon_p


def _scipy(d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(d).pvalue)


def _samples(rng, sizes):
    for i, n in enumerate(sizes):
        kind = i % 4
        if kind == 0:  # ties and zeros from rounding
            d = np.round(rng.normal(size=n), 1)
        elif kind == 1:  # many ties and zeros
            d = rng.integers(-3, 4, size=n).astype(float)
        elif kind == 2:  # neither: scipy's exact distribution
            d = rng.normal(size=n)
        else:  # ties at values whose halves are not exact
            d = np.round(rng.normal(size=n) * 10) / 10 * np.pi
        if np.any(d != 0):
            yield d


def test_equals_scipy_on_small_samples_with_ties_and_zeros():
    rng = np.random.default_rng(0)
    checked = 0
    for d in _samples(rng, [int(n) for n in rng.integers(1, 10, size=120)] + [13]):
        assert wilcoxon_p(d) == _scipy(d), d
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("n", [14, 30, 60])
def test_larger_samples_go_to_scipy(n):
    for d in _samples(np.random.default_rng(n), [n] * 4):
        assert wilcoxon_p(d) == _scipy(d)


def test_fixed_cases():
    # one positive rank of three, one zero dropped: exact null over 2**4 flips
    assert wilcoxon_p([0.0, 1.0, -2.0, -2.0]) == _scipy([0.0, 1.0, -2.0, -2.0])
    assert wilcoxon_p([0.0, 0.0, 1.0]) == 1.0
    assert np.isnan(wilcoxon_p([np.nan, 1.0, 1.0]))
