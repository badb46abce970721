"""The EZ-HOI-style model: identity adapters, trainable prompts, no unseen leak, checkpoints, text spaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoilib import artifacts
from hoilib.errors import ArtifactError
from hoilib.models import textspace
from hoilib.models.ezhoi.adapter import Adapter
from hoilib.models.ezhoi.checkpoint import load_checkpoint, save_checkpoint
from hoilib.models.ezhoi.ezhoi_stage import ABLATIONS, build_model
from hoilib.models.ezhoi.pairs import pack_pairs
from hoilib.models.ezhoi.train import class_objects, loss_mask
from hoilib.models.features import extract_pair_features
from hoilib.models.split_data import split_data


@pytest.fixture(scope="module")
def ez(tiny_backbone, tiny_cfg):
    world, bb = tiny_backbone
    return world, bb, tiny_cfg


@pytest.mark.parametrize("train_mode", [False, True])
def test_adapters_are_identity_at_init(train_mode):
    torch.manual_seed(0)
    x = torch.randn(2, 7, 32)
    a = Adapter(32).train(train_mode)
    assert torch.equal(a(x), x)
    d = Adapter(32, prior_size=32).train(train_mode)
    assert torch.equal(d(x[:, :1], torch.randn(2, 3, 32)), x[:, :1])


def test_prompt_gradients_reach_the_context_tokens_and_change_the_text(ez):
    world, bb, cfg = ez
    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world, flags=ABLATIONS["full"])
    enc = model.text_encoder
    raw = model.raw_text()
    prompted = enc(use_prompts=True)
    assert not torch.allclose(raw, prompted), "context tokens must change the pooled text feature"
    target = torch.randn_like(prompted)
    loss = ((prompted - target) ** 2).sum()
    loss.backward()
    assert enc.ctx.grad is not None and enc.ctx.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.deep_ctx)
    names = {n for n, _ in model.named_parameters()}
    assert "text_encoder.ctx" in names and "text_encoder.deep_ctx.0" in names
    assert not any(n.startswith("text_encoder._clip") for n in names), (
        "the frozen CLIP must not be trainable state"
    )
    with torch.no_grad():
        enc.ctx.add_(0.5)
    assert not torch.allclose(enc(use_prompts=True), prompted)


def test_all_text_modules_off_gives_the_raw_space(ez):
    world, bb, cfg = ez
    model = build_model(cfg.ezhoi, bb, world, flags=ABLATIONS["frozen text"])
    assert torch.allclose(model.text_features(), model.raw_text(), atol=1e-6)
    assert torch.allclose(model.raw_text(), bb.encode_text(world.prompts), atol=1e-5)


def test_dropping_positions_after_the_pooled_token_changes_nothing_that_is_read(ez, monkeypatch):
    """Under CLIP's causal mask the text tower keeps the positions up to the last pooled one only;
    its features match the full-context computation (prompts on and off), and a tower without
    a causal mask keeps every position."""
    from hoilib.models.ezhoi import prompts

    world, bb, cfg = ez
    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world, flags=ABLATIONS["full"])
    enc, clip = model.text_encoder, model.text_encoder._frozen()
    full = clip.positional_embedding.shape[0]
    pool = enc.tokens.argmax(-1) + enc.n_ctx
    assert prompts._kept(clip, pool) == int(pool.max()) + 1 < full, "the test needs short prompts"
    with torch.no_grad():
        short = {p: enc(use_prompts=p) for p in (True, False)}
        monkeypatch.setattr(prompts, "_kept", lambda clip, pool: full)
        whole = {p: enc(use_prompts=p) for p in (True, False)}
    monkeypatch.undo()
    for p in (True, False):
        torch.testing.assert_close(short[p], whole[p], atol=1e-6, rtol=0)
    torch.testing.assert_close(short[False], bb.encode_text(world.prompts), atol=1e-6, rtol=0)
    saved = clip.attn_mask
    try:
        for mask in (torch.zeros_like(saved), saved.T.contiguous(), None):
            clip.attn_mask = mask
            assert prompts._kept(clip, pool) == full
    finally:
        clip.attn_mask = saved


def _unseen_split(world):
    for s in ("rf-uc", "nf-uc", "uv", "uo"):
        if world.train.class_counts()[world.unseen(s)].sum() > 0:
            return s
    pytest.fail(
        "the tiny world has no training instance of any unseen class: this test would test nothing"
    )


def test_unseen_labels_never_reach_the_loss(ez, trained_states):
    """Training with the unseen annotations left in gives bit-identical weights: they never reach the loss."""
    world, bb, cfg = ez
    split = _unseen_split(world)
    data = split_data(cfg, world, bb, split=split)
    unseen = world.unseen(split)
    assert data.train.targets[..., torch.as_tensor(unseen)].sum() == 0
    assert data.val.targets[..., torch.as_tensor(unseen)].sum() == 0
    mask = loss_mask(data.train, class_objects(world.classes), torch.as_tensor(~unseen))
    assert not mask[..., torch.as_tensor(unseen)].any()

    pairs = world.train_pairs()
    feats = extract_pair_features(
        bb, world.train, pairs, cache_dir=f"{cfg.run.run_dir}/features", show_progress=False
    )
    leaky = pack_pairs(world.train, pairs, feats)  # unseen annotations still in the targets
    assert leaky.targets[..., torch.as_tensor(unseen)].sum() > 0
    clean = pack_pairs(world.train.without_classes(np.flatnonzero(unseen)), pairs, feats)
    states = trained_states(cfg, bb, world, (clean, leaky), data.val, ~unseen, epochs=2)
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_checkpoint_roundtrip_and_refusals(ez, tmp_path):
    world, bb, cfg = ez
    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world)
    with torch.no_grad():
        model.text_encoder.ctx.add_(0.1)
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"split": "rf-uc", "seed": 0})
    fresh = build_model(cfg.ezhoi, bb, world)
    meta = load_checkpoint(path, fresh)
    assert meta["split"] == "rf-uc" and torch.equal(fresh.text_features(), model.text_features())
    other = build_model(cfg.updated({"ezhoi.n_ctx": 3}).ezhoi, bb, world)
    with pytest.raises(
        ArtifactError, match=r"another configuration \(n_ctx: checkpoint 2, model 3\)"
    ):
        load_checkpoint(path, other)
    tensors, m = artifacts.load_tensors(path)
    m["config"]["num_classes"] = 600
    artifacts.save_tensors(tmp_path / "classes.safetensors", tensors, m)
    with pytest.raises(ArtifactError, match=r"num_classes: checkpoint 600, model \d+"):
        load_checkpoint(tmp_path / "classes.safetensors", fresh)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(ArtifactError, match="cut.safetensors is not a readable safetensors file"):
        load_checkpoint(tmp_path / "cut.safetensors", fresh)


def test_extraction_is_deterministic_and_fingerprinted(ez, tmp_path):
    world, bb, cfg = ez
    torch.manual_seed(0)
    model = build_model(cfg.ezhoi, bb, world)
    p1 = save_checkpoint(tmp_path / "a.safetensors", model, {})
    s1 = textspace.extract(model, world, bb.tokenizer, checkpoint=p1)
    s2 = textspace.extract(model, world, bb.tokenizer, checkpoint=p1)
    assert s1.fingerprint == s2.fingerprint
    for k in ("raw", "adapted", "raw_corpus", "adapted_corpus"):
        assert torch.equal(getattr(s1, k), getattr(s2, k))
    assert s1.raw.shape == (world.num_classes, bb.embed_dim)
    assert len(s1.raw_corpus) == len(textspace.corpus_sets(world)) * world.num_classes
    with torch.no_grad():
        model.txtmem_adapter.up.bias.add_(0.01)
    p2 = save_checkpoint(tmp_path / "b.safetensors", model, {})
    s3 = textspace.extract(model, world, bb.tokenizer, checkpoint=p2)
    assert s3.fingerprint != s1.fingerprint
    assert s3.meta["raw_fingerprint"] == s1.meta["raw_fingerprint"]
    saved = textspace.load(textspace.save(s3, tmp_path / "space.safetensors"))
    assert saved.fingerprint == s3.fingerprint and torch.equal(saved.adapted, s3.adapted)


def test_descriptor_features_are_stored_and_read_back_only_for_the_same_tower(
    tiny_backbone, tmp_path, monkeypatch
):
    from hoilib.models.ezhoi import ezhoi_stage

    world, bb = tiny_backbone
    fresh = ezhoi_stage.descriptor_features(bb, world)
    calls = []
    encode = ezhoi_stage._closest_descriptors
    monkeypatch.setattr(
        ezhoi_stage, "_closest_descriptors", lambda *a, **kw: calls.append(1) or encode(*a, **kw)
    )
    first = ezhoi_stage.descriptor_features(bb, world, folder=tmp_path)
    again = ezhoi_stage.descriptor_features(bb, world, folder=tmp_path)
    assert len(calls) == 1 and torch.equal(first, fresh) and torch.equal(again, fresh)
    # the text tower's output moved (other CPU kernels, say): encoded again, not read back
    weight = bb.model.token_embedding.weight
    kept = weight.detach().clone()
    with torch.no_grad():
        weight.add_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)) * 0.1)
    try:
        ezhoi_stage.descriptor_features(bb, world, folder=tmp_path)
    finally:
        with torch.no_grad():
            weight.copy_(kept)
    assert len(calls) == 2
