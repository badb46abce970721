"""Interactive plotly figures for the static book, and the drawn modality gap of chapter 1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from hoilib.chapters import ch1_gap
from hoilib.figures import explorer_figure, interactive, umap_fit
from hoilib.figures.figure_style import GOOD, GREY, PALETTE

CLASSES = ["ride horse", "feed horse", "hold cup", "drink with cup", "kick ball", "throw ball"]
UNSEEN = np.array([False, True, False, False, True, False])


def _sets(seed: int = 0):
    rng = np.random.default_rng(seed)
    sets = {
        "raw text": rng.normal(size=(70, 12)),
        "adapted text": rng.normal(size=(70, 12)) + 0.5,
        "model vision": rng.normal(size=(40, 12)) + 2.0,
    }
    labels = {name: rng.integers(0, len(CLASSES), len(x)) for name, x in sets.items()}
    return sets, labels


def fixed_frame(sets, n_per_set, seed, return_rows=False, **_):
    """``umap_embedding``'s frame without the fit: each set's seeded subsample at its first two
    coordinates (moved by the seed), so the plotly tests check the drawing, not UMAP."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, x in sets.items():
        x = np.asarray(x, dtype=float)
        idx = (
            rng.choice(len(x), n_per_set, replace=False)
            if len(x) > n_per_set
            else np.arange(len(x))
        )
        part = pd.DataFrame({"umap 1": x[idx, 0] + seed, "umap 2": x[idx, 1], "set": name})
        if return_rows:
            part["row"] = idx.astype(np.int64)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module", autouse=True)
