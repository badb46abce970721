"""Execute the chapters in order with papermill, into the run folder; stop at the first failure.

Each executed copy is written under a temporary name and renamed only when its
notebook ran clean, so ``<run_dir>/notebooks`` never holds a half-run chapter
(a failed one is kept as ``*.failed.ipynb`` for inspection).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hoilib import artifacts
from hoilib.config import resolve
from hoilib.errors import HoiBookError

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


class NotebookFailed(HoiBookError):
    """A chapter raised: names the notebook, the cell and the error."""


def chapter_paths(only: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The chapters, in order: notebooks named NN_*.ipynb."""
    paths = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(o) or p.stem == o for o in only)]
        if not paths:
            raise HoiBookError(f"--only {only} matches no notebook in {folder}")
    return paths


def _describe_failure(nb_path: Path, err) -> str:
    cell = getattr(err, "exec_count", None)
    index = getattr(err, "cell_index", None)
    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    return (f"notebook {nb_path.name} failed in cell {index} (execution count {cell}): {ename}: {evalue}")


def run_profile(profile: str, overrides: dict | None = None, only: list[str] | None = None,
                log=print, notebooks: Path = NOTEBOOKS) -> dict:
    """Resolve the profile, then run every chapter; returns {notebook: seconds}."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    cfg = resolve(profile, overrides)
    run_dir = Path(cfg["run_dir"]).resolve()
    cfg["run_dir"] = str(run_dir)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(run_dir / "config.json", cfg)
    params = {"profile": cfg["profile"], "params": cfg}
    timings = {}
    os.environ["HOIBOOK_BATCH"] = "1"  # notebooks keep progress bars out of the book
    env_path = os.environ.get("PYTHONPATH", "")
    if str(REPO) not in env_path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env_path) if p)
    for nb in chapter_paths(only, notebooks):
        final = out_dir / nb.name
        tmp = out_dir / f".{nb.stem}.running.ipynb"
        failed = out_dir / f"{nb.stem}.failed.ipynb"
        failed.unlink(missing_ok=True)
        log(f"[hoilib] running {nb.name} (profile {cfg['profile']}) ...")
        t0 = time.time()
        try:
            pm.execute_notebook(str(nb), str(tmp), parameters=params, kernel_name="python3", cwd=str(REPO),
                                progress_bar=False, log_output=False)
        except PapermillExecutionError as e:
            os.replace(tmp, failed)
            raise NotebookFailed(_describe_failure(nb, e) + f"\n  executed copy kept at {failed}") from None
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, final)
        timings[nb.name] = round(time.time() - t0, 1)
        log(f"[hoilib] {nb.name} done in {timings[nb.name]} s")
    artifacts.write_json(run_dir / "timings.json", timings)
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
