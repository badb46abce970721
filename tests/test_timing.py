"""The stage timers the book benchmark reads: one whole JSON line per block, and nothing unasked."""

from __future__ import annotations

import json

import pytest

from hoilib.timing import CHAPTER_ENV, LOG_ENV, timed


def records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_line_with_the_chapter(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv(CHAPTER_ENV, "02_ezhoi")
    with timed("EZ-HOI training"):
        pass
    text = log.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 1
    (rec,) = records(log)
    assert set(rec) == {"stage", "seconds", "chapter"}
    assert rec["stage"] == "EZ-HOI training" and rec["chapter"] == "02_ezhoi"
    assert isinstance(rec["seconds"], float) and 0 <= rec["seconds"] < 5


def test_chapter_is_null_outside_a_run(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.delenv(CHAPTER_ENV, raising=False)
    with timed("pretraining"):
        pass
    assert records(log)[0]["chapter"] is None


def test_nothing_without_the_log_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(LOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with timed("pretraining"):
        pass
    assert not any(tmp_path.iterdir())  # no log written anywhere it could land
    assert list(tmp_path.iterdir()) == []


def test_two_uses_append_two_lines(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    log.write_text('{"stage": "earlier", "seconds": 1.0, "chapter": null}\n', encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv(CHAPTER_ENV, "03_diffusion")
    with timed("diffusion training"):
        pass
    with timed("UMAP"):
        pass
    assert [r["stage"] for r in records(log)] == ["earlier", "diffusion training", "UMAP"]


def test_a_failing_block_is_recorded_and_raises(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(LOG_ENV, str(log))
    monkeypatch.setenv(CHAPTER_ENV, "01_world")
    with pytest.raises(RuntimeError, match="crop missing"):
        with timed("feature extraction"):
            raise RuntimeError("crop missing")
    (rec,) = records(log)
    assert rec["stage"] == "feature extraction" and rec["chapter"] == "01_world"
