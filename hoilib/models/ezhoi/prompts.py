"""Learnable text prompts inside the frozen CLIP text encoder (MaPLe-style deep prompts).

``n_ctx`` context tokens are inserted just before each prompt's end-of-text token,
so the end-of-text position, which CLIP pools, attends to them under the causal
mask; layers 1..depth-1 replace the hidden states at those positions with their own
learnable tokens. All of them are registered parameters. (The released EZ-HOI code
places per-class tokens after the end-of-text token, where they cannot change the
pooled feature; see anchors.md.)

Class-specific prompts (``relate`` given): each class adds its own learnable offset to
the first layer's context tokens. A class the model never trains on (unseen or
pseudo-unseen) gets no gradient of its own, so its offset is the mean of its trained
relatives' (``relate``: classes sharing its verb or object), as EZ-HOI builds unseen
prompts from related seen classes. Rows of a token batch are read as classes in order,
so a batch of C sentences (one per class) gets the class offsets and any other batch
only the shared context.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hoilib.errors import ConfigError


def _layout(tokens: torch.Tensor, n_ctx: int):
    """Index maps for inserting n_ctx tokens before each end-of-text token (the largest id of a row)."""
    n, L = tokens.shape
    eot = tokens.argmax(dim=-1)
    if int(eot.max()) + n_ctx >= L:
        raise ConfigError(
            f"a prompt plus {n_ctx} context tokens does not fit the context length {L}"
        )
    pos = torch.arange(L, device=tokens.device)[None, :].expand(n, L)
    e = eot[:, None]
    is_ctx = (pos >= e) & (pos < e + n_ctx)
    src = torch.where(pos < e, pos, pos - n_ctx).clamp(min=0)
    slot = (pos - e).clamp(0, n_ctx - 1)
    return src, is_ctx, slot, eot + n_ctx


def _causal(mask: torch.Tensor | None) -> bool:
    """True for CLIP's text mask: -inf above the diagonal, 0 on and below it."""
    if mask is None or mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
        return False
    above = torch.ones_like(mask, dtype=torch.bool).triu(1)
    return bool(torch.isneginf(mask[above]).all() and (mask[~above] == 0).all())


def _kept(clip_model, pool: torch.Tensor) -> int:
    """How many leading positions the pooled features can depend on.

    Under CLIP's causal mask position p attends to positions <= p only, so the tokens after
    the last pooled position change nothing that is read: dropping them (20 -> 13 positions
    for the synth class prompts) cuts the text tower's forward and backward by 30% on CPU.
    The sums run over fewer zero-weighted terms, so features move in the last float bits
    (1e-7), not more. A tower without a causal mask keeps every position.
    """
    full = clip_model.positional_embedding.shape[0]
    if not _causal(clip_model.attn_mask):
        return full
    return min(full, int(pool.max()) + 1)


