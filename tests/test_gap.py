"""Tests for hoilib.measure.gap on small synthetic embeddings (numpy-seeded, so stable)."""

import math

import numpy as np
import pytest
import torch

from hoilib.measure import gap
from hoilib.measure.gap import (
    centroid_gap,
    cosine_distributions,
    gap_summary,
    l2n,
    mmd_permutation_test,
    shift_along_gap,
    two_sample_accuracy,
)

N, D = 200, 16


def _gauss(seed, n=N, d=D, mean=0.0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(n, d)) + mean).float()


def _clusters(seed=0, n=N, d=D):
    """Two tight clusters around orthogonal directions: a cartoon modality gap."""
    rng = np.random.default_rng(seed)
    ca, cb = np.zeros(d), np.zeros(d)
    ca[0], cb[1] = 1.0, 1.0
    a = ca + 0.1 * rng.normal(size=(n, d))
    b = cb + 0.1 * rng.normal(size=(n, d))
    return torch.from_numpy(a).float(), torch.from_numpy(b).float()


# --- l2n / centroid gap ------------------------------------------------------
def test_l2n_unit_rows_float32_and_accepts_numpy():
    x = np.random.default_rng(0).normal(size=(5, 4))
    y = l2n(x)
    assert y.dtype == torch.float32
    assert torch.allclose(torch.linalg.vector_norm(y, dim=1), torch.ones(5), atol=1e-6)
    assert torch.equal(l2n(torch.from_numpy(x)), y)


def test_centroid_gap_identical_sets_is_zero():
    a = _gauss(0)
    vec, norm = centroid_gap(a, a.clone())
    assert vec.shape == (D,)
    assert norm == pytest.approx(0.0, abs=1e-7)


def test_centroid_gap_opposite_constant_sets_is_two():
    v = torch.randn(D, generator=torch.Generator().manual_seed(0))
    a = v.repeat(10, 1)
    b = (-3.0 * v).repeat(7, 1)  # scale must not matter after normalisation
    vec, norm = centroid_gap(a, b)
    assert norm == pytest.approx(2.0, abs=1e-5)
    assert torch.allclose(vec, 2.0 * v / v.norm(), atol=1e-5)


def test_centroid_gap_of_shifted_copy_matches_hand_computation():
    # exact small case: a = {e1, e2}, b = a + e3 = {(1,0,1), (0,1,1)}
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    b = a + torch.tensor([0.0, 0.0, 1.0])
    r = 1.0 / math.sqrt(2.0)
    expected = torch.tensor([0.5 * (1 - r), 0.5 * (1 - r), -r])
    vec, norm = centroid_gap(a, b)
    assert torch.allclose(vec, expected, atol=1e-6)
    assert norm == pytest.approx(math.sqrt(0.5 * (1 - r) ** 2 + 0.5), abs=1e-6)
    # random case against a plain numpy computation
    x = np.random.default_rng(1).normal(size=(N, D))
    shift = np.linspace(-1.0, 1.0, D)
    y = x + shift
    hand = (x / np.linalg.norm(x, axis=1, keepdims=True)).mean(0) - (
        y / np.linalg.norm(y, axis=1, keepdims=True)
    ).mean(0)
    vec, norm = centroid_gap(x, y)
    np.testing.assert_allclose(vec.numpy(), hand, atol=1e-5)
    assert norm == pytest.approx(float(np.linalg.norm(hand)), abs=1e-5)


