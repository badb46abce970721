"""Chapter 5's claims, the positive control, and the verdicts at the design document's effect size.

The rules were stated before the current world was run (chapter 5 says which parts were
fixed after a first look at world 0). Each contrast is b minus a in mAP points:

- **The positive control** comes first, and reads validation only. For a consumer, in the
  consistent cell (consumer and diffusion model on the same text) with the strength chosen
  on validation, the bridge must beat no bridge by at least ``claims.control_margin`` points
  on the validation images (the deciding classes, mean over seeds). Its test Unseen gain is
  reported beside it (it is the "correct - no bridge" contrast), never used to pass it: a gate
  that read the test set would choose the consumers whose test numbers it then reports.
  Only consumers that pass read the ordering.
- **The primary consumer** is the passing consumer of adapted text with the largest
  validation gain: chosen on validation, before any ordering number is read.
- **The claims** (``CLAIMS``) with the design document's own sizes (``MARGINS``, from its
  hypothetical table): correct minus wrong, correct minus no bridge, wrong minus no bridge.
- **Verdicts** (``measure.effects.verdict``): supported, ruled out at the document's size,
  or inconclusive. The primary family is the three Unseen contrasts of one consumer;
  Holm's correction runs over that family only. Seen and Full are secondary.

Every rule's setting (the control's margin, the bootstrap's draws, seed and level, the
verdict's alpha, the same-geometry thresholds) is a field of the ``claims`` section
(``hoilib.config.schema.ClaimsCfg``); only the design document's predicted sizes are typed here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hoilib.config.schema import ClaimsCfg
from hoilib.measure.effects import contrast, directed_verdict, excludable
from hoilib.measure.paired import holm, paired_tests
from hoilib.measure.summary import mean_std
from hoilib.ordering.labels import MAP_COLS, MLP, UNSEEN_FIRST, cell_name, head_name

# A fact of the design document, not a setting (the rules' own settings are ``ClaimsCfg``'s):
# the design document's hypothetical table (no bridge 25.3/32.1/30.2, wrong order 24.8/32.5/30.1,
# correct order 27.9/33.2/31.8, Unseen/Seen/Full): the differences it predicts, in points.
MARGINS = {
    "correct - wrong": {"unseen": 3.1, "seen": 0.7, "full": 1.7},
    "correct - no bridge": {"unseen": 2.6, "seen": 1.1, "full": 1.6},
    "wrong - no bridge": {"unseen": -0.5, "seen": 0.4, "full": -0.1},
}
CLAIMS = {  # contrast -> the claim in words
    "correct - wrong": "the correct order beats the wrong order",
    "correct - no bridge": "the correct order beats no bridge",
    "wrong - no bridge": "the wrong order hurts (is below no bridge)",
}


def interval(diffs: np.ndarray, cfg: ClaimsCfg) -> dict:
    """``measure.effects.contrast`` of (seeds, classes) differences with the claims' bootstrap."""
    return contrast(diffs, level=cfg.level, n_boot=cfg.bootstrap_draws, seed=cfg.bootstrap_seed)


def text_pairs(kind: str, consumer: str = "adapted", denoiser: str = MLP) -> dict:
    """contrast -> (a, b) row names for a text-only consumer; for raw text 'correct' is the raw-trained bridge."""
    other = "raw" if consumer == "adapted" else "adapted"
    cell = lambda d, den=denoiser: cell_name(consumer, d, den, kind=kind)  # noqa: E731
    none = cell_name(consumer, "none", kind=kind)
    return {
        "correct - wrong": (cell(other), cell(consumer)),
        "correct - no bridge": (none, cell(consumer)),
        "wrong - no bridge": (none, cell(other)),
    }


def head_pairs() -> dict:
    return {
        "correct - wrong": (head_name("raw"), head_name("adapted")),
        "correct - no bridge": (head_name("none"), head_name("adapted")),
        "wrong - no bridge": (head_name("none"), head_name("raw")),
    }


def text_frame(df: pd.DataFrame, ap: dict) -> tuple[pd.DataFrame, dict]:
    """The text-only rows with a ``method`` column (``names.cell_name``)."""
    names = [
        cell_name(c, d, den if d != "none" else MLP, kind=k)
        for k, c, d, den in df[["kind", "consumer", "diffusion", "denoiser"]].values
    ]
    return df.assign(method=names), ap


def head_frame(df: pd.DataFrame, ap: dict) -> tuple[pd.DataFrame, dict]:
    return df.assign(method=df.diffusion.map(head_name)), {
        (head_name(d), s): v for (d, s), v in ap.items()
    }


