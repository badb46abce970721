"""Measures of the CLIP modality gap between image and text embeddings.

Liang et al. (NeurIPS 2022, "Mind the Gap") show that CLIP's image and text
embeddings sit in two separate cones of the unit sphere. A zero-shot HOI
detector scores image regions against text prompts by cosine similarity, so
how far apart the two clouds are, and whether closing that distance helps, is
a question we measure rather than assume. This module gives the measures:

* ``centroid_gap``: the difference of the two means on the sphere (the paper's
  gap vector) and its length;
* ``cosine_distributions``: within- and across-modality cosine similarities,
  subsampled so histograms stay light;
* ``two_sample_accuracy`` and ``mmd_permutation_test`` (from ``twosample``):
  can a classifier tell the sets apart; a kernel test with a permutation p-value;
* ``shift_along_gap``: the paper's experiment that moves both sets along the
  gap direction;
* ``gap_summary``: one row for a notebook table.

Inputs are ``(N, D)`` image features ``a`` and ``(M, D)`` text features ``b``,
torch tensors or anything ``torch.as_tensor`` accepts (numpy arrays). Every
function works on CPU, never changes its inputs, and is deterministic for the
same inputs and ``seed`` (randomness comes only from
``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hoilib.measure.twosample import mmd_permutation_test, two_sample_accuracy
from hoilib.measure.vectors import _as_float_tensor, _as_pair, _check_positive_int, l2n

__all__ = [
    "l2n",
    "centroid_gap",
    "cosine_distributions",
    "two_sample_accuracy",
    "mmd_permutation_test",
    "shift_along_gap",
    "gap_summary",
]


def centroid_gap(a, b) -> tuple[torch.Tensor, float]:
    """Gap vector ``mean(l2n(a)) - mean(l2n(b))`` and its L2 norm.

    This is Liang et al.'s definition: the distance between the two modality
    centroids on the sphere. It is 0 for identical sets and at most 2 (two
    antipodal point masses).
    """
    ta, tb = _as_pair(a, b)
    vec = l2n(ta).mean(dim=0) - l2n(tb).mean(dim=0)
    return vec, float(torch.linalg.vector_norm(vec))


# --------------------------------------------------------------------------- #
# cosine distributions
# --------------------------------------------------------------------------- #
def _triu_pairs(n: int, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map linear indices ``k`` to pairs ``(i, j)``, ``i < j``, of an ``n x n``
    upper triangle in row-major order, without building the triangle.

    Lets us sample pairs of a large set without an ``n x n`` matrix.
    """
    k = np.asarray(k, dtype=np.int64)

    def row_start(i):
        # number of pairs in rows before i: i*n - i*(i+1)/2
        return i * n - (i * (i + 1)) // 2

    # closed form, then exact integer correction for floating-point rounding
    kf = k.astype(np.float64)
    i = np.floor(n - 0.5 - np.sqrt((n - 0.5) ** 2 - 2.0 * kf)).astype(np.int64)
    i = np.clip(i, 0, n - 2)
    for _ in range(3):
        too_far = row_start(i) > k
        i = np.where(too_far, i - 1, i)
        not_far = row_start(i + 1) <= k
        i = np.where(not_far, i + 1, i)
    j = k - row_start(i) + i + 1
    return i, j


