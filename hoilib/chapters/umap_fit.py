"""One UMAP of several embedding sets together, cached by its inputs so a warm rebuild skips the fit.

Chapters 1, 3 and 5 draw UMAPs; fitting one (and importing umap, which compiles numba
kernels) is most of what those chapters spend when nothing else changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import codekey
from hoilib.chapters import memo
from hoilib.timing import timed


def umap_embedding(
    sets: dict[str, np.ndarray],
    n_per_set: int = 600,
    seed: int = 0,
    return_rows: bool = False,
    cache_dir: str | Path | None = None,
    n_epochs: int = 500,
):
    """One UMAP fitted on the union of the sets (balanced by subsampling); returns a tidy frame.

    ``return_rows=True`` adds a column ``row``: each point's row in its own set (e.g. its class).
    With ``cache_dir`` the frame is stored there and reused while the input arrays, the
    settings, umap-learn's version and this module's code are unchanged (a warm rebuild
    skips the fit, and umap's import with it).
    """

    def fit():
        with timed("UMAP"):
            return _fit_umap(sets, n_per_set, seed, return_rows, n_epochs)

    if cache_dir is None:
        return fit()
    key = _umap_key(sets, n_per_set, seed, return_rows, n_epochs)
    return memo.stored(Path(cache_dir) / f"umap-{key}.json", fit)


def _umap_key(sets, n_per_set, seed, return_rows, n_epochs) -> str:
    from importlib.metadata import version

    h = hashlib.sha256()
    for name, x in sets.items():
        h.update(name.encode() + b"\0" + np.ascontiguousarray(x, dtype=np.float32).tobytes())
    meta = [
        n_per_set,
        seed,
        return_rows,
        version("umap-learn"),
        codekey.digest_of([__name__, "hoilib.chapters.memo"]),
    ]
    h.update(repr(meta).encode())
    return h.hexdigest()[:16]


def _fit_umap(sets, n_per_set, seed, return_rows, n_epochs=500):
    import umap

    rng = np.random.default_rng(seed)
    parts, rows = [], []
    for name, x in sets.items():
        x = np.asarray(x, dtype=np.float32)
        idx = (
            rng.choice(len(x), size=min(n_per_set, len(x)), replace=False)
            if len(x) > n_per_set
            else np.arange(len(x))
        )
        parts.append((name, x[idx] / np.linalg.norm(x[idx], axis=1, keepdims=True)))
        rows.append(idx)
    data = np.concatenate([p for _, p in parts])
    n_neighbors = max(2, min(15, len(data) - 1))
    xy = umap.UMAP(
        n_neighbors=n_neighbors, metric="cosine", random_state=seed, n_jobs=1, n_epochs=n_epochs
    ).fit_transform(data)
    labels = np.concatenate([[name] * len(p) for name, p in parts])
    xy = xy.astype(np.float64)  # as the cached copy reads back
    df = pd.DataFrame({"umap 1": xy[:, 0], "umap 2": xy[:, 1], "set": labels})
    if return_rows:
        df["row"] = np.concatenate(rows).astype(np.int64)
    return df
