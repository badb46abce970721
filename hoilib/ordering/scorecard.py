"""The scorecard: each prediction of the design document beside what a grid record measured, with its verdict.

Built from a grid record (``ordering.grid.summarize``: the confirmatory one when it exists)
so the landing page and chapter 5 open with the same computed table. Every row is pooled
over the record's worlds and splits, Unseen first; the interval and p are the t over
world means, and the verdict words are ``measure.effects``'s, defined in ``VERDICT_WORDS``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.ordering.grid import EZHOI_GAIN, EZHOI_VS_CLIP, HEAD, effect_text

_json = artifacts.read_json_or_none
EXPLORATORY = REPO / "results" / "synth-grid.json"  # hoilib grid's record of worlds 0-2
# the confirmatory plan (``run.plan.Plan`` reads and checks it)
PLAN = REPO / "results" / "plan.yaml"


def plan_fields(path: Path = PLAN) -> dict | None:
    """The plan's fields as written (None without a plan); ``run.plan.Plan.load`` checks them."""
    import yaml

    return yaml.safe_load(path.read_text()) if path.is_file() else None


def confirmatory_path(name: str) -> Path:
    """Where ``hoilib grid --plan`` writes the grid of the plan called ``name``."""
    return REPO / "results" / f"{name}.json"


CONFIRMATORY = (
    "The confirmatory answer."  # answer_record's title for a complete confirmatory record
)

# the design document's words for each contrast ("Key observations" under its hypothetical table)
PREDICTIONS = {
    "correct - wrong": "training order matters: correct order beats wrong order",
    "correct - no bridge": "correct order helps: beats no bridge",
    "wrong - no bridge": "wrong order about no change or slightly worse (predicted -0.5)",
    EZHOI_GAIN: "EZ-HOI improves on frozen CLIP (the premise; no size given)",
}
VERDICT_WORDS = (
    "supported: the 95% interval lies on the predicted side of 0 and the (Holm-adjusted, for the "
    "primary Unseen family) p is below 0.05; smaller than predicted: supported, but the interval "
    "excludes the predicted size; contradicted: the same evidence for the other direction; ruled out "
    "at the predicted size: not supported, and the interval excludes an effect that large; "
    "inconclusive: none of these"
)


def scorecard(record: dict, columns=("unseen", "seen", "full")) -> pd.DataFrame:
    """One row per (setting, prediction): the predicted sizes, then per mAP column (Unseen first, the
    primary one) the measured mean [95% interval] and its verdict, and the worlds pooled."""
    df = pd.DataFrame(record["rows"])
    df = df[df.split == "pooled"]
    primary = record.get("primary")
    wanted = ([f"text-only: {primary}"] if primary else []) + [HEAD, EZHOI_VS_CLIP]
    label = {f"text-only: {primary}": f"{primary} consumer (primary)", HEAD: "EZ-HOI's own head"}
    label[EZHOI_VS_CLIP] = "EZ-HOI vs frozen CLIP"
    rows = []
    for setting in wanted:
        sub = df[df.setting == setting]
        for contrast in PREDICTIONS:
            got = sub[sub.contrast == contrast].set_index("column")
            if got.empty:
                continue
            sizes = [got.margin.get(c) for c in columns]
            rows.append(
                {
                    "setting": label[setting],
                    "prediction": PREDICTIONS[contrast],
                    "predicted (" + " / ".join(c.title() for c in columns) + ")": "-"
                    if all(pd.isna(s) for s in sizes)
                    else " / ".join(f"{s:+.1f}" for s in sizes),
                }
                | {
                    f"{c.title()} mAP": f"{effect_text(r['mean'], r['lo'], r['hi'])} {r['verdict']}"
                    for c in columns
                    if c in got.index and (r := got.loc[c]) is not None
                }
                | {"worlds": int(got.worlds.max())}
            )
    return pd.DataFrame(rows)


