"""Figures a reader can read (issue 22, item 2): the check on small figures, and every figure of the smoke book."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from hoilib.figures import figure_check, figure_watch


def _problems(fig) -> list[str]:
    """The check as the inline backend meets it: a draw of the figure, then the check with its renderer."""
    fig.canvas.draw()
    try:
        return figure_check.problems(fig, fig.canvas.get_renderer())
    finally:
        plt.close(fig)


def _bars(figsize=(6, 3)):
    fig, ax = plt.subplots(figsize=figsize)
    ax.bar([0, 1, 2], [3, 5, 4], label="mAP")
    ax.set_xticks([0, 1, 2], ["one", "two", "three"])
    ax.set_xlabel("method")
    return fig, ax


def test_a_clean_figure_passes():
    fig, ax = _bars()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes
    fig.tight_layout()
    assert _problems(fig) == []


def test_overlapping_tick_labels_fail():
    fig, ax = _bars()
    ax.set_xticks(
        [0, 1, 2], ["EZ-HOI, no bridge" * 2, "EZ-HOI, softmax at CLIP's temperature", "x"]
    )
    found = _problems(fig)
    assert any("x tick labels overlap" in p and "softmax" in p for p in found), found


def test_small_text_on_a_wide_figure_fails():
    fig, ax = _bars(figsize=(16, 3))
    ax.set_xlabel("method", fontsize=6)
    fig.tight_layout()
    found = _problems(fig)
    # 6 pt at 100 dpi is 8.3 px in the PNG, which the page then shrinks by about half
    assert any(p.startswith("text 'method' is") for p in found), found
    # the same text on a figure the page shows at its own size is 8.3 px: still too small
    fig, ax = _bars()
    ax.set_xlabel("method", fontsize=6)
    assert any(p.startswith("text 'method' is 8.3 px") for p in _problems(fig))


def test_texts_drawn_over_each_other_fail():
    fig, ax = _bars()
    ax.annotate("α = 0.25", (1, 5), xytext=(6, 6), textcoords="offset points")
    ax.annotate("α = 0.5", (1.02, 5), xytext=(6, 6), textcoords="offset points")
    found = _problems(fig)
    assert found == ["texts overlap: 'α = 0.25' and 'α = 0.5'"], found


def test_the_png_width_is_the_tight_bounding_box():
    fig, ax = _bars(figsize=(10, 3))
    ax.set_position([0.3, 0.3, 0.3, 0.3])  # wide white margins, which bbox_inches="tight" cuts
    fig.canvas.draw()
    width = figure_check.png_width(fig, fig.canvas.get_renderer())
    assert width < 0.6 * 10 * fig.dpi
    assert figure_check.shown_scale(fig, fig.canvas.get_renderer()) == 1.0
    plt.close(fig)


def test_a_legend_over_bars_fails_and_beside_them_passes():
    fig, ax = _bars()
    ax.legend(loc="center")
    found = _problems(fig)
    assert any("legend (mAP) covers drawn data" in p for p in found), found
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.scatter([0.1], [0.9], label="point")
    ax.legend(loc="upper left")  # over the point, not the line
    assert any("covers drawn data" in p for p in _problems(fig))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.axhline(0.5, label="baseline")  # two vertices at the ends: the segment between them counts
    ax.set_ylim(0, 1)
    ax.legend(loc="center")
    assert any("covers drawn data" in p for p in _problems(fig))


def test_watch_writes_one_line_per_figure(tmp_path, monkeypatch):
    report = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figure_watch.ENV, str(report))
    monkeypatch.setenv("HOI_CHAPTER", "09_test")
    monkeypatch.setitem(matplotlib.rcParams, "figure.hooks", [])
    figure_watch.watch("09_test")
    figure_watch.watch("09_test")  # twice: one hook
    assert len(matplotlib.rcParams["figure.hooks"]) == 1
    fig, ax = _bars()
    ax.set_xlabel("method", fontsize=5)
    fig.savefig(tmp_path / "a.png", bbox_inches="tight")  # two draws: one line
    fig.savefig(tmp_path / "b.png", bbox_inches="tight")
    plt.close(fig)
    (record,) = [json.loads(line) for line in report.read_text().splitlines()]
    assert record["chapter"] == "09_test" and record["png_width"] > 0
    assert [p.split(" is ")[0] for p in record["problems"]] == ["text 'method'"]


@pytest.mark.slow
def test_every_figure_of_the_smoke_book_is_readable(smoke_run, figure_report):
    """Each matplotlib figure the chapters drew, checked in their kernels at the width the page shows it."""
    assert figure_report.is_file(), (
        "no figure was checked: figure_watch.watch did not run in the kernels"
    )
    records = [json.loads(line) for line in figure_report.read_text().splitlines()]
    chapters = {r["chapter"] for r in records}
    assert len(chapters) >= 5 and len({(r["chapter"], r["figure"]) for r in records}) >= 15
    found = [
        f"{r['chapter']}, figure {r['figure']} (cell [{r['cell']}], {r['title']!r}, "
        f"{r['png_width']} px wide): {p}"
        for r in records
        for p in r["problems"]
    ]
    assert not found, "figures a reader cannot read:\n" + "\n".join(found)


def test_a_reference_line_on_the_frame_fails_and_inside_passes():
    """Issue 35: chapter 5's +3.1 line lay on the top frame, where it cannot be seen."""
    for top, bad in ((3.1, True), (4.0, False)):
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot([0, 1], [0, 2])
        ax.axhline(3.1, ls="--", label="the design document's size (+3.1)")
        ax.set_ylim(0, top)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False)
        fig.tight_layout()
        found = [p for p in _problems(fig) if "lies on the frame" in p]
        assert bool(found) is bad, (top, found)


