"""Progress a person can see: kernels relay their bars to the run's progress file, and the runner
draws one line from it on a terminal (hoilib.progress, pipeline.terminal)."""

from __future__ import annotations

import io
import json
import time

import pytest

from hoilib.progress import PROGRESS_ENV, tqdm
from hoilib.run.kernels import PROGRESS_FILE
from hoilib.run.terminal import describe, live_line


def test_a_disabled_bar_reports_to_the_progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv(PROGRESS_ENV, str(path))
    assert list(tqdm(range(3), desc="pretraining", leave=False)) == [0, 1, 2]
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert recs[0]["desc"] == "pretraining" and recs[-1]["n"] == 3 and recs[-1]["total"] == 3
    path.unlink()
    list(tqdm(range(3), disable=True))  # a caller's own opt-out stays quiet
    monkeypatch.delenv(PROGRESS_ENV)
    list(tqdm(range(3)))  # disabled, nowhere to report: nothing written
    assert not path.exists()


def test_the_line_names_the_stage_and_the_time_left():
    line = describe({"desc": "training EZ-HOI", "n": 2, "total": 10, "s": 6.0}, "02_ezhoi_training")
    assert line == "[hoilib] 02_ezhoi_training: training EZ-HOI 2/10 (6 s, about 24 s left)"
    assert (
        describe({"desc": "", "n": 5, "total": None, "s": 1}, "00")
        == "[hoilib] 00: working 5 (1 s)"
    )


def test_the_runner_draws_new_progress_on_a_terminal_only(tmp_path):
    path = tmp_path / "progress.jsonl"
    # written before the chapter began: not drawn
    path.write_text(json.dumps({"desc": "old", "n": 1, "total": 2, "s": 1}) + "\n")
    out = io.StringIO()
    with live_line(path, "05_evaluation", stream=out, every=0.02, force=True):
        with open(path, "a") as f:
            f.write(json.dumps({"desc": "bridging", "n": 3, "total": 4, "s": 9.0}) + "\n")
        time.sleep(0.3)
    text = out.getvalue()
    assert "05_evaluation: bridging 3/4 (9 s, about 3 s left)" in text and "old" not in text
    assert text.endswith("\r")  # the line is erased when the chapter ends
    quiet = io.StringIO()  # not a terminal: nothing drawn
    with live_line(path, "05_evaluation", stream=quiet, every=0.02):
        time.sleep(0.05)
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_a_run_relays_its_stages_and_publishes_no_bar(smoke_run):
    run_dir = smoke_run[0]
    recs = [json.loads(x) for x in (run_dir / PROGRESS_FILE).read_text().splitlines()]
    stages = {r["desc"] for r in recs}
    assert "pretraining the small CLIP" in stages and any("EZ-HOI" in s for s in stages), stages
    for nb in (run_dir / "notebooks").glob("*.ipynb"):
        assert "it/s]" not in nb.read_text() and "pretraining the small CLIP" not in nb.read_text()
