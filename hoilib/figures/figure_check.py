"""Can a reader read this figure in the book? Checks of a drawn matplotlib figure at the width the page shows it.

``problems(fig, renderer)`` lists what is wrong once the figure is drawn:

* tick labels of one axis whose boxes overlap or come within 2 px (names running together), and any
  other two texts drawn over each other (annotations, titles, labels);
* visible text under ``MIN_FONT_PX`` pixels high as the page shows it;
* a legend that covers drawn data (bars and other patches, lines, scatter points, error bars, images)
  of any axes it lies over.

**The width a figure is shown at.** The inline backend saves a figure as a PNG of its tight bounding box
(``bbox_inches="tight"``, padded by ``savefig.pad_inches``) at the figure's dpi, so one point of font is
``dpi / 72`` pixels of the PNG. The page scales a PNG wider than its content column down to that column
and leaves a narrower one at its own size. ``CONTENT_WIDTH_PX`` is that column, measured on a chapter
page of the built book (chapter 5 of the smoke profile, sphinx-book-theme) in headless Chromium with a
1400 px wide window (``chromium --headless --window-size=1400,900 --dump-dom`` of the page with a script
reporting ``getBoundingClientRect()``): the article is 836 px wide, 772 px inside its padding (an image
printed by a cell is shown at most 772 px wide), and a figure placed with ``{glue:figure}`` at most
756 px (the figure element's own margins): every PNG wider than that was shown 756 px wide. The smaller
of the two is used. (That window shows the page's scroll bar; with scroll bars hidden the column is 12 px
wider.)

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

from hoilib.timing import CHAPTER_ENV

# the book's content column for a figure at a 1400 px window, in CSS pixels (measured: see the docstring)
CONTENT_WIDTH_PX = 756
# the smallest text a reader reads without zooming, in pixels as the page shows it
MIN_FONT_PX = 9.0
ENV = "HOIBOOK_FIGURE_CHECK"  # file to append the JSON lines to; unset: nothing is checked
_HOOK = f"{__name__}:_watch_new_figure"
_numbers = itertools.count(1)  # figures created in this process, in order
_state = {"chapter": ""}  # the chapter watch() was told, for a kernel the runner did not start


def png_width(fig, renderer) -> float:
    """Width in pixels of the PNG the inline backend saves: the tight bounding box, padded, at the figure's dpi."""
    import matplotlib as mpl

    pad = mpl.rcParams["savefig.pad_inches"]
    return (fig.get_tightbbox(renderer).width + 2 * pad) * fig.dpi


def shown_scale(fig, renderer, column_px: float = CONTENT_WIDTH_PX) -> float:
    """How much the page scales the figure's PNG: 1 when it fits the content column, less when wider."""
    return min(1.0, column_px / png_width(fig, renderer))


def _label(t) -> str:
    text = " ".join(t.get_text().split())
    return text if len(text) <= 60 else text[:57] + "..."


def _tick_labels(ax, axis, renderer) -> list:
    """The tick labels ``axis`` draws: visible, not empty, placed within the axes along the axis."""
    if not (ax.axison and axis.get_visible()):
        return []
    box = ax.get_window_extent(renderer)
    lo, hi = (box.x0, box.x1) if axis is ax.xaxis else (box.y0, box.y1)
    out = []
    for t in axis.get_ticklabels(which="both"):
        if not (t.get_visible() and t.get_text().strip()):
            continue
        ext = t.get_window_extent(renderer)
        mid = (ext.x0 + ext.x1) / 2 if axis is ax.xaxis else (ext.y0 + ext.y1) / 2
        if lo - 1 <= mid <= hi + 1:
            out.append(t)
    return out


def _legends(fig) -> list:
    found = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return [lg for lg in found if lg is not None and lg.get_visible()]


def visible_texts(fig, renderer) -> list:
    """Every piece of text the figure draws: tick labels, axis labels, titles, annotations, legends."""
    from matplotlib.text import Text

    texts = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            texts += _tick_labels(ax, axis, renderer)
            if ax.axison and axis.get_visible():
                texts += [axis.label, axis.get_offset_text()]
        texts += [c for c in ax.get_children() if isinstance(c, Text)]
    for lg in _legends(fig):
        texts += [*lg.get_texts(), lg.get_title()]
    return [t for t in dict.fromkeys(texts) if t.get_visible() and t.get_text().strip()]


def _points_in(points, region) -> bool:
    return any(region.contains(x, y) for x, y in points)


