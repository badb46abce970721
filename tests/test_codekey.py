"""Stages keyed by their code: a change to a module reruns the stages that import it and nothing else."""

from __future__ import annotations

import shutil

import pytest
import torch

from hoilib import artifacts, codekey
from hoilib.models import textspace
from hoilib.models.backbone_stage import backbone_seed, prepare_backbone
from hoilib.models.diffusion import diffusion_stage as dstages
from hoilib.models.ezhoi.ezhoi_stage import train_or_load
from hoilib.models.split_data import split_data


@pytest.fixture
def code_copy(tmp_path, monkeypatch):
    """A copy of the package whose code the stages hash; edit it, then call ``refresh``."""
    root = tmp_path / "src" / "hoilib"
    shutil.copytree(codekey.PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    monkeypatch.setattr(codekey, "PACKAGE", root)
    codekey._graph.cache_clear()
    yield root
    codekey._graph.cache_clear()


def _edit(path, line="# a change\n"):
    path.write_text(path.read_text() + line)
    codekey._graph.cache_clear()


def test_closures_follow_the_imports():
    ez = codekey.stage_code("ezhoi")["modules"]
    assert {
        "hoilib.models.ezhoi.train",
        "hoilib.models.ezhoi.model",
        "hoilib.measure.metric",
        "hoilib.seed",
    } <= set(ez)
    for stage in ("world", "backbone", "features"):
        mods = set(codekey.stage_code(stage)["modules"])
        assert not any(m.startswith("hoilib.models.ezhoi") for m in mods), stage
        assert "hoilib.models.diffusion.model" not in mods, stage
    assert "hoilib.models.diffusion.model" in codekey.stage_code("diffusion")["modules"]
    for stage in codekey.STAGES:  # chapter 5's scoring feeds no cached stage
        assert "hoilib.chapters.ch5_ordering" not in codekey.stage_code(stage)["modules"]
    # imports inside the package count
    assert "hoilib.data.synth.render" in codekey.stage_code("world")["modules"]
    # the annotation reader needs the tables, not the metric: a metric fix must not re-extract features
    assert "hoilib.data.hoitables" in codekey.stage_code("features")["modules"]
    assert "hoilib.measure.metric" not in codekey.stage_code("features")["modules"]


def test_a_module_edit_moves_exactly_the_digests_that_import_it(code_copy):
    before = codekey.all_digests()
    _edit(code_copy / "models" / "ezhoi" / "train.py")
    after = codekey.all_digests()
    assert {k for k in before if before[k] != after[k]} == {"ezhoi", "hoilib"}
    _edit(code_copy / "chapters" / "ch5_ordering.py")
    assert {k for k, v in codekey.all_digests().items() if v != after[k]} == {"hoilib"}
    _edit(code_copy / "codekey.py")  # the key code itself: no stage reruns
    assert {k for k, v in codekey.all_digests().items() if v != after[k]} == {"hoilib"}
    after = codekey.all_digests()
    _edit(code_copy / "measure" / "metric.py")
    assert {k for k, v in codekey.all_digests().items() if v != after[k]} == {"ezhoi", "hoilib"}
    _edit(code_copy / "data" / "synth" / "render.py")
    moved = {k for k, v in codekey.all_digests().items() if v != after[k]}
    assert {
        "world",
        "ezhoi",
        "diffusion",
    } <= moved and "backbone" not in moved  # backbone reads the world's files


def test_changed_training_code_retrains_ezhoi_and_reuses_backbone_and_features(
    tiny_world, tiny_cfg, tmp_path, code_copy
):
    """The real stages: a change to the EZ-HOI training loop reruns EZ-HOI and what is keyed on it (the text
    space, so the diffusion model), while the backbone and the feature cache are loaded as they were."""
    from hoilib.data.build import prepare_world

    cfg = tiny_cfg.updated(
        {"run.run_dir": str(tmp_path / "run"), "ezhoi.epochs": 1, "diffusion.steps": 5}
    )
    world = prepare_world(cfg)
    bb = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    backbone_file = tmp_path / "run" / "backbone" / "synth-clip.safetensors"
    split = "rf-uc"
    data = split_data(cfg, world, bb, split=split)
    # the feature files (their markers are touched on reuse: prune keeps what was used last)
    features = {
        p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "features").glob("*.safetensors")
    }
    model, meta = train_or_load(cfg.ezhoi, cfg.run, bb, world=world, data=data, name="full", seed=0)
    ckpt = tmp_path / "run" / "ezhoi" / f"{split}-full-seed0.safetensors"
    space1 = textspace.extract(model, world, bb.tokenizer, checkpoint=ckpt)
    diff1 = dstages.train_or_load(
        cfg.diffusion, cfg.run, space1, which="adapted", seed=0, show_progress=False
    )
    stamp = {p: p.stat().st_mtime_ns for p in (backbone_file, ckpt)}

    # unchanged code: everything is loaded
    assert (
        prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg)).fingerprint
        == bb.fingerprint
    )
    train_or_load(
        cfg.ezhoi,
        cfg.run,
        bb,
        world=world,
        data=split_data(cfg, world, bb, split=split),
        name="full",
        seed=0,
    )
    assert {p: p.stat().st_mtime_ns for p in (backbone_file, ckpt)} == stamp

    _edit(code_copy / "models" / "ezhoi" / "train.py")
    bb2 = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    data2 = split_data(cfg, world, bb2, split=split)
    model2, meta2 = train_or_load(
        cfg.ezhoi, cfg.run, bb2, world=world, data=data2, name="full", seed=0
    )
    assert (
        backbone_file.stat().st_mtime_ns == stamp[backbone_file]
        and bb2.fingerprint == bb.fingerprint
    )
    assert {
        p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "features").glob("*.safetensors")
    } == features
    assert ckpt.stat().st_mtime_ns != stamp[ckpt]  # retrained
    assert meta2["inputs"]["code"] == codekey.stage_digest("ezhoi") != meta["inputs"]["code"]
    marker = artifacts.read_json(ckpt.parent / f".{ckpt.stem}.done.json")
    assert marker["inputs"]["code"] == codekey.stage_digest("ezhoi")
    # same seed, same data: the weights come out equal, yet the space and its diffusion model are new
    for k, v in model.trainable_state().items():
        assert torch.equal(v, model2.trainable_state()[k]), k
    space2 = textspace.extract(model2, world, bb2.tokenizer, checkpoint=ckpt)
    assert space2.meta["weights_sha256"] == space1.meta["weights_sha256"]
    assert space2.fingerprint != space1.fingerprint
    diff2 = dstages.train_or_load(
        cfg.diffusion, cfg.run, space2, which="adapted", seed=0, show_progress=False
    )
    assert diff2.fingerprint == space2.fingerprint != diff1.fingerprint == space1.fingerprint


def test_the_package_has_no_import_cycle():
    """Imports point down: a cycle would also tie the code keys of unrelated stages together."""
    deps, _ = codekey._graph(codekey.PACKAGE)
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m) :] + [m]))
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in sorted(deps[m]):
            # running a parent package first is not a cycle (its __init__ re-exports)
            if not m.startswith(d + "."):
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(deps):
        visit(m, [])
