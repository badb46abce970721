"""The ordering experiment over the seeds: every table chapter 5 computes, in one call.

The text-only consumers' 2 x 2 with its positive control, EZ-HOI's head at one validated
strength, the dose-response, the design document's fixed-t* table with its t* sweep and
gap measures, and the geometry of the two text spaces (``OrderingTables``): frames and
per-class APs only, so the chapter caches them (``hoilib.memo``, via ``to_dict``) and a
warm rebuild reads them back (``from_dict``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from hoilib.config.schema import Params
from hoilib.errors import ArtifactError
from hoilib.models import textspace
from hoilib.models.seedrun import SeedRun
from hoilib.ordering import claims, dose, head, twobytwo
from hoilib.ordering.bridges import BridgeCache
from hoilib.ordering.methods import Context, gap_table, run_table, sweep
from hoilib.timing import timed


@dataclass(frozen=True, kw_only=True)
class OrderingTables:
    """What ``compute_tables`` returns. Rows name their method by label (``labels``); per-class
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
                f"chapter 5's tables (cache entry 05_tables): fields {sorted(set(d) ^ names)} "
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


def geometry_table(runs) -> pd.DataFrame:
    """Linear CKA and 10-NN overlap of raw vs adapted text (class text and corpus), mean over seeds."""
    rows = [
        {"text": "corpus" if what == "sentence corpus" else what, "seed": r.seed, **g}
        for r in runs
        for what, g in textspace.geometry(r.space).items()
    ]
    g = pd.DataFrame(rows)
    out = g.groupby("text", sort=False)[
        ["linear CKA", "kNN overlap", "kNN overlap by chance", "n"]
    ].mean()
    out["n"] = out["n"].astype(int)
    return out


def compute_tables(cfg: Params, ctx: Context, runs: list[SeedRun]) -> OrderingTables:
    """The chapter's numbers for these seeds (``OrderingTables``)."""
    cache = BridgeCache.of(cfg.bridge, ctx)  # bridged sets shared by the seeds and the dose
    with timed("scoring"):
        df, ap, feats = run_table(cfg, ctx, runs)
        sw = sweep(
            cfg, ctx, runs[0], t_starts=cfg.bridge.sweep_t_starts, steps_list=cfg.bridge.sweep_steps
        )
        gaps = gap_table(cfg, ctx, feats, seed=runs[0].seed)
    with timed("text-only consumers"):
        text = [twobytwo.run_text(cfg, ctx, r, cache=cache) for r in runs]
    with timed("EZ-HOI head, validated"):
        heads = [head.run_orders(cfg, ctx, r) for r in runs]
    text_df, text_ap = text_frame(text)
    head_df, head_ap = _frame(heads, claims.head_frame)
    ctrl = claims.controls(text_df, text_ap, ctx.data.unseen, cfg=cfg.claims)
    kind = dose_kind(ctrl)
    with timed("dose-response"):
        doses = [
            dose.run_dose(
                ctx,
                r,
                kind,
                strength=matched_strength(t["rows"], kind),
                alphas=cfg.evaluation.dose_alphas,
                consumers_cfg=cfg.consumers,
                cache=cache,
                fitted=t["consumers"],
            )
            for r, t in zip(runs, text, strict=True)
        ]
    return OrderingTables(
        per_seed=df,
        ap=ap,
        sweep=sw,
        gaps=gaps,
        text=text_df,
        text_ap=text_ap,
        text_grid=_merge(text, "grid"),
        gapcost=_merge(text, "gapcost"),
        controls=ctrl,
        head=head_df,
        head_ap=head_ap,
        head_grid=_merge(heads, "grid"),
        dose=pd.concat([d[0] for d in doses], ignore_index=True),
        dose_ap={k: v for d in doses for k, v in d[1].items()},
        dose_kind=kind,
        geometry=geometry_table(runs),
    )
