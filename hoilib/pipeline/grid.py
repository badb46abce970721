"""The synth-grid table: every split, the ordering comparisons, intervals over worlds, seeds and classes.

``hoilib grid --root runs/synth-grid`` reads chapter 5's metrics of every run folder
(one per world seed and split, each with several model seeds), computes each
comparison's per-class AP differences, and gives the mean and a nested-bootstrap
interval (``measure.nested``) per split and mAP column. The result, with where it came
from (commit, machine, folders), is written as JSON; the book's results page shows it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts
from hoilib.chapters.names import CORRECT, WRONG, cell_name, head_name
from hoilib.errors import ConfigError
from hoilib.measure.nested import nested_bootstrap
from hoilib.pipeline.runner import read_provenance

_TEXT, _HEAD, _FIXED = (
    "text-only consumer",
    "EZ-HOI head, strength chosen on validation",
    "EZ-HOI head, t* fixed (design document)",
)
COMPARISONS = [  # (setting, comparison, a, b): the table reports b - a
    (_TEXT, "correct - wrong order (adapted prototypes)", cell_name("adapted", "raw"), cell_name("adapted", "adapted")),
    (_TEXT, "correct - no bridge (adapted prototypes)", cell_name("adapted", "none"), cell_name("adapted", "adapted")),
    (_TEXT, "matched - mismatched (raw prototypes)", cell_name("raw", "adapted"), cell_name("raw", "raw")),
    (_HEAD, "correct - wrong order", head_name("raw"), head_name("adapted")),
    (_HEAD, "correct order - no bridge", head_name("none"), head_name("adapted")),
    (_FIXED, "correct - wrong order", WRONG, CORRECT),
    (_FIXED, "correct order - no bridge", "EZ-HOI, no bridge", CORRECT),
]  # fmt: skip
COLUMNS = ("unseen", "seen", "full")


def read_runs(root: Path) -> list[dict]:
    """(folder, split, world seed, chapter-5 metrics) of every run under ``root`` that reached chapter 5."""
    runs = []
    for cfg_path in sorted(Path(root).glob("*/config.json")):
        folder = cfg_path.parent
        metrics = folder / "metrics" / "05_evaluation.json"
        if not metrics.is_file():
            continue
        cfg = artifacts.read_json(cfg_path, "run configuration")
        params = cfg.get("params", cfg)
        m = artifacts.read_json(metrics, "chapter 5 metrics")["metrics"]
        if "per_class_ap" not in m:
            raise ConfigError(
                f"{metrics}: field 'per_class_ap' missing; expected chapter 5 metrics written by this "
                f"version (rerun the sweep)"
            )
        runs.append(
            {
                "folder": folder.name,
                "split": params["split"],
                "world_seed": int(params["world_seed"]),
                "metrics": m,
                "ap": {  # (method, seed) -> per-class AP, NaN where a class has no test positive
                    (r["method"], r["seed"]): np.array(
                        [np.nan if x is None else x for x in r["ap"]], float
                    )
                    for r in m["per_class_ap"]
                },
                "provenance": read_provenance(folder) or {},
            }
        )
    if not runs:
        raise ConfigError(
            f"{root}: no run folder with metrics/05_evaluation.json; run the sweep first"
        )
    return runs


def _diffs(run: dict, a: str, b: str, col: str) -> np.ndarray | None:
    """(seeds, classes) per-class AP differences b - a in points, on the column's classes with positives."""
    ap = run["ap"]
    seeds = sorted({s for m, s in ap if m == b} & {s for m, s in ap if m == a})
    if not seeds:
        return None
    d = np.stack([ap[(b, s)] - ap[(a, s)] for s in seeds]) * 100
    n = d.shape[1]
    unseen = np.zeros(n, bool)
    unseen[run["metrics"]["unseen_classes"]] = True
    mask = {"unseen": unseen, "seen": ~unseen, "full": np.ones(n, bool)}[col]
    keep = mask & ~np.isnan(d).any(axis=0)
    return d[:, keep] if keep.any() else None


def grid_table(runs: list[dict], n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (split, setting, comparison, column): mean, interval and the runs behind it."""
    rows = []
    for split in sorted({r["split"] for r in runs}):
        here = sorted((r for r in runs if r["split"] == split), key=lambda r: r["world_seed"])
        for setting, comparison, a, b in COMPARISONS:
            for col in COLUMNS:
                diffs = [d for r in here if (d := _diffs(r, a, b, col)) is not None]
                if not diffs:
                    continue
                res = nested_bootstrap(diffs, n_boot=n_boot, seed=seed)
                rows.append(
                    {"split": split, "setting": setting, "comparison": comparison, "column": col}
                    | res
                )
    return pd.DataFrame(rows)


def summarize(root: str | Path, out: str | Path, n_boot: int = 2000) -> pd.DataFrame:
    """Read the runs, build the table, write it with its provenance to ``out`` (JSON, atomically)."""
    runs = read_runs(Path(root))
    table = grid_table(runs, n_boot)
    provs = [r["provenance"] for r in runs]
    record = {
        "root": str(root),
        "runs": [{k: r[k] for k in ("folder", "split", "world_seed")} for r in runs],
        "commits": sorted({str((p.get("git") or {}).get("commit")) for p in provs}),
        "dirty": any((p.get("git") or {}).get("dirty") for p in provs),
        "machines": sorted({str((p.get("machine") or {}).get("cpu")) for p in provs}),
        "n_boot": n_boot,
        "rows": table.to_dict(orient="records"),
    }
    artifacts.write_json(Path(out), record)
    return table


def table_markdown(record: dict) -> str:
    """The grid as MyST: one table per setting, rows (comparison, split), cells 'mean [lo, hi]'."""
    df = pd.DataFrame(record["rows"])
    parts = []
    for setting, sub in df.groupby("setting", sort=False):
        sub = sub.assign(
            cell=[
                f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]" for m, lo, hi in sub[["mean", "lo", "hi"]].values
            ]
        )
        wide = sub.pivot_table(
            index=["comparison", "split"],
            columns="column",
            values="cell",
            aggfunc="first",
            sort=False,
        )
        wide = wide[[c for c in COLUMNS if c in wide.columns]].reset_index()
        wide.columns = [c if c not in COLUMNS else f"{c.title()} mAP" for c in wide.columns]
        parts += [f"### {setting}", "", wide.to_markdown(index=False), ""]
    return "\n".join(parts)