def test_a_title_past_its_axes_fails():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].set_title("a title much longer than this small panel is wide, running over the next")
    axes[1].set_title("short")
    fig.tight_layout()
    found = _problems(fig)
    assert any("axes 0: the title" in p and "runs past its axes" in p for p in found), found
    assert not any("axes 1: the title" in p for p in found)


def test_panels_with_one_colormap_on_two_scales_fail():
    import numpy as np

    for scales, bad in (((2.5, 5.0), True), ((5.0, 5.0), False)):
        fig, axes = plt.subplots(1, 2, figsize=(6, 3))
        for ax, lim in zip(axes, scales, strict=True):
            ax.imshow(np.arange(4.0).reshape(2, 2) - 1.5, cmap="RdBu", vmin=-lim, vmax=lim)
        fig.tight_layout()
        found = [p for p in _problems(fig) if "colormap" in p]
        assert bool(found) is bad, (scales, found)


def test_pictures_in_panels_are_not_colour_scales():
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(np.zeros((4, 4, 3), np.uint8))
    axes[1].imshow(np.full((4, 4, 3), 200, np.uint8))
    fig.tight_layout()
    assert [p for p in _problems(fig) if "colormap" in p] == []


def test_bars_drawn_against_their_legend_fail():
    """Issue 35: chapter 5's gap-cost figure listed its bars in the legend in the reverse of the
    order drawn (two panels sharing y, each inverting it: inverted twice, not at all)."""
    import numpy as np

    for invert_twice, bad in ((True, True), (False, False)):
        fig, axes = plt.subplots(1, 2, figsize=(6, 3), sharey=True)
        for ax in axes:
            for k, name in enumerate(("first", "second", "third")):
                ax.barh(np.arange(2) + (k - 1) * 0.27, [1, 2], height=0.27, label=name)
            if invert_twice or ax is axes[0]:
                ax.invert_yaxis()
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3)
        fig.tight_layout(rect=(0, 0, 1, 0.85))
        found = [p for p in _problems(fig) if "legend" in p and "bars drawn" in p]
        assert bool(found) is bad, (invert_twice, found)
    fig, ax = plt.subplots(figsize=(4, 3))  # vertical bars: left to right
    for k, name in enumerate(("a", "b")):
        ax.bar(np.arange(2) - k * 0.3, [1, 2], width=0.3, label=name)  # drawn b, a
    ax.legend(loc="upper left")
    assert any("bars drawn as ['b', 'a']" in p for p in _problems(fig))


def test_the_gap_cost_bars_run_as_their_legend():
    import pandas as pd

    from hoilib.figures import ordering_figures

    acc = dict(zip(ordering_figures.ACC, (0.9, 0.5, 0.6), strict=True))
    rows = [
        {"consumer": space, "kind": kind, **acc}
        for space in ("adapted", "raw")
        for kind in ("Gaussian", "MLP", "linear")
    ]
    fig = ordering_figures.gap_cost(pd.DataFrame(rows))
    assert [p for p in _problems(fig) if "bars drawn" in p] == []
    ax = fig.axes[0]
    top = ax.transData.transform((0, 0))[1] > ax.transData.transform((0, 1))[1]
    assert top  # the first consumer on top
