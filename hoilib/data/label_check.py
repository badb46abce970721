"""Each HOI instance's 'object' and 'verb' against the file's lists and its class's correspondence."""

from __future__ import annotations

import numpy as np

from hoilib.errors import DataError


def instance_labels(
    path, where: str, a: dict, key: str, hoi, table: np.ndarray, doc: dict
) -> np.ndarray:
    """One instance field ('object' or 'verb'), range-checked against the file's object or verb list
    and checked against its 'hoi' class through 'correspondence': the object masks are built from it."""
    names, col = ("objects", 1) if key == "object" else ("verbs", 0)
    try:
        x = np.asarray(a[key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}: {where}: field '{key}' must be a list of integer indices, got {a[key]!r}"
        ) from None
    n = len(doc[names])
    out = np.flatnonzero((x < 0) | (x >= n))
    if len(out):
        j = int(out[0])
        raise DataError(
            f"{path}: {where}: field '{key}'[{j}] = {int(x[j])}, expected an index into "
            f"'{names}' in [0, {n})"
        )
    wrong = np.flatnonzero(x != table[hoi, col])
    if len(wrong):
        j = int(wrong[0])
        raise DataError(
            f"{path}: {where}: field '{key}'[{j}] = {int(x[j])}, expected "
            f"{int(table[hoi[j], col])}: the {key} of hoi class {int(hoi[j])} in field 'correspondence'"
        )
    return x
