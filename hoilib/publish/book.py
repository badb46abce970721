"""Build the HTML book with jupyter-book 1.x from a run's executed notebooks (no re-execution).

``_config.yml``, ``_toc.yml`` and the ``book/`` pages are copied with the executed chapters into a
staging folder inside the run, so building never touches the source tree and two profiles can be
built side by side. There ``book/results.md`` is generated from every run on disk
(hoilib.publish.results), ``book/execution_statistics.md`` from the run's ``provenance.json`` and
``timings.json`` (its ``metrics/*.json`` copied beside it as downloads), the measured times on
``book/reproduce.md`` from ``results/timings.json``, and ``book/plan.md`` from ``results/plan.yaml``.
When a chapter holds an interactive figure (hoilib.figures.interactive), plotly.js is copied from
the plotly package into ``_assets/`` (``_config.yml``'s static path): one ``_static/plotly.min.js``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from hoilib import artifacts
from hoilib.errors import HoiBookError
from hoilib.publish.answer_page import write_answer
from hoilib.publish.chapter_copy import publish_copy
from hoilib.publish.plan_page import write_plan_page
from hoilib.publish.published_paths import machine_folders, paths_published
from hoilib.publish.source_link import write_source
from hoilib.publish.timings_page import write_timings
from hoilib.run.runner import REPO, chapter_paths, notebook_errors


def write_results_page(book_dir: Path, runs_root: str | Path | None = None) -> Path:
    """Write <book_dir>/results.md from the runs under ``runs_root`` (default: the repo's runs/).

    The page must never stop a build: if collecting fails anyway, the page says so and why.
    """
    from hoilib.publish.results_page import results_markdown

    root = Path(runs_root) if runs_root is not None else REPO / "runs"
    try:
        text = results_markdown(root)
    except Exception as e:  # noqa: BLE001 - reported on the page instead of failing the book
        reason = " ".join(f"{type(e).__name__}: {e}".split()).replace("`", "'")
        text = (
            f"# Results of every run\n\nThe table of runs under `{root}` could not be built when "
            f"this book was built: `{reason}`. Run `python -m hoilib results` to see the problem "
            "in a terminal.\n"
        )
    return artifacts.write_bytes(Path(book_dir) / "results.md", text.encode("utf-8"))


def stage_book(run_dir: Path, runs_root: str | Path | None = None) -> Path:
    """Copy the book sources and the run's executed chapters into <run_dir>/_book_src.

    Writes the generated pages (results, execution statistics, timings) and static files there too.
    """
    src = run_dir / "_book_src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(REPO / "book", src / "book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, src / name)
    write_source(src / "_config.yml", run_dir)  # every page's footer: the commit and the code
    write_results_page(src / "book", runs_root)
    write_plan_page(src / "book")
    write_timings(src / "book" / "reproduce.md")
    write_answer(src / "book" / "intro.md", run_dir)
    chapters = src / "book" / "chapters"
    chapters.mkdir(parents=True, exist_ok=True)
    missing, errors = [], []
    for nb in chapter_paths():
        executed = run_dir / "notebooks" / nb.name
        if not executed.is_file():
            missing.append(nb.name)
            continue
        errors += notebook_errors(executed)
        publish_copy(executed, chapters / nb.name, run_dir)
    if missing:
        where = run_dir / "notebooks"
        raise HoiBookError(
            f"executed notebooks missing in {where}: {missing}; run `hoilib run` first"
        )
    if errors:
        raise HoiBookError(
            "executed notebooks hold errors, refusing to publish them:\n  " + "\n  ".join(errors)
        )
    write_execution_page(src / "book", run_dir)
    stage_downloads(run_dir, chapters)
    stage_static(src, chapters)
    return src


def stage_downloads(run_dir: Path, chapters: Path) -> list[Path]:
    """Copy the run's ``downloads/`` (files a chapter offers a reader, such as chapter 3's text
    spaces) beside the chapters' pages, where their ``{download}`` links point."""
    folder = run_dir / "downloads"
    files = sorted(f for f in folder.glob("*") if f.is_file()) if folder.is_dir() else []
    return [shutil.copy2(f, chapters / f.name) for f in files]


ASSETS = "_assets"  # _config.yml's html_static_path: its files land in the built book's _static/
BOOK_CSS = "hoi-book.css"  # book/hoi-book.css, named in _config.yml's html_css_files


