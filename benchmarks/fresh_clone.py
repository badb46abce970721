"""The README's commands timed in fresh clones, commit after commit on one machine (not a test).

    .venv/bin/python benchmarks/fresh_clone.py [--commit REF ...] [--steps book warm verify test]
                                               [--timings results/timings.json] [--keep DIR]

For each commit, in the order given (default: HEAD), it clones this repository into a new folder,
checks the commit out and runs each step there as a subprocess, one after the other: ``book``
(``make book``: the environment, every chapter of the default profile cold, the HTML; its chapters'
own seconds, from the run's ``timings.json``, are kept as the ``chapters`` row, each chapter a
stage that the chapters' pages state), ``warm`` (``make book`` again, nothing changed), ``verify``
(``make verify``) and ``test`` (``CI=true make test``, as CI runs it). Each step's wall seconds and
peak memory (the largest single process, ``RUSAGE_CHILDREN`` of a small wrapper) are printed as a
table, with each commit's ratio to the first one's, so a speed claim is a ratio measured back to back
on one machine rather than two numbers from two days. One record per (commit, step) is appended to
``--timings`` (``results/timings.json``, shown on the book's *Reproducing* page) with the machine,
the commit and the UTC time the step ended. A step that fails ends the benchmark with one line naming its log.
Time it on an idle machine: on 2 cores a second busy process can make a run several times slower.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from book_time import PhaseFailed, append_timing, run_phase  # noqa: E402

from hoilib.errors import HoiBookError  # noqa: E402
from hoilib.machine import cpu_model  # noqa: E402
from hoilib.pool import cores  # noqa: E402
from hoilib.provenance import utc_now  # noqa: E402

STEPS = {
    "book": (["make", "book"], {}, "make book (fresh clone, cold)"),
    "warm": (["make", "book"], {}, "make book (warm: again, nothing changed)"),
    "verify": (["make", "verify"], {}, "make verify (after make book)"),
    "test": (["make", "test"], {"CI": "true"}, "make test (fresh clone, CI=true)"),
}


CHAPTERS = "cold chapters (sum of runs/synth/timings.json after make book)"


def chapter_seconds(folder: Path) -> dict[str, float]:
    """The cold run's chapters, as the runner timed them (the book step less setup and HTML):
    ``{"chapter N": seconds}``, the stages the chapters' pages read (``reference_time``)."""
    timings = json.loads((folder / "runs" / "synth" / "timings.json").read_text())
    return {f"chapter {int(nb[:2])}": round(s, 1) for nb, s in sorted(timings.items())}


def step(name: str, folder: Path, log: Path) -> dict:
    """One step in ``folder``: wall seconds, peak RSS (MiB) and pytest's closing line, if any."""
    cmd, extra, _ = STEPS[name]
    try:
        r = run_phase(name, cmd, log, {**os.environ, **extra}, cwd=folder)
    except PhaseFailed as e:
        raise HoiBookError(str(e)) from None
    text = log.read_text(errors="replace")
    passed = re.findall(r"^(\d+ passed[^\n]*) in [\d.]+s", text, flags=re.M)
    return {
        "seconds": r["wall_s"],
        "peak_rss_mib": r["peak_rss_mib"],
        "tests": (passed or [None])[-1],
    }


def _record(path: Path, short: str, machine: dict, what: str, r: dict, command: str) -> None:
    """One (commit, step) record appended to ``path`` (``results/timings.json``)."""
    notes = (f"peak memory {r['peak_rss_mib']} MiB" if r["peak_rss_mib"] else "", r["tests"] or "")
    rec = {
        "what": what,
        "seconds": r["seconds"],
        "stages": r.get("stages"),
        "command": command,
        "machine": machine,
        "commit": short,
        "date": utc_now(),
        "notes": ", ".join(x for x in (*notes, "benchmarks/fresh_clone.py") if x),
    }
    append_timing(path, rec)


def command(name: str) -> str:
    cmd, extra, _ = STEPS[name]
    return ("CI=true " if extra else "") + " ".join(cmd)


def clone(commit: str, into: Path) -> str:
    """A fresh clone of this repository at ``commit``; its full hash."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "-q", commit], check=True)
    out = subprocess.run(["git", "-C", str(into), "rev-parse", "HEAD"], capture_output=True)
    return out.stdout.decode().strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commit", nargs="+", default=["HEAD"], help="commits, timed in this order")
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    ap.add_argument("--timings", type=Path, default=REPO / "results" / "timings.json")
    ap.add_argument("--keep", type=Path, help="clone into DIR/<commit> and leave it there")
    args = ap.parse_args(argv)
    machine = {"cpu": cpu_model(), "cores": cores()}
    base = args.keep or Path(tempfile.mkdtemp(prefix="hoi-fresh-"))
    results: dict[str, dict[str, dict]] = {}
    try:
        for ref in args.commit:
            folder = base / re.sub(r"[^\w.-]", "_", ref)
            full = clone(ref, folder)
            short = full[:7]
            results[short] = {}
            for name in args.steps:
                print(f"[fresh-clone] {short}: {' '.join(STEPS[name][0])} ...", flush=True)
                r = results[short][name] = step(name, folder, folder / f"{name}.log")
                print(f"[fresh-clone] {short}: {name} {r['seconds']} s", flush=True)
                if name == "book":
                    stages = chapter_seconds(folder)
                    results[short]["chapters"] = {
                        "seconds": round(sum(stages.values()), 1), "stages": stages,
                        "peak_rss_mib": r["peak_rss_mib"], "tests": None,
                    }  # fmt: skip
                    chapters = results[short]["chapters"]
                    _record(args.timings, short, machine, CHAPTERS, chapters, command("book"))
                _record(args.timings, short, machine, STEPS[name][2], r, command(name))
    except HoiBookError as e:
        print(f"fresh_clone: error: {e}", file=sys.stderr)
        return 1
    first = next(iter(results.values()))
    print(
        "\n| commit | step | seconds | ratio to the first | peak MiB | tests |\n|---|---|---|---|---|---|"
    )
    for short, steps in results.items():
        for name, r in steps.items():
            ratio = r["seconds"] / first[name]["seconds"] if first.get(name) else float("nan")
            print(
                f"| {short} | {name} | {r['seconds']} | {ratio:.2f} | {r['peak_rss_mib']} | "
                f"{r['tests'] or ''} |"
            )
    print(
        f"\nmachine: {machine['cpu']}, {machine['cores']} cores; records appended to {args.timings}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
