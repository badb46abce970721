"""Chapter 5's two settings as tidy tables, and the claims judged in each (stated before any number).

Setting 1, the claim's own: a text-only consumer (``chapters.consumer``). Setting 2:
EZ-HOI's head (``chapters.head_bridge``). In both the bridge strength is chosen on
validation. Each claim names two rows (a, b) and the sign of b - a the ordering claim
predicts; every claim of a setting is judged with Holm's correction over all its
(claim, mAP) cells. The claim "the diffusion model must learn the adapted space" holds
for a consumer when its "correct beats wrong" claim is supported on Unseen mAP.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hoilib.chapters.names import cell_name, head_name
from hoilib.measure.paired import paired_tests, verdict
from hoilib.measure.summary import mean_std
from hoilib.models import textspace

COLS = ("full", "seen", "unseen")
# Centred geometries "agree" (raw vs adapted differ by little more than rotation, scale and shift)
# when the corpus's linear CKA and 10-NN overlap both reach these values (fixed before any result).
SAME_GEOMETRY = {"linear CKA": 0.95, "kNN overlap": 0.9}


TEXT_CLAIMS = [  # (claim, a, b, expected sign of b - a)
    (
        "adapted prototypes: the adapted-trained bridge beats the raw-trained one (correct vs wrong order)",
        cell_name("adapted", "raw"),
        cell_name("adapted", "adapted"),
        1,
    ),
    (
        "raw prototypes: the raw-trained bridge beats the adapted-trained one (matched vs mismatched)",
        cell_name("raw", "adapted"),
        cell_name("raw", "raw"),
        1,
    ),
    (
        "adapted prototypes: the adapted-trained bridge beats no bridge",
        cell_name("adapted", "none"),
        cell_name("adapted", "adapted"),
        1,
    ),
    (
        "raw prototypes: the raw-trained bridge beats no bridge",
        cell_name("raw", "none"),
        cell_name("raw", "raw"),
        1,
    ),
]
HEAD_CLAIMS = [
    (
        "EZ-HOI head: the correct order beats the wrong order",
        head_name("raw"),
        head_name("adapted"),
        1,
    ),
    ("EZ-HOI head: the correct order beats no bridge", head_name("none"), head_name("adapted"), 1),
    (
        "EZ-HOI head: the wrong order hurts (is below no bridge)",
        head_name("none"),
        head_name("raw"),
        -1,
    ),
]


def text_frame(df: pd.DataFrame, ap: dict) -> tuple[pd.DataFrame, dict]:
    """The text-only rows with a ``method`` column and APs keyed (method, seed), for ``paired_tests``."""
    df = df.assign(method=[cell_name(*r) for r in df[["consumer", "diffusion", "denoiser"]].values])
    return df, {(cell_name(c, d, den), s): v for (c, d, den, s), v in ap.items()}


def head_frame(df: pd.DataFrame, ap: dict) -> tuple[pd.DataFrame, dict]:
    return df.assign(method=df.diffusion.map(head_name)), {
        (head_name(d), s): v for (d, s), v in ap.items()
    }


def judge_claims(df, ap, claims, unseen) -> tuple[dict, pd.DataFrame]:
    """Paired tests of every claim and the Holm-adjusted verdict table of the family."""
    tests = {text: paired_tests(df, ap, a, b, unseen) for text, a, b, _ in claims}
    return tests, verdict([(text, tests[text], sign) for text, *_, sign in claims], adjust=True)


def summary(df: pd.DataFrame, by=("consumer", "diffusion", "denoiser")) -> pd.DataFrame:
    """Mean ± std over seeds of test mAP, and the chosen strengths, one row per cell."""
    df = df.assign(
        cell=[" | ".join(map(str, r)) for r in df[list(by)].values],
        pick=[f"t*={t}, λ={lam:g}" for t, lam in zip(df.t_start, df["lambda"], strict=True)],
    )
    t = mean_std(df, by="cell", cols=COLS)
    t["chosen on validation (per seed)"] = df.groupby("cell", sort=False).pick.agg("; ".join)
    return t


def grid_2x2(df: pd.DataFrame, col: str = "unseen", denoiser: str = "trained MLP") -> pd.DataFrame:
    """The 2 x 2 (plus no bridge) as the claim reads it: consumer rows, diffusion columns, mean mAP."""
    sub = df[df.denoiser.isin([denoiser, "none"])]
    t = sub.groupby(["consumer", "diffusion"], sort=False)[col].mean().unstack("diffusion")
    t = t[[c for c in ("none", "raw", "adapted") if c in t.columns]]
    t.columns = [f"diffusion: {c}" for c in t.columns]
    t.index = [f"consumer: {c} prototypes" for c in t.index]
    return t


def geometry_table(runs) -> pd.DataFrame:
    """Linear CKA and 10-NN overlap of raw vs adapted text (class text and corpus), mean over seeds."""
    rows = [
        {"text": "corpus" if what == "sentence corpus" else what, "seed": r.seed, **g}
        for r in runs
        for what, g in textspace.geometry(r.space).items()
    ]
    g = pd.DataFrame(rows)
    out = g.groupby("text", sort=False)[
        ["linear CKA", "kNN overlap", "kNN overlap by chance", "n"]
    ].mean()
    out["n"] = out["n"].astype(int)
    return out


def same_geometry(geo: pd.DataFrame) -> bool:
    """Whether the corpus's centred geometries agree by the rule fixed in ``SAME_GEOMETRY``."""
    row = geo.loc["corpus"]
    return all(float(row[k]) >= v for k, v in SAME_GEOMETRY.items())


