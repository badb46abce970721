"""The synth-grid table on hand-made runs: the right differences, per split, nested intervals, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hoilib.ordering.names import cell_name
from hoilib.errors import ConfigError
from hoilib.pipeline.grid import COMPARISONS, read_runs, summarize, table_markdown

A, B = cell_name("adapted", "raw"), cell_name("adapted", "adapted")


def _run(root: Path, split: str, world: int, shift: float, unseen=(0, 1)) -> None:
    folder = root / f"synth-grid-world_seed{world}-split_{split}"
    (folder / "metrics").mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"params": {"split": split, "world_seed": world}})
    )
    aps = []
    for s in (0, 1):
        base = [0.2, 0.4, 0.6, None]  # class 3 has no test positive
        aps.append({"method": A, "seed": s, "ap": base})
        aps.append({"method": B, "seed": s, "ap": [None if x is None else x + shift for x in base]})
    m = {"per_class_ap": aps, "unseen_classes": list(unseen)}
    (folder / "metrics" / "05_evaluation.json").write_text(json.dumps({"metrics": m}))


def test_the_table_gives_each_splits_difference_with_an_interval(tmp_path):
    _run(tmp_path, "uv", 0, 0.1)
    _run(tmp_path, "uv", 1, 0.3)
    _run(tmp_path, "rf-uc", 0, -0.05)
    out = tmp_path / "grid.json"
    table = summarize(tmp_path, out, n_boot=200)
    row = table[(table.split == "uv") & (table.column == "unseen")].iloc[0]
    assert row.comparison == COMPARISONS[0][1] and row["mean"] == pytest.approx(20.0)
    assert row.lo == pytest.approx(10.0) and row.hi == pytest.approx(30.0)  # two worlds: 10 or 30
    assert (row.worlds, row.seeds) == (2, 4)
    rf = table[(table.split == "rf-uc") & (table.column == "full")].iloc[0]
    assert rf["mean"] == pytest.approx(-5.0) and rf.lo == pytest.approx(rf.hi)  # constant shift
    rec = json.loads(out.read_text())
    assert {r["folder"] for r in rec["runs"]} == {
        "synth-grid-world_seed0-split_uv",
        "synth-grid-world_seed1-split_uv",
        "synth-grid-world_seed0-split_rf-uc",
    }
    md = table_markdown(rec)
    assert "### text-only consumer" in md and "+20.00 [+10.00, +30.00]" in md
    assert np.isfinite(table["mean"]).all()


def test_missing_runs_and_old_metrics_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no run folder"):
        read_runs(tmp_path)
    folder = tmp_path / "old"
    (folder / "metrics").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"params": {"split": "uv", "world_seed": 0}}))
    (folder / "metrics" / "05_evaluation.json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(ConfigError, match="per_class_ap"):
        read_runs(tmp_path)


def test_the_results_page_shows_a_committed_grid_record(tmp_path):
    from hoilib.pipeline.results_page import grid_section

    assert grid_section(tmp_path / "absent.json") == []
    _run(tmp_path, "uv", 0, 0.1)
    summarize(tmp_path, tmp_path / "g.json", n_boot=50)
    text = "\n".join(grid_section(tmp_path / "g.json"))
    assert "synth-grid sweep" in text and "+10.00 [+10.00, +10.00]" in text
