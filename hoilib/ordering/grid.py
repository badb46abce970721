"""The synth-grid table: every split and all splits pooled, each contrast judged at the design document's size.

``hoilib grid --root runs/synth-grid`` reads chapter 5's metrics of every run folder (a
world seed and split, several model seeds). Each contrast of every consumer and setting,
per split and pooled, gets one inference procedure with the world as the unit: a Student-t
interval and its p over the world means (W - 1 degrees of freedom), and the verdict
(``measure.effects``) reads that interval and that p against the predicted size. A
nested bootstrap (worlds, seeds, classes) stands beside it with its Monte Carlo error; it
decides nothing.

The positive control is read first, pooled, on validation only: a consumer passes when its
consistent bridge gains the claims section's ``control_margin`` (the runs' own, one for all) on
the validation images (mean over runs); its pooled Unseen test gain is reported, never gating.
The primary consumer is the passing one with the largest validation gain; Holm's
correction runs over its three pooled Unseen contrasts. The record says how many worlds give that
answer's interval a half-width of ``TARGET_HALF_WIDTH`` points. The pool of the worlds other than
world 0 (``NEW_WORLDS``), which nobody saw while the rules took shape, stands beside it.
``table_markdown`` shows the record as the book does. The module is longer than 300 lines because
the grid's summary and the one way it is shown are one concept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hoilib import artifacts
from hoilib.config import flat_view
from hoilib.config.schema import ClaimsCfg
from hoilib.errors import ConfigError
from hoilib.measure.effects import excludable, t_interval, verdict, worlds_needed
from hoilib.measure.nested import pooled_bootstrap
from hoilib.measure.paired import holm
from hoilib.ordering.labels import FROZEN_CLIP, NONE, UNSEEN_FIRST, fixed_pairs
from hoilib.provenance import read_provenance

FIRST_LOOK = 0  # the world seed the developer saw while chapter 5's rules took shape
NEW_WORLDS = "pooled, worlds other than 0"  # the pool the rules could not have been fitted to
TARGET_HALF_WIDTH = 1.5  # points: the pooled Unseen interval the issue asks the grid to reach
HEAD = "EZ-HOI head, strength chosen on validation"
NO_INTERVAL = "one world: no interval"  # the verdict of a row whose world is its only unit
EZHOI_VS_CLIP = "EZ-HOI against frozen CLIP"  # the design document assumes EZ-HOI helps; no size
EZHOI_GAIN = "EZ-HOI - frozen CLIP"
NO_PREDICTION = "measured (no predicted size)"
COMMON = "correct - wrong, common strength"  # the plan's secondary strength rule (ordering.common)
SEED_FREE = (FROZEN_CLIP.label,)
FIXED = "EZ-HOI head, t* fixed (design document)"


def effect_text(mean, lo, hi) -> str:
    """``+m [+lo, +hi]``, or ``+m (one world)`` where the world as the unit gives no interval."""
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:+.2f} (one world)"
    return f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def settings(kinds) -> list[tuple[str, dict]]:
    """(setting, {contrast: (a, b)}) of every consumer kind, EZ-HOI's head and the fixed-t* rows."""
    from hoilib.ordering import claims  # the claims' names and sizes, without torch at import

    out = [(f"text-only: {k}", claims.text_pairs(k)) for k in kinds] + [(HEAD, claims.head_pairs())]
    return [
        *out,
        (FIXED, fixed_pairs()),
        (EZHOI_VS_CLIP, {EZHOI_GAIN: (FROZEN_CLIP.label, NONE.label)}),
    ]


