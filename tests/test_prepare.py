"""``hoilib.run.prepare`` (the README's torchrun entry point) on two gloo processes: it fills the stages the
notebooks then load, and when one rank fails every rank ends promptly with that rank's error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_PARAMS

from hoilib import artifacts

ROOT = Path(__file__).resolve().parent.parent


def _profile(tmp_path: Path, seeds=(0,)) -> Path:
    """The tiny world of conftest (same spec, so its world stage is reused) with the smallest budgets."""
    p = tmp_path / "tiny.yml"
    p.write_text(
        yaml.safe_dump(
            {
                "world.dataset": "hoi-synth",
                # this test gives each rank one thread itself; the kernels are what it checks
                "run.cpu_kernels": "avx2",
                **TINY_PARAMS,
                "ezhoi.epochs": 1,
                "ezhoi.seeds": list(seeds),
                "ezhoi.ablation": False,
                "ezhoi.batch_images": 8,
            }
        )
    )
    return p


def _torchrun(tmp_path: Path, world: Path, run_dir: Path, timeout: int = 240):
    from test_distributed import torchrun_cmd

    from hoilib.machine import kernel_env

    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TQDM_DISABLE": "1",
        **kernel_env("avx2"),
    }  # the profile's CPU kernels, set before torch starts
    cmd = [
        *torchrun_cmd(),
        "-m",
        "hoilib.run.prepare",
        "--profile",
        str(_profile(tmp_path)),
        "--set",
        f"world.data_root={world}",
        "--set",
        f"run.run_dir={run_dir}",
    ]
    t0 = time.time()
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return r, time.time() - t0


@pytest.mark.slow
def test_two_processes_fill_the_stages_a_single_process_then_loads(tiny_world, tmp_path):
    run_dir = tmp_path / "run"
    r, _ = _torchrun(tmp_path, tiny_world, run_dir)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "[prepare] 2 process(es)" in r.stdout and "EZ-HOI 'full' seed 0 ready" in r.stdout
    ckpt = run_dir / "ezhoi" / "rf-uc-full-seed0.safetensors"
    marker = artifacts.read_json(run_dir / "ezhoi" / ".rf-uc-full-seed0.done.json")
    assert ckpt.is_file() and marker["files"] == [ckpt.name]
    stamps = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.safetensors")}
    from hoilib.machine import AVX2_KERNELS, kernel_env

    args = [
        "--profile",
        str(_profile(tmp_path)),
        "--set",
        f"world.data_root={tiny_world}",
        "--set",
        f"run.run_dir={run_dir}",
    ]
    # A single process, in a child: run in this one, prepare would fix oneDNN's and MKL's
    # instruction sets at their first use while the kernel variables are set, and every later
    # test in this process would compute with AVX2 kernels (the 9e-8 order dependence of
    # test_distributed's one-process reference, issue 19).
    cmd = [sys.executable, "-m", "hoilib.run.prepare", *args]
    bare = {k: v for k, v in os.environ.items() if k not in AVX2_KERNELS}
    pinned = kernel_env("avx2") or any(k in os.environ for k in AVX2_KERNELS)
    avx2 = {k: os.environ.get(k, v) for k, v in AVX2_KERNELS.items()} if pinned else {}
    if avx2:
        # started without the profile's kernels: prepare says so, does nothing
        r = subprocess.run(cmd, env=bare, cwd=ROOT, capture_output=True, text=True, timeout=240)
        assert r.returncode == 1, r.stderr[-2000:]
        assert (
            "parameter 'run.cpu_kernels' = 'avx2' on the CPU: start torchrun with ATEN_CPU_CAPABILITY=avx2"
            in r.stderr
        )
    env = {**bare, **avx2, "TQDM_DISABLE": "1"}
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.safetensors")} == stamps  # all reused


@pytest.mark.slow
def test_a_failing_rank_0_ends_every_rank_promptly_with_its_error(tiny_world, tmp_path):
    world = tmp_path / "world"
    shutil.copytree(tiny_world, world)
    captions = world / "captions.json"
    # rank 0 pretrains the backbone first and hits this
    captions.write_text(captions.read_text()[:200])
    r, seconds = _torchrun(tmp_path, world, tmp_path / "run", timeout=120)
    assert r.returncode != 0
    assert seconds < 60, f"ranks took {seconds:.0f} s to stop"
    assert (
        f"hoilib.run.prepare (rank 0): error: caption corpus {captions} is not valid JSON"
        in r.stderr
    )
    assert (
        "hoilib.run.prepare (rank 1): error: the backbone: stopped because rank 0 failed"
        in r.stderr
    )
    assert "[rank1]: Traceback" not in r.stderr and "[rank0]: Traceback" not in r.stderr


def _checkpoints(run_dir: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((run_dir / "ezhoi").glob("*.safetensors")):
        tensors, meta = artifacts.load_tensors(p)
        out[p.name] = {"tensors": tensors, "best_epoch": meta["history"]["best_epoch"]}
    return out


@pytest.mark.slow
def test_jobs_train_the_runs_side_by_side_to_the_weights_of_one_process(tiny_world, tmp_path):
    """``--jobs 2``: two worker processes train the two seeds (on the world, backbone and features
    the one process cached); every checkpoint equals the one process's bit for bit."""
    from hoilib.machine import kernel_env

    profile = _profile(tmp_path, seeds=(0, 1))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", **kernel_env("avx2")}
    one_dir, two_dir = tmp_path / "run1", tmp_path / "run2"
    for jobs, run_dir in ((1, one_dir), (2, two_dir)):
        if jobs == 2:  # the same cached inputs, no checkpoint
            shutil.copytree(one_dir, two_dir, ignore=shutil.ignore_patterns("ezhoi"))
        cmd = [sys.executable, "-m", "hoilib.run.prepare", "--profile", str(profile)]
        cmd += ["--set", f"world.data_root={tiny_world}", "--set", f"run.run_dir={run_dir}"]
        r = subprocess.run(
            [*cmd, "--jobs", str(jobs)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 0, r.stderr[-2000:]
    assert "EZ-HOI 'full' seed 1 ready: " in r.stdout and "in its worker" in r.stdout
    one, two = _checkpoints(one_dir), _checkpoints(two_dir)
    assert sorted(one) == ["rf-uc-full-seed0.safetensors", "rf-uc-full-seed1.safetensors"]
    assert sorted(two) == sorted(one)
    for name in one:
        assert one[name]["best_epoch"] == two[name]["best_epoch"]
        for k, t in one[name]["tensors"].items():
            assert torch.equal(t, two[name]["tensors"][k]), (name, k)


def test_jobs_below_one_or_under_torchrun_are_refused_in_one_line():
    from hoilib.errors import ConfigError
    from hoilib.run.prepare import _check_jobs

    _check_jobs(4, 1)
    with pytest.raises(
        ConfigError, match=r"option --jobs = 0: expected a whole number of 1 or more"
    ):
        _check_jobs(0, 1)
    with pytest.raises(ConfigError, match=r"option --jobs = 2 under torchrun \(2 processes\)"):
        _check_jobs(2, 2)


def test_jobs_that_oversubscribe_the_cpu_get_a_note():
    from hoilib.run.prepare import _jobs_note

    note = _jobs_note(2, "cpu", 2, cores=2)
    assert note.startswith("[prepare] note: --jobs 2 on the CPU with 2 thread(s) each asks for 4")
    assert _jobs_note(2, "cpu", 1, cores=2) is None  # as many threads as cores
    assert _jobs_note(9, "cuda", 2, cores=16) is None  # the GPU does the training
    assert _jobs_note(1, "cpu", 2, cores=1) is None
