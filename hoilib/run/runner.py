"""Execute the chapters in order with papermill, into the run folder; stop at the first failure.

Each executed copy is written under a temporary name and renamed only when its
notebook ran clean, so ``<run_dir>/notebooks`` never holds a half-run chapter
(a failed one is kept as ``*.failed.ipynb`` for inspection). Each chapter gets a fresh kernel,
started (niced, its imports begun) while the chapter before it runs (``kernels.ChapterKernel``);
a chapter's seconds count from when it starts to run in it.

Every run also leaves ``provenance.json`` (which code, which parameters, when, and how
each chapter ended; rewritten atomically after each chapter, so an interrupted run
reads as unfinished) and ``run.log`` (the log lines, timestamped, appended), so a
table of results can say where each number came from and a sweep can tell a
finished run from one to redo.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hoilib import __version__, artifacts
from hoilib.config import REPO, resolve, stage_root
from hoilib.errors import HoiBookError
from hoilib.provenance import (
    Provenance,
    start_record,
    utc_now,
)
from hoilib.run.budget import check, disk_full, estimate, no_space
from hoilib.run.kernels import (
    KERNEL_LOG,
    PROGRESS_FILE,
    ChapterKernel,
    kernel_environment,
    machinery_logs_to,
    start_chapter_kernel,
)
from hoilib.run.preflight import check_inputs
from hoilib.run.runlock import run_locks
from hoilib.run.terminal import live_line
from hoilib.timing import CHAPTER_ENV

NOTEBOOKS = REPO / "notebooks"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a chapter: names it, so the command can say where it stopped."""

    def __init__(self, notebook: str):
        super().__init__(notebook)
        self.notebook = notebook


class NotebookFailed(HoiBookError):
    """A chapter raised: names the notebook, the cell and the error.

    The fields are kept apart too, so a sweep can summarise failures without parsing text.
    """

    def __init__(
        self,
        message: str,
        notebook: str | None = None,
        cell: int | None = None,
        *,
        error: str | None = None,
        failed_copy: str | None = None,
    ):
        super().__init__(message)
        self.notebook, self.cell, self.error, self.failed_copy = notebook, cell, error, failed_copy


class RunLog:
    """Calls ``log`` and appends the same line, timestamped, to a file (the run's record)."""

    def __init__(self, path: Path, log=print):
        self.path, self.log = Path(path), log
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, msg: str) -> None:
        self.log(msg)
        artifacts.append_log(self.path, msg)


