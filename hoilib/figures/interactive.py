"""Interactive plotly figures that keep working in the published, static and offline HTML book.

* ``joint_embedding``: one UMAP fitted on several embedding sets together (umap_fit.umap_embedding),
  one trace per set (a legend click hides or shows it), and a menu that rings one class's points;
  the hover names the set, the HOI class and whether the class is seen or unseen.
* ``explorer_figure.tstar_slider`` (chapter 5's explorer for the HTML book) uses ``light_layout``.
* ``Glued``: what a chapter glues for a ``{glue:figure}``, a ``text/html`` output, which myst-nb
  copies verbatim into the page: a div, the figure's JSON and a loader of plotly.js **from the
  book itself** (``_static/plotly.min.js``, found through the page's ``data-content_root``;
  ``hoilib.publish.book`` copies it from the plotly package), once per page; nothing from the
  network. The output also carries
  ``application/vnd.plotly.v1+json`` for JupyterLab and VS Code; myst-nb skips that mime type
  (``_config.yml`` silences the warning), so the book uses the HTML.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
import pandas as pd

from hoilib.figures.figure_style import colour_of
from hoilib.figures.umap_fit import umap_embedding

PLOTLY_JS = "plotly.min.js"  # under the book's _static/ (hoilib.publish.book copies it there)
DIV_CLASS = "hoibook-plotly"  # every figure's div; data-traces: how many traces it draws at first
_SYMBOL = {False: 0, True: 2}  # plotly marker symbols: seen classes circles, unseen diamonds
_counter = itertools.count()

# The page's script for one figure: __ID__, __FIG__ and __JS__ are filled in by figure_html.
_LOADER = """<script type="text/javascript">
(function () {
  var el = document.getElementById("__ID__");
  var fig = __FIG__;
  var config = {responsive: true, displaylogo: false, showLink: false};
  var root = document.documentElement.getAttribute("data-content_root");
  if (root === null) {  /* Sphinx before 7.2: the folder of documentation_options.js */
    var opts = document.querySelector('script[src$="_static/documentation_options.js"]');
    var opt = /_static\\/documentation_options\\.js$/;
    root = opts ? opts.getAttribute("src").replace(opt, "") : "";
  }
  var src = root + "_static/__JS__";
  function fail() {
    el.style.height = "auto";
    el.textContent = "This interactive figure needs plotly.js, which the book ships as " +
      src + "; it could not be loaded.";
  }
  function draw() {
    if (window.Plotly) { window.Plotly.newPlot(el, fig.data, fig.layout, config); } else { fail(); }
  }
  if (window.Plotly) { draw(); return; }
  var tag = document.getElementById("hoibook-plotlyjs");
  if (tag && tag.getAttribute("data-failed")) { fail(); return; }
  if (!tag) {
    tag = document.createElement("script");
    tag.id = "hoibook-plotlyjs";
    tag.src = src;
    tag.addEventListener("error", function () { tag.setAttribute("data-failed", "1"); });
    document.head.appendChild(tag);
  }
  tag.addEventListener("load", draw);
  tag.addEventListener("error", fail);
})();
</script>"""


def light_layout(title: str, **kw) -> dict:
    """A light layout without a template (plotly's default one weighs ~10 kB per figure)."""
    kw.setdefault("margin", dict(l=40, r=20, t=70, b=40))
    title = dict(text=title, x=0.02, y=0.98, yanchor="top", font=dict(size=14))
    font = dict(family="sans-serif", size=12)
    return dict(
        template="none", title=title, paper_bgcolor="white", plot_bgcolor="white", font=font, **kw
    )


def _check_labels(sets: dict, labels: dict, n_classes: int) -> None:
    if set(labels) != set(sets):
        raise ValueError(
            f"labels must name the same groups as sets: {sorted(sets)} vs {sorted(labels)}"
        )
    for name, x in sets.items():
        lab = np.asarray(labels[name])
        if lab.shape != (len(x),):
            raise ValueError(
                f"labels[{name!r}] has shape {lab.shape}, expected ({len(x)},): one class per row"
            )
        if len(lab) and (lab.min() < 0 or lab.max() >= n_classes):
            raise ValueError(f"labels[{name!r}] holds class indices outside [0, {n_classes})")


def joint_embedding(
    sets: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    class_names: list[str],
    *,
    unseen: np.ndarray,
    n_per_set: int,
    seed: int,
    title: str = "",
    **umap_kw,
):
    """One UMAP fitted jointly on every set (balanced subsampling, seeded), one trace per set.

    ``sets``: group name -> (n, d) embeddings; ``labels``: the same names -> (n,) class index
    of each row; ``unseen``: (C,) bool per class. The fit is ``umap_fit.umap_embedding`` (its
    ``cache_dir`` and ``n_epochs`` pass through ``umap_kw``; the
    same subsample and coordinates as the static figure of the same sets and seed). Seen
    classes are circles, unseen ones diamonds, and each trace lists its seen points first, so
    that its legend entry (drawn with the first point's symbol) is a circle; the legend's title
    says what the shapes mean. The hover box says the group, the class and "seen" or "unseen".
    A menu picks one class and rings its points in every set (``_class_picker``); the axes keep
    one range whatever is picked or hidden. Deterministic for a seed.
    """
    import plotly.graph_objects as go

    unseen = np.asarray(unseen, dtype=bool)
    _check_labels(sets, labels, min(len(class_names), len(unseen)))
    df = umap_embedding(sets, n_per_set=n_per_set, seed=seed, return_rows=True, **umap_kw)
    axis = dict(showticklabels=False, zeroline=False, showgrid=False)
    shapes = "circles: seen classes<br>diamonds: unseen classes<br>click an entry to hide / show"
    legend = dict(itemsizing="constant", title=dict(text=shapes, font=dict(size=11)))
    fig = go.Figure(
        layout=light_layout(
            title,
            height=560,
            legend=legend,
            hovermode="closest",
            xaxis=dict(title="UMAP 1", **axis),
            yaxis=dict(title="UMAP 2", **axis),
        )
    )
    hover = "<b>%{fullData.name}</b><br>class: %{customdata[0]}<br>%{customdata[1]} class"
    hover += "<extra></extra>"
    picked = []  # every drawn point: (x, y, set, colour, symbol, class), for the class menu
    for k, name in enumerate(sets):
        g = df[df["set"] == name]
        cls = np.asarray(labels[name])[g["row"].to_numpy()].astype(np.int64)
        first = np.argsort(unseen[cls], kind="stable")  # seen points first: a circle in the legend
        g, cls = g.iloc[first], cls[first]
        new = unseen[cls]
        custom = [
            [class_names[c], "unseen" if u else "seen"] for c, u in zip(cls, new, strict=True)
        ]
        symbol = np.where(new, _SYMBOL[True], _SYMBOL[False]).astype(np.int8)
        marker = dict(size=5, opacity=0.7, color=colour_of(name, k), symbol=symbol)
        picked.append(
            pd.DataFrame(
                {"x": g["umap 1"].to_numpy(np.float32), "y": g["umap 2"].to_numpy(np.float32)}
            ).assign(set=name, colour=colour_of(name, k), symbol=symbol, cls=cls)
        )
        fig.add_trace(
            go.Scatter(
                x=g["umap 1"].to_numpy(np.float32),
                y=g["umap 2"].to_numpy(np.float32),
                mode="markers",
                name=name,
                marker=marker,
                customdata=custom,
                hovertemplate=hover,
            )
        )
    _class_picker(fig, pd.concat(picked, ignore_index=True), class_names, unseen)
    return fig


def _class_picker(fig, points: pd.DataFrame, class_names: list[str], unseen: np.ndarray) -> None:
    """A menu of the classes drawn (unseen first, then by name) that rings one class's points in
    every set: one more trace, restyled by the menu and empty until a class is picked. Both axes get
    the range of every point, so neither a pick nor a hidden set re-zooms the picture."""
    import plotly.graph_objects as go

    def span(v) -> list[float]:
        return [float(v.min() - 0.04 * np.ptp(v)), float(v.max() + 0.04 * np.ptp(v))]

    fig.update_xaxes(range=span(points["x"]))
    fig.update_yaxes(range=span(points["y"]))
    index = len(fig.data)

    def ring(rows: pd.DataFrame) -> dict:
        custom = [
            [s, class_names[c], "unseen" if unseen[c] else "seen"]
            for s, c in zip(rows["set"], rows["cls"], strict=True)
        ]
        return {
            "x": [rows["x"].astype(np.float64).round(4).tolist()],
            "y": [rows["y"].astype(np.float64).round(4).tolist()],
            "marker.color": [rows["colour"].tolist()],
            "marker.symbol": [rows["symbol"].tolist()],
            "customdata": [custom],
        }

    fig.add_trace(
        go.Scatter(
            x=[],
            y=[],
            mode="markers",
            name="the class picked in the menu",
            marker=dict(size=12, color="white", line=dict(color="black", width=2)),
            hovertemplate="<b>%{customdata[0]}</b><br>class: %{customdata[1]}<br>"
            "%{customdata[2]} class<extra></extra>",
        )
    )
    drawn = sorted(set(points["cls"].tolist()), key=lambda c: (not unseen[c], class_names[c]))
    buttons = [
        dict(
            method="restyle",
            label="pick a class to ring its points",
            args=[ring(points[:0]), [index]],
        )
    ]
    for c in drawn:
        label = class_names[c] + (" (unseen)" if unseen[c] else "")
        rows = points[points["cls"] == c]
        buttons.append(dict(method="restyle", label=label, args=[ring(rows), [index]]))
    menu = dict(buttons=buttons, direction="down", active=0, x=1, xanchor="right", y=1.02)
    fig.update_layout(updatemenus=[dict(menu, yanchor="bottom", pad=dict(t=0, b=0))])


def figure_html(fig, height: int | None = None) -> str:
    """The HTML a page needs for one figure: a div, the figure's JSON, and a loader of plotly.js.

    No URL: plotly.js is loaded from ``<content root>/_static/plotly.min.js`` (Sphinx writes
    the page's relative way up to the book's root into ``<html data-content_root>``), by one
    ``<script>`` per page shared by all its figures. Deterministic: the div id comes from the
    figure's JSON and a per-process counter.
    """
    payload = fig.to_json()
    data = json.loads(payload)
    h = int(height or data.get("layout", {}).get("height") or 500)
    div_id = f"hoibook-plot-{next(_counter)}-{hashlib.sha1(payload.encode()).hexdigest()[:10]}"
    # the traces plotly draws at first: visible ones with points (an empty one, such as the class
    # menu's ring before a pick, draws nothing)
    shown = sum(
        1
        for tr in data.get("data", [])
        if tr.get("visible", True) is not False and len(tr.get("x", [None])) > 0
    )
    style = f"width:100%;height:{h}px;"
    div = f'<div id="{div_id}" class="{DIV_CLASS}" data-traces="{shown}" style="{style}">'
    safe = payload.replace("</", "<\\/")  # a "</script>" inside a string must not end the script
    script = _LOADER.replace("__ID__", div_id).replace("__JS__", PLOTLY_JS).replace("__FIG__", safe)
    return f"{div}</div>\n{script}"


def mimebundle(fig) -> dict:
    """What ``show`` displays: HTML for the book, plotly's JSON for JupyterLab, and plain text."""
    data = json.loads(fig.to_json())
    return {
        "text/html": figure_html(fig),
        "application/vnd.plotly.v1+json": {**data, "config": {"displaylogo": False}},
        "text/plain": f"<interactive plotly figure: {len(data.get('data', []))} trace(s)>",
    }


class Glued:
    """A plotly figure for myst-nb's ``glue``: its display is ``mimebundle``'s, so a
    ``{glue:figure}`` numbers and captions it in the book, drawn offline, and a live notebook
    shows it through plotly's own mime type."""

    def __init__(self, fig):
        self.fig = fig

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return mimebundle(self.fig)
