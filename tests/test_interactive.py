"""Interactive plotly figures for the static book, and the drawn modality gap of chapter 1."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from hoilib.chapters import ch1_gap
from hoilib.figures import explorer_figure, interactive, umap_fit
from hoilib.figures.figure_style import GOOD, PALETTE

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
    assert [tr.name for tr in fig.data] == list(sets)
    assert [len(tr.x) for tr in fig.data] == [min(30, len(x)) for x in sets.values()]
    # the hover names the group, the class and seen/unseen; every point against its own row's class
    emb = fixed_frame(sets, n_per_set=30, seed=0, return_rows=True)
    for tr in fig.data:
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
    assert any(cd[1] == "unseen" for tr in fig.data for cd in tr.customdata)
    assert "diamonds: unseen" in fig.layout.legend.title.text


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


def test_show_gives_html_that_loads_plotly_from_the_book(figure, monkeypatch):
    fig, sets, _ = figure
    shown = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    interactive.show(fig)
    ((bundle, raw),) = shown
    assert raw and set(bundle) == {"text/html", "application/vnd.plotly.v1+json", "text/plain"}
    html = bundle["text/html"]
    soup = BeautifulSoup(html, "html.parser")
    div = soup.select_one(f"div.{interactive.DIV_CLASS}")
    assert div is not None and div.get("id") and int(div["data-traces"]) == len(sets)
    script = soup.find("script").string
    assert f'getElementById("{div["id"]}")' in script and "Plotly.newPlot" in script
    assert "_static/plotly.min.js" in script and "data-content_root" in script
    assert not re.search(r"https?://", html), "the figure must not load anything from the network"
    # plotly.js is not inlined either: loaded once per page from _static
    assert "<script src" not in html.lower()
    fig_json = re.search(r"var fig = (\{.*\});\n", script).group(1)
    assert len(json.loads(fig_json.replace("<\\/", "</"))["data"]) == len(sets)
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
                    "score": np.linspace(0.9, 0.1, k),
                    "true": [c == true for c in order],
                }
            ),
            "true_class": CLASSES[true],
            "true_rank": 1 + t_start // 300,
            "cos_to_input": 1 - t_start / 1000,
        }


def test_tstar_slider_switches_precomputed_states():
    ex = _FakeExplorer()
    t_values = [0, 299, 599, 899]
    fig = explorer_figure.tstar_slider(ex, [10, 20], t_values)
    assert sorted(ex.calls) == sorted((p, t) for p in (10, 20) for t in t_values)
    assert len(fig.data) == len(t_values) * 2
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == [
        str(t) for t in t_values
    ] and slider.active == 2  # the default t*
    assert [tr.visible for tr in fig.data] == [i // 2 == 2 for i in range(8)]
    for i, step in enumerate(slider.steps):
        visible, relayout = step.args
        assert visible["visible"] == [j // 2 == i for j in range(8)]
        assert relayout["annotations[0].text"].startswith(
            "pair 10: true class feed horse (unseen class)"
        )
        assert f"t* = {t_values[i]}" in relayout["annotations[1].text"]
        assert len(relayout["yaxis.ticktext"]) == 5 and len(relayout["yaxis2.ticktext"]) == 5
    # the true class is green and ticked
    first = fig.data[0]
    assert (
        first.marker.color[0] == GOOD
        and "\u2713 feed horse" == slider.steps[0].args[1]["yaxis.ticktext"][0]
    )
    # scores as log-odds, which the axis title says; each panel's axis covers its classes at every
    # t* and no step moves it (issue 35: a re-zoom at each step made the dots look still); the
    # slider above the panels
    odds = np.log(np.linspace(0.9, 0.1, 5) / (1 - np.linspace(0.9, 0.1, 5)))
    np.testing.assert_allclose(first.x, odds)
    assert "log-odds" in fig.layout.xaxis2.title.text and fig.layout.xaxis.title.text is None
    assert not any("xaxis" in k for step in slider.steps for k in step.args[1])
    every = np.concatenate([tr.x for tr in fig.data if tr.xaxis in (None, "x")])
    lo, hi = fig.layout.xaxis.range
    assert lo < every.min() and hi > every.max() and hi - lo < 1.5 * (every.max() - every.min())
    assert slider.y > 1 and slider.yanchor == "bottom"
    html = interactive.figure_html(fig)
    assert 'data-traces="2"' in html  # the page draws one t* at a time: one bar trace per pair


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
