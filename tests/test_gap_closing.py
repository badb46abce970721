"""Property tests of the gap-closing baselines."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hoilib.config.schema import EvaluationCfg
from hoilib.models.gap_closing import (
    apply_procrustes,
    capdec_noise,
    capdec_prototypes,
    decap_project,
    mean_center,
    procrustes,
)

_EV = EvaluationCfg()
CAPDEC_VARIANCE = _EV.capdec_variance  # CapDec's own noise, the profile default
CAPDEC = {"variance": CAPDEC_VARIANCE, "lr": _EV.capdec_lr, "temperature": _EV.capdec_temperature}


def test_mean_centering_gives_zero_mean_before_renormalising():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 16, generator=g) + 3.0
    c = mean_center(x)
    assert torch.allclose(c.norm(dim=-1), torch.ones(500), atol=1e-5)
    raw = F.normalize(x, dim=-1)
    assert torch.allclose((raw - raw.mean(0)).mean(0), torch.zeros(16), atol=1e-6)
    assert c.mean(0).norm() < 0.1 * raw.mean(0).norm()  # the cone around the old mean is gone


def test_procrustes_recovers_a_known_rotation():
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    x = torch.randn(200, 12, generator=g, dtype=torch.float64)
    w = procrustes(x, x @ q)
    assert torch.allclose(w, q, atol=1e-8)
    assert torch.allclose(w.T @ w, torch.eye(12, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(apply_procrustes(x, w), F.normalize((x @ q).float(), dim=-1), atol=1e-5)


def test_decap_projection_lands_on_the_nearest_memory_row_at_low_temperature():
    mem = torch.eye(4, 8)
    v = torch.tensor([[0.9, 0.1, 0, 0, 0.2, 0, 0, 0], [0, 0, 0.1, 1.0, 0, 0, 0.3, 0]])
    p = decap_project(v, mem, temperature=0.001)
    assert torch.allclose(p, mem[[0, 3]], atol=1e-4)
    soft = decap_project(v, mem, temperature=10.0)
    assert soft[0, 1] > 0.1  # a high temperature averages the memory


def test_capdec_noise_has_the_stated_variance_and_is_seeded():
    x = F.normalize(torch.ones(20000, 64), dim=-1)
    a = capdec_noise(x, variance=CAPDEC_VARIANCE, generator=torch.Generator().manual_seed(0))
    b = capdec_noise(x, variance=CAPDEC_VARIANCE, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    noisy = (
        x + torch.randn(x.shape, generator=torch.Generator().manual_seed(0)) * CAPDEC_VARIANCE**0.5
    )
    assert abs(float((noisy - x).var()) - CAPDEC_VARIANCE) < 1e-3
    assert torch.allclose(a.norm(dim=-1), torch.ones(20000), atol=1e-5)


def test_capdec_prototypes_classify_noisy_text_of_their_class():
    g = torch.Generator().manual_seed(2)
    centres = F.normalize(torch.randn(3, 32, generator=g), dim=-1)
    labels = torch.arange(3).repeat_interleave(20)
    corpus = F.normalize(centres[labels] + 0.2 * torch.randn(60, 32, generator=g), dim=-1)
    # a bad start: the fit must find the classes
    init = F.normalize(torch.randn(3, 32, generator=g), dim=-1)
    proto = capdec_prototypes(corpus, labels, init, **CAPDEC, steps=200, seed=0)
    assert torch.allclose(proto.norm(dim=-1), torch.ones(3), atol=1e-5)
    test = capdec_noise(
        F.normalize(centres[labels] + 0.2 * torch.randn(60, 32, generator=g), dim=-1),
        variance=CAPDEC_VARIANCE,
        generator=g,
    )
    acc = lambda p: float(((test @ p.T).argmax(-1) == labels).float().mean())  # noqa: E731
    assert acc(proto) > 0.85 and acc(proto) > acc(init) + 0.3
    # seeded
    assert torch.equal(proto, capdec_prototypes(corpus, labels, init, **CAPDEC, steps=200, seed=0))


# the CPU always; CUDA where this machine has it (the lent GPU's session), so nothing is skipped
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_capdec_prototypes_on_a_device_see_the_cpu_noise_and_come_back_on_the_cpu(device):
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(4).repeat_interleave(10)
    corpus = F.normalize(torch.randn(40, 16, generator=g), dim=-1)
    init = F.normalize(torch.randn(4, 16, generator=g), dim=-1)
    here = capdec_prototypes(corpus, labels, init, **CAPDEC, steps=50, seed=1)
    there = capdec_prototypes(corpus, labels, init, **CAPDEC, steps=50, seed=1, device=device)
    assert there.device.type == "cpu"
    if device == "cpu":  # the same operations: the same bits
        assert torch.equal(here, there)
    else:  # the same noise, another device's kernels
        assert torch.allclose(here, there, atol=1e-4)
