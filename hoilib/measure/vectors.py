"""Embedding sets as the gap measures take them: checked float tensors, unit rows, seeded subsets.

Every measure refuses what would silently poison it (NaN, empty sets, mismatched
widths) with a message that names the argument.
"""

from __future__ import annotations

import numpy as np
import torch


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
