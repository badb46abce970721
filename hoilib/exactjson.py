"""JSON that gives back what was stored: frames, arrays, tuples, non-string keys, dict order, NaN.

Cached chapter results and UMAP frames are stored as JSON (never pickle). Plain JSON
would turn a ``list[int]`` into floats, a tuple into a list, an int key into a string,
and refuse NaN; ``encode``/``decode`` round-trip each of those exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _plain(x):
    """Nested lists with NaN as None and numpy scalars as Python numbers (JSON-exact)."""
    if isinstance(x, (list, tuple)):
        return [_plain(y) for y in x]
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


def encode(v):
    """A JSON-able form of ``v`` that ``decode`` turns back into an equal value of the same types.

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
            out = {k: encode(x) for k, x in v.items()}
            # canonical JSON sorts keys: an unsorted dict records its order
            return out if list(v) == sorted(v) else {**out, "__order__": list(v)}
        return {"__items__": [[encode(k), encode(x)] for k, x in v.items()]}
    if isinstance(v, tuple):
        return {"__tuple__": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, np.ndarray):
        flat = [encode(x) for x in v.ravel().tolist()]
        return {"__array__": flat, "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return {"__float__": repr(v)}
    return v


def decode(v):
    """The value ``encode`` was given."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__frame__" in v:
        f = v["__frame__"]
        df = pd.DataFrame(f["data"], index=f["index"], columns=f["columns"]).infer_objects()
        return df.rename_axis(v.get("name"))
    if "__items__" in v:
        return {_hashable(decode(k)): decode(x) for k, x in v["__items__"]}
    if "__tuple__" in v:
        return tuple(decode(x) for x in v["__tuple__"])
    if "__float__" in v:
        return float(v["__float__"])
    if "__array__" in v:
        return np.array([decode(x) for x in v["__array__"]], dtype=v["dtype"]).reshape(v["shape"])
    order = v.get("__order__", sorted(v))
    return {k: decode(v[k]) for k in order}


def _hashable(k):
    """A decoded dict key: hashable (a tuple's items too)."""
    return tuple(_hashable(x) for x in k) if isinstance(k, (tuple, list)) else k