def stage_static(src: Path, chapters: Path) -> Path | None:
    """Copy the book's stylesheet into <src>/_assets, and plotly.js when a staged chapter holds an
    interactive figure.

    The folder is always made (Sphinx warns about a missing static path, and the build is strict).
    Returns plotly.js's copy. Without plotly installed it is not copied, and the figures say on
    the page that plotly.js is missing.
    """
    from hoilib.figures.interactive import DIV_CLASS, PLOTLY_JS

    assets = src / ASSETS
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "book" / BOOK_CSS, assets / BOOK_CSS)
    if not any(DIV_CLASS in nb.read_text(encoding="utf-8") for nb in chapters.glob("*.ipynb")):
        return None
    try:
        import plotly
    except ImportError:
        return None
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return shutil.copy2(js, assets / PLOTLY_JS) if js.is_file() else None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"`{path.name}` is missing"
    except (OSError, ValueError) as e:
        return None, f"`{path.name}` could not be read ({type(e).__name__})"


def _cell(v) -> str:
    if v is None or v == "":
        return "-"
    return " ".join(str(v).split()).replace("|", "\\|").replace("`", "'")


def _dict(d: dict, key: str) -> dict:
    return d.get(key) if isinstance(d.get(key), dict) else {}


def _facts(run_dir: Path, prov: dict) -> list[str]:
    """The run's facts as the rows of a two-column table."""
    git, m = _dict(prov, "git"), _dict(prov, "machine")
    commit, cuda = git.get("commit"), _dict(m, "cuda")
    dirty = {True: " (with uncommitted changes)", False: " (clean)"}.get(git.get("dirty"), "")
    cpu = f"{m.get('cpu') or 'unknown CPU'} ({m.get('logical_cpus', '?')} logical CPUs)"
    kernels = f"torch CPU kernels {m.get('torch_cpu_capability', '?')}"
    threads = f"{m.get('torch_threads', '?')} torch threads"
    gpu = f"GPU: {cuda['device']}" if cuda.get("device") else "no GPU"
    overrides = (prov.get("overrides") or {}).items()
    facts = {
        "run folder": f"`{_cell(run_dir.name)}`",
        "profile": _cell(prov.get("profile")),
        "overrides": _cell(
            ", ".join(f"{k}={v}" for k, v in overrides if k not in ("run_dir", "run.run_dir"))
        ),
        "seed / EZ-HOI seeds": f"{_cell(prov.get('seed'))} / {_cell(prov.get('ezhoi_seeds'))}",
        "commit": f"`{commit[:10]}`{dirty}" if isinstance(commit, str) else "unknown",
        "hoilib": _cell(prov.get("hoilib")),
        "run status": _cell(prov.get("status")),
        "started (UTC)": _cell(prov.get("started_utc")),
        "finished (UTC)": _cell(prov.get("finished_utc")),
        "machine": _cell(f"{cpu}, {m.get('arch', '?')}; {kernels}, {threads}; {gpu}"),
        "system": _cell(f"{m.get('os', '?')}, Python {prov.get('python', '?')}"),
        "packages": _cell(", ".join(f"{k} {v}" for k, v in sorted(_dict(m, "packages").items()))),
        "parameters fingerprint": f"`{_cell(prov.get('config_fingerprint'))}`",
    }
    return ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in facts.items()], ""]


def _chapter_rows(nbs: dict, timings: dict, metrics: dict, *, chapters: set) -> list[str]:
    """One table row per chapter: link, start, seconds, status, metrics download."""
    lines = ["## Chapters", "", "| chapter | ran (UTC) | run time (s) | status | metrics |"]
    lines.append("|---|---|---|---|---|")
    total = 0.0
    for name in dict.fromkeys([*nbs, *timings]):
        rec, stem = _dict(nbs, name), Path(name).stem
        secs = rec.get("seconds", timings.get(name))
        total += secs if isinstance(secs, (int, float)) else 0.0
        status = rec.get("status") or ("done (timings.json only)" if name in timings else None)
        if rec.get("error"):
            status = f"{status}: {rec['error']}"
        title = f"{{doc}}`chapters/{stem}`" if stem in chapters else _cell(stem)
        when = _cell(rec.get("started_utc")).replace("T", " ").rstrip("Z")
        link = f"{{download}}`{stem}.json <{metrics[stem]}>`" if stem in metrics else "-"
        lines.append(f"| {title} | {when} | {_cell(secs)} | {_cell(status)} | {link} |")
    return [*lines, "", f"Chapters took {total:.1f} s in all."]


