"""A chapter run directly with papermill, as the ecosystem runs notebooks, equals the same chapter
run by ``hoilib run``: same kernel environment, numbers and provenance (chapters.direct_run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hoilib.chapters.direct_run import check_kernel
from hoilib.config import REPO, resolve
from hoilib.errors import HoiBookError
from hoilib.kernel_launch import CPU_KERNELS_ENV, KERNEL_NAME, chapter_env


def test_a_kernel_with_other_cpu_kernels_is_refused_in_one_line():
    cfg = resolve("smoke")
    assert cfg.run.cpu_kernels == "portable"
    with pytest.raises(HoiBookError) as e:
        check_kernel(cfg, "05_evaluation", environ={})  # a plain python3 kernel
    line = str(e.value)
    assert "\n" not in line and "native" in line and "--only 05" in line and KERNEL_NAME in line
    assert e.value._render_traceback_() == [f"HoiBookError: {line}"]  # what the notebook shows
    check_kernel(cfg, "05_evaluation", environ={CPU_KERNELS_ENV: "portable"})
    check_kernel(cfg.updated({"run.cpu_kernels": "native"}), "05_evaluation", environ={})


def test_the_kernel_spec_starts_with_what_the_runner_gives(monkeypatch):
    for k in ("OMP_NUM_THREADS", "ATEN_CPU_CAPABILITY", CPU_KERNELS_ENV, "TQDM_DISABLE"):
        monkeypatch.delenv(k, raising=False)
    env = chapter_env("portable")
    assert env[CPU_KERNELS_ENV] == "portable" and env["TQDM_DISABLE"] == "1"
    assert env["OMP_NUM_THREADS"] == "2"  # the book's threads, whatever the machine's cores
    spec = REPO / ".venv" / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    assert spec.is_file(), "scripts/setup.sh installs the hoi-book kernel spec (make setup)"
    assert json.loads(spec.read_text())["argv"][1:3] == ["-m", "hoilib.kernel_launch"]


@pytest.mark.slow
def test_papermill_on_one_chapter_equals_hoilib_run(smoke_run, tmp_path):
    run_dir, _, _ = smoke_run
    out = tmp_path / "direct"
    cmd = [
        sys.executable, "-m", "papermill", "--no-progress-bar",
        str(REPO / "notebooks" / "01_modality_gap.ipynb"), str(tmp_path / "01.ipynb"),
        "-p", "profile", "smoke",
        # the stages (world, backbone) of the runner's run: the chapter's own numbers are compared
        "-p", "overrides", f"run.run_dir={out} run.stage_dir={run_dir}",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOIBOOK_")}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = "01_modality_gap.json"
    ours, theirs = (json.loads((d / "metrics" / name).read_text()) for d in (out, run_dir))
    assert ours["metrics"] == theirs["metrics"] and ours["metrics"]
    prov = json.loads((out / "provenance.json").read_text())
    assert (
        prov["status"] == "complete"
        and prov["notebooks"]["01_modality_gap.ipynb"]["status"] == "done"
    )
    # what sets the digits: the CPU, the kernels torch dispatches to, its threads, the variables
    theirs = json.loads((run_dir / "provenance.json").read_text())["machine"]
    keys = ("cpu", "torch_cpu_capability", "torch_threads", "dispatch_env", "packages")
    assert {k: prov["machine"][k] for k in keys} == {k: theirs[k] for k in keys}
    assert "opened in its own kernel" in (out / "run.log").read_text()