# --- cosine distributions -----------------------------------------------------
def test_triu_pairs_matches_triu_indices():
    for n in (2, 3, 7, 50):
        i, j = gap._triu_pairs(n, np.arange(n * (n - 1) // 2))
        ref = np.triu_indices(n, k=1)
        np.testing.assert_array_equal(i, ref[0])
        np.testing.assert_array_equal(j, ref[1])


def test_cosine_distributions_exact_when_small_and_capped_when_large():
    a, b = _gauss(0, n=12), _gauss(1, n=9)
    out = cosine_distributions(a, b)
    na, nb = l2n(a).double(), l2n(b).double()
    ii = (na @ na.T)[torch.triu_indices(12, 12, offset=1).unbind()]
    np.testing.assert_allclose(np.sort(out["image-image"]), np.sort(ii.numpy()), atol=1e-6)
    assert out["text-text"].shape == (9 * 8 // 2,)
    np.testing.assert_allclose(out["image-text"], (na @ nb.T).reshape(-1).numpy(), atol=1e-6)
    capped = cosine_distributions(_gauss(2), _gauss(3), max_pairs=500, seed=4)
    assert all(v.shape == (500,) for v in capped.values())
    assert all(np.all(np.abs(v) <= 1 + 1e-6) for v in capped.values())


# --- two-sample classifier ----------------------------------------------------
def test_two_sample_accuracy_same_distribution_near_chance():
    res = two_sample_accuracy(_gauss(0), _gauss(1))
    assert res["accuracy"] < 0.7
    assert res["chance"] == 0.5 and res["n_per_set"] == N


def test_two_sample_accuracy_separated_clusters():
    a, b = _clusters()
    res = two_sample_accuracy(a, b)
    assert res["accuracy"] > 0.95
    # balancing: the larger set is subsampled to the smaller one
    assert two_sample_accuracy(a, b[:50])["n_per_set"] == 50


@pytest.mark.parametrize("seed,folds,n_b", [(0, 5, 200), (3, 4, 120), (7, 2, 3)])
def test_two_sample_accuracy_equals_the_hand_cross_validation_loop(seed, folds, n_b):
    """cross_val_score gives the numbers of the loop it replaced: a fresh LogisticRegression per fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from hoilib.measure.vectors import _subsample_rows, l2n

    a, b = _gauss(seed), _gauss(seed + 1, n=n_b, mean=0.15)
    res = two_sample_accuracy(a, b, folds=folds, seed=seed)
    rng = np.random.default_rng(seed)  # the reference: same subsample, same splits, the old loop
    n = min(len(a), len(b))
    x = np.concatenate(
        [
            l2n(_subsample_rows(a, n, rng)).double().numpy(),
            l2n(_subsample_rows(b, n, rng)).double().numpy(),
        ]
    )
    y = np.repeat([0, 1], n)
    scores = []
    for train, test in StratifiedKFold(
        n_splits=min(folds, n), shuffle=True, random_state=seed
    ).split(x, y):
        scores.append(
            LogisticRegression(max_iter=2000).fit(x[train], y[train]).score(x[test], y[test])
        )
    assert 0.5 < res["accuracy"] < 1.0 or n_b == 3
    assert res["accuracy"] == float(np.mean(scores)) and res["std"] == float(np.std(scores))
    assert res["folds"] == min(folds, n) and res["n_per_set"] == n


# --- MMD ------------------------------------------------------------------------
def test_mmd_same_distribution_large_p_value():
    res = mmd_permutation_test(_gauss(0), _gauss(1))
    assert res["p_value"] > 0.05
    assert res["n_permutations"] == 200 and res["n_per_set"] == N
    assert res["bandwidth"] > 0


def test_mmd_separated_small_p_value():
    a, b = _clusters()
    res = mmd_permutation_test(a, b)
    assert res["p_value"] <= 0.01
    assert res["mmd2"] > 0.1


def test_mmd_of_split_set_near_zero():
    x = _gauss(5, n=2 * N)
    res = mmd_permutation_test(x[:N], x[N:])
    assert abs(res["mmd2"]) < 0.01


def test_mmd_matches_naive_unbiased_estimator():
    a, b = _gauss(0, n=20, d=4), _gauss(1, n=20, d=4, mean=0.5)
    res = mmd_permutation_test(a, b, n_permutations=5, bandwidth=0.7)
    x, y = l2n(a).double(), l2n(b).double()

    def k(u, v):
        return torch.exp(-(torch.cdist(u, v) ** 2) / (2 * 0.7**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n = 20
    naive = (
        (kxx.sum() - kxx.diag().sum()) / (n * (n - 1))
        + (kyy.sum() - kyy.diag().sum()) / (n * (n - 1))
        - 2 * kxy.mean()
    )
    assert res["mmd2"] == pytest.approx(float(naive), abs=1e-9)
    assert res["bandwidth"] == 0.7


# --- shift experiment -----------------------------------------------------------
def test_shift_zero_delta_returns_normalised_inputs():
    a, b = _clusters()
    a2, b2 = shift_along_gap(a, b, 0.0)
    assert torch.equal(a2, l2n(a)) and torch.equal(b2, l2n(b))


def test_positive_delta_reduces_gap_and_negative_widens():
    a, b = _clusters()
    _, g0 = centroid_gap(a, b)
    a2, b2 = shift_along_gap(a, b, 0.5)
    _, g1 = centroid_gap(a2, b2)
    assert g1 < g0
    assert torch.allclose(torch.linalg.vector_norm(a2, dim=1), torch.ones(N), atol=1e-5)
    _, g2 = centroid_gap(*shift_along_gap(a, b, -0.5))
    assert g2 > g0
    # an explicit direction is used as given (normalised)
    u = torch.zeros(D)
    u[0] = 5.0
    a3, _ = shift_along_gap(a, b, 1.0, direction=u)
    assert torch.allclose(a3, l2n(l2n(a) - 0.5 * torch.eye(D)[0]))


# --- summary, determinism, errors ---------------------------------------------------
def test_gap_summary_keys_and_values():
    a, b = _clusters()
    s = gap_summary(a, b, n_permutations=50)
    for key in (
        "centroid_gap_norm",
        "two_sample_accuracy",
        "two_sample_std",
        "mmd2",
        "mmd_p_value",
        "mean_cos_image_image",
        "mean_cos_text_text",
        "mean_cos_image_text",
    ):
        assert isinstance(s[key], float), key
    assert s["centroid_gap_norm"] == pytest.approx(centroid_gap(a, b)[1])
    assert s["mmd2"] == mmd_permutation_test(a, b, n_permutations=50)["mmd2"]
    assert s["two_sample_accuracy"] == two_sample_accuracy(a, b)["accuracy"]
    # exact mean cosines agree with the full (unsampled) distributions
    full = cosine_distributions(a, b, max_pairs=10**6)
    assert s["mean_cos_image_image"] == pytest.approx(full["image-image"].mean(), abs=1e-6)
    assert s["mean_cos_text_text"] == pytest.approx(full["text-text"].mean(), abs=1e-6)
    assert s["mean_cos_image_text"] == pytest.approx(full["image-text"].mean(), abs=1e-6)
    assert s["mean_cos_image_text"] < s["mean_cos_image_image"]


def test_determinism_same_seed_same_numbers():
    a, b = _gauss(0, n=300), _gauss(1, n=250, mean=0.2)
    assert two_sample_accuracy(a, b, max_per_set=100) == two_sample_accuracy(a, b, max_per_set=100)
    r1 = mmd_permutation_test(a, b, max_per_set=100, n_permutations=50)
    r2 = mmd_permutation_test(a.numpy(), b.numpy(), max_per_set=100, n_permutations=50)
    assert r1 == r2
    c1, c2 = cosine_distributions(a, b, max_pairs=300), cosine_distributions(a, b, max_pairs=300)
    assert all(np.array_equal(c1[k], c2[k]) for k in c1)
    assert gap_summary(a, b, n_permutations=20) == gap_summary(a, b, n_permutations=20)


def test_errors_on_bad_inputs():
    a = _gauss(0, n=10)
    with pytest.raises(ValueError, match="dims differ"):
        centroid_gap(a, _gauss(1, n=10, d=D + 1))
    with pytest.raises(ValueError, match="dims differ"):
        mmd_permutation_test(a, _gauss(1, n=10, d=8))
    with pytest.raises(ValueError, match="at least 2 rows"):
        two_sample_accuracy(a, a[:1])
    bad = a.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        shift_along_gap(bad, a, 0.1)
    with pytest.raises(ValueError, match="non-finite"):
        cosine_distributions(a, np.full((4, D), np.inf))
    with pytest.raises(ValueError, match="2-D"):
        gap_summary(a[0], a)
