"""Move vision features into a learned text distribution with DDIM (eta 0), guarded by the training order.

Two recipes: ``direct`` (Diffusion Bridge: the centred, rescaled vision feature is fed
as x_t at the start step, no forward noise) and ``sdedit`` (noise forward to the start
step, then denoise). The run starts exactly at t* and moves down by diffusers' DDIM
step size 1000 // n, with n chosen so the step is closest to t* / steps (t* = 599,
5 steps: 599, 474, 349, 224, 99, then x0; the reference code uses 120-step spacing).
The order guard refuses to bridge against a text space other than the one the
diffusion model learned, unless the caller asks for the mismatch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

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


def _inference_steps(t_start: int, steps: int) -> int:
    """DDIMScheduler's num_inference_steps whose step size (1000 // n) comes closest to t_start / steps."""
    return max(1, round(TRAIN_STEPS / max(1.0, t_start / steps)))


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    """The timesteps the bridge visits: t_start, then down by the scheduler's step size, ``steps`` of them."""
    if t_start <= 0 or steps <= 0:
        return []
    size = TRAIN_STEPS // _inference_steps(t_start, steps)
    return [t_start - k * size for k in range(steps) if t_start - k * size >= 0]


def _denoise(
    diff: TextDiffusion, z: torch.Tensor, grid: list[int], sched: DDIMScheduler
) -> torch.Tensor:
    """Run DDIM (eta 0) from z at grid[0] down the grid; returns the last predicted x0 (diffusion space)."""
    x0 = z
    for t in grid:
        x0 = diff.predict_x0(z, t)
        z = sched.step(x0, t, SCALE * F.normalize(z, dim=-1), eta=0.0).prev_sample
    return x0


def add_noise(z: torch.Tensor, t: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Forward diffusion of diffusion-space vectors to step t (the SDEdit start)."""
    noise = torch.randn(z.shape, generator=generator).to(z.device)
    return DDIMScheduler(**scheduler_config()).add_noise(
        z, noise, torch.full((len(z),), int(t), dtype=torch.long)
    )


def _scheduler(t_start: int, steps: int) -> DDIMScheduler:
    sched = DDIMScheduler(**scheduler_config())
    sched.set_timesteps(_inference_steps(t_start, steps))  # step() moves from t to t - 1000 // n
    return sched


@torch.no_grad()
def bridge(
    diff: TextDiffusion,
    vision: torch.Tensor,
    vision_mean: torch.Tensor,
    space_fingerprint: str,
    t_start: int = 599,
    steps: int = 5,
    recipe: str = "direct",
    allow_mismatch: bool = False,
    generator: torch.Generator | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """Bridged vision features on the text sphere (B, D); t_start = 0 returns the (normalised) input."""
    check_order(diff, space_fingerprint, allow_mismatch)
    if recipe not in ("direct", "sdedit"):
        raise ValueError(f"recipe must be 'direct' or 'sdedit', got {recipe!r}")
    if not 0 <= t_start < TRAIN_STEPS:
        raise ValueError(f"t_start must be in [0, {TRAIN_STEPS - 1}], got {t_start}")
    grid = ddim_timesteps(t_start, steps)
    if not grid:
        return F.normalize(vision.float(), dim=-1)
    sched = _scheduler(t_start, steps)
    dev = next(diff.denoiser.parameters()).device
    out = []
    for s in range(0, len(vision), batch_size):
        z = to_diffusion_space(vision[s : s + batch_size].to(dev), vision_mean.to(dev))
        if recipe == "sdedit":
            z = add_noise(z, grid[0], generator)
        out.append(
            from_diffusion_space(
                _denoise(diff, z, grid, sched), diff.text_mean.to(dev), diff.radius
            ).cpu()
        )
    return torch.cat(out)


@torch.no_grad()
def sample(diff: TextDiffusion, n: int, steps: int = 20, seed: int = 0) -> torch.Tensor:
    """n unconditional samples of the learned text distribution (DDIM from pure noise at t = 999),
    on the text sphere.
    """
    gen = torch.Generator().manual_seed(seed)
    dev = next(diff.denoiser.parameters()).device
    z = torch.randn(n, diff.denoiser.cfg.dim, generator=gen).to(dev)
    t_start = TRAIN_STEPS - 1
    x0 = _denoise(diff, z, ddim_timesteps(t_start, steps), _scheduler(t_start, steps))
    return from_diffusion_space(x0, diff.text_mean.to(dev), diff.radius).cpu()
