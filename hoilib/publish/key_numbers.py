"""The numbers of a run that a change to the code should not move unnoticed.

``key_numbers(run_dir)`` reads chapters 1, 2 and 5's metrics JSON (never the ordering code, so
it reads what the book reports) and returns a flat {name: value}: frozen CLIP's zero-shot mAP and
the modality gap (chapter 1); EZ-HOI's mean mAP over seeds (chapter 2); chapter 5's fixed-t*
orders, their difference and its verdict; the positive control's outcome per consumer (the gate)
and the primary consumer it picks; the answer's numbers (the primary consumer's correct - wrong
Unseen contrast and verdict, or, when no consumer passed, the best consumer on validation and its
gains, which the answer reports instead); and the strength (t*, lambda) validation chose for each
order of the consumer the answer names, per seed. ``tests/test_pinned.py`` compares them with
``tests/pinned/smoke.json``; ``make pins`` rewrites that file when a change is meant to move them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoilib import artifacts
from hoilib.errors import ArtifactError
from hoilib.ordering.labels import CORRECT, MLP, NONE, WRONG  # row names only: no torch behind them

# the orders of a text-only consumer's rows in chapter 5's ``text_only``: which text the
# diffusion model behind the bridge learned; the trained denoiser is the experiment's bridge
ORDERS = {"correct order": "adapted", "wrong order": "raw"}

Value = float | int | str | bool


def chapter_metrics(run_dir: Path, chapter: str) -> dict:
    """The ``metrics`` of one chapter's ``metrics/<chapter>.json`` (the pins and verify read them)."""
    path = Path(run_dir) / "metrics" / f"{chapter}.json"
    return artifacts.read_json(path, f"chapter {chapter}'s metrics (run it first)")["metrics"]


def _rows(rows: list[dict], where: str, **match) -> list[dict]:
    out = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    if not out:
        raise ArtifactError(f"{where}: no row with {match}")
    return out


def _mean(rows: list[dict], col: str, where: str, **match) -> float:
    return float(np.mean([r[col] for r in _rows(rows, where, **match)]))


def _answer(ch5: dict, where: str) -> tuple[dict[str, Value], str]:
    """The numbers chapter 5's answer reports, and the consumer it names."""
    primary = ch5["primary_consumer"]
    out: dict[str, Value] = {"ch5 answer: primary consumer": primary or "none"}
    if primary is not None:
        (r,) = _rows(ch5["verdict_primary"], where, contrast="correct - wrong", column="unseen")
        name = "ch5 answer: correct - wrong Unseen"
        out |= {name: float(r["mean"]), f"{name}, lo": float(r["lo"])}
        out |= {f"{name}, hi": float(r["hi"]), f"{name}, verdict": str(r["verdict"])}
        return out, primary
    # nobody passed: the answer names the adapted consumer best on validation and its gains
    adapted = _rows(ch5["controls"], where, consumer="adapted")
    best = max(adapted, key=lambda c: c["validation gain"])
    name = "ch5 answer: best on validation"
    out[name] = str(best["kind"])
    for col in ("validation gain", "test Unseen gain", "lo", "hi"):
        out[f"{name}, {col}"] = float(best[col])
    return out, str(best["kind"])


def key_numbers(run_dir: str | Path) -> dict[str, Value]:
    """{name: value} of the pinned numbers of one run (mAPs in points)."""
    ch1 = chapter_metrics(run_dir, "01_modality_gap")
    ch2 = chapter_metrics(run_dir, "02_ezhoi_training")
    ch5 = chapter_metrics(run_dir, "05_evaluation")
    where = str(Path(run_dir) / "metrics" / "05_evaluation.json")
    rows = ch5["per_seed"]
    out: dict[str, Value] = {
        "ch1 frozen CLIP Unseen": float(ch1["zero_shot"]["union crops"]["unseen"]),
        "ch1 frozen CLIP Full": float(ch1["zero_shot"]["union crops"]["full"]),
        "ch1 centroid gap": float(ch1["gap"]["centroid_gap_norm"]),
        "ch2 EZ-HOI Unseen": _mean(ch2["runs"], "unseen", "chapter 2's runs", model="full"),
        "ch2 EZ-HOI Full": _mean(ch2["runs"], "full", "chapter 2's runs", model="full"),
    }
    for name, m in (("no bridge", NONE), ("correct order", CORRECT), ("wrong order", WRONG)):
        out[f"ch5 {name} Unseen"] = _mean(rows, "unseen", where, method=m.label)
    out["ch5 correct - wrong Unseen"] = (
        out["ch5 correct order Unseen"] - out["ch5 wrong order Unseen"]
    )
    (fixed,) = _rows(ch5["verdict_fixed"], where, contrast="correct - wrong", column="unseen")
    out["ch5 fixed t*: correct - wrong Unseen, verdict"] = str(fixed["verdict"])
    for c in ch5["controls"]:
        out[f"ch5 control: {c['kind']} on {c['consumer']} text, passes"] = bool(c["passes"])
    answer, kind = _answer(ch5, where)
    out |= answer
    for order, diffusion in ORDERS.items():
        chosen = _rows(
            ch5["text_only"],
            where,
            kind=kind,
            consumer="adapted",
            diffusion=diffusion,
            denoiser=MLP,
        )
        for r in chosen:
            out[f"ch5 chosen t*: {kind}, {order}, seed {r['seed']}"] = int(r["t_start"])
            out[f"ch5 chosen lambda: {kind}, {order}, seed {r['seed']}"] = float(r["lambda"])
    return out
