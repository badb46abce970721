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
* ``two_sample_accuracy``: can a linear classifier tell the sets apart?
* ``mmd_permutation_test``: kernel two-sample test with a permutation p-value;
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

__all__ = [
    "l2n",
    "centroid_gap",
    "cosine_distributions",
    "two_sample_accuracy",
    "mmd_permutation_test",
    "shift_along_gap",
    "gap_summary",
]


# --------------------------------------------------------------------------- #
# input checks
# --------------------------------------------------------------------------- #
def _as_float_tensor(x, name: str) -> torch.Tensor:
    """Convert to a float32 CPU tensor and reject non-finite values.

    Everything downstream assumes finite numbers: one NaN would silently turn
    every mean, kernel and classifier result into NaN.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().to(device="cpu", dtype=torch.float32)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: cannot convert to a float tensor ({exc})") from exc
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name}: contains {bad} non-finite value(s) (NaN or inf)")
    return t


def _as_set(x, name: str) -> torch.Tensor:
    """A set of embeddings: 2-D, at least 2 rows, finite."""
    t = _as_float_tensor(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (rows, dim) array, got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name}: needs at least 2 rows, got {t.shape[0]}")
    if t.shape[1] < 1:
        raise ValueError(f"{name}: embedding dimension must be at least 1, got {t.shape[1]}")
    return t


def _as_pair(a, b) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate image set ``a`` and text set ``b`` together (same embedding dim)."""
    ta = _as_set(a, "a (image features)")
    tb = _as_set(b, "b (text features)")
    if ta.shape[1] != tb.shape[1]:
        raise ValueError(
            f"embedding dims differ: a has D={ta.shape[1]}, b has D={tb.shape[1]}; "
            "both sets must live in the same joint space"
        )
    return ta, tb


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _subsample_rows(x: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` rows without replacement (all rows, in order, when ``n`` covers them)."""
    if n >= x.shape[0]:
        return x
    idx = np.sort(rng.choice(x.shape[0], size=n, replace=False))
    return x[torch.from_numpy(idx)]


# --------------------------------------------------------------------------- #
# basic geometry
# --------------------------------------------------------------------------- #
def l2n(x) -> torch.Tensor:
    """L2-normalise rows (last dim) to float32.

    CLIP compares embeddings by cosine, i.e. on the unit sphere, so every gap
    measure is taken after this step. An all-zero row stays zero instead of
    becoming NaN.
    """
    t = _as_float_tensor(x, "x")
    if t.ndim == 0:
        raise ValueError("x: expected at least 1 dimension, got a scalar")
    return torch.nn.functional.normalize(t, p=2.0, dim=-1, eps=1e-12)


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


def _pair_cosines(x: torch.Tensor, y: torch.Tensor, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Row-wise dot products ``x[i] . y[j]`` in float64 (rows already unit)."""
    xi = x[torch.from_numpy(i)].double()
    yj = y[torch.from_numpy(j)].double()
    return (xi * yj).sum(dim=1).numpy()


def cosine_distributions(a, b, max_pairs: int = 20000, seed: int = 0) -> dict[str, np.ndarray]:
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
    out["image-image"] = _pair_cosines(na, na, *_triu_pairs(n, k))
    k = _sample_linear(m * (m - 1) // 2, max_pairs, rng)
    out["text-text"] = _pair_cosines(nb, nb, *_triu_pairs(m, k))
    k = _sample_linear(n * m, max_pairs, rng)
    out["image-text"] = _pair_cosines(na, nb, k // m, k % m)
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
# two-sample tests
# --------------------------------------------------------------------------- #
def two_sample_accuracy(a, b, folds: int = 5, seed: int = 0, max_per_set: int = 2000) -> dict:
    """Classifier two-sample test: cross-validated accuracy of telling a from b.

    If a linear classifier separates image from text embeddings, the two
    distributions differ, whatever the centroid distance says. Both sets are
    subsampled (seeded) to ``n = min(N, M, max_per_set)`` rows so chance is
    exactly 0.5, L2-normalised, and scored with ``LogisticRegression(max_iter=
    2000)`` under ``StratifiedKFold(folds, shuffle=True, random_state=seed)``
    (folds is lowered to ``n`` if ``n`` is smaller). Accuracy near 1 means the
    sets are separable; near 0.5 means they are not.

    Returns ``{"accuracy", "std" (over folds), "n_per_set", "chance": 0.5,
    "folds"}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

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
    scores = []
    for train, test in splitter.split(x, y):
        clf = LogisticRegression(max_iter=2000)
        clf.fit(x[train], y[train])
        scores.append(float(clf.score(x[test], y[test])))
    scores_arr = np.asarray(scores)
    return {
        "accuracy": float(scores_arr.mean()),
        "std": float(scores_arr.std()),
        "n_per_set": int(n),
        "chance": 0.5,
        "folds": int(k),
    }


def _mmd2_for_labels(k0: np.ndarray, row_sums: np.ndarray, total: float, s: np.ndarray, n: int) -> np.ndarray:
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
    mmd2 = float(_mmd2_for_labels(k0, row_sums, total, observed_s, n)[0])

    exceed = 0
    chunk = 256
    done = 0
    while done < n_permutations:
        p = min(chunk, n_permutations - done)
        s = np.zeros((p, 2 * n))
        for r in range(p):
            s[r, rng.permutation(2 * n)[:n]] = 1.0
        perm_mmd = _mmd2_for_labels(k0, row_sums, total, s, n)
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


# --------------------------------------------------------------------------- #
# the shift experiment
# --------------------------------------------------------------------------- #
def shift_along_gap(a, b, delta: float, direction=None) -> tuple[torch.Tensor, torch.Tensor]:
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
            raise ValueError("the centroid gap is zero, so its direction is undefined; pass `direction`")
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
def gap_summary(a, b, seed: int = 0, n_permutations: int = 200) -> dict:
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
