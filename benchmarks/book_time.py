"""What the book costs to build, chapter by chapter and stage by stage (not a test: it runs a profile twice).

    .venv/bin/python benchmarks/book_time.py [--profile synth] [--out book_time.json] [--keep DIR]

In a fresh run folder (a temporary one, or DIR with ``--keep``, which is then left in place) it runs
``hoilib run --profile P --set run.run_dir=<folder>`` with nothing cached (cold), the same command again
(warm: every stage reused), then ``hoilib book`` into ``<folder>/book``, each as a subprocess. For cold
and warm it reads the runner's ``timings.json`` (wall seconds per chapter, kernel start included)
and the stage log the chapters append to (``HOI_STAGE_LOG``, one file per phase; see
``hoilib.timing``): how long each named stage took in each chapter, its share of the chapter, and the
rest as "other". A stage run twice in a chapter (15 EZ-HOI trainings) is summed; stages that nest
would be counted twice, so a negative "other" means two timers overlap.

Peak memory is ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by a small wrapper process
around each phase, so each phase gets its own figure (in the benchmark's own process the value only
ever grows). It covers every waited-for descendant, the notebook kernels and the jupyter-book build
included, but it is the largest single process, not the sum of processes alive at the same time.

Writes the numbers, the machine (CPU model, logical CPUs, load averages at the start and end) and the commit
(with a dirty flag) as JSON to ``--out``, prints a Markdown table, and appends one record (cold run,
its chapters, warm run, HTML; machine, commit, UTC date) to ``--timings`` (``results/timings.json``,
the list the book's *Reproducing* page shows), so a time is quoted only from a measurement. Exits 1
with one line naming the phase and its log file when a phase fails (the run folder is then kept for
inspection), or naming the timings file when it is not a JSON list.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hoilib import artifacts  # noqa: E402
from hoilib.errors import HoiBookError  # noqa: E402
from hoilib.machine import cpu_model  # noqa: E402
from hoilib.pool import cores  # noqa: E402
from hoilib.provenance import git_state  # noqa: E402

TIMINGS = REPO / "results" / "timings.json"

# the stages named by hoilib's timers, in the order a run meets them
STAGES = (
    "world generation",
    "pretraining",
    "feature extraction",
    "EZ-HOI training",
    "diffusion training",
    "UMAP",
    "scoring",
)
# runs CMD (argv[2:]) with its output in LOG (argv[1]); prints its exit status and peak RSS (KiB)
WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "with open(sys.argv[1], 'ab') as log:\n"
    "    rc = subprocess.run(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT).returncode\n"
    "print(json.dumps({'rc': rc, 'maxrss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


class PhaseFailed(Exception):
    pass


def run_phase(name: str, cmd: list[str], log: Path, env: dict, *, cwd: Path = REPO) -> dict:
    """One phase as a subprocess (through the wrapper) in ``cwd``: wall seconds and peak RSS, or
    PhaseFailed."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(log), *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        res = {"rc": proc.returncode, "maxrss_kib": None}
    if proc.returncode != 0 or res["rc"] != 0:
        raise PhaseFailed(f"{name} phase failed (exit {res['rc']}); see {log}")
    mib = res["maxrss_kib"] / 1024 if res["maxrss_kib"] is not None else None
    return {"wall_s": round(wall, 1), "peak_rss_mib": None if mib is None else round(mib, 1)}


