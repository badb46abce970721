"""Can a reader read this figure in the book? Checks of a drawn matplotlib figure at the width the page shows it.

``problems(fig, renderer)`` lists what is wrong once the figure is drawn:

* tick labels of one axis whose boxes overlap or come within 2 px (names running together), and any
  other two texts drawn over each other (annotations, titles, labels);
* visible text under ``MIN_FONT_PX`` pixels high as the page shows it;
* a legend that covers drawn data (bars and other patches, lines, scatter points, error bars, images)
  of any axes it lies over;
* a labelled reference line (one with a legend entry, an ``axhline`` or ``axvline``) drawn on the
  axes' frame or outside it, where it cannot be seen;
* a title (an axes title or the figure's) that runs past its axes or the figure's edge;
* panels of one figure that share a colormap on different scales (the same colour, two values);
* bars of one group drawn in another order than their legend lists them (top to bottom for
  horizontal bars, left to right for vertical ones).

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

``figure_watch`` runs these checks on every figure a chapter's kernel draws.
"""

from __future__ import annotations

import itertools

# the book's content column for a figure at a 1400 px window, in CSS pixels (measured: see the docstring)
CONTENT_WIDTH_PX = 756
# the smallest text a reader reads without zooming, in pixels as the page shows it
MIN_FONT_PX = 9.0


def png_width(fig, renderer) -> float:
    """Width in pixels of the PNG the inline backend saves: the tight bounding box, padded, at the figure's dpi."""
    import matplotlib as mpl

    pad = mpl.rcParams["savefig.pad_inches"]
    return (fig.get_tightbbox(renderer).width + 2 * pad) * fig.dpi


def shown_scale(fig, renderer, column_px: float = CONTENT_WIDTH_PX) -> float:
    """How much the page scales the figure's PNG: 1 when it fits the content column, less when wider."""
    return min(1.0, column_px / png_width(fig, renderer))


def short_label(t) -> str:
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
                f"text {short_label(t)!r} is {px:.1f} px high as shown (under {MIN_FONT_PX:g} px)"
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
                    a, b = short_label(labels[i]), short_label(labels[j])
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
            out.append(f"texts overlap: {short_label(texts[i])!r} and {short_label(texts[j])!r}")
    return out


def _covering_legends(fig, renderer) -> list[str]:
    from matplotlib.transforms import Bbox

    out = []
    for lg in _legends(fig):
        box = lg.get_window_extent(renderer)
        for k, ax in enumerate(fig.axes):
            region = Bbox.intersection(box, ax.get_window_extent(renderer))
            if ax.get_visible() and region is not None and _data_hits(ax, region, renderer):
                names = ", ".join(short_label(t) for t in lg.get_texts())
                out.append(f"axes {k}: the legend ({names}) covers drawn data")
    return out


def _hidden_reference_lines(fig, renderer) -> list[str]:
    """Labelled straight lines across an axes that lie on its frame or outside it."""
    out = []
    for k, ax in enumerate(fig.axes):
        box = ax.get_window_extent(renderer)
        for line in ax.get_lines():
            label = line.get_label()
            if not line.get_visible() or label.startswith("_"):
                continue
            xy = line.get_transform().transform(line.get_xydata())
            if len(xy) < 2:
                continue
            for col, lo, hi in ((1, box.y0, box.y1), (0, box.x0, box.x1)):  # horizontal, vertical
                v = xy[:, col]
                if abs(v.max() - v.min()) < 0.5 and not (lo + 2 < v[0] < hi - 2):
                    out.append(f"axes {k}: the line {label!r} lies on the frame or outside it")
    return out


def _titles_past_edges(fig, renderer) -> list[str]:
    """Axes titles wider than their axes' span, and figure texts past the figure's edges."""
    out = []
    fig_box = fig.bbox
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        box = ax.get_window_extent(renderer)
        for t in (ax.title, ax._left_title, ax._right_title):
            if t.get_visible() and t.get_text().strip():
                ext = t.get_window_extent(renderer)
                if ext.x0 < box.x0 - 2 or ext.x1 > box.x1 + 2:
                    out.append(f"axes {k}: the title {short_label(t)!r} runs past its axes")
    for t in fig.texts:
        if t.get_visible() and t.get_text().strip():
            ext = t.get_window_extent(renderer)
            if ext.x0 < fig_box.x0 - 1 or ext.x1 > fig_box.x1 + 1:
                out.append(f"the title {short_label(t)!r} runs past the figure's edge")
    return out


def _colormaps_on_two_scales(fig) -> list[str]:
    """Images of one figure drawn with one colormap but different value ranges."""
    scales: dict[str, set] = {}
    for ax in fig.axes:
        for im in ax.images:  # colour-mapped values only: an RGB picture has no colormap
            if im.get_visible() and im.get_array() is not None and im.get_array().ndim == 2:
                lo, hi = im.get_clim()
                scales.setdefault(im.get_cmap().name, set()).add((round(lo, 6), round(hi, 6)))
    return [
        f"panels share the colormap {name!r} on different scales: "
        + ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in sorted(s))
        for name, s in scales.items()
        if len(s) > 1
    ]


def _bars_against_their_legend(fig, renderer) -> list[str]:
    """Grouped bars whose first group, as drawn, runs in another order than the legend's entries."""
    out = []
    for legend in _legends(fig):
        order = [t.get_text() for t in legend.get_texts()]
        for k, ax in enumerate(fig.axes):
            bars = {c.get_label(): c for c in ax.containers if hasattr(c, "orientation") and len(c)}
            named = [n for n in order if n in bars]
            if len(named) < 2:
                continue
            across = bars[named[0]].orientation == "vertical"  # then left to right
            at = [
                ax.transData.transform(bars[n][0].get_center())[0 if across else 1] for n in named
            ]
            drawn = sorted(range(len(at)), key=lambda i: at[i] if across else -at[i])
            if len(set(round(a) for a in at)) == len(at) and drawn != list(range(len(at))):
                out.append(f"axes {k}: bars drawn as {[named[i] for i in drawn]}, legend {named}")
    return out


def problems(fig, renderer, column_px: float = CONTENT_WIDTH_PX) -> list[str]:
    """What makes ``fig`` hard to read at the book's width, one sentence each (empty: readable)."""
    texts = visible_texts(fig, renderer)
    found = [
        *_small_texts(fig, renderer, texts, column_px=column_px),
        *_crowded_ticks(fig, renderer),
        *_overlapping_texts(fig, renderer, texts),
        *_covering_legends(fig, renderer),
        *_hidden_reference_lines(fig, renderer),
        *_titles_past_edges(fig, renderer),
        *_colormaps_on_two_scales(fig),
        *_bars_against_their_legend(fig, renderer),
    ]
    return list(dict.fromkeys(found))
