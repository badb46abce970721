"""Stored outputs: the smoke profile's key numbers and a tiny bridge, to float rounding.

Under ``run.cpu_kernels: portable`` every x86-64 CPU gives the same digits, so a pinned number may
move only by float rounding (the tolerances and their rule are in ``tests/pinned/smoke.json``;
``hoilib.publish.pins`` says why): a change that moves a chapter's numbers, its verdicts, the
positive control's outcome or the chosen strengths fails here even when every consistency check
passes. When a change is meant to move them: ``make pins``, and say why in the commit.

``HOI_PINNED_RUN=<folder of a finished smoke run>`` checks that run instead of building one.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from hoilib import artifacts
from hoilib.publish import stored_numbers
from hoilib.publish.key_numbers import key_numbers
from hoilib.publish.pins import PINNED, run_settings, tiny_bridge
from hoilib.publish.stored_numbers import mismatches


@pytest.fixture(scope="module")
def pinned():
    return artifacts.read_json(PINNED, "pinned numbers (make pins writes them)")


@pytest.fixture(scope="module")
def pinned_run(request) -> Path:
    """A finished smoke run: ``HOI_PINNED_RUN``'s, else the session's."""
    given = os.environ.get("HOI_PINNED_RUN")
    return Path(given) if given else request.getfixturevalue("smoke_run")[0]


@pytest.mark.slow
def test_the_smoke_profiles_key_numbers_are_where_they_were_pinned(pinned_run, pinned):
    assert run_settings(pinned_run) == pinned["run"], "the pins hold another run's digits"
    bad = mismatches(key_numbers(pinned_run), pinned["numbers"])
    assert not bad, "numbers moved beyond their tolerance (make pins if meant):\n" + "\n".join(bad)


def test_a_tiny_bridge_gives_its_pinned_output(pinned):
    assert mismatches(tiny_bridge(), pinned["bridge"]) == []


def _ch5_numbers(pinned) -> list[str]:
    return [
        n
        for n, s in pinned["numbers"].items()
        if n.startswith("ch5") and s["tolerance"] is not None
    ]


def test_the_pins_cover_chapter_5s_answer_gate_and_chosen_strengths(pinned):
    names = list(pinned["numbers"])
    for part in (
        "ch5 correct - wrong Unseen",
        "ch5 fixed t*: correct - wrong Unseen, verdict",
        "ch5 answer: primary consumer",
        "ch5 control: ",
        "ch5 chosen t*: ",
        "ch5 chosen lambda: ",
        "ch2 EZ-HOI Full",
    ):
        assert any(n.startswith(part) for n in names), part
    answer = pinned["numbers"]["ch5 answer: primary consumer"]["value"]
    # with a primary consumer the answer is its contrast and verdict; without, the best on validation
    tail = "correct - wrong Unseen, verdict" if answer != "none" else "best on validation"
    assert f"ch5 answer: {tail}" in names


def test_every_chapter_5_pin_moved_by_0_01_is_the_one_line_reported(pinned):
    """A tolerance of a seed's spread let a sign flip pass; each pin must catch a 0.01 move."""
    got = {n: s["value"] for n, s in pinned["numbers"].items()}
    names = _ch5_numbers(pinned)
    assert len(names) >= 7  # the four cells of the primary consumer and its answer's three numbers
    for name in names:
        moved = copy.deepcopy(pinned["numbers"])
        moved[name]["value"] += 0.01
        bad = mismatches(got, moved)
        assert len(bad) == 1 and bad[0].startswith(f"{name}: ") and "moved -0.01" in bad[0], bad


def test_the_comparator_names_what_is_missing_extra_moved_or_different():
    record = {
        "a": {"value": 10.0, "tolerance": 0.5, "basis": "spread"},
        "b": {"value": 1.0, "tolerance": 0.1, "basis": "spread"},
        "verdict": {"value": "inconclusive", "tolerance": None, "basis": "exact"},
        "passes": {"value": False, "tolerance": None, "basis": "exact"},
        "t*": {"value": 199, "tolerance": None, "basis": "exact"},
        "nan": {"value": float("nan"), "tolerance": 1e-6, "basis": "x"},
    }
    same = {k: s["value"] for k, s in record.items()}
    assert mismatches({**same, "a": 10.5}, record) == []
    got = {**same, "a": 11.0, "verdict": "supported", "passes": 0, "t*": 200, "new": 2.0}
    del got["b"]
    assert mismatches(got, record) == [
        "a: 11.0, stored 10.0 +- 0.5 (spread); moved +1",
        "b: missing from the run (stored 1.0)",
        "verdict: 'supported', stored 'inconclusive' (must be equal)",
        "passes: 0, stored False (must be equal)",
        "t*: 200, stored 199 (must be equal)",
        "new: 2.0 in the run, not in the record",
    ]
    # --exact (hoilib verify): within the tolerance is not enough
    assert mismatches({**same, "a": 10.25}, record, exact=True) == [
        "a: 10.25, stored 10.0 (must be equal)"
    ]
    assert stored_numbers.within(10.5, record["a"]) and not stored_numbers.within(True, record["b"])


def test_key_numbers_read_the_primary_consumers_contrast_when_one_passed(tmp_path):
    """Chapter 5's answer reports the primary consumer's correct - wrong Unseen contrast and
    verdict; the smoke run has none passing, so this reads a minimal run that has one."""
    row = {"kind": "MLP", "consumer": "adapted", "denoiser": "trained MLP"}
    verdict = {"contrast": "correct - wrong", "column": "unseen", "lo": -1.0, "hi": 3.0}
    ch5 = {
        "primary_consumer": "MLP",
        "per_seed": [
            {"method": m, "unseen": u}
            for m, u in (
                ("EZ-HOI, no bridge", 20.0),
                ("EZ-HOI + adapted-trained bridge (correct order)", 24.0),
                ("EZ-HOI + raw-trained bridge (wrong order)", 21.0),
            )
        ],
        "verdict_fixed": [{**verdict, "mean": 3.0, "verdict": "inconclusive"}],
        "verdict_primary": [
            {**verdict, "column": "seen", "mean": 9.0, "verdict": "supported"},
            {**verdict, "mean": 1.25, "verdict": "supported"},
        ],
        "controls": [{"kind": "MLP", "consumer": "adapted", "passes": True}],
        "text_only": [
            {**row, "diffusion": d, "seed": 0, "t_start": 399, "lambda": 0.5}
            for d in ("adapted", "raw")
        ],
    }
    metrics = {
        "01_modality_gap": {
            "zero_shot": {"union crops": {"unseen": 30.0, "full": 31.0}},
            "gap": {"centroid_gap_norm": 0.9},
        },
        "02_ezhoi_training": {"runs": [{"model": "full", "unseen": 20.0, "full": 25.0}]},
        "05_evaluation": ch5,
    }
    (tmp_path / "metrics").mkdir()
    for name, m in metrics.items():
        (tmp_path / "metrics" / f"{name}.json").write_text(json.dumps({"metrics": m}))
    got = key_numbers(tmp_path)
    assert got["ch5 answer: primary consumer"] == "MLP"
    assert got["ch5 answer: correct - wrong Unseen"] == 1.25
    assert got["ch5 answer: correct - wrong Unseen, verdict"] == "supported"
    assert got["ch5 control: MLP on adapted text, passes"] is True
    assert got["ch5 chosen t*: MLP, wrong order, seed 0"] == 399
    assert got["ch5 correct - wrong Unseen"] == 3.0
    assert "ch5 answer: best on validation" not in got
