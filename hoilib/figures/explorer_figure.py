"""Chapter 5's t* explorer for the static HTML book: a plotly figure with a slider over start steps.

``tstar_slider`` shows the top-k classes of the bridged feature of one test pair per class, every
(pair, t*) computed in the notebook: a menu picks the class, a slider the start step t*. Sigmoid
scores crowd against 1.0 from mid-range starts on (every bar about 1.0 at t* = 599 on a linear
axis), so each class is a dot at its score's log-odds, log(p / (1 - p)), and the axis keeps one
range for every t* of a pair (the span of its classes over all the slider's steps), so a step moves
the dots, not the axis: a reader sees the scores rise or fall as t* moves. The menu and the slider
sit above the panel, apart from the axis title below it.
"""

from __future__ import annotations

import numpy as np

from hoilib.figures.figure_style import GOOD, GREY
from hoilib.figures.interactive import light_layout

X_TITLE = (
    "class score as log-odds, log(p / (1 − p)); the axis fixed for every t* of a class"
    "<br>(log-odds 4.6 is p = 0.99, 9.2 is p = 0.9999)"
)
_SLIDER_GAP = 34  # pixels between the panel (its line of text included) and the slider
_MENU_GAP = 124  # pixels between the panel and the class menu, the slider between them
_PLOT_HEIGHT = 240  # pixels of the panel itself


def _unseen_of(explorer, pairs) -> dict:
    """pair -> whether its true class is unseen, where the explorer can tell (BridgeExplorer can)"""
    true = getattr(explorer, "true_class", None)
    mask = getattr(getattr(getattr(explorer, "ctx", None), "data", None), "unseen", None)
    if not isinstance(true, dict) or mask is None:
        return {}
    return {p: bool(mask[true[p]]) for p in pairs if p in true}


