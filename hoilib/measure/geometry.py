"""Geometry of two embeddings of the same items: does adaptation keep the shape of the text space?

A distance between the raw and the adapted text embedding says how far the space moved;
it does not say whether the arrangement of the sentences survived. Linear CKA compares
the whole similarity structure (Kornblith et al., ICML 2019); k-NN overlap asks the local
question, whether each sentence keeps its nearest neighbours. Both are computed in the
centred space, so a shared offset (the kind of shift a modality gap is) changes nothing,
and both allow the two spaces different widths.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_rows(x, name: str) -> np.ndarray:
    """A float64 (n, d) array; float64 because CKA squares sums of products of many terms."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to a float array ({exc})") from exc
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"{name}: expected a 2-D (rows, dim) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains {int((~np.isfinite(a)).sum())} non-finite value(s)")
    return a


def _pair(x, y, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both sets checked together: same items means same number of rows, in the same order."""
    a, b = _as_rows(x, "x"), _as_rows(y, "y")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"y: has {b.shape[0]} rows but x has {a.shape[0]}; rows must be the same items"
        )
    if a.shape[0] < min_rows:
        raise ValueError(f"x: needs at least {min_rows} rows, got {a.shape[0]}")
    return a, b


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: must be an integer >= 1, got {k!r}")
    return int(k)


def linear_cka(x, y) -> float:
    """Linear CKA of two representations of the same n items, in [0, 1].

    ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred data: invariant to
    rotations and isotropic scaling of either side, so 1.0 means the same geometry.
    """
    a, b = _pair(x, y)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    nx, ny = np.linalg.norm(a.T @ a), np.linalg.norm(b.T @ b)
    for name, n in (("x", nx), ("y", ny)):
        if n == 0:
            raise ValueError(f"{name}: every row is the same after centring; CKA is undefined")
    return float(np.linalg.norm(b.T @ a) ** 2 / (nx * ny))


# a set of up to WHOLE_ROWS rows gets its similarity matrix at once (the default book's corpus of
# 4,664 sentences: 174 MB); a larger one in blocks of BLOCK_ROWS rows, since 31,800 sentences (600
# HICO-DET classes) would need 8 GB for the matrix and as much again for the partition
WHOLE_ROWS = 8192
BLOCK_ROWS = 2048


def _neighbours(a: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest rows by cosine in the centred space, self excluded.

    Ties go to the lower index, as a stable sort of each row would give; a partition finds
    each row's k-th similarity first, so thousands of rows (a text corpus) take well under
    a second instead of a full sort of every row. Past ``WHOLE_ROWS`` rows the similarities
    are computed a block of rows at a time, so memory grows with the rows, not their square.
    """
    a = a - a.mean(axis=0)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    a = a / np.where(norms > 0, norms, 1.0)  # a row at the centre has no direction: cosine 0
    n = len(a)
    step = n if n <= WHOLE_ROWS else BLOCK_ROWS
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, step):
        sim = a[start : start + step] @ a.T if step < n else a @ a.T
        rows = np.arange(len(sim))
        sim[rows, start + rows] = -np.inf
        kth = -np.partition(-sim, k - 1, axis=1)[:, k - 1]  # each row's k-th largest similarity
        for i, row in enumerate(sim):
            near = np.flatnonzero(row >= kth[i])  # ascending: a stable sort breaks ties by index
            out[start + i] = near[np.argsort(-row[near], kind="stable")[:k]]
    return out


def knn_overlap(x, y, k: int = 10) -> float:
    """Mean over items of |N_k^x(i) ∩ N_k^y(i)| / k: how many neighbours each item keeps.

    1.0 for a rotated or rescaled copy; about ``knn_chance(n, k)`` when x and y are unrelated.
    """
    k = _check_k(k)
    a, b = _pair(x, y, min_rows=k + 1)
    na, nb = _neighbours(a, k), _neighbours(b, k)
    shared = [len(np.intersect1d(p, q, assume_unique=True)) for p, q in zip(na, nb, strict=True)]
    return float(np.mean(shared) / k)


def knn_chance(n: int, k: int = 10) -> float:
    """Expected ``knn_overlap`` of unrelated sets: k of the n - 1 others drawn at random, so k / (n - 1)."""
    k = _check_k(k)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < k + 1:
        raise ValueError(f"n: must be an integer >= k + 1 = {k + 1}, got {n!r}")
    return k / (n - 1)


def geometry_summary(x, y, k: int = 10) -> dict:
    """Both measures with what they were computed on, and the overlap expected by chance."""
    k = _check_k(k)
    a, b = _pair(x, y, min_rows=k + 1)
    n = a.shape[0]
    return {
        "linear CKA": linear_cka(a, b),
        "kNN overlap": knn_overlap(a, b, k),
        "kNN overlap by chance": knn_chance(n, k),
        "n": n,
        "k": k,
    }
