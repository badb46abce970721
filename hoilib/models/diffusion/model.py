"""Denoising diffusion over D-dimensional text embeddings (the Diffusion Bridge recipe, anchors.md).

Embeddings are mapped to x0 = 5 * normalize(normalize(t) - mean_text); a residual MLP
with diffusers' sinusoidal timestep embedding predicts x0 from x_t; diffusers' DDPM
scheduler (cosine schedule, ``prediction_type="sample"``, ``clip_sample=False``) adds
the noise; an EMA of the weights (torch's ``AveragedModel``) is what gets saved. The
checkpoint records the fingerprint of the text space it learned, which the bridge's
order guard checks, and the loss it was trained with.

Every loss (``LOSSES``, the profile's ``diffusion_loss``) trains the same x0 predictor, so
the sampler needs no change; they differ only in how the timesteps are weighted. Per
sample, e = mean over dims of (x0_hat - x0)^2, and the loss is the batch mean of w(t) * e:

- ``x0``: w = 1, plain MSE on x0 (what this model always did; the default).
- ``snr_x0``: w = SNR(t) = abar_t / (1 - abar_t), unclipped. Sourced: Diffusion Bridge's
  released code (github.com/mongeoroo/diffusion-bridge, ``ddpm/train_norm.py`` builds
  ``GaussianDiffusion1D_norm(objective='pred_x0')``; its ``p_losses`` in
  ``ddpm/denoising_diffusion_pytorch/denoising_diffusion_pytorch_1d.py`` takes the per-sample
  mean MSE times ``loss_weight = snr`` and the batch mean). The paper's text was not checked.
  On this cosine schedule SNR runs from 2.4e4 at t = 0 to 2e-9 at t = 999, so 97% of the
  total weight falls on t < 100.
- ``min_snr_x0``: w = min(SNR(t), 5), the min-SNR-gamma weighting of Hang et al. (ICCV 2023)
  for x0 prediction with their recommended gamma = 5, as in lucidrains'
  denoising-diffusion-pytorch ``GaussianDiffusion(min_snr_loss_weight=True)`` (``loss_weight =
  snr.clamp(max=gamma)`` for ``pred_x0``). Diffusion Bridge's 1D code has no such clamp (its
  README, copied from that library, cites Hang et al.); this option is the clipped variant.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.models.embeddings import Timesteps
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hoilib import artifacts
from hoilib.errors import ArtifactError
from hoilib.models.gap_closing import mean_center, modality_mean
from hoilib.progress import tqdm
from hoilib.seed import seed_everything

SCALE = 5.0
TRAIN_STEPS = 1000
KIND = "text-diffusion"
LOSSES = ("x0", "snr_x0", "min_snr_x0")  # see the module docstring; the first is the default
MIN_SNR_GAMMA = 5.0  # Hang et al.'s recommended clip of the SNR weight
PREDICTION = "sample"  # what the denoiser outputs, whatever the loss: x0 (diffusers' name)


def scheduler_config() -> dict:
    return {
        "num_train_timesteps": TRAIN_STEPS,
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": PREDICTION,
        "clip_sample": False,
    }


def snr(t: torch.Tensor) -> torch.Tensor:
    """SNR(t) = abar_t / (1 - abar_t) of the training schedule (float64), at integer steps t."""
    abar = DDPMScheduler(**scheduler_config()).alphas_cumprod.double()
    return (abar / (1 - abar))[torch.as_tensor(t, dtype=torch.long)]


def loss_weight(loss: str, t: torch.Tensor) -> torch.Tensor:
    """w(t) of a loss in ``LOSSES`` (float32): 1, SNR(t) or min(SNR(t), MIN_SNR_GAMMA)."""
    if loss not in LOSSES:
        raise ValueError(f"diffusion loss must be one of {LOSSES}, got {loss!r}")
    s = snr(t)
    if loss == "x0":
        return torch.ones_like(s, dtype=torch.float32)
    return (s if loss == "snr_x0" else s.clamp(max=MIN_SNR_GAMMA)).float()


def to_diffusion_space(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Centre on a modality mean and put on the sphere of radius 5 (where the model works)."""
    return SCALE * mean_center(x, mean)