def _data_hits(ax, region, renderer) -> bool:
    """Whether anything ``ax`` draws as data lies in ``region`` (display pixels)."""
    from matplotlib.collections import LineCollection, PathCollection

    for p in ax.patches:
        if p.get_visible() and p.get_window_extent(renderer).overlaps(region):
            return True
    for line in ax.get_lines():
        path = line.get_transform().transform_path(line.get_path())
        if not (line.get_visible() and len(path.vertices)):
            continue
        # markers alone (error bar caps): the points; a drawn line: its segments
        joined = line.get_linestyle() not in ("None", "none", "", " ")
        if _points_in(path.vertices, region) or (
            joined and path.intersects_bbox(region, filled=False)
        ):
            return True
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):  # scatter: one marker per offset
            if _points_in(coll.get_offset_transform().transform(coll.get_offsets()), region):
                return True
            continue
        filled = coll.get_fill() and not isinstance(coll, LineCollection)
        for path in coll.get_paths():
            shown = coll.get_transform().transform_path(path)
            if len(shown.vertices) and shown.intersects_bbox(region, filled=filled):
                return True
    return any(
        im.get_visible() and im.get_window_extent(renderer).overlaps(region) for im in ax.images
    )


def _small_texts(fig, renderer, texts, *, column_px) -> list[str]:
    scale = shown_scale(fig, renderer, column_px)
    out = []
    for t in texts:
        px = t.get_fontsize() * fig.dpi / 72 * scale
        if px < MIN_FONT_PX - 1e-6:
            out.append(
                f"text {_label(t)!r} is {px:.1f} px high as shown (under {MIN_FONT_PX:g} px)"
            )
    return out


def _crowded_ticks(fig, renderer) -> list[str]:
    out = []
    for k, ax in enumerate(fig.axes):
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            labels = _tick_labels(ax, axis, renderer)
            # closer than 2 px reads as one label ("EZ-HOI, no bridgeEZ-HOI, softmax ...")
            boxes = [t.get_window_extent(renderer).padded(1.0) for t in labels]
            for i, j in itertools.combinations(range(len(labels)), 2):
                if boxes[i].overlaps(boxes[j]):
                    a, b = _label(labels[i]), _label(labels[j])
                    out.append(f"axes {k}: {name} tick labels overlap: {a!r} and {b!r}")
    return out


def _overlapping_texts(fig, renderer, texts) -> list[str]:
    """Any two texts drawn over each other (annotations, titles, labels), tick label pairs left to
    ``_crowded_ticks``."""
    ticks = {
        id(t)
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        for t in _tick_labels(ax, axis, renderer)
    }
    boxes = [t.get_window_extent(renderer) for t in texts]
    out = []
    for i, j in itertools.combinations(range(len(texts)), 2):
        both_ticks = id(texts[i]) in ticks and id(texts[j]) in ticks
        if not both_ticks and boxes[i].overlaps(boxes[j]):
            out.append(f"texts overlap: {_label(texts[i])!r} and {_label(texts[j])!r}")
    return out


def _covering_legends(fig, renderer) -> list[str]:
    from matplotlib.transforms import Bbox

    out = []
    for lg in _legends(fig):
        box = lg.get_window_extent(renderer)
        for k, ax in enumerate(fig.axes):
            region = Bbox.intersection(box, ax.get_window_extent(renderer))
            if ax.get_visible() and region is not None and _data_hits(ax, region, renderer):
                names = ", ".join(_label(t) for t in lg.get_texts())
                out.append(f"axes {k}: the legend ({names}) covers drawn data")
    return out


def problems(fig, renderer, column_px: float = CONTENT_WIDTH_PX) -> list[str]:
    """What makes ``fig`` hard to read at the book's width, one sentence each (empty: readable)."""
    texts = visible_texts(fig, renderer)
    found = [
        *_small_texts(fig, renderer, texts, column_px=column_px),
        *_crowded_ticks(fig, renderer),
        *_overlapping_texts(fig, renderer, texts),
        *_covering_legends(fig, renderer),
    ]
    return list(dict.fromkeys(found))


def _title(fig) -> str:
    """A name for the figure in a report: its suptitle, else its first axes title or axis label."""
    for t in [
        *fig.texts,
        *(x for ax in fig.axes for x in (ax.title, ax.yaxis.label, ax.xaxis.label)),
    ]:
        if t.get_text().strip():
            return _label(t)
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
