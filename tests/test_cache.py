"""The one cache: reuse only under the same key, say why a rerun happens, keep old entries until pruned."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from hoilib import artifacts, cache, codekey


@pytest.fixture
def run_log(tmp_path, monkeypatch):
    log = tmp_path / "run.log"
    monkeypatch.setenv(artifacts.RUN_LOG_ENV, str(log))
    return lambda: log.read_text() if log.is_file() else ""


def test_a_fixed_entry_resumes_only_when_inputs_match(tmp_path):
    s = cache.Entry(tmp_path, "world", {"seed": 1})
    assert not s.done()
    s.mark_done(None)
    assert cache.Entry(tmp_path, "world", {"seed": 1}).done()
    assert not cache.Entry(tmp_path, "world", {"seed": 2}).done()


def test_an_entry_needs_its_files_and_records_inputs_and_code(tmp_path):
    f = tmp_path / "x.bin"
    s = cache.Entry(tmp_path, "thing", {"a": 1}, code="ezhoi")
    assert s.inputs == {"a": 1, "code": codekey.stage_digest("ezhoi")}
    f.write_bytes(b"1")
    s.mark_done([f], {"note": "n"})
    assert s.done([f]) and s.info()["inputs"] == s.inputs and s.info()["files"] == ["x.bin"]
    assert s.info()["note"] == "n"
    f.unlink()
    assert not s.done([f])  # a marker without its file is not done
    other_code = cache.Entry(tmp_path, "thing", {"a": 1}, code=("hoilib.data.crops",))
    assert other_code.inputs["code"] != s.inputs["code"]


def test_the_log_says_reused_or_which_inputs_changed(tmp_path, run_log):
    cfg = {"seed": 0, "epochs": 3}
    e = cache.Entry(tmp_path, "t", {"params": cfg, "world": "w"}, keyed=True)
    assert e.value(lambda: [1, 2]) == [1, 2]
    assert "[stage] t: computing (not computed yet)" in run_log()
    assert e.value(lambda: pytest.fail("recomputed")) == [1, 2]
    assert "[stage] t: reused" in run_log()
    moved = cache.Entry(tmp_path, "t", {"params": {**cfg, "seed": 4}, "world": "v"}, keyed=True)
    assert moved.value(lambda: [3]) == [3]
    assert "[stage] t: computing (inputs changed: params.seed, world)" in run_log()
    # both versions are kept side by side until pruned
    assert len(list(tmp_path.glob("t-*.json"))) == 2


def _truncate(path) -> bytes:
    """Cut a stored file to half its bytes, as a full disk or a killed copy leaves it; the cut bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return data[: len(data) // 2]


def _set_aside_once(path, cut: bytes, err: str, log: str) -> None:
    """One warning line naming ``path`` (on stderr and in the run log); the cut copy kept beside it."""
    warned = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warned) == 1 and str(path) in warned[0], err
    logged = [ln for ln in log.splitlines() if "warning" in ln]
    assert len(logged) == 1 and logged[0].endswith(warned[0]), log
    aside = sorted(path.parent.glob(f"{path.name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in warned[0] and aside[0].read_bytes() == cut


def test_a_truncated_entry_is_set_aside_with_one_warning_and_recomputed(tmp_path, run_log, capfd):
    e = cache.Entry(tmp_path, "t", {"a": 1}, keyed=True)
    value = {"n": np.arange(5), "name": "x"}
    first = e.value(lambda: value)
    stored = e.path(".json").read_bytes()
    cut = _truncate(e.path(".json"))
    capfd.readouterr()
    again = e.value(lambda: value)
    _set_aside_once(e.path(".json"), cut, capfd.readouterr().err, run_log())
    assert "[stage] t: computing (stored copy unreadable)" in run_log()
    assert np.array_equal(again["n"], first["n"]) and again["name"] == first["name"]
    assert e.path(".json").read_bytes() == stored  # recomputed, byte for byte
    assert cache.survey([tmp_path])[0].status == "current"  # the set-aside copy is no entry
    assert e.value(lambda: pytest.fail("recomputed"))["name"] == "x"  # and reused from then on


def test_a_truncated_backbone_checkpoint_is_set_aside_and_pretrained_again(
    tiny_backbone, tiny_cfg, tmp_path, run_log, capfd
):
    """A run folder whose checkpoint a full disk cut short: chapter 0 pretrains it again, no hand needed."""
    import shutil

    from hoilib.models.backbone_stage import backbone_seed, prepare_backbone

    world, _ = tiny_backbone
    shutil.copytree(f"{tiny_cfg.run.run_dir}/backbone", tmp_path / "run" / "backbone")
    run = tiny_cfg.run.model_copy(update={"run_dir": str(tmp_path / "run"), "stage_dir": None})
    path = tmp_path / "run" / "backbone" / "synth-clip.safetensors"
    # copies: a safetensors load can map the file, which is about to be cut
    original = {k: v.clone() for k, v in artifacts.load_tensors(path)[0].items()}
    cut = _truncate(path)
    capfd.readouterr()
    again = prepare_backbone(tiny_cfg.backbone, run, world, seed=backbone_seed(tiny_cfg))
    _set_aside_once(path, cut, capfd.readouterr().err, run_log())
    # the same weights, pretrained again (the file differs only in its recorded seconds)
    stored, _ = artifacts.load_tensors(path)
    assert stored.keys() == original.keys()
    assert all(torch.equal(stored[k], original[k]) for k in original)
    assert all(torch.equal(again.model.state_dict()[k], original[k]) for k in original)


def _entry(folder, name, a, when):
    e = cache.Entry(folder, name, {"a": a}, keyed=True)
    e.value(lambda: np.arange(a))
    os.utime(e.marker, (when, when))
    return e


def test_prune_keeps_the_last_used_entry_of_each_name_and_removes_the_rest(tmp_path):
    old = _entry(tmp_path / "cache", "t", 1, 1_000)
    new = _entry(tmp_path / "cache", "t", 2, 2_000)
    other = _entry(tmp_path / "cache", "u", 1, 500)  # another name: current however old
    legacy = tmp_path / "cache" / "t-0123456789abcdef.json"  # a keyed file no marker owns
    legacy.write_text("{}")
    fixed = cache.Entry(tmp_path / "ezhoi", "ck", {"a": 1})
    (tmp_path / "ezhoi" / "ck.safetensors").parent.mkdir()
    (tmp_path / "ezhoi" / "ck.safetensors").write_bytes(b"w")
    fixed.mark_done([tmp_path / "ezhoi" / "ck.safetensors"])
    status = {(e.name, e.status) for e in cache.survey([tmp_path])}
    assert status == {
        ("t", "current"),
        ("t", "superseded"),
        ("u", "current"),
        ("ck", "current"),
        (legacy.name, "orphan"),
    }
    # a dry run removes nothing
    assert cache.prune([tmp_path], dry_run=True) and old.marker.is_file()
    gone = cache.prune([tmp_path])
    assert {e.name for e in gone} == {"t", legacy.name}
    assert not old.marker.exists() and not old.path(".json").exists() and not legacy.exists()
    for e in (new, other):
        assert e.marker.is_file() and e.path(".json").is_file()
    assert (tmp_path / "ezhoi" / "ck.safetensors").is_file()
    assert new.done([new.path(".json")])  # what is left still resumes
    assert cache.prune([tmp_path]) == []


def test_markers_of_the_older_cache_are_superseded_once_this_version_wrote_beside_them(tmp_path):
    """Before hoilib.cache, a diffusion model's marker named its one file and no shape; once a keyed
    entry of this version lives in the folder, the old one is superseded and prune removes it."""
    old_file = tmp_path / "adapted-d66116069db6-seed2.safetensors"
    old_file.write_bytes(b"old")
    old_marker = tmp_path / ".adapted-d66116069db6-seed2.done.json"
    old_marker.write_text(
        json.dumps({"stage": "adapted-d66116069db6-seed2", "key": "k", "file": old_file.name})
    )
    assert [e.status for e in cache.survey([tmp_path])] == [
        "current"
    ]  # alone: nothing to say it is old
    _entry(tmp_path, "adapted-seed2", 1, 2_000)
    old = [e for e in cache.survey([tmp_path]) if e.marker == old_marker]
    assert [(e.status, e.files) for e in old] == [("superseded", [old_file])]
    cache.prune([tmp_path])
    assert not old_file.exists() and not old_marker.exists()


def test_reuse_makes_an_entry_the_current_one(tmp_path):
    """Prune keeps what was used last, not what was computed last."""
    first = _entry(tmp_path, "t", 1, 1_000)
    _entry(tmp_path, "t", 2, 2_000)
    first.value(lambda: pytest.fail("recomputed"))  # reused now: its marker is touched
    current = [e for e in cache.survey([tmp_path]) if e.status == "current"]
    assert [e.marker for e in current] == [first.marker]


def test_cache_command_lists_and_prunes_a_run(tmp_path):
    run = tmp_path / "run"
    _entry(run / "cache", "t", 1, 1_000)
    _entry(run / "cache", "t", 2, 2_000)
    cmd = [sys.executable, "-m", "hoilib", "cache"]
    where = ["--profile", "smoke", "--set", f"run.run_dir={run}"]
    out = subprocess.run([*cmd, "list", *where], capture_output=True, text=True, check=True).stdout
    assert "superseded" in out and "current" in out
    out = subprocess.run([*cmd, "prune", *where], capture_output=True, text=True, check=True).stdout
    assert "removed 1 entries" in out
    assert len(list((run / "cache").glob("t-*.json"))) == 1


def test_a_truncated_feature_cache_is_set_aside_and_extracted_again(
    tiny_backbone, tmp_path, run_log, capfd
):
    """The feature cache reads its file through the same guard: a cut copy is extracted again."""
    from hoilib.models.features import extract_pair_features

    world, bb = tiny_backbone
    pairs = world.train_pairs()

    def feats():
        return extract_pair_features(
            bb, world.train, pairs, cache_dir=tmp_path, show_progress=False
        )

    first = {k: v.clone() for k, v in feats().items()}
    (path,) = sorted(tmp_path.glob("*.safetensors"))
    cut = _truncate(path)
    capfd.readouterr()
    again = feats()
    _set_aside_once(path, cut, capfd.readouterr().err, run_log())
    assert again.keys() == first.keys() and all(torch.equal(again[k], first[k]) for k in first)


def test_a_truncated_ezhoi_checkpoint_is_set_aside_and_trained_again(
    tiny_backbone, tiny_experiment, tmp_path, run_log, capfd
):
    """EZ-HOI's checkpoint too: a cut copy is trained again from the seeded start, the same weights."""
    from hoilib.models.ezhoi.ezhoi_stage import checkpoint_path, train_or_load

    cfg, world, data, ctx, _ = tiny_experiment
    run = cfg.run.model_copy(update={"run_dir": str(tmp_path / "run"), "stage_dir": ""})
    bb = tiny_backbone[1]

    def train():
        model, _ = train_or_load(cfg.ezhoi, run, bb, world=world, data=data, name="full", seed=0)
        return {k: v.clone() for k, v in model.state_dict().items()}

    first = train()
    path = checkpoint_path(run, data.split, "full", seed=0)
    cut = _truncate(path)
    capfd.readouterr()
    again = train()
    _set_aside_once(path, cut, capfd.readouterr().err, run_log())
    assert again.keys() == first.keys() and all(torch.equal(again[k], first[k]) for k in first)
