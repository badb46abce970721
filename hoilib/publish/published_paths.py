"""What a published page says instead of a path of the machine that built the book.

A chapter prints its run folder (the parameter table, papermill's injected parameters and
metadata, "metrics written to ..."); the published copy names it relative to the repository,
or by what it is when it lies elsewhere, so no page or downloadable notebook carries the
builder's folders (``hoilib book`` applies it to every chapter it publishes).
"""

from __future__ import annotations

import json
from pathlib import Path

from hoilib.config import REPO

# how a published page names a folder of the run that lies outside the repository
ELSEWHERE = {
    "run.run_dir": "<run folder>",
    "run.stage_dir": "<stage folder>",
    "world.data_root": "<data folder>",
}


def machine_paths(run_dir: Path) -> dict[str, str]:
    """Each absolute path a chapter can print (in its outputs, its parameters, papermill's
    metadata) and what a published copy says instead: the run's folders (its own, its stage
    folder, its data; from its ``config.json``) relative to the repository (``runs/synth``), or
    as ``ELSEWHERE`` names them when they lie outside it; the repository itself as a relative
    path. Longest first, so a folder inside another is replaced whole."""
    run_dir = Path(run_dir).resolve()
    try:
        cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no record of the run's folders: its own and the repository's
        cfg = None
    folders = {"run.run_dir": str(run_dir)}
    for name in ("run.stage_dir", "world.data_root"):
        section, field = name.split(".")
        value = ((cfg or {}).get(section) or {}).get(field)
        if value and Path(value).is_absolute():
            folders[name] = value
    pairs = {}
    for name, folder in folders.items():
        path = Path(folder).resolve()
        try:
            shown = path.relative_to(REPO).as_posix()
        except ValueError:
            shown = ELSEWHERE[name]
        pairs[str(path)] = pairs[folder] = shown
    pairs |= {str(REPO) + "/": "", str(REPO): "."}
    # anything else under the home folder (the shared kernel environment: a traceback a kernel
    # prints names its files there) as the home folder's own name
    pairs[str(Path.home().resolve()) + "/"] = "~/"
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def portable_paths(text: str, run_dir: Path) -> str:
    """``text`` with ``machine_paths(run_dir)`` replaced."""
    for path, shown in machine_paths(run_dir).items():
        text = text.replace(path, shown)
    return text


def machine_folders(*extra: str | Path) -> list[str]:
    """Folders of the building machine that no published file may name, each ending in a slash so
    a word that merely starts the same way does not count: the repository, the Python
    environment, the home folder (the shared environments live under it), the temporary folder,
    and ``extra`` (the run's folder, the build's)."""
    import sys
    import tempfile

    folders = {
        REPO,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path.home(),
        Path(tempfile.gettempdir()),
    }
    folders |= {Path(e) for e in extra}
    return sorted({str(Path(f).resolve()).rstrip("/") + "/" for f in folders if str(f) != "/"})


def paths_published(root: Path, folders: list[str]) -> list[str]:
    """'file: folder' for every text file under ``root`` (pages, notebooks, metrics, scripts) that
    names one of ``folders``."""
    found = []
    for f in sorted(Path(root).rglob("*")):
        if f.is_file() and f.suffix in {".html", ".ipynb", ".json", ".md", ".txt", ".js", ".csv"}:
            text = f.read_text(encoding="utf-8", errors="replace")
            found += [f"{f.relative_to(root)}: {n}" for n in folders if n in text]
    return found
