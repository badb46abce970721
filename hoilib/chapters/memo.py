"""Chapter results cached like stages, so a warm rebuild re-plots instead of recomputing.

A chapter's tables (frames, per-class APs, small dicts, lists of records) are stored as JSON under
``<run_dir>/cache/`` and reused only when the key is unchanged: every parameter of
the run (paths aside), the code of the chapter module and everything it imports,
and the digest of the world's annotation files (a HICO-DET copy can change under the
same parameters). Models and feature tensors are not cached here: they come from the
stages. JSON, never pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts, codekey

VERSION = 2  # 2: exact round trips of lists, tuples, non-string keys and array dtypes
PATHS = ("run_dir", "stage_dir")  # where the run lives does not change its numbers


def world_digest(world) -> str:
    """sha256 over the world's annotation files (those present), short."""
    h = hashlib.sha256()
    for name in ("instances_train2015.json", "instances_test2015.json", "world.json"):
        path = Path(world.root) / name
        if path.is_file():
            h.update(name.encode() + artifacts.sha256_file(path).encode())
    return h.hexdigest()[:16]


def key(ch, name: str, module: str) -> str:
    """The cache key of one result: parameters, code closure of ``module``, world files."""
    params = ch.cfg.model_dump(mode="json", exclude=set(PATHS))
    code = codekey.digest_of(codekey.closure([module, __name__]))  # the storage format too
    return artifacts.fingerprint(
        {
            "v": VERSION,
            "name": name,
            "params": params,
            "code": code,
            "world": world_digest(ch.world),
        }
    )


def _plain(x):
    """Nested lists with NaN as None and numpy scalars as Python numbers (JSON-exact)."""
    if isinstance(x, (list, tuple)):
        return [_plain(y) for y in x]
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


def _encode(v):
    """A JSON-able form of ``v`` that ``_decode`` turns back into an equal value of the same types.

    Frames keep exact floats (repr, unlike ``to_json``'s 15 digits); arrays keep their dtype and
    shape; lists stay lists and tuples tuples; dict keys that are not strings (numbers, tuples)
    keep their type, and every dict its order; floats that JSON cannot hold (NaN, inf) are spelled out.
    """
    if isinstance(v, pd.DataFrame):
        d = v.to_dict(orient="split")
        return {
            "__frame__": {k: _plain(d[k]) for k in ("index", "columns", "data")},
            "name": v.index.name,
        }
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in v):
            out = {k: _encode(x) for k, x in v.items()}
            return out if list(v) == sorted(v) else {**out, "__order__": list(v)}  # JSON sorts keys
        return {"__items__": [[_encode(k), _encode(x)] for k, x in v.items()]}
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(x) for x in v]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    if isinstance(v, np.ndarray):
        flat = [_encode(x) for x in v.ravel().tolist()]
        return {"__array__": flat, "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    return v


def _decode(v):
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__frame__" in v:
        f = v["__frame__"]
        df = pd.DataFrame(f["data"], index=f["index"], columns=f["columns"]).infer_objects()
        return df.rename_axis(v.get("name"))
    if "__items__" in v:
        return {_key(_decode(k)): _decode(x) for k, x in v["__items__"]}
    if "__tuple__" in v:
        return tuple(_decode(x) for x in v["__tuple__"])
    if "__float__" in v:
        return float(v["__float__"])
    if "__array__" in v:
        return np.array([_decode(x) for x in v["__array__"]], dtype=v["dtype"]).reshape(v["shape"])
    order = v.get("__order__", sorted(v))
    return {k: _decode(v[k]) for k in order}


def _key(k):
    """A decoded dict key: hashable (a tuple's items too)."""
    return tuple(_key(x) for x in k) if isinstance(k, (tuple, list)) else k


def stored(path: Path, compute: Callable[[], object]):
    """The value stored at ``path`` (JSON), else ``compute()``, stored there (atomically) first.

    A damaged or old-format copy is recomputed, never trusted.
    """
    path = Path(path)
    if path.is_file():
        try:
            return _decode(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            pass
    value = compute()
    artifacts.write_json(path, _encode(value))
    return value


def folder(cfg) -> Path:
    """Where a run's cached chapter results (and UMAPs) live: ``<run_dir>/cache``."""
    return Path(cfg.run_dir) / "cache"


def cached(ch, name: str, compute: Callable[[], dict], module: str) -> dict:
    """``compute()`` (a dict of frames, tuple-keyed dicts of arrays, numbers), or its stored copy."""
    return stored(folder(ch.cfg) / f"{name}-{key(ch, name, module)}.json", compute)
