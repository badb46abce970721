"""Build the HTML book with jupyter-book 1.x from a run's executed notebooks (no re-execution).

The top-level ``_config.yml``, ``_toc.yml`` and ``book/`` pages are copied with the
executed chapters into a staging folder inside the run, so building never touches
the source tree and two profiles can be built side by side. The staged
``book/results.md`` is generated then, from every run on disk (hoilib.pipeline.results).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hoilib import artifacts
from hoilib.errors import HoiBookError
from hoilib.pipeline.runner import REPO, chapter_paths, notebook_errors


def write_results_page(book_dir: Path, runs_root: str | Path | None = None) -> Path:
    """Write <book_dir>/results.md from the runs under ``runs_root`` (default: the repo's runs/).

    The page must never stop a build: if collecting fails anyway, the page says so and why.
    """
    from hoilib.pipeline.results import results_markdown

    root = Path(runs_root) if runs_root is not None else REPO / "runs"
    try:
        text = results_markdown(root)
    except Exception as e:  # noqa: BLE001 - reported on the page instead of failing the book
        reason = " ".join(f"{type(e).__name__}: {e}".split()).replace("`", "'")
        text = (f"# Results of every run\n\nThe table of runs under `{root}` could not be built when this book "
                f"was built: `{reason}`. Run `python -m hoilib results` to see the problem in a terminal.\n")
    return artifacts.write_bytes(Path(book_dir) / "results.md", text.encode("utf-8"))


def stage_book(run_dir: Path, runs_root: str | Path | None = None) -> Path:
    """Copy the book sources and the run's executed chapters into <run_dir>/_book_src; write the results page."""
    src = run_dir / "_book_src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(REPO / "book", src / "book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, src / name)
    write_results_page(src / "book", runs_root)
    chapters = src / "book" / "chapters"
    chapters.mkdir(parents=True, exist_ok=True)
    missing, errors = [], []
    for nb in chapter_paths():
        executed = run_dir / "notebooks" / nb.name
        if not executed.is_file():
            missing.append(nb.name)
            continue
        errors += notebook_errors(executed)
        shutil.copy2(executed, chapters / nb.name)
    if missing:
        raise HoiBookError(f"executed notebooks missing in {run_dir / 'notebooks'}: {missing}; run `hoilib run` first")
    if errors:
        raise HoiBookError("executed notebooks hold errors, refusing to publish them:\n  " + "\n  ".join(errors))
    return src


def build_book(run_dir: str | Path, out: str | Path | None = None, strict: bool = True,
               runs_root: str | Path | None = None) -> Path:
    """Stage and build; returns the folder holding index.html. ``runs_root``: runs for the results page."""
    run_dir = Path(run_dir).resolve()
    src = stage_book(run_dir, runs_root)
    out = Path(out).resolve() if out else REPO
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src), "--path-output", str(out), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise HoiBookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = out / "_build" / "html"
    if not (html / "index.html").is_file():
        raise HoiBookError(f"jupyter-book finished but {html / 'index.html'} is missing")
    return html