def no_umap_fit():
    """The figures get ``fixed_frame``; ``test_umap_embedding_keeps_its_frame_for_current_callers``
    still runs the real fit (``umap_fit.umap_embedding`` is not patched)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(interactive, "umap_embedding", fixed_frame)
        yield


@pytest.fixture(scope="module")
def figure():
    sets, labels = _sets()
    return (
        interactive.joint_embedding(
            sets, labels, CLASSES, unseen=UNSEEN, n_per_set=30, seed=0, title="joint"
        ),
        sets,
        labels,
    )


def test_one_trace_per_group_with_class_and_seen_in_the_hover(figure):
    fig, sets, labels = figure
    groups = fig.data[: len(sets)]  # then the class menu's ring trace
    assert [tr.name for tr in groups] == list(sets) and len(fig.data) == len(sets) + 1
    assert [len(tr.x) for tr in groups] == [min(30, len(x)) for x in sets.values()]
    # the hover names the group, the class and seen/unseen; every point against its own row's class
    emb = fixed_frame(sets, n_per_set=30, seed=0, return_rows=True)
    for tr in groups:
        assert "%{fullData.name}" in tr.hovertemplate and "%{customdata[0]}" in tr.hovertemplate
        assert "%{customdata[1]}" in tr.hovertemplate
        rows = emb[emb["set"] == tr.name]["row"].to_numpy()
        # seen points first (the legend draws a trace with its first point's symbol: a circle)
        order = np.argsort(UNSEEN[labels[tr.name][rows]], kind="stable")
        want = [
            [CLASSES[c], "unseen" if UNSEEN[c] else "seen"] for c in labels[tr.name][rows][order]
        ]
        assert [list(cd) for cd in tr.customdata] == want
        x = emb[emb["set"] == tr.name]["umap 1"].to_numpy()[order]
        np.testing.assert_allclose(tr.x, x, rtol=1e-6)
        assert tr.marker.symbol[0] == 0 and tr.marker.color == PALETTE[tr.name]
    assert any(cd[1] == "unseen" for tr in groups for cd in tr.customdata)
    assert "diamonds: unseen" in fig.layout.legend.title.text


def test_the_class_menu_rings_one_class_in_every_group_on_fixed_axes(figure):
    """Issue 35: a reader picks a class and sees its points in every set; the axes do not move."""
    fig, sets, labels = figure
    groups, ring = fig.data[: len(sets)], len(fig.data) - 1
    assert len(fig.data[ring].x) == 0  # nothing ringed until a class is picked
    (menu,) = fig.layout.updatemenus
    first, *picks = menu.buttons
    assert first.args[0] == {k: [[]] for k in first.args[0]} and list(first.args[1]) == [ring]
    drawn = {c for tr in groups for c, _ in tr.customdata}
    want = sorted(drawn, key=lambda c: (not UNSEEN[CLASSES.index(c)], c))
    assert [b.label.removesuffix(" (unseen)") for b in picks] == want
    assert all(
        b.label.endswith(" (unseen)") == UNSEEN[CLASSES.index(c)]
        for b, c in zip(picks, want, strict=True)
    )
    for button, name in zip(picks, want, strict=True):
        data, traces = button.args
        assert button.method == "restyle" and list(traces) == [ring]  # the groups keep their state
        got = sorted(
            zip(data["x"][0], data["y"][0], (cd[0] for cd in data["customdata"][0]), strict=True)
        )
        mine = sorted(
            (round(float(x), 4), round(float(y), 4), tr.name)
            for tr in groups
            for x, y, cd in zip(tr.x, tr.y, tr.customdata, strict=True)
            if cd[0] == name
        )
        assert got == mine and {cd[1] for cd in data["customdata"][0]} == {name}
    x = np.concatenate([tr.x for tr in groups])
    y = np.concatenate([tr.y for tr in groups])
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x0 < x.min() and x1 > x.max() and y0 < y.min() and y1 > y.max()
    assert x1 - x0 < 1.1 * np.ptp(x) and y1 - y0 < 1.1 * np.ptp(y)


def test_joint_embedding_is_deterministic_for_a_seed(figure):
    fig, sets, labels = figure
    again = interactive.joint_embedding(
        sets, labels, CLASSES, unseen=UNSEEN, n_per_set=30, seed=0, title="joint"
    )
    assert again.to_json() == fig.to_json()
    other = interactive.joint_embedding(
        sets, labels, CLASSES, unseen=UNSEEN, n_per_set=30, seed=1, title="joint"
    )
    assert other.to_json() != fig.to_json()


def test_joint_embedding_refuses_labels_that_do_not_fit():
    sets, labels = _sets()
    with pytest.raises(ValueError, match="one class per row"):
        interactive.joint_embedding(
            sets,
            {**labels, "raw text": labels["raw text"][:5]},
            CLASSES,
            unseen=UNSEEN,
            n_per_set=30,
            seed=0,
        )
    with pytest.raises(ValueError, match="same groups"):
        interactive.joint_embedding(
            sets, {"raw text": labels["raw text"]}, CLASSES, unseen=UNSEEN, n_per_set=30, seed=0
        )


def test_umap_embedding_keeps_its_frame_for_current_callers():
    sets, _ = _sets()
    plain = umap_fit.umap_embedding(sets, n_per_set=30, seed=0)
    rows = umap_fit.umap_embedding(sets, n_per_set=30, seed=0, return_rows=True)
    assert list(plain.columns) == ["umap 1", "umap 2", "set"]
    pd.testing.assert_frame_equal(plain, rows[["umap 1", "umap 2", "set"]])
    small = rows[rows["set"] == "model vision"]["row"]  # 40 rows > 30: a subsample of distinct rows
    assert small.is_unique and small.between(0, 39).all()


def test_a_glued_figure_is_html_that_loads_plotly_from_the_book(figure):
    """What myst-nb's glue stores of ``Glued`` (IPython's formatter, as ``glue`` calls it)."""
    from IPython.core.formatters import format_display_data

    fig, sets, _ = figure
    bundle, _ = format_display_data(interactive.Glued(fig))
    assert set(bundle) == {"text/html", "application/vnd.plotly.v1+json", "text/plain"}
    html = bundle["text/html"]
    soup = BeautifulSoup(html, "html.parser")
    div = soup.select_one(f"div.{interactive.DIV_CLASS}")
    # the class menu's ring is empty until a pick: plotly draws the groups alone
    assert div is not None and div.get("id") and int(div["data-traces"]) == len(sets)
    script = soup.find("script").string
    assert f'getElementById("{div["id"]}")' in script and "Plotly.newPlot" in script
    assert "_static/plotly.min.js" in script and "data-content_root" in script
    assert not re.search(r"https?://", html), "the figure must not load anything from the network"
    # plotly.js is not inlined either: loaded once per page from _static
    assert "<script src" not in html.lower()
    fig_json = re.search(r"var fig = (\{.*\});\n", script).group(1)
    assert len(json.loads(fig_json.replace("<\\/", "</"))["data"]) == len(sets) + 1
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["name"] == "raw text"
    # two figures on one page share one plotly.js: the loader looks for the tag before adding it
    assert script.count('getElementById("hoibook-plotlyjs")') == 1


def test_figure_html_escapes_a_closing_script_tag():
    import plotly.graph_objects as go

    html = interactive.figure_html(go.Figure(go.Scatter(x=[1], y=[1], name="</script><b>x")))
    assert html.count("</script>") == 1


class _FakeExplorer:
    """What tstar_slider needs of BridgeExplorer: state(pair, t, k) -> top-k table, true class."""

    def __init__(self):
        self.cfg = SimpleNamespace(bridge=SimpleNamespace(t_start=599))
        self.true_class = {10: 1, 20: 2}
        self.ctx = SimpleNamespace(data=SimpleNamespace(unseen=UNSEEN))
        self.calls = []

    def state(self, pair, t_start, k=5):
        self.calls.append((pair, t_start))
        true = self.true_class[pair]
        order = [(true + j + t_start // 300) % len(CLASSES) for j in range(k)]
        return {
            "top": pd.DataFrame(
                {
                    "class": [CLASSES[c] for c in order],
                    # scores differ by pair and t*: a figure showing the wrong state is caught
                    "score": np.linspace(0.9, 0.1, k) ** (1 + pair / 100 + t_start / 2000),
                    "true": [c == true for c in order],
                }
            ),
            "true_class": CLASSES[true],
            "true_rank": 1 + t_start // 300,
            "cos_to_input": 1 - t_start / 1000,
        }


def _odds(ex, pair, t):
    top = ex.state(pair, t)["top"]
    return np.round(np.log(top["score"] / (1 - top["score"])).to_numpy(), 4).tolist()


PAIRS = {"feed horse (unseen)": 10, "drink with cup": 20}


def test_tstar_slider_composes_a_class_menu_with_a_slider():
    """Issue 35: the static explorer picks a class (one test pair each) and slides t*; each
    class keeps one axis for all its t*, and picking a class gives the slider that class's steps."""
    ex = _FakeExplorer()
    t_values = [0, 299, 599, 899]
    fig = explorer_figure.tstar_slider(ex, PAIRS, t_values)
    assert sorted(set(ex.calls)) == sorted((p, t) for p in (10, 20) for t in t_values)
    assert len(fig.data) == 1  # one dot trace, restyled by each control
    (slider,), (menu,) = fig.layout.sliders, fig.layout.updatemenus
    assert slider.active == 2 and [s.label for s in slider.steps] == [str(t) for t in t_values]
    assert [b.label for b in menu.buttons] == list(PAIRS) and menu.active == 0
    # it opens on the first class at the default t*; at t* = 0 the true class leads, green and ticked
    assert list(fig.data[0].x) == _odds(ex, 10, 599)
    assert fig.layout.annotations[0].text.startswith(
        "pair 10: true class feed horse (unseen class)"
    )
    data, layout = slider.steps[0].args
    assert data["marker.color"][0][0] == GOOD and set(data["marker.color"][0][1:]) == {GREY}
    assert layout["yaxis.ticktext"][0] == "\u2713 feed horse"
    for i, step in enumerate(slider.steps):  # the first class's slider shows its own pair
        data, layout = step.args
        assert data["x"] == [_odds(ex, 10, t_values[i])]
        assert f"t* = {t_values[i]}" in layout["annotations[0].text"]
        assert not any("axis.range" in k for k in layout)  # no step moves the axis
    for button, pair in zip(menu.buttons, PAIRS.values(), strict=True):
        data, layout = button.args
        assert data["x"] == [_odds(ex, pair, 599)]
        (own,) = layout["sliders"]
        assert own["active"] == 2
        assert [st["args"][0]["x"] for st in own["steps"]] == [
            [_odds(ex, pair, t)] for t in t_values
        ]
        lo, hi = layout["xaxis.range"]
        every = np.concatenate([_odds(ex, pair, t) for t in t_values])
        assert lo < every.min() and hi > every.max() and hi - lo < 1.5 * np.ptp(every)
    assert fig.layout.xaxis.range == tuple(menu.buttons[0].args[1]["xaxis.range"])
    assert "log-odds" in fig.layout.xaxis.title.text
    assert 'data-traces="1"' in interactive.figure_html(fig)
    with pytest.raises(ValueError, match="at least one pair"):
        explorer_figure.tstar_slider(ex, {}, t_values)