def class_diffs(ap: dict, a: str, b: str, *, mask: np.ndarray) -> np.ndarray:
    """(seeds, classes) per-class AP differences b - a in points, over ``mask``'s classes with positives."""
    seeds = sorted({s for m, s in ap if m == b} & {s for m, s in ap if m == a})
    if not seeds:
        raise KeyError(f"no seed has both rows {a!r} and {b!r}")
    d = 100 * np.stack(
        [np.asarray(ap[(b, s)], float) - np.asarray(ap[(a, s)], float) for s in seeds]
    )
    keep = np.asarray(mask, bool) & ~np.isnan(d).any(axis=0)
    return d[:, keep]


def judged(
    ap: dict, pairs: dict, unseen: np.ndarray, *, cfg: ClaimsCfg, holm_over: str | None = "unseen"
) -> pd.DataFrame:
    """Every contrast of ``pairs`` in every column: effect, interval, p, verdict at the document's size.

    Holm's correction runs over the ``holm_over`` column's contrasts (the primary family);
    the other columns keep their own p (secondary). ``cfg``: the intervals' bootstrap and
    level, the verdicts' alpha.
    """
    masks = {"unseen": unseen, "seen": ~unseen, "full": np.ones_like(unseen)}
    rows = []
    for name, (a, b) in pairs.items():
        for col in UNSEEN_FIRST:
            r = interval(class_diffs(ap, a, b, mask=masks[col]), cfg)
            rows.append({"contrast": name, "column": col, "a": a, "b": b} | r)
    out = pd.DataFrame(rows)
    out["p_holm"] = out["p"]
    if holm_over:
        fam = out.column == holm_over
        out.loc[fam, "p_holm"] = holm(out.loc[fam, "p"].tolist())
    out["margin"] = [MARGINS[c][col] for c, col in zip(out.contrast, out.column, strict=True)]
    cols = ["lo", "hi", "margin", "p_holm", "seeds up", "seeds down"]
    out["verdict"] = [
        directed_verdict(lo, hi, m, p=p, up=up, down=down, alpha=cfg.alpha)
        for lo, hi, m, p, up, down in out[cols].values
    ]
    out["rules out beyond"] = [excludable(lo, hi, m) for lo, hi, m in out[cols[:3]].values]
    return out


def verdict_table(j: pd.DataFrame) -> pd.DataFrame:
    """The judged contrasts as the reader reads them: one row per claim and mAP, short cells.

    ``p`` is the class-level Wilcoxon p, Holm-corrected over the Unseen rows (the primary family)
    and uncorrected for Seen and Full; a dash where it is undefined (every class difference 0)."""
    rows = []
    for c in dict.fromkeys(j.contrast):
        for col in UNSEEN_FIRST:
            r = j[(j.contrast == c) & (j.column == col)]
            if r.empty:
                continue
            r = r.iloc[0]
            p = r.p_holm if col == "unseen" else r.p
            rows.append(
                {
                    "claim": CLAIMS[c],
                    "mAP": col.title(),
                    "verdict": r.verdict,
                    "measured (points)": f"{r['mean']:+.2f}",
                    "95% interval": f"[{r.lo:+.2f}, {r.hi:+.2f}]",
                    "predicted": f"{r.margin:+.1f}",
                    "p (Unseen: Holm)": "–" if pd.isna(p) else f"{p:.2g}",
                }
            )
    return pd.DataFrame(rows).set_index(["claim", "mAP"])


def control(
    rows: pd.DataFrame, ap: dict, kind: str, *, consumer: str, unseen: np.ndarray, cfg: ClaimsCfg
) -> dict:
    """The positive control of one consumer: its consistent bridge passes on a validation gain of at
    least ``cfg.control_margin`` points; the test Unseen gain and its interval are reported only."""
    sub = rows[(rows.kind == kind) & (rows.consumer == consumer)]
    none = sub[sub.diffusion == "none"].set_index("seed")
    match = sub[(sub.diffusion == consumer) & (sub.denoiser == MLP)].set_index("seed")
    by = match.chosen_by.iloc[0]
    col = "val_" + by.replace("-", "_")
    val_gain = float((match[col] - none.loc[match.index, col]).mean())
    a, b = text_pairs(kind, consumer)["correct - no bridge"]
    test = interval(class_diffs(ap, a, b, mask=unseen), cfg)
    margin = cfg.control_margin
    passes = val_gain >= margin
    return {
        "kind": kind,
        "consumer": consumer,
        "validation classes": by,
        "validation gain": val_gain,
        "test Unseen gain": test["mean"],
        "lo": test["lo"],
        "hi": test["hi"],
        "passes": bool(passes),
    }


def controls(rows: pd.DataFrame, ap: dict, unseen: np.ndarray, *, cfg: ClaimsCfg) -> pd.DataFrame:
    """The control of every consumer kind on each text."""
    kinds = list(dict.fromkeys(rows.kind))
    return pd.DataFrame(
        [
            control(rows, ap, k, consumer=c, unseen=unseen, cfg=cfg)
            for c in ("adapted", "raw")
            for k in kinds
        ]
    )


