"""The stages ``benchmarks/scaling.py`` times, each made for one size on one device, their sizes
per device (``sizes``), HICO-DET's sizes (``hico_sizes``) and the timer (``timed``).

A maker returns a callable that runs its stage once (the runner warms it up and times it), except
``ezhoi_step``, which returns the seconds per step itself: it is ``benchmarks/vit_b16.py``'s
``bench_train_step`` (median of its repeats after one warm-up step), imported, not copied.
Inputs are synthetic, of the ``hico-det`` profile's shapes: a 512-d text space, the MLP denoiser
with hidden width 1024 and 4 blocks, EZ-HOI over open_clip's ViT-B-16 (random init, no download).
Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hoilib.models.diffusion import model as dm
from hoilib.models.diffusion.bridge import bridge
from hoilib.models.diffusion.closed_form import closed_form_x0

DIM, HIDDEN, BLOCKS = 512, 1024, 4

PROFILE = Path(__file__).resolve().parents[1] / "hoilib" / "config" / "profiles" / "hico-det.yml"
TRAIN_IMAGES = 38_118


def hico_sizes() -> dict:
    """HICO-DET's sizes, with the training schedule read from the ``hico-det`` profile."""
    import yaml

    prof = yaml.safe_load(PROFILE.read_text())
    ez, diff = prof.get("ezhoi", {}), prof.get("diffusion", {})
    return {
        "corpus": 31_800,
        "test pairs": 33_000,
        "diffusion steps": int(diff.get("steps", 100_000)),
        "umap points": 6_000,
        "classes": 600,
        "train images": TRAIN_IMAGES,
        "ezhoi batch images": int(ez.get("batch_images", 32)),
        "ezhoi epochs": int(ez.get("epochs", 12)),
        "ezhoi seeds": len(ez.get("seeds", [0, 1, 2])),
    }


def sizes(device: str, quick: bool) -> dict:
    """The sizes each stage is timed at: HICO-DET's on CUDA, the CPU's few minutes otherwise."""
    if device == "cuda":
        s = 4 if quick else 1
        plan = {
            "corpus": [4000, 8000, 16000, 31800],
            "queries": [4125, 8250, 16500, 33000],
            "queries corpus": [31800],
            "bridge": [4125, 8250, 16500, 33000],
            "train": [200, 500, 1000],
            "umap": [500, 1000, 2000, 6000],
            "ezhoi": [117, 300, 600],
        }
        return {k: [n // s for n in v] for k, v in plan.items()}
    if quick:
        return {
            "corpus": [500, 1000, 2000, 4000],
            "queries": [64, 128, 256, 512],
            "queries corpus": [2000],
            "bridge": [100, 200, 400],
            "train": [2, 4, 8],
            "umap": [125, 250, 500],
            "ezhoi": [2, 4, 8],
        }
    return {
        "corpus": [2000, 4000, 8000, 16000],
        "queries": [256, 512, 1024, 2048],
        "queries corpus": [8000],
        "bridge": [2000, 4000, 8000, 16000],
        "train": [50, 100, 200],
        "umap": [500, 1000, 2000],
        "ezhoi": [],
    }


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(make, device: str, repeats: int, warm_each: bool = True):
    """measure(n): the best of ``repeats`` runs of ``make(n)()`` after an untimed warm-up (at every
    size, or only the first: umap's numba compile and CUDA's start are not growth)."""
    warmed = []

    def measure(n: int) -> float:
        fn = make(n)
        if warm_each or not warmed:
            fn()
            warmed.append(n)
        times = []
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
        return min(times)

    return measure


def _unit(n: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed)), dim=-1)


def closed_form(n: int, q: int, device: str) -> Callable[[], object]:
    """One float64 ``closed_form_x0`` call at t = 599: q queries against an n-vector corpus of norm 5
    (diffusion space), both on ``device``. It streams chunks of 1,024 queries x 4,096 rows, so its
    memory is bounded whatever n and q are."""
    g = torch.Generator().manual_seed(0)
    corpus = (F.normalize(torch.randn(n, DIM, generator=g), dim=-1) * 5).to(device)
    x_t = torch.randn(q, DIM, generator=g).to(device)
    return lambda: closed_form_x0(x_t, 599, corpus)


def mlp(device: str) -> dm.TextDiffusion:
    """An untrained denoiser of the profile's size (the bridge's cost does not depend on its weights)."""
    torch.manual_seed(0)
    den = dm.VectorDenoiser(dm.DenoiserConfig(dim=DIM, hidden=HIDDEN, blocks=BLOCKS))
    return dm.TextDiffusion(
        denoiser=den.to(device).eval(),
        text_mean=torch.zeros(DIM),
        radius=1.0,
        fingerprint="bench",
        space="adapted",
        history={},
    )


def bridge_call(n: int, diff: dm.TextDiffusion) -> Callable[[], object]:
    """The DDIM bridge (5 steps from t* = 599) over n vectors held on the CPU, as the chapter calls
    it: batches go to the denoiser's device and the bridged vectors come back."""
    x = _unit(n)
    return lambda: bridge(
        diff,
        x,
        x.mean(0),
        space_fingerprint=diff.fingerprint,
        t_start=599,
        steps=5,
        recipe="direct",
    )


def train_steps(steps: int, device: str) -> Callable[[], object]:
    """``train_text_diffusion`` for ``steps`` steps at batch 64 over 4,096 vectors on ``device``."""
    vec = _unit(4096)
    cfg = dm.DenoiserConfig(dim=DIM, hidden=HIDDEN, blocks=BLOCKS)
    return lambda: dm.train_text_diffusion(
        vec, "bench", "adapted", steps=steps, cfg=cfg, show_progress=False, device=device
    )


def umap_points(n: int) -> Callable[[], object]:
    """UMAP of n points (128-d) with the chapters' settings; umap-learn runs on the CPU only."""
    import umap

    x = np.random.default_rng(0).standard_normal((n, 128)).astype(np.float32)
    return lambda: umap.UMAP(
        n_neighbors=15, min_dist=0.1, random_state=0, n_epochs=200
    ).fit_transform(x)


def ezhoi_step(
    device: str, images: int, pairs: int, repeats: int, model: str = "ViT-B-16"
) -> Callable[[int], float]:
    """Seconds per EZ-HOI training step against the number of classes, with the backbone built
    once here (open_clip ``model``, random init, on the CPU; each size moves it to ``device``)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import vit_b16

    from hoilib.models.backbone import load_open_clip

    bb = load_open_clip(model, None, device="cpu")

    def measure(n_classes: int) -> float:
        res = vit_b16.bench_train_step(bb, device, n_classes, images, pairs, repeats, 1)
        return res["median_s_per_step"]

    return measure
