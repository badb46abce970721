"""Stored outputs: the smoke profile's key numbers and a tiny bridge, within stated tolerances.

On the CPU model the pins were made on, the digits must agree (a run there is deterministic);
on another, a number may move by what another machine's rounding could move it (the tolerances
and their rule are in ``tests/pinned/smoke.json``). A change that moves a chapter's numbers
beyond that fails here even when every consistency check passes. When a change is meant to
move them: ``make pins``, and say why in the commit.
"""

from __future__ import annotations

import pytest

from hoilib import artifacts
from hoilib.machine import cpu_model
from hoilib.pipeline.key_numbers import key_numbers
from hoilib.pipeline.pins import PINNED, tiny_bridge

pytestmark = pytest.mark.slow

SAME_MACHINE_TOL = 1e-6  # on the CPU the pins were made on, a run gives the same digits


def compare(got: dict[str, float], pinned: dict, machine: str | None = None) -> list[str]:
    """One line per pinned number that moved beyond its tolerance (or is missing).

    On the CPU model the pins were made on (``machine`` equal to the record's), the run is
    deterministic, so any move is a change: the tolerance is ``SAME_MACHINE_TOL``. Elsewhere
    each number's own tolerance (its seed spread) applies.
    """
    same = machine is not None and machine == pinned.get("machine")
    bad = []
    for name, spec in pinned["numbers"].items():
        if name not in got:
            bad.append(f"{name}: missing from the run")
            continue
        tol = SAME_MACHINE_TOL if same else spec["tolerance"]
        diff = got[name] - spec["value"]
        if abs(diff) > tol:
            where = "the same CPU as the pins" if same else "another CPU"
            bad.append(
                f"{name}: {got[name]:.4f}, pinned {spec['value']:.4f} +- {tol:g} on {where} "
                f"(moved {diff:+.4f})"
            )
    return bad


@pytest.fixture(scope="module")
def pinned():
    return artifacts.read_json(PINNED, "pinned numbers (make pins writes them)")


def test_the_smoke_profiles_key_numbers_are_where_they_were_pinned(smoke_run, pinned):
    got = key_numbers(smoke_run[0])
    assert set(got) == set(pinned["numbers"]), "make pins: the key numbers changed"
    bad = compare(got, pinned, cpu_model())
    assert not bad, "numbers moved beyond their tolerance (make pins if meant):\n" + "\n".join(bad)


def test_a_tiny_bridge_gives_its_pinned_output(pinned):
    got, want = tiny_bridge(), pinned["bridge"]
    assert set(got) == set(want["values"])
    moved = {
        k: (v, want["values"][k])
        for k, v in got.items()
        if abs(v - want["values"][k]) > want["tolerance"]
    }
    assert not moved, moved


def test_compare_names_what_moved_and_by_how_much():
    pinned = {
        "numbers": {"a": {"value": 10.0, "tolerance": 0.5}, "b": {"value": 1.0, "tolerance": 0.1}}
    }
    assert compare({"a": 10.4, "b": 1.0}, pinned) == []
    bad = compare({"a": 11.0}, pinned)
    assert bad == [
        "a: 11.0000, pinned 10.0000 +- 0.5 on another CPU (moved +1.0000)",
        "b: missing from the run",
    ]
    # on the CPU the pins were made on, the digits must agree
    same = compare({"a": 10.4, "b": 1.0}, {**pinned, "machine": "cpu X"}, "cpu X")
    assert same == [
        "a: 10.4000, pinned 10.0000 +- 1e-06 on the same CPU as the pins (moved +0.4000)"
    ]