_CLICKS = """
window.requestAnimationFrame = function (cb) { return setTimeout(function () { cb(Date.now()); }, 16); };
window.addEventListener("load", async function () {
  const wait = ms => new Promise(r => setTimeout(r, ms));
  const gd = document.querySelector(".hoibook-plotly");
  const said = [];
  function seen() { said.push({x: gd.data[0].x, note: gd.layout.annotations[0].text,
                               range: gd.layout.xaxis.range}); }
  function press(el, type, x, y) {
    el.dispatchEvent(new MouseEvent(type, {bubbles: true, view: window, clientX: x, clientY: y, buttons: 1}));
  }
  try {
    await wait(300); seen();
    const header = gd.querySelector(".updatemenu-header");
    ["mousedown", "mouseup", "click"].forEach(t => press(header, t, 0, 0));
    await wait(300);
    const last = Array.from(gd.querySelectorAll(".updatemenu-dropdown-button")).pop();
    ["mousedown", "mouseup", "click"].forEach(t => press(last, t, 0, 0));
    await wait(500); seen();
    const tick = gd.querySelectorAll(".slider-tick-rect")[0].getBoundingClientRect();
    const rail = gd.querySelector(".slider-rail-touch-rect"), box = rail.getBoundingClientRect();
    press(rail, "mousedown", tick.left + tick.width / 2, box.top + box.height / 2);
    press(rail, "mouseup", tick.left + tick.width / 2, box.top + box.height / 2);
    await wait(500); seen();
  } catch (e) { said.push(String(e)); }
  document.getElementById("said").textContent = JSON.stringify(said);
});
"""


