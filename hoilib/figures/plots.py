"""Figures the chapters show. Each function draws one figure and returns it."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import ImageDraw

from hoilib.data.images import open_rgb
from hoilib.figures.figure_style import (
    GREY,
    OKABE_ITO,
    PALETTE,
    SEEN,
    UNSEEN,
    WIDTH,
    colour_of,
    legend_outside,
    series,
)


def sample_images(world, n: int = 8, split: str = "test"):
    """Images with their annotated pairs: human boxes blue, object boxes red, labels on top."""
    ds = world.test if split == "test" else world.train
    names = world.class_names()
    n = min(n, len(ds.images))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, WIDTH / cols * 1.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k in range(n):
        im = ds.images[k]
        img = open_rgb(ds.image_path(k), f"{ds.path}: image {k}: image file")
        dr = ImageDraw.Draw(img)
        labels = {}
        for bh, bo, h in zip(im.boxes_h, im.boxes_o, im.hoi, strict=False):
            dr.rectangle(bh.tolist(), outline=(30, 60, 230))
            dr.rectangle(bo.tolist(), outline=(220, 30, 30))
            labels.setdefault(tuple(bh), []).append(names[h])
        ax = axes.flat[k]
        ax.imshow(img)
        ax.set_title("\n".join("; ".join(v) for v in labels.values()), fontsize=8)
    fig.tight_layout()
    return fig


def class_frequencies(world, split: str):
    """Training instances per class, sorted: the long tail, with rare and unseen classes marked.

    Unseen classes are one colour whether rare or not; the legend names only the groups that have a bar.
    """
    df = world.class_table().sort_values("train", ascending=False).reset_index(drop=True)
    unseen = df[f"unseen {split}"].to_numpy()
    groups = {
        "seen, not rare": (~unseen & ~df["rare"].to_numpy(), SEEN),
        "seen, rare (< 10 training instances)": (
            ~unseen & df["rare"].to_numpy(),
            OKABE_ITO["sky blue"],
        ),
        f"unseen in {split} (no training instance used)": (unseen, UNSEEN),
    }
    fig, ax = plt.subplots(figsize=(WIDTH, 3.0))
    x, y = np.arange(len(df)), df["train"].clip(lower=0.8).to_numpy()
    for label, (mask, colour) in groups.items():
        if mask.any():
            ax.bar(x[mask], y[mask], width=0.9, color=colour, label=label)
    ax.set_yscale("log")
    ax.axhline(10, color="grey", lw=0.8, ls="--", label="rare threshold: 10 instances")
    ax.set_xlabel("HOI class (sorted by training instances)")
    ax.set_ylabel("training instances")
    legend_outside(ax, "top", ncol=2)
    fig.tight_layout()
    return fig


def loss_curve(
    losses, title: str = "training loss", ylabel: str = "loss", *, extra: dict | None = None
):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=1, label="train", color=series(0))
    for k, (name, (x, y)) in enumerate((extra or {}).items()):
        ax.plot(x, y, marker="o", lw=1, label=name, color=series(k + 1))
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if extra:
        legend_outside(ax)
    fig.tight_layout()
    return fig


def crop_examples(world, pairs, backbone, *, n: int = 8):
    """Human, object and union crops of a few annotated pairs, as the image tower sees them."""
    from hoilib.data.crops import CROP_KINDS, pair_crop

    fig, axes = plt.subplots(3, n, figsize=(WIDTH, 3 * WIDTH / n + 0.4), squeeze=False)
    for j in range(n):
        p = j * max(1, len(pairs) // n)
        i = int(pairs.image[p])
        img = open_rgb(world.test.image_path(i), f"{world.test.path}: image {i}: image file")
        for r, kind in enumerate(CROP_KINDS):
            axes[r, j].imshow(
                pair_crop(
                    img, pairs.boxes_h[p], pairs.boxes_o[p], kind=kind, size=backbone.image_size
                )
            )
            axes[r, j].set_xticks([])
            axes[r, j].set_yticks([])
            if j == 0:
                axes[r, j].set_ylabel(kind)
    fig.tight_layout()
    return fig


def cosine_distributions(dists: dict[str, np.ndarray]):
    import seaborn as sns  # here, not at the top: with scipy.stats, most of a second of every chapter's start

    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for k, (name, vals) in enumerate(dists.items()):
        colour = colour_of(name, k)
        sns.kdeplot(
            vals, ax=ax, label=name, fill=True, alpha=0.25, color=colour, warn_singular=False
        )
    ax.set_xlabel("cosine similarity")
    legend_outside(ax, "top")
    fig.tight_layout()
    return fig


def umap_scatter(df: pd.DataFrame, title: str = ""):
    fig, ax = plt.subplots(figsize=(6, 5))
    for k, (name, g) in enumerate(df.groupby("set", sort=False)):
        colour = colour_of(name, k)
        ax.scatter(g["umap 1"], g["umap 2"], s=6, alpha=0.6, label=name, color=colour)
    legend_outside(ax, markerscale=3)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def gap_shift(rows: list[dict], control: float | None = None):
    df = pd.DataFrame(rows)
    fig, ax1 = plt.subplots(figsize=(6.5, 3.4))
    # where the unseen classes are the rare ones (RF-UC in a small world) the two lines are one:
    # drawn once and named so, instead of one hiding the other
    same = {"rare", "unseen"} <= set(df) and df["rare"].equals(df["unseen"])
    for k, (key, style) in enumerate((("full", "-o"), ("rare", "--s"), ("unseen", ":^"))):
        if key in df and df[key].notna().any() and not (same and key == "unseen"):
            label = "rare mAP = unseen mAP (the same classes)" if same and key == "rare" else None
            ax1.plot(
                df["delta"], 100 * df[key], style, label=label or f"{key} mAP", color=series(k)
            )
    if control is not None:
        ax1.axhline(100 * control, color="grey", ls="--", lw=0.8, label="shuffled labels")
    ax1.axvline(0, color="black", lw=0.5)
    ax1.set_xlabel("shift along the gap direction (delta; > 0 closes the gap)")
    ax1.set_ylabel("zero-shot mAP (%)")
    ax2 = ax1.twinx()
    ax2.plot(df["delta"], df["gap_norm"], color="grey", alpha=0.6, lw=1, label="centroid gap norm")
    ax2.set_ylabel("centroid gap norm (grey line)", color="grey")
    lines = [
        ln for ln in [*ax1.get_lines(), *ax2.get_lines()] if not ln.get_label().startswith("_")
    ]
    legend_outside(ax1, "top", ncol=3, handles=lines)
    fig.tight_layout()
    return fig


def training_curves(histories: dict, title: str = ""):
    """Per-epoch training loss and validation mAP (seen classes), one line per seed."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for k, (label, h) in enumerate(histories.items()):
        a1.plot(h["epoch"], h["train_loss"], marker=".", label=label, color=series(k))
        a2.plot(h["epoch"], 100 * np.asarray(h["val_map_seen"]), marker=".", color=series(k))
        a2.axvline(h["best_epoch"], color=series(k), lw=0.6, ls=":")
    a1.set_xlabel("epoch")
    a1.set_ylabel("focal loss (train)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation mAP, seen (%)")
    legend_outside(a2, handles=a1.get_lines())
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _wrapped(name: str, width: int = 36) -> str:
    """A long method name on two or three lines, broken before a parenthesis where it can be."""
    if len(name) <= width:
        return name
    head, sep, tail = name.partition(" (")
    lines = [head, "(" + tail] if sep and len(head) <= width else [name]
    return "\n".join(w for line in lines for w in textwrap.wrap(line, width))