class PromptedTextEncoder(nn.Module):
    def __init__(
        self,
        clip_model,
        tokens: torch.Tensor,
        n_ctx: int = 2,
        *,
        depth: int = 3,
        init_std: float = 0.02,
        relate: torch.Tensor | None = None,
    ):
        super().__init__()
        for attr in (
            "token_embedding",
            "positional_embedding",
            "transformer",
            "ln_final",
            "text_projection",
        ):
            if not hasattr(clip_model, attr):
                raise ConfigError(
                    f"text prompts need an open_clip CLIP with a built-in text tower; "
                    f"{type(clip_model).__name__} has no '{attr}'"
                )
        self._clip = [clip_model]  # frozen, and kept out of this module's parameters and state_dict
        width = clip_model.token_embedding.weight.shape[1]
        n_layers = len(clip_model.transformer.resblocks)
        if not 1 <= depth <= n_layers:
            raise ConfigError(f"prompt depth {depth} must be within 1..{n_layers} (text layers)")
        self.n_ctx, self.depth = n_ctx, depth
        _layout(tokens, n_ctx)  # fail early if the prompts leave no room for the context tokens
        g = torch.Generator().manual_seed(0)
        self.ctx = nn.Parameter(torch.randn(n_ctx, width, generator=g) * init_std)
        self.deep_ctx = nn.ParameterList(
            [
                nn.Parameter(torch.randn(n_ctx, width, generator=g) * init_std)
                for _ in range(depth - 1)
            ]
        )
        self.register_buffer("tokens", tokens.clone(), persistent=False)
        self.class_ctx = None
        if relate is not None:  # (C, C) rows: whose offsets each class's prompt uses
            self.register_buffer("relate", relate.float(), persistent=False)
            self.class_ctx = nn.Parameter(torch.zeros(len(relate), n_ctx, width))

    def _first_ctx(self, slot: torch.Tensor) -> torch.Tensor:
        """(N, L, width) context tokens of the first layer: shared, plus each class's offset."""
        ctx = self.ctx[slot]
        if self.class_ctx is None or len(slot) != len(self.relate):
            return ctx
        offsets = (self.relate @ self.class_ctx.flatten(1)).view_as(self.class_ctx)
        rows = torch.arange(len(slot), device=slot.device)[:, None].expand_as(slot)
        return ctx + offsets[rows, slot]

    def _frozen(self):
        return self._clip[0]

    def forward(self, use_prompts: bool = True, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Text features (N, D), L2-normalised, of ``tokens`` (default: the class prompts)."""
        m = self._frozen()
        tokens = self.tokens if tokens is None else tokens.to(self.tokens.device)
        dtype = m.token_embedding.weight.dtype
        emb = m.token_embedding(tokens).to(dtype)
        if not use_prompts:
            pool = tokens.argmax(dim=-1)
            n = _kept(m, pool)
            x = emb[:, :n] + m.positional_embedding[:n]
            layers_ctx, is_ctx, slot = [], None, None
        else:
            src, is_ctx, slot, pool = _layout(tokens, self.n_ctx)
            n = _kept(m, pool)
            src, is_ctx, slot = src[:, :n], is_ctx[:, :n], slot[:, :n]
            x = torch.gather(emb, 1, src[..., None].expand(-1, -1, emb.shape[-1]))
            x = (
                torch.where(is_ctx[..., None], self._first_ctx(slot), x)
                + m.positional_embedding[:n]
            )
            layers_ctx = list(self.deep_ctx)
        attn_mask = None if m.attn_mask is None else m.attn_mask[:n, :n]
        tr = m.transformer
        if not getattr(tr, "batch_first", True):
            x = x.transpose(0, 1)
        for i, block in enumerate(tr.resblocks):
            if use_prompts and 1 <= i < self.depth:
                deep = layers_ctx[i - 1][slot]
                if not getattr(tr, "batch_first", True):
                    x = torch.where(is_ctx.T[..., None], deep.transpose(0, 1), x)
                else:
                    x = torch.where(is_ctx[..., None], deep, x)
            x = block(x, attn_mask=attn_mask)
        if not getattr(tr, "batch_first", True):
            x = x.transpose(0, 1)
        x = m.ln_final(x)
        x = x[torch.arange(x.shape[0]), pool]
        x = (
            m.text_projection(x)
            if isinstance(m.text_projection, nn.Linear)
            else x @ m.text_projection
        )
        return F.normalize(x.float(), dim=-1)


def related_classes(classes, trained) -> torch.Tensor:
    """(C, C) row weights for class-specific prompts: itself if trained, else its trained relatives.

    A relative shares the class's verb or its object; a class with none takes every trained
    class; with no trained class at all every row is zero (shared context only).
    """
    trained = torch.as_tensor(trained, dtype=torch.bool)
    n = len(classes)
    out = torch.zeros(n, n)
    for c, (v, o) in enumerate(classes):
        if trained[c]:
            out[c, c] = 1.0
            continue
        rel = torch.tensor(
            [bool(trained[j]) and (classes[j][0] == v or classes[j][1] == o) for j in range(n)]
        )
        rel = rel if rel.any() else trained
        if rel.any():
            out[c, rel] = 1.0 / float(rel.sum())
    return out
