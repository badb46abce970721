"""Command line: run a profile through papermill, build the book, list profiles.

hoilib run --profile synth [--set run.seed=3 --set world.split=uv] [--only 01]
hoilib sweep --profiles synth smoke --seeds 0 1 2 [--set k=v] [--root runs/sweep] [--only 01] [--retry-failed]
hoilib sweep --profiles synth-grid --vary world.seed=0,1,2 --vary world.split=rf-uc,nf-uc,uo,uv --only 05
hoilib results [--root runs]
hoilib grid [--root runs/synth-grid] [--out results/synth-grid.json]; hoilib control-search [--profile synth]
hoilib book --profile synth [--out DIR]
hoilib verify [--run runs/synth] [--grid results/synth-grid.json] [--exact] [--write]
hoilib cache list|prune [--profile synth] [--set k=v] [--dry-run] [--wait]
hoilib profiles

This module is longer than 300 lines because every command's options are registered here, in
one parser, verify's among them (a side module for one command's options only hid them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hoilib.config import (
    FIELDS,
    list_profiles,
    parse_overrides,
    parse_vary,
    range_text,
    resolve,
    type_name,
)
from hoilib.errors import HoiBookError
from hoilib.run.budget import disk_full, no_space

GRID_OUT = "results/synth-grid.json"  # hoilib grid's record without --plan


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="hoilib", description="hoi-book: run the chapters and build the HTML book"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name: str, func, overrides: bool = False, **kw) -> argparse.ArgumentParser:
        p = sub.add_parser(name, **kw)
        p.set_defaults(func=func)
        if overrides:
            p.add_argument(
                "--profile", default="synth", help="profile name or .yml (default: synth)"
            )
            p.add_argument(
                "--set",
                action="append",
                metavar="NAME=VALUE",
                help="override one parameter (repeatable)",
            )
        return p

    r = add("run", _run, True, help="execute the notebooks in order with papermill")
    r.add_argument(
        "--only", action="append", metavar="PREFIX", help="run only notebooks whose name starts so"
    )
    r.add_argument(
        "--wait",
        action="store_true",
        help="if another run holds the run or stage folder, wait for it instead of refusing",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="start even if the estimate of disk or memory exceeds what this machine has",
    )
    b = add("book", _book, True, help="build the HTML book from a run's executed notebooks")
    b.add_argument(
        "--out",
        default=None,
        help="output folder (HTML lands in OUT/_build/html; default: repo root)",
    )
    sw = add(
        "sweep",
        _sweep,
        help="run profiles x seeds, each in <root>/<profile>-seed<s>; resumable",
        description="Run every profile with every seed (run.seed=s, ezhoi.seeds=[s]). Runs already "
        "complete are skipped; a failed run is recorded and the sweep goes on; the exit "
        "status is 1 if any run failed.",
    )
    sw.add_argument(
        "--profiles",
        nargs="+",
        metavar="PROFILE",
        help="profile names or .yml paths (not with --plan)",
    )
    sw.add_argument(
        "--plan",
        metavar="PLAN",
        help="run a committed plan (results/plan.yaml): its worlds x splits through chapter 5, "
        "one record each under its records folder",
    )
    sw.add_argument(
        "--worlds", nargs="+", type=int, metavar="SEED", help="with --plan: only these world seeds"
    )
    sw.add_argument(
        "--check",
        action="store_true",
        help="with --plan: compare the runs with the committed records instead of writing them",
    )
    sw.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        metavar="SEED",
        help="seeds, e.g. 0 1 2 (each run gets run.seed=s, ezhoi.seeds=[s])",
    )
    sw.add_argument(
        "--vary",
        action="append",
        metavar="NAME=V1,V2",
        help="one folder per combination of the values (repeatable), e.g. world.split=rf-uc,uv",
    )
    sw.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="override one parameter for every run"
    )
    sw.add_argument(
        "--root",
        default="runs/sweep",
        help="folder of the runs, relative to the repo (default: runs/sweep)",
    )
    sw.add_argument(
        "--only", action="append", metavar="PREFIX", help="run only notebooks whose name starts so"
    )
    sw.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the runs that failed in an earlier sweep",
    )
    rs = add("results", _results, help="print the table of every run under a folder")
    rs.add_argument(
        "--root",
        default="runs",
        help="folder searched for runs, relative to the repo (default: runs)",
    )
    gr = add(
        "grid",
        _grid,
        help="the synth-grid table: every split, intervals over worlds, seeds and classes",
        description="Read chapter 5's metrics of every run under ROOT (a sweep with --vary), "
        "write the ordering comparisons with nested-bootstrap intervals to OUT (JSON) and print them.",
    )
    gr.add_argument("--root", default="runs/synth-grid", help="folder of the sweep's runs")
    gr.add_argument("--out", default=GRID_OUT, help="JSON written (repo-relative)")
    gr.add_argument(
        "--design",
        action="store_true",
        help="also write <out>-design.json: the worlds a plan needs at this spread (ordering.design)",
    )
    gr.add_argument(
        "--plan",
        metavar="PLAN",
        help="read the plan's committed records instead of --root (its draws, its results/<name>.json)",
    )
    gr.add_argument("--n-boot", type=int, default=2000, help="bootstrap draws (default 2000)")
    ve = add(
        "verify",
        _verify,
        help="compare a run with the published build (results/published.json); exit 1 if one is off",
        description="Every headline number of chapters 1, 2 and 5 (and, with --grid, the synth-grid's "
        "pooled contrasts) against the published build, each with its tolerance (the Reproducing "
        "page says where each comes from). Exit status 1 if any is outside its tolerance, a "
        "verdict differs, or the run is of another profile than the record's.",
    )
    ve.add_argument("--run", default="runs/synth", help="your run folder (default: runs/synth)")
    ve.add_argument("--grid", default=None, help="your `hoilib grid` JSON, to check the grid too")
    ve.add_argument("--record", default="results/published.json", help="the published record")
    ve.add_argument(
        "--exact", action="store_true", help="also fail unless every digit is the published one"
    )
    ve.add_argument(
        "--write",
        action="store_true",
        help="write the record from --run and --grid instead (what the book is published from)",
    )
    cs = add(
        "control-search",
        _control_search,
        True,
        help="chapter 5's positive control under each candidate recipe (never the order contrast)",
    )
    cs.add_argument("--out", default="results/control-search.json", help="JSON (repo-relative)")
    ca = add(
        "cache",
        _cache,
        True,
        help="list a run's cached entries, or prune the superseded ones",
        description="Every cached thing (world, backbone, features, EZ-HOI, text spaces, diffusion, "
        "chapter results, UMAP) is an entry with a marker. Per folder and name, the entry used "
        "last is current; prune removes the others and keyed files no marker owns.",
    )
    ca.add_argument("action", choices=("list", "prune"))
    ca.add_argument(
        "--dry-run", action="store_true", help="prune: say what would go, remove nothing"
    )
    ca.add_argument(
        "--wait",
        action="store_true",
        help="prune: if a run holds the run or stage folder, wait for it instead of refusing",
    )
    add("profiles", _profiles, help="list profiles and parameters")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args, argv) or 0
    except HoiBookError as e:
        print(f"hoilib: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        if not no_space(e):
            raise
        # a full disk outside a chapter (the run's record, the preflight's): one line, exit 1
        where = Path(e.filename).parent if e.filename else Path.cwd()
        print(
            f"hoilib: error: {disk_full(f'writing {e.filename or where}', [where])}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt as e:
        where = f" during {e.notebook}" if getattr(e, "notebook", None) else ""
        print(
            f"hoilib: interrupted{where}; the same command resumes (finished stages and chapters "
            "are reused)",
            file=sys.stderr,
        )
        return 130


def _cfg(args):
    return resolve(args.profile, parse_overrides(args.set))


def _run(args, argv) -> int:
    from hoilib.run.runner import run_profile

    t0 = time.time()
    over = parse_overrides(args.set)
    run_profile(args.profile, over, args.only, wait=args.wait, force=args.force)
    print(f"[hoilib] all chapters ran in {time.time() - t0:.0f} s")
    return 0


def _sweep(args, argv) -> int:
    from hoilib.errors import ConfigError
    from hoilib.run.sweep import run_sweep

    if args.plan:
        from hoilib.run.plan import Plan, run_plan

        if args.profiles or args.seeds or args.vary or args.set:
            raise ConfigError(
                "--plan: the plan names the profile, worlds, splits and settings; "
                "give no --profiles, --seeds, --vary or --set with it"
            )
        return run_plan(Plan.load(args.plan), args.worlds, check=args.check)
    if args.worlds or args.check:
        raise ConfigError("--worlds and --check belong to --plan")
    if not args.profiles:
        raise ConfigError("sweep: give --profiles (or --plan)")
    report = run_sweep(
        args.profiles,
        args.seeds,
        parse_overrides(args.set),
        root=args.root,
        only=args.only,
        retry_failed=args.retry_failed,
        vary=parse_vary(args.vary),
    )
    return 1 if report.failures else 0


def _grid(args, argv) -> int:
    from hoilib.config import REPO
    from hoilib.ordering.grid import summarize, table_markdown

    out = REPO / args.out
    if args.plan:
        from hoilib.ordering.scorecard import confirmatory_path
        from hoilib.run.plan import Plan, read_records

        plan = Plan.load(args.plan)
        out = confirmatory_path(plan.name) if args.out == GRID_OUT else out
        meta = {"name": plan.name, "sha256": plan.sha256, "records": plan.records}
        meta["primary_consumer"] = plan.primary_consumer
        summarize(None, out, plan.n_boot, runs=read_records(plan), plan=meta)
    else:
        summarize(REPO / args.root, out, args.n_boot)
    if args.design:
        _design(REPO / args.root, out)
    print(f"{table_markdown(json.loads(out.read_text()))}\n[hoilib] written to {out}")
    return 0


def _design(root: Path, grid_out: Path) -> None:
    """The worlds a confirmatory plan needs, from these runs' spread (``ordering.design``), beside the grid."""
    from hoilib import artifacts
    from hoilib.ordering import design, grid

    rec = json.loads(grid_out.read_text())
    runs = grid.read_runs(root)
    kinds = [c["kind"] for c in rec["controls"]]
    pairs = {
        s: p for s, p in grid.settings(kinds) if s in (f"text-only: {rec['primary']}", grid.HEAD)
    }
    rule = grid.run_claims(runs)
    splits = len({r["split"] for r in runs})
    table = design.design(
        runs, pairs, half_width=grid.TARGET_HALF_WIDTH, level=rule.level, splits=splits
    )
    out = grid_out.with_name(grid_out.stem + "-design.json")
    artifacts.write_json(out, {"splits": splits, "rows": table.to_dict(orient="records")})
    print(table.to_string(index=False))
    print(f"[hoilib] written to {out}")


