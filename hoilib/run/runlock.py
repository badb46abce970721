"""One writer per run folder: a lock file holding the writer's PID, host and command.

Two ``hoilib run`` processes writing one folder would interleave notebooks, metrics and
stage markers, and either could take the other's half-written files for its own. The
lock is a file made with ``O_CREAT | O_EXCL`` (atomic on local file systems); a second
run refuses with one line naming the holder, or waits for it when asked to. A lock
left by a process that no longer runs on this host is taken over, with a line saying so.
``hoilib cache prune`` takes the same locks: it removes keyed files that no marker owns yet,
which is what a running stage has written before its marker.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from hoilib.errors import ConfigError

LOCK_NAME = ".hoilib-run.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _try_take(path: Path, say) -> dict | None:
    """Take the lock (None) or return its live holder's record."""
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv[:8]),
    }
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        held = _holder(path)
        same_host = held.get("host") == me["host"]
        if same_host and isinstance(held.get("pid"), int) and not _alive(held["pid"]):
            say(
                f"[hoilib] {path.parent}: taking over the lock of process {held['pid']}, "
                "which is no longer running"
            )
            path.unlink(missing_ok=True)
            return _try_take(path, say)
        return held or {"pid": "?", "host": "?"}
    with os.fdopen(fd, "w") as f:
        json.dump(me, f)
    return None


# what a refused ``hoilib run`` and a refused ``hoilib cache prune`` are told
RUN_HINT = "expected one run per folder: wait for it, pass --wait, or choose another run.run_dir"
PRUNE_HINT = "cache prune would remove the files it is writing: wait for it or pass --wait"


@contextmanager
def folder_lock(
    folder: Path, wait: bool = False, say=print, *, poll_s: float = 2.0, hint: str = RUN_HINT
) -> Iterator[None]:
    """Hold ``folder``'s lock for the block; a live holder -> ConfigError (``hint`` ends its line), or
    wait when ``wait``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    told = False
    while (held := _try_take(path, say)) is not None:
        who = (
            f"process {held.get('pid')} on {held.get('host')} since {held.get('started', '?')} "
            f"({held.get('command', '?')})"
        )
        if not wait:
            raise ConfigError(f"{folder} is in use by {who}; {hint}")
        if not told:
            say(f"[hoilib] {folder} is in use by {who}; waiting for it to finish")
            told = True
        time.sleep(poll_s)
    try:
        yield
    finally:
        if _holder(path).get("pid") == os.getpid():
            path.unlink(missing_ok=True)


@contextmanager
def run_locks(folders, wait: bool = False, say=print, *, hint: str = RUN_HINT) -> Iterator[None]:
    """Locks on every distinct folder (the run folder and a shared stage folder), in sorted order
    so that two runs never hold one each while waiting for the other's."""
    with ExitStack() as stack:
        for folder in sorted({Path(f).resolve() for f in folders}):
            stack.enter_context(folder_lock(folder, wait, say, hint=hint))
        yield
