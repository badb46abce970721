"""The closed-form optimal denoiser: identity near t = 0, the corpus mean at t = 999,
chunking, and the bridge running on it unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hoilib.models.diffusion.bridge import bridge, sample
from hoilib.models.diffusion.closed_form import (
    ClosedFormDenoiser,
    alphas_cumprod,
    closed_form_x0,
)
from hoilib.models.diffusion.model import SCALE, from_diffusion_space, to_diffusion_space


@pytest.fixture(scope="module")
def five():
    g = torch.Generator().manual_seed(0)
    text = F.normalize(torch.randn(5, 16, generator=g), dim=-1)
    return text, ClosedFormDenoiser.from_vectors(text, fingerprint="space-A", space="adapted")


def noised(x0: torch.Tensor, t: int, seed: int = 1) -> torch.Tensor:
    a = float(alphas_cumprod()[t])
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed), dtype=x0.dtype)
    return a**0.5 * x0 + (1 - a) ** 0.5 * eps


def test_schedule_is_the_trained_models():
    abar = alphas_cumprod()
    assert abar.dtype == torch.float64 and len(abar) == 1000
    assert abar[0] > 0.9999 and abar[999] < 1e-8 and bool((abar[1:] < abar[:-1]).all())


@pytest.mark.parametrize("t", [1, 5, 10])
@pytest.mark.parametrize("renormalize", [True, False])
def test_a_slightly_noised_corpus_point_maps_to_itself(five, t, renormalize):
    _, cf = five
    cf = ClosedFormDenoiser(
        corpus=cf.corpus,
        text_mean=cf.text_mean,
        radius=cf.radius,
        fingerprint="A",
        space="a",
        renormalize=renormalize,
    )
    x0 = cf.corpus.double()
    out = cf.predict_x0(noised(x0, t), t)
    assert out.dtype == torch.float64
    assert torch.allclose(out, x0, atol=1e-8)


def test_at_the_last_step_the_prediction_is_the_corpus_mean(five):
    _, cf = five
    x = noised(cf.corpus.double().repeat(4, 1), 999) * 3
    out = closed_form_x0(x, 999, cf.corpus)
    mean = cf.corpus.double().mean(0)
    assert (out - mean).norm(dim=-1).max() < 1e-3 * SCALE


@pytest.mark.parametrize("t", [0, 50, 500, 999])
def test_chunked_and_unchunked_agree(t):
    g = torch.Generator().manual_seed(3)
    corpus = SCALE * F.normalize(torch.randn(37, 8, generator=g), dim=-1)
    x = torch.randn(23, 8, generator=g, dtype=torch.float64) * 2
    whole = closed_form_x0(x, t, corpus, query_chunk=10_000, corpus_chunk=10_000)
    small = closed_form_x0(x, t, corpus, query_chunk=4, corpus_chunk=5)
    assert torch.allclose(whole, small, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(whole).all()


@pytest.mark.parametrize("t", [0, 50, 500, 999])
def test_it_equals_the_dense_softmax(t):
    """The streamed log-sum-exp gives the softmax over every corpus row, written out."""
    g = torch.Generator().manual_seed(4)
    corpus = SCALE * F.normalize(torch.randn(40, 8, generator=g), dim=-1).double()
    x = torch.randn(30, 8, generator=g, dtype=torch.float64) * 2
    a = float(alphas_cumprod()[t])
    logit = -((x[:, None, :] - a**0.5 * corpus[None]) ** 2).sum(-1) / (2 * (1 - a))
    dense = torch.softmax(logit, dim=1) @ corpus
    out = closed_form_x0(x, t, corpus, query_chunk=7, corpus_chunk=9)
    assert torch.allclose(out, dense, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("recipe", ["direct", "sdedit"])
def test_the_bridge_runs_on_it_and_lands_on_the_corpus(five, recipe):
    text, cf = five
    g = torch.Generator().manual_seed(4)
    vision = text + 0.05 * torch.randn(text.shape, generator=g)
    out = bridge(
        cf,
        vision,
        cf.text_mean,
        space_fingerprint="space-A",
        t_start=599,
        steps=5,
        recipe=recipe,
        generator=g,
    )
    assert out.shape == text.shape and out.dtype == torch.float32
    assert torch.allclose(out.norm(dim=-1), torch.ones(5), atol=1e-5)
    # near-clean inputs at t* = 599 come back to their own text vector
    assert (out @ text.T).argmax(dim=1).tolist() == list(range(5))


def test_unconditional_samples_land_on_the_corpus(five):
    text, cf = five
    s = sample(cf, 6, steps=20, seed=0)
    assert s.shape == (6, 16)
    assert (s @ text.T).max(dim=1).values.min() > 0.99


def test_the_corpus_is_the_trained_models_diffusion_space(five):
    text, cf = five
    assert torch.equal(cf.corpus, to_diffusion_space(text, cf.text_mean))
    back = from_diffusion_space(cf.corpus, cf.text_mean, cf.radius)
    assert (back * text).sum(-1).min() > 0.99  # not exact: radius is the mean norm
