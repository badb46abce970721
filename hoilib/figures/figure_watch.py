"""Every figure a chapter's kernel draws, checked (``figure_check.problems``) and reported as it is drawn.

``watch(chapter)``, called by ``open_chapter``, checks every pyplot figure a chapter's kernel draws when the
environment variable ``HOIBOOK_FIGURE_CHECK`` names a file: one JSON line per figure (chapter, the
figure's number in the kernel, the cell's execution count, a title, the PNG width, its problems), and one
more whenever a later draw of the same figure finds new problems. The test of the smoke book sets it.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from hoilib.figures.figure_check import png_width, problems, short_label
from hoilib.timing import CHAPTER_ENV

ENV = "HOIBOOK_FIGURE_CHECK"  # file to append the JSON lines to; unset: nothing is checked
_HOOK = f"{__name__}:_watch_new_figure"
_numbers = itertools.count(1)  # figures created in this process, in order
_state = {"chapter": ""}  # the chapter watch() was told, for a kernel the runner did not start


def _title(fig) -> str:
    """A name for the figure in a report: its suptitle, else its first axes title or axis label."""
    for t in [
        *fig.texts,
        *(x for ax in fig.axes for x in (ax.title, ax.yaxis.label, ax.xaxis.label)),
    ]:
        if t.get_text().strip():
            return short_label(t)
    return ""


def _cell() -> int | None:
    try:
        from IPython import get_ipython

        return getattr(get_ipython(), "execution_count", None)
    except ImportError:
        return None


def _watch_new_figure(fig) -> None:
    """``figure.hooks`` entry: check the new figure at each of its draws (``draw_event``)."""
    number, reported, drawn = next(_numbers), set(), []

    def on_draw(event) -> None:
        try:
            found = problems(fig, event.renderer)
            width = round(png_width(fig, event.renderer))
        except Exception as err:  # a broken check must show in the report, not stop the chapter
            found, width = [f"the figure check failed: {type(err).__name__}: {err}"], None
        new = [p for p in found if p not in reported]
        if drawn and not new:
            return
        drawn.append(True)
        reported.update(new)
        record = {
            "chapter": os.environ.get(CHAPTER_ENV) or _state["chapter"],
            "figure": number,
            "cell": _cell(),
            "title": _title(fig),
            "png_width": width,
            "problems": new,
        }
        with open(os.environ[ENV], "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    fig.canvas.mpl_connect("draw_event", on_draw)


def watch(chapter: str) -> None:
    """Check every pyplot figure this process creates from now on, when ``HOIBOOK_FIGURE_CHECK`` names a file."""
    if not os.environ.get(ENV):
        return
    import matplotlib as mpl

    Path(os.environ[ENV]).parent.mkdir(parents=True, exist_ok=True)
    _state["chapter"] = chapter
    if _HOOK not in mpl.rcParams["figure.hooks"]:
        mpl.rcParams["figure.hooks"] = [*mpl.rcParams["figure.hooks"], _HOOK]
