"""Batch runs: profiles x seeds (or a grid of parameters) through the chapters, each in its own folder, resumable.

    hoilib sweep --profiles synth hico-uv --seeds 0 1 2 [--set k=v] [--root runs/sweep]
    hoilib sweep --profiles synth-grid --vary world.seed=0,1,2 --vary world.split=rf-uc,uv --only 05

Run ``<root>/<profile>-seed<s>`` gets ``seed=s`` and ``ezhoi_seeds=[s]``, so each
folder is one independent replicate and the results table can average over folders.
With ``--vary`` every combination of the values is one folder
(``<profile>-world_seed0-split_rf-uc``; with ``--seeds`` too, times each seed), and
runs that differ only in ``split`` share one ``stage_dir``, so the world and backbone
of a world seed are built once, not once per split.
A run is skipped when its provenance says it finished every chapter asked for with
the same parameters and every executed notebook is present and clean; a run that
failed before is not retried unless asked (``retry_failed``), since rerunning a
deterministic failure only burns hours. One failure never stops the sweep: it is
recorded, the next run starts, and the summary at the end names each failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hoilib.config import OLD_NAMES, REPO, Params, canonical, resolve
from hoilib.errors import ConfigError
from hoilib.provenance import config_fingerprint, read_provenance
from hoilib.run.runner import (
    NOTEBOOKS,
    NotebookFailed,
    RunLog,
    chapter_paths,
    notebook_errors,
    run_profile,
)

# folder names keep the flat names of earlier releases, so an existing sweep resumes
FOLDER_NAMES = {new: old for old, new in OLD_NAMES.items()}
# Set per run by the sweep; a --set of one of these would silently be overwritten.
SWEEP_OWNED = ("run.seed", "ezhoi.seeds", "run.run_dir", "run.stage_dir")
# Parameters that only choose which classes are unseen: the stages before EZ-HOI do not read them.
SPLIT_ONLY = ("world.split",)


@dataclass(kw_only=True)
class SweepRun:
    """What happened to one (profile, seed): status is complete, skipped, failed or failed-before."""

    profile: str
    seed: int | None
    run_dir: Path
    status: str = "pending"
    detail: str = ""
    notebook: str | None = None
    cell: int | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "run.log"

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "failed-before")


@dataclass(kw_only=True)
class SweepReport:
    """Every run of the sweep in order, and where the sweep log is."""

    runs: list[SweepRun]
    log_path: Path

    @property
    def failures(self) -> list[SweepRun]:
        return [r for r in self.runs if r.failed]

    def summary(self) -> str:
        """A few lines for the end of the command: counts, then each failure with where to look."""
        counts = {
            s: sum(r.status == s for r in self.runs)
            for s in ("complete", "skipped", "failed", "failed-before")
        }
        head = (
            f"[sweep] {len(self.runs)} runs: {counts['complete']} ran to the end, {counts['skipped']} already "
            f"complete (skipped), {counts['failed']} failed, {counts['failed-before']} failed earlier and "
            f"were not retried; sweep log: {self.log_path}"
        )
        lines = [head]
        for r in self.failures:
            where = f"{r.notebook} cell {r.cell}" if r.notebook else "before any notebook ran"
            lines.append(f"  FAILED {r.run_dir.name}: {where}: {r.detail} (log: {r.log_path})")
        if any(r.status == "failed-before" for r in self.runs):
            lines.append("  pass --retry-failed to run the runs that failed earlier again")
        return "\n".join(lines)


def run_folder_name(profile: str, seed: int | None, varied: dict | None = None) -> str:
    """<profile>[-<name><value>...][-seed<s>]; a profile given as a .yml path is named by its file stem."""
    name = Path(profile).stem if profile.endswith((".yml", ".yaml")) else profile
    for k, v in (varied or {}).items():
        k = FOLDER_NAMES.get(k, k.replace(".", "_"))
        name += f"-{k}{v}" if isinstance(v, int) else f"-{k}_{v}"
    return name if seed is None else f"{name}-seed{seed}"


def grid(vary: dict[str, list] | None) -> list[dict]:
    """Every combination of the varied values, in the order given (one empty combination without --vary)."""
    combos = [{}]
    for k, values in (vary or {}).items():
        if not values:
            raise ConfigError(f"--vary {k}: give at least one value")
        combos = [c | {k: v} for c in combos for v in values]
    return combos


def plan_runs(profiles, seeds, overrides: dict, *, root: Path, vary: dict | None = None) -> list:
    """(profile, seed, varied, overrides, Params) of every run; each configuration is validated here."""
    plan = []
    for profile in profiles:
        for varied in grid(vary):
            for seed in seeds or [None]:
                ov = {**overrides, **varied}
                ov["run.run_dir"] = str(root / run_folder_name(profile, seed, varied))
                if seed is not None:
                    ov |= {"run.seed": int(seed), "ezhoi.seeds": [int(seed)]}
                shared = {k: v for k, v in varied.items() if k not in SPLIT_ONLY}
                if vary:
                    ov["run.stage_dir"] = str(
                        root / "stages" / run_folder_name(profile, seed, shared)
                    )
                plan.append((profile, seed, varied, ov, resolve(profile, ov)))
    return plan


def _root_path(root: str | Path) -> Path:
    """Relative roots are taken from the repository, like run_dir, wherever the command runs."""
    root = Path(root)
    return (root if root.is_absolute() else REPO / root).resolve()


def run_state(run_dir: Path, cfg: Params, chapters: list[Path]) -> tuple[str, str, dict | None]:
    """('complete' | 'failed' | 'incomplete', why, provenance) for a run folder and the chapters asked for.

    Complete means: provenance records status complete with the same parameters, each
    chapter is marked done, and each executed notebook is present without error outputs.
    """
    prov = read_provenance(run_dir)
    if prov is None:
        return "incomplete", "no readable provenance.json", None
    if prov.get("config_fingerprint") != config_fingerprint(cfg):
        return "incomplete", "parameters changed since the last run", prov
    if prov.get("status") == "failed":
        return "failed", "failed earlier", prov
    if prov.get("status") != "complete":
        return "incomplete", f"last run ended with status {prov.get('status')!r}", prov
    marks = prov.get("notebooks") if isinstance(prov.get("notebooks"), dict) else {}
    for nb in chapters:
        executed = run_dir / "notebooks" / nb.name
        if (marks.get(nb.name) or {}).get("status") != "done":
            return "incomplete", f"{nb.name} not recorded as done", prov
        if not executed.is_file():
            return "incomplete", f"executed {nb.name} missing", prov
        try:
            if notebook_errors(executed):
                return "incomplete", f"executed {nb.name} holds error outputs", prov
        except (OSError, ValueError):
            return "incomplete", f"executed {nb.name} is unreadable", prov
    return "complete", "every chapter done", prov


def run_sweep(
    profiles: list[str],
    seeds: list[int] | None,
    overrides: dict | None = None,
    *,
    root: str | Path = "runs/sweep",
    only: list[str] | None = None,
    retry_failed: bool = False,
    log=print,
    notebooks: Path = NOTEBOOKS,
    vary: dict[str, list] | None = None,
    on_done=None,
) -> SweepReport:
    """Run every profile x varied combination x seed; returns the report (the caller decides the exit status).

    Every configuration is resolved before anything runs, so a typo in a profile or a
    --set fails in seconds, not after the first run's hours. ``on_done(run_dir, varied)`` is
    called after each run that is complete (run now or skipped), before the next starts.
    """
    overrides = {canonical(k, "--set"): v for k, v in (overrides or {}).items()}
    vary = {canonical(k, "--vary"): v for k, v in (vary or {}).items()} or None
    clash = [k for k in SWEEP_OWNED if k in overrides]
    if clash:
        raise ConfigError(
            f"--set {', '.join(clash)}: the sweep sets {', '.join(SWEEP_OWNED)} "
            f"for each run (use --seeds, --vary and --root instead)"
        )
    both = sorted(set(overrides) & set(vary or {}))
    if both:
        raise ConfigError(f"--set and --vary both name {', '.join(both)}: give each once")
    if not profiles or not (seeds or vary):
        raise ConfigError(
            f"a sweep needs at least one profile and seeds or --vary, got profiles={profiles!r} "
            f"seeds={seeds!r}"
        )
    root = _root_path(root)
    chapters = chapter_paths(only, notebooks)
    plan = plan_runs(profiles, seeds, overrides, root=root, vary=vary)
    names = [str(cfg.run.run_dir) for *_, cfg in plan]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"two runs of the sweep share a folder (repeated profile, seed or value?): {sorted(names)}"
        )

    root.mkdir(parents=True, exist_ok=True)
    slog = RunLog(root / "sweep.log", log)
    report = SweepReport(runs=[], log_path=root / "sweep.log")
    axes = [f"seeds {', '.join(map(str, seeds))}"] if seeds else []
    axes += [f"{k} {', '.join(map(str, v))}" for k, v in (vary or {}).items()]
    slog(
        f"[sweep] {len(plan)} runs ({', '.join(profiles)} x {' x '.join(axes)}) under {root}; "
        f"chapters: {', '.join(nb.name for nb in chapters)}"
    )
    for i, (profile, seed, varied, ov, cfg) in enumerate(plan, 1):
        run_dir = Path(cfg.run.run_dir)
        run = SweepRun(profile=profile, seed=seed, run_dir=run_dir)
        report.runs.append(run)
        tag = f"[sweep {i}/{len(plan)}] {run_dir.name}"
        state, why, prov = run_state(run_dir, cfg, chapters)
        if state == "complete":
            run.status, run.detail = "skipped", why
            slog(f"{tag}: already complete, skipped ({run_dir})")
            if on_done:
                on_done(run_dir, varied)
            continue
        if state == "failed" and not retry_failed:
            failure = (prov or {}).get("failure") or {}
            run.status, run.notebook, run.cell = (
                "failed-before",
                failure.get("notebook"),
                failure.get("cell"),
            )
            run.detail = f"{failure.get('error', 'unknown error')} (earlier run, not retried)"
            slog(
                f"{tag}: failed earlier in {run.notebook} cell {run.cell}, not retried (--retry-failed reruns it)"
            )
            continue
        slog(f"{tag}: running ({why}) in {run_dir}")
        try:
            run_profile(profile, ov, only, log=lambda m: slog(f"  {m}"), notebooks=notebooks)
        except NotebookFailed as e:
            run.status, run.notebook, run.cell, run.detail = (
                "failed",
                e.notebook,
                e.cell,
                e.error or str(e),
            )
        except Exception as e:  # a dead kernel, a full disk: record it and go on with the next run
            prov = read_provenance(run_dir) or {}
            failure = prov.get("failure") or {}
            run.status, run.notebook, run.detail = (
                "failed",
                failure.get("notebook"),
                f"{type(e).__name__}: {e}",
            )
        else:
            run.status = "complete"
            slog(f"{tag}: complete")
            if on_done:
                on_done(run_dir, varied)
            continue
        where = f"{run.notebook} cell {run.cell}" if run.notebook else "before any notebook ran"
        slog(
            f"{tag}: FAILED in {where}: {run.detail} (log: {run.log_path}); going on with the next run"
        )
    slog(report.summary())
    return report
