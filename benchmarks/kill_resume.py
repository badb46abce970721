"""Resumability, proven by force (not a test: it runs a profile several times): SIGKILL a run at several
moments, run it again to the end, and compare every metric with an uninterrupted run.

    .venv/bin/python benchmarks/kill_resume.py --profile smoke --kills 0.15 0.35 0.55 0.75 0.9 --out /tmp/kill

The uninterrupted run is timed first; each kill lands at that fraction of its wall time, on the whole
process group (the papermill kernel included), as a power cut would. Every metrics/*.json of the resumed
run must equal the uninterrupted one's, except wall-clock fields (seconds, times), and no temporary or
half-written file may remain. Writes result.json and prints one line per kill.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLOCK_KEYS = ("seconds", "train s", "time", "wall")  # fields that measure wall time, not results


def _run(profile: str, run_dir: Path, kill_after: float | None = None) -> tuple[int, float]:
    """One `hoilib run` in its own process group; killed with SIGKILL after ``kill_after`` seconds if given."""
    env = {**os.environ}
    cmd = [
        sys.executable,
        "-m",
        "hoilib",
        "run",
        "--profile",
        profile,
        "--set",
        f"run.run_dir={run_dir}",
    ]
    t0 = time.time()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, time.time() - t0


def _strip_clock(x):
    if isinstance(x, dict):
        return {
            k: _strip_clock(v) for k, v in x.items() if not any(c in k.lower() for c in CLOCK_KEYS)
        }
    if isinstance(x, list):
        return [_strip_clock(v) for v in x]
    return x


def metrics_of(run_dir: Path) -> dict:
    return {
        p.name: _strip_clock(json.loads(p.read_text()))
        for p in sorted((run_dir / "metrics").glob("*.json"))
    }


def leftovers(run_dir: Path) -> list[str]:
    """Temporary or failed files a clean run never leaves."""
    bad = [
        p
        for p in run_dir.rglob("*")
        if p.name.endswith(".tmp") or ".running." in p.name or p.name.endswith(".failed.ipynb")
    ]
    return [str(p.relative_to(run_dir)) for p in bad]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument(
        "--kills",
        nargs="+",
        type=float,
        default=[0.15, 0.35, 0.55, 0.75, 0.9],
        help="moments of the kills, as fractions of the uninterrupted run's wall time",
    )
    ap.add_argument("--out", default="/tmp/kill-resume")
    args = ap.parse_args(argv)
    out = Path(args.out)
    ref_dir = out / "uninterrupted"
    rc, total = _run(args.profile, ref_dir)
    if rc != 0:
        print(
            f"the uninterrupted run failed (exit {rc}); see {ref_dir / 'run.log'}", file=sys.stderr
        )
        return 1
    ref = metrics_of(ref_dir)
    print(f"uninterrupted run: {total:.0f} s, {len(ref)} metrics files", flush=True)
    results = {"profile": args.profile, "uninterrupted_s": round(total, 1), "kills": []}
    for frac in args.kills:
        run_dir = out / f"kill-{frac:.2f}"
        rc_kill, t_kill = _run(args.profile, run_dir, kill_after=frac * total)
        prov = (
            json.loads((run_dir / "provenance.json").read_text())
            if (run_dir / "provenance.json").is_file()
            else {}
        )
        during = next(
            (k for k, v in prov.get("notebooks", {}).items() if v.get("status") == "running"), None
        )
        rc2, t_resume = _run(args.profile, run_dir)
        same = rc2 == 0 and metrics_of(run_dir) == ref
        rest = leftovers(run_dir)
        row = {
            "kill_at_s": round(t_kill, 1),
            "killed_during": during,
            "resume_s": round(t_resume, 1),
            "resume_exit": rc2,
            "metrics_equal": same,
            "leftovers": rest,
        }
        results["kills"].append(row)
        print(
            f"kill at {t_kill:5.0f} s (during {during}): resumed in {t_resume:.0f} s, exit {rc2}, "
            f"metrics {'equal' if same else 'DIFFER'}{', leftovers ' + str(rest) if rest else ''}",
            flush=True,
        )
    (out / "result.json").write_text(json.dumps(results, indent=1) + "\n")
    ok = all(r["metrics_equal"] and not r["leftovers"] for r in results["kills"])
    print(
        f"{sum(r['metrics_equal'] for r in results['kills'])} of {len(results['kills'])} resumed runs equal "
        f"the uninterrupted one; written {out / 'result.json'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
