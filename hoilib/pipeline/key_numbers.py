"""The few numbers of a run that a change to the code should not move unnoticed.

``key_numbers(run_dir)`` reads chapters 1, 2 and 5's metrics JSON and returns a flat
{name: value}: frozen CLIP's zero-shot mAP and the modality gap (chapter 1), EZ-HOI's mean
mAP over seeds (chapter 2), and chapter 5's orders and their difference. The stored-output
regression test (``tests/test_pinned.py``) compares them with ``tests/pinned/smoke.json``;
``make pins`` rewrites that file when a change is meant to move them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hoilib import artifacts

CORRECT = "EZ-HOI + adapted-trained bridge (correct order)"
WRONG = "EZ-HOI + raw-trained bridge (wrong order)"
NONE = "EZ-HOI, no bridge"


def _metrics(run_dir: Path, chapter: str) -> dict:
    path = Path(run_dir) / "metrics" / f"{chapter}.json"
    return artifacts.read_json(path, f"{chapter} metrics")["metrics"]


def _mean(rows: list[dict], col: str, **match) -> float:
    vals = [r[col] for r in rows if all(r.get(k) == v for k, v in match.items())]
    if not vals:
        raise KeyError(f"no row with {match}")
    return float(np.mean(vals))


def key_numbers(run_dir: str | Path) -> dict[str, float]:
    """{name: value} of the pinned numbers of one run (mAPs in points)."""
    ch1 = _metrics(run_dir, "01_modality_gap")
    ch2 = _metrics(run_dir, "02_ezhoi_training")
    ch5 = _metrics(run_dir, "05_evaluation")
    rows = ch5["per_seed"]
    out = {
        "ch1 frozen CLIP Unseen": float(ch1["zero_shot"]["union crops"]["unseen"]),
        "ch1 frozen CLIP Full": float(ch1["zero_shot"]["union crops"]["full"]),
        "ch1 centroid gap": float(ch1["gap"]["centroid_gap_norm"]),
        "ch2 EZ-HOI Unseen": _mean(ch2["runs"], "unseen", model="full"),
        "ch2 EZ-HOI Full": _mean(ch2["runs"], "full", model="full"),
    }
    for name, method in (("no bridge", NONE), ("correct order", CORRECT), ("wrong order", WRONG)):
        out[f"ch5 {name} Unseen"] = _mean(rows, "unseen", method=method)
    out["ch5 correct - wrong Unseen"] = (
        out["ch5 correct order Unseen"] - out["ch5 wrong order Unseen"]
    )
    return out
