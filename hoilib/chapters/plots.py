"""Figures the chapters show. Each function draws one figure and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import ImageDraw

from hoilib.data.images import open_rgb

PALETTE = {
    "image": "#d95f02",
    "text": "#1b9e77",
    "raw text": "#1b9e77",
    "adapted text": "#7570b3",
    "frozen vision": "#d95f02",
    "model vision": "#e6ab02",
    "bridged": "#e7298a",
}


def sample_images(world, n: int = 8, split: str = "test"):
    """Images with their annotated pairs: human boxes blue, object boxes red, labels on top."""
    ds = world.test if split == "test" else world.train
    names = world.class_names()
    n = min(n, len(ds.images))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
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
        ax.set_title("\n".join("; ".join(v) for v in labels.values()), fontsize=7)
    fig.tight_layout()
    return fig


def class_frequencies(world, split: str):
    """Training instances per class, sorted: the long tail, with rare and unseen classes marked."""
    df = world.class_table().sort_values("train", ascending=False).reset_index(drop=True)
    unseen = df[f"unseen {split}"].to_numpy()
    colors = np.where(unseen, "#7570b3", np.where(df["rare"], "#d95f02", "#1b9e77"))
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar(np.arange(len(df)), df["train"].clip(lower=0.8), color=colors)
    ax.set_yscale("log")
    ax.axhline(10, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("HOI class (sorted by training instances)")
    ax.set_ylabel("training instances")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(color="#1b9e77", label="non-rare"),
            Patch(color="#d95f02", label="rare (< 10)"),
            Patch(color="#7570b3", label=f"unseen in {split}"),
        ],
        loc="upper right",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def loss_curve(
    losses, title: str = "training loss", ylabel: str = "loss", extra: dict | None = None
):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=1, label="train")
    for name, (x, y) in (extra or {}).items():
        ax.plot(x, y, marker="o", lw=1, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if extra:
        ax.legend()
    fig.tight_layout()
    return fig


def crop_examples(world, pairs, backbone, n: int = 8):
    """Human, object and union crops of a few annotated pairs, as the image tower sees them."""
    from hoilib.data.crops import CROP_KINDS, pair_crop

    fig, axes = plt.subplots(3, n, figsize=(1.4 * n, 4.6), squeeze=False)
    for j in range(n):
        p = j * max(1, len(pairs) // n)
        i = int(pairs.image[p])
        img = open_rgb(world.test.image_path(i), f"{world.test.path}: image {i}: image file")
        for r, kind in enumerate(CROP_KINDS):
            axes[r, j].imshow(
                pair_crop(img, pairs.boxes_h[p], pairs.boxes_o[p], kind, backbone.image_size)
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
    for name, vals in dists.items():
        sns.kdeplot(vals, ax=ax, label=name, fill=True, alpha=0.25, warn_singular=False)
    ax.set_xlabel("cosine similarity")
    ax.legend()
    fig.tight_layout()
    return fig


def umap_scatter(df: pd.DataFrame, title: str = ""):
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, g in df.groupby("set", sort=False):
        ax.scatter(g["umap 1"], g["umap 2"], s=6, alpha=0.6, label=name, color=PALETTE.get(name))
    ax.legend(markerscale=3)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def gap_shift(rows: list[dict], control: float | None = None):
    df = pd.DataFrame(rows)
    fig, ax1 = plt.subplots(figsize=(6.5, 3.4))
    for key, style in (("full", "-o"), ("rare", "--s"), ("unseen", ":^")):
        if key in df and df[key].notna().any():
            ax1.plot(df["delta"], 100 * df[key], style, label=f"{key} mAP")
    if control is not None:
        ax1.axhline(100 * control, color="grey", ls="--", lw=0.8, label="shuffled labels")
    ax1.axvline(0, color="black", lw=0.5)
    ax1.set_xlabel("shift along the gap direction (delta; > 0 closes the gap)")
    ax1.set_ylabel("zero-shot mAP (%)")
    ax2 = ax1.twinx()
    ax2.plot(df["delta"], df["gap_norm"], color="grey", alpha=0.6, lw=1)
    ax2.set_ylabel("centroid gap norm", color="grey")
    ax1.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def training_curves(histories: dict, title: str = ""):
    """Per-epoch training loss and validation mAP (seen classes), one line per seed."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    for label, h in histories.items():
        a1.plot(h["epoch"], h["train_loss"], marker=".", label=label)
        a2.plot(h["epoch"], 100 * np.asarray(h["val_map_seen"]), marker=".", label=label)
        a2.axvline(h["best_epoch"], color="grey", lw=0.5, ls=":")
    a1.set_xlabel("epoch")
    a1.set_ylabel("focal loss (train)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation mAP, seen classes (%)")
    a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def grouped_bars(
    df: pd.DataFrame,
    by: str,
    cols=("seen", "unseen"),
    baseline: dict | None = None,
    baseline_label: str = "frozen CLIP",
    wrap: bool = False,
):
    """Mean with std error bars per group (seeds are the repeats); dashed lines mark a baseline.

    ``wrap`` breaks long group names after a '+' and before a parenthesis, so many methods fit one row.
    """
    groups = list(dict.fromkeys(df[by]))
    x = np.arange(len(groups))
    w = 0.8 / len(cols)
    fig, ax = plt.subplots(
        figsize=(max(6, (1.6 if wrap else 1.4) * len(groups)), 4.0 if wrap else 3.4)
    )
    for k, c in enumerate(cols):
        means = [df[df[by] == g][c].mean() for g in groups]
        stds = [df[df[by] == g][c].std(ddof=1) if (df[by] == g).sum() > 1 else 0 for g in groups]
        bars = ax.bar(
            x + (k - (len(cols) - 1) / 2) * w, means, w, yerr=stds, capsize=3, label=f"{c} mAP"
        )
        if baseline and c in baseline:
            ax.axhline(
                baseline[c],
                color=bars.patches[0].get_facecolor(),
                ls="--",
                lw=1,
                label=f"{baseline_label}, {c}",
            )
    names = [g.replace(" + ", " +\n").replace(" (", "\n(") for g in groups] if wrap else groups
    ax.set_xticks(x, names, rotation=0 if wrap else 15, fontsize=7 if wrap else None)
    ax.set_ylabel("mAP (%)")
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    return fig


def histogram(values, xlabel: str, title: str = ""):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(np.asarray(values), bins=30, color="#7570b3")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("classes")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def bridge_sweep(df: pd.DataFrame, x: str, baseline: dict | None = None, cols=("unseen", "seen")):
    """mAP of the correct- and wrong-order bridge against a sweep variable; dashed lines: no bridge."""
    fig, axes = plt.subplots(1, len(cols), figsize=(5.2 * len(cols), 3.2), squeeze=False)
    for ax, col in zip(axes[0], cols, strict=False):
        for (order, recipe), g in df.groupby(["order", "recipe"], sort=False):
            g = g.sort_values(x)
            ax.plot(
                g[x],
                g[col],
                "-o" if order == "correct" else "--s",
                ms=4,
                label=f"{order} order, {recipe}",
            )
        if baseline and col in baseline:
            ax.axhline(baseline[col], color="black", lw=0.8, ls=":", label="no bridge")
        ax.set_xlabel({"t_start": "bridge start step t*", "steps": "DDIM steps"}.get(x, x))
        ax.set_ylabel(f"{col} mAP (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
