"""A chapter run outside ``hoilib run`` (papermill or Jupyter on the notebook itself).

It gets what ``hoilib run`` gives its chapters, or one line saying why not: the CPU kernels of
its profile (the ``hoi-book`` kernel spec sets them before torch loads; a kernel started with
other ones is refused, since its numbers would differ silently), the run's log, the stage
timers' chapter name, ``config.json``, and ``provenance.json``, whose chapter record is
updated after every cell: ``done`` once the last cell ran clean, ``failed`` with the error,
``running`` while a cell runs (and after a kernel died in one).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from hoilib import artifacts
from hoilib.errors import HoiBookError
from hoilib.kernel_launch import CPU_KERNELS_ENV, KERNEL_NAME, RUNNER_ENV
from hoilib.provenance import Provenance, start_record, utc_now
from hoilib.timing import CHAPTER_ENV

_HOOKS: list = []  # the cell hooks of the last chapter opened in this kernel (reopening replaces them)


def _shell():
    """The IPython kernel this runs in, or None (a script, a test, ``hoilib control-search``)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def check_kernel(cfg, name: str, environ=os.environ) -> None:
    """Refuse, in one line, a kernel started with other CPU kernels than the profile's."""
    have = environ.get(CPU_KERNELS_ENV, "native")  # a plain python3 kernel sets nothing: native
    want = cfg.run.cpu_kernels
    if have != want:
        raise HoiBookError(
            f"profile {cfg.run.profile!r} runs on run.cpu_kernels={want}, and this kernel started with "
            f"{have}: those must be set before torch loads, so its numbers would differ. Run it with the "
            f"{KERNEL_NAME!r} kernel ({CPU_KERNELS_ENV}={want} in papermill's environment), or "
            f"`python -m hoilib run --profile {cfg.run.profile} --only {name[:2]}`"
        )


def begin(cfg, name: str, overrides: dict) -> None:
    """Under ``hoilib run``, or outside a kernel, nothing; in a kernel of its own, check it and
    start the chapter's record (``name``: the notebook's stem)."""
    shell = _shell()
    if os.environ.get(RUNNER_ENV) or shell is None:
        return
    check_kernel(cfg, name)
    run_dir = Path(cfg.run.run_dir)
    os.environ[artifacts.RUN_LOG_ENV] = str(run_dir / "run.log")
    os.environ[CHAPTER_ENV] = name
    artifacts.write_json(run_dir / "config.json", cfg.model_dump())
    nb = f"{name}.ipynb"
    record = start_record(
        cfg, overrides, [name], notebooks=None, chapters=[Path(nb)], run_dir=run_dir
    )
    prov = Provenance(
        run_dir, {**record, "runner": "the chapter's own kernel (papermill or Jupyter)"}
    )
    t0 = time.time()
    prov.chapter(nb, status="running", started_utc=utc_now())
    artifacts.append_log(
        run_dir / "run.log", f"[hoilib] {nb} opened in its own kernel (profile {cfg.run.profile})"
    )

    def before(_info=None):
        prov.chapter(nb, status="running")

    def after(result):
        error = result.error_in_exec or result.error_before_exec
        seconds = round(time.time() - t0, 1)
        if error is None:
            prov.chapter(nb, status="done", seconds=seconds, finished_utc=utc_now())
            prov.finish("complete")
        else:
            failure = {"notebook": nb, "cell": None, "error": f"{type(error).__name__}: {error}"}
            prov.chapter(nb, status="failed", seconds=seconds, error=failure["error"])
            prov.finish("failed", failure)

    for event, hook in _HOOKS:
        shell.events.unregister(event, hook)
    _HOOKS[:] = [("pre_run_cell", before), ("post_run_cell", after)]
    for event, hook in _HOOKS:
        shell.events.register(event, hook)
