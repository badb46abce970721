"""A full disk and a run too big for the machine (issue 20, items 1 and 2), on a real small file system.

The run folder is put on a tmpfs of a few hundred kilobytes, mounted in a private mount
namespace (``unshare``: as an unprivileged user where user namespaces are allowed, else as
root), so the kernel's own ENOSPC is what the code meets; nothing is mocked.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hoilib.cli import main

ROOT = Path(__file__).resolve().parent.parent
HOILIB = f"{shlex.quote(sys.executable)} -m hoilib run --profile smoke"


def _unshare() -> list[str]:
    """The unshare command that can mount a tmpfs here: a user namespace, else root's own."""
    for cmd in (["unshare", "--user", "--map-root-user", "--mount"], ["unshare", "--mount"]):
        try:
            ok = subprocess.run([*cmd, "true"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return cmd
    pytest.fail(  # loud, not a skip: the issue asks for this fault to be tested on a real file system
        "cannot make a private mount namespace here (unshare needs user namespaces or root): "
        "the full-disk tests cannot run"
    )


def _with_small_disk(mount: Path, kilobytes: int, script: str, tmp_path: Path) -> None:
    """Run ``script`` (sh) with a tmpfs of ``kilobytes`` at ``mount``; it can remount it bigger
    with ``grow``. Its commands write their outputs to files under tmp_path themselves."""
    mount.mkdir(parents=True, exist_ok=True)
    body = (
        f"set -u; mount -t tmpfs -o size={kilobytes}k tmpfs {shlex.quote(str(mount))} || exit 97\n"
        f"grow() {{ mount -o remount,size=$1 {shlex.quote(str(mount))}; }}\n{script}"
    )
    p = subprocess.run(
        [*_unshare(), "sh", "-c", body], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)


def _step(name: str, args: str, tmp_path: Path) -> str:
    """A shell line that runs `hoilib run` and records its exit status and output under tmp_path."""
    out = shlex.quote(str(tmp_path / name))
    return f"{HOILIB} {args} >{out}.out 2>{out}.err; echo $? >{out}.rc\n"


def _result(name: str, tmp_path: Path) -> tuple[int, str, str]:
    return tuple(
        int(v) if ext == "rc" else v
        for ext, v in (
            (ext, (tmp_path / f"{name}.{ext}").read_text().strip()) for ext in ("rc", "out", "err")
        )
    )


def _one_line(rc, out, err, *expected):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 1 and len(lines) == 1 and "Traceback" not in out + err, err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def test_a_run_the_disk_cannot_hold_is_refused_before_it_starts(tmp_path):
    """The estimate of what the smoke book writes against a 256 kB file system: one line naming
    the folder, the need and the free space; no chapter started."""
    small = tmp_path / "small"
    args = f"--set run.run_dir={small}/run"
    _with_small_disk(small, 256, _step("refused", args, tmp_path), tmp_path)
    line = _one_line(*_result("refused", tmp_path), f"in {small}", "free", "--force")
    assert "would write about" in line


def test_a_full_disk_during_a_chapter_ends_in_one_line_and_the_same_command_resumes(
    smoke_run, tmp_path
):
    """With --force past the estimate, chapter 0 meets ENOSPC in a 192 kB run folder (its stages
    are the smoke book's, reused from another folder): one line, exit 1, no half-written
    notebook. After the file system is grown, the same command finishes, and chapter 0's
    numbers equal those of the smoke book's uninterrupted run."""
    stages, _html, _t = smoke_run
    small = tmp_path / "small"
    args = f"--only 00 --force --set run.run_dir={small}/run --set run.stage_dir={stages}"
    script = (
        _step("full", args, tmp_path)
        + f"ls -a {small}/run/notebooks > {tmp_path}/left.txt\n"
        + "grow 64m\n"
        + _step("resumed", args, tmp_path)
        + f"cp -r {small}/run {tmp_path}/run\n"
    )
    _with_small_disk(small, 192, script, tmp_path)
    _one_line(
        *_result("full", tmp_path),
        "no space left on device while running 00_hoi_synth.ipynb",
        f"{small}/run has",
        "run the same command again",
        "nothing half-written is kept",
    )
    assert (tmp_path / "left.txt").read_text().split() == [".", ".."]  # no notebook, none partial
    rc, _out, err = _result("resumed", tmp_path)
    assert rc == 0, err
    metrics = [
        json.loads((d / "metrics" / "00_hoi_synth.json").read_text())["metrics"]
        for d in (tmp_path / "run", stages)
    ]
    assert metrics[0] == metrics[1]
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["status"] == "complete"


def test_a_run_too_big_for_any_machine_is_refused(capfd, tmp_path):
    """Within every parameter's bound, but ten million images of each kind: refused by the estimate,
    naming the parameter and what it would need, before anything is written."""
    run_dir = tmp_path / "run"
    args = ["--set", "world.n_train_images=10000000", "--set", "world.n_pretrain_images=10000000"]
    rc = main(["run", "--profile", "synth", "--set", f"run.run_dir={run_dir}", *args])
    out, err = capfd.readouterr()
    line = _one_line(rc, out, err, "parameter 'world.n_", "--force")
    assert "would write about" in line or "of memory" in line
    assert not (run_dir / "notebooks").exists()


def test_the_disk_estimate_covers_what_the_smoke_book_wrote(smoke_run):
    """The estimate is an upper bound of what a run writes, and not a vacuous one: within 3x."""
    from hoilib.config import resolve
    from hoilib.run.budget import estimate

    run_dir, _html, _t = smoke_run
    written = sum(
        f.stat().st_size
        for f in run_dir.rglob("*")
        if f.is_file() and "_book_src" not in f.parts  # the book build's, not the run's
    )
    est = estimate(resolve("smoke", {"run.run_dir": str(run_dir)}))
    total = sum(sum(parts.values()) for parts in est.disk.values())
    assert written <= total <= 3 * written, (written, total)