def _control_search(args, argv) -> int:
    import os
    import subprocess

    from hoilib.config import REPO
    from hoilib.machine import kernel_env

    env = kernel_env(_cfg(args).run.cpu_kernels)
    if env:  # torch picks its CPU kernels at import: search in a child with the chapters'
        line = [sys.executable, "-m", "hoilib", *(sys.argv[1:] if argv is None else argv)]
        return subprocess.run(line, env={**os.environ, **env}).returncode
    from hoilib.run.control_search import search, table

    rec = search(args.profile, parse_overrides(args.set), REPO / args.out)
    print(table(rec).to_string(index=False))
    print(f"[hoilib] written to {REPO / args.out}")
    return 0


def _results(args, argv) -> int:
    from pathlib import Path

    from hoilib.config import REPO
    from hoilib.publish.results_page import results_text

    root = Path(args.root)
    print(results_text(root if root.is_absolute() else REPO / root))
    return 0


def _verify(args, argv) -> int:
    from hoilib.publish.verify import command

    return command(args)


def _book(args, argv) -> int:
    from hoilib.publish.book import build_book

    cfg = _cfg(args)
    t0 = time.time()
    html = build_book(cfg.run.run_dir, args.out)
    print(f"[hoilib] book built in {time.time() - t0:.0f} s: {html / 'index.html'}")
    return 0


