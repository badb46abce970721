"""Chapter 5's figures: the gap's cost, the positive control, the strength grid and the dose-response."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

ACC = {
    "held-out text accuracy": ("held-out text", "#1b9e77"),
    "image accuracy": ("image features", "#d95f02"),
    "bridged image accuracy": ("bridged image features", "#e7298a"),
}


def gap_cost(gapcost: pd.DataFrame):
    """Each consumer's accuracy on held-out text, on image features and on bridged ones (mean over seeds)."""
    m = gapcost.groupby(["consumer", "kind"], sort=False)[list(ACC)].mean()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, space in zip(axes, ("adapted", "raw"), strict=True):
        sub = m.loc[space]
        y = np.arange(len(sub))
        for k, (col, (label, color)) in enumerate(ACC.items()):
            ax.barh(y + (k - 1) * 0.27, sub[col], height=0.27, color=color, label=label)
        ax.set_yticks(y, sub.index)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("top-1 accuracy among the object's classes")
        ax.set_title(f"consumers fitted on {space} text", fontsize=11)
    axes[0].legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


def control(ctrl: pd.DataFrame, margin: float):
    """The positive control: each consistent bridge's test Unseen gain over no bridge, with its interval."""
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(ctrl) + 1.2))
    labels = [f"{k} ({c} text)" for k, c in ctrl[["kind", "consumer"]].values]
    y = np.arange(len(ctrl))
    gain = ctrl["test Unseen gain"].to_numpy(float)
    err = np.vstack([gain - ctrl.lo.to_numpy(float), ctrl.hi.to_numpy(float) - gain])
    colors = np.where(ctrl.passes, "#1b9e77", "#999999")
    ax.errorbar(gain, y, xerr=err, fmt="none", ecolor="#555555", capsize=3)
    ax.scatter(gain, y, c=colors, zorder=3, s=40)
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(margin, color="#1b9e77", lw=0.8, ls="--", label=f"required gain ({margin:g} point)")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("consistent bridge minus no bridge, test Unseen mAP (points, 95% interval)")
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title("positive control (green: passes on validation and on the test set)", fontsize=11)
    fig.tight_layout()
    return fig


def strength_grid(grid: pd.DataFrame, chosen: pd.DataFrame, val_col: str, title: str):
    """Correct minus wrong at every (t*, lambda): validation (left) and test Unseen (right), chosen strengths boxed."""
    if grid[val_col].isna().all():  # no pseudo-unseen class in the validation images: seen chose
        val_col = "val_seen"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    panels = (
        (val_col, f"validation ({val_col.removeprefix('val_').replace('_', '-')} classes)"),
        ("unseen", "test, Unseen classes"),
    )
    for ax, (col, name) in zip(axes, panels, strict=True):
        w = grid.pivot(index="t_start", columns="lambda", values=col)
        lim = float(np.abs(np.nan_to_num(w.to_numpy())).max()) or 1.0
        im = ax.imshow(w.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(j, i, f"{w.iat[i, j]:+.1f}", ha="center", va="center", fontsize=9)
        for t, lam in chosen[["t_start", "lambda"]].drop_duplicates().values:
            i, j = list(w.index).index(t), list(w.columns).index(lam)
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="black"))
        ax.set_xticks(range(w.shape[1]), [f"{x:g}" for x in w.columns])
        ax.set_yticks(range(w.shape[0]), [str(x) for x in w.index])
        ax.set_xlabel("blend weight λ")
        ax.set_ylabel("start step t*")
        ax.set_title(name, fontsize=11)
        fig.colorbar(im, ax=ax, label="correct minus wrong (points)")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def dose_response(dose: pd.DataFrame, margin: float):
    """Correct minus wrong (Unseen) against how much the target text kept raw text's geometry."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    x, m = dose["linear CKA"].to_numpy(), dose["mean"].to_numpy()
    err = np.vstack([m - dose.lo.to_numpy(), dose.hi.to_numpy() - m])
    ax.errorbar(x, m, yerr=err, fmt="o-", color="#7570b3", capsize=4)
    for xi, mi, a in zip(x, m, dose.alpha, strict=True):
        ax.annotate(f"α = {a:g}", (xi, mi), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.axhline(0, color="black", lw=0.8)
    ax.axhline(
        margin, color="grey", lw=0.8, ls="--", label=f"the design document's size ({margin:+.1f})"
    )
    ax.set_xlabel("linear CKA of the target text with raw text (1 = raw text)")
    ax.set_ylabel("correct minus wrong, Unseen (points)")
    ax.invert_xaxis()
    ax.legend(loc="best", fontsize=9)
    fig.tight_layout()
    return fig