def _log_odds(top) -> np.ndarray:
    """A top-k table's scores as log-odds: the explorer's logits where it gives them (a float32
    sigmoid rounds to 1.0 from a logit of about 17), else log(p / (1 - p)) of the scores."""
    if "logit" in top:
        return top["logit"].to_numpy(np.float64)
    p = np.clip(top["score"].to_numpy(np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _span(tops) -> list[float]:
    """A panel's log-odds range for every t*: its classes' span over all ``tops`` (one top-k table
    per t*) with a margin (at least 0.002 on each side)."""
    x = np.concatenate([_log_odds(top) for top in tops]) if tops else np.array([])
    if not len(x):
        return [-1.0, 1.0]
    lo, hi = float(np.min(x)), float(np.max(x))
    pad = max(0.12 * (hi - lo), 0.002)
    return [lo - pad, hi + pad]


def tstar_slider(explorer, pairs: dict[str, int], t_values, *, k: int = 5, title: str = ""):
    """Top-k class scores (log-odds) of the bridged feature of one test pair per class, with a
    class menu and a slider over t*.

    ``explorer`` is chapter 5's ``BridgeExplorer`` (anything with ``state(pair, t_start, k)``
    returning its dict); ``pairs`` maps a menu label (the class) to its pair. Every (pair, t*)
    state is computed here and the figure holds one dot trace: each slider step restyles it to one
    t* of the chosen pair and relabels its classes; picking a class restyles it to that pair at the
    default t*, sets the axis to that pair's span over every t* (no slider step moves it) and swaps
    in that pair's slider, so the two controls compose without script. The true class is green and
    ticked, the others grey. The default t* is the explorer's when it is among ``t_values``, else the
    first; the first label is shown first.
    """
    import plotly.graph_objects as go

    labels, t_values = list(pairs), [int(t) for t in t_values]
    if not labels or not t_values:
        raise ValueError("tstar_slider needs at least one pair and one t* value")
    states = {(a, t): explorer.state(int(pairs[a]), t, k=k) for a in labels for t in t_values}
    unseen = _unseen_of(explorer, [int(p) for p in pairs.values()])
    cfg = getattr(explorer, "cfg", None)
    default_t = cfg.bridge.t_start if cfg is not None else None
    active = t_values.index(default_t) if default_t in t_values else 0
    ranks = list(range(k))[::-1]  # rank 1 at the top

    def line(a, t):
        s, p = states[(a, t)], int(pairs[a])
        tag = "" if p not in unseen else (" (unseen class)" if unseen[p] else " (seen class)")
        cos = "" if s.get("cos_to_input") is None else f", cos to input {s['cos_to_input']:.2f}"
        return f"pair {p}: true class {s.get('true_class')}{tag}; t* = {t}: rank {s.get('true_rank')}{cos}"

    def dots(a, t):
        top = states[(a, t)]["top"]
        return {
            "x": [np.round(_log_odds(top), 4).tolist()],  # 4 decimals: the figure holds ~400 states
            "y": [ranks[: len(top)]],
            "marker.color": [[GOOD if tr else GREY for tr in top["true"]]],
            "customdata": [
                [[c, round(float(s), 6)] for c, s in zip(top["class"], top["score"], strict=True)]
            ],
        }

    def labels_of(a, t):
        top = states[(a, t)]["top"]
        ticks = [
            ("\u2713 " if tr else "") + str(c)
            for c, tr in zip(top["class"], top["true"], strict=True)
        ]
        return {
            "yaxis.ticktext": ticks + [""] * (k - len(ticks)),
            "annotations[0].text": line(a, t),
        }

    def slider(a):
        steps = [
            dict(method="update", label=str(t), args=[dots(a, t), labels_of(a, t)])
            for t in t_values
        ]
        return dict(
            active=active,
            steps=steps,
            currentvalue=dict(prefix="start step t* = ", font=dict(size=13)),
            y=1 + _SLIDER_GAP / _PLOT_HEIGHT,
            yanchor="bottom",
            pad=dict(t=0, b=0),
        )

    def pick(a):
        t = t_values[active]
        layout = {
            **labels_of(a, t),
            "xaxis.range": _span([states[(a, u)]["top"] for u in t_values]),
        }
        return [dots(a, t), {**layout, "sliders": [slider(a)]}]

    start, shown = pick(labels[0])  # the figure opens as the menu's first entry leaves it
    trace = go.Scatter(
        x=start["x"][0],
        y=start["y"][0],
        mode="markers",
        marker=dict(color=start["marker.color"][0], size=13),
        customdata=start["customdata"][0],
        showlegend=False,
        hovertemplate="%{customdata[0]}: score %{customdata[1]:.6f}, log-odds %{x:.3f}<extra></extra>",
    )
    menu = dict(
        buttons=[dict(method="update", label=a, args=pick(a)) for a in labels],
        direction="down",
        active=0,
        showactive=True,
        x=0,
        xanchor="left",
        y=1 + _MENU_GAP / _PLOT_HEIGHT,  # a row above the slider's
        yanchor="bottom",
        pad=dict(t=0, b=0),
    )
    note = dict(
        text=shown["annotations[0].text"],
        xref="paper",
        yref="paper",
        x=0,
        y=1,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=12),
    )
    menu_label = dict(
        text="HOI class ",
        xref="paper",
        yref="paper",
        x=0,
        y=menu["y"] + 4 / _PLOT_HEIGHT,
        xanchor="right",
        yanchor="bottom",
        showarrow=False,
        font=dict(size=13),
    )
    margin = dict(l=170, r=20, t=_MENU_GAP + 80, b=90)
    fig = go.Figure(
        trace,
        layout=light_layout(
            title or f"bridged feature: top-{k} classes; pick a class, slide the start step t*",
            height=_PLOT_HEIGHT + margin["t"] + margin["b"],
            margin=margin,
            annotations=[note, menu_label],
            sliders=shown["sliders"],
            updatemenus=[menu],
        ),
    )
    fig.update_yaxes(
        tickvals=ranks,
        ticktext=shown["yaxis.ticktext"],
        range=[-0.6, k - 0.4],
        automargin=True,
        showgrid=True,
        gridcolor="#eeeeee",
        zeroline=False,
    )
    fig.update_xaxes(
        range=shown["xaxis.range"],
        title_text=X_TITLE,
        showgrid=True,
        gridcolor="#dddddd",
    )
    return fig
