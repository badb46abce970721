"""Chapter results as cache entries (``hoilib.cache``), so a warm rebuild re-plots instead of recomputing.

A chapter's tables (frames, per-class APs, small dicts, lists of records) are stored as exact
JSON (``hoilib.exactjson``) under ``<run_dir>/cache/`` and reused only when the key is
unchanged: every parameter of the run (paths aside), the code the caller names and everything
it imports, and the digest of the world's annotation files (a HICO-DET copy can change under
the same parameters). Models and feature tensors are not cached here: they come from the
stages. JSON, never pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from hoilib import artifacts, cache, exactjson

VERSION = 2  # 2: exact round trips of lists, tuples, non-string keys and array dtypes
# where the run lives does not change its numbers
PATHS = {"run": {"run_dir", "stage_dir"}}


def world_digest(world) -> str:
    """sha256 over the world's annotation files (those present), short."""
    h = hashlib.sha256()
    for name in ("instances_train2015.json", "instances_test2015.json", "world.json"):
        path = Path(world.root) / name
        if path.is_file():
            h.update(name.encode() + artifacts.sha256_file(path).encode())
    return h.hexdigest()[:16]


def entry(ch, name: str, code: str | Sequence[str], **inputs) -> cache.Entry:
    """The cache entry of one result: the run's parameters, the world's files, ``inputs``, and the
    code under ``code`` (a module or modules, their imports included, and the storage format)."""
    code = (code,) if isinstance(code, str) else tuple(code)
    params = ch.cfg.model_dump(mode="json", exclude=PATHS)
    return cache.Entry(
        folder(ch.cfg),
        name,
        {"v": VERSION, "params": params, "world": world_digest(ch.world), **inputs},
        code=(*code, exactjson.__name__),
        keyed=True,
    )


def folder(cfg) -> Path:
    """Where a run's cached chapter results (and UMAPs) live: ``<run_dir>/cache``."""
    return Path(cfg.run.run_dir) / "cache"


def cached(
    ch, name: str, compute: Callable[[], dict], *, code: str | Sequence[str], **inputs
) -> dict:
    """``compute()`` (a dict of frames, tuple-keyed dicts of arrays, numbers), or its stored copy.

    ``code``: the module(s) that compute it; ``inputs``: what else it depends on beyond the
    run's parameters and the world (e.g. a text space's fingerprint)."""
    return entry(ch, name, code, **inputs).value(compute)
