"""Chapter 5's figures: the gap's cost, the positive control, the strength grid and the dose-response."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hoilib.figures.figure_style import GOOD, GREY, PALETTE, SERIES, WIDTH
from hoilib.models.diffusion.bridge import noise_matched_t

ACC = {
    "held-out text accuracy": ("held-out text", PALETTE["text"]),
    "image accuracy": ("image features", PALETTE["image"]),
    "bridged image accuracy": ("bridged image features", PALETTE["bridged"]),
}


def gap_cost(gapcost: pd.DataFrame):
    """Each consumer's accuracy on held-out text, on image features and on bridged ones (mean over seeds)."""
    m = gapcost.groupby(["consumer", "kind"], sort=False)[list(ACC)].mean()
    n = len(m.loc["adapted"])
    fig, axes = plt.subplots(
        1, 2, figsize=(WIDTH, 0.55 * n + 1.6), sharey=True, layout="constrained"
    )
    for ax, space in zip(axes, ("adapted", "raw"), strict=True):
        sub = m.loc[space]
        y = np.arange(len(sub))
        for k, (col, (label, color)) in enumerate(ACC.items()):
            ax.barh(y + (k - 1) * 0.27, sub[col], height=0.27, color=color, label=label)
        ax.set_yticks(y, sub.index)
        ax.set_xlim(0, 1)
        ax.set_xlabel("top-1 accuracy among\nthe object's classes")
        ax.set_title(f"consumers fitted on {space} text", fontsize=10)
    axes[0].invert_yaxis()  # the first consumer on top; once: the panels share the y axis
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=3, frameon=False, fontsize=9)
    return fig


def control(ctrl: pd.DataFrame, margin: float):
    """The positive control: each consistent bridge's test Unseen gain over no bridge, with its interval."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.42 * len(ctrl) + 1.6))
    labels = [f"{k} ({c} text)" for k, c in ctrl[["kind", "consumer"]].values]
    y = np.arange(len(ctrl))
    gain = ctrl["test Unseen gain"].to_numpy(float)
    err = np.vstack([gain - ctrl.lo.to_numpy(float), ctrl.hi.to_numpy(float) - gain])
    colors = np.where(ctrl.passes, GOOD, GREY)
    ax.errorbar(gain, y, xerr=err, fmt="none", ecolor="#555555", capsize=3)
    ax.scatter(gain, y, c=colors, zorder=3, s=40)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(margin, color=GOOD, lw=1, ls="--", label=f"required gain ({margin:g} point)")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("consistent bridge minus no bridge,\ntest Unseen mAP (points, 95% interval)")
    ax.legend(
        loc="lower left", bbox_to_anchor=(0, 1.01), fontsize=9, frameon=False, borderaxespad=0
    )
    ax.set_title(
        "positive control (green: passed the gate, on validation)",
        fontsize=10,
        pad=22,
    )
    fig.tight_layout()
    return fig


def strength_grid(
    grid: pd.DataFrame, chosen: pd.DataFrame, val_col: str, *, title: str, dim: int | None = None
):
    """Correct minus wrong at every (t*, lambda): validation (left) and test Unseen (right) on one
    colour scale, chosen strengths boxed; with ``dim`` (the embedding width) the noise-matched
    start step's row says so."""
    if grid[val_col].isna().all():  # no pseudo-unseen class in the validation images: seen chose
        val_col = "val_seen"
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.9), layout="constrained")
    panels = (
        (val_col, f"validation ({val_col.removeprefix('val_').replace('_', '-')})"),
        ("unseen", "test (Unseen)"),
    )
    # one colour scale for both panels: a colour means the same number in each
    lim = float(np.abs(np.nan_to_num(grid[[val_col, "unseen"]].to_numpy(float))).max()) or 1.0
    matched = noise_matched_t(dim) if dim else None
    for ax, (col, name) in zip(axes, panels, strict=True):
        w = grid.pivot(index="t_start", columns="lambda", values=col)
        im = ax.imshow(w.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                # white on the darkest cells, black elsewhere
                ink = "white" if abs(w.iat[i, j]) > 0.6 * lim else "black"
                ax.text(
                    j, i, f"{w.iat[i, j]:+.1f}", ha="center", va="center", fontsize=9, color=ink
                )
        for t, lam in chosen[["t_start", "lambda"]].drop_duplicates().values:
            i, j = list(w.index).index(t), list(w.columns).index(lam)
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="black"))
        ax.set_xticks(range(w.shape[1]), [f"{x:g}" for x in w.columns])
        # the rows are the same in both panels: named once, on the left
        names = [f"{x} (matched)" if x == matched else str(x) for x in w.index]
        ax.set_yticks(range(w.shape[0]), names if ax is axes[0] else [])
        ax.set_xlabel("blend weight λ")
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("start step t*")
    fig.colorbar(im, ax=axes, label="correct minus wrong (points)", fraction=0.05, pad=0.02)
    fig.suptitle(title, fontsize=10)
    return fig


def dose_response(dose: pd.DataFrame, margin: float):
    """Correct minus wrong (Unseen) against how much the target text kept raw text's geometry."""
    fig, ax = plt.subplots(figsize=(WIDTH, 4))
    x, m = dose["linear CKA"].to_numpy(), dose["mean"].to_numpy()
    err = np.vstack([m - dose.lo.to_numpy(), dose.hi.to_numpy() - m])
    ax.errorbar(x, m, yerr=err, fmt="o-", color=SERIES[0], capsize=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(
        margin, color="grey", lw=0.8, ls="--", label=f"the design document's size ({margin:+.1f})"
    )
    # the reference lines inside the frame, never on it (a line on the frame cannot be seen)
    lo = min(0.0, margin, float(np.nanmin(dose.lo)))
    hi = max(0.0, margin, float(np.nanmax(dose.hi)))
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("linear CKA of the target text with raw text (1 = raw text)")
    ax.set_ylabel("correct minus wrong, Unseen (points)")
    ax.invert_xaxis()
    ax.legend(
        loc="lower left", bbox_to_anchor=(0, 1.01), fontsize=9, frameon=False, borderaxespad=0
    )
    fig.tight_layout()
    _label_points(ax, x, m, texts=[f"α = {a:g}" for a in dose.alpha])
    return fig


# where a point's label may go, in points from it, tried in this order
_OFFSETS = ((6, 6), (6, -15), (-6, 6), (-6, -15), (6, 18), (6, -27), (-6, 18), (-6, -27))


def _label_points(ax, xs, ys, *, texts) -> None:
    """Each label beside its point, at the first offset where it covers no label placed before
    (close points, e.g. α = 0.25 and 0.5 at almost the same CKA, get labels on either side)."""
    ax.figure.draw_without_rendering()  # the final layout, so the labels' boxes are where they are drawn
    placed = []
    for x, y, text in zip(xs, ys, texts, strict=True):
        for dx, dy in _OFFSETS:
            label = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                fontsize=9,
                ha="left" if dx > 0 else "right",
            )
            box = label.get_window_extent()
            if not any(box.overlaps(b) for b in placed) or (dx, dy) == _OFFSETS[-1]:
                placed.append(box)
                break
            label.remove()
