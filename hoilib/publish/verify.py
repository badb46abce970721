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

The comparison is ``stored_numbers``'s (the pinned test's too). A run of another profile than the
record's is refused in one line: its numbers differ by design.

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
from hoilib.publish import stored_numbers
from hoilib.publish.key_numbers import chapter_metrics

# largest |shift| from the published value over the six CPU-kernel settings of the Reproducing
# page's table (chapter 1, synth, seed 0): gap 0.9303-0.9328, Full 30.48-30.66, Unseen 33.21-33.97
SINGLE_RUN_SHIFT = {"gap": 0.0025, "full": 0.15, "unseen": 0.76}
COLUMNS = ("full", "unseen")


@dataclass(kw_only=True)
class Number:
    """One headline number: its value, tolerance (None: must be equal) and why that tolerance."""

    name: str
    value: float | str | bool
    tolerance: float | None
    basis: str


def _t_half(values: list[float]) -> float:
    """Half-width of the Student-t 95% interval of the mean of ``values`` (0 for one value)."""
    ci = t_interval(values, level=0.95)  # the published 95% interval
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
                    name=f"{where}: {method}, {col.capitalize()} mAP",
                    value=sum(vals) / len(vals),
                    tolerance=tol,
                    basis=basis,
                )
            )
    return out


def _contrasts(rows: list[dict], where: str, label) -> list[Number]:
    out = []
    for r in rows:
        name = f"{where}: {label(r)}, {r['contrast']}, {r['column']}"
        out.append(
            Number(
                name=name,
                value=float(r["mean"]),
                tolerance=(r["hi"] - r["lo"]) / 2,
                basis="published 95% interval",
            )
        )
        out.append(
            Number(name=f"{name}, verdict", value=r["verdict"], tolerance=None, basis="exact")
        )
    return out


def run_numbers(run_dir: Path) -> list[Number]:
    """The headline numbers of a run of the default book (chapters 1, 2 and 5)."""
    ch1, ch2, ch5 = (
        chapter_metrics(run_dir, c)
        for c in ("01_modality_gap", "02_ezhoi_training", "05_evaluation")
    )
    nums = [
        Number(
            name="ch1: centroid gap",
            value=ch1["gap"]["centroid_gap_norm"],
            tolerance=SINGLE_RUN_SHIFT["gap"],
            basis="single-run shift",
        ),
        *(
            Number(
                name=f"ch1: frozen CLIP, {c.capitalize()} mAP",
                value=ch1["zero_shot"]["union crops"][c],
                tolerance=SINGLE_RUN_SHIFT[c],
                basis="single-run shift",
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
                name=f"{name}, test Unseen gain",
                value=c["test Unseen gain"],
                tolerance=half,
                basis="published 95% interval",
            ),
            Number(name=f"{name}, passes", value=bool(c["passes"]), tolerance=None, basis="exact"),
        ]
    return nums


def grid_numbers(grid_path: Path) -> list[Number]:
    """The synth-grid's pooled contrasts (every setting, contrast and column) and its controls."""
    g = artifacts.read_json(grid_path, "synth-grid record")
    pooled = [r for r in g["rows"] if r["split"] == "pooled"]
    nums = _contrasts(pooled, "grid pooled", lambda r: r["setting"])
    for c in g["controls"]:
        nums.append(
            Number(
                name=f"grid control: {c['kind']}, passes",
                value=bool(c["passes"]),
                tolerance=None,
                basis="exact",
            )
        )
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


def as_record(numbers: list[dict]) -> dict[str, dict]:
    """The published list of numbers as the comparator's record, {name: {value, tolerance, basis}}."""
    return {n["name"]: {k: n[k] for k in ("value", "tolerance", "basis")} for n in numbers}


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _mark(got: dict, name: str, spec: dict) -> str:
    """== the published digits, ok within the tolerance, XX outside (or missing)."""
    if name not in got:
        return "XX"
    if stored_numbers.identical(got[name], spec["value"]):
        return "=="
    return "ok" if stored_numbers.within(got[name], spec) else "XX"


def report(got: dict, record: dict[str, dict], *, exact: bool = False) -> tuple[list[str], bool]:
    """The lines a reader reads (each number, the summary, then one line per number outside)
    and whether the build passes."""
    lines = [f"{'':2} {'published':>12} {'yours':>12} {'tolerance':>9}  number (tolerance from)"]
    same = inside = 0
    for name, spec in record.items():
        yours = got.get(name)
        mark = _mark(got, name, spec)
        same, inside = same + (mark == "=="), inside + (mark == "ok")
        tol = "exact" if spec["tolerance"] is None else f"±{spec['tolerance']:.3g}"
        lines.append(
            f"{mark:2} {_fmt(spec['value']):>12} {_fmt(yours):>12} {tol:>9}  {name} "
            f"({spec['basis']})"
        )
    bad = stored_numbers.mismatches(got, record)
    ok = not bad and (not exact or same == len(record))
    extra = sum(name not in record for name in got)
    lines.append(
        f"{same} of {len(record)} numbers identical to the published digits (==), "
        f"{inside} within tolerance (ok), {len(record) - same - inside} outside (XX)"
        + (f", {extra} of yours not in the record" if extra else "")
        + ("; --exact asks for every digit" if exact and same < len(record) else "")
    )
    return lines + [f"outside: {line}" for line in bad], ok


def _same_profile(run_dir: Path, prov: dict, record_path: Path, *, published: str | None) -> None:
    """Refuse, in one line, a run of another profile than the published one: its numbers differ
    by design, so a number-by-number list would only bury that."""
    yours = prov.get("profile")
    if yours == published:
        return
    where = run_dir / "provenance.json"
    said = f"profile {yours!r}" if yours else "no profile (not a run of `hoilib run`?)"
    raise HoiBookError(
        f"{where}: {said}, but {record_path} holds the {published!r} profile's numbers; "
        f"verify a run of that profile (hoilib run --profile {published})"
    )


def verify(
    record_path: Path, run_dir: Path, grid_path: Path | None, *, exact: bool = False
) -> tuple[list[str], bool]:
    """Compare a run (and, when given, a rebuilt synth-grid record) with the published record."""
    record = artifacts.read_json(record_path, "published record (results/published.json)")
    if not (Path(run_dir) / "metrics").is_dir():
        raise HoiBookError(f"{run_dir} holds no metrics/: run the book first (make book)")
    pub = record["run"]
    yours = read_provenance(run_dir) or {}
    _same_profile(Path(run_dir), yours, record_path, published=pub.get("profile"))
    head = [
        f"published: commit {str((pub.get('git') or {}).get('commit'))[:10]}, {pub.get('cpu')} "
        f"(torch {pub.get('torch_cpu_capability')}, {pub.get('torch_threads')} threads)"
    ]
    m = yours.get("machine") or {}
    head.append(
        f"yours:     commit {str((yours.get('git') or {}).get('commit'))[:10]}, {m.get('cpu')} "
        f"(torch {m.get('torch_cpu_capability')}, {m.get('torch_threads')} threads), {run_dir}"
    )
    got = {n.name: n.value for n in run_numbers(run_dir)}
    published = as_record(record["numbers"])
    if grid_path is not None:
        got |= {n.name: n.value for n in grid_numbers(grid_path)}
        published |= as_record(record["grid"]["numbers"])
    else:
        head.append(
            "the synth-grid's pooled contrasts: not checked (pass --grid with your `hoilib grid` output)"
        )
    lines, ok = report(got, published, exact=exact)
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
    lines, ok = verify(path(args.record), path(args.run), path(args.grid), exact=args.exact)
    print("\n".join(lines))
    return 0 if ok else 1