def chapter_paths(only: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The chapters, in order: notebooks named NN_*.ipynb."""
    paths = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.stem == o for o in only)]
        if not paths:
            raise HoiBookError(f"--only {only} matches no notebook in {folder}")
    return paths


def _describe_failure(nb_path: Path, err, failed_copy: Path) -> str:
    """One line: the notebook, the cell, the error's first line, and where the executed copy is."""
    index = getattr(err, "cell_index", None)
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    first = (str(evalue).strip().splitlines() or [""])[0]
    return f"notebook {nb_path.name} failed in cell {index}: {ename}: {first} (executed copy: {failed_copy})"


def run_profile(
    profile: str,
    overrides: dict | None = None,
    only: list[str] | None = None,
    *,
    log=print,
    notebooks: Path = NOTEBOOKS,
    wait: bool = False,
    force: bool = False,
) -> dict:
    """Resolve the profile, then run every chapter; returns {notebook: seconds}.

    Writes provenance.json (status running -> complete / failed / interrupted) and
    appends to run.log; chapters done earlier with the same parameters keep their
    record when only some chapters are rerun (``only``). ``wait``: wait for another run that
    holds the run or stage folder instead of refusing. ``force``: start even when the estimate of
    disk or memory exceeds what the machine has (``budget``).
    """
    cfg = resolve(profile, overrides)
    chapters = chapter_paths(only, notebooks)
    # every file, folder and device the run needs, before anything is written
    pairs = check_inputs(cfg)
    # and room for what it writes and holds (one line and exit 1 when not, unless forced)
    est = estimate(cfg, pairs, len(chapters))
    check(est, force)
    # one writer per folder: a second run on the run folder or the shared stage folder refuses (or waits)
    with run_locks(_folders(cfg), wait=wait, say=log):
        return _run_chapters(
            cfg, overrides, only, log=log, notebooks=notebooks, chapters=chapters, est=est
        )


def _run_chapters(cfg, overrides, only, *, log, notebooks, chapters, est) -> dict:
    run_dir = Path(cfg.run.run_dir).resolve()
    cfg.run.run_dir = str(run_dir)
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    artifacts.write_json(run_dir / "config.json", cfg.model_dump())
    rlog = RunLog(run_dir / "run.log", log)
    machinery_logs_to(run_dir / KERNEL_LOG)
    prov = Provenance(
        run_dir,
        start_record(cfg, overrides, only, notebooks=notebooks, chapters=chapters, run_dir=run_dir),
    )
    commit, dirty = prov.record["git"]["commit"], prov.record["git"]["dirty"]
    rlog(
        f"[hoilib] run of profile {cfg.run.profile} in {run_dir} (hoilib {__version__}, commit "
        f"{commit[:10] if commit else 'unknown'}{' dirty' if dirty else ''}); "
        f"chapters: {', '.join(nb.name for nb in chapters)}"
    )
    rlog(f"[hoilib] {est.line()}")
    params = {"profile": cfg.run.profile, "params": cfg.model_dump()}
    timings = {}
    with kernel_environment(run_dir, cfg.run.cpu_kernels):
        kernels: dict[Path, ChapterKernel] = {}
        try:
            for i, nb in enumerate(chapters):
                kernel = kernels.pop(nb, None) or start_chapter_kernel(nb, run_dir)
                if i + 1 < len(chapters):  # the next chapter's kernel starts while this one runs
                    kernels[chapters[i + 1]] = start_chapter_kernel(chapters[i + 1], run_dir)
                rlog(f"[hoilib] running {nb.name} (profile {cfg.run.profile}) ...")
                with live_line(run_dir / PROGRESS_FILE, nb.stem):
                    timings[nb.name] = run_chapter(
                        nb,
                        run_dir / "notebooks",
                        params,
                        prov=prov,
                        rlog=rlog,
                        folders=_folders(cfg),
                        kernel=kernel,
                    )
                rlog(f"[hoilib] {nb.name} done in {timings[nb.name]} s")
        finally:
            for k in kernels.values():
                k.shutdown()
    artifacts.write_json(run_dir / "timings.json", timings)
    prov.finish("complete")
    return timings


def run_chapter(
    nb: Path,
    out_dir: Path,
    params: dict,
    *,
    prov: Provenance,
    rlog,
    folders: list[Path],
    kernel: ChapterKernel,
) -> float:
    """Execute one notebook into ``out_dir`` (renamed into place only when it ran to the end) in
    ``kernel`` (shut down at the end, however it ends); returns its seconds.
    A failure keeps a ``.failed.ipynb`` copy and is recorded, then raised; a full disk is
    reported with the free space of ``folders`` (the run's and its stages')."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    final, tmp = out_dir / nb.name, out_dir / f".{nb.stem}.running.ipynb"
    failed = out_dir / f"{nb.stem}.failed.ipynb"
    failed.unlink(missing_ok=True)
    os.environ[CHAPTER_ENV] = nb.stem  # the stage timers' chapter (hoilib.timing)
    prov.record["notebooks"][nb.name] = {}
    prov.chapter(nb.name, status="running", started_utc=utc_now())
    t0 = time.time()
    try:
        kernel.begin()
        pm.execute_notebook(
            str(nb),
            str(tmp),
            parameters=params,
            kernel_name="python3",
            cwd=str(REPO),
            progress_bar=False,
            log_output=False,
            # papermill rewrites the whole executed notebook (figures included) before and after
            # every cell otherwise: 1.2 s of chapter 5's 11 s warm. The copy is written once at the
            # end, and on a failure before the error is raised.
            request_save_on_cell_execute=False,
            km=kernel.km,
        )
    except PapermillExecutionError as e:
        os.replace(tmp, failed)
        error = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', str(e))}"
        cell = getattr(e, "cell_index", None)
        failure = {"notebook": nb.name, "cell": cell, "error": error, "failed_copy": str(failed)}
        _record_failure(prov, nb.name, t0, failure=failure, status="failed")
        if no_space(error):  # the kernel's own writes: the disk, not the chapter, is at fault
            raise disk_full(f"running {nb.name}", folders) from None
        msg = _describe_failure(nb, e, failed)
        rlog(f"[hoilib] {msg}")
        raise NotebookFailed(
            msg, notebook=nb.name, cell=cell, error=error, failed_copy=str(failed)
        ) from None
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = f"{type(e).__name__}: {e}"
        interrupted = isinstance(e, (KeyboardInterrupt, SystemExit))
        status = "interrupted" if interrupted else "failed"
        _record_failure(
            prov,
            nb.name,
            t0,
            failure={"notebook": nb.name, "cell": None, "error": error},
            status=status,
        )
        if isinstance(e, KeyboardInterrupt):
            # the run's record gets the line; the terminal gets one from the command (exit 130)
            artifacts.append_log(rlog.path, f"[hoilib] {nb.name} interrupted (Ctrl-C)")
            raise Interrupted(nb.name) from None
        if no_space(e):  # papermill's write of the executed copy, or the record's
            raise disk_full(f"running {nb.name}", folders) from None
        rlog(f"[hoilib] {nb.name} {status}: {error}")
        raise
    finally:
        kernel.shutdown()
    os.replace(tmp, final)
    seconds = round(time.time() - t0, 1)
    prov.chapter(nb.name, status="done", seconds=seconds, finished_utc=utc_now())
    return seconds


def _record_failure(prov: Provenance, name: str, t0: float, *, failure: dict, status: str) -> None:
    """The chapter's and the run's end in provenance.json, when it can still be written: on a full
    disk it cannot, and the error that stopped the chapter is the one to report."""
    try:
        seconds = round(time.time() - t0, 1)
        prov.chapter(
            name, status="failed", seconds=seconds, cell=failure["cell"], error=failure["error"]
        )
        prov.finish(status, failure)
    except OSError as e:
        if not no_space(e):
            raise


def _folders(cfg) -> list[Path]:
    """The folders a run writes: its run folder and its stage folder (``stage_root``)."""
    return [Path(cfg.run.run_dir), stage_root(cfg.run)]


def notebook_errors(path: Path) -> list[str]:
    """Error outputs inside an executed notebook (papermill can leave them without raising)."""
    nb = json.loads(Path(path).read_text())
    errs = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                errs.append(f"{Path(path).name}: cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return errs
