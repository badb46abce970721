"""The confirmatory plan: ``results/plan.yaml`` read and checked, its runs made, one committed record each.

The plan is committed before any run it decides (``git log`` shows it), so its worlds,
splits, seeds, consumers, gate, strength rule, contrasts and inference cannot be fitted to
what the runs show. ``hoilib sweep --plan results/plan.yaml`` runs its worlds x splits
through chapter 5 (resumable: a finished run is skipped) and writes one small record per
world x split under the plan's ``records`` folder: chapter 5's numbers the grid reads, the
plan's hash, the commit, the machine and the code digests of every stage that produced it.
The records are committed, so the sweep can span sessions and machines. ``hoilib grid
--plan`` reads them and refuses a record made under another plan or another version of the
stages' code; ``--check`` reruns worlds and compares them with the committed records digit
for digit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from hoilib import artifacts
from hoilib.config import REPO, resolve
from hoilib.errors import ConfigError

# the fields a plan must give, with what each must be
FIELDS = {
    "name": str,
    "profile": str,
    "root": str,
    "records": str,
    "world_seeds": list,
    "splits": list,
    "model_seeds": list,
    "set": dict,
    "primary_consumer": str,
    "n_boot": int,
    "target_half_width": (int, float),
    "rules": dict,
}
# chapter 5's per-class APs a record keeps: the grid's settings and EZ-HOI against frozen CLIP
KEEP_METHODS = ("EZ-HOI, no bridge", "frozen CLIP, no bridge")
# the code whose version a record names: the stages (``codekey.STAGES``) and chapter 5's tables
TABLES_CODE = ("hoilib.ordering.experiment", "hoilib.ordering.common")


@dataclass(frozen=True)
class Plan:
    path: Path
    sha256: str
    fields: dict

    def __getattr__(self, name):
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """The plan at ``path``, each field checked; a bad one is a one-line ConfigError naming it."""
        path = Path(path)
        if not path.is_absolute():
            path = REPO / path
        if not path.is_file():
            raise ConfigError(
                f"{path}: no plan there; expected a YAML file such as results/plan.yaml"
            )
        raw = path.read_bytes()
        try:
            fields = yaml.safe_load(raw) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({type(e).__name__})") from e
        if not isinstance(fields, dict):
            raise ConfigError(
                f"{path}: expected a mapping of the plan's fields, got {type(fields).__name__}"
            )
        for k, t in FIELDS.items():
            if not isinstance(fields.get(k), t):
                want = t.__name__ if isinstance(t, type) else "a number"
                raise ConfigError(f"{path}: field {k!r}: expected {want}, got {fields.get(k)!r}")
        for k in ("world_seeds", "model_seeds"):
            v = fields[k]
            if not v or not all(isinstance(x, int) and x >= 0 for x in v) or len(set(v)) != len(v):
                raise ConfigError(
                    f"{path}: field {k!r}: expected distinct non-negative integers, got {v!r}"
                )
        cfg = resolve(fields["profile"], dict(fields["set"]))
        seeds = list(fields["model_seeds"])
        if seeds != list(cfg.ezhoi.seeds) and len(seeds) != 1:
            raise ConfigError(
                f"{path}: field 'model_seeds': expected the profile's ezhoi.seeds "
                f"{list(cfg.ezhoi.seeds)} or one seed, got {seeds!r}"
            )
        for s in fields["splits"]:  # each split validated as the profile would take it
            resolve(fields["profile"], {**fields["set"], "world.split": s})
        return cls(path=path, sha256=hashlib.sha256(raw).hexdigest(), fields=fields)

    @property
    def records_dir(self) -> Path:
        return REPO / self.records

    def cells(self, worlds: list[int] | None = None) -> list[tuple[int, str]]:
        """(world seed, split) of every run the plan makes, or of ``worlds`` (each must be the plan's)."""
        chosen = self.world_seeds if worlds is None else worlds
        stray = sorted(set(chosen) - set(self.world_seeds))
        if stray:
            raise ConfigError(
                f"{self.path}: --worlds {stray}: not in the plan's world_seeds {self.world_seeds}"
            )
        return [(w, s) for w in chosen for s in self.splits]


def record_name(world: int, split: str) -> str:
    return f"world{world}-{split}.json"


def code_version() -> dict:
    """The digests of the code that produces a record: every stage's and chapter 5's tables'."""
    from hoilib import codekey

    return {
        **{s: codekey.stage_digest(s) for s in codekey.STAGES},
        "chapter 5 tables": codekey.code_digest(list(TABLES_CODE)),
    }


def record_of(run_dir: Path, plan: Plan) -> dict:
    """The committed record of one finished run: what the grid reads, and where it came from."""
    saved = artifacts.read_json(run_dir / "config.json", "run configuration")
    params = saved.get("params", saved)
    m = artifacts.read_json(run_dir / "metrics" / "05_evaluation.json", "chapter 5 metrics")[
        "metrics"
    ]
    prov = artifacts.read_json(run_dir / "provenance.json", "run provenance")
    methods = _grid_methods(m)
    return {
        "plan": {"name": plan.name, "sha256": plan.sha256},
        "world_seed": int(params["world"]["seed"]),
        "split": params["world"]["split"],
        "claims": params["claims"],
        "code": code_version(),
        "commit": (prov.get("git") or {}).get("commit"),
        "dirty": bool((prov.get("git") or {}).get("dirty")),
        "machine": {k: (prov.get("machine") or {}).get(k) for k in ("cpu", "arch", "logical_cpus")},
        "cpu_kernels": params["run"].get("cpu_kernels"),
        "metrics": {
            "unseen_classes": m["unseen_classes"],
            "controls": m["controls"],
            "per_class_ap": [r for r in m["per_class_ap"] if r["method"] in methods],
            "per_seed": [r for r in m["per_seed"] if r["method"] in methods],
            "common_strength": m.get("common_strength", []),
        },
    }


def _grid_methods(m: dict) -> set[str]:
    """The rows the grid's settings compare (``ordering.grid.settings``), and EZ-HOI and frozen CLIP."""
    from hoilib.ordering.grid import settings

    kinds = list(dict.fromkeys(c["kind"] for c in m["controls"]))
    return {x for _, pairs in settings(kinds) for ab in pairs.values() for x in ab} | set(
        KEEP_METHODS
    )


def write_record(run_dir: Path, plan: Plan, world: int, split: str) -> Path:
    """Write one run's record into the plan's records folder (atomically)."""
    rec = record_of(run_dir, plan)
    if (rec["world_seed"], rec["split"]) != (world, split):
        raise ConfigError(
            f"{run_dir}: config.json: expected world {world} split {split}, got world "
            f"{rec['world_seed']} split {rec['split']}"
        )
    return artifacts.write_json(plan.records_dir / record_name(world, split), rec)


def same_record(a: dict, b: dict) -> list[str]:
    """Where two records of one world x split differ in what the grid reads (empty: digit for digit)."""
    out = []
    for k in ("world_seed", "split", "claims"):
        if a[k] != b[k]:
            out.append(k)
    for k in a["metrics"]:
        if json.dumps(a["metrics"][k], sort_keys=True) != json.dumps(
            b["metrics"].get(k), sort_keys=True
        ):
            out.append(f"metrics.{k}")
    return out


def read_records(plan: Plan) -> list[dict]:
    """The plan's committed records as the grid reads runs; refused when made under another plan or code."""
    from hoilib.config.schema import ClaimsCfg

    paths = sorted(plan.records_dir.glob("world*-*.json"))
    if not paths:
        raise ConfigError(
            f"{plan.records_dir}: no record; run hoilib sweep --plan {plan.path.name}"
        )
    now = code_version()
    runs = []
    for p in paths:
        rec = artifacts.read_json(p, "confirmatory record")
        if rec.get("plan", {}).get("sha256") != plan.sha256:
            raise ConfigError(
                f"{p}: field 'plan.sha256': expected this plan's {plan.sha256[:12]}, got "
                f"{str(rec.get('plan', {}).get('sha256'))[:12]} (made under another plan)"
            )
        moved = sorted(k for k, v in now.items() if (rec.get("code") or {}).get(k) != v)
        if moved:
            raise ConfigError(
                f"{p}: field 'code': made by another version of {', '.join(moved)}; rerun it "
                f"(hoilib sweep --plan) at this code"
            )
        import numpy as np

        m = rec["metrics"]
        runs.append(
            {
                "folder": p.stem,
                "claims": ClaimsCfg(**rec["claims"]),
                "split": rec["split"],
                "world_seed": int(rec["world_seed"]),
                "metrics": m,
                "ap": {
                    (r["method"], r["seed"]): np.array(
                        [np.nan if x is None else x for x in r["ap"]], float
                    )
                    for r in m["per_class_ap"]
                },
                "provenance": {
                    "git": {"commit": rec["commit"], "dirty": rec["dirty"]},
                    "machine": rec["machine"],
                },
            }
        )
    return runs


def run_plan(plan: Plan, worlds: list[int] | None = None, *, check: bool = False, log=print) -> int:
    """Run the plan's worlds x splits through chapter 5 and, as each finishes, write its record (or,
    with ``check``, compare it with the committed one).

    Returns the exit status: 0 when every run finished (and, checking, matched its committed
    record digit for digit), 1 otherwise.
    """
    from hoilib.run.sweep import run_sweep

    cells = plan.cells(worlds)
    ws = list(dict.fromkeys(w for w, _ in cells))
    differ: list[str] = []

    def done(run_dir: Path, varied: dict) -> None:
        w, s = int(varied["world.seed"]), str(varied["world.split"])
        if not check:
            log(f"[plan] record {write_record(run_dir, plan, w, s).name} written")
            return
        committed = artifacts.read_json_or_none(plan.records_dir / record_name(w, s))
        diff = (
            ["no committed record"]
            if committed is None
            else same_record(record_of(run_dir, plan), committed)
        )
        log(
            f"[plan] world {w} {s}: "
            + ("identical to the committed record" if not diff else f"DIFFERS in {', '.join(diff)}")
        )
        differ.extend(diff)

    # the profile's seeds in one folder per world x split, or one seed the sweep sets (run.seed and
    # ezhoi.seeds) in a folder named for it
    one = (
        None
        if list(plan.model_seeds) == list(resolve(plan.profile).ezhoi.seeds)
        else plan.model_seeds
    )
    report = run_sweep(
        [plan.profile],
        one,
        dict(plan.set),
        root=plan.root,
        only=["05"],
        log=log,
        vary={"world.seed": ws, "world.split": list(plan.splits)},
        on_done=done,
    )
    return 1 if report.failures or differ else 0
