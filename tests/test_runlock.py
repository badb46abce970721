"""One writer per run folder: a second run refuses (or waits), a dead holder's lock is taken over."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hoilib import cache
from hoilib.cli import main
from hoilib.errors import ConfigError
from hoilib.run.runlock import LOCK_NAME, folder_lock

HOLD = """
import sys, time
from pathlib import Path
from hoilib.run.runlock import folder_lock
with folder_lock(Path(sys.argv[1]), say=lambda *_: None):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(folder: Path, seconds: float) -> subprocess.Popen:
    """A real second process that holds ``folder``'s lock for ``seconds``."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_on_a_held_folder_refuses_in_one_line(tmp_path, capfd):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir, 60)
    try:
        rc = main(["run", "--profile", "smoke", "--set", f"run.run_dir={run_dir}"])
        out, err = capfd.readouterr()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 1 and "Traceback" not in out + err
        assert len(lines) == 1 and f"is in use by process {holder.pid} on" in lines[0], err
        assert "--wait" in lines[0]
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]  # nothing written
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_line(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(gone.stdout)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    said = []
    with folder_lock(tmp_path, say=said.append):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] != pid
    assert len(said) == 1 and f"taking over the lock of process {pid}" in said[0]
    assert not (tmp_path / LOCK_NAME).exists()  # released


def test_wait_waits_for_the_holder_and_the_lock_is_released_on_error(tmp_path):
    holder = _holder(tmp_path, 1.0)
    said = []
    t0 = time.time()
    with folder_lock(tmp_path, wait=True, say=said.append, poll_s=0.1):
        # the holder let go first: it leaves its with-block and then exits, which can take a moment
        # after the lock is free (interpreter shutdown), so its exit is awaited, not polled
        assert holder.wait(timeout=30) == 0
    assert time.time() - t0 >= 0.5 and len(said) == 1 and "waiting" in said[0]
    holder.wait()
    with pytest.raises(RuntimeError), folder_lock(tmp_path):
        raise RuntimeError("a chapter failed")
    assert not (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path), pytest.raises(ConfigError, match="is in use by process"):
        with folder_lock(tmp_path):
            pass


def _prunable(run_dir: Path) -> Path:
    """A run folder whose cache holds a keyed file no marker owns: what a stage wrote before its marker."""
    cache.Entry(run_dir / "cache", "t", {"a": 1}, keyed=True).value(lambda: [1])
    half_written = run_dir / "cache" / "t-0123456789abcdef.json"
    half_written.write_text("{}")
    return half_written


def test_cache_prune_refuses_while_a_run_holds_the_folder(tmp_path, capfd):
    run_dir = tmp_path / "run"
    half_written = _prunable(run_dir)
    holder = _holder(run_dir, 60)
    try:
        rc = main(["cache", "prune", "--profile", "smoke", "--set", f"run.run_dir={run_dir}"])
        out, err = capfd.readouterr()
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 1 and "Traceback" not in out + err
        assert len(lines) == 1 and f"is in use by process {holder.pid} on" in lines[0], err
        assert "cache prune" in lines[0] and "--wait" in lines[0]
        assert half_written.is_file()  # the running stage's file is left alone
    finally:
        holder.kill()
        holder.wait()


def test_cache_prune_wait_prunes_once_the_run_lets_go(tmp_path, capfd):
    run_dir = tmp_path / "run"
    half_written = _prunable(run_dir)
    holder = _holder(run_dir, 1.0)
    try:
        rc = main(
            ["cache", "prune", "--wait", "--profile", "smoke", "--set", f"run.run_dir={run_dir}"]
        )
        out, _ = capfd.readouterr()
        # it waited: the holder had let go (and so ended) before prune took the lock
        assert holder.poll() is not None and rc == 0
        assert "waiting for it to finish" in out and "removed 1 entries" in out
        assert not half_written.exists() and not (run_dir / LOCK_NAME).exists()
    finally:
        holder.kill()
        holder.wait()
