"""Batch runs keep progress bars out of the executed notebooks.

The runner gives its kernels TQDM_DISABLE=1, which tqdm (>= 4.66) reads when it is imported
as the default of ``disable``. A call that passes ``disable=False`` itself overrides that
default, so the library's bars pass ``disable`` only to turn a bar off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hoilib.run import kernels

ROOT = Path(__file__).resolve().parents[1]

# a kernel's view: tqdm.auto built bare, and the library's own bar with show_progress=True
KERNEL = """
from tqdm.auto import tqdm
import torch
from hoilib.models.diffusion import model as dm
print("bare bar disabled:", tqdm(range(3), leave=False).disable)
dm.train_text_diffusion(torch.randn(8, 8), "f", "raw", steps=3, batch_size=4, seed=0, show_progress=True,
                        cfg=dm.DenoiserConfig(dim=8, hidden=16, blocks=1, time_dim=8))
"""


def _kernel(env: dict) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-c", KERNEL],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def test_batch_kernels_show_no_bars(tmp_path):
    before = os.environ.get("TQDM_DISABLE")
    with kernels.kernel_environment(tmp_path):
        env = dict(os.environ)
    # restored after the run
    assert env["TQDM_DISABLE"] == "1" and os.environ.get("TQDM_DISABLE") == before
    env["OMP_NUM_THREADS"] = "1"
    batch = _kernel(env)
    assert "bare bar disabled: True" in batch.stdout
    assert "training the text diffusion model" not in batch.stderr + batch.stdout
    # the control: the bar is there without it
    shown = _kernel({k: v for k, v in env.items() if k != "TQDM_DISABLE"})
    assert (
        "bare bar disabled: False" in shown.stdout
        and "training the text diffusion model (raw)" in shown.stderr
    )


def test_library_bars_never_pass_disable_false():
    """``disable=not show_progress`` would switch a batch run's bars back on whenever show_progress is True."""
    for path in (ROOT / "hoilib").rglob("*.py"):
        assert not re.search(r"disable\s*=\s*not\b", path.read_text()), path


def _widget_outputs(code: str) -> int:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    return sum(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[0].outputs
    )


def test_a_jupyter_kernel_stores_no_bar_with_tqdm_disable(monkeypatch):
    """In a kernel tqdm.auto is tqdm.notebook, which overrides TQDM_DISABLE; hoilib.progress passes it on."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert (
        _widget_outputs(
            "from hoilib.progress import tqdm\n_ = [x for x in tqdm(range(3), desc='x')]"
        )
        == 0
    )
    # the reason for the wrapper: if this starts failing, tqdm honours the variable itself and the wrapper can go
    assert (
        _widget_outputs("from tqdm.auto import tqdm\n_ = [x for x in tqdm(range(3), desc='x')]")
        == 1
    )
