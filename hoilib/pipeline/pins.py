"""Stored outputs the regression test compares with: the smoke profile's key numbers and a tiny bridge.

``make pins`` (``python -m hoilib.pipeline.pins``) rewrites ``tests/pinned/smoke.json`` when a
change is meant to move them. The value of each key number is the smoke profile's own run (seed
0, what the test's run computes); its tolerance is ``K_SD`` times its standard deviation over the
run seeds ``SEEDS`` (each a new backbone pretraining and new EZ-HOI and diffusion runs), at least
``FLOOR``. On the CPU model the pins were made on, a run is deterministic and the test asks for
the same digits (``key_numbers.SAME_MACHINE_TOL``); another x86-64 CPU gives other digits for the
same seed (its kernels round otherwise), a perturbation of the kind a new seed is, so there a
number that moves less than that spread is not called a change; one that moves more is. The
tiny bridge is pinned tightly (``BRIDGE_TOL``): a seeded 16-d model and fixed inputs, no
training, so only float rounding can move it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.pipeline.key_numbers import key_numbers

PINNED = REPO / "tests" / "pinned" / "smoke.json"
SEEDS = (0, 1, 2)
K_SD = 2.0
FLOOR = {"mAP": 0.5, "gap": 0.02}  # points of mAP; the centroid gap is a norm on the unit sphere
BRIDGE_TOL = 1e-4


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
    diff = dm.TextDiffusion(denoiser, mean, radius, "tiny", "adapted", {})
    out = {}
    for t, steps in ((599, 5), (999, 10)):
        x = bridge(diff, vision, vision.mean(0), "tiny", t_start=t, steps=steps)
        out[f"t*={t}, {steps} steps: sum"] = float(x.sum())
        out[f"t*={t}, {steps} steps: sum of squares of x - mean"] = float(
            ((x - x.mean(0)) ** 2).sum()
        )
        out |= {f"t*={t}, {steps} steps: x[0, {j}]": float(x[0, j]) for j in range(3)}
    return out


def _tolerance(name: str, sd: float) -> float:
    floor = FLOOR["gap"] if "gap" in name else FLOOR["mAP"]
    return float(max(floor, round(K_SD * sd, 2)))


def regenerate(run_root: Path) -> dict:
    """Run the smoke profile at every seed of ``SEEDS`` under ``run_root``; the record to store."""
    from hoilib.machine import cpu_model
    from hoilib.pipeline.runner import run_profile
    from hoilib.provenance import git_state

    per_seed = []
    for s in SEEDS:
        run_dir = run_root / f"seed{s}"
        run_profile("smoke", {"run.run_dir": str(run_dir), "run.seed": s}, log=print)
        per_seed.append(key_numbers(run_dir))
    numbers = {}
    for name, value in per_seed[0].items():
        sd = float(np.std([k[name] for k in per_seed], ddof=1))
        spread = [round(k[name], 4) for k in per_seed]
        numbers[name] = {
            "value": value,
            "tolerance": _tolerance(name, sd),
            "sd": sd,
            "by seed": spread,
        }
    return {
        "regenerate": "make pins",
        "rule": (
            f"value: the smoke profile at run.seed 0; tolerance: max({FLOOR['mAP']} points "
            f"({FLOOR['gap']} for the gap), {K_SD:g} x the standard deviation over run.seed "
            f"{', '.join(map(str, SEEDS))}) on another CPU, 1e-06 on the CPU named in 'machine'; "
            f"bridge: {BRIDGE_TOL:g} absolute"
        ),
        "machine": cpu_model(),
        "commit": git_state()["commit"],
        "numbers": numbers,
        "bridge": {"tolerance": BRIDGE_TOL, "values": tiny_bridge()},
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hoi-pins-") as tmp:
        record = regenerate(Path(tmp))
    artifacts.write_json(PINNED, record)
    for name, spec in record["numbers"].items():
        print(
            f"{name:32s} {spec['value']:10.4f} +- {spec['tolerance']:g}  (by seed {spec['by seed']})"
        )
    print(f"[pins] written to {PINNED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
