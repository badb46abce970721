"""One UMAP of several embedding sets together, cached by its inputs so a warm rebuild skips the fit.

Chapters 1, 3 and 5 draw UMAPs; fitting one (and importing umap, which compiles numba
kernels) is most of what those chapters spend when nothing else changed.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts, cache, exactjson, memo
from hoilib.timing import timed


def umap_embedding(
    sets: dict[str, np.ndarray],
    n_per_set: int = 600,
    seed: int = 0,
    *,
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
            return _fit_umap(sets, n_per_set, seed, return_rows=return_rows, n_epochs=n_epochs)

    if cache_dir is None:
        return fit()
    return _umap_entry(
        sets, n_per_set, seed, return_rows=return_rows, n_epochs=n_epochs, folder=cache_dir
    ).value(fit)


def run_settings(cfg, **over) -> dict:
    """A run's UMAP settings (points per set, seed, epochs) and cache folder, for ``umap_embedding``."""
    return {
        "n_per_set": cfg.evaluation.umap_points,
        "seed": cfg.run.seed,
        "cache_dir": memo.folder(cfg),
        "n_epochs": cfg.evaluation.umap_epochs,
    } | over


def _umap_entry(sets, n_per_set, seed, *, return_rows, n_epochs, folder) -> cache.Entry:
    """One fit's entry, named by its sets (a chapter's UMAPs stay side by side) and keyed by their data."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for name, x in sets.items():
        h.update(name.encode() + b"\0" + np.ascontiguousarray(x, dtype=np.float32).tobytes())
    inputs = {
        "sets": list(sets),
        "data": h.hexdigest()[:16],
        "settings": {"n_per_set": n_per_set, "seed": seed, "rows": return_rows, "epochs": n_epochs},
        "umap-learn": version("umap-learn"),
    }
    name = "umap-" + artifacts.fingerprint(list(sets))[:8]
    return cache.Entry(folder, name, inputs, code=(__name__, exactjson.__name__), keyed=True)


def _cached_kernels(packages=("umap", "pynndescent")) -> int:
    """Turn on numba's disk cache for the kernels of ``packages`` that were declared without it.

    umap-learn declares its exact-neighbour, smoothing, membership and layout kernels without
    ``cache=True``, so every process compiled them again: 7.5 s before the first fit, three
    times per book and again in every test process. Cached, they compile once per machine
    into ``machine.numba_cache_dir`` (numba keys the cache by source file and CPU), and the
    machine code, so the embedding, is the same. Returns how many kernels were switched.
    """
    import sys

    import numba
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    from hoilib.machine import numba_cache_dir

    numba.config.CACHE_DIR = numba_cache_dir()  # numba read NUMBA_CACHE_DIR at import; unset: ours
    n = 0
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in packages:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                obj.enable_caching()
                n += 1
    return n


def warning_lines(caught) -> list[str]:
    """umap-learn's warnings as one line each, without the file they came from: Python's own
    format starts with the installed package's absolute path, which a published page must not
    carry (a failed spectral initialisation, for one, is reported this way)."""
    out = []
    for w in caught:
        text = " ".join(str(w.message).split())
        line = f"note from umap-learn ({w.category.__name__}): {text}"
        if line not in out:
            out.append(line)
    return out


def _fit_umap(sets, n_per_set, seed, *, return_rows, n_epochs=500):
    import umap

    _cached_kernels()

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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        xy = umap.UMAP(
            n_neighbors=n_neighbors, metric="cosine", random_state=seed, n_jobs=1, n_epochs=n_epochs
        ).fit_transform(data)
    for line in warning_lines(caught):
        print(line)
    labels = np.concatenate([[name] * len(p) for name, p in parts])
    xy = xy.astype(np.float64)  # as the cached copy reads back
    df = pd.DataFrame({"umap 1": xy[:, 0], "umap 2": xy[:, 1], "set": labels})
    if return_rows:
        df["row"] = np.concatenate(rows).astype(np.int64)
    return df
