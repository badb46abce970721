"""Atomic writes, resumable stages and refusal of truncated tensor files."""

from __future__ import annotations

import pytest
import torch

from hoilib import artifacts
from hoilib.errors import ArtifactError


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_tensors_roundtrip_and_truncation(tmp_path):
    p = artifacts.save_tensors(
        tmp_path / "t.safetensors", {"a": torch.arange(6.0).view(2, 3)}, {"k": [1, 2]}
    )
    t, meta = artifacts.load_tensors(p)
    assert torch.equal(t["a"], torch.arange(6.0).view(2, 3)) and meta == {"k": [1, 2]}
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="t.safetensors is not a readable safetensors file"):
        artifacts.load_tensors(p)
    with pytest.raises(ArtifactError, match="not found"):
        artifacts.load_tensors(tmp_path / "missing.safetensors")


def test_interrupted_world_generation_resumes(tmp_path, monkeypatch):
    """A world killed half-way has no done-marker; the next run regenerates it completely."""
    from hoilib.data.synth import world as W

    spec = W.WorldSpec(
        seed=5, n_train_images=6, n_test_images=4, n_pretrain_images=3, image_size=96
    )

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(W, "_write_pretrain", boom)
    with pytest.raises(KeyboardInterrupt):
        W.generate_world(tmp_path, spec)
    assert not W.world_stage(tmp_path, spec).done()
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.undo()
    W.generate_world(tmp_path, spec)
    assert W.world_stage(tmp_path, spec).done()
    assert (tmp_path / "world.json").is_file()


def test_json_is_strict_and_canonical(tmp_path):
    import json

    import numpy as np

    p = artifacts.write_json(
        tmp_path / "m.json",
        {"b": float("nan"), "a": np.float64(1.5), "c": [np.int64(2), float("inf")]},
    )
    text = p.read_text()
    assert json.loads(text) == {"a": 1.5, "b": None, "c": [2, None]}
    assert "NaN" not in text and text.index('"a"') < text.index('"b"')


def test_images_that_cannot_be_read_name_their_file(tmp_path):
    from PIL import Image

    from hoilib.data.images import open_rgb
    from hoilib.errors import DataError

    good = tmp_path / "a.jpg"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good, quality=95)
    assert open_rgb(good).size == (40, 30)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match=r"my crop .*cut\.jpg cannot be read \(truncated"):
        open_rgb(cut, "my crop")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"text\.jpg cannot be read"):
        open_rgb(tmp_path / "text.jpg")
    with pytest.raises(DataError, match=r"image file not found: .*nope\.jpg"):
        open_rgb(tmp_path / "nope.jpg")


def test_an_artifact_gets_the_mode_of_any_other_file(tmp_path):
    """A run folder on a shared workstation: provenance.json and the metrics are readable by whoever
    may read the folder (mkstemp alone would leave them 0600)."""
    import os
    import stat

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = artifacts.write_json(tmp_path / "provenance.json", {"a": 1})
    assert stat.S_IMODE(os.stat(written).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
