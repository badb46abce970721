"""Interactive plotly figures that keep working in the published, static and offline HTML book.

* ``joint_embedding``: one UMAP fitted on several embedding sets together (umap_fit.umap_embedding),
  one trace per set (a legend click hides or shows it); the hover names the set, the HOI
  class and whether the class is seen or unseen.
* ``tstar_slider``: chapter 5's explorer for the HTML book: top-5 class scores of a few bridged
  test pairs, with a slider over start steps t* computed in the notebook.
* ``show``: a ``text/html`` output, which myst-nb copies verbatim into the page: a div, the
  figure's JSON and a loader of plotly.js **from the book itself** (``_static/plotly.min.js``,
  found through the page's ``data-content_root``; ``hoilib.pipeline.book`` copies it from the
  plotly package), once per page; nothing from the network. The output also carries
  ``application/vnd.plotly.v1+json`` for JupyterLab and VS Code; myst-nb skips that mime type
  (``_config.yml`` silences the warning), so the book uses the HTML.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np

from hoilib.chapters.umap_fit import umap_embedding

PLOTLY_JS = "plotly.min.js"  # under the book's _static/ (hoilib.pipeline.book copies it there)
DIV_CLASS = "hoibook-plotly"  # every figure's div; data-traces: how many traces it draws at first
_SYMBOL = {False: 0, True: 2}  # plotly marker symbols: seen classes circles, unseen diamonds
_MORE_COLOURS = ("#1b9e77", "#7570b3", "#e6ab02", "#e7298a", "#66a61e", "#a6761d", "#666666")
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


def _colour(name: str, k: int) -> str:
    from hoilib.chapters.plots import PALETTE  # here: seaborn is a second of `hoilib book`'s start

    for key in sorted(PALETTE, key=len, reverse=True):  # "bridged (correct order)" -> "bridged"
        if name == key or name.startswith(key):
            return PALETTE[key]
    return _MORE_COLOURS[k % len(_MORE_COLOURS)]


def _layout(title: str, **kw) -> dict:
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
    classes are circles, unseen ones diamonds; the hover box says the group, the class and
    "seen" or "unseen". Deterministic for a seed.
    """
    import plotly.graph_objects as go

    unseen = np.asarray(unseen, dtype=bool)
    _check_labels(sets, labels, min(len(class_names), len(unseen)))
    df = umap_embedding(sets, n_per_set=n_per_set, seed=seed, return_rows=True, **umap_kw)
    axis = dict(showticklabels=False, zeroline=False, showgrid=False)
    legend = dict(itemsizing="constant", title=dict(text="click to hide / show"))
    fig = go.Figure(
        layout=_layout(
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
    for k, name in enumerate(sets):
        g = df[df["set"] == name]
        cls = np.asarray(labels[name])[g["row"].to_numpy()].astype(np.int64)
        new = unseen[cls]
        custom = [
            [class_names[c], "unseen" if u else "seen"] for c, u in zip(cls, new, strict=True)
        ]
        symbol = np.where(new, _SYMBOL[True], _SYMBOL[False]).astype(np.int8)
        marker = dict(size=5, opacity=0.7, color=_colour(name, k), symbol=symbol)
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
    return fig


def _unseen_of(explorer, pairs) -> dict:
    """pair -> whether its true class is unseen, where the explorer can tell (BridgeExplorer can)"""
    true = getattr(explorer, "true_class", None)
    mask = getattr(getattr(getattr(explorer, "ctx", None), "data", None), "unseen", None)
    if not isinstance(true, dict) or mask is None:
        return {}
    return {p: bool(mask[true[p]]) for p in pairs if p in true}


def tstar_slider(explorer, pairs: list[int], t_values, k: int = 5, title: str = ""):
    """Top-k class scores of the bridged feature of a few pairs, with a slider over the start step.

    ``explorer`` is chapter 5's ``BridgeExplorer`` (anything with ``state(pair, t_start, k)``
    returning its dict). Every (pair, t*) state is computed here; the figure holds one bar
    trace per (t*, pair), and each slider step shows the traces of one t* and relabels the
    bars and the panel titles. The true class is green and ticked, the others grey. The
    slider starts at the explorer's default t* when it is among ``t_values``, else the first.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    pairs, t_values = [int(p) for p in pairs], [int(t) for t in t_values]
    if not pairs or not t_values:
        raise ValueError("tstar_slider needs at least one pair and one t* value")
    states = {(t, p): explorer.state(p, t, k=k) for t in t_values for p in pairs}
    unseen = _unseen_of(explorer, pairs)
    cfg = getattr(explorer, "cfg", None)
    default_t = cfg.bridge.t_start if cfg is not None else None
    active = t_values.index(default_t) if default_t in t_values else 0
    ranks = list(range(k))[::-1]  # rank 1 at the top of each panel

    def panel_title(p, t):
        s = states[(t, p)]
        tag = "" if p not in unseen else (" (unseen class)" if unseen[p] else " (seen class)")
        cos = "" if s.get("cos_to_input") is None else f", cos to input {s['cos_to_input']:.2f}"
        rank = s.get("true_rank")
        return f"pair {p}: true class {s.get('true_class')}{tag}; t* = {t}: rank {rank}{cos}"

    def ticks(p, t):
        top = states[(t, p)]["top"]
        labels = [
            ("\u2713 " if tr else "") + str(c)
            for c, tr in zip(top["class"], top["true"], strict=True)
        ]
        return labels + [""] * (k - len(labels))

    t0 = t_values[active]
    fig = make_subplots(
        rows=len(pairs),
        cols=1,
        vertical_spacing=min(0.3 / len(pairs), 0.15),
        subplot_titles=[panel_title(p, t0) for p in pairs],
    )
    for i, t in enumerate(t_values):
        for r, p in enumerate(pairs):
            top = states[(t, p)]["top"]
            colour = ["#1b9e77" if tr else "#999999" for tr in top["true"]]
            bar = go.Bar(
                x=top["score"].to_numpy(np.float64),
                y=ranks[: len(top)],
                orientation="h",
                name=f"pair {p}, t* = {t}",
                marker=dict(color=colour),
                visible=(i == active),
                customdata=[[c] for c in top["class"]],
                showlegend=False,
                hovertemplate="%{customdata[0]}: score %{x:.3f}<extra></extra>",
            )
            fig.add_trace(bar, row=r + 1, col=1)
    steps = []
    for i, t in enumerate(t_values):
        relayout = {}
        for r, p in enumerate(pairs):
            relayout[f"yaxis{r + 1 if r else ''}.ticktext"] = ticks(p, t)
            relayout[f"annotations[{r}].text"] = panel_title(p, t)
        visible = [j // len(pairs) == i for j in range(len(t_values) * len(pairs))]
        steps.append(dict(method="update", label=str(t), args=[{"visible": visible}, relayout]))
    slider = dict(active=active, steps=steps, currentvalue=dict(prefix="t* = "), pad=dict(t=40))
    fig.update_layout(
        **_layout(
            title or f"bridged feature: top-{k} classes as the start step t* moves",
            height=170 * len(pairs) + 170,
            bargap=0.25,
            sliders=[slider],
            margin=dict(l=170, r=20, t=70, b=40),
        )
    )
    for r, p in enumerate(pairs):
        fig.update_yaxes(
            tickvals=ranks,
            ticktext=ticks(p, t0),
            range=[-0.6, k - 0.4],
            automargin=True,
            row=r + 1,
            col=1,
        )
        x_title = "sigmoid score" if r == len(pairs) - 1 else None
        fig.update_xaxes(range=[0, 1], title_text=x_title, row=r + 1, col=1)
        fig.layout.annotations[r].font = dict(size=11)
    return fig


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
    shown = sum(1 for tr in data.get("data", []) if tr.get("visible", True) is not False)
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


def show(fig) -> None:
    """Display the figure in a notebook so that the built HTML book draws it, offline."""
    from IPython.display import display

    display(mimebundle(fig), raw=True)
