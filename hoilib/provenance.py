"""A run's provenance: which code, parameters and machine produced it, and how each chapter ended.

``provenance.json`` is rewritten atomically at every change of status, so an interrupted run
reads as unfinished and a sweep can tell a finished run from one to redo.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from hoilib import __version__, artifacts, codekey
from hoilib.machine import kernel_env, machine_info

REPO = Path(__file__).resolve().parents[1]


SWEEP_OUTPUTS = "results/confirmatory"  # records ``hoilib sweep --plan`` commits (``run.plan``)


def utc_now() -> str:
    """ISO time in UTC, second precision: what provenance and log lines carry."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git(*args: str, repo: Path = REPO) -> str | None:
    """What ``git -C repo <args>`` prints, or None where it cannot tell: no git binary, not a
    repository, a timeout, a refused ("dubious ownership") repository or a failing command.
    Provenance must never stop a run, so no error comes out of here."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(repo: Path = REPO) -> dict:
    """Commit and dirty flag of the code a run used; None where git cannot tell (``git``)."""
    head = git("rev-parse", "HEAD", repo=repo)
    commit = head.strip() if head and head.strip() else None
    # the confirmatory sweep's own outputs, written into the clone while it runs, are not its code
    status = (
        git("status", "--porcelain", "--", ".", f":(exclude){SWEEP_OUTPUTS}", repo=repo)
        if commit
        else None
    )
    return {"commit": commit, "dirty": None if status is None else bool(status.strip())}


def config_fingerprint(cfg) -> str:
    """Hash of the resolved parameters minus run_dir, so a moved run folder still matches itself."""
    return artifacts.fingerprint(cfg.model_dump(exclude={"run": {"run_dir"}}))


def read_provenance(run_dir: Path) -> dict | None:
    """The run's provenance.json, or None when absent or unreadable (an unfinished record)."""
    path = Path(run_dir) / "provenance.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Provenance:
    """A run's provenance.json, rewritten (atomically) whenever a chapter or the run changes status."""

    def __init__(self, run_dir: Path, record: dict):
        self.path, self.record = run_dir / "provenance.json", record
        self.write()

    def write(self) -> None:
        artifacts.write_json(self.path, self.record)

    def chapter(self, name: str, **fields) -> None:
        self.record["notebooks"].setdefault(name, {}).update(fields)
        self.write()

    def finish(self, status: str, failure: dict | None = None) -> None:
        self.record.update(status=status, failure=failure, finished_utc=utc_now())
        self.write()


def start_record(cfg, overrides, only, *, notebooks, chapters, run_dir: Path) -> dict:
    """Which code, parameters and machine a run starts with; earlier chapters' records are kept
    when the parameters are unchanged."""
    fp = config_fingerprint(cfg)
    previous = read_provenance(run_dir) or {}
    kept = previous.get("notebooks") if previous.get("config_fingerprint") == fp else None
    return {
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
        # None: a chapter run directly (papermill, Jupyter), whose kernel cannot see its notebook's path
        "notebooks_folder": str(Path(notebooks).resolve()) if notebooks is not None else None,
        "started_utc": utc_now(),
        "finished_utc": None,
        "status": "running",
        "failure": None,
        "notebooks": {
            **(kept if isinstance(kept, dict) else {}),
            **{nb.name: {"status": "pending"} for nb in chapters},
        },
    }
