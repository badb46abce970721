"""The ordering experiment over the seeds: every table chapter 5 computes, in five stages.

The design document's fixed-t* table with its t* sweep and gap measures; the text-only
consumers' 2 x 2 with its positive control; EZ-HOI's head at one validated strength; the
dose-response; the geometry of the two text spaces (``OrderingTables``). Each stage is
frames and per-class APs only, cached on its own (``stage_tables``, through ``hoilib.memo``)
and timed, so a change to one stage's code recomputes that stage and a warm rebuild reads
them all back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from hoilib.config.schema import Params
from hoilib.errors import ArtifactError
from hoilib.models.seedrun import SeedRun
from hoilib.ordering import claims, dose, head, methods, textgeometry, twobytwo
from hoilib.ordering.bridges import BridgeCache
from hoilib.ordering.methods import Context, gap_table, run_table, sweep
from hoilib.ordering.textgeometry import geometry_table
from hoilib.timing import timed


@dataclass(frozen=True, kw_only=True)
class OrderingTables:
    """What ``stage_tables`` returns. Rows name their method by label (``labels``); per-class
    AP dicts map (row label, seed) to one AP per class (NaN: no positives)."""

    per_seed: pd.DataFrame  # the fixed-t* table: mAP (%) per (method, seed) (``methods.run_table``)
    ap: dict  # its per-class test APs
    sweep: pd.DataFrame  # both orders over start steps and step counts, first seed
    gaps: pd.DataFrame  # gap measures per method (index: label), first seed
    text: pd.DataFrame  # text-only consumers at the validated strength, one row per cell and seed
    text_ap: dict  # their per-class test APs (``labels.cell_name``)
    text_grid: pd.DataFrame  # every strength on validation and test (consumers of adapted text)
    gapcost: pd.DataFrame  # what the gap costs each consumer: text vs image accuracy
    controls: pd.DataFrame  # the positive control of every consumer (``claims.controls``)
    head: pd.DataFrame  # EZ-HOI's head at its validated strength, per order and seed
    head_ap: dict  # its per-class test APs (``labels.head_name``)
    head_grid: pd.DataFrame  # the head at every strength, validation and test
    dose: pd.DataFrame  # the dose-response: mAP per alpha, order and seed
    dose_ap: dict  # its per-class test APs keyed (alpha, order, seed)
    dose_kind: str  # the consumer the dose-response used (``dose_kind``)
    geometry: pd.DataFrame  # linear CKA and kNN overlap of raw vs adapted text

    def to_dict(self) -> dict:
        """Every field by name (values as they are): what the chapter memo stores as exact JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def records(self) -> dict:
        """The tables as chapter 5's metrics file holds them: JSON records under their published
        names, per-class APs as lists (NaN as None), for tables over many runs."""
        return {
            "controls": self.controls.to_dict(orient="records"),
            "text_only": self.text.to_dict(orient="records"),
            "gap_cost": self.gapcost.to_dict(orient="records"),
            "head_validated": self.head.to_dict(orient="records"),
            "dose": self.dose.to_dict(orient="records"),
            "dose_kind": self.dose_kind,
            "dose_ap": [
                {"alpha": a, "order": o, "seed": int(s), "ap": _plain(v)}
                for (a, o, s), v in self.dose_ap.items()
            ],
            "per_seed": self.per_seed.to_dict(orient="records"),
            "geometry": self.geometry.reset_index().to_dict(orient="records"),
            "per_class_ap": [
                {"method": m, "seed": int(s), "ap": _plain(v)}
                for (m, s), v in (self.ap | self.text_ap | self.head_ap).items()
            ],
            "sweep": self.sweep.to_dict(orient="records"),
            "gaps": self.gaps.reset_index()
            .rename(columns={"index": "method"})
            .to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, d: dict) -> OrderingTables:
        """The tables ``to_dict`` gave (a cached copy): exactly the fields, or a one-line error."""
        names = {f.name for f in fields(cls)}
        if set(d) != names:
            raise ArtifactError(
                f"chapter 5's tables (cache entries 05_*): fields {sorted(set(d) ^ names)} "
                f"missing or unknown; expected exactly {sorted(names)}"
            )
        return cls(**d)


