"""The text diffusion model's losses: x0 (the default, unchanged), snr_x0 and min_snr_x0."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from hoilib import artifacts
from hoilib.errors import ArtifactError
from hoilib.models.diffusion import model as dm
from hoilib.seed import seed_everything

TINY = dm.DenoiserConfig(dim=8, hidden=32, blocks=1, time_dim=16)


def corpus() -> torch.Tensor:
    """20 text vectors in 8-d."""
    return F.normalize(torch.randn(20, 8, generator=torch.Generator().manual_seed(5)), dim=-1)


def cosine_snr(t: int) -> float:
    """SNR of diffusers' squaredcos_cap_v2 schedule by hand: abar_t = prod_{i<=t} (1 - beta_i),
    beta_i = min(1 - f((i+1)/T) / f(i/T), 0.999), f(u) = cos((u + 0.008) / 1.008 * pi / 2)^2."""
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    abar = 1.0
    for i in range(t + 1):
        abar *= 1 - min(1 - f((i + 1) / dm.TRAIN_STEPS) / f(i / dm.TRAIN_STEPS), 0.999)
    return abar / (1 - abar)


@pytest.mark.parametrize("t", [0, 100, 261, 599, 900])
def test_weights_are_one_snr_and_min_snr_gamma(t):
    snr = cosine_snr(t)
    tt = torch.tensor([t])
    assert float(dm.snr(tt)[0]) == pytest.approx(snr, rel=1e-3)
    assert float(dm.loss_weight("x0", tt)[0]) == 1.0
    assert float(dm.loss_weight("snr_x0", tt)[0]) == pytest.approx(snr, rel=1e-3)
    assert float(dm.loss_weight("min_snr_x0", tt)[0]) == pytest.approx(min(snr, 5.0), rel=1e-3)
    assert dm.MIN_SNR_GAMMA == 5.0


def test_min_snr_clips_exactly_where_snr_passes_gamma():
    t = torch.arange(dm.TRAIN_STEPS)
    snr, w = dm.snr(t).float(), dm.loss_weight("min_snr_x0", t)
    assert torch.equal(w, torch.minimum(snr, torch.tensor(5.0)))
    assert (w[:200] == 5).all() and (w[400:] < 5).all()  # SNR falls through 5 near t = 261
    with pytest.raises(ValueError, match="diffusion loss must be one of"):
        dm.loss_weight("eps", t)


def reference_training(vectors, loss, steps, seed, lr=1e-2, ema_decay=0.9, batch=8):
    """The training loop written out: for ``x0`` it is the loop as it was before the option
    existed (F.mse_loss on x0), for the others the batch mean of w(t) * per-sample MSE."""
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    x0_all = dm.to_diffusion_space(vectors, dm.modality_mean(vectors))
    model = dm.VectorDenoiser(TINY)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
    ema.update_parameters(model)
    sched = dm.DDPMScheduler(**dm.scheduler_config())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, foreach=True)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(x0_all), (min(batch, len(x0_all)),), generator=gen)
        x0 = x0_all[idx]
        t = torch.randint(0, dm.TRAIN_STEPS, (len(idx),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        xt = dm.SCALE * F.normalize(sched.add_noise(x0, noise, t), dim=-1)
        if loss == "x0":
            obj = F.mse_loss(model(xt, t), x0)
        else:
            obj = (dm.loss_weight(loss, t) * ((model(xt, t) - x0) ** 2).mean(-1)).mean()
        opt.zero_grad(set_to_none=True)
        obj.backward()
        opt.step()
        ema.update_parameters(model)
        losses.append(float(obj.detach()))
    return losses, ema.module.state_dict()


def train(loss, steps=6, seed=4, **kw):
    return dm.train_text_diffusion(
        corpus(),
        "fp",
        "adapted",
        steps=steps,
        batch_size=kw.pop("batch", 8),
        lr=kw.pop("lr", 1e-2),
        ema_decay=kw.pop("ema_decay", 0.9),
        seed=seed,
        cfg=TINY,
        show_progress=False,
        loss=loss,
    )


def test_the_default_loss_is_the_old_training_bit_for_bit():
    diff = train("x0")
    losses, state = reference_training(corpus(), "x0", 6, 4)
    assert diff.loss == "x0" and diff.history["losses"] == losses
    assert all(torch.equal(v, state[k]) for k, v in diff.denoiser.state_dict().items())
    again = dm.train_text_diffusion(  # no loss argument: the same model
        corpus(), "fp", "adapted", steps=6, batch_size=8, lr=1e-2, ema_decay=0.9, seed=4,
        cfg=TINY, show_progress=False,
    )  # fmt: skip
    assert again.history["losses"] == losses


@pytest.mark.parametrize("loss", ["snr_x0", "min_snr_x0"])
def test_weighted_losses_are_the_snr_weighted_x0_mse(loss):
    diff = train(loss)
    losses, state = reference_training(corpus(), loss, 6, 4)
    assert diff.loss == loss
    assert diff.history["losses"] == pytest.approx(losses, rel=1e-5)
    assert all(
        torch.allclose(v, state[k], atol=1e-6) for k, v in diff.denoiser.state_dict().items()
    )
    assert diff.history["losses"] != train("x0").history["losses"]


def eval_loss(diff: dm.TextDiffusion, loss: str) -> float:
    """The weighted x0 loss of a model on a fixed batch of (point, t, noise)."""
    g = torch.Generator().manual_seed(9)
    vectors = corpus()
    x0 = dm.to_diffusion_space(vectors, diff.text_mean).repeat(10, 1)
    t = torch.randint(0, dm.TRAIN_STEPS, (len(x0),), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    sched = dm.DDPMScheduler(**dm.scheduler_config())
    xt = dm.SCALE * F.normalize(sched.add_noise(x0, noise, t), dim=-1)
    with torch.no_grad():
        err = ((diff.denoiser(xt, t) - x0) ** 2).mean(-1)
    return float((dm.loss_weight(loss, t) * err).mean())


@pytest.mark.parametrize("loss", ["snr_x0", "min_snr_x0"])
def test_a_tiny_model_trained_with_a_weighted_loss_reduces_it(loss):
    start = train(loss, steps=0, ema_decay=0.0)  # the initial weights
    trained = train(loss, steps=300, ema_decay=0.0, lr=3e-3, batch=20)
    before, after = eval_loss(start, loss), eval_loss(trained, loss)
    assert after < 0.5 * before, (before, after)


def test_checkpoints_keep_the_loss_and_old_ones_load_as_x0(tmp_path):
    diff = train("snr_x0", steps=2)
    dm.save(diff, tmp_path / "d.safetensors")
    again = dm.load(tmp_path / "d.safetensors")
    assert again.loss == "snr_x0"
    x = torch.randn(3, 8)
    assert torch.equal(again.predict_x0(x, 300), diff.predict_x0(x, 300))

    tensors, meta = artifacts.load_tensors(tmp_path / "d.safetensors", "x", kind=dm.KIND)
    # every loss predicts x0: the bridge is unchanged
    assert meta["scheduler"]["prediction_type"] == "sample"
    old = {k: v for k, v in meta.items() if k != "loss"}  # a checkpoint from before the option
    artifacts.save_tensors(tmp_path / "old.safetensors", tensors, old)
    assert dm.load(tmp_path / "old.safetensors").loss == "x0"

    for bad in ({**meta, "loss": "eps"}, {**meta, "scheduler": {"prediction_type": "epsilon"}}):
        artifacts.save_tensors(tmp_path / "bad.safetensors", tensors, bad)
        with pytest.raises(ArtifactError, match="this code knows the losses"):
            dm.load(tmp_path / "bad.safetensors")


def test_the_profile_parameter_defaults_to_x0_and_is_checked():
    from pydantic import ValidationError

    from hoilib.config import Params

    assert Params().diffusion.loss == "x0"
    assert Params(diffusion={"loss": "snr_x0"}).diffusion.loss == "snr_x0"
    with pytest.raises(ValidationError):
        Params(diffusion={"loss": "eps"})


def test_changing_the_loss_retrains_the_stage(tmp_path, monkeypatch):
    from hoilib.config import resolve
    from hoilib.models.diffusion import diffusion_stage as ds

    calls = []
    real = dm.train_text_diffusion

    def recording(*a, **kw):
        calls.append(kw["loss"])
        return real(*a, **kw)

    monkeypatch.setattr(dm, "train_text_diffusion", recording)
    space = SimpleNamespace(adapted_corpus=corpus(), fingerprint="f" * 16, meta={})
    tiny = {"run.run_dir": str(tmp_path), "diffusion.steps": 2, "diffusion.hidden": 8}
    tiny |= {"diffusion.blocks": 1, "run.device": "cpu"}
    cfg, snr_cfg = resolve("smoke", tiny), resolve("smoke", {**tiny, "diffusion.loss": "snr_x0"})
    assert "loss" in cfg.diffusion.key()
    first = ds.train_or_load(
        cfg.diffusion, cfg.run, space, which="adapted", seed=0, show_progress=False
    )
    reused = ds.train_or_load(
        cfg.diffusion, cfg.run, space, which="adapted", seed=0, show_progress=False
    )
    snr = ds.train_or_load(
        snr_cfg.diffusion, snr_cfg.run, space, which="adapted", seed=0, show_progress=False
    )
    assert calls == ["x0", "snr_x0"]
    assert (first.loss, reused.loss, snr.loss) == ("x0", "x0", "snr_x0")
