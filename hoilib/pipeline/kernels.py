"""Where the chapter kernels' own output goes: the run's kernels.log, not the user's terminal.

papermill records what a notebook prints; what the kernel process itself writes to stderr, and
what the notebook machinery (papermill, nbclient, jupyter_client, asyncio) logs, is noise on the
terminal, and after a Ctrl-C in mid-reply it is tracebacks. Both go to ``<run>/kernels.log``,
so the command's one line is what the user reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hoilib import artifacts

KERNEL_LOG = "kernels.log"  # in the run folder

# the notebook machinery's loggers: a kernel shut down by Ctrl-C in mid-reply makes papermill log
# "Kernel died" and asyncio "Task exception was never retrieved" (with a traceback, at garbage
# collection, possibly after the command has printed its line)
MACHINERY_LOGGERS = ("papermill", "nbclient", "traitlets", "jupyter_client", "asyncio")


class _AppendHandler(logging.Handler):
    """Appends each record to the file named in ``path`` when it is emitted (no stream held open, so
    it still works when a record arrives at interpreter exit); the target moves with each run."""

    path: Path | None = None

    def emit(self, record):
        if self.path is not None:
            artifacts.append_log(self.path, self.format(record))


_MACHINERY = _AppendHandler()


def machinery_logs_to(path: Path) -> None:
    """Send the notebook machinery's log records to ``path`` (the run's kernels.log), not the
    terminal: the user gets the command's one line; the details stay with the run. Left in place
    after the run, because a record can arrive after it (above)."""
    _MACHINERY.path = Path(path)
    _MACHINERY.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
    for name in MACHINERY_LOGGERS:
        lg = logging.getLogger(name)
        if _MACHINERY not in lg.handlers:
            lg.addHandler(_MACHINERY)
        lg.propagate = False


def kernel_manager(stderr):
    """A kernel manager that sends the kernel process's own stderr (not the notebook's outputs,
    which papermill records) to the run's kernels.log: a kernel shut down by Ctrl-C in mid-reply
    prints a zmq traceback there instead of on the user's terminal."""
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    class KernelWithLog(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stderr", stderr)
            return await KernelManager._async_start_kernel(self, **kw)

    return KernelWithLog