def _plain(v) -> list:
    return [None if x != x else float(x) for x in np.asarray(v)]


def _merge(parts: list[dict], key: str) -> pd.DataFrame:
    return pd.concat([p[key] for p in parts], ignore_index=True)


def _frame(parts: list[dict], frame) -> tuple[pd.DataFrame, dict]:
    """``frame`` (``claims.text_frame`` or ``claims.head_frame``) over every seed's rows and APs."""
    return frame(_merge(parts, "rows"), {k: v for p in parts for k, v in p["ap"].items()})


def text_frame(text: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The text-only consumers' frame and APs over the seeds' ``twobytwo.run_text`` results."""
    return _frame(text, claims.text_frame)


def dose_kind(ctrl: pd.DataFrame) -> str:
    """The consumer the dose-response uses: the primary one, else the adapted one validation favours most."""
    chosen = claims.primary(ctrl)
    if chosen is not None:
        return chosen
    adapted = ctrl[ctrl.consumer == "adapted"]
    return str(adapted.sort_values("validation gain", ascending=False).kind.iloc[0])


def matched_strength(rows: pd.DataFrame, kind: str) -> tuple[int, float]:
    """The (t*, lambda) validation chose for one seed's ``kind`` consumer of adapted text (its matched cell)."""
    r = twobytwo.consistent_cell(rows, kind).iloc[0]
    return int(r.t_start), float(r["lambda"])


# ---------------------------------------------------------------------------------------------
# The stages: each computes one group of tables and is cached on its own (``stage_tables``)
# ---------------------------------------------------------------------------------------------


def fixed_stage(cfg: Params, ctx: Context, runs: list[SeedRun]) -> dict:
    """The design document's fixed-t* table, its t* sweep (first seed) and the gap measures."""
    df, ap, feats = run_table(cfg, ctx, runs)
    sw = sweep(
        cfg, ctx, runs[0], t_starts=cfg.bridge.sweep_t_starts, steps_list=cfg.bridge.sweep_steps
    )
    return {
        "per_seed": df,
        "ap": ap,
        "sweep": sw,
        "gaps": gap_table(cfg, ctx, feats, seed=runs[0].seed),
    }


def text_stage(
    cfg: Params, ctx: Context, runs: list[SeedRun], *, cache: BridgeCache, fitted: dict
) -> dict:
    """The text-only consumers of every seed (``twobytwo.run_text``); their fitted consumers are
    left in ``fitted`` (by seed) for the dose-response of the same process."""
    text = []
    for r in runs:
        t = twobytwo.run_text(cfg, ctx, r, cache=cache)
        fitted[r.seed] = t.pop("consumers")
        text.append(t)
    text_df, text_ap = text_frame(text)
    return {
        "text": text_df,
        "text_ap": text_ap,
        "text_grid": _merge(text, "grid"),
        "gapcost": _merge(text, "gapcost"),
    }


def head_stage(cfg: Params, ctx: Context, runs: list[SeedRun]) -> dict:
    """EZ-HOI's own head at one validated strength, per order and seed (``head.run_orders``)."""
    heads = [head.run_orders(cfg, ctx, r) for r in runs]
    head_df, head_ap = _frame(heads, claims.head_frame)
    return {"head": head_df, "head_ap": head_ap, "head_grid": _merge(heads, "grid")}


def dose_stage(
    cfg: Params,
    ctx: Context,
    runs: list[SeedRun],
    *,
    kind: str,
    strengths: dict[int, tuple[int, float]],
    cache: BridgeCache,
    fitted: dict,
) -> dict:
    """The dose-response of the ``kind`` consumer at each seed's matched strength. A seed whose
    consumers the text stage did not fit in this process (it was read from the cache) fits them
    again with ``twobytwo.fit_seed``: the same consumers, so the same curve."""
    doses = [
        dose.run_dose(
            ctx,
            r,
            kind,
            strength=strengths[r.seed],
            alphas=cfg.evaluation.dose_alphas,
            consumers_cfg=cfg.consumers,
            cache=cache,
            fitted=fitted[r.seed]
            if r.seed in fitted
            else twobytwo.fit_seed(cfg, ctx, r, cache=cache),
        )
        for r in runs
    ]
    return {
        "dose": pd.concat([d[0] for d in doses], ignore_index=True),
        "dose_ap": {k: v for d in doses for k, v in d[1].items()},
    }


_SECONDS = "_seconds"  # a stage's cost, stored beside its tables


def _compute(name: str, compute: Callable[[], dict], *, code, **inputs) -> dict:
    """``stage_tables``'s default store: compute, keep nothing."""
    return compute()


def stage_tables(
    cfg: Params, ctx: Context, runs: list[SeedRun], *, store: Callable = _compute
) -> tuple[OrderingTables, dict[str, tuple[float, bool]]]:
    """Every table, stage by stage, and each stage's cost: (seconds, computed in this call).

    ``store(name, compute, code=module, **inputs)`` returns ``compute()`` or its stored copy
    (``memo.cached`` bound to the chapter): each stage is keyed on the module that computes it
    (and what that imports), so a change to one recomputes that one. The dose-response is
    also keyed on what it reads off the text stage: its consumer and strengths. A stage's
    seconds are stored with it, so a warm rebuild still says what each stage cost.
    """
    cache = BridgeCache.of(cfg.bridge, ctx)  # bridged sets shared by the seeds and the dose
    fitted: dict = {}
    costs: dict[str, tuple[float, bool]] = {}

    def run(name: str, label: str, compute: Callable[[], dict], code, **inputs) -> dict:
        def timed_compute():
            t0 = time.perf_counter()
            with timed(label):
                out = compute()
            costs[label] = (round(time.perf_counter() - t0, 1), True)
            return {**out, _SECONDS: costs[label][0]}

        out = dict(store(f"05_{name}", timed_compute, code=code, **inputs))
        seconds = float(out.pop(_SECONDS))
        costs.setdefault(label, (seconds, False))  # read back: the seconds it took when computed
        return out

    fixed = run("fixed", "fixed t* table", lambda: fixed_stage(cfg, ctx, runs), methods.__name__)
    text = run(
        "text", "text-only consumers",
        lambda: text_stage(cfg, ctx, runs, cache=cache, fitted=fitted), twobytwo.__name__,
    )  # fmt: skip
    heads = run("head", "EZ-HOI head, validated", lambda: head_stage(cfg, ctx, runs), head.__name__)
    ctrl = claims.controls(text["text"], text["text_ap"], ctx.data.unseen, cfg=cfg.claims)
    kind = dose_kind(ctrl)
    # the text table holds every seed's rows: each seed's matched cell is its own
    strengths = {
        r.seed: matched_strength(text["text"][text["text"].seed == r.seed], kind) for r in runs
    }
    doses = run(
        "dose", "dose-response",
        lambda: dose_stage(cfg, ctx, runs, kind=kind, strengths=strengths, cache=cache, fitted=fitted),
        (dose.__name__, twobytwo.__name__),
        kind=kind, strengths={str(s): list(v) for s, v in strengths.items()},
    )  # fmt: skip
    geometry = run(
        "geometry",
        "text geometry",
        lambda: {"geometry": geometry_table(runs)},
        textgeometry.__name__,
    )
    parts = {**fixed, **text, **heads, **doses, **geometry}
    tables = OrderingTables.from_dict(parts | {"controls": ctrl, "dose_kind": kind})
    return tables, costs
