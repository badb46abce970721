"""The bridge visits the reference code's DDIM grid, and its start step maps across widths by noise level."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler

from hoilib.models.diffusion import bridge as B
from hoilib.models.diffusion.model import SCALE, scheduler_config


def test_the_grid_is_the_reference_linspace():
    assert B.ddim_timesteps(599, 5) == [599, 479, 359, 239, 119]
    assert B.ddim_timesteps(778, 5) == [778, 622, 466, 311, 155]  # round(linspace(-1, 778, 6))
    assert B.ddim_timesteps(2, 5) == [2, 0]  # never more steps than t* allows


class _Constant:
    """A 'denoiser' that predicts one fixed x0: the DDIM update alone decides the path."""

    def __init__(self, x0):
        self.x0 = x0
        self.calls = []

    def predict_x0(self, z, t):
        self.calls.append(int(t))
        return self.x0.expand_as(z)


def test_the_written_out_ddim_step_equals_diffusers_where_its_grid_can_go():
    """On 799, 599, 399, 199 (diffusers' step 1000 // 5) our update is diffusers' DDIM step, eta 0."""
    torch.manual_seed(0)
    x0 = torch.randn(1, 16)
    z = torch.randn(3, 16)
    d = _Constant(x0)
    ours = B._denoise(d, z, [799, 599, 399, 199])
    assert d.calls == [799, 599, 399, 199] and torch.equal(ours, x0.expand_as(z))
    sched = DDIMScheduler(**scheduler_config())
    sched.set_timesteps(5)
    x = z.clone()
    abar = B._abar()
    for t, prev in ((799, 599), (599, 399)):
        ref = sched.step(
            x0.expand_as(x), t, SCALE * torch.nn.functional.normalize(x, dim=-1), eta=0.0
        )
        a, ap = abar[t], abar[prev]
        xt = SCALE * torch.nn.functional.normalize(x, dim=-1)
        eps = (xt.double() - a.sqrt() * x0.double()) / (1 - a).sqrt()
        mine = (ap.sqrt() * x0.double() + (1 - ap).sqrt() * eps).float()
        assert torch.allclose(mine, ref.prev_sample, atol=1e-5)
        x = mine


def test_the_noise_matched_start_keeps_the_references_expected_cosine():
    assert B.noise_matched_t(512) == 599  # the reference's own width
    t = B.noise_matched_t(128)
    ref = B.expected_cos(599, 512)
    assert B.expected_cos(t, 128) == pytest.approx(ref, abs=0.002)
    assert B.expected_cos(599, 128) == pytest.approx(0.30, abs=0.01) and ref == pytest.approx(
        0.16, abs=0.01
    )
    assert t > 599  # fewer dimensions carry less noise at one step: the matched start is later
