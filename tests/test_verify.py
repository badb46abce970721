"""``hoilib verify``: the published run passes, a perturbed one fails (exit 1) and says which number."""

from __future__ import annotations

import json
import shutil

import pytest

from hoilib.cli import main
from hoilib.config import REPO
from hoilib.pipeline.verify import run_numbers

pytestmark = pytest.mark.slow
GRID = REPO / "results" / "synth-grid.json"


@pytest.fixture(scope="module")
def published(smoke_run, tmp_path_factory):
    """The smoke run as 'the published build': its record, and a copy of its metrics to perturb."""
    run_dir = smoke_run[0]
    record = tmp_path_factory.mktemp("record") / "published.json"
    assert (
        main(
            [
                "verify",
                "--write",
                "--run",
                str(run_dir),
                "--grid",
                str(GRID),
                "--record",
                str(record),
            ]
        )
        == 0
    )
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


def test_the_published_run_passes_digit_for_digit(published, capsys):
    run_dir, record = published
    names = [n.name for n in run_numbers(run_dir)]
    assert len(names) == len(set(names)) and len(names) > 20  # one line per number, none twice
    args = ["verify", "--run", str(run_dir), "--record", str(record)]
    assert main([*args, "--grid", str(GRID), "--exact"]) == 0
    out = capsys.readouterr().out
    assert (
        " 0 outside (XX)" in out and "ch1: frozen CLIP, Unseen mAP" in out and "grid pooled" in out
    )


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
    assert main(["verify", "--run", str(yours), "--record", str(record)]) == 1
    out = capsys.readouterr().out
    assert "XX" in out and "outside: ch1: frozen CLIP, Unseen mAP" in out


def test_a_verdict_that_differs_fails_whatever_its_numbers(published, tmp_path, capsys):
    run_dir, record = published
    yours = _copy(run_dir, tmp_path)

    def flip(m):
        m["verdict_fixed"][0]["verdict"] = "shown"

    _edit(yours, "05_evaluation", flip)
    assert main(["verify", "--run", str(yours), "--record", str(record)]) == 1
    assert "verdict" in capsys.readouterr().out.split("outside:")[1]


def test_a_run_without_metrics_is_one_line(published, tmp_path, capsys):
    assert main(["verify", "--run", str(tmp_path), "--record", str(published[1])]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "make book" in err
