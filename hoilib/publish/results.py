"""One table of every run on disk: where each number came from, and what it is.

``collect`` walks a runs root (``runs/`` by default: ``hoilib run`` writes
``runs/<profile>``, ``hoilib sweep`` writes ``runs/sweep/<profile>-seed<s>``) and
reads what each run left behind: config.json, provenance.json, the executed
notebooks and metrics/*.json. It never raises on a bad file: a partial run gives
n/a cells, and a malformed file is skipped with a note naming it, because the book
build renders this page and one broken run must not take the book down.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

from hoilib.config import REPO, flat_view
from hoilib.errors import ConfigError
from hoilib.ordering.labels import CORRECT, MAP_COLS, NONE, WRONG

# Chapter-5 methods the table reports (their rows' labels), by the short label of its columns.
METHODS = {"no bridge": NONE.label, "wrong order": WRONG.label, "correct order": CORRECT.label}
SPLITS = {c.title(): c for c in MAP_COLS}
MAP_COLUMNS = [f"{m} {s}" for m in METHODS for s in SPLITS]
INFO_COLUMNS = [
    "run",
    "profile",
    "dataset",
    "split",
    "backbone",
    "seed",
    "EZ-HOI seeds",
    "commit",
    "dirty",
    "machine",
    "date (UTC)",
    "status",
    "chapters done",
]
# Folders never walked into: they hold images, caches or staging copies, not runs.
_SKIP_DIRS = {"_book_src", "__pycache__", ".ipynb_checkpoints", ".git"}


def machine_label(info) -> str | None:
    """'CPU, kernels' or the GPU's name: enough to tell runs from different machines apart in a table."""
    if not isinstance(info, dict):
        return None
    cuda = info.get("cuda")
    if isinstance(cuda, dict) and cuda.get("device"):
        return str(cuda["device"])
    parts = [str(info[k]) for k in ("cpu", "torch_cpu_capability") if info.get(k)]
    return ", ".join(parts) or None


def find_runs(runs_root: str | Path) -> list[Path]:
    """Run folders under the root, sorted: any folder with metrics/*.json or a provenance.json.

    Runs do not nest, so the walk stops at a run folder (and at config.json-only folders,
    runs that wrote nothing yet) instead of listing a world's thousands of images.
    """
    root = Path(runs_root)
    found = []
    if not root.is_dir():
        return found
    for here, dirs, files in os.walk(root):
        here_p = Path(here)
        has_metrics = (here_p / "metrics").is_dir() and any((here_p / "metrics").glob("*.json"))
        if has_metrics or "provenance.json" in files:
            found.append(here_p)
            dirs[:] = []
        elif "config.json" in files:
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
    return sorted(found)


