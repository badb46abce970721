"""Holm's step-down correction, and verdicts that say when a family of tests takes a claim back."""

from __future__ import annotations

import numpy as np
import pytest

from hoilib.measure import paired


def test_hand_example():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; the running max
    # lifts the last to 0.06 (Holm 1979's step-down: once a hypothesis is kept, all later ones are)
    got = paired.holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert isinstance(got, list)


def test_dict_keeps_keys_and_order():
    got = paired.holm({"b": 0.04, "a": 0.01, "c": 0.03, "d": 0.005})
    assert list(got) == ["b", "a", "c", "d"]
    assert got == pytest.approx({"b": 0.06, "a": 0.03, "c": 0.06, "d": 0.02})


def _holm_by_definition(p):
    """adj(i) = max over j with p_j <= p_i of min(1, (m - rank_j + 1) p_j), rank from 1."""
    m, order = len(p), np.argsort(p, kind="stable")
    rank = np.empty(m, int)
    rank[order] = np.arange(1, m + 1)
    return [
        max(min(1.0, (m - rank[j] + 1) * p[j]) for j in range(m) if rank[j] <= rank[i])
        for i in range(m)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_definition_and_is_monotone(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 6), rng.uniform(0, 1, 6)])
    rng.shuffle(p)
    got = np.array(paired.holm(list(p)))
    assert got == pytest.approx(_holm_by_definition(p), abs=1e-15)
    assert np.all(got >= p) and np.all(got <= 1)  # never more significant than the raw test
    order = np.argsort(p)
    assert np.all(np.diff(got[order]) >= 0)  # keeps the order of the raw p-values


def test_nan_stays_nan_and_is_not_counted():
    got = paired.holm([0.01, float("nan"), 0.04, 0.03, float("nan"), 0.005])
    assert np.isnan(got[1]) and np.isnan(got[4])
    assert [got[i] for i in (0, 2, 3, 5)] == pytest.approx([0.03, 0.06, 0.06, 0.02])  # m = 4
    assert paired.holm({"x": float("nan")})["x"] != paired.holm({"x": float("nan")})["x"]
    assert paired.holm([]) == [] and paired.holm([0.2]) == [0.2]
    assert paired.holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1


def test_bad_values():
    with pytest.raises(ValueError, match=r"^pvalues: 1 value\(s\) outside \[0, 1\]"):
        paired.holm([0.1, 1.5])
    with pytest.raises(ValueError, match=r"^pvalues: 1 value"):
        paired.holm({"a": -0.1})


def test_holm_takes_back_a_claim_that_passes_alone():
    """Four cells: 0.001 survives (x 3); 0.03 and 0.04 pass alone but not as a family (0.03 x 2 =
    0.06, and 0.04 x 1 is lifted to 0.06); the NaN cell is not a test and is not counted."""
    adj = paired.holm([0.001, 0.03, 0.04, float("nan")])
    assert adj[:3] == pytest.approx([0.003, 0.06, 0.06]) and np.isnan(adj[3])