def primary(ctrl: pd.DataFrame) -> str | None:
    """The passing consumer of adapted text with the largest validation gain (None: nobody passes)."""
    ok = ctrl[(ctrl.consumer == "adapted") & ctrl.passes]
    return (
        None if ok.empty else str(ok.sort_values("validation gain", ascending=False).kind.iloc[0])
    )


def transfer(
    grid: pd.DataFrame, rows: pd.DataFrame, by: tuple[str, ...] = ("kind", "consumer")
) -> pd.DataFrame:
    """How the strength each validation set would choose for the consistent cell does on the test set.

    For every consumer and seed, the strength (t* > 0) with the best validation mAP on the
    seen and on the pseudo-unseen classes, its validation gain over no bridge and its
    test Unseen gain; per validation set: how often the two gains agree in sign.
    """
    out = []
    keys = [*by, "seed"]
    none = rows[rows.diffusion == "none"].set_index(keys)
    consistent = grid[grid.diffusion == grid.get("consumer", "adapted")]
    for key, g in consistent.groupby(keys, sort=False):
        key = key if len(keys) > 1 else key[0]
        base = none.loc[key]
        key = key if len(keys) > 1 else (key,)
        for val in ("val_seen", "val_pseudo_unseen"):
            if g[val].isna().all():
                continue
            best = g.loc[g[val].fillna(-np.inf).idxmax()]
            out.append(
                dict(zip(keys, key, strict=True))
                | {"validation": val.removeprefix("val_").replace("_", "-")}
                | {"t_start": int(best.t_start), "lambda": float(best["lambda"])}
                | {"validation gain": float(best[val] - base[val])}
                | {"test Unseen gain": float(best.unseen - base.unseen)}
            )
    return pd.DataFrame(out)


def transfer_summary(t: pd.DataFrame) -> pd.DataFrame:
    """Per validation set: choices, how many raised the validation and the test score, and agreement."""
    agree = np.sign(t["validation gain"]) == np.sign(t["test Unseen gain"])
    return (
        t.assign(agree=agree, val_up=t["validation gain"] > 0, test_up=t["test Unseen gain"] > 0)
        .groupby("validation")
        .agg(
            choices=("agree", "size"),
            **{
                "validation gain > 0": ("val_up", "sum"),
                "test Unseen gain > 0": ("test_up", "sum"),
                "same sign": ("agree", "sum"),
                "mean test Unseen gain": ("test Unseen gain", "mean"),
            },
        )
    )


def summary(df: pd.DataFrame, by=("kind", "consumer", "diffusion", "denoiser")) -> pd.DataFrame:
    """Mean ± std over seeds of test mAP, and the chosen strengths, one row per cell."""
    df = df.assign(
        cell=[" | ".join(map(str, r)) for r in df[list(by)].values],
        pick=[f"t*={t}, λ={lam:g}" for t, lam in zip(df.t_start, df["lambda"], strict=True)],
    )
    t = mean_std(df, by="cell", cols=MAP_COLS)
    t["strength per seed"] = df.groupby("cell", sort=False).pick.agg("; ".join)
    return t.rename_axis(" | ".join(by))


def geometry_rule(cfg: ClaimsCfg) -> dict[str, float]:
    """Centred geometries "agree" (raw vs adapted differ by little more than rotation, scale and
    shift) when the corpus's linear CKA and 10-NN overlap both reach these values."""
    return {"linear CKA": cfg.same_geometry_cka, "kNN overlap": cfg.same_geometry_knn}


def same_geometry(geo: pd.DataFrame, cfg: ClaimsCfg) -> bool:
    """Whether the corpus's centred geometries agree by the rule (``geometry_rule``)."""
    row = geo.loc["corpus"]
    return all(float(row[k]) >= v for k, v in geometry_rule(cfg).items())


def same_scoring(per_seed: pd.DataFrame, ap: dict, frozen: str, *, ezhoi: str, unseen: np.ndarray):
    """EZ-HOI vs frozen CLIP with one scoring rule: frozen CLIP is seed-free, so its row stands for every seed."""
    seeds = sorted(per_seed[per_seed.method == ezhoi].seed)
    f = per_seed[per_seed.method == frozen].iloc[0]
    rows = pd.concat(
        [per_seed[per_seed.method == ezhoi]] + [f.to_frame().T.assign(seed=s) for s in seeds]
    )
    fap = next(v for (m, _), v in ap.items() if m == frozen)
    aps = {(ezhoi, s): ap[(ezhoi, s)] for s in seeds} | {(frozen, s): fap for s in seeds}
    return paired_tests(
        rows.astype(dict.fromkeys(MAP_COLS, float)), aps, frozen, b=ezhoi, unseen=unseen
    )