def from_diffusion_space(z: torch.Tensor, text_mean: torch.Tensor, radius: float) -> torch.Tensor:
    """Back to the text sphere: the centred direction at the text set's mean radius, plus the mean, renormalised."""
    return F.normalize(F.normalize(z.float(), dim=-1) * radius + text_mean.float(), dim=-1)


class TimeEmbedding(nn.Module):
    """diffusers' sinusoidal features of t, then an MLP.

    ``flip_sin_to_cos=False, downscale_freq_shift=0``: [sin, cos] at frequencies
    10000^(-i/half), the Transformer's embedding and the one this model always had
    (the same numbers; the features have no weights, so checkpoints keep their keys).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.sinusoid = Timesteps(dim, flip_sin_to_cos=False, downscale_freq_shift=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.sinusoid(t))


class Block(nn.Module):
    def __init__(self, hidden: int, time_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(time_dim, 2 * hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, hidden)

    def forward(self, h, temb):
        scale, shift = self.film(temb).chunk(2, dim=-1)
        x = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(F.silu(self.fc1(x)))


@dataclass(frozen=True, kw_only=True)
class DenoiserConfig:
    dim: int
    hidden: int = 512
    blocks: int = 4
    time_dim: int = 128


class VectorDenoiser(nn.Module):
    """Residual MLP: (x_t, t) -> predicted x0."""

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.dim, cfg.hidden)
        self.time = TimeEmbedding(cfg.time_dim)
        self.blocks = nn.ModuleList([Block(cfg.hidden, cfg.time_dim) for _ in range(cfg.blocks)])
        self.out = nn.Sequential(nn.LayerNorm(cfg.hidden), nn.Linear(cfg.hidden, cfg.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        temb = self.time(t)
        for b in self.blocks:
            h = b(h, temb)
        return self.out(h)


@dataclass(kw_only=True)
class TextDiffusion:
    """A trained denoiser with the statistics and fingerprint of the text space it learned."""

    denoiser: VectorDenoiser
    text_mean: torch.Tensor
    radius: float  # mean norm of (normalised text - text_mean): the scale the centring removed
    fingerprint: str
    space: str
    history: dict
    loss: str = "x0"  # the training loss (LOSSES); every one of them predicts x0

    @torch.no_grad()
    def predict_x0(self, z: torch.Tensor, t: int) -> torch.Tensor:
        self.denoiser.eval()
        z = SCALE * F.normalize(z, dim=-1)  # inputs are renormalised to norm 5 before every call
        return self.denoiser(z, torch.full((len(z),), int(t), dtype=torch.long, device=z.device))


def train_text_diffusion(
    vectors: torch.Tensor,
    fingerprint: str,
    space: str,
    *,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 8e-5,
    ema_decay: float = 0.995,
    seed: int = 0,
    cfg: DenoiserConfig | None = None,
    show_progress: bool = True,
    device: str = "cpu",
    loss: str = "x0",
) -> TextDiffusion:
    """Fit the denoiser to a set of text embeddings (N, D): x0 prediction, weighted by ``loss``.

    ``loss`` is one of ``LOSSES`` (module docstring): ``x0`` is the plain MSE on x0 (the
    'sample' objective), the same computation as before the option existed; the others
    weight each sample's MSE by w(t). ``history["losses"]`` holds the weighted loss.

    Random draws come from a CPU generator and move to ``device``, so a seed gives the
    same batches everywhere; the returned model lives on the CPU. The returned weights
    are the EMA ``ema = decay * ema + (1 - decay) * param`` after every step, started
    from the initial weights (``ema_decay=0``: the raw weights). torch's ``AveragedModel``
    with ``get_ema_multi_avg_fn`` is exactly that rule (diffusers' ``EMAModel`` is not:
    it ramps the decay up as ``(1 + step) / (10 + step)``); its first update copies, so
    it is primed with the initial weights before the first step.
    """
    weights = None if loss == "x0" else loss_weight(loss, torch.arange(TRAIN_STEPS)).to(device)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    text_mean = modality_mean(vectors)
    radius = float((F.normalize(vectors.float(), dim=-1) - text_mean).norm(dim=-1).mean())
    x0_all = to_diffusion_space(vectors, text_mean).to(device)
    model = VectorDenoiser(cfg or DenoiserConfig(dim=vectors.shape[1])).to(device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
    ema.update_parameters(model)  # the first update copies: ema starts at the initial weights
    sched = DDPMScheduler(**scheduler_config())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, foreach=True)
    losses, t0 = [], time.time()
    # disabled only when asked: an explicit disable=False would override TQDM_DISABLE (batch runs)
    for _ in tqdm(
        range(steps),
        desc=f"training the text diffusion model ({space})",
        leave=False,
        **({} if show_progress else {"disable": True}),
    ):
        idx = torch.randint(len(x0_all), (min(batch_size, len(x0_all)),), generator=gen)
        x0 = x0_all[idx.to(device)]
        t = torch.randint(0, TRAIN_STEPS, (len(idx),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = t.to(device)
        xt = SCALE * F.normalize(sched.add_noise(x0, noise, t), dim=-1)
        if weights is None:  # exactly the computation the model was always trained with
            objective = F.mse_loss(model(xt, t), x0)
        else:
            objective = (weights[t] * (model(xt, t) - x0).pow(2).mean(dim=-1)).mean()
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        ema.update_parameters(model)
        losses.append(float(objective.detach()))
    hist = {
        "losses": losses,
        "seconds": round(time.time() - t0, 1),
        "steps": steps,
        "n_vectors": len(vectors),
    }
    # the plain module: checkpoints keep their keys
    denoiser = ema.module.requires_grad_(False).cpu().eval()
    return TextDiffusion(
        denoiser=denoiser,
        text_mean=text_mean,
        radius=radius,
        fingerprint=fingerprint,
        space=space,
        history=hist,
        loss=loss,
    )


def save(diff: TextDiffusion, path) -> None:
    tensors = {f"denoiser.{k}": v for k, v in diff.denoiser.state_dict().items()} | {
        "text_mean": diff.text_mean
    }
    artifacts.save_tensors(
        path,
        tensors,
        {
            "kind": KIND,
            "fingerprint": diff.fingerprint,
            "space": diff.space,
            "radius": diff.radius,
            "config": asdict(diff.denoiser.cfg),
            "history": diff.history,
            "scheduler": scheduler_config(),
            "loss": diff.loss,
        },
    )


def load(path) -> TextDiffusion:
    """A saved model; a checkpoint from before ``loss`` was recorded was trained with ``x0``."""
    tensors, meta = artifacts.load_tensors(path, "diffusion checkpoint", kind=KIND)
    loss = meta.get("loss", "x0")
    prediction = meta.get("scheduler", {}).get("prediction_type", PREDICTION)
    if loss not in LOSSES or prediction != PREDICTION:
        raise ArtifactError(
            f"{path}: trained with loss {loss!r} predicting {prediction!r}; this code knows the "
            f"losses {LOSSES}, all predicting {PREDICTION!r}"
        )
    model = VectorDenoiser(DenoiserConfig(**meta["config"]))
    try:
        model.load_state_dict(
            {k[len("denoiser.") :]: v for k, v in tensors.items() if k.startswith("denoiser.")}
        )
    except RuntimeError as e:
        raise ArtifactError(
            f"{path}: weights do not fit the denoiser its metadata describes: {e}"
        ) from e
    return TextDiffusion(
        denoiser=model.eval(),
        text_mean=tensors["text_mean"],
        radius=meta["radius"],
        fingerprint=meta["fingerprint"],
        space=meta["space"],
        history=meta["history"],
        loss=loss,
    )