def _read(path: Path, notes: list[dict], root: Path) -> dict | None:
    """A JSON object from ``path``, or None (with a note naming the file when it is malformed)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        first = (str(e).splitlines() or [""])[0][:120]
        notes.append({"file": _rel(path, root), "problem": f"not valid JSON ({first})"})
        return None
    if not isinstance(data, dict):
        notes.append(
            {
                "file": _rel(path, root),
                "problem": f"expected a JSON object, got {type(data).__name__}",
            }
        )
        return None
    return data


def _rel(path: Path, root: Path) -> str:
    for base in (root, REPO):
        try:
            return str(Path(path).resolve().relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(path)


def _number(v) -> float:
    """A finite float, or NaN for null / non-numbers (mAP may be null where a split has no class)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v) if math.isfinite(v) else math.nan


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _chapter5_means(data: dict | None, path: Path, notes: list[dict], *, root: Path) -> dict:
    """Mean Full/Seen/Unseen mAP per reported method over the run's per_seed rows; NaN where absent."""
    out = {c: math.nan for c in MAP_COLUMNS}
    if data is None:
        return out
    metrics = data.get("metrics")
    rows = metrics.get("per_seed") if isinstance(metrics, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        notes.append(
            {
                "file": _rel(path, root),
                "problem": "expected metrics.per_seed to be a list of rows "
                "{method, seed, full, seen, unseen}; its mAP columns are left n/a",
            }
        )
        return out
    for label, method in METHODS.items():
        mine = [r for r in rows if r.get("method") == method]
        for col, key in SPLITS.items():
            out[f"{label} {col}"] = _mean([_number(r.get(key)) for r in mine])
    return out


def _chapters_done(run_dir: Path, metrics_files: list[Path]) -> str:
    """Compact list of chapter numbers with an executed notebook (or, lacking those, a metrics file)."""
    nbs = (
        [
            p
            for p in (run_dir / "notebooks").glob("[0-9][0-9]_*.ipynb")
            if not p.name.endswith(".failed.ipynb")
        ]
        if (run_dir / "notebooks").is_dir()
        else []
    )
    nums = sorted({int(p.name[:2]) for p in (nbs or metrics_files) if p.name[:2].isdigit()})
    if not nums:
        return ""
    spans, start = [], nums[0]
    for a, b in zip(nums, nums[1:] + [None], strict=False):
        if b != a + 1:
            spans.append(f"{start:02d}" if start == a else f"{start:02d}-{a:02d}")
            start = b
    return ", ".join(spans)


def _date(prov: dict | None, run_dir: Path, metrics_files: list[Path]) -> str:
    """When the run last finished (provenance), else the newest metrics file's time."""
    stamp = (prov or {}).get("finished_utc") or (prov or {}).get("started_utc")
    if isinstance(stamp, str) and len(stamp) >= 16:
        return stamp[:16].replace("T", " ")
    files = [p for p in metrics_files + [run_dir / "config.json"] if p.is_file()]
    if not files:
        return ""
    t = max(p.stat().st_mtime for p in files)
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _flat(cfg) -> dict:
    """A saved configuration as {section.field: value}; one this version cannot read gives {}."""
    try:
        return flat_view(cfg) if isinstance(cfg, dict) else {}
    except ConfigError:
        return {}


def _int_or_none(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _run_row(run_dir: Path, root: Path, notes: list[dict]) -> dict:
    metrics_files = (
        sorted((run_dir / "metrics").glob("*.json")) if (run_dir / "metrics").is_dir() else []
    )
    cfg = _read(run_dir / "config.json", notes, root) or {}
    prov = _read(run_dir / "provenance.json", notes, root)
    first = {}
    metrics = {}
    for p in metrics_files:
        data = _read(p, notes, root)
        if data is None:
            continue
        metrics[p.stem] = data
        first = first or data
    git = (prov or {}).get("git") if isinstance((prov or {}).get("git"), dict) else {}
    commit = git.get("commit")
    cfg = _flat(cfg)
    ez = cfg.get("ezhoi.seeds", (prov or {}).get("ezhoi_seeds"))
    row = {
        "run": _rel(run_dir, root),
        "profile": cfg.get("run.profile")
        or (prov or {}).get("profile")
        or first.get("profile")
        or run_dir.name,
        "dataset": cfg.get("world.dataset"),
        "split": cfg.get("world.split"),
        "backbone": cfg.get("backbone.name"),
        "seed": _int_or_none(cfg.get("run.seed", (prov or {}).get("seed", first.get("seed")))),
        "EZ-HOI seeds": ",".join(map(str, ez)) if isinstance(ez, list) else None,
        "commit": commit[:10] if isinstance(commit, str) else None,
        "dirty": git.get("dirty"),
        "machine": machine_label((prov or {}).get("machine")),
        "date (UTC)": _date(prov, run_dir, metrics_files),
        "status": (prov or {}).get("status"),
        "chapters done": _chapters_done(run_dir, metrics_files),
    }
    ch5 = run_dir / "metrics" / "05_evaluation.json"
    row.update(_chapter5_means(metrics.get("05_evaluation"), ch5, notes, root=root))
    return row


def collect(runs_root: str | Path = REPO / "runs"):
    """A DataFrame, one row per run folder under ``runs_root``.

    ``df.attrs['skipped']`` lists the files left out, as {file, problem} (file relative to the root).

    mAP columns (in %) are the mean over the run's chapter-5 per-seed rows of each method;
    NaN where chapter 5 did not run or its file was skipped.
    """
    import pandas as pd

    root = Path(runs_root)
    notes: list[dict] = []
    rows = []
    for run_dir in find_runs(root):
        try:
            rows.append(_run_row(run_dir, root, notes))
        except Exception as e:  # the page must render whatever one run holds
            notes.append(
                {
                    "file": _rel(run_dir, root),
                    "problem": f"the whole run left out, could not read it "
                    f"({type(e).__name__}: {e})",
                }
            )
    df = pd.DataFrame(rows, columns=INFO_COLUMNS + MAP_COLUMNS)
    df["seed"] = pd.array(list(df["seed"]), dtype="Int64")
    for c in MAP_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df.attrs["skipped"] = notes
    return df
