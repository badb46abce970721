"""The book's headline figure: each ordering contrast with its 95% interval beside the effect the
design document predicts: the answer's grid record (the confirmatory one once complete, else the
exploratory synth-grid, labelled so; pooled over worlds and splits) for its primary consumer and
for EZ-HOI's own head, and this build's world.

Chapter 5 draws it and glues it (``headline``); the landing page pastes it from there, so the first
figure a reader sees is measured, and drawn by the executed notebook it comes from.
"""

from __future__ import annotations

import pandas as pd

from hoilib.figures.figure_style import OKABE_ITO, WIDTH
from hoilib.ordering.claims import MARGINS
from hoilib.ordering.grid import HEAD
from hoilib.ordering.scorecard import CONFIRMATORY, answer_record, answer_rows

CONTRASTS = ("correct - wrong", "correct - no bridge", "wrong - no bridge")
MEASURED, PREDICTED = OKABE_ITO["blue"], OKABE_ITO["vermillion"]


def grid_rows(grid: dict | None, column: str = "unseen", *, kind: str = "synth-grid") -> list[dict]:
    """The grid's pooled contrasts of its primary consumer (the plan's, or the one that passed the
    gate), then of EZ-HOI's own head at its validated strength; ``kind`` names the record."""
    if not grid:
        return []
    worlds = len({r.get("world_seed") for r in grid.get("runs", [])})
    splits = len({r.get("split") for r in grid.get("runs", [])})
    scope = f"{kind}: {worlds} worlds x {splits} splits pooled"
    out = []
    for setting, rows in answer_rows(grid, column).items():
        who = "EZ-HOI's own head" if setting == HEAD else f"{grid['primary']} consumer"
        out += [_row(f"{scope}, {who}", r) for r in rows]
    return out


def build_rows(judged: pd.DataFrame, group: str, column: str = "unseen") -> list[dict]:
    """This build's contrasts from a verdict table (``claims.judged``)."""
    j = judged[judged.column == column]
    return [_row(group, r) for c in CONTRASTS for _, r in j[j.contrast == c].iterrows()]


def rows(cfg, judged: pd.DataFrame) -> list[dict]:
    """What the headline figure shows for a run: the answer's grid record (``ordering.scorecard.
    answer_record``; HOI-Synth runs only: it is a record of that world) and this build's contrasts
    at the design document's fixed t*."""
    grid = []
    if cfg.world.dataset == "hoi-synth":
        rec, title, _ = answer_record()
        kind = "confirmatory" if title == CONFIRMATORY else "exploratory"
        grid = grid_rows(rec, kind=kind)
    here = f"this build: world {cfg.world.seed}, {cfg.world.split.upper()}, EZ-HOI at fixed t*"
    return grid + build_rows(judged, here)


def _row(group: str, r) -> dict:
    return {
        "group": group,
        "contrast": r["contrast"],
        "mean": float(r["mean"]),
        "lo": float(r["lo"]),
        "hi": float(r["hi"]),
        "predicted": MARGINS[r["contrast"]][r["column"]],
        "verdict": r["verdict"],
    }


def figure(rows: list[dict], column: str = "Unseen"):
    """One line per contrast: the measured mean and 95% interval, the predicted effect, and 0."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    df = pd.DataFrame(rows)
    groups = list(dict.fromkeys(df.group))
    # one row per contrast, a gap and a heading row between groups, top to bottom
    ys, labels, heads, y = [], [], [], 0.0
    for g in groups:
        heads.append((y, g))
        y -= 1
        for _, r in df[df.group == g].iterrows():
            ys.append(y)
            labels.append(f"{r.contrast.replace(' - ', ' minus ')}\n({r.verdict})")
            y -= 1
        y -= 0.4
    fig, ax = plt.subplots(figsize=(WIDTH, 0.62 * len(ys) + 0.55 * len(groups) + 1.3))
    ax.axvline(0, color="0.45", lw=1)
    ax.errorbar(
        df["mean"],
        ys,
        xerr=[df["mean"] - df.lo, df.hi - df["mean"]],
        fmt="o",
        color=MEASURED,
        ms=7,
        capsize=4,
        lw=2,
        label="measured: mean and 95% interval",
    )
    ax.scatter(
        df.predicted,
        ys,
        marker="D",
        s=55,
        color=PREDICTED,
        zorder=3,
        label="design document's prediction",
    )
    ax.set_yticks(ys, labels, fontsize=10)
    # each group's heading starts at the figure's left edge, above its rows' labels, so a long
    # heading has the figure's whole width, not the axes' (it ran past the frame there)
    at_left = blended_transform_factory(fig.transFigure, ax.transData)
    for y0, g in heads:
        ax.text(
            0.01,
            y0,
            g,
            transform=at_left,
            fontsize=10.5,
            weight="bold",
            va="center",
            bbox={"fc": "white", "ec": "none", "pad": 1.5},  # over the axes' frame where it crosses
        )
    ax.set_ylim(min(ys) - 0.7, heads[0][0] + 0.7)
    ax.set_xlabel(f"{column} mAP difference (points)", fontsize=11)
    ax.tick_params(axis="x", labelsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="lower center", ncol=2, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / fig.get_size_inches()[1], 1, 1))
    return fig
