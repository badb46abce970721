"""Several small classifier heads trained at once, as one stacked network: the same result, a fraction of the time.

Chapter 5 fits many small heads (linear and MLP, with and without noise, on raw and
adapted text, per seed). Each is so small that a training step costs mostly Python and
autograd overhead, so they are trained together: the weights of E heads are stacked
into (E, in, out) tensors and one batched matmul runs all of them. The loss is the sum of
the heads' own losses, so each head's gradient is its own, and Adam is elementwise, so
each head follows exactly the path it would follow alone, given its own batches. Each
keeps the weights at its lowest held-out loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hoilib.models.gap_closing import capdec_noise


@dataclass(kw_only=True)
class Member:
    """One head's training data: rows (N, D) and labels, held-out rows and labels, and CapDec noise or not."""

    z: torch.Tensor
    y: torch.Tensor
    zh: torch.Tensor
    yh: torch.Tensor
    noisy: bool = False


def _init(
    n: int, fan_in: int, fan_out: int, *, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for n stacked layers."""
    bound = 1.0 / math.sqrt(fan_in)
    w = (torch.rand(n, fan_in, fan_out, generator=gen) * 2 - 1) * bound
    b = (torch.rand(n, 1, fan_out, generator=gen) * 2 - 1) * bound
    return w.requires_grad_(), b.requires_grad_()


def _forward(layers, x: torch.Tensor) -> torch.Tensor:
    """x (E, B, D) through the stacked layers, GELU between them."""
    for i, (w, b) in enumerate(layers):
        x = torch.baddbmm(b, x, w)
        if i < len(layers) - 1:
            x = F.gelu(x)
    return x


def _module(layers, e: int) -> nn.Module:
    """Head e as a plain torch module (nn.Linear layers with its weights)."""
    mods: list[nn.Module] = []
    for i, (w, b) in enumerate(layers):
        lin = nn.Linear(w.shape[1], w.shape[2])
        with torch.no_grad():
            lin.weight.copy_(w[e].T)
            lin.bias.copy_(b[e, 0])
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(nn.GELU())
    return (mods[0] if len(mods) == 1 else nn.Sequential(*mods)).eval()


def _stack(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of unequal length padded into one (E, N_max, ...) tensor, and each member's length."""
    n = torch.tensor([len(r) for r in rows])
    out = rows[0].new_zeros((len(rows), int(n.max()), *rows[0].shape[1:]))
    for e, r in enumerate(rows):
        out[e, : len(r)] = r
    return out, n


def train_heads(
    members: list[Member],
    n_classes: int,
    *,
    hidden: tuple[int, ...],
    steps: int,
    batch: int,
    lr: float,
    check_every: int,
    noise_variance: float,
    seed: int,
) -> list[tuple[nn.Module, float, str]]:
    """(module, lowest held-out cross-entropy, 'step s of steps') for every member.

    ``hidden`` () trains linear softmax heads, (256,) MLPs with one hidden layer of 256. Every
    step draws all members' batches (and CapDec noise) in one call each, so the cost of a
    step hardly grows with the number of heads.
    """
    if not members:
        return []
    dim, n_heads = members[0].z.shape[1], len(members)
    gen = torch.Generator().manual_seed(seed)
    sizes = [dim, *hidden, n_classes]
    layers = [_init(n_heads, a, b, gen=gen) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    opt = torch.optim.Adam([p for wb in layers for p in wb], lr=lr, foreach=True)
    z, n_rows = _stack([F.normalize(m.z.float(), dim=-1) for m in members])
    y, _ = _stack([m.y.long() for m in members])
    noisy = torch.tensor([m.noisy for m in members])[:, None, None]
    b = min(batch, int(n_rows.min()))
    heads = torch.arange(n_heads)[:, None]
    best = [(float("inf"), None, 0) for _ in members]
    for step in range(1, steps + 1):
        idx = (torch.rand(n_heads, b, generator=gen) * n_rows[:, None]).long()
        x, target = z[heads, idx], y[heads, idx]  # (E, B, D), (E, B): each head its own batch
        if bool(noisy.any()):
            x = torch.where(noisy, capdec_noise(x, variance=noise_variance, generator=gen), x)
        logits = _forward(layers, x)
        # the sum of the heads' mean losses: each head's gradient is its own
        loss = F.cross_entropy(logits.reshape(-1, n_classes), target.reshape(-1), reduction="sum")
        opt.zero_grad(set_to_none=True)
        (loss / b).backward()
        opt.step()
        if step % check_every == 0 or step == steps:
            with torch.no_grad():
                for e, m in enumerate(members):
                    one = [(w[e : e + 1], bias[e : e + 1]) for w, bias in layers]
                    held = float(F.cross_entropy(_forward(one, m.zh[None].float())[0], m.yh))
                    if held < best[e][0]:
                        best[e] = (held, [(w.clone(), bias.clone()) for w, bias in one], step)
    return [(_module(state, 0), held, f"step {step} of {steps}") for held, state, step in best]