def read_runs(root: Path) -> list[dict]:
    """(folder, split, world seed, chapter-5 metrics) of every run under ``root`` that reached chapter 5."""
    runs = []
    for cfg_path in sorted(Path(root).glob("*/config.json")):
        folder = cfg_path.parent
        metrics = folder / "metrics" / "05_evaluation.json"
        if not metrics.is_file():
            continue
        saved = artifacts.read_json(cfg_path, "run configuration")
        params = flat_view(saved.get("params", saved))
        m = artifacts.read_json(metrics, "chapter 5 metrics")["metrics"]
        for need in ("per_class_ap", "controls"):
            if need not in m:
                raise ConfigError(
                    f"{metrics}: field {need!r} missing; expected chapter 5 metrics written by this "
                    f"version (rerun the sweep)"
                )
        ap = {
            (r["method"], r["seed"]): np.array([np.nan if x is None else x for x in r["ap"]], float)
            for r in m["per_class_ap"]
        }
        # a run saved before the claims section existed ran under its defaults
        made = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("claims.")}
        runs.append(
            {
                "folder": folder.name,
                "claims": ClaimsCfg(**made),
                "split": params["world.split"],
                "world_seed": int(params["world.seed"]),
                "metrics": m,
                "ap": ap,
                "provenance": read_provenance(folder) or {},
            }
        )
    if not runs:
        raise ConfigError(f"{root}: no run folder with metrics/05_evaluation.json; run the sweep")
    return runs


def run_diffs(run: dict, a: str, b: str, *, col: str) -> np.ndarray | None:
    """(seeds, classes) per-class AP differences b - a in points, on the column's classes with positives."""
    ap = run["ap"]
    if a in SEED_FREE:  # frozen CLIP trains nothing: its one row stands for every seed of b
        one = next((v for (m, _), v in ap.items() if m == a), None)
        ap = {**ap, **{(a, s): one for m, s in list(ap) if m == b and one is not None}}
    seeds = sorted({s for m, s in ap if m == b} & {s for m, s in ap if m == a})
    if not seeds:
        return None
    d = np.stack([ap[(b, s)] - ap[(a, s)] for s in seeds]) * 100
    unseen = np.zeros(d.shape[1], bool)
    unseen[run["metrics"]["unseen_classes"]] = True
    cols = {"unseen": unseen, "seen": ~unseen, "full": np.ones_like(unseen)}
    keep = cols[col] & ~np.isnan(d).any(axis=0)
    return d[:, keep] if keep.any() else None


def _by_world(runs, split) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in runs:
        if split in ("pooled", r["split"]) or (
            split == NEW_WORLDS and r["world_seed"] != FIRST_LOOK
        ):
            out.setdefault(r["world_seed"], []).append(r)
    return out


def splits(runs) -> list[str]:
    """'pooled', then the pool of the worlds nobody looked at first (when the grid has both), then each split."""
    worlds = {r["world_seed"] for r in runs}
    fresh = [NEW_WORLDS] if FIRST_LOOK in worlds and len(worlds) > 1 else []
    return ["pooled", *fresh, *sorted({r["split"] for r in runs})]


def effect(runs: list[dict], split: str, a: str, *, b: str, col: str, n_boot: int) -> dict | None:
    """One contrast over the worlds of ``split`` ('pooled': all splits): both intervals and their union."""
    worlds = []
    for _, rs in sorted(_by_world(runs, split).items()):
        ds = [d for r in rs if (d := run_diffs(r, a, b, col=col)) is not None]
        if ds:
            worlds.append(ds)
    if not worlds:
        return None
    rule = run_claims(runs)
    boot = pooled_bootstrap(worlds, n_boot=n_boot, level=rule.level, seed=rule.bootstrap_seed)
    world_means = [np.mean([d.mean() for d in w]) for w in worlds]
    t = t_interval(world_means, level=rule.level)  # the one procedure: interval and p alike
    up = sum(m > 0 for m in world_means)
    return {
        "mean": boot["mean"],
        "boot_lo": boot["lo"],
        "boot_hi": boot["hi"],
        "boot_mc_lo": boot["mc_lo"],
        "boot_mc_hi": boot["mc_hi"],
        "t_lo": t["lo"],
        "t_hi": t["hi"],
        "lo": t["lo"],
        "hi": t["hi"],
        "p": t["p"],
        "worlds": boot["worlds"],
        "seeds": boot["seeds"],
        "worlds up": int(up),
        "worlds down": int(sum(m < 0 for m in world_means)),
        "world_means": [float(x) for x in world_means],
    }


