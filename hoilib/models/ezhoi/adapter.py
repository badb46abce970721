"""The EZ-HOI bottleneck adapter: D -> 64, one post-norm transformer decoder layer, 64 -> D, residual.

The up-projection starts at zero, so an adapter is the identity at initialisation
and training moves the features only as far as the loss asks.
"""

from __future__ import annotations

import torch
from torch import nn


class Adapter(nn.Module):
    """``out = x + up(layer(relu(down(x)), memory))``; memory is ``x`` itself when none is given.

    ``prior_size`` is the width of an external memory (e.g. descriptor embeddings); it is
    projected to the bottleneck like the query.
    """

    def __init__(
        self,
        dim: int,
        down_size: int = 64,
        heads: int = 2,
        *,
        ffn: int = 128,
        dropout: float = 0.1,
        prior_size: int | None = None,
    ):
        super().__init__()
        self.down = nn.Linear(dim, down_size)
        self.mem_down = nn.Linear(prior_size, down_size) if prior_size else None
        self.layer = nn.TransformerDecoderLayer(
            down_size,
            heads,
            dim_feedforward=ffn,
            dropout=dropout,
            batch_first=True,
            norm_first=False,
        )
        self.up = nn.Linear(down_size, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, L, D); memory: (B, M, prior_size) or None (self-attention over x)."""
        q = torch.relu(self.down(x))
        if memory is None:
            mem, mask = q, key_padding_mask
        else:
            mem = torch.relu(
                self.mem_down(memory) if self.mem_down is not None else self.down(memory)
            )
            mask = None
        h = self.layer(q, mem, tgt_key_padding_mask=key_padding_mask, memory_key_padding_mask=mask)
        return x + self.up(h)