def read_stage_log(path: Path) -> list[dict]:
    """The records of one phase (none when no timer ran); a torn line is skipped, not fatal."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "stage" in rec and "seconds" in rec:
            out.append(rec)
    return out


def chapter_breakdown(timings: dict, records: list[dict]) -> dict:
    """Per chapter: wall seconds, each stage's seconds and share, and the rest as "other"."""
    stems = {Path(name).stem: name for name in timings}
    stage_s: dict[str, dict[str, float]] = {}
    for rec in records:
        chapter = stems.get(rec.get("chapter"), rec.get("chapter") or "(no chapter)")
        by = stage_s.setdefault(chapter, {})
        by[rec["stage"]] = by.get(rec["stage"], 0.0) + float(rec["seconds"])
    out = {}
    for name in [*timings, *(c for c in stage_s if c not in timings)]:
        wall = timings.get(name)
        stages = stage_s.get(name, {})
        order = [s for s in STAGES if s in stages] + sorted(s for s in stages if s not in STAGES)
        entry = {"seconds": wall, "stages": {}}
        for s in order:
            share = stages[s] / wall if wall else None
            entry["stages"][s] = {
                "seconds": round(stages[s], 1),
                "share": None if share is None else round(share, 3),
            }
        if wall:
            rest = wall - sum(stages.values())
            entry["stages"]["other"] = {"seconds": round(rest, 1), "share": round(rest / wall, 3)}
        out[name] = entry
    return out


