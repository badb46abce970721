"""Code a reader can follow: ruff lint and format over the library, tests and notebooks; thin notebook cells."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_CELL_LINES, MAX_LINE = 15, 100


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "hoilib", "tests", "benchmarks"),
        ("ruff", "format", "--check", "hoilib", "tests", "benchmarks"),
        ("nbqa", "ruff", "notebooks"),
        ("nbqa", "ruff format --check", "notebooks"),
    ],
    ids=" ".join,
)
def test_ruff(cmd):
    proc = _run(*cmd)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_are_thin_and_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"{path.name}: {len(params)} parameters cells, expected one"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        assert len(lines) <= MAX_CELL_LINES, (
            f"{path.name} cell {i}: {len(lines)} lines (at most {MAX_CELL_LINES})"
        )
        long = [n for n, line in enumerate(lines, 1) if len(line) > MAX_LINE]
        assert not long, f"{path.name} cell {i}: lines {long} are longer than {MAX_LINE} characters"
        assert not cell.get("outputs") and cell.get("execution_count") is None, (
            f"{path.name} cell {i} has outputs"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_opens_its_chapter_with_one_call(path):
    code = [
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    opens = [c for c in code if "open_chapter(profile, params, chapter, overrides=overrides)" in c]
    assert len(opens) == 1 and code.index(opens[0]) == 1, (
        f"{path.name}: the cell after the parameters opens the chapter"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_live_widgets_are_skipped_in_batch_runs(path):
    """nbclient can block on a cell that opens ipywidgets comms (jupyter/nbclient#312): batch runs skip them."""
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code" and ".widget()" in "".join(cell["source"]):
            assert "skip-execution" in cell["metadata"].get("tags", []), f"{path.name} cell {i}"
