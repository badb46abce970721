"""Stored outputs the regression test compares with: the smoke profile's key numbers and a tiny bridge.

``make pins`` (``python -m hoilib.publish.pins``) runs the smoke profile once (its own seed,
``run.seed: 0``, exactly the run ``tests/test_pinned.py`` makes) and rewrites
``tests/pinned/smoke.json`` when a change is meant to move the numbers. Every run uses
``run.cpu_kernels: portable`` (AVX2 kernels, two threads, a fixed summation order), under which
any x86-64 CPU with AVX2 gives the same digits: so the tolerance is float rounding, not a seed's
spread. A number (mAP in points, the centroid gap, a gain) is pinned to ``TOL`` absolute (5e-5:
a 0.01 move is 200 times that, and float rounding of a mean or a sum moves the digits far less);
a verdict, a pass/fail, a consumer's name and a chosen t* or lambda (choices from a grid) are
exact. The tiny bridge (a seeded 16-d model on fixed inputs, no training) is pinned to
``BRIDGE_TOL``. ``stored_numbers`` is the comparison.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.publish.key_numbers import key_numbers

PINNED = REPO / "tests" / "pinned" / "smoke.json"
PROFILE = "smoke"
TOL = 5e-5
BRIDGE_TOL = 1e-4
EXACT_NAMES = ("chosen t*", "chosen lambda")  # grid choices: any move is a different choice


def tiny_bridge() -> dict[str, float]:
    """The bridge of a seeded, untrained 16-d denoiser on fixed inputs: sums and the first values."""
    import torch
    import torch.nn.functional as F

    from hoilib.models.diffusion import model as dm
    from hoilib.models.diffusion.bridge import bridge
    from hoilib.models.gap_closing import modality_mean

    g = torch.Generator().manual_seed(0)
    text = F.normalize(torch.randn(32, 16, generator=g), dim=-1)
    vision = torch.randn(8, 16, generator=g)
    torch.manual_seed(0)
    denoiser = dm.VectorDenoiser(dm.DenoiserConfig(dim=16, hidden=32, blocks=1))
    mean = modality_mean(text)
    radius = float((F.normalize(text, dim=-1) - mean).norm(dim=-1).mean())
    diff = dm.TextDiffusion(
        denoiser=denoiser,
        text_mean=mean,
        radius=radius,
        fingerprint="tiny",
        space="adapted",
        history={},
    )
    out = {}
    for t, steps in ((599, 5), (999, 10)):
        x = bridge(
            diff,
            vision,
            vision.mean(0),
            space_fingerprint="tiny",
            t_start=t,
            steps=steps,
            recipe="direct",
        )
        out[f"t*={t}, {steps} steps: sum"] = float(x.sum())
        out[f"t*={t}, {steps} steps: sum of squares of x - mean"] = float(
            ((x - x.mean(0)) ** 2).sum()
        )
        out |= {f"t*={t}, {steps} steps: x[0, {j}]": float(x[0, j]) for j in range(3)}
    return out


def pin(name: str, value) -> dict:
    """One stored number, its tolerance and why (the record ``stored_numbers`` compares with)."""
    if isinstance(value, (str, bool)) or any(n in name for n in EXACT_NAMES):
        return {"value": value, "tolerance": None, "basis": "exact"}
    return {"value": value, "tolerance": TOL, "basis": "float rounding under portable kernels"}


def run_settings(run_dir: Path) -> dict:
    """What a run must share with the pins' run for the same digits: profile, seed, CPU kernels."""
    run = artifacts.read_json(Path(run_dir) / "config.json", "the run's parameters")["run"]
    return {k: run[k] for k in ("profile", "seed", "cpu_kernels")}


def record(run_dir: Path) -> dict:
    """The record to store, from a finished smoke run in ``run_dir``."""
    from hoilib.machine import cpu_model
    from hoilib.provenance import git_state

    return {
        "regenerate": "make pins",
        "rule": (
            f"value: one run of the {PROFILE} profile (its run.seed); tolerance: {TOL:g} absolute "
            "for a number, float rounding only (under run.cpu_kernels: portable every x86-64 CPU "
            "with AVX2 gives the same digits, so a move of 0.01 is a change); exact for a "
            "verdict, a pass/fail, a consumer's name and a chosen t* or lambda; "
            f"bridge: {BRIDGE_TOL:g} absolute"
        ),
        "run": run_settings(run_dir),
        "machine": cpu_model(),
        "commit": git_state()["commit"],
        "numbers": {name: pin(name, v) for name, v in key_numbers(run_dir).items()},
        "bridge": {
            name: {"value": v, "tolerance": BRIDGE_TOL, "basis": "float rounding, no training"}
            for name, v in tiny_bridge().items()
        },
    }


def regenerate(run_root: Path) -> dict:
    """Run the smoke profile once under ``run_root``; the record to store."""
    from hoilib.run.runner import run_profile

    run_dir = run_root / PROFILE
    run_profile(PROFILE, {"run.run_dir": str(run_dir)}, log=print)
    return record(run_dir)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hoi-pins-") as tmp:
        rec = regenerate(Path(tmp))
    artifacts.write_json(PINNED, rec)
    for name, spec in rec["numbers"].items():
        tol = "exact" if spec["tolerance"] is None else f"+- {spec['tolerance']:g}"
        print(f"{name:56s} {spec['value']!r:>22} {tol}")
    print(f"[pins] written to {PINNED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