def gate_line(record: dict) -> str:
    """How many consumers of adapted text passed the validation-only gate, and which one is primary."""
    ctrl = pd.DataFrame(record["controls"])
    passed = list(ctrl[ctrl.passes].kind)
    primary = record.get("primary")
    if not primary:
        which = "; none is primary, so the ordering is read on EZ-HOI's head only."
    elif record.get("primary_fixed_by_plan"):
        which = f"; the primary one, fixed by the plan before these runs: {primary}, which " + (
            "passed here."
            if record.get("primary_passes")
            else "FAILED the gate here, so its order contrasts are not a test of the ordering."
        )
    else:
        which = f"; the primary one, chosen on validation before any order contrast was read: {primary}."
    return (
        f"{len(passed)} of {len(ctrl)} text-only consumers passed the positive control on validation"
        + (f" ({', '.join(passed)})" if passed else "")
        + which
    )


def precision_line(rec: dict) -> str:
    """How precise the record is: the half-widths of the primary family's pooled Unseen intervals
    (against the plan's target, where it names one) and the largest Monte Carlo error of the
    bootstrap's interval ends."""
    fam = [
        r
        for r in rec["rows"]
        if r.get("primary family") and r["split"] == "pooled" and r["column"] == "unseen"
    ]
    if not fam:
        return "No primary family: no pooled Unseen interval to report the precision of."
    halves = ", ".join(f"{r['contrast']} {(r['hi'] - r['lo']) / 2:.2f}" for r in fam)
    target = rec.get("target_half_width")
    ends = [x for r in rec["rows"] for x in (r.get("boot_mc_lo"), r.get("boot_mc_hi"))]
    mc = [x for x in ends if x is not None and not math.isnan(x)]
    return (
        f"Precision: the half-widths of the primary family's pooled Unseen intervals are {halves} "
        "points"
        + (f" (the plan's target: at most {target:g})" if target else "")
        + (
            f"; the bootstrap's interval ends carry a Monte Carlo error of at most {max(mc):.2f} "
            "points."
            if mc
            else "."
        )
    )


# the contrasts in words, as the answer sentence says them
SAID = {
    "correct - wrong": "the correct order against the wrong one",
    "correct - no bridge": "the correct order against no bridge",
    "wrong - no bridge": "the wrong order against no bridge",
}


def answer_rows(record: dict, column: str = "unseen") -> dict[str, list[dict]]:
    """The rows the answer reads: setting -> its pooled ``column`` rows of the design document's
    three contrasts (``SAID``'s order), for the primary consumer (when there is one), then EZ-HOI's
    own head. The answer sentence and the headline figure both read these."""
    primary = record.get("primary")
    out = {}
    for setting in ([f"text-only: {primary}"] if primary else []) + [HEAD]:
        got = {
            r["contrast"]: r
            for r in record["rows"]
            if r["setting"] == setting and r["split"] == "pooled" and r["column"] == column
        }
        out[setting] = [got[c] for c in SAID if c in got]
    return out


def answer_sentence(record: dict, column: str = "unseen", *, strong: bool = True) -> str:
    """The answer in one computed paragraph: each of the design document's three contrasts on the
    primary consumer's pooled ``column`` mAP, then on EZ-HOI's own head (``answer_rows``), each
    with its interval, its verdict and the size the document predicted; ``strong`` sets the
    verdicts in bold (Markdown), off for text pasted as plain text."""
    star = "**" * strong
    said = {
        setting: "; ".join(
            f"{SAID[r['contrast']]} {effect_text(r['mean'], r['lo'], r['hi'])} points, "
            f"{star}{r['verdict']}{star} (predicted {r['margin']:+.1f})"
            for r in rows
        )
        for setting, rows in answer_rows(record, column).items()
    }
    primary = record.get("primary")
    parts = []
    if primary:
        parts.append(
            f"For the primary consumer ({primary}), {column.title()} mAP: "
            f"{said[f'text-only: {primary}']}."
        )
    if said[HEAD]:
        parts.append(f"For EZ-HOI's own head: {said[HEAD]}.")
    return " ".join(parts)