def grouped_bars(
    df: pd.DataFrame,
    by: str,
    cols=("seen", "unseen"),
    *,
    baseline: dict | None = None,
    baseline_label: str = "frozen CLIP",
    wrap: bool = True,
):
    """Mean with std error bars per group (seeds are the repeats), as horizontal bars: one row per group,
    its name at the left, read top to bottom; dashed lines mark a baseline. ``wrap`` puts long group
    names on two or three lines (the default)."""
    groups = list(dict.fromkeys(df[by]))
    names = [_wrapped(g) if wrap else g for g in groups]
    lines = max(n.count("\n") + 1 for n in names)
    y = np.arange(len(groups))
    h = 0.8 / len(cols)
    row = max(0.42, 0.17 * len(cols) + 0.14 * lines)
    fig, ax = plt.subplots(figsize=(WIDTH, row * len(groups) + 1.3))
    colours = dict(zip(("seen", "unseen"), (SEEN, UNSEEN), strict=True))
    for k, c in enumerate(cols):
        colour = colours.get(c, series(k + 2))
        stats = df.groupby(by, sort=False)[c].agg(["mean", "std"]).reindex(groups)
        ax.barh(
            y + (k - (len(cols) - 1) / 2) * h,
            stats["mean"],
            h,
            xerr=stats["std"].fillna(0),
            capsize=2,
            color=colour,
            label=f"{c} mAP",
        )
        if baseline and c in baseline:
            ax.axvline(baseline[c], color=colour, ls="--", lw=1.2, label=f"{baseline_label}, {c}")
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("mAP (%); bars: mean over seeds, whiskers: std")
    legend_outside(ax, "top", ncol=2)
    fig.tight_layout()
    return fig


def histogram(values, xlabel: str, title: str = ""):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(np.asarray(values), bins=30, color=PALETTE["adapted text"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("classes")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def bridge_sweep(
    df: pd.DataFrame, x: str, baseline: dict | None = None, *, cols=("unseen", "seen")
):
    """mAP of the correct- and wrong-order bridge against a sweep variable; dotted line: no bridge."""
    fig, axes = plt.subplots(
        1, len(cols), figsize=(WIDTH, 3.4), squeeze=False, layout="constrained"
    )
    colour = {
        "correct": PALETTE["bridged (correct order)"],
        "wrong": PALETTE["bridged (wrong order)"],
    }
    for ax, col in zip(axes[0], cols, strict=False):
        for (order, recipe), g in df.groupby(["order", "recipe"], sort=False):
            g = g.sort_values(x)
            style = ("-" if recipe == "direct" else "--") + ("o" if order == "correct" else "s")
            ax.plot(
                g[x], g[col], style, ms=4, color=colour.get(order), label=f"{order} order, {recipe}"
            )
        if baseline and col in baseline:
            ax.axhline(baseline[col], color=GREY, lw=1, ls=":", label="no bridge")
        ax.set_xlabel({"t_start": "bridge start step t*", "steps": "DDIM steps"}.get(x, x))
        ax.set_ylabel(f"{col} mAP (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=3, frameon=False, fontsize=9)
    return fig
