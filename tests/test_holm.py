"""Holm's step-down correction, and verdicts that say when a family of tests takes a claim back."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    with pytest.raises(ValueError, match=r"^alpha: must lie in \(0, 1\)"):
        paired.holm([0.1], alpha=0)


def _tests(p, diff=2.0, up=3, seeds=3):
    """A paired_tests-shaped frame whose three columns carry the given Wilcoxon p."""
    row = {
        "mean difference (points)": diff,
        "seeds": seeds,
        "seeds where b > a": up,
        "paired t-test p (seeds)": 0.01,
        "classes": 40,
        "classes where b > a": 30,
        "Wilcoxon p (classes)": p,
    }
    return pd.DataFrame([row | {"mAP": c} for c in ("full", "seen", "unseen")]).set_index("mAP")


def test_verdict_takes_back_a_claim_after_holm():
    # four cells: 0.001 survives (x 3); 0.03 and 0.04 pass alone but not as a family
    # (0.03 x 2 = 0.06, and 0.04 x 1 is lifted to 0.06); the NaN cell is not a test, not counted
    claims = [
        ("strong", _tests(0.001), 1),
        ("weak", _tests(0.03), 1),
        ("weaker", _tests(0.04), 1),
        ("no test", _tests(float("nan"), diff=0.0, up=0), 1),
    ]
    plain = paired.verdict(claims, cols=("unseen",))
    holm = paired.verdict(claims, cols=("unseen",), adjust=True)
    assert plain.loc["weak", "unseen mAP"].startswith("SUPPORTED")
    assert plain.loc["weaker", "unseen mAP"].startswith("SUPPORTED")
    assert holm.loc["weak", "unseen mAP"].startswith("NOT SHOWN")
    assert holm.loc["weaker", "unseen mAP"].startswith("NOT SHOWN")
    assert holm.loc["strong", "unseen mAP"].startswith("SUPPORTED")
    assert holm.loc["no test", "unseen mAP"].startswith("NOT SHOWN")
    assert "p = 0.03, p_Holm = 0.06 over 3 tests)" in holm.loc["weak", "unseen mAP"]
    assert "p_Holm" not in plain.loc["weak", "unseen mAP"]
    assert plain.loc["weak", "unseen mAP"].endswith("30/40 classes with b > a; p = 0.03)")


def test_verdict_family_spans_every_column():
    # one claim, three columns at p = 0.02 each: alone each passes, as a family 0.02 * 3 = 0.06
    plain = paired.verdict([("b beats a", _tests(0.02), 1)])
    holm = paired.verdict([("b beats a", _tests(0.02), 1)], adjust=True)
    assert all(v.startswith("SUPPORTED") for v in plain.iloc[0])
    assert all(v.startswith("NOT SHOWN") and "p_Holm = 0.06" in v for v in holm.iloc[0])
    # a contradiction is held to the same family
    against = paired.verdict([("b loses", _tests(0.001, diff=-2.0, up=0), 1)], adjust=True)
    assert all(v.startswith("CONTRADICTED") for v in against.iloc[0])
