"""Backbones: the word tokenizer, the small CLIP's checkpoint, and the open_clip loading path."""

from __future__ import annotations

import pytest
import torch
from conftest import pil_batch

from hoilib import artifacts
from hoilib.errors import ArtifactError, ConfigError
from hoilib.models.backbone import WordTokenizer, load_open_clip, load_synth_clip


def test_word_tokenizer_ends_with_the_largest_id():
    tok = WordTokenizer.from_corpus(["a person riding a horse", "a red ball"], context_length=8)
    ids = tok(["a person riding a horse"])
    assert ids.shape == (1, 8)
    assert int(ids.argmax()) == 6 and int(ids.max()) == tok.eot  # sot + 5 words, then end of text
    with pytest.raises(ConfigError, match="word 'zebra'.*not in the backbone's vocabulary"):
        tok(["a zebra"])


def test_synth_backbone_checkpoint_roundtrip(tiny_backbone, tiny_cfg):
    world, bb = tiny_backbone
    path = f"{tiny_cfg.run.run_dir}/backbone/synth-clip.safetensors"
    again = load_synth_clip(path)
    t1 = bb.encode_text(world.prompts[:5])
    t2 = again.encode_text(world.prompts[:5])
    assert torch.allclose(t1, t2) and t1.shape == (5, bb.embed_dim)
    assert torch.allclose(t1.norm(dim=-1), torch.ones(5), atol=1e-5)


def test_foreign_checkpoint_is_refused(tmp_path):
    p = artifacts.save_tensors(
        tmp_path / "x.safetensors", {"w": torch.zeros(2)}, {"kind": "something-else"}
    )
    with pytest.raises(ArtifactError, match="metadata field 'kind' is 'something-else'"):
        load_synth_clip(p)


def test_open_clip_vit_b16_random_init_same_code_path():
    """The HICO profiles load ViT-B-16 by name; here with random weights (no download)."""
    bb = load_open_clip("ViT-B-16", None)
    assert bb.image_size == 224 and bb.embed_dim == 512
    t = bb.encode_text(["a photo of a person riding a horse"])
    assert t.shape == (1, 512)
    from PIL import Image

    x = pil_batch(bb, [Image.new("RGB", (224, 224), (120, 30, 30))])
    with torch.no_grad():
        assert bb.model.encode_image(x).shape == (1, 512)


def test_unknown_open_clip_name():
    with pytest.raises(ConfigError, match="'ViT-Q-99' is not an open_clip model name"):
        load_open_clip("ViT-Q-99", None)


def test_pretraining_crops_read_by_several_processes_are_the_same_bytes(tiny_backbone, monkeypatch):
    """HICO-DET-sized worlds read their pretraining crops with every core: the tensor must not move."""
    from hoilib.models import backbone as bbmod

    world, _ = tiny_backbone
    records = artifacts.read_json(world.root / "captions.json", "caption corpus")["captions"]
    one = bbmod._load_crops(world.root, records, 32)
    monkeypatch.setattr(bbmod, "POOL_MIN_CROPS", 0)
    monkeypatch.setattr(bbmod, "workers", lambda n, minimum: 2)
    assert torch.equal(bbmod._load_crops(world.root, records, 32), one)
    assert one.shape == (len(records), 3, 32, 32) and one.dtype == torch.uint8


def test_the_backbone_key_names_a_device_only_off_the_cpu(tiny_backbone, tiny_cfg, monkeypatch):
    """Pretraining on a GPU trains other weights, so its key says so; the CPU's key is the old one."""
    from hoilib.models import backbone_stage

    world, _ = tiny_backbone
    seen = []

    class Stop(Exception):
        pass

    def entry(folder, name, inputs, code):
        seen.append(inputs)
        raise Stop

    monkeypatch.setattr(backbone_stage.cache, "Entry", entry)
    for device in ("cpu", "cuda:1"):
        run = tiny_cfg.run.model_copy(update={"device": device})
        with pytest.raises(Stop):
            backbone_stage.prepare_backbone(tiny_cfg.backbone, run, world, seed=0)
    assert "device" not in seen[0] and seen[1]["device"] == "cuda:1"
    assert {k: v for k, v in seen[1].items() if k != "device"} == seen[0]
