"""Two-sample tests: can the image and text sets be told apart, beyond their centroids?

* ``two_sample_accuracy``: cross-validated accuracy of a linear classifier;
* ``mmd_permutation_test``: unbiased MMD^2 with a Gaussian kernel and a permutation p-value.

Both subsample the sets (seeded) to equal sizes, so chance is exactly 0.5 and the
permutation null is exchangeable.
"""

from __future__ import annotations

import math

import numpy as np

from hoilib.measure.vectors import _as_pair, _check_positive_int, _subsample_rows, l2n


def two_sample_accuracy(a, b, folds: int = 5, *, seed: int = 0, max_per_set: int = 2000) -> dict:
    """Classifier two-sample test: cross-validated accuracy of telling a from b.

    If a linear classifier separates image from text embeddings, the two
    distributions differ, whatever the centroid distance says. Both sets are
    subsampled (seeded) to ``n = min(N, M, max_per_set)`` rows so chance is
    exactly 0.5, L2-normalised, and scored with ``LogisticRegression(max_iter=
    2000)`` under ``StratifiedKFold(folds, shuffle=True, random_state=seed)``
    (folds is lowered to ``n`` if ``n`` is smaller), through sklearn's
    ``cross_val_score`` (a fresh classifier per fold, scored by accuracy; a fold
    that fails to fit raises).
    Accuracy near 1 means the sets are separable; near 0.5 means they are not.

    Returns ``{"accuracy", "std" (over folds), "n_per_set", "chance": 0.5,
    "folds"}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    ta, tb = _as_pair(a, b)
    folds = _check_positive_int(folds, "folds", minimum=2)
    max_per_set = _check_positive_int(max_per_set, "max_per_set", minimum=2)
    rng = np.random.default_rng(seed)
    n = min(ta.shape[0], tb.shape[0], max_per_set)
    xa = l2n(_subsample_rows(ta, n, rng)).double().numpy()
    xb = l2n(_subsample_rows(tb, n, rng)).double().numpy()
    x = np.concatenate([xa, xb], axis=0)
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])

    k = min(folds, n)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores_arr = cross_val_score(
        LogisticRegression(max_iter=2000), x, y, cv=splitter, error_score="raise"
    )
    return {
        "accuracy": float(scores_arr.mean()),
        "std": float(scores_arr.std()),
        "n_per_set": int(n),
        "chance": 0.5,
        "folds": int(k),
    }


def _mmd2_for_labels(
    k0: np.ndarray, row_sums: np.ndarray, total: float, *, s: np.ndarray, n: int
) -> np.ndarray:
    """Unbiased MMD^2 for a batch of 0/1 label rows ``s`` (``(P, 2n)``, n ones each).

    ``k0`` is the pooled kernel matrix with a zero diagonal, so
    ``s K0 s`` is the sum over distinct X pairs, and the Y-Y and X-Y sums
    follow from the row sums without a second matrix product.
    """
    ks = s @ k0  # (P, 2n)
    xx = (ks * s).sum(axis=1)
    sr = s @ row_sums
    xy = sr - xx
    yy = total - 2.0 * sr + xx
    denom = n * (n - 1)
    return xx / denom + yy / denom - 2.0 * xy / (n * n)


def mmd_permutation_test(
    a,
    b,
    n_permutations: int = 200,
    *,
    seed: int = 0,
    max_per_set: int = 1000,
    bandwidth: float | None = None,
) -> dict:
    """Kernel two-sample test: unbiased MMD^2 with a permutation p-value.

    MMD compares whole distributions, not just means, so it catches a gap that
    a centroid distance can hide. Both sets are subsampled (seeded) to ``n =
    min(N, M, max_per_set)`` rows and L2-normalised. The kernel is the Gaussian
    RBF ``k(x, y) = exp(-||x - y||^2 / (2 * bandwidth^2))``; with ``bandwidth=
    None`` it is the median heuristic: the median Euclidean distance between
    distinct points of the pooled 2n-point sample (falling back to the median
    of the non-zero distances, then to 1.0, if that median is 0).

    The p-value is ``(1 + #{perm: mmd2_perm >= mmd2}) / (1 + n_permutations)``
    over seeded random relabellings of the pooled sample. The pooled kernel
    matrix is built once and permutations only reindex it.

    Returns ``{"mmd2", "p_value", "bandwidth", "n_permutations", "n_per_set"}``.
    """
    ta, tb = _as_pair(a, b)
    n_permutations = _check_positive_int(n_permutations, "n_permutations")
    max_per_set = _check_positive_int(max_per_set, "max_per_set", minimum=2)
    if bandwidth is not None and not (math.isfinite(float(bandwidth)) and float(bandwidth) > 0):
        raise ValueError(f"bandwidth must be a positive finite number or None, got {bandwidth!r}")
    rng = np.random.default_rng(seed)
    n = min(ta.shape[0], tb.shape[0], max_per_set)
    xa = l2n(_subsample_rows(ta, n, rng)).double().numpy()
    xb = l2n(_subsample_rows(tb, n, rng)).double().numpy()
    z = np.concatenate([xa, xb], axis=0)

    sq_norms = (z * z).sum(axis=1)
    d2 = np.maximum(sq_norms[:, None] + sq_norms[None, :] - 2.0 * (z @ z.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    if bandwidth is None:
        dists = np.sqrt(d2[np.triu_indices(2 * n, k=1)])
        bw = float(np.median(dists))
        if not bw > 0:
            nonzero = dists[dists > 0]
            bw = float(np.median(nonzero)) if nonzero.size else 1.0
    else:
        bw = float(bandwidth)

    k0 = np.exp(-d2 / (2.0 * bw * bw))
    np.fill_diagonal(k0, 0.0)
    row_sums = k0.sum(axis=1)
    total = float(row_sums.sum())

    observed_s = np.concatenate([np.ones(n), np.zeros(n)])[None, :]
    mmd2 = float(_mmd2_for_labels(k0, row_sums, total, s=observed_s, n=n)[0])

    exceed = 0
    chunk = 256
    done = 0
    while done < n_permutations:
        p = min(chunk, n_permutations - done)
        s = np.zeros((p, 2 * n))
        for r in range(p):
            s[r, rng.permutation(2 * n)[:n]] = 1.0
        perm_mmd = _mmd2_for_labels(k0, row_sums, total, s=s, n=n)
        # tiny tolerance so a relabelling equal to the observed one counts as >=
        exceed += int((perm_mmd >= mmd2 - 1e-12).sum())
        done += p

    return {
        "mmd2": mmd2,
        "p_value": (1.0 + exceed) / (1.0 + n_permutations),
        "bandwidth": bw,
        "n_permutations": int(n_permutations),
        "n_per_set": int(n),
    }
