"""Build the HTML book with jupyter-book 1.x from a run's executed notebooks (no re-execution).

The top-level ``_config.yml``, ``_toc.yml`` and ``book/`` pages are copied with the
executed chapters into a staging folder inside the run, so building never touches
the source tree and two profiles can be built side by side.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hoilib.errors import HoiBookError
from hoilib.runner import REPO, chapter_paths, notebook_errors


def stage_book(run_dir: Path) -> Path:
    src = run_dir / "_book_src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(REPO / "book", src / "book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, src / name)
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


def build_book(run_dir: str | Path, out: str | Path | None = None, strict: bool = True) -> Path:
    """Stage and build; returns the folder holding index.html."""
    run_dir = Path(run_dir).resolve()
    src = stage_book(run_dir)
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
