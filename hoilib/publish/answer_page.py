"""The landing page's answer: the scorecard of the confirmatory record (else the exploratory one, said
so), then this build's one world as an example of it.

``hoilib book`` writes it where ``book/intro.md`` holds ``ANSWER_MARK``.
"""

from __future__ import annotations

from pathlib import Path

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.publish.results_page import GRID_RECORD, fill_mark

_json = artifacts.read_json_or_none


ANSWER_MARK = "<!-- the answer: written by hoilib book -->"


def answer_record() -> tuple[dict | None, str, str]:
    """(grid record, title, scope) the answer is read from: the confirmatory record when the plan's
    grid exists, else the exploratory synth-grid, said to be exploratory; (None, ...) when neither."""
    import yaml

    plan_path = REPO / "results" / "plan.yaml"
    plan = yaml.safe_load(plan_path.read_text()) if plan_path.is_file() else None
    conf = _json(REPO / "results" / f"{plan['name']}.json") if plan else None
    if conf and conf.get("rows"):
        worlds = len({r["world_seed"] for r in conf["runs"]})
        return (
            conf,
            "The confirmatory answer.",
            f"Pooled over {worlds} fresh worlds of HOI-Synth and the splits "
            f"{', '.join(sorted({r['split'] for r in conf['runs']}))}, run under the "
            "{doc}`plan <plan>` committed before them (its scope: this generated world and its small "
            "CLIP, not HICO-DET).",
        )
    grid = _json(REPO / GRID_RECORD)
    if grid and grid.get("rows") and "controls" in grid:
        worlds = sorted({r["world_seed"] for r in grid["runs"]})
        return (
            grid,
            "An exploratory answer, not the confirmatory one.",
            f"Pooled over the exploratory worlds {', '.join(map(str, worlds))} (the ones the rules "
            "were shaped on); the confirmatory worlds of the {doc}`plan <plan>` are not all run yet.",
        )
    return None, "", ""


def answer_markdown(run_dir: Path) -> str:
    """What the book finds: the scorecard of the confirmatory (else exploratory) record, then this
    build's one world as an example of it."""
    from hoilib.ordering.scorecard import scorecard_markdown

    m = _json(run_dir / "metrics" / "05_evaluation.json") or {}
    answer = (m.get("metrics") or {}).get("answer")
    parts = ["## What the book finds", ""]
    rec, title, scope = answer_record()
    if rec is not None:
        parts += [scorecard_markdown(rec, title=title, scope=scope), ""]
    parts.append(
        f"**One example: this build** (world 0, split {_split(run_dir)}, {len(set(_seeds(m)))} model "
        f"seeds; {{doc}}`chapter 5 <chapters/05_evaluation>`), which is also one cell of the "
        f"exploratory record: {answer}"
        if answer
        else "This build has no chapter 5 result yet."
    )
    return "\n".join(parts)


def _split(run_dir: Path) -> str:
    cfg = _json(run_dir / "config.json") or {}
    return str((cfg.get("params", cfg).get("world") or {}).get("split", "?")).upper()


def _seeds(m: dict) -> list:
    return [
        r.get("seed")
        for r in (m.get("metrics") or {}).get("per_seed", [])
        if r.get("seed") is not None
    ]


def write_answer(intro: Path, run_dir: Path) -> Path:
    """Put the answer where the intro marks it (the committed intro holds only the mark)."""
    return fill_mark(intro, ANSWER_MARK, answer_markdown(run_dir))
