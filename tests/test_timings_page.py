"""Measured times live in results/timings.json, and the Reproducing page is written from it.

The page's table is generated at build time (never copied by hand), the benchmark appends to the
record, and the README stays a short page for users: no timing logs, no commits, no machine paths.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from hoilib.errors import HoiBookError
from hoilib.publish import book, timings_page
from hoilib.publish.timings_page import TIMINGS, TIMINGS_MARK, timings_markdown, write_timings

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _record(what: str, seconds, commit: str = "abc1234", notes: str | None = None) -> dict:
    return {
        "what": what,
        "seconds": seconds,
        "stages": None,
        "command": "make book",
        "machine": {"cpu": "Some CPU", "cores": 2},
        "commit": commit,
        "date": None,
        "notes": notes,
    }


def _tables(text: str) -> tuple[str, str]:
    """The page's two tables: newest of each, then the earlier ones ("" when there are none)."""
    newest, _, earlier = text.partition("### Earlier measurements")
    return newest, earlier


def test_the_committed_record_is_a_list_of_complete_records():
    records = json.loads(TIMINGS.read_text(encoding="utf-8"))
    assert isinstance(records, list) and records
    fields = {"what", "seconds", "stages", "command", "machine", "commit", "date", "notes"}
    for i, r in enumerate(records):
        assert set(r) == fields, (i, sorted(set(r) ^ fields))
        assert set(r["machine"]) >= {"cpu", "cores"}, i
        assert r["commit"] is None or re.fullmatch(r"[0-9a-f]{7,40}", r["commit"]), i


def test_the_table_is_written_from_the_json(tmp_path):
    copy = tmp_path / "timings.json"
    shutil.copy(TIMINGS, copy)
    before = timings_markdown(copy)
    records = json.loads(copy.read_text(encoding="utf-8"))
    records[-1]["seconds"] = 12345.6  # the newest record of its kind
    records[-1]["commit"] = "fedcba9"
    copy.write_text(json.dumps(records), encoding="utf-8")
    after = timings_markdown(copy)
    assert after != before
    newest, _ = _tables(after)
    assert "12345.6 (205 min 46 s)" in newest and "`fedcba9`" in newest
    assert "12345.6" not in before


def test_newest_of_each_what_first_then_the_rest(tmp_path):
    path = tmp_path / "timings.json"
    records = [
        _record("make book", 500, "1111111"),
        _record("make test", 300, "2222222"),
        _record("make book", 400, "3333333", notes="the newer one"),
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    newest, earlier = _tables(timings_markdown(path))
    assert "`3333333`" in newest and "`2222222`" in newest and "`1111111`" not in newest
    assert newest.index("`3333333`") < newest.index("`2222222`")
    assert "`1111111`" in earlier and "500 (8 min 20 s)" in earlier


def test_a_bad_record_is_named_on_the_page_not_fatal(tmp_path):
    path = tmp_path / "timings.json"
    records = [_record("make book", 400), _record("x", "fast"), "oops", _record("", 1)]
    path.write_text(json.dumps(records), encoding="utf-8")
    text = timings_markdown(path)
    assert "record 1: field 'seconds' should be a number or null" in text
    assert "record 2 is a str, expected an object" in text
    assert "record 3: field 'what' should be a non-empty string" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "| what |" not in line]
    assert len(rows) == 1 and "400 (6 min 40 s)" in rows[0]
    path.write_text("{}", encoding="utf-8")
    assert "not a JSON list" in timings_markdown(path)


def test_a_cell_cannot_break_the_table(tmp_path):
    path = tmp_path / "timings.json"
    rec = _record("a | b", 1.5, notes="x | y <z>")
    rec["command"] = "cmd | tee log"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    row = [line for line in timings_markdown(path).splitlines() if "1.5" in line][0]
    assert row.count(" | ") == 6
    assert "a \\| b" in row and "`cmd \\| tee log`" in row and "\\<z\\>" in row


def test_the_book_build_puts_the_table_where_reproduce_marks_it(tmp_path):
    page = REPO / "book" / "reproduce.md"
    assert page.read_text(encoding="utf-8").count(TIMINGS_MARK) == 1
    copy = tmp_path / "reproduce.md"
    shutil.copy(page, copy)
    write_timings(copy)
    text = copy.read_text(encoding="utf-8")
    assert TIMINGS_MARK not in text and timings_markdown(TIMINGS) in text
    # stage_book writes it before it looks for the executed chapters (none here)
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(HoiBookError, match="executed notebooks missing"):
        book.stage_book(run, runs_root=tmp_path / "no-runs")
    staged = (run / "_book_src" / "book" / "reproduce.md").read_text(encoding="utf-8")
    assert TIMINGS_MARK not in staged and "### The newest measurement of each" in staged
    assert timings_page.TIMINGS == REPO / "results" / "timings.json"


@pytest.fixture(scope="module")
def book_time():
    path = REPO / "benchmarks" / "book_time.py"
    spec = importlib.util.spec_from_file_location("book_time_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    if sys.path and sys.path[0] == str(REPO):
        sys.path.pop(0)


def _bench_result() -> dict:
    phase = {"wall_s": 300.0, "peak_rss_mib": 1500.0, "chapters_s": 290.0, "stages_s": {"UMAP": 30}}
    chapters = {"00_hoi_synth.ipynb": {"seconds": 70.0}, "05_evaluation.ipynb": {"seconds": 80.5}}
    return {
        "profile": "synth",
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "machine": {
            "cpu": "Test CPU",
            "logical_cpus": 4,
            "cores": 2,
            "load_average_at_start": [0.5],
            "load_average_at_end": [1.0],
        },
        "started": "2030-01-02T03:04:05Z",
        "cold": {**phase, "chapters": chapters},
        "warm": {**phase, "wall_s": 40.0, "chapters": {}},
        "book": {"wall_s": 3.0, "peak_rss_mib": 200.0},
    }


def test_the_benchmark_appends_its_record(tmp_path, book_time):
    path = tmp_path / "timings.json"
    path.write_text(json.dumps([_record("older", 1.0)]), encoding="utf-8")
    rec = book_time.timing_record(_bench_result())
    book_time.append_timing(path, rec)
    records = json.loads(path.read_text(encoding="utf-8"))
    assert [r["what"] for r in records] == ["older", rec["what"]]
    assert rec["seconds"] == 300.0 and rec["date"] == "2030-01-02T03:04:05Z"
    assert rec["stages"] == {"chapter 0": 70.0, "chapter 5": 80.5, "warm run": 40.0, "HTML": 3.0}
    assert rec["machine"] == {"cpu": "Test CPU", "cores": 2}
    newest, _ = _tables(timings_markdown(path))
    assert "`0123456`, 2030-01-02T03:04:05Z" in newest and "Test CPU, 2 CPU cores" in newest
    assert not list(tmp_path.glob(".*.tmp"))
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(HoiBookError, match="expected a JSON list"):
        book_time.append_timing(path, rec)


def test_the_readme_is_short_and_names_no_machine_path_or_commit():
    text = README.read_text(encoding="utf-8")
    assert text.count("\n") <= 150
    paths = re.findall(r"(?<![\w.~-])/(?:home|work|tmp|root|Users|mnt|opt|srv|var)/\S*", text)
    assert not paths, paths
    assert not re.findall(r"[A-Za-z]:\\", text)
    commits = re.findall(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", text)
    assert not commits, f"commit logs belong in results/timings.json: {commits}"
