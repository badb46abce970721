"""The HICO-DET path on a fixture the test writes: reader, official lists, errors, and every chapter end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SHORT_BUDGETS

from hoilib.artifacts import dumps_json
from hoilib.chapters import ch0_data
from hoilib.chapters.notebook import open_chapter
from hoilib.config import resolve
from hoilib.data.build import prepare_world
from hoilib.data.hico import lists
from hoilib.data.hico.fixture import fixture_classes, make_fixture
from hoilib.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("hico"))


def _cfg(root, tmp_path, **kw):
    return resolve(
        "hico-fixture", {"world.data_root": str(root), "run.run_dir": str(tmp_path / "run"), **kw}
    )


def test_fixture_world_has_the_official_lists(fixture_root, tmp_path):
    world = prepare_world(_cfg(fixture_root, tmp_path))
    assert (
        world.num_classes == 600 and len(world.test.verbs) == 117 and len(world.test.objects) == 80
    )
    assert int(world.rare.sum()) == 138 and np.flatnonzero(world.rare).tolist() == lists.rare()
    assert {s: int(world.unseen(s).sum()) for s in lists.SPLITS} == {
        "uv": 84,
        "rf-uc": 120,
        "nf-uc": 120,
        "uo": 100,
    }
    assert world.prompts[0] == lists.prompts()[0] and len(world.descriptors[0]) == 3
    used = set(np.concatenate([im.hoi for im in world.test.images]).tolist())
    assert used == set(fixture_classes())  # every chosen class has test ground truth
    for s in lists.SPLITS:
        assert world.unseen(s)[sorted(used)].any() and (~world.unseen(s)[sorted(used)]).any(), s
    assert (world.test.image_dir / world.test.images[0].filename).suffix == ".jpg"
    pairs = world.test_pairs()
    assert len(pairs) >= len(world.test.images)


def test_clear_errors_for_a_missing_or_wrong_copy(fixture_root, tmp_path):
    with pytest.raises(ConfigError, match="'world.data_root' is empty.*hicodet"):
        prepare_world(
            resolve("hico-uv", {"world.data_root": "", "run.run_dir": str(tmp_path / "r")})
        )
    with pytest.raises(
        DataError,
        match=r"annotation file not found: .*instances_train2015.json.*fredzzhang/hicodet",
    ):
        prepare_world(_cfg(tmp_path, tmp_path))
    bad = tmp_path / "bad"
    (bad / "images" / "train2015").mkdir(parents=True)
    for split in ("train", "test"):
        doc = json.loads((fixture_root / f"instances_{split}2015.json").read_text())
        doc["verbs"][3] = "bake"
        (bad / f"instances_{split}2015.json").write_text(json.dumps(doc))
    with pytest.raises(
        DataError, match=r"test images not found: looked for .*hico_20160224_det/images/test2015"
    ):
        prepare_world(_cfg(bad, tmp_path))
    (bad / "images" / "test2015").mkdir(parents=True)
    with pytest.raises(DataError, match=r"image file not found"):
        prepare_world(_cfg(bad, tmp_path))
    for split in ("train", "test"):
        for f in (fixture_root / "images" / f"{split}2015").iterdir():
            (bad / "images" / f"{split}2015" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(
        DataError,
        match=r"field 'verbs' differs from the official HICO-DET list at index 3 \(got 'bake'",
    ):
        prepare_world(_cfg(bad, tmp_path))


def test_hico_profiles_are_paper_scale_and_overridable():
    for s in lists.SPLITS:
        cfg = resolve(f"hico-{s}")
        assert (cfg.world.dataset, cfg.world.split, cfg.backbone.name, cfg.backbone.pretrained) == (
            "hico-det",
            s,
            "ViT-B-16",
            "openai",
        )
        assert (
            cfg.ezhoi.epochs == 12
            and cfg.ezhoi.prompt_depth == 9
            and cfg.world.data_root.endswith("data/hicodet")
        )
    assert resolve("hico-uv", {"backbone.name": "ViT-L-14"}).backbone.name == "ViT-L-14"


def test_every_chapter_runs_on_the_hico_fixture(fixture_root, tmp_path):
    """The CI check of issue 5: `hoilib run --profile hico-fixture --set world.data_root=<dir>` passes on
    the CPU (on the shortest budgets: the path is tested, the budgets' numbers are the smoke book's)."""
    from hoilib.run.runner import chapter_paths, notebook_errors, run_profile

    run_dir = tmp_path / "run"
    overrides = {"world.data_root": str(fixture_root), "run.run_dir": str(run_dir), **SHORT_BUDGETS}
    # Ctrl-C during the first chapter of this very run: the run below resumes it (issue 20, item 6)
    _interrupt_during_chapter_0(overrides, run_dir)
    timings = run_profile("hico-fixture", overrides, log=lambda *_: None)
    assert set(timings) == {p.name for p in chapter_paths()}
    for p in chapter_paths():
        assert notebook_errors(run_dir / "notebooks" / p.name) == []
    m5 = json.loads((run_dir / "metrics" / "05_evaluation.json").read_text())
    assert m5["profile"] == "hico-fixture" and {r["method"] for r in m5["metrics"]["per_seed"]} >= {
        "EZ-HOI, no bridge"
    }
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["backbone"]["name"] == "HOI-Tiny-ViT" and cfg["world"]["dataset"] == "hico-det"
    assert cfg["ezhoi"]["epochs"] == SHORT_BUDGETS["ezhoi.epochs"]  # the budgets reached the run
    # the resumed chapter 0 equals chapter 0 computed uninterrupted (here, in this process: its
    # numbers are the world's counts and the backbone's description, read from the same stages)
    resumed = json.loads((run_dir / "metrics" / "00_hoi_synth.json").read_text())["metrics"]
    ch = open_chapter("hico-fixture", cfg, ch0_data, show=False)
    assert resumed == json.loads(dumps_json(ch0_data.run(ch).metrics()))


def _interrupt_during_chapter_0(overrides: dict, run_dir):
    """SIGINT to the whole process group (as a terminal's Ctrl-C) while the first chapter runs: exit
    130, one line naming the chapter, no process left behind, no lock, no half-written notebook."""
    cmd = [sys.executable, "-m", "hoilib", "run", "--profile", "hico-fixture"]
    for k, v in overrides.items():
        cmd += ["--set", f"{k}={v}"]
    p = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    log = run_dir / "run.log"
    deadline = time.time() + 240
    while not (log.is_file() and "running 00_" in log.read_text()) and time.time() < deadline:
        assert p.poll() is None, p.communicate()
        time.sleep(0.2)
    time.sleep(2)  # inside the chapter's kernel
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert p.returncode == 130 and "Traceback" not in out + err, err
    assert lines == [
        "hoilib: interrupted during 00_hoi_synth.ipynb; the same command resumes "
        "(finished stages and chapters are reused)"
    ]
    time.sleep(1)
    # the kernel runs in a session of its own (jupyter_client), so it is found by its parent's PID
    assert _children(p.pid) == [], "processes left running (the kernel?)"
    assert not (run_dir / ".hoilib-run.lock").exists()
    assert list((run_dir / "notebooks").iterdir()) == []
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["status"] == "interrupted"


def _children(pid: int) -> list[str]:
    """Live processes started by ``pid``: in its session, or kernels that jupyter_client started
    in a new session with ``JPY_PARENT_PID`` set to it."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        mine = int(fields[3]) == pid or f"JPY_PARENT_PID={pid}".encode() in env
        if mine and fields[0] != "Z":
            found.append(d.name)
    return found


def test_the_notebook_machinerys_log_records_go_to_the_run_not_the_terminal(tmp_path):
    """What a Ctrl-C in mid-reply makes the machinery log (papermill's "Kernel died while waiting for
    execute reply.", asyncio's "Task exception was never retrieved" with a traceback, the latter at
    garbage collection, even at interpreter exit) lands in kernels.log; stderr stays empty, so the
    command's own line is the only one the user reads (a CI run once printed both)."""
    log = tmp_path / "kernels.log"
    script = f"""
import asyncio, gc, logging
from hoilib.run.kernels import machinery_logs_to
machinery_logs_to({str(log)!r})
logging.getLogger("papermill").error("Kernel died while waiting for execute reply.")
async def dies():
    raise RuntimeError("Kernel died")
loop = asyncio.new_event_loop()
task = loop.create_task(dies())
loop.run_until_complete(asyncio.sleep(0.01))
del task
gc.collect()
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "", p.stderr
    text = log.read_text()
    assert "papermill ERROR: Kernel died while waiting" in text
    assert "asyncio ERROR: Task exception was never retrieved" in text and "RuntimeError" in text
