"""Does a reader's build reproduce the published one? ``hoilib verify`` (``make verify``).

The published build's headline numbers (chapters 1, 2 and 5, and the synth-grid's pooled
contrasts) are committed in ``results/published.json`` with a tolerance each, written by
``hoilib verify --write`` from the run the book was published from. A reader's run is
compared number by number; the command exits 1 when any number lies outside its tolerance
or any verdict differs.

The tolerance of a number is the uncertainty the book itself states for it, so a rebuild within
it cannot change a conclusion the book draws:

* a contrast: the half-width of its published 95% interval (model seeds and classes; for the grid
  also world seeds);
* a mean over model seeds: the half-width of the Student-t 95% interval over those seeds, and at
  least the single-run shift below;
* a single run's number (frozen CLIP's mAP, the centroid gap): the largest move that
  ``benchmarks/cpu_dispatch.py`` measured across CPU-kernel settings for that quantity (the table
  on the Reproducing page: six settings, one 2-core AMD EPYC, torch 2.14.1);
* a verdict, or whether a control passes: exact.

Digits equal to the published ones are expected under ``run.cpu_kernels: portable`` on an
x86-64 CPU with AVX2 and the locked packages (measured on an AMD EPYC and an Intel Xeon, not
promised); the report counts them, and ``--exact`` demands them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hoilib import artifacts
from hoilib.errors import HoiBookError
from hoilib.machine import cpu_model
from hoilib.measure.effects import t_interval
from hoilib.provenance import git_state, read_provenance, utc_now

# largest |shift| from the published value over the six CPU-kernel settings of the Reproducing
# page's table (chapter 1, synth, seed 0): gap 0.9303-0.9328, Full 30.48-30.66, Unseen 33.21-33.97
SINGLE_RUN_SHIFT = {"gap": 0.0025, "full": 0.15, "unseen": 0.76}
COLUMNS = ("full", "unseen")


@dataclass
class Number:
    """One headline number: its value, tolerance (None: must be equal) and why that tolerance."""

    name: str
    value: float | str | bool
    tolerance: float | None
    basis: str


def _t_half(values: list[float]) -> float:
    """Half-width of the Student-t 95% interval of the mean of ``values`` (0 for one value)."""
    ci = t_interval(values)
    return 0.0 if len(values) < 2 else (ci["hi"] - ci["lo"]) / 2


def _seed_means(rows: list[dict], key: str, where: str) -> list[Number]:
    """The mean over seeds of each method's Full and Unseen mAP in ``rows`` (one row per seed)."""
    out = []
    for method in dict.fromkeys(r[key] for r in rows):
        mine = [r for r in rows if r[key] == method]
        for col in COLUMNS:
            vals = [float(r[col]) for r in mine]
            half = _t_half(vals)
            tol = max(half, SINGLE_RUN_SHIFT[col])
            basis = (
                f"t-interval over {len(vals)} model seeds"
                if half > SINGLE_RUN_SHIFT[col]
                else "single-run shift"
            )
            out.append(
                Number(
                    f"{where}: {method}, {col.capitalize()} mAP", sum(vals) / len(vals), tol, basis
                )
            )
    return out


def _contrasts(rows: list[dict], where: str, label) -> list[Number]:
    out = []
    for r in rows:
        name = f"{where}: {label(r)}, {r['contrast']}, {r['column']}"
        out.append(
            Number(name, float(r["mean"]), (r["hi"] - r["lo"]) / 2, "published 95% interval")
        )
        out.append(Number(f"{name}, verdict", r["verdict"], None, "exact"))
    return out


def _metrics(run_dir: Path, chapter: str) -> dict:
    path = Path(run_dir) / "metrics" / f"{chapter}.json"
    return artifacts.read_json(path, f"chapter {chapter}'s metrics (run it first)")["metrics"]


def run_numbers(run_dir: Path) -> list[Number]:
    """The headline numbers of a run of the default book (chapters 1, 2 and 5)."""
    ch1, ch2, ch5 = (
        _metrics(run_dir, c) for c in ("01_modality_gap", "02_ezhoi_training", "05_evaluation")
    )
    nums = [
        Number(
            "ch1: centroid gap",
            ch1["gap"]["centroid_gap_norm"],
            SINGLE_RUN_SHIFT["gap"],
            "single-run shift",
        ),
        *(
            Number(
                f"ch1: frozen CLIP, {c.capitalize()} mAP",
                ch1["zero_shot"]["union crops"][c],
                SINGLE_RUN_SHIFT[c],
                "single-run shift",
            )
            for c in COLUMNS
        ),
        *_seed_means(ch2["runs"], "model", "ch2 model"),
        *_seed_means(ch5["per_seed"], "method", "ch5"),
        *_contrasts(ch5["verdict_fixed"], "ch5 fixed t*", lambda r: "EZ-HOI"),
        *_contrasts(ch5["verdict_head"], "ch5 validated", lambda r: "EZ-HOI head"),
    ]
    for c in ch5["controls"]:
        name = f"ch5 control: {c['consumer']} {c['kind']} ({c['validation classes']})"
        half = (c["hi"] - c["lo"]) / 2
        nums += [
            Number(
                f"{name}, test Unseen gain", c["test Unseen gain"], half, "published 95% interval"
            ),
            Number(f"{name}, passes", bool(c["passes"]), None, "exact"),
        ]
    return nums


