"""The text diffusion model and the bridge: order guard, identity at t* = 0, denoising toward known points."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hoilib.errors import ArtifactError
from hoilib.models.diffusion import model as dm
from hoilib.models.diffusion.bridge import OrderError, bridge, check_order, ddim_timesteps


@pytest.fixture(scope="module")
def four_points():
    """A diffusion model trained on four text vectors: the optimal denoiser maps toward them."""
    g = torch.Generator().manual_seed(0)
    pts = F.normalize(torch.randn(4, 16, generator=g), dim=-1)
    diff = dm.train_text_diffusion(
        pts.repeat(16, 1),
        fingerprint="space-A",
        space="adapted",
        steps=600,
        batch_size=64,
        lr=1e-3,
        ema_decay=0.99,
        seed=0,
        cfg=dm.DenoiserConfig(dim=16, hidden=128, blocks=2),
        show_progress=False,
    )
    return pts, diff


def test_order_guard_refuses_a_mismatch_and_allows_it_when_asked(four_points):
    pts, diff = four_points
    with pytest.raises(
        OrderError,
        match=r"learned the 'adapted' text space \(fingerprint space-A\).*space-B.*train EZ-HOI first",
    ):
        bridge(
            diff,
            pts,
            diff.text_mean,
            space_fingerprint="space-B",
            t_start=599,
            steps=5,
            recipe="direct",
        )
    check_order(diff, "space-A")
    out = bridge(
        diff,
        pts,
        diff.text_mean,
        space_fingerprint="space-B",
        t_start=599,
        steps=5,
        recipe="direct",
        allow_mismatch=True,
    )
    assert out.shape == pts.shape


def test_bridge_from_t_zero_returns_its_input(four_points):
    pts, diff = four_points
    x = torch.randn(5, 16) * 3
    assert torch.allclose(
        bridge(
            diff,
            x,
            diff.text_mean,
            space_fingerprint="space-A",
            t_start=0,
            steps=5,
            recipe="direct",
        ),
        F.normalize(x, dim=-1),
    )


def test_ddim_grid_follows_start_and_steps():
    assert ddim_timesteps(599, 5) == [599, 479, 359, 239, 119]  # the reference code's grid
    assert ddim_timesteps(100, 1) == [100]
    assert ddim_timesteps(0, 5) == []


@pytest.mark.parametrize("recipe", ["direct", "sdedit"])
def test_denoiser_maps_noisy_inputs_back_to_the_training_points(four_points, recipe):
    pts, diff = four_points
    g = torch.Generator().manual_seed(1)
    noisy = F.normalize(pts + 0.12 * torch.randn(pts.shape, generator=g), dim=-1)
    out = bridge(
        diff,
        noisy,
        diff.text_mean,
        space_fingerprint="space-A",
        t_start=400,
        steps=5,
        recipe=recipe,
        generator=g,
    )
    before = (noisy * pts).sum(-1)
    after = (out * pts).sum(-1)
    assert (after > before).all(), (before, after)
    assert torch.equal((out @ pts.T).argmax(-1), torch.arange(4))


def test_checkpoint_roundtrip(four_points, tmp_path):
    pts, diff = four_points
    dm.save(diff, tmp_path / "d.safetensors")
    again = dm.load(tmp_path / "d.safetensors")
    assert again.fingerprint == "space-A" and again.radius == pytest.approx(diff.radius)
    assert torch.allclose(
        bridge(
            again,
            pts,
            again.text_mean,
            space_fingerprint="space-A",
            t_start=599,
            steps=5,
            recipe="direct",
        ),
        bridge(
            diff,
            pts,
            diff.text_mean,
            space_fingerprint="space-A",
            t_start=599,
            steps=5,
            recipe="direct",
        ),
    )
    from hoilib import artifacts

    artifacts.save_tensors(tmp_path / "x.safetensors", {"w": torch.zeros(1)}, {"kind": "other"})
    with pytest.raises(ArtifactError, match="expected 'text-diffusion'"):
        dm.load(tmp_path / "x.safetensors")


def test_samples_from_noise_land_near_the_training_points(four_points):
    pts, diff = four_points
    from hoilib.models.diffusion.bridge import sample

    s = sample(diff, 40, steps=20, seed=0)
    assert s.shape == (40, 16) and torch.allclose(s.norm(dim=-1), torch.ones(40), atol=1e-5)
    nearest = (s @ pts.T).max(dim=1)
    assert nearest.values.min() > 0.95
    assert (
        torch.bincount(nearest.indices, minlength=4) > 0
    ).all()  # every mode is sampled, not one
    assert torch.equal(s, sample(diff, 40, steps=20, seed=0))


def test_quality_measures_see_denoising_restore_the_class(four_points):
    pts, diff = four_points
    from hoilib.models.diffusion.quality import denoising_accuracy, sample_stats

    data, cls = pts.repeat(8, 1), torch.arange(4).repeat(8)
    st = sample_stats(diff, data, cls, class_text=pts, n=32, seed=0, n_permutations=20)
    assert st["class_coherent"] == 1.0 and st["mean_nn_cos"] > 0.95
    rows = denoising_accuracy(
        diff, data, cls, class_text=pts, fingerprint="space-A", t_values=[0, 700], steps=5
    )
    assert rows[0] == {"t": 0, "noised": 1.0, "denoised": 1.0}
    assert rows[1]["denoised"] >= rows[1]["noised"] and rows[1]["denoised"] > 0.9


def test_bridge_rejects_a_start_step_outside_the_schedule(four_points):
    pts, diff = four_points
    with pytest.raises(ValueError, match=r"t_start must be in \[0, 999\]"):
        bridge(
            diff,
            pts,
            diff.text_mean,
            space_fingerprint="space-A",
            t_start=1000,
            steps=5,
            recipe="direct",
        )


@pytest.mark.parametrize("decay", [0.9, 0.0])
def test_saved_weights_are_the_ema_of_every_step_from_the_initial_weights(monkeypatch, decay):
    """AveragedModel + get_ema_multi_avg_fn keeps ema = decay*ema + (1-decay)*param after every step, from the
    initial weights (the first update, a copy, is the priming); decay 0 gives the raw weights exactly."""
    seen = []  # the raw weights at every update: the initial ones, then after each optimiser step

    class Recording(dm.AveragedModel):
        def update_parameters(self, model):
            seen.append([p.detach().clone().double() for p in model.parameters()])
            super().update_parameters(model)

    monkeypatch.setattr(dm, "AveragedModel", Recording)
    pts = F.normalize(torch.randn(12, 8, generator=torch.Generator().manual_seed(2)), dim=-1)
    diff = dm.train_text_diffusion(
        pts,
        "f",
        "adapted",
        steps=6,
        batch_size=4,
        lr=1e-2,
        ema_decay=decay,
        seed=1,
        cfg=dm.DenoiserConfig(dim=8, hidden=16, blocks=1, time_dim=8),
        show_progress=False,
    )
    assert len(seen) == 7
    ref = seen[0]
    for raw in seen[1:]:  # the rule, by hand
        ref = [decay * e + (1 - decay) * p for e, p in zip(ref, raw, strict=False)]
    got = list(diff.denoiser.parameters())
    # the plain module, not the wrapper: checkpoint keys unchanged
    assert type(diff.denoiser) is dm.VectorDenoiser
    assert all(torch.allclose(g.double(), r, atol=1e-6) for g, r in zip(got, ref, strict=False))
    if decay == 0:
        assert all(torch.equal(g, p.float()) for g, p in zip(got, seen[-1], strict=False))


def test_time_embedding_is_the_sin_cos_transformer_embedding():
    """diffusers' Timesteps with flip_sin_to_cos=False, downscale_freq_shift=0: [sin(t w_i), cos(t w_i)],
    w_i = 10000^(-i/half), the numbers of the embedding the denoiser had before (so its outputs did not move)."""
    import math

    t = torch.tensor([0, 1, 17, 500, 999])
    half = 8
    ang = (
        t.double()[:, None]
        * torch.exp(-math.log(10000.0) * torch.arange(half).double() / half)[None]
    )
    got = dm.TimeEmbedding(2 * half).sinusoid(t)
    assert torch.allclose(got.double(), torch.cat([ang.sin(), ang.cos()], dim=-1), atol=1e-4)
    assert list(dm.TimeEmbedding(16).state_dict()) == [
        "mlp.0.weight",
        "mlp.0.bias",
        "mlp.2.weight",
        "mlp.2.bias",
    ]