def _sample_linear(total: int, max_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """All of ``range(total)`` or a sorted subsample of ``max_pairs`` of it."""
    if total <= max_pairs:
        return np.arange(total, dtype=np.int64)
    return np.sort(rng.choice(total, size=max_pairs, replace=False)).astype(np.int64)


def _pair_cosines(
    x: torch.Tensor, y: torch.Tensor, ij: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Row-wise dot products ``x[i] . y[j]`` for ``(i, j) = ij`` in float64 (rows already unit)."""
    i, j = ij
    xi = x[torch.from_numpy(i)].double()
    yj = y[torch.from_numpy(j)].double()
    return (xi * yj).sum(dim=1).numpy()


def cosine_distributions(a, b, max_pairs: int = 20000, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Cosine similarities within and across modalities, for histograms.

    The modality gap shows up as image-text cosines sitting well below the
    within-modality ones. Returns float64 arrays under ``"image-image"`` and
    ``"text-text"`` (distinct pairs ``i < j`` only: self-similarity is always
    1 and would spike the histogram) and ``"image-text"`` (all ``N x M``
    pairs). Each is subsampled without replacement to at most ``max_pairs``
    values with ``numpy.random.default_rng(seed)`` so plots stay light; pairs
    are sampled by index, so no ``N x N`` matrix is ever built.
    """
    ta, tb = _as_pair(a, b)
    max_pairs = _check_positive_int(max_pairs, "max_pairs")
    rng = np.random.default_rng(seed)
    na, nb = l2n(ta), l2n(tb)
    n, m = na.shape[0], nb.shape[0]

    out: dict[str, np.ndarray] = {}
    k = _sample_linear(n * (n - 1) // 2, max_pairs, rng)
    out["image-image"] = _pair_cosines(na, na, _triu_pairs(n, k))
    k = _sample_linear(m * (m - 1) // 2, max_pairs, rng)
    out["text-text"] = _pair_cosines(nb, nb, _triu_pairs(m, k))
    k = _sample_linear(n * m, max_pairs, rng)
    out["image-text"] = _pair_cosines(na, nb, (k // m, k % m))
    return out


def _mean_cosines(na: torch.Tensor, nb: torch.Tensor) -> dict[str, float]:
    """Exact mean cosines from the row sums (rows already unit).

    mean over i != j of <x_i, x_j> = (||sum x||^2 - n) / (n (n - 1)), and the
    mean image-text cosine is <mean a, mean b>: no pair matrix, no sampling.
    """
    sa, sb = na.double().sum(dim=0), nb.double().sum(dim=0)
    n, m = na.shape[0], nb.shape[0]
    # sum of squared norms is n for unit rows, fewer if some rows were zero
    qa, qb = float((na.double() ** 2).sum()), float((nb.double() ** 2).sum())
    return {
        "image-image": (float(sa @ sa) - qa) / (n * (n - 1)),
        "text-text": (float(sb @ sb) - qb) / (m * (m - 1)),
        "image-text": float(sa @ sb) / (n * m),
    }


# --------------------------------------------------------------------------- #
# the shift experiment
# --------------------------------------------------------------------------- #
def shift_along_gap(a, b, delta: float, *, direction=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Move both sets along the gap direction, as in Liang et al.'s experiment.

    With ``u`` the unit gap direction (``centroid_gap(a, b)`` normalised, or
    ``direction`` normalised when given), returns
    ``a' = l2n(l2n(a) - delta/2 * u)`` and ``b' = l2n(l2n(b) + delta/2 * u)``.
    ``delta > 0`` moves the sets towards each other (closes the gap),
    ``delta < 0`` pushes them apart, ``delta = 0`` returns the normalised
    inputs. Re-normalising keeps the shifted points on the sphere, where CLIP
    scores live, so downstream zero-shot accuracy can be re-measured.
    """
    ta, tb = _as_pair(a, b)
    try:
        delta = float(delta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"delta must be a real number, got {delta!r}") from exc
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta!r}")
    na, nb = l2n(ta), l2n(tb)
    if direction is None:
        vec, norm = centroid_gap(na, nb)
        if not norm > 0:
            raise ValueError(
                "the centroid gap is zero, so its direction is undefined; pass `direction`"
            )
        u = vec / norm
    else:
        d = _as_float_tensor(direction, "direction").reshape(-1)
        if d.shape[0] != ta.shape[1]:
            raise ValueError(f"direction has {d.shape[0]} entries, expected D={ta.shape[1]}")
        dnorm = float(torch.linalg.vector_norm(d))
        if not dnorm > 0:
            raise ValueError("direction must be a non-zero vector")
        u = d / dnorm
    if delta == 0.0:
        return na, nb
    half = 0.5 * delta
    return l2n(na - half * u), l2n(nb + half * u)


# --------------------------------------------------------------------------- #
# one row for a table
# --------------------------------------------------------------------------- #
def gap_summary(a, b, seed: int = 0, *, n_permutations: int = 200) -> dict:
    """Every gap measure in one flat dict: what a notebook puts in a table row.

    Keys: ``n_image``, ``n_text``, ``dim``, ``centroid_gap_norm``,
    ``two_sample_accuracy``, ``two_sample_std``, ``mmd2``, ``mmd_p_value``,
    ``mmd_bandwidth``, ``mean_cos_image_image``, ``mean_cos_text_text``,
    ``mean_cos_image_text``. The mean cosines are exact (computed from row
    sums over all distinct pairs), not from the subsampled histograms.
    """
    ta, tb = _as_pair(a, b)
    na, nb = l2n(ta), l2n(tb)
    # raw inputs, so each number equals a direct call to that function
    _, gap_norm = centroid_gap(ta, tb)
    clf = two_sample_accuracy(ta, tb, seed=seed)
    mmd = mmd_permutation_test(ta, tb, n_permutations=n_permutations, seed=seed)
    cos = _mean_cosines(na, nb)
    return {
        "n_image": int(ta.shape[0]),
        "n_text": int(tb.shape[0]),
        "dim": int(ta.shape[1]),
        "centroid_gap_norm": gap_norm,
        "two_sample_accuracy": clf["accuracy"],
        "two_sample_std": clf["std"],
        "mmd2": mmd["mmd2"],
        "mmd_p_value": mmd["p_value"],
        "mmd_bandwidth": mmd["bandwidth"],
        "mean_cos_image_image": cos["image-image"],
        "mean_cos_text_text": cos["text-text"],
        "mean_cos_image_text": cos["image-text"],
    }