def same_scoring(per_seed: pd.DataFrame, ap: dict, frozen: str, ezhoi: str, unseen: np.ndarray):
    """EZ-HOI vs frozen CLIP with one scoring rule: frozen CLIP is seed-free, so its row stands for every seed."""
    seeds = sorted(per_seed[per_seed.method == ezhoi].seed)
    f = per_seed[per_seed.method == frozen].iloc[0]
    rows = pd.concat(
        [per_seed[per_seed.method == ezhoi]] + [f.to_frame().T.assign(seed=s) for s in seeds]
    )
    fap = next(v for (m, _), v in ap.items() if m == frozen)
    aps = {(ezhoi, s): ap[(ezhoi, s)] for s in seeds} | {(frozen, s): fap for s in seeds}
    return paired_tests(rows.astype({c: float for c in COLS}), aps, frozen, ezhoi, unseen)


def headline(tests: dict, family, judged: dict) -> str:
    """One computed sentence on the family's first claim (correct vs wrong order), Unseen mAP."""
    text, *_ = family[0]
    r = tests[text].loc["unseen"]
    return (
        f"the adapted-trained bridge minus the raw-trained one is "
        f"{r['mean difference (points)']:+.2f} Unseen mAP points ({int(r['seeds where b > a'])} of "
        f"{int(r['seeds'])} seeds and {int(r['classes where b > a'])} of {int(r['classes'])} classes "
        f"favour it), so the claim is {judged[text].upper()} by the rule above."
    )


def choice_summary(df: pd.DataFrame, by=("consumer",)) -> str:
    """How often validation chose a bridge, and whether the chosen bridge then helped on the test set."""
    keys = [*by, "seed"]
    base = df[df.diffusion == "none"][keys + ["full"]].rename(columns={"full": "base_full"})
    bridged = df[df.diffusion != "none"]
    chosen = bridged[bridged.t_start > 0].merge(base, on=keys, how="left")
    up = int((chosen.full > chosen.base_full).sum())
    return (
        f"validation kept no bridge (t* = 0) in {len(bridged) - len(chosen)} of the {len(bridged)} "
        f"bridged cells (over seeds); of the {len(chosen)} where it chose a bridge, the test Full "
        f"mAP rose above the same consumer's no-bridge value in {up} and did not in {len(chosen) - up}."
    )


def control_summary(df: pd.DataFrame, col: str = "unseen") -> str:
    """The recipe control read by the rule fixed above: each matched bridge's gain over no bridge, per denoiser."""
    means = df.groupby(["consumer", "diffusion", "denoiser"])[col].mean()
    parts = []
    for c in ("adapted", "raw"):
        base = means[(c, "none", "none")]
        gain = {
            den: means[(c, c, den)] - base
            for den in ("trained MLP", "closed form", "closed form, own object")
        }
        if gain["trained MLP"] > 0:
            reading = "the trained model already helps"
        elif max(gain["closed form"], gain["closed form, own object"]) > 0:
            reading = "the closed form helps where the trained model does not: it is undertrained"
        else:
            reading = "neither helps: the recipe, not the training, is the limit"
        parts.append(
            f"with {c} prototypes and the {c}-trained bridge, the mean {col.title()} mAP gain over no "
            f"bridge is {gain['trained MLP']:+.2f} points for the trained MLP, "
            f"{gain['closed form']:+.2f} for the closed form and {gain['closed form, own object']:+.2f} "
            f"for the closed form over the pair's object ({reading})"
        )
    return "; ".join(parts) + "."
