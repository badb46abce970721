"""Execute the chapters in order with papermill, into the run folder; stop at the first failure.

Each executed copy is written under a temporary name and renamed only when its
notebook ran clean, so ``<run_dir>/notebooks`` never holds a half-run chapter
(a failed one is kept as ``*.failed.ipynb`` for inspection).

Every run also leaves ``provenance.json`` (which code, which parameters, when, and how
each chapter ended; rewritten atomically after each chapter, so an interrupted run
reads as unfinished) and ``run.log`` (the log lines, timestamped, appended), so a
table of results can say where each number came from and a sweep can tell a
finished run from one to redo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from hoilib import __version__, artifacts, codekey
from hoilib.config import resolve
from hoilib.errors import HoiBookError
from hoilib.machine import kernel_env, machine_info, numba_cache_dir
from hoilib.pipeline.preflight import check_inputs
from hoilib.timing import CHAPTER_ENV

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


class NotebookFailed(HoiBookError):
    """A chapter raised: names the notebook, the cell and the error.

    The fields are kept apart too, so a sweep can summarise failures without parsing text.
    """

    def __init__(
        self,
        message: str,
        notebook: str | None = None,
        cell: int | None = None,
        error: str | None = None,
        failed_copy: str | None = None,
    ):
        super().__init__(message)
        self.notebook, self.cell, self.error, self.failed_copy = notebook, cell, error, failed_copy


def utc_now() -> str:
    """ISO time in UTC, second precision: what provenance and log lines carry."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_state(repo: Path = REPO) -> dict:
    """Commit and dirty flag of the code a run used; None where git cannot tell.

    Provenance must never stop a run: no git binary, not a repository, a timeout or a
    refused ("dubious ownership") repository all give None instead of an error.
    """

    def git(*args):
        try:
            proc = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    commit = head.strip() if head and head.strip() else None
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status.strip())}


def config_fingerprint(cfg) -> str:
    """Hash of the resolved parameters minus run_dir, so a moved run folder still matches itself."""
    return artifacts.fingerprint(cfg.model_dump(exclude={"run": {"run_dir"}}))


class RunLog:
    """Calls ``log`` and appends the same line, timestamped, to a file (the run's record)."""

    def __init__(self, path: Path, log=print):
        self.path, self.log = Path(path), log
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, msg: str) -> None:
        self.log(msg)
        artifacts.append_log(self.path, msg)


def read_provenance(run_dir: Path) -> dict | None:
    """The run's provenance.json, or None when absent or unreadable (an unfinished record)."""
    path = Path(run_dir) / "provenance.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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


