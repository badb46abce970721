"""Move vision features into a learned text distribution with DDIM (eta 0), guarded by the training order.

Two recipes: ``direct`` (Diffusion Bridge: the centred, rescaled vision feature is fed
as x_t at the start step, no forward noise) and ``sdedit`` (noise forward to the start
step, then denoise). The run visits the reference code's grid exactly: ``steps``
points of linspace(-1, t*, steps + 1) from the top (t* = 599, 5 steps: 599, 479, 359,
239, 119, then x0), as lucidrains' ``ddim_sample`` (which Diffusion Bridge's code uses)
spaces them. diffusers' ``DDIMScheduler.step`` moves by the integer 1000 // n and cannot
visit a 120-step grid, so the deterministic DDIM update (eta 0, Song et al. eq. 12) is
written out here over diffusers' own alphas_cumprod.

The reference starts at t* = 599 in 512 dimensions. ``noise_matched_t`` maps that start
to another width by the noise level the denoiser assumes there (see its docstring).
The order guard refuses to bridge against a text space other than the one the
diffusion model learned, unless the caller asks for the mismatch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler

from hoilib.errors import HoiBookError
from hoilib.models.diffusion.model import (
    SCALE,
    TRAIN_STEPS,
    TextDiffusion,
    from_diffusion_space,
    scheduler_config,
    to_diffusion_space,
)


class OrderError(HoiBookError):
    """A diffusion model asked to bridge toward a text space it did not learn."""


def check_order(diff: TextDiffusion, space_fingerprint: str, allow_mismatch: bool = False) -> None:
    if diff.fingerprint != space_fingerprint and not allow_mismatch:
        raise OrderError(
            f"the diffusion model learned the {diff.space!r} text space (fingerprint {diff.fingerprint}), but the "
            f"classifier compares against text space {space_fingerprint}. A bridge pulls vision features toward the "
            "distribution it learned; bridged features compared with a different space mismatch "
            "it (train EZ-HOI first, "
            "extract its adapted space, then train the diffusion model on that). Pass allow_mismatch=True only for the "
            "wrong-order ablation."
        )


REFERENCE_T, REFERENCE_DIM = 599, 512  # Diffusion Bridge's start step, for 512-d CLIP ViT-B


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    """The timesteps the bridge visits: the top ``steps`` of round(linspace(-1, t_start, steps + 1))."""
    if t_start <= 0 or steps <= 0:
        return []
    grid = np.round(np.linspace(-1, t_start, min(steps, t_start) + 1)).astype(int)[::-1]
    return [int(t) for t in grid[:-1]]


@lru_cache(maxsize=1)
def _abar() -> torch.Tensor:
    return DDPMScheduler(**scheduler_config()).alphas_cumprod.double()


def expected_cos(t: int, dim: int, abar: torch.Tensor | None = None) -> float:
    """E-ish cos(x_t, x0) of the forward process at step t in ``dim`` dimensions, for |x0| = 5.

    From the expected squared norms: sqrt(abar) 5 / sqrt(abar 25 + (1 - abar) dim).
    """
    a = float((_abar() if abar is None else abar)[int(t)])
    return (a**0.5 * SCALE) / (a * SCALE**2 + (1 - a) * dim) ** 0.5


def noise_matched_t(dim: int, t_ref: int = REFERENCE_T, dim_ref: int = REFERENCE_DIM) -> int:
    """The start step whose expected cos(x_t, x0) in ``dim`` dimensions equals the reference's.

    Noise of variance (1 - abar) per dimension weighs more against the |x0| = 5 signal
    the more dimensions there are, so t* = 599 at 512-d (cos 0.16) is a milder noise
    level at 128-d (cos 0.30). With c the reference cos, abar' = dim c^2 / (25 (1 - c^2)
    + dim c^2), and t' is the step whose abar is closest to it.
    """
    abar = _abar()
    c2 = expected_cos(t_ref, dim_ref, abar) ** 2
    target = dim * c2 / (SCALE**2 * (1 - c2) + dim * c2)
    return int(torch.argmin((abar - target).abs()))


def _denoise(diff: TextDiffusion, z: torch.Tensor, grid: list[int]) -> torch.Tensor:
    """DDIM (eta 0) from z at grid[0] down the grid; returns the last predicted x0 (diffusion space).

    Each step: x0 = model(x_t, t); eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t);
    x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps, with x_t renormalised to norm 5
    as the model sees it.
    """
    abar = _abar()
    x0 = z
    for t, prev in zip(grid, grid[1:] + [-1], strict=True):
        x0 = diff.predict_x0(z, t)
        if prev < 0:
            break
        a, ap = abar[t], abar[prev]
        xt = SCALE * F.normalize(z, dim=-1)
        eps = (xt.double() - a.sqrt() * x0.double()) / (1 - a).sqrt()
        z = (ap.sqrt() * x0.double() + (1 - ap).sqrt() * eps).to(x0.dtype)
    return x0


def add_noise(z: torch.Tensor, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Forward diffusion of diffusion-space vectors to step t (the SDEdit start)."""
    noise = torch.randn(z.shape, generator=generator).to(z.device)
    return DDIMScheduler(**scheduler_config()).add_noise(
        z, noise, torch.full((len(z),), int(t), dtype=torch.long)
    )


@torch.no_grad()
def bridge(
    diff: TextDiffusion,
    vision: torch.Tensor,
    vision_mean: torch.Tensor,
    *,
    space_fingerprint: str,
    t_start: int,
    steps: int,
    recipe: str,
    allow_mismatch: bool = False,
    generator: torch.Generator | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Bridged vision features on the text sphere (B, D); t_start = 0 returns the (normalised) input.

    ``t_start``, ``steps`` and ``recipe`` have no defaults: a run reads them from its bridge
    section (``hoilib.config.schema.BridgeCfg``), so no second copy of them lives here."""
    check_order(diff, space_fingerprint, allow_mismatch)
    if recipe not in ("direct", "sdedit"):
        raise ValueError(f"recipe must be 'direct' or 'sdedit', got {recipe!r}")
    if not 0 <= t_start < TRAIN_STEPS:
        raise ValueError(f"t_start must be in [0, {TRAIN_STEPS - 1}], got {t_start}")
    grid = ddim_timesteps(t_start, steps)
    if not grid:
        return F.normalize(vision.float(), dim=-1)
    dev = next(diff.denoiser.parameters()).device
    out = []
    for s in range(0, len(vision), batch_size):
        z = to_diffusion_space(vision[s : s + batch_size].to(dev), vision_mean.to(dev))
        if recipe == "sdedit":
            z = add_noise(z, grid[0], generator)
        out.append(
            from_diffusion_space(_denoise(diff, z, grid), diff.text_mean.to(dev), diff.radius).cpu()
        )
    return torch.cat(out)


@torch.no_grad()
def sample(diff: TextDiffusion, n: int, steps: int = 20, *, seed: int = 0) -> torch.Tensor:
    """n unconditional samples of the learned text distribution (DDIM from pure noise at t = 999),
    on the text sphere.
    """
    gen = torch.Generator().manual_seed(seed)
    dev = next(diff.denoiser.parameters()).device
    z = torch.randn(n, diff.denoiser.cfg.dim, generator=gen).to(dev)
    t_start = TRAIN_STEPS - 1
    x0 = _denoise(diff, z, ddim_timesteps(t_start, steps))
    return from_diffusion_space(x0, diff.text_mean.to(dev), diff.radius).cpu()
