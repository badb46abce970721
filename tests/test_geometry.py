"""CKA and k-NN overlap: 1 for the same geometry, chance for none, in between for part of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoilib.measure import geometry as g

N, D, K = 200, 16, 10


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(N, D))


def _orthogonal(d, seed=1):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))  # Haar-distributed, not just any orthogonal matrix


def test_identical_is_one(x):
    assert g.linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert g.knn_overlap(x, x, K) == 1.0


def test_rotation_and_isotropic_scale_are_one(x):
    y = 3.7 * x @ _orthogonal(D)
    assert g.linear_cka(x, y) == pytest.approx(1.0, abs=1e-10)
    assert g.knn_overlap(x, y, K) == 1.0
    # a wider space that holds the same geometry (an isometric embedding, D -> 3D)
    wide = x @ _orthogonal(3 * D, seed=2)[:D]
    assert g.linear_cka(x, wide) == pytest.approx(1.0, abs=1e-10)
    assert g.knn_overlap(x, wide, K) == 1.0


def test_torch_and_numpy_agree(x):
    y = x + np.random.default_rng(3).normal(size=x.shape)
    tx, ty = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    assert g.linear_cka(tx, ty) == pytest.approx(g.linear_cka(x, y), abs=1e-5)
    assert g.knn_overlap(tx, ty, K) == pytest.approx(g.knn_overlap(x, y, K), abs=0.02)


def test_independent_sets_are_near_chance(x):
    y = np.random.default_rng(4).normal(size=(N, 24))
    # For independent Gaussian sets E||Y^T X||_F^2 ~ n d1 d2 and ||X^T X||_F ~ n sqrt(d1(1 + d1/n)),
    # so CKA sits near sqrt(d1 d2) / n ~ 0.1 here, not at 0 (the known upward bias of linear CKA);
    # over 300 independent y it was 0.090 +- 0.006 (max 0.113), so 0.2 is far outside chance.
    assert g.linear_cka(x, y) < 0.2
    # y's neighbour set of item i is, by exchangeability of y's rows, a uniformly random k-subset
    # of the other n - 1 items, so the expected overlap is exactly k / (n - 1) ~ 0.050. Each item's
    # count is hypergeometric (variance ~0.46), which alone would give an sd of ~0.005 over 200
    # items; shared neighbours make items correlated, and over 300 independent y the sd was 0.0062
    # (largest deviation 0.020), so 0.025 is about four standard deviations.
    chance = g.knn_chance(N, K)
    assert chance == pytest.approx(K / (N - 1))
    assert g.knn_overlap(x, y, K) == pytest.approx(chance, abs=0.025)


def test_partial_perturbation_lies_between(x):
    y = x + 0.7 * np.random.default_rng(5).normal(size=x.shape)
    cka, knn = g.linear_cka(x, y), g.knn_overlap(x, y, K)
    assert 0.2 < cka < 0.99 and g.knn_chance(N, K) + 0.05 < knn < 0.95
    more = x + 2.0 * np.random.default_rng(5).normal(size=x.shape)
    assert g.linear_cka(x, more) < cka and g.knn_overlap(x, more, K) < knn  # more noise, less shape


def test_a_shared_offset_changes_nothing(x):
    y = x @ _orthogonal(D) + 0.5 * np.random.default_rng(6).normal(size=x.shape)
    shifted = y + 25.0 * np.random.default_rng(7).normal(size=D)  # a modality-gap-like shift
    assert g.linear_cka(x, shifted) == pytest.approx(g.linear_cka(x, y), abs=1e-9)
    assert g.knn_overlap(x, shifted, K) == g.knn_overlap(x, y, K)
    # uncentred cosine would see mostly the offset: its neighbours agree far less with x's
    u = shifted / np.linalg.norm(shifted, axis=1, keepdims=True)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    raw = np.argsort(-sim, axis=1)[:, :K]
    ours = g._neighbours(x, K)
    naive = np.mean([len(set(a) & set(b)) / K for a, b in zip(ours, raw, strict=True)])
    assert naive < g.knn_overlap(x, y, K) - 0.05  # 0.36 against 0.44 here
    s = g.geometry_summary(x, shifted, K)
    assert s["n"] == N and s["k"] == K and s["linear CKA"] == pytest.approx(g.linear_cka(x, y))
    assert s["kNN overlap"] == g.knn_overlap(x, y, K)
    assert s["kNN overlap by chance"] == pytest.approx(K / (N - 1))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros((5, 3)), np.zeros((6, 3))), "^y: has 6 rows but x has 5"),
        ((np.ones((20, 3)), np.ones((20, 3)) * np.nan), "^y: contains 60 non-finite"),
        ((np.full((20, 3), np.inf), np.ones((20, 3))), "^x: contains 60 non-finite"),
        ((np.ones(20), np.ones((20, 3))), "^x: expected a 2-D"),
    ],
)
def test_bad_inputs_name_the_argument(args, match):
    for f in (g.linear_cka, g.knn_overlap, g.geometry_summary):
        with pytest.raises(ValueError, match=match):
            f(*args)


def test_too_few_rows_and_bad_k(x):
    with pytest.raises(ValueError, match=r"^x: needs at least 11 rows, got 10"):
        g.knn_overlap(x[:10], x[:10], k=10)
    with pytest.raises(ValueError, match=r"^x: needs at least 11 rows"):
        g.geometry_summary(x[:10], x[:10], k=10)
    assert g.knn_overlap(x[:11], x[:11], k=10) == 1.0  # k + 1 rows: every other row is a neighbour
    with pytest.raises(ValueError, match=r"^x: needs at least 2 rows"):
        g.linear_cka(x[:1], x[:1])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=r"^k: must be an integer"):
            g.knn_overlap(x, x, k=bad)
    with pytest.raises(ValueError, match=r"^n: must be an integer >= k \+ 1"):
        g.knn_chance(10, 10)
    with pytest.raises(ValueError, match=r"^y: every row is the same"):
        g.linear_cka(x, np.ones((N, 4)))


def test_a_large_set_gets_the_same_neighbours_a_block_of_rows_at_a_time(monkeypatch):
    """Past WHOLE_ROWS rows the similarities come in blocks (a 600-class corpus would need 8 GB at
    once); the neighbours, ties included, are those of the whole matrix."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 16))
    a[7] = a[5]  # a tie, broken by the lower index either way
    whole = g._neighbours(a, 10)
    monkeypatch.setattr(g, "WHOLE_ROWS", 100)
    monkeypatch.setattr(g, "BLOCK_ROWS", 64)
    assert np.array_equal(g._neighbours(a, 10), whole)