def test_tstar_slider_controls_compose_in_plotly_js(tmp_path):
    """In a real browser with the book's plotly.js: pick the last class from the menu, then the
    first t* on the slider; the dots are that class's pair at that t*, on that class's axis (the
    slider of the first class would show the wrong pair)."""
    import shutil

    import plotly
    from browser import chrome, chromium_or_skip

    exe = chromium_or_skip()
    ex = _FakeExplorer()
    t_values = [0, 299, 599, 899]
    fig = explorer_figure.tstar_slider(ex, PAIRS, t_values)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", tmp_path)
    (tmp_path / "clicks.js").write_text(_CLICKS)
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><script src="clicks.js"></script><script src="plotly.min.js"></script>'
        f'</head><body style="width:900px">{interactive.figure_html(fig)}<pre id="said"></pre>'
        "</body></html>"
    )
    proc = chrome(exe, tmp_path, "--dump-dom", page.as_uri())
    said = json.loads(BeautifulSoup(proc.stdout, "html.parser").find(id="said").get_text())
    assert len(said) == 3, said
    start, picked, slid = said
    assert start["x"] == _odds(ex, 10, 599) and "pair 10" in start["note"]
    span = list(menu_range := fig.layout.updatemenus[0].buttons[1].args[1]["xaxis.range"])
    assert picked["x"] == _odds(ex, 20, 599) and picked["range"] == span
    assert slid["x"] == _odds(ex, 20, 0) and "t* = 0" in slid["note"] and "pair 20" in slid["note"]
    assert slid["range"] == list(menu_range)


def test_modality_gap_drawing_is_labelled_and_deterministic():
    import matplotlib.pyplot as plt

    fig = ch1_gap.gap_drawing()
    (ax,) = fig.axes
    texts = " | ".join(t.get_text() for t in ax.texts)
    for label in (
        "image embeddings",
        "text embeddings",
        "image centroid",
        "text centroid",
        "centroid gap",
        "origin",
    ):
        assert label in texts, label
    pts = [c.get_offsets().data.copy() for c in ax.collections if len(c.get_offsets()) > 1]
    assert len(pts) == 2  # the two clouds
    image, text = pts  # drawn in this order
    centroids = [c.get_offsets().data[0] for c in ax.collections if len(c.get_offsets()) == 1][:2]
    # the marked centroids are the means
    np.testing.assert_allclose(centroids, [image.mean(axis=0), text.mean(axis=0)])
    (arrow,) = [
        t for t in ax.texts if getattr(t, "arrow_patch", None) is not None
    ]  # the gap vector
    # it points from the text centroid to the image centroid: mean(image) - mean(text)
    np.testing.assert_allclose(arrow.xy, image.mean(axis=0))
    np.testing.assert_allclose(arrow.xyann, text.mean(axis=0))
    # the points lie on the unit sphere
    np.testing.assert_allclose(np.linalg.norm(image, axis=1), 1)
    # centroids inside
    assert np.linalg.norm(image.mean(axis=0)) < 1 and np.linalg.norm(text.mean(axis=0)) < 1
    again = ch1_gap.gap_drawing()
    pts_again = [
        c.get_offsets().data for c in again.axes[0].collections if len(c.get_offsets()) > 1
    ]
    for a, b in zip(pts, pts_again, strict=True):
        np.testing.assert_array_equal(a, b)
    plt.close(fig)
    plt.close(again)