def scorecard_markdown(record: dict, *, title: str, scope: str) -> str:
    """The scorecard as MyST: a title, its scope, the table, the gate line and what each verdict means."""
    table = scorecard(record)
    return "\n".join(
        [
            f"**{title}** {scope}",
            "",
            answer_sentence(record),
            "",
            table.to_markdown(index=False) if not table.empty else "(no pooled row)",
            "",
            gate_line(record),
            "",
            f"*Verdicts.* {VERDICT_WORDS}.",
        ]
    )


def answer_record(plan_link: str = "{doc}`plan <plan>`") -> tuple[dict | None, str, str]:
    """(grid record, title, scope) the answer is read from: the confirmatory record once it holds every
    world x split of the plan, else the exploratory synth-grid, said to be exploratory, with how many
    of the plan's records exist (an interim confirmatory grid is never read: no optional stopping);
    (None, ...) when neither. ``plan_link``: how the scope names the plan page."""
    plan = plan_fields()
    conf = _json(confirmatory_path(plan["name"])) if plan else None
    cells = len(plan["world_seeds"]) * len(plan["splits"]) if plan else 0
    if conf and conf.get("rows") and len(conf["runs"]) == cells:
        worlds = len({r["world_seed"] for r in conf["runs"]})
        return (
            conf,
            CONFIRMATORY,
            f"Pooled over {worlds} fresh worlds of HOI-Synth and the splits "
            f"{', '.join(sorted({r['split'] for r in conf['runs']}))}, run under the "
            f"{plan_link} committed before them (its scope: this generated world and its small "
            "CLIP, not HICO-DET).",
        )
    grid = _json(EXPLORATORY)
    if grid and grid.get("rows") and "controls" in grid:
        worlds = sorted({r["world_seed"] for r in grid["runs"]})
        done = len(list((REPO / plan["records"]).glob("world*-*.json"))) if plan else 0
        pending = (
            f"the confirmatory record of the {plan_link} holds {done} of its {cells} worlds x splits "
            "so far and is read only when complete."
            if plan
            else "no confirmatory plan is committed yet."
        )
        return (
            grid,
            "An exploratory answer, not the confirmatory one.",
            f"Pooled over the exploratory worlds {', '.join(map(str, worlds))} (the ones the rules "
            f"were shaped on, at this code); {pending}",
        )
    return None, "", ""


def answer_line() -> str:
    """The answer record's verdicts in one plain-text paragraph, for the top of chapter 5: which
    record it is, then ``answer_sentence``."""
    rec, title, _ = answer_record(plan_link="plan page")
    return f"{title} {answer_sentence(rec, strong=False)}" if rec is not None else ""


def short_answer() -> str:
    """Chapter 5's closing summary as a Markdown list: which record answers, then a line per setting
    of ``answer_rows`` with each contrast's interval and verdict (the scorecard has the predictions)."""
    rec, title, _ = answer_record(plan_link="plan page")
    if rec is None:
        return ""
    lines = [f"{title} Unseen mAP, points with 95% intervals:", ""]
    for setting, rows in answer_rows(rec).items():
        who = "EZ-HOI's own head" if setting == HEAD else f"Primary consumer ({rec['primary']})"
        said = "; ".join(
            f"{r['contrast']} {effect_text(r['mean'], r['lo'], r['hi'])}, {r['verdict']}"
            for r in rows
        )
        lines.append(f"- **{who}**: {said}.")
    return "\n".join(lines)


def heading_and_table(plan_link: str = "plan page") -> tuple[str, pd.DataFrame]:
    """(heading, table) of ``answer_record``'s record, for chapter 5's opening: what the record is,
    the gate line and the verdict words, then the scorecard."""
    rec, title, scope = answer_record(plan_link=plan_link)
    if rec is None:
        return "No grid record is committed yet (results/synth-grid.json).", pd.DataFrame()
    answer = answer_sentence(rec, strong=False)
    return f"{title} {scope} {answer} {gate_line(rec)} Verdicts: {VERDICT_WORDS}.", scorecard(rec)