def _cache(args, argv) -> int:
    from pathlib import Path

    from hoilib import cache
    from hoilib.config import stage_root
    from hoilib.run.runlock import PRUNE_HINT, run_locks

    cfg = _cfg(args)
    roots = sorted({Path(cfg.run.run_dir).resolve(), stage_root(cfg.run).resolve()})
    base = Path(os.path.commonpath(roots))
    print(f"[hoilib] cache under {base}")
    if args.action == "list":
        print(cache.table(cache.survey(roots), base) or "(nothing cached)")
        return 0
    # a running stage's files have no marker yet (orphans to prune): not while a run holds the folder
    roots = [r for r in roots if r.is_dir()]  # none to lock where none exists (nor any to create)
    with run_locks(roots, wait=args.wait, hint=PRUNE_HINT):
        gone = cache.prune(roots, dry_run=args.dry_run)
    if gone:
        print(cache.table(gone, base))
    verb = "would remove" if args.dry_run else "removed"
    print(f"[hoilib] {verb} {len(gone)} entries, {sum(e.size for e in gone) / 1e6:.1f} MB")
    return 0


def _profiles(args, argv) -> int:
    print("profiles:", ", ".join(list_profiles()))
    for k, f in FIELDS.items():
        d = f.get_default(call_default_factory=True)
        print(f"  {k:20s} {type_name(k):11s} default {d!r:24s} {range_text(k):18s} {f.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
