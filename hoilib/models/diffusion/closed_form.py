"""The closed-form optimal denoiser over a finite corpus: a control for the bridge's recipe.

With x0 drawn uniformly from N corpus vectors (in diffusion space) and the forward
process x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, the MMSE estimate E[x0 | x_t] is
the mean of the corpus points weighted by softmax_i(-||x_t - sqrt(abar_t) x0_i||^2 /
(2 (1 - abar_t))). No network stands between the recipe and its ideal, so a reader can
tell a weak recipe from an undertrained model: if this denoiser does no better than the
trained MLP, training is not the limit.

``ClosedFormDenoiser`` carries what ``bridge()`` and ``sample()`` read off a
``TextDiffusion`` (``predict_x0``, ``text_mean``, ``radius``, ``fingerprint``, ``space``,
and a ``denoiser`` whose only use there is to name the device and ``cfg.dim``), so both
run on it unchanged. The schedule is diffusers' (the trained model's config); the sums
run in float64 with a streaming log-sum-exp over chunks of queries and corpus rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch import nn

from hoilib.models.diffusion.model import SCALE, scheduler_config, to_diffusion_space
from hoilib.models.gap_closing import modality_mean

QUERY_CHUNK = 1024
CORPUS_CHUNK = 4096


def alphas_cumprod() -> torch.Tensor:
    """abar_t for t = 0..999, float64, from the DDPM scheduler the trained model uses."""
    return DDPMScheduler(**scheduler_config()).alphas_cumprod.to(torch.float64)


def closed_form_x0(
    x_t: torch.Tensor,
    t: int,
    corpus: torch.Tensor,
    *,
    query_chunk: int = QUERY_CHUNK,
    corpus_chunk: int = CORPUS_CHUNK,
    abar: torch.Tensor | None = None,
) -> torch.Tensor:
    """E[x0 | x_t] (Q, D) for x0 uniform over ``corpus`` (N, D), float64.

    Memory is O(query_chunk * (corpus_chunk + D)).
    """
    if x_t.dim() != 2 or corpus.dim() != 2 or x_t.shape[1] != corpus.shape[1]:
        raise ValueError(
            f"x_t (Q, D) and corpus (N, D) must agree, got {tuple(x_t.shape)}, "
            f"{tuple(corpus.shape)}"
        )
    abar = alphas_cumprod() if abar is None else abar
    a = float(abar[int(t)])
    sa, var = a**0.5, 1.0 - a
    dev = corpus.device
    c = corpus.to(torch.float64)
    c_sq = (c * c).sum(-1)  # ||x0_i||^2; ||x_t||^2 is the same for every i and cancels
    out = []
    for qs in range(0, len(x_t), query_chunk):
        x = x_t[qs : qs + query_chunk].to(dev, torch.float64)
        m_run = torch.full((len(x), 1), -torch.inf, dtype=torch.float64, device=dev)
        s_run = torch.zeros((len(x), 1), dtype=torch.float64, device=dev)
        acc = torch.zeros_like(x)
        for cs in range(0, len(c), corpus_chunk):
            ck = c[cs : cs + corpus_chunk]
            # -||x - sa x0||^2 / (2 var), up to the per-query constant -||x||^2 / (2 var)
            logit = (2 * sa * (x @ ck.T) - a * c_sq[cs : cs + corpus_chunk]) / (2 * var)
            m_new = torch.maximum(m_run, logit.max(dim=1, keepdim=True).values)
            rescale = torch.exp(m_run - m_new)  # 0 at the first chunk (m_run = -inf)
            w = torch.exp(logit - m_new)
            s_run = s_run * rescale + w.sum(dim=1, keepdim=True)
            acc = acc * rescale + w @ ck
            m_run = m_new
        out.append(acc / s_run)
    return torch.cat(out) if out else torch.zeros((0, c.shape[1]), dtype=torch.float64, device=dev)


@dataclass(frozen=True, kw_only=True)
class _Dim:
    dim: int


class _DeviceTag(nn.Module):
    """Stands in for ``TextDiffusion.denoiser`` where the bridge reads the device and ``cfg.dim``."""

    def __init__(self, dim: int, device: torch.device):
        super().__init__()
        self.cfg = _Dim(dim=dim)
        self.tag = nn.Parameter(torch.zeros(0, device=device), requires_grad=False)


@dataclass(kw_only=True)
class ClosedFormDenoiser:
    """The optimal denoiser over ``corpus`` (N, D, diffusion space), usable as ``bridge(diff=...)``.

    ``renormalize`` (default) feeds 5 * normalize(z), the input ``TextDiffusion.predict_x0``
    gives its MLP, so both see the same x_t; False takes z as the raw x_t of the forward process.
    """

    corpus: torch.Tensor
    text_mean: torch.Tensor
    radius: float
    fingerprint: str
    space: str
    renormalize: bool = True
    query_chunk: int = QUERY_CHUNK
    corpus_chunk: int = CORPUS_CHUNK

    def __post_init__(self):
        self._abar = alphas_cumprod()
        self.denoiser = _DeviceTag(self.corpus.shape[1], self.corpus.device)

    @classmethod
    def from_vectors(
        cls, vectors: torch.Tensor, fingerprint: str, space: str, **kw
    ) -> ClosedFormDenoiser:
        """From text embeddings (N, D): the text mean, radius and diffusion space exactly as
        ``train_text_diffusion`` computes them."""
        text_mean = modality_mean(vectors)
        radius = float((F.normalize(vectors.float(), dim=-1) - text_mean).norm(dim=-1).mean())
        corpus = to_diffusion_space(vectors, text_mean)
        return cls(
            corpus=corpus,
            text_mean=text_mean,
            radius=radius,
            fingerprint=fingerprint,
            space=space,
            **kw,
        )

    @torch.no_grad()
    def predict_x0(self, z: torch.Tensor, t: int) -> torch.Tensor:
        """E[x0 | x_t = z] in diffusion space, in z's dtype (float32 like the MLP if z is)."""
        x = SCALE * F.normalize(z.to(torch.float64), dim=-1) if self.renormalize else z
        x0 = closed_form_x0(
            x,
            t,
            self.corpus,
            query_chunk=self.query_chunk,
            corpus_chunk=self.corpus_chunk,
            abar=self._abar,
        )
        return x0.to(z.device, z.dtype if z.is_floating_point() else torch.float32)
