"""The landing page's answer: the scorecard of the confirmatory record (else the exploratory one, said
so), then this build's one world as an example of it.

``hoilib book`` writes it where ``book/intro.md`` holds ``ANSWER_MARK``.
"""

from __future__ import annotations

from pathlib import Path

from hoilib import artifacts
from hoilib.publish.results_page import fill_mark

_json = artifacts.read_json_or_none


ANSWER_MARK = "<!-- the answer: written by hoilib book -->"


def answer_markdown(run_dir: Path) -> str:
    """What the book finds: the scorecard of the confirmatory (else exploratory) record, then this
    build's one world as an example of it."""
    from hoilib.ordering.scorecard import answer_record, scorecard_markdown

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