def common_effect(runs: list[dict], split: str, setting: str, *, col: str) -> dict | None:
    """Correct minus wrong with both orders at the correct order's strength (``ordering.common``):
    each run's mean over seeds of the mAP difference, then the t over world means (no bootstrap:
    the unit is a seed's mAP, not a class's AP)."""
    worlds = []
    for _, rs in sorted(_by_world(runs, split).items()):
        means = []
        for r in rs:
            got = [
                c["correct"][col] - c["wrong"][col]
                for c in r["metrics"].get("common_strength", [])
                if (HEAD if c["setting"] == "head" else c["setting"]) == setting
            ]
            if got:
                means.append(float(np.mean(got)))
        if means:
            worlds.append(float(np.mean(means)))
    if not worlds:
        return None
    t = t_interval(worlds, level=run_claims(runs).level)
    nan = float("nan")
    return {
        "mean": t["mean"],
        **dict.fromkeys(("boot_lo", "boot_hi", "boot_mc_lo", "boot_mc_hi"), nan),
        "t_lo": t["lo"],
        "t_hi": t["hi"],
        "lo": t["lo"],
        "hi": t["hi"],
        "p": t["p"],
        "worlds": len(worlds),
        "seeds": nan,
        "worlds up": int(sum(m > 0 for m in worlds)),
        "worlds down": int(sum(m < 0 for m in worlds)),
        "world_means": worlds,
    }


def run_claims(runs: list[dict]) -> ClaimsCfg:
    """The claims section every run was made with: the grid judges all of them by one rule."""
    made = {r["claims"].model_dump_json() for r in runs}
    if len(made) > 1:
        raise ConfigError(
            f"the runs were made under different claims settings ({sorted(made)}); expected one"
        )
    return runs[0]["claims"]


def controls(runs: list[dict], kinds, n_boot: int) -> pd.DataFrame:
    """The positive control of every adapted-text consumer, pooled over all runs."""
    from hoilib.ordering import claims

    margin = run_claims(runs).control_margin
    rows = []
    for k in kinds:
        gains = [
            c["validation gain"]
            for r in runs
            for c in r["metrics"]["controls"]
            if c["kind"] == k and c["consumer"] == "adapted"
        ]
        a, b = claims.text_pairs(k)["correct - no bridge"]
        e = effect(runs, "pooled", a, b=b, col="unseen", n_boot=n_boot)
        val = float(np.mean(gains)) if gains else float("nan")
        ok = e is not None and val >= margin  # validation alone: the test gain is reported
        rows.append(
            {
                "kind": k,
                "validation gain": val,
                "test Unseen gain": e and e["mean"],
                "lo": e and e["lo"],
                "hi": e and e["hi"],
                "passes": bool(ok),
            }
        )
    return pd.DataFrame(rows)


