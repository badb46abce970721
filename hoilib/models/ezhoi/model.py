"""The EZ-HOI-style detector head on frozen CLIP features.

Text side: class prompts through the prompted text encoder (``use_prompts``), the
text adapter over the set of class features (``use_adapter``, EZ-HOI's
``txtmem_adapter``), and attention from each class to its top-3 descriptor
sentences (``use_descriptors``, ``act_descriptor_attn``). Visual side: human,
object and union features fused by an MLP whose last layer starts at zero (so the
fused feature starts as the union feature), then an adapter across the pairs of
one image. Logits are scale * cosine + bias; each text module can be switched off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hoilib.models.ezhoi.adapter import Adapter
from hoilib.models.ezhoi.prompts import PromptedTextEncoder


@dataclass(frozen=True, kw_only=True)
class EZHOIConfig:
    dim: int
    num_classes: int
    use_prompts: bool = True
    use_adapter: bool = True
    use_descriptors: bool = True
    n_ctx: int = 2
    prompt_depth: int = 3
    down_size: int = 64
    n_descriptors: int = 3
    prompt_kind: str = (
        "shared"  # or "class": a per-class context offset (prompts.PromptedTextEncoder)
    )

    def to_dict(self) -> dict:
        return asdict(self)


class EZHOI(nn.Module):
    def __init__(
        self,
        cfg: EZHOIConfig,
        clip_model,
        prompt_tokens: torch.Tensor,
        *,
        descriptor_feats: torch.Tensor,
        relate: torch.Tensor | None = None,
    ):
        """``prompt_tokens``: (C, L) tokenised class prompts; ``descriptor_feats``: (C, K, D) frozen,
        L2-normalised; ``relate`` (C, C): the relatives of class-specific prompts
        (``prompts.related_classes``), used when ``prompt_kind="class"``."""
        super().__init__()
        self.cfg = cfg
        if cfg.prompt_kind not in ("shared", "class"):
            raise ValueError(f"prompt_kind must be 'shared' or 'class', got {cfg.prompt_kind!r}")
        if cfg.prompt_kind == "class" and relate is None:
            relate = torch.eye(cfg.num_classes)  # every class trained: its own offset
        self.text_encoder = PromptedTextEncoder(
            clip_model,
            prompt_tokens,
            cfg.n_ctx,
            depth=cfg.prompt_depth,
            relate=relate if cfg.prompt_kind == "class" else None,
        )
        self.txtmem_adapter = Adapter(cfg.dim, cfg.down_size)
        self.act_descriptor_attn = Adapter(cfg.dim, cfg.down_size, prior_size=cfg.dim)
        self.register_buffer("descriptors", descriptor_feats.float(), persistent=False)
        d = cfg.dim
        self.vis_fuse = nn.Sequential(nn.Linear(3 * d, d), nn.ReLU(), nn.Linear(d, d))
        nn.init.zeros_(self.vis_fuse[2].weight)
        nn.init.zeros_(self.vis_fuse[2].bias)
        self.pair_adapter = Adapter(d, cfg.down_size)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.logit_bias = nn.Parameter(torch.tensor(0.0))

    # ---- text side -------------------------------------------------------
    def raw_text(self) -> torch.Tensor:
        """Frozen CLIP features of the class prompts (no prompts, no adapters)."""
        return self.text_encoder(use_prompts=False)

    def adapt_text(
        self, feats: torch.Tensor, descriptors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Apply the text adapter (over the set of C features) and descriptor attention; L2-normalised."""
        x = feats
        if self.cfg.use_adapter:
            x = self.txtmem_adapter(x[None])[0]
        if self.cfg.use_descriptors:
            desc = self.descriptors if descriptors is None else descriptors
            x = self.act_descriptor_attn(x[:, None, :], desc)[:, 0]
        return F.normalize(x, dim=-1)

    def text_features(self) -> torch.Tensor:
        """The adapted class text space (C, D): what the classifier compares against."""
        return self.adapt_text(self.text_encoder(use_prompts=self.cfg.use_prompts))

    # ---- visual side -----------------------------------------------------
    def visual_features(
        self, h: torch.Tensor, o: torch.Tensor, u: torch.Tensor, *, pad: torch.Tensor
    ) -> torch.Tensor:
        """h, o, u: (B, P, D) frozen crop features of the pairs of B images; pad: (B, P) True where empty."""
        v = u + self.vis_fuse(torch.cat([h, o, u], dim=-1))
        v = self.pair_adapter(v, key_padding_mask=pad)
        return F.normalize(v, dim=-1)

    def logits(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.logit_scale.exp() * v @ t.T + self.logit_bias

    def forward(self, h, o, u, *, pad):
        return self.logits(self.visual_features(h, o, u, pad=pad), self.text_features())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.state_dict().items()}
