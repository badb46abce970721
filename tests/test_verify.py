"""``hoilib verify``: the committed record has the shape ``--write`` gives; a run passes its own
record, a perturbed one fails (exit 1) and says which number; another profile is refused in one line."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from hoilib import artifacts
from hoilib.cli import _parser, main
from hoilib.config import REPO, resolve
from hoilib.publish.verify import SINGLE_RUN_SHIFT, Number, grid_numbers, run_numbers

GRID = REPO / "results" / "synth-grid.json"
PUBLISHED = REPO / "results" / "published.json"


@pytest.fixture(scope="module")
def committed():
    return artifacts.read_json(PUBLISHED, "the published record")


@pytest.fixture(scope="module")
def published(smoke_run, tmp_path_factory):
    """The smoke run as 'the published build': its record, and a copy of its metrics to perturb."""
    run_dir = smoke_run[0]
    record = tmp_path_factory.mktemp("record") / "published.json"
    line = ["verify", "--write", "--run", str(run_dir), "--grid", str(GRID)]
    assert main([*line, "--record", str(record)]) == 0
    return run_dir, record


def _copy(run_dir, tmp_path):
    out = tmp_path / "yours"
    shutil.copytree(run_dir / "metrics", out / "metrics")
    shutil.copy(run_dir / "provenance.json", out / "provenance.json")
    return out


def _edit(run, chapter, change):
    path = run / "metrics" / f"{chapter}.json"
    data = json.loads(path.read_text())
    change(data["metrics"])
    path.write_text(json.dumps(data))


def _shift_of(name: str) -> float:
    """The single-run shift ``run_numbers`` gives a number of this name."""
    key = "gap" if name.endswith("centroid gap") else name.rsplit(", ", 1)[1].split()[0].lower()
    return SINGLE_RUN_SHIFT[key]


def test_the_committed_record_is_the_synth_profiles_with_each_tolerance_by_its_rule(committed):
    """What ``hoilib verify --write`` gives for the synth profile, read from the committed file
    (the synth book is too slow to build here): its profile is the one ``make verify`` checks,
    every number carries the fields and the tolerance its basis names, and the grid part is
    exactly what the committed synth-grid record gives."""
    assert committed["run"]["profile"] == "synth"
    assert REPO / _parser().parse_args(["verify"]).run == Path(resolve("synth").run.run_dir)
    keys = {f.name for f in fields(Number)}
    seeds = len(resolve("synth").ezhoi.seeds)
    numbers = committed["numbers"]
    names = [n["name"] for n in numbers]
    assert len(names) == len(set(names)) and len(names) > 20
    for n in numbers:
        assert set(n) == keys, n
        tol, basis = n["tolerance"], n["basis"]
        if basis == "exact":
            assert tol is None and isinstance(n["value"], (str, bool)), n
        elif basis == "single-run shift":
            assert tol == _shift_of(n["name"]), n
        elif basis.startswith("t-interval"):
            assert basis == f"t-interval over {seeds} model seeds" and tol > _shift_of(n["name"])
        else:
            assert basis == "published 95% interval" and tol > 0, n
    for prefix in ("ch1: ", "ch2 model: ", "ch5: ", "ch5 fixed t*: ", "ch5 validated: "):
        assert any(name.startswith(prefix) for name in names), prefix
    assert any(re.match(r"ch5 control: .+, passes$", name) for name in names)
    grid = artifacts.read_json(GRID, "synth-grid record")
    assert committed["grid"]["commits"] == grid["commits"]
    assert committed["grid"]["numbers"] == [asdict(n) for n in grid_numbers(GRID)]


def test_another_profiles_run_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "metrics").mkdir()  # never read: the profile is refused first
    (tmp_path / "provenance.json").write_text(json.dumps({"profile": "smoke"}))
    assert main(["verify", "--run", str(tmp_path), "--record", str(PUBLISHED)]) == 1
    out = capsys.readouterr()
    err = out.err.strip()
    assert not out.out and err.count("\n") == 0 and "Traceback" not in err
    assert "profile 'smoke'" in err and "'synth' profile's numbers" in err


@pytest.mark.slow
def test_a_smoke_run_against_the_published_synth_record_is_one_line(smoke_run, capsys):
    assert main(["verify", "--run", str(smoke_run[0]), "--record", str(PUBLISHED)]) == 1
    out = capsys.readouterr()
    assert not out.out and out.err.count("\n") == 1 and "profile 'smoke'" in out.err


@pytest.mark.slow
def test_the_committed_record_names_what_verify_writes(published, committed):
    """The names ``--write`` gives a smoke run are the committed record's, but for the control's
    validation classes (the smoke world holds no pseudo-unseen classes out: 'seen')."""
    written = artifacts.read_json(published[1], "record")
    assert set(written) - {"written_utc"} == set(committed) - {"written_utc"}
    assert set(written["run"]) == set(committed["run"])

    def names(numbers):
        return [re.sub(r" \((seen|pseudo-unseen)\)", " (<val>)", n["name"]) for n in numbers]

    assert names(written["numbers"]) == names(committed["numbers"])


@pytest.mark.slow
def test_a_run_passes_its_own_record_digit_for_digit(published, capsys):
    run_dir, record = published
    names = [n.name for n in run_numbers(run_dir)]
    assert len(names) == len(set(names)) and len(names) > 20  # one line per number, none twice
    args = ["verify", "--run", str(run_dir), "--record", str(record)]
    assert main([*args, "--grid", str(GRID), "--exact"]) == 0
    out = capsys.readouterr().out
    assert (
        " 0 outside (XX)" in out and "ch1: frozen CLIP, Unseen mAP" in out and "grid pooled" in out
    )


@pytest.mark.slow
def test_a_number_moved_past_its_tolerance_fails(published, tmp_path, capsys):
    run_dir, record = published
    yours = _copy(run_dir, tmp_path)

    def shift(by):
        def change(m):
            m["zero_shot"]["union crops"]["unseen"] += by

        return change

    _edit(yours, "01_modality_gap", shift(0.5))  # within the measured single-run shift (0.76)
    assert main(["verify", "--run", str(yours), "--record", str(record)]) == 0
    assert main(["verify", "--run", str(yours), "--record", str(record), "--exact"]) == 1
    _edit(yours, "01_modality_gap", shift(0.5))  # now 1.0 off: outside
    capsys.readouterr()
    assert main(["verify", "--run", str(yours), "--record", str(record)]) == 1
    outside = [x for x in capsys.readouterr().out.splitlines() if x.startswith("outside: ")]
    assert len(outside) == 1 and outside[0].startswith("outside: ch1: frozen CLIP, Unseen mAP: ")


@pytest.mark.slow
def test_a_verdict_that_differs_fails_whatever_its_numbers(published, tmp_path, capsys):
    run_dir, record = published
    yours = _copy(run_dir, tmp_path)

    def flip(m):
        m["verdict_fixed"][0]["verdict"] = "shown"

    _edit(yours, "05_evaluation", flip)
    assert main(["verify", "--run", str(yours), "--record", str(record)]) == 1
    outside = [x for x in capsys.readouterr().out.splitlines() if x.startswith("outside: ")]
    assert len(outside) == 1 and ", verdict: 'shown', stored " in outside[0]


def test_a_run_without_metrics_is_one_line(tmp_path, capsys):
    assert main(["verify", "--run", str(tmp_path), "--record", str(PUBLISHED)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "make book" in err
