"""A run's numbers against stored ones: the one comparison the pinned test and ``hoilib verify`` make.

A record is ``{name: {"value", "tolerance", "basis"}}`` (the basis says where the tolerance comes
from). A number agrees when it lies within its tolerance of the stored value; a verdict, a
pass/fail or a consumer's name (str, bool), and a number stored with tolerance None, must be
equal. A name the run lacks, or one the record lacks, is a mismatch too, so a pin cannot drop out
(or a new number slip in) unnoticed. Each mismatch is one line that names the number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Value = float | int | str | bool | None
# float slack on a tolerance: a move equal to the tolerance, computed in floats, is within it
SLACK = 1e-12


def _exact(value: Value, tolerance: float | None) -> bool:
    return tolerance is None or isinstance(value, (str, bool)) or value is None


def identical(got: Value, value: Value) -> bool:
    """The same digits (NaN equals NaN), and a bool or str of the same type."""
    if isinstance(got, (str, bool)) or isinstance(value, (str, bool)) or None in (got, value):
        return type(got) is type(value) and got == value
    return got == value or (math.isnan(got) and math.isnan(value))


def within(got: Value, spec: Mapping) -> bool:
    """Whether ``got`` agrees with the stored ``spec`` (its value within its tolerance)."""
    value, tol = spec["value"], spec["tolerance"]
    if _exact(value, tol) or isinstance(got, (str, bool)) or got is None:
        return identical(got, value)
    return identical(got, value) or abs(float(got) - float(value)) <= tol + SLACK


def _fmt(v: Value) -> str:
    return repr(round(v, 8)) if isinstance(v, float) else repr(v)


def mismatch(name: str, got: Value, spec: Mapping, *, exact: bool = False) -> str | None:
    """The one line saying how ``got`` differs from the stored ``spec`` (None: it agrees)."""
    value, tol = spec["value"], spec["tolerance"]
    if identical(got, value) or (not exact and within(got, spec)):
        return None
    if _exact(value, tol) or exact or isinstance(got, (str, bool)) or got is None:
        return f"{name}: {_fmt(got)}, stored {_fmt(value)} (must be equal)"
    return (
        f"{name}: {_fmt(got)}, stored {_fmt(value)} +- {tol:g} ({spec.get('basis', '')}); "
        f"moved {float(got) - float(value):+.6g}"
    )


def mismatches(
    got: Mapping[str, Value], record: Mapping[str, Mapping], *, exact: bool = False
) -> list[str]:
    """One line per stored number the run lacks or moved beyond its tolerance (every digit with
    ``exact``), then one per number of the run the record lacks; empty when all agree."""
    bad = []
    for name, spec in record.items():
        if name not in got:
            bad.append(f"{name}: missing from the run (stored {_fmt(spec['value'])})")
        elif (line := mismatch(name, got[name], spec, exact=exact)) is not None:
            bad.append(line)
    bad += [
        f"{name}: {_fmt(v)} in the run, not in the record"
        for name, v in got.items()
        if name not in record
    ]
    return bad
