"""Guards on the models' arithmetic, each checked against a computation written from the definition.

The DDIM step, CapDec's noise and the class-prompt offsets each had a one-line bug that the
other tests let through (benchmarks/mutants.py keeps them); these tests recompute what the
function must return by another route (numpy, a simulation, a second encoder), never by
calling the code under test twice.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hoilib.config.schema import EvaluationCfg
from hoilib.models.diffusion import bridge as B
from hoilib.models.diffusion.model import SCALE
from hoilib.models.gap_closing import capdec_noise

# --------------------------------------------------------------------------------------------
# The DDIM step (eta 0) over the cosine schedule
# --------------------------------------------------------------------------------------------

GRID = [599, 479, 359, 239, 119]  # Diffusion Bridge's 5 steps from t* = 599 (bridge docstring)


def _cosine_abar(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """abar_t of Nichol & Dhariwal's cosine schedule (diffusers' squaredcos_cap_v2), float64."""
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f(t + 1) / f(t), max_beta) for t in range(T)])
    return np.cumprod(1 - betas)


class _Curved(nn.Module):
    """A stand-in denoiser whose x0 depends on x_t and t, so the path decides the result.

    Like TextDiffusion.predict_x0 it sees its input at norm 5. ``seen`` records each input.
    """

    def __init__(self, dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5
        self.b = torch.randn(dim, generator=g, dtype=torch.float64)
        self.denoiser = nn.Linear(1, 1)  # bridge() reads the device off its parameters
        self.seen = []

    def f(self, x: np.ndarray, t: int) -> np.ndarray:
        """x0 = 5 * normalize(tanh(x W) + (t / 1000) b), in numpy."""
        h = np.tanh(x @ self.w.numpy()) + (t / 1000) * self.b.numpy()
        return SCALE * h / np.linalg.norm(h, axis=-1, keepdims=True)

    def predict_x0(self, z: torch.Tensor, t: int) -> torch.Tensor:
        x = SCALE * F.normalize(z.double(), dim=-1)
        self.seen.append(x.clone())
        return torch.from_numpy(self.f(x.numpy(), int(t))).to(z.dtype)


def _ddim_reference(model: _Curved, z0: np.ndarray, grid: list[int]):
    """The deterministic DDIM path, from the formula: at each step t -> t',
    x_t = 5 normalize(z) (the renormalisation the bridge documents), x0 = f(x_t, t),
    eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t), z' = sqrt(abar_t') x0 + sqrt(1 - abar_t') eps;
    the result is the last x0. Returns (inputs the model saw, result)."""
    abar = _cosine_abar()
    z, seen = z0.astype(np.float64), []
    for k, t in enumerate(grid):
        xt = SCALE * z / np.linalg.norm(z, axis=-1, keepdims=True)
        seen.append(xt)
        x0 = model.f(xt, t)
        if k == len(grid) - 1:
            return seen, x0
        a, ap = abar[t], abar[grid[k + 1]]
        eps = (xt - np.sqrt(a) * x0) / np.sqrt(1 - a)
        z = np.sqrt(ap) * x0 + np.sqrt(1 - ap) * eps


def test_the_schedule_is_the_cosine_one():
    assert np.allclose(B._abar().numpy(), _cosine_abar(), rtol=1e-5, atol=1e-7)


def test_each_ddim_step_follows_the_formula():
    """Every input the denoiser sees, and the result, match the DDIM path written out in numpy.

    Guards the eps sign and the renormalisation of x_t (a constant predictor cannot: its
    result is its constant whatever the path)."""
    g = torch.Generator().manual_seed(1)
    z = SCALE * F.normalize(torch.randn(6, 12, generator=g), dim=-1) * 1.7  # off the sphere
    model = _Curved(12)
    got = B._denoise(model, z, GRID)
    seen, want = _ddim_reference(model, z.numpy(), GRID)
    assert len(model.seen) == len(GRID)
    for k, (mine, ref) in enumerate(zip(model.seen, seen, strict=True)):
        assert np.allclose(mine.numpy(), ref, atol=1e-4), f"input at step {GRID[k]}"
    assert np.allclose(got.numpy(), want, atol=1e-4)


def test_a_bridge_lands_where_the_written_out_path_does():
    """bridge() end to end (direct recipe): centre and scale, the DDIM path, back to the text sphere."""
    g = torch.Generator().manual_seed(2)
    dim = 12
    vision = torch.randn(5, dim, generator=g)
    vision_mean = F.normalize(torch.randn(dim, generator=g), dim=-1) * 0.3
    model = _Curved(dim, seed=3)
    model.text_mean = F.normalize(torch.randn(dim, generator=g), dim=-1) * 0.4
    model.radius, model.fingerprint, model.space = 0.8, "fp", "adapted"
    out = B.bridge(
        model, vision, vision_mean, space_fingerprint="fp", t_start=599, steps=5, recipe="direct"
    )
    v = vision.double().numpy()
    v = v / np.linalg.norm(v, axis=-1, keepdims=True) - vision_mean.double().numpy()
    z = SCALE * v / np.linalg.norm(v, axis=-1, keepdims=True)
    _, x0 = _ddim_reference(model, z, GRID)
    y = x0 / np.linalg.norm(x0, axis=-1, keepdims=True) * 0.8 + model.text_mean.double().numpy()
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    assert np.allclose(out.numpy(), y, atol=1e-4)


# --------------------------------------------------------------------------------------------
# CapDec's noise
# --------------------------------------------------------------------------------------------


def _simulated_cos(dim: int, variance: float, n: int, seed: int) -> float:
    """E[cos(x, normalize(x + n))] for n ~ N(0, variance I), by numpy's own draws."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, dim))
    x[:, 0] = 1.0
    y = x + rng.normal(0.0, variance**0.5, size=(n, dim))
    return float((y[:, 0] / np.linalg.norm(y, axis=-1)).mean())


def test_capdec_noise_has_the_configured_std_by_its_effect():
    """Only the output is seen. Off the input direction e_0, y_j / y_0 = n_j / (1 + n_0): its
    spread, read robustly (interquartile range / 1.349, a normal's std), is the noise's std
    sqrt(variance); and the mean cosine with the input is what an independent simulation of
    that noise gives."""
    dim, n = 64, 20000
    x = torch.zeros(n, dim)
    x[:, 0] = 3.0  # not unit: the function normalises first
    for variance in (EvaluationCfg().capdec_variance, 0.05):
        y = capdec_noise(x, variance=variance, generator=torch.Generator().manual_seed(0)).double()
        assert torch.allclose(y.norm(dim=-1), torch.ones(n, dtype=y.dtype), atol=1e-5)
        q75, q25 = np.percentile((y[:, 1:] / y[:, :1]).numpy(), [75, 25])
        std = (q75 - q25) / 1.349
        assert abs(std / variance**0.5 - 1) < 0.03, (variance, std)
        want = _simulated_cos(dim, variance, n, seed=1)
        assert abs(float(y[:, 0].mean()) - want) < 0.005, variance
    assert not torch.equal(y[0], y[1])  # fresh noise per row


# --------------------------------------------------------------------------------------------
# Class-specific prompts: each class's offset lands on its own context slot
# --------------------------------------------------------------------------------------------


def _tiny_text_tower():
    from hoilib.models.backbone import SynthCLIPSpec, build_synth_clip

    spec = SynthCLIPSpec(
        embed_dim=16,
        image_size=32,
        patch_size=16,
        vision_width=32,
        vision_layers=1,
        text_width=32,
        text_layers=2,
        heads=2,
        context_length=12,
    )
    clip = build_synth_clip(spec, vocab_size=20, seed=0)
    eot = 19  # the largest id, which CLIP pools
    tokens = torch.tensor(
        [[18, 3, 4, eot] + [0] * 8, [18, 5, eot] + [0] * 9, [18, 3, 6, 7, eot] + [0] * 7]
    )
    return clip, tokens


def test_a_class_prompt_is_the_shared_prompt_plus_its_related_offsets_slot_by_slot():
    """Row c of the class-prompt features equals the shared-prompt features computed with
    context ctx[s] + sum_j relate[c, j] class_ctx[j, s] at every slot s: a second encoder
    with only shared context, built independently, gives the expected value."""
    from hoilib.models.ezhoi.prompts import PromptedTextEncoder

    clip, tokens = _tiny_text_tower()
    relate = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0.5, 0.5, 0]])
    enc = PromptedTextEncoder(clip, tokens, n_ctx=2, depth=2, relate=relate)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        enc.ctx.copy_(torch.randn(enc.ctx.shape, generator=g))
        enc.class_ctx.copy_(torch.randn(enc.class_ctx.shape, generator=g))
        got = enc()
        for c in range(len(tokens)):
            shared = PromptedTextEncoder(clip, tokens, n_ctx=2, depth=2)
            shared.deep_ctx.load_state_dict(enc.deep_ctx.state_dict())
            offset = (relate[c][:, None, None] * enc.class_ctx).sum(0)  # (n_ctx, width)
            shared.ctx.copy_(enc.ctx + offset)
            assert torch.allclose(got[c], shared()[c], atol=1e-5), f"class {c}"
        # other batch sizes take the shared context alone
        plain = PromptedTextEncoder(clip, tokens[:2], n_ctx=2, depth=2)
        plain.load_state_dict(enc.state_dict(), strict=False)
        assert torch.allclose(enc(tokens=tokens[:2]), plain(), atol=1e-5)