def summarize_run(name: str, phase: dict, run_dir: Path, log: Path, stage_log: Path) -> dict:
    try:
        timings = json.loads((run_dir / "timings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PhaseFailed(f"{name} run left no readable timings.json ({e}); see {log}") from None
    records = read_stage_log(stage_log)
    chapters = chapter_breakdown(timings, records)
    totals: dict[str, float] = {}
    for rec in records:
        totals[rec["stage"]] = totals.get(rec["stage"], 0.0) + float(rec["seconds"])
    return {
        **phase,
        "chapters_s": round(sum(timings.values()), 1),
        "stages_s": {s: round(v, 1) for s, v in sorted(totals.items(), key=lambda sv: -sv[1])},
        "chapters": chapters,
        "stage_records": len(records),
    }


def secs(x: float) -> str:
    """Seconds as the table shows them: one decimal below 10 s, whole seconds above."""
    return f"{x:.1f}" if abs(x) < 10 else f"{x:.0f}"


def largest(entry: dict, k: int = 3) -> str:
    named = [(s, v) for s, v in entry["stages"].items() if s != "other" and v["share"] is not None]
    named.sort(key=lambda sv: -sv[1]["seconds"])
    parts = [f"{s} {secs(v['seconds'])} s ({100 * v['share']:.0f}%)" for s, v in named[:k]]
    return ", ".join(parts) or "-"


def table(result: dict) -> str:
    cold, warm = result["cold"], result["warm"]
    rows = ["| chapter | cold s | warm s | largest stages (cold) |", "|---|---|---|---|"]
    for name, entry in cold["chapters"].items():
        w = warm["chapters"].get(name, {}).get("seconds")
        rows.append(
            f"| {Path(name).stem} | {entry['seconds']} | {'-' if w is None else w} | {largest(entry)} |"
        )
    rows.append(f"| all chapters | {cold['chapters_s']} | {warm['chapters_s']} | |")
    rows.append(
        f"| `hoilib run` (whole process) | {cold['wall_s']} | {warm['wall_s']} | "
        f"peak RSS {cold['peak_rss_mib']} / {warm['peak_rss_mib']} MiB |"
    )
    for phase in ("cold", "warm"):
        stages = ", ".join(f"{s} {secs(v)} s" for s, v in result[phase].get("stages_s", {}).items())
        rows.append(f"| stages, {phase} run | | | {stages or '-'} |")
    book = result["book"]
    rows.append(
        f"| HTML (`hoilib book`) | {book['wall_s']} | | peak RSS {book['peak_rss_mib']} MiB |"
    )
    return "\n".join(rows)


def _chapter(name: str) -> str:
    """``00_hoi_synth.ipynb`` -> ``chapter 0``, as the timings record names chapters."""
    stem = Path(name).stem
    return f"chapter {int(stem[:2])}" if stem[:2].isdigit() else stem


def timing_record(result: dict) -> dict:
    """The record ``results/timings.json`` keeps of one benchmark run (see hoilib.publish.timings_page)."""
    cold, warm, book = result["cold"], result["warm"], result["book"]
    stages = {_chapter(n): e["seconds"] for n, e in cold["chapters"].items()}
    timers = ", ".join(f"{s} {secs(v)} s" for s, v in cold.get("stages_s", {}).items())
    rss = [p["peak_rss_mib"] for p in (cold, warm, book)]
    m, git = result["machine"], result["git"]
    notes = [
        f"{cold['chapters_s']} s of chapters cold, {warm['chapters_s']} s warm",
        f"cold stage timers: {timers or 'none'}",
        f"peak memory (largest single process) cold / warm / HTML {' / '.join(map(str, rss))} MiB",
        f"load average at start / end {m['load_average_at_start']} / {m.get('load_average_at_end')}",
    ]
    if git.get("dirty"):
        notes.append("with uncommitted changes")
    return {
        "what": f"benchmarks/book_time.py --profile {result['profile']}: hoilib run cold, warm, then the HTML",
        "seconds": cold["wall_s"],
        "stages": {**stages, "warm run": warm["wall_s"], "HTML": book["wall_s"]},
        "command": f"benchmarks/book_time.py --profile {result['profile']}",
        "machine": {"cpu": m["cpu"], "cores": m["cores"]},
        "commit": git.get("commit"),
        "date": result["started"],
        "notes": "; ".join(notes),
    }


def append_timing(path: Path, record: dict) -> Path:
    """Add ``record`` at the end of the JSON list in ``path`` (made if missing); temp file + rename."""
    path = Path(path)
    records = artifacts.read_json(path, "timings record") if path.exists() else []
    if not isinstance(records, list):
        raise HoiBookError(
            f"{path}: expected a JSON list of timing records, got {type(records).__name__}"
        )
    text = json.dumps([*records, record], indent=2, ensure_ascii=False) + "\n"
    return artifacts.write_bytes(path, text.encode("utf-8"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="synth")
    ap.add_argument("--out", default="book_time.json", help="JSON written (default book_time.json)")
    ap.add_argument("--keep", default=None, metavar="DIR", help="run folder to use and keep")
    ap.add_argument(
        "--timings",
        default=str(TIMINGS),
        metavar="JSON",
        help="the list of timing records to append to (default results/timings.json)",
    )
    args = ap.parse_args(argv)
    if args.keep:
        run_dir = Path(args.keep).resolve()
        if run_dir.exists() and any(run_dir.iterdir()):
            print(
                f"book_time: {run_dir} is not empty; a cold run needs an empty folder",
                file=sys.stderr,
            )
            return 1
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = Path(tempfile.mkdtemp(prefix="book-time-"))
    base = [sys.executable, "-m", "hoilib"]
    where = ["--profile", args.profile, "--set", f"run.run_dir={run_dir}"]
    env = {k: v for k, v in os.environ.items() if k != "HOI_CHAPTER"}
    result = {
        "profile": args.profile,
        "git": git_state(REPO),
        "machine": {
            "cpu": cpu_model(),
            "logical_cpus": os.cpu_count(),
            "cores": cores(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        for phase in ("cold", "warm"):
            stage_log = run_dir / f"stages-{phase}.jsonl"
            log = run_dir / f"bench-{phase}.log"
            env_run = {**env, "HOI_STAGE_LOG": str(stage_log)}
            out = run_phase(f"{phase} run", [*base, "run", *where], log, env_run)
            result[phase] = summarize_run(phase, out, run_dir, log, stage_log)
        result["book"] = run_phase(
            "book",
            [*base, "book", *where, "--out", str(run_dir / "book")],
            run_dir / "bench-book.log",
            {k: v for k, v in env.items() if k != "HOI_STAGE_LOG"},
        )
    except PhaseFailed as e:
        print(f"book_time: {e} (run folder kept: {run_dir})", file=sys.stderr)
        return 1
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["run_dir"] = str(run_dir) if args.keep else None
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    try:
        append_timing(Path(args.timings), timing_record(result))
    except HoiBookError as e:
        print(f"book_time: {e}", file=sys.stderr)
        return 1
    git = result["git"]
    commit = (git["commit"] or "unknown")[:10] + (" dirty" if git["dirty"] else "")
    m = result["machine"]
    print(f"profile {args.profile} at {commit}; {m['cpu']}, {m['logical_cpus']} logical CPUs")
    print(table(result))
    print(f"written to {args.out}; a record appended to {args.timings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