@contextmanager
def kernel_environment(run_dir: Path, cpu_kernels: str = "native"):
    """What the chapter kernels inherit, for the length of a run (then restored, for callers in-process)."""
    settings = {
        **kernel_env(cpu_kernels),  # read when each kernel imports torch
        "TQDM_DISABLE": "1",  # tqdm reads it at import: no progress bars stored in the executed notebooks
        artifacts.RUN_LOG_ENV: str(
            run_dir / "run.log"
        ),  # the chapters' stages say what they reused
        # UMAP's numba kernels compile once per machine (machine.numba_cache_dir)
        "NUMBA_CACHE_DIR": numba_cache_dir(),
    }
    # HOI_CHAPTER is set per notebook by run_profile; saved here so it is restored too. A
    # HOI_STAGE_LOG of the caller's reaches the kernels unchanged: each kernel starts with a
    # copy of this process's os.environ (jupyter_client's provisioner), read at its launch.
    saved = {k: os.environ.get(k) for k in (*settings, CHAPTER_ENV)}
    os.environ.update(settings)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_profile(
    profile: str,
    overrides: dict | None = None,
    only: list[str] | None = None,
    log=print,
    notebooks: Path = NOTEBOOKS,
) -> dict:
    """Resolve the profile, then run every chapter; returns {notebook: seconds}.

    Writes provenance.json (status running -> complete / failed / interrupted) and
    appends to run.log; chapters done earlier with the same parameters keep their
    record when only some chapters are rerun (``only``).
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    cfg = resolve(profile, overrides)
    chapters = chapter_paths(only, notebooks)
    check_inputs(cfg)  # every file, folder and device the run needs, before anything is written
    run_dir = Path(cfg.run.run_dir).resolve()
    cfg.run.run_dir = str(run_dir)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(run_dir / "config.json", cfg.model_dump())
    rlog = RunLog(run_dir / "run.log", log)
    fp = config_fingerprint(cfg)
    previous = read_provenance(run_dir) or {}
    kept = previous.get("notebooks") if previous.get("config_fingerprint") == fp else None
    prov = {
        "profile": cfg.run.profile,
        "overrides": dict(overrides or {}),
        "seed": cfg.run.seed,
        "ezhoi_seeds": cfg.ezhoi.seeds,
        "hoilib": __version__,
        "python": sys.version.split()[0],
        "git": git_state(),
        "code": codekey.all_digests(),
        "machine": machine_info(kernel_env(cfg.run.cpu_kernels)),
        "config_fingerprint": fp,
        "only": list(only) if only else None,
        "notebooks_folder": str(Path(notebooks).resolve()),
        "started_utc": utc_now(),
        "finished_utc": None,
        "status": "running",
        "failure": None,
        "notebooks": {
            **(kept if isinstance(kept, dict) else {}),
            **{nb.name: {"status": "pending"} for nb in chapters},
        },
    }
    prov_path = run_dir / "provenance.json"
    artifacts.write_json(prov_path, prov)

    def finish(status: str, failure: dict | None = None) -> None:
        prov.update(status=status, failure=failure, finished_utc=utc_now())
        artifacts.write_json(prov_path, prov)

    commit = prov["git"]["commit"]
    rlog(
        f"[hoilib] run of profile {cfg.run.profile} in {run_dir} (hoilib {__version__}, commit "
        f"{commit[:10] if commit else 'unknown'}{' dirty' if prov['git']['dirty'] else ''}); "
        f"chapters: {', '.join(nb.name for nb in chapters)}"
    )
    params = {"profile": cfg.run.profile, "params": cfg.model_dump()}
    timings = {}
    with kernel_environment(run_dir, cfg.run.cpu_kernels):
        for nb in chapters:
            final = out_dir / nb.name
            tmp = out_dir / f".{nb.stem}.running.ipynb"
            failed = out_dir / f"{nb.stem}.failed.ipynb"
            failed.unlink(missing_ok=True)
            os.environ[CHAPTER_ENV] = nb.stem  # the stage timers' chapter (hoilib.timing)
            rlog(f"[hoilib] running {nb.name} (profile {cfg.run.profile}) ...")
            prov["notebooks"][nb.name] = {"status": "running", "started_utc": utc_now()}
            artifacts.write_json(prov_path, prov)
            t0 = time.time()
            try:
                pm.execute_notebook(
                    str(nb),
                    str(tmp),
                    parameters=params,
                    kernel_name="python3",
                    cwd=str(REPO),
                    progress_bar=False,
                    log_output=False,
                    # papermill rewrites the whole executed notebook (figures included) before and
                    # after every cell otherwise: 1.2 s of chapter 5's 11 s warm. The copy is written
                    # once at the end, and on a failure before the error is raised.
                    request_save_on_cell_execute=False,
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )  # no start-up chatter
            except PapermillExecutionError as e:
                os.replace(tmp, failed)
                error = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', str(e))}"
                cell = getattr(e, "cell_index", None)
                msg = _describe_failure(nb, e, failed)
                prov["notebooks"][nb.name].update(
                    status="failed", seconds=round(time.time() - t0, 1), cell=cell, error=error
                )
                finish(
                    "failed",
                    {"notebook": nb.name, "cell": cell, "error": error, "failed_copy": str(failed)},
                )
                rlog(f"[hoilib] {msg}")
                raise NotebookFailed(
                    msg, notebook=nb.name, cell=cell, error=error, failed_copy=str(failed)
                ) from None
            except BaseException as e:
                tmp.unlink(missing_ok=True)
                error = f"{type(e).__name__}: {e}"
                prov["notebooks"][nb.name].update(
                    status="failed", seconds=round(time.time() - t0, 1), error=error
                )
                interrupted = isinstance(e, (KeyboardInterrupt, SystemExit))
                finish(
                    "interrupted" if interrupted else "failed",
                    {"notebook": nb.name, "cell": None, "error": error},
                )
                rlog(f"[hoilib] {nb.name} {'interrupted' if interrupted else 'failed'}: {error}")
                raise
            os.replace(tmp, final)
            timings[nb.name] = round(time.time() - t0, 1)
            prov["notebooks"][nb.name].update(
                status="done", seconds=timings[nb.name], finished_utc=utc_now()
            )
            artifacts.write_json(prov_path, prov)
            rlog(f"[hoilib] {nb.name} done in {timings[nb.name]} s")
    artifacts.write_json(run_dir / "timings.json", timings)
    finish("complete")
    return timings


def notebook_errors(path: Path) -> list[str]:
    """Error outputs inside an executed notebook (papermill can leave them without raising)."""
    nb = json.loads(Path(path).read_text())
    errs = []
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                errs.append(f"{Path(path).name}: cell {i}: {out.get('ename')}: {out.get('evalue')}")
    return errs