INTRO = (
    "The chapters were executed by papermill (`hoilib run`) before this book was built; the "
    "build only renders the executed notebooks. This page is written at build time from the run "
    "folder's `provenance.json` and `timings.json`; the metrics each chapter saved can be "
    "downloaded below."
)


def execution_markdown(run_dir: Path, metrics: dict[str, str], chapters=frozenset()) -> str:
    """The page's text: the run's facts and one row per chapter.

    ``metrics``: file stem -> path relative to the page (a download link each); ``chapters``:
    the notebook stems that are pages of this book (linked; others are named only).
    """
    prov, why_prov = _read_json(run_dir / "provenance.json")
    timings, why_t = _read_json(run_dir / "timings.json")
    prov = prov if isinstance(prov, dict) else None
    timings = timings if isinstance(timings, dict) else {}
    lines = ["# Execution statistics", "", INTRO, ""]
    missing = [w for w, bad in ((why_prov, prov is None), (why_t, not timings)) if bad and w]
    if missing:
        lines += [
            f"```{{note}}\nIn the run folder `{_cell(run_dir.name)}`: {' and '.join(missing)}, so "
            "this page shows less. `hoilib run` writes `provenance.json` as the run goes and "
            "`timings.json` when every chapter ran.\n```",
            "",
        ]
    if prov:
        lines += _facts(run_dir, prov)
    nbs = _dict(prov or {}, "notebooks")
    if nbs or timings:
        lines += _chapter_rows(nbs, timings, metrics, chapters=set(chapters))
    elif not missing:
        lines.append("No chapter is recorded in `provenance.json`.")
    others = [s for s in metrics if s not in {Path(n).stem for n in [*nbs, *timings]}]
    if others:
        links = ", ".join(f"{{download}}`{s}.json <{metrics[s]}>`" for s in others)
        lines += ["", f"Other metrics files of this run: {links}."]
    return "\n".join(lines) + "\n"


def write_execution_page(book_dir: Path, run_dir: Path) -> Path:
    """Write <book_dir>/execution_statistics.md; copy the run's metrics/*.json beside it.

    Fails soft like the results page: whatever goes wrong, the page is written and says why.
    """
    book_dir, run_dir = Path(book_dir), Path(run_dir)
    try:
        metrics = {}
        files = (
            sorted((run_dir / "metrics").glob("*.json")) if (run_dir / "metrics").is_dir() else []
        )
        if files:
            (book_dir / "metrics").mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, book_dir / "metrics" / f.name)
            metrics[f.stem] = f"metrics/{f.name}"
        text = execution_markdown(
            run_dir, metrics, {p.stem for p in (book_dir / "chapters").glob("*.ipynb")}
        )
    except Exception as e:  # noqa: BLE001 - reported on the page instead of failing the book
        reason = " ".join(f"{type(e).__name__}: {e}".split()).replace("`", "'")
        text = (
            f"# Execution statistics\n\nThe statistics of the run in `{run_dir.name}` could not "
            "be collected when "
            f"this book was built: `{reason}`.\n"
        )
    return artifacts.write_bytes(book_dir / "execution_statistics.md", text.encode("utf-8"))


def build_book(
    run_dir: str | Path,
    out: str | Path | None = None,
    strict: bool = True,
    *,
    runs_root: str | Path | None = None,
) -> Path:
    """Stage and build; returns the folder holding index.html.
    ``runs_root``: the runs the results page collects."""
    run_dir = Path(run_dir).resolve()
    src = stage_book(run_dir, runs_root)
    out = Path(out).resolve() if out else REPO
    jb = "from jupyter_book.cli.main import main; main()"
    cmd = [sys.executable, "-c", jb, "build", str(src), "--path-output", str(out)]
    cmd += ["--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise HoiBookError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    html = out / "_build" / "html"
    if not (html / "index.html").is_file():
        raise HoiBookError(f"jupyter-book finished but {html / 'index.html'} is missing")
    leaked = paths_published(html, machine_folders(run_dir, out))
    if leaked:
        raise HoiBookError(
            f"{html}: the built book names folders of this machine (publish.published_paths), "
            f"which no reader's page may: {'; '.join(leaked[:5])}"
        )
    return html
