"""The Reproducing page's table of measured times, written from ``results/timings.json`` at build time.

The record is a list, oldest first, that benchmarks append to (``benchmarks/book_time.py``); the
page copies it, so no time on the page can drift from the measurement it came from. Newest record
of each ``what`` first, then the earlier ones. A record that cannot be shown is named on the page
instead of stopping the build.
"""

from __future__ import annotations

from pathlib import Path

from hoilib import artifacts
from hoilib.chapters.notebook import TIMINGS  # the chapters read it too (reference_time)
from hoilib.publish.results_page import escape, fill_mark

TIMINGS_MARK = "<!-- the timings: written by hoilib book from results/timings.json -->"
HEADER = [
    "| what | seconds | of which (s) | command | machine | commit, date (UTC) | notes |",
    "|" + "---|" * 7,
]


def _text(v) -> str:
    """A cell's text on one line, with MyST's specials escaped; ``-`` for nothing."""
    return (escape(v) if v is not None else "") or "-"


def _secs(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "-"
    minutes, rest = divmod(round(s), 60)
    return f"{s:g}" if s < 60 else f"{s:g} ({minutes} min {rest} s)"


def _machine(m) -> str:
    m = m if isinstance(m, dict) else {}
    cores = f"{m['cores']} CPU cores" if m.get("cores") else None
    cpu = ", ".join(str(x) for x in (m.get("cpu"), cores) if x) or None
    gpu = m.get("gpu")
    return _text(f"{gpu} ({cpu})" if gpu and cpu else gpu or cpu)


def _row(r: dict) -> str:
    stages = r.get("stages") if isinstance(r.get("stages"), dict) else {}
    parts = "; ".join(f"{k} {v:g}" if _secs(v) != "-" else f"{k} -" for k, v in stages.items())
    command = " ".join(str(r.get("command") or "").split()).replace("|", "\\|")
    code = f"`{command}`" if command and "`" not in command else _text(command or None)
    commit, date = r.get("commit"), r.get("date")
    commit = f"`{commit[:7]}`" if isinstance(commit, str) and commit.isalnum() else "-"
    cells = [
        _text(r.get("what")),
        _secs(r.get("seconds")),
        _text(parts or None),
        code,
        _machine(r.get("machine")),
        f"{commit}, {_text(date)}" if date else commit,
        _text(r.get("notes")),
    ]
    return "| " + " | ".join(cells) + " |"


def _problem(i: int, r) -> str | None:
    """Why record ``i`` cannot be a row, or None."""
    if not isinstance(r, dict):
        return f"record {i} is a {type(r).__name__}, expected an object"
    if not isinstance(r.get("what"), str) or not r["what"].strip():
        return f"record {i}: field 'what' should be a non-empty string"
    s = r.get("seconds")
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float))):
        return f"record {i}: field 'seconds' should be a number or null, got {s!r}"
    return None


def timings_markdown(path: Path = TIMINGS) -> str:
    """The section: the newest record of each ``what`` (later in the list is newer), then the rest."""
    name = _text(Path(path).name)
    records = artifacts.read_json_or_none(path)
    if not isinstance(records, list):
        return f"The record `{name}` was missing or not a JSON list when this book was built.\n"
    good = [r for i, r in enumerate(records) if _problem(i, r) is None]
    newest = {r["what"]: i for i, r in enumerate(good)}
    latest = [good[i] for i in sorted(newest.values(), reverse=True)]
    earlier = [r for i, r in reversed(list(enumerate(good))) if newest[r["what"]] != i]
    out = ["### The newest measurement of each", "", *HEADER, *map(_row, latest), ""]
    if earlier:
        out += ["### Earlier measurements, newest first", "", *HEADER, *map(_row, earlier), ""]
    bad = [p for i, r in enumerate(records) if (p := _problem(i, r))]
    if bad:
        out += [f"Not shown (`{name}`): " + "; ".join(_text(p) for p in bad) + ".", ""]
    return "\n".join(out)


def write_timings(page: Path, path: Path = TIMINGS) -> Path:
    """Put the table where the page marks it (the committed page holds only the mark)."""
    return fill_mark(page, TIMINGS_MARK, timings_markdown(path))
