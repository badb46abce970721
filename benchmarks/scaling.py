"""Benchmark: how chapter 5's heavy stages grow, fitted and extrapolated to HICO-DET's sizes.

    .venv/bin/python benchmarks/scaling.py [--out scaling.json] [--quick]

Each stage is timed (best of ``--repeats``) at three or more sizes on synthetic inputs of the
book's shapes, the growth exponent fitted on log time against log size, and the time at HICO-DET's
size extrapolated from the largest measured size with that exponent (never from a size beyond what
was measured; the table says "extrapolated" and from where). Stages:

* the closed-form denoiser (``closed_form_x0``, float64), corpus x queries: HICO-DET's corpus is
  53 sentences x 600 classes = 31,800 vectors per text space, its test set about 33,000 pairs;
* the DDIM bridge through the trained MLP denoiser at the ``hico-det`` profile's size (512-d,
  hidden 1024, 4 blocks), 5 steps from t* = 599, over the test pairs;
* one step of diffusion training at that size (batch 64; the profile trains 100,000 steps);
* UMAP of n points (128-d) with the chapters' settings.

Not a test: the numbers depend on the machine, and nothing here asserts a speed. What this
machine cannot hold (a GPU, pretrained CLIP, HICO-DET's images) is not measured here.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from hoilib.machine import cpu_model
from hoilib.models.diffusion import model as dm
from hoilib.models.diffusion.bridge import bridge
from hoilib.models.diffusion.closed_form import closed_form_x0

HICO = {"corpus": 31_800, "test pairs": 33_000, "diffusion steps": 100_000, "umap points": 6_000}


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def closed_form(n: int, q: int = 1024, dim: int = 512) -> float:
    g = torch.Generator().manual_seed(0)
    corpus = torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=-1) * 5
    x_t = torch.randn(q, dim, generator=g)
    return lambda: closed_form_x0(x_t, 599, corpus)


def mlp(dim: int = 512, hidden: int = 1024, blocks: int = 4) -> dm.TextDiffusion:
    torch.manual_seed(0)
    den = dm.VectorDenoiser(dm.DenoiserConfig(dim=dim, hidden=hidden, blocks=blocks))
    return dm.TextDiffusion(den.eval(), torch.zeros(dim), 1.0, "bench", "adapted", {})


def bridge_call(n: int, diff: dm.TextDiffusion) -> callable:
    dim = diff.denoiser.cfg.dim
    x = torch.nn.functional.normalize(
        torch.randn(n, dim, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    return lambda: bridge(diff, x, x.mean(0), diff.fingerprint, t_start=599, steps=5)


def train_steps(steps: int, dim: int = 512) -> callable:
    vec = torch.nn.functional.normalize(
        torch.randn(4096, dim, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    cfg = dm.DenoiserConfig(dim=dim, hidden=1024, blocks=4)
    return lambda: dm.train_text_diffusion(
        vec, "bench", "adapted", steps=steps, cfg=cfg, show_progress=False
    )


def umap_points(n: int) -> callable:
    import umap

    x = np.random.default_rng(0).standard_normal((n, 128)).astype(np.float32)
    return lambda: umap.UMAP(
        n_neighbors=15, min_dist=0.1, random_state=0, n_epochs=200
    ).fit_transform(x)


def stage(name: str, unit: str, sizes: list[int], make, target: int, repeats: int) -> dict:
    rows = []
    for n in sizes:
        fn = make(n)
        fn()  # warm-up: first-call costs (allocation, numba's compile) are not growth
        rows.append({"size": n, "seconds": round(best(fn, repeats), 4)})
        rows[-1]["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(f"  {name}: {unit} {n}: {rows[-1]['seconds']:.3f} s", flush=True)
    x, y = np.log([r["size"] for r in rows]), np.log([max(r["seconds"], 1e-6) for r in rows])
    k = float(np.polyfit(x, y, 1)[0])
    last = rows[-1]
    est = last["seconds"] * (target / last["size"]) ** k
    return {
        "stage": name,
        "unit": unit,
        "rows": rows,
        "exponent": round(k, 2),
        "hico_size": target,
        "hico_seconds": round(est, 2),
        "hico_basis": f"extrapolated from {last['size']} with exponent {k:.2f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a check that it runs)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    s = 4 if a.quick else 1
    diff = mlp()
    stages = [
        stage("closed-form denoiser, 1,024 queries", "corpus vectors",
              [2000 // s, 4000 // s, 8000 // s, 16000 // s], closed_form, HICO["corpus"], a.repeats),
        stage("closed-form denoiser, 8,000-vector corpus", "queries",
              [256 // s, 512 // s, 1024 // s, 2048 // s], lambda q: closed_form(8000 // s, q), HICO["test pairs"],
              a.repeats),
        stage("DDIM bridge through the MLP (512-d, 5 steps)", "vectors",
              [2000 // s, 4000 // s, 8000 // s, 16000 // s], lambda n: bridge_call(n, diff), HICO["test pairs"],
              a.repeats),
        stage("diffusion training (512-d, hidden 1024, batch 64)", "steps",
              [50 // s, 100 // s, 200 // s], train_steps, HICO["diffusion steps"], 1),
        stage("UMAP (128-d, 200 epochs)", "points", [500 // s, 1000 // s, 2000 // s], umap_points,
              HICO["umap points"], 1),
    ]  # fmt: skip
    record = {
        "machine": {
            "cpu": cpu_model(),
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },
        "torch": torch.__version__,
        "hico": HICO,
        "stages": stages,
    }
    print("\n| stage | grows with | exponent | measured (largest) | at HICO-DET's size |")
    print("|---|---|---|---|---|")
    for st in stages:
        last = st["rows"][-1]
        print(
            f"| {st['stage']} | {st['unit']} | {st['exponent']} | {last['seconds']:.3f} s at {last['size']:,} | "
            f"{st['hico_seconds']:,.1f} s at {st['hico_size']:,} ({st['hico_basis']}) |"
        )
    if a.out:
        Path(a.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