def grid_numbers(grid_path: Path) -> list[Number]:
    """The synth-grid's pooled contrasts (every setting, contrast and column) and its controls."""
    g = artifacts.read_json(grid_path, "synth-grid record")
    pooled = [r for r in g["rows"] if r["split"] == "pooled"]
    nums = _contrasts(pooled, "grid pooled", lambda r: r["setting"])
    for c in g["controls"]:
        nums.append(Number(f"grid control: {c['kind']}, passes", bool(c["passes"]), None, "exact"))
    return nums


def write_record(run_dir: Path, grid_path: Path, out: Path) -> Path:
    """``results/published.json``: the numbers of the run the book is published from, with where
    it ran, so a reader's build can be compared with it."""
    prov = read_provenance(run_dir) or {}
    machine = prov.get("machine") or {}
    record = {
        "written_utc": utc_now(),
        "command": "python -m hoilib verify --write --run <run folder> --grid <grid JSON>",
        "run": {
            "profile": prov.get("profile"),
            "git": prov.get("git") or git_state(),
            "cpu": machine.get("cpu") or cpu_model(),
            "torch_cpu_capability": machine.get("torch_cpu_capability"),
            "torch_threads": machine.get("torch_threads"),
        },
        "numbers": [asdict(n) for n in run_numbers(run_dir)],
        "grid": {
            "commits": artifacts.read_json(grid_path, "synth-grid record").get("commits"),
            "numbers": [asdict(n) for n in grid_numbers(grid_path)],
        },
    }
    return artifacts.write_json(out, record)


@dataclass
class Check:
    name: str
    published: float | str | bool
    yours: float | str | bool | None
    tolerance: float | None
    basis: str

    @property
    def identical(self) -> bool:
        return self.yours == self.published

    @property
    def within(self) -> bool:
        if self.yours is None:
            return False
        if self.tolerance is None or isinstance(self.published, (str, bool)):
            return self.identical
        return abs(float(self.yours) - float(self.published)) <= self.tolerance + 1e-12


def compare(published: list[dict], yours: list[Number]) -> list[Check]:
    mine = {n.name: n.value for n in yours}
    return [
        Check(p["name"], p["value"], mine.get(p["name"]), p["tolerance"], p["basis"])
        for p in published
    ]


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def report(checks: list[Check], exact: bool = False) -> tuple[list[str], bool]:
    """The lines a reader reads (each number, then the summary) and whether the build passes."""
    lines = [f"{'':2} {'published':>12} {'yours':>12} {'tolerance':>9}  number (tolerance from)"]
    for c in checks:
        mark = "==" if c.identical else "ok" if c.within else "XX"
        tol = "exact" if c.tolerance is None else f"±{c.tolerance:.3g}"
        lines.append(
            f"{mark:2} {_fmt(c.published):>12} {_fmt(c.yours):>12} {tol:>9}  {c.name} ({c.basis})"
        )
    outside = [c for c in checks if not c.within]
    same = sum(c.identical for c in checks)
    ok = not outside and (not exact or same == len(checks))
    lines.append(
        f"{same} of {len(checks)} numbers identical to the published digits (==), "
        f"{len(checks) - same - len(outside)} within tolerance (ok), {len(outside)} outside (XX)"
        + ("; --exact asks for every digit" if exact and same < len(checks) else "")
    )
    if outside:
        lines.append(
            "outside: "
            + "; ".join(f"{c.name} ({_fmt(c.yours)} vs {_fmt(c.published)})" for c in outside[:5])
        )
    return lines, ok


def verify(
    record_path: Path, run_dir: Path, grid_path: Path | None, exact: bool = False
) -> tuple[list[str], bool]:
    """Compare a run (and, when given, a rebuilt synth-grid record) with the published record."""
    record = artifacts.read_json(record_path, "published record (results/published.json)")
    if not (Path(run_dir) / "metrics").is_dir():
        raise HoiBookError(f"{run_dir} holds no metrics/: run the book first (make book)")
    pub = record["run"]
    head = [
        f"published: commit {str((pub.get('git') or {}).get('commit'))[:10]}, {pub.get('cpu')} "
        f"(torch {pub.get('torch_cpu_capability')}, {pub.get('torch_threads')} threads)"
    ]
    yours = read_provenance(run_dir) or {}
    m = yours.get("machine") or {}
    head.append(
        f"yours:     commit {str((yours.get('git') or {}).get('commit'))[:10]}, {m.get('cpu')} "
        f"(torch {m.get('torch_cpu_capability')}, {m.get('torch_threads')} threads), {run_dir}"
    )
    checks = compare(record["numbers"], run_numbers(run_dir))
    if grid_path is not None:
        checks += compare(record["grid"]["numbers"], grid_numbers(grid_path))
    else:
        head.append(
            "the synth-grid's pooled contrasts: not checked (pass --grid with your `hoilib grid` output)"
        )
    lines, ok = report(checks, exact)
    return head + lines, ok


def command(args) -> int:
    """``hoilib verify``: print the comparison and return the exit status (or ``--write`` the record)."""
    from hoilib.config import REPO

    def path(p):
        return None if p is None else Path(p) if Path(p).is_absolute() else REPO / p

    if args.write:
        out = write_record(
            path(args.run), path(args.grid or "results/synth-grid.json"), path(args.record)
        )
        print(f"[hoilib] published record written to {out}")
        return 0
    lines, ok = verify(path(args.record), path(args.run), path(args.grid), args.exact)
    print("\n".join(lines))
    return 0 if ok else 1
