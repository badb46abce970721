"""Chapter 5's computed sentences: the control's reading, the answer's limits, the choices' transfer.

Each sentence is built from the chapter's numbers (and, for the limits, from chapters 1
and 2's metrics files in the same run folder), so the prose never carries a number that
was not measured in the run it describes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from hoilib.models.diffusion.bridge import noise_matched_t
from hoilib.ordering.labels import FROZEN_CLIP


def control_sentence(ctrl: pd.DataFrame, margin: float) -> str:
    """Which consumers passed the positive control (``margin``: the points it asks for, the claims
    section's ``control_margin``), and what the bridge did for the others."""
    ad = ctrl[ctrl.consumer == "adapted"]
    passed = list(ad[ad.passes].kind)
    if not passed:
        best = ad.sort_values("validation gain", ascending=False).iloc[0]
        return (
            f"no consumer of adapted text passed: the best validation gain of a consistent bridge "
            f"was {best['validation gain']:+.2f} points ({best.kind}), against the "
            f"{margin:g} point the rule asks for."
        )
    parts = [
        f"{k} ({g:+.2f} points on validation, {t:+.2f} [{lo:+.2f}, {hi:+.2f}] on test Unseen)"
        for k, g, t, lo, hi in ad[ad.passes][
            ["kind", "validation gain", "test Unseen gain", "lo", "hi"]
        ].values
    ]
    failed = ", ".join(ad[~ad.passes].kind)
    return (
        f"{len(passed)} of {len(ad)} consumers of adapted text passed on validation: "
        f"{'; '.join(parts)}. The bridge did not clear the rule for {failed or 'none'}."
    )


def measured_limits(res) -> dict:
    """The measured facts behind the chapter's limits (width, gap, how far adaptation moved text)."""
    geo, gaps, dim = res.tables.geometry, res.tables.gaps, int(res.ctx.frozen_test.shape[1])
    cos = [float((r.space.raw * r.space.adapted).sum(-1).mean()) for r in res.runs]
    return {
        "dim": dim,
        "t_matched": noise_matched_t(dim),
        "centroid_gap": float(gaps.loc[FROZEN_CLIP.label, "centroid_gap_norm"]),
        "class_cka": float(geo.loc["class text", "linear CKA"]),
        "corpus_cka": float(geo.loc["corpus", "linear CKA"]),
        "raw_adapted_cos": float(np.mean(cos)),
    }


def _read(run_dir: str, chapter: str) -> dict:
    path = Path(run_dir) / "metrics" / f"{chapter}.json"
    return json.loads(path.read_text())["metrics"] if path.is_file() else {}


def limits_list(lim: dict, run_dir: str):
    """What makes this world unlike real CLIP and EZ-HOI, measured in this run: a short Markdown
    list, one measured fact an item, as a Markdown display object (the landing page and chapter 5
    paste it as a block)."""
    from IPython.display import Markdown

    return Markdown("\n".join(f"- {p[0].upper()}{p[1:]}." for p in limit_parts(lim, run_dir)))


def limit_parts(lim: dict, run_dir: str) -> list[str]:
    """The measured facts ``limits_list`` shows, each a clause."""
    parts = [
        f"its CLIP embeds in {lim['dim']} dimensions, where real ViT-B/16 uses 512, so the "
        f"reference start step t* = 599 is a milder noise level here (the noise-matched start is "
        f"t* = {lim['t_matched']})",
        f"frozen CLIP's centroid gap between the annotated test pairs and their class text is "
        f"{lim['centroid_gap']:.2f} (Liang et al. report 0.82 for CLIP on MSCOCO)",
        f"adaptation moves the text far: a class's raw and adapted text have a mean cosine of "
        f"{lim['raw_adapted_cos']:.2f}, and the two spaces a linear CKA of {lim['class_cka']:.2f} "
        f"(class text) and {lim['corpus_cka']:.2f} (corpus), means over the model seeds (chapter 3 "
        "shows one seed)",
    ]
    ch1, ch2 = _read(run_dir, "01_modality_gap"), _read(run_dir, "02_ezhoi_training")
    acc = ch1.get("object_verb_accuracy")
    if acc:
        parts.append(
            f"frozen CLIP names the object of a pair {acc['object']['accuracy']:.1f}% of the time "
            f"(chance {acc['object']['chance']:.1f}%) and its verb given the object "
            f"{acc['verb given the object']['accuracy']:.1f}% (chance "
            f"{acc['verb given the object']['chance']:.1f}%)"
        )
    runs = pd.DataFrame(ch2.get("runs", []))
    if {"full", "no descriptors"} <= set(runs.get("model", [])):
        u = runs.groupby("model").unseen.mean()
        parts.append(
            f"the full text adaptation reaches {u['full']:.2f} Unseen mAP and the model without "
            f"descriptor attention {u['no descriptors']:.2f} (chapter 2's ablation)"
        )
    return parts


def gap_sentence(gapcost: pd.DataFrame) -> str:
    """How much accuracy each consumer loses from held-out text to image features, in words."""
    m = gapcost.groupby(["kind", "consumer"], sort=False)[
        ["held-out text accuracy", "image accuracy"]
    ].mean()
    drop = (m["held-out text accuracy"] - m["image accuracy"]).sort_values()
    (k_lo, c_lo), (k_hi, c_hi) = drop.index[0], drop.index[-1]
    return (
        f"From held-out text to image features, accuracy falls most for the {k_hi} fitted on "
        f"{c_hi} text ({m.loc[(k_hi, c_hi)].iloc[0]:.2f} to {m.loc[(k_hi, c_hi)].iloc[1]:.2f}) and "
        f"least for the {k_lo} fitted on {c_lo} text ({m.loc[(k_lo, c_lo)].iloc[0]:.2f} to "
        f"{m.loc[(k_lo, c_lo)].iloc[1]:.2f})."
    )
