"""Chapter 5's t* explorer for the static HTML book: a plotly figure with a slider over start steps.

``tstar_slider`` shows the top-k classes of the bridged feature of a few test pairs, every (pair, t*)
computed in the notebook, one slider step per t*. Sigmoid scores crowd against 1.0 from mid-range
starts on (every bar about 1.0 at t* = 599 on a linear axis), so each class is a dot at its score's
log-odds, log(p / (1 - p)), and each panel keeps one axis for every t* (the span of its classes over
all the slider's steps), so a step moves the dots, not the axis: a reader sees the scores rise or fall
as t* moves. The slider sits above the panels, apart from the axis title below them.
"""

from __future__ import annotations

import numpy as np

from hoilib.figures.figure_style import GOOD, GREY
from hoilib.figures.interactive import light_layout

X_TITLE = (
    "class score as log-odds, log(p / (1 − p)); each panel's axis fixed for every t*"
    "<br>(log-odds 4.6 is p = 0.99, 9.2 is p = 0.9999)"
)
_SLIDER_GAP = 34  # pixels between the top panel (its title included) and the slider


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


def tstar_slider(explorer, pairs: list[int], t_values, *, k: int = 5, title: str = ""):
    """Top-k class scores (log-odds) of the bridged feature of a few pairs, with a slider over t*.

    ``explorer`` is chapter 5's ``BridgeExplorer`` (anything with ``state(pair, t_start, k)``
    returning its dict). Every (pair, t*) state is computed here; the figure holds one dot
    trace per (t*, pair), and each slider step shows the traces of one t* and relabels the
    classes and the panel titles; each panel's axis stays put. The true class is green and ticked, the
    others grey. The slider starts at the explorer's default t* when it is among ``t_values``,
    else the first.
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
            dots = go.Scatter(
                x=_log_odds(top),
                y=ranks[: len(top)],
                mode="markers",
                name=f"pair {p}, t* = {t}",
                marker=dict(color=[GOOD if tr else GREY for tr in top["true"]], size=13),
                visible=(i == active),
                customdata=[[c, s] for c, s in zip(top["class"], top["score"], strict=True)],
                showlegend=False,
                hovertemplate="%{customdata[0]}: score %{customdata[1]:.6f}, log-odds %{x:.3f}"
                "<extra></extra>",
            )
            fig.add_trace(dots, row=r + 1, col=1)
    steps = []
    for i, t in enumerate(t_values):
        relayout = {}
        for r, p in enumerate(pairs):
            relayout[f"yaxis{r + 1 if r else ''}.ticktext"] = ticks(p, t)
            relayout[f"annotations[{r}].text"] = panel_title(p, t)
        visible = [j // len(pairs) == i for j in range(len(t_values) * len(pairs))]
        steps.append(dict(method="update", label=str(t), args=[{"visible": visible}, relayout]))
    height, margin = 170 * len(pairs) + 240, dict(l=170, r=20, t=160, b=80)
    slider = dict(
        active=active,
        steps=steps,
        currentvalue=dict(prefix="start step t* = ", font=dict(size=13)),
        y=1 + _SLIDER_GAP / (height - margin["t"] - margin["b"]),
        yanchor="bottom",
        pad=dict(t=0, b=0),
    )
    fig.update_layout(
        **light_layout(
            title or f"bridged feature: top-{k} classes as the start step t* moves",
            height=height,
            sliders=[slider],
            margin=margin,
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
        x_title = X_TITLE if r == len(pairs) - 1 else None
        fig.update_xaxes(
            range=_span([states[(t, p)]["top"] for t in t_values]),
            title_text=x_title,
            showgrid=True,
            gridcolor="#dddddd",
            row=r + 1,
            col=1,
        )
        fig.update_yaxes(showgrid=True, gridcolor="#eeeeee", zeroline=False, row=r + 1, col=1)
        fig.layout.annotations[r].font = dict(size=12)
    return fig
