"""Where the chapter kernels' own output goes: the run's kernels.log, not the user's terminal.

papermill records what a notebook prints; what the kernel process itself writes to stderr, and
what the notebook machinery (papermill, nbclient, jupyter_client, asyncio) logs, is noise on the
terminal, and after a Ctrl-C in mid-reply it is tracebacks. Both go to ``<run>/kernels.log``,
so the command's one line is what the user reads.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.kernel_launch import RUNNER_ENV, chapter_env
from hoilib.progress import PROGRESS_ENV
from hoilib.timing import CHAPTER_ENV

KERNEL_LOG = "kernels.log"  # in the run folder
PROGRESS_FILE = (
    "progress.jsonl"  # in the run folder: the kernels' progress bars, one JSON line each
)
WAITING_NICE = 19  # a kernel started ahead of its chapter

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


def _renice(pid: int, value: int) -> bool:
    """Process ``pid`` to niceness ``value``: each of its threads and, where Linux groups a
    session's processes for scheduling (autogroup: a kernel is a session of its own, and there
    a thread's niceness only ranks it within its session), its group. False where the system
    refuses (lowering niceness takes privileges a user may not have)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), value)
        group = Path(f"/proc/{pid}/autogroup")
        if group.exists():
            group.write_text(str(value))
    except OSError:
        return False
    return True


@contextmanager
def kernel_environment(run_dir: Path, cpu_kernels: str = "native"):
    """What the chapter kernels inherit, for the length of a run (then restored, for callers in-process)."""
    settings = {
        # the CPU kernels (read when each kernel imports torch), no progress bars stored in the
        # executed notebooks, UMAP's compiled kernels: what the hoi-book kernel spec gives a chapter
        # run directly, too
        **chapter_env(cpu_kernels),
        # the chapters' stages say what they reused
        artifacts.RUN_LOG_ENV: str(run_dir / "run.log"),
        # the kernels' progress bars, for the runner's line on a terminal (pipeline.terminal)
        PROGRESS_ENV: str(run_dir / PROGRESS_FILE),
        RUNNER_ENV: "1",  # this run keeps the chapters' provenance (chapters.direct_run does not)
    }
    # HOI_CHAPTER is set per notebook by run_profile; saved here so it is restored too. A
    # HOI_STAGE_LOG of the caller's reaches the kernels unchanged: each kernel starts with a
    # copy of this process's os.environ (jupyter_client's provisioner), read at its launch.
    saved = {k: os.environ.get(k) for k in (*settings, CHAPTER_ENV)}
    (run_dir / PROGRESS_FILE).unlink(missing_ok=True)  # this run's bars only
    os.environ.update(settings)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def preload_modules(nb: Path) -> list[str]:
    """The modules a chapter notebook imports (every code cell's import statements), in order."""
    import ast
    import json

    mods: list[str] = []
    for cell in json.loads(Path(nb).read_text()).get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        try:
            tree = ast.parse(src)
        except SyntaxError:  # IPython magics: the cell's imports are found when it runs
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return list(dict.fromkeys(mods))


# run silently in a fresh kernel: the modules load, the notebook's namespace stays empty, and the
# execution count does not move (a silent request has none)
_PRELOAD = """\
def _hoilib_preload(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a name, not a module (loaded with its module), or a module that
            pass  # fails: the notebook's own import shows why, in its cell
_hoilib_preload({names!r})
del _hoilib_preload
"""


class ChapterKernel:
    """A chapter's kernel, started (and its imports begun) before the chapter runs.

    The runner starts the next chapter's kernel while the current chapter computes: a kernel's
    start and its imports (torch, open_clip, the chapter's modules: about 5 s on a 2-core CPU)
    then overlap the chapter before it, on the core it leaves idle. Each chapter still gets a
    fresh process with its own environment; loading a module earlier changes nothing it computes.
    """

    def __init__(self, nb: Path, log: Path, cwd: Path, *, env: dict, extra_arguments: list[str]):
        from jupyter_client import BlockingKernelClient
        from jupyter_core.utils import run_sync

        self.nb = Path(nb)
        with open(log, "ab") as stderr:  # the kernel process holds its own copy
            self.km = kernel_manager(stderr)(kernel_name="python3")
            run_sync(self.km.start_kernel)(cwd=str(cwd), env=env, extra_arguments=extra_arguments)
        # niced while it waits, from its first thread on (the ones it starts inherit it): its
        # start and imports take only what the running chapter leaves
        _renice(self.km.provisioner.pid, WAITING_NICE)
        # a request sent before the kernel listens waits in the socket's queue
        self._client = BlockingKernelClient()
        self._client.load_connection_info(self.km.get_connection_info())
        self._client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        self._client.execute(
            _PRELOAD.format(names=preload_modules(self.nb)), silent=True, store_history=False
        )

    def begin(self) -> None:
        """Its chapter starts: the kernel back to the runner's niceness (where the system lets it;
        otherwise it runs niced, which costs only when something else wants the CPU)."""
        if hasattr(os, "getpriority"):  # not on Windows, where nothing was niced either
            _renice(self.km.provisioner.pid, os.getpriority(os.PRIO_PROCESS, 0))

    def shutdown(self) -> None:
        """Stop the kernel (if it is still running) and close this side's sockets."""
        from jupyter_core.utils import run_sync

        try:
            if run_sync(self.km.is_alive)():
                run_sync(self.km.shutdown_kernel)(now=True)
        finally:
            run_sync(self.km.cleanup_resources)()
            self._client.stop_channels()


def start_chapter_kernel(nb: Path, run_dir: Path) -> ChapterKernel:
    """``nb``'s kernel, with this process's environment (the run's, from ``kernel_environment``)
    and the chapter named for the stage timers (hoilib.timing)."""
    return ChapterKernel(
        nb,
        run_dir / KERNEL_LOG,
        cwd=REPO,  # the chapters' relative paths are the repository's
        env={**os.environ, CHAPTER_ENV: nb.stem},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no start-up chatter
    )