def grid_table(
    runs: list[dict], n_boot: int, *, primary: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """(one row per split or 'pooled', setting, contrast, column; the controls; the primary consumer).

    ``primary``: the consumer a plan fixed before its runs (its Holm family whether or not it
    passes here; the record says whether it did); None: the passing one with the largest
    validation gain, chosen here on validation."""
    from hoilib.ordering import claims

    kinds = list(dict.fromkeys(c["kind"] for r in runs for c in r["metrics"]["controls"]))
    ctrl = controls(runs, kinds, n_boot)
    ok = ctrl[ctrl.passes]
    if primary is None and not ok.empty:
        primary = str(ok.sort_values("validation gain", ascending=False).kind.iloc[0])
    rows = []
    for split in splits(runs):
        for setting, pairs in settings(kinds):
            for name, (a, b) in pairs.items():
                for col in UNSEEN_FIRST:
                    e = effect(runs, split, a, b=b, col=col, n_boot=n_boot)
                    if e is not None:
                        rows.append(
                            {
                                "split": split,
                                "setting": setting,
                                "contrast": name,
                                "column": col,
                                "margin": claims.MARGINS.get(name, {}).get(col, np.nan),
                            }
                            | e
                        )
    rows += [
        {"split": split, "setting": setting, "contrast": COMMON, "column": col}
        | {"margin": claims.MARGINS["correct - wrong"][col]}
        | e
        for split in splits(runs)
        for setting in [f"text-only: {k}" for k in kinds] + [HEAD]
        for col in UNSEEN_FIRST
        if (e := common_effect(runs, split, setting, col=col)) is not None
    ]
    df = pd.DataFrame(rows)
    df["p_holm"] = df["p"]
    fam = (df.split == "pooled") & (df.setting == f"text-only: {primary}") & (df.column == "unseen")
    fam &= df.contrast != COMMON  # the secondary strength rule is never in the primary family
    if fam.any():
        df.loc[fam, "p_holm"] = holm(df.loc[fam, "p"].fillna(1.0).tolist())
    df["primary family"] = fam
    alpha = run_claims(runs).alpha
    one = ~np.isfinite(df["lo"].astype(float))  # one world: the world as the unit gives no interval
    df["verdict"] = [
        # the t over world means decides; no count of worlds up or down vetoes it (with many
        # worlds a unanimity rule would be a second, stricter procedure)
        NO_INTERVAL
        if single
        else NO_PREDICTION
        if not np.isfinite(m)
        else verdict(lo, hi, m, p=p, alpha=alpha)
        for single, (lo, hi, m, p) in zip(
            one, df[["lo", "hi", "margin", "p_holm"]].values, strict=True
        )
    ]
    df["rules out beyond"] = [
        float("nan") if single or not np.isfinite(m) else excludable(lo, hi, m)
        for single, (lo, hi, m) in zip(one, df[["lo", "hi", "margin"]].values, strict=True)
    ]
    return df, ctrl, primary


def summarize(
    root: str | Path | None,
    out: str | Path,
    n_boot: int,
    *,
    runs: list[dict] | None = None,
    plan: dict | None = None,
) -> pd.DataFrame:
    """Read the runs under ``root`` (or take ``runs``, a plan's records read by ``run.plan``; ``plan``:
    its name, hash and records folder), build the table, write it with its provenance to ``out``."""
    runs = read_runs(Path(root)) if runs is None else runs
    fixed = (plan or {}).get("primary_consumer")
    table, ctrl, primary = grid_table(runs, n_boot, primary=fixed)
    provs = [r["provenance"] for r in runs]
    cw = table[(table.split == "pooled") & (table.contrast == "correct - wrong")]
    cw = cw[cw.column == "unseen"].set_index("setting")  # each setting's answer: worlds it needs
    cw = cw.assign(now=(cw.hi - cw.lo) / 2)  # its half-width now, shrunk as 1/sqrt(worlds)
    by = {
        s: worlds_needed(
            r.world_means, TARGET_HALF_WIDTH, level=run_claims(runs).level, current=r.now
        )
        for s, r in cw.iterrows()
    }
    needed = by.get(f"text-only: {primary}") if primary else None
    record = {
        "root": Path(root).name if plan is None else plan["records"],  # no machine path
        "plan": plan,
        "runs": [{k: r[k] for k in ("folder", "split", "world_seed")} for r in runs],
        "commits": sorted({str((p.get("git") or {}).get("commit")) for p in provs}),
        "dirty": any((p.get("git") or {}).get("dirty") for p in provs),
        "machines": sorted({str((p.get("machine") or {}).get("cpu")) for p in provs}),
        "n_boot": n_boot,
        "primary": primary,
        "primary_fixed_by_plan": fixed is not None,
        "primary_passes": bool(ctrl[ctrl.kind == primary].passes.any()) if primary else False,
        "controls": ctrl.to_dict(orient="records"),
        "worlds_needed": needed,
        "worlds_needed_by_setting": by,
        "target_half_width": TARGET_HALF_WIDTH,
        "rows": table.to_dict(orient="records"),
        "cells": cells(runs),
    }
    artifacts.write_json(Path(out), record)
    return table


def cells(runs: list[dict]) -> list[dict]:
    """Each run's own Unseen contrasts (mean over its seeds and classes): what a single build of that
    world and split reports, so a record's world 0 / RF-UC can be checked against the default book."""
    kinds = list(dict.fromkeys(c["kind"] for r in runs for c in r["metrics"]["controls"]))
    out = []
    for r in runs:
        for setting, pairs in settings(kinds):
            for name, (a, b) in pairs.items():
                d = run_diffs(r, a, b, col="unseen")
                if d is not None:
                    out.append(
                        {"world_seed": r["world_seed"], "split": r["split"], "setting": setting}
                        | {"contrast": name, "unseen": float(d.mean())}
                    )
    return out


# ---- the record as the book shows it: the control, then per setting a sentence and a table ----


def _cell(r) -> str:
    return f"{effect_text(r['mean'], r['lo'], r['hi'])} {r['verdict']}"


def table_markdown(record: dict) -> str:
    """The grid as MyST: the control, the answer (pooled), then one table per setting, rows (contrast, split)."""
    df = pd.DataFrame(record["rows"])
    parts = ["### The positive control (pooled over splits and worlds)", ""]
    ctrl = pd.DataFrame(record["controls"]).assign(
        **{
            "test Unseen gain [interval]": lambda c: [
                effect_text(m, lo, hi) for m, lo, hi in c[["test Unseen gain", "lo", "hi"]].values
            ]
        }
    )
    ctrl["validation gain"] = ctrl["validation gain"].map(lambda x: f"{x:+.2f}")
    ctrl["passed the gate"] = ctrl["passes"].map({True: "yes", False: "no"})
    ctrl = ctrl.rename(
        columns={
            "kind": "consumer",
            "validation gain": "validation gain (points)",
            "test Unseen gain [interval]": "test Unseen gain (points) [95% interval]",
        }
    )
    cols = ["consumer", "validation gain (points)", "test Unseen gain (points) [95% interval]"]
    parts += [
        ctrl[[*cols, "passed the gate"]].to_markdown(index=False),
        "",
    ]
    for setting, sub in df.groupby("setting", sort=False):
        sub = sub.assign(cell=[_cell(r) for r in sub.to_dict(orient="records")])
        wide = sub.pivot_table(
            index=["contrast", "split"],
            columns="column",
            values="cell",
            aggfunc="first",
            sort=False,
        )
        wide = wide[[c for c in UNSEEN_FIRST if c in wide.columns]].reset_index()
        wide.columns = [c if c not in UNSEEN_FIRST else f"{c.title()} mAP" for c in wide.columns]
        title = f"### {setting}" + (
            " (the primary consumer)" if setting == f"text-only: {record.get('primary')}" else ""
        )
        parts += [title, "", _setting_sentence(sub), "", wide.to_markdown(index=False), ""]
    return "\n".join(parts)


def _setting_sentence(sub: pd.DataFrame) -> str:
    """One setting's pooled Unseen contrasts in words, by chapter 5's verdict rules."""
    pooled = sub[(sub.split == "pooled") & (sub.column == "unseen")]
    said = [
        f"{r['contrast'].replace(' - ', ' minus ')} {effect_text(r['mean'], r['lo'], r['hi'])} "
        f"({r['verdict']}; {r['worlds up']} of {r['worlds']} worlds up)"
        for r in pooled.to_dict(orient="records")
    ]
    return (
        "Pooled over every split and world, Unseen mAP: " + "; ".join(said) + "."
        if said
        else "No pooled Unseen row for this setting."
    )
