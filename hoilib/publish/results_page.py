"""The results page of the book and the terminal table: ``collect``'s frame as MyST markdown or text.

Every cell is escaped for MyST, so a run name or a note can never break the page.
"""

from __future__ import annotations

import math
from pathlib import Path

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.ordering.scorecard import EXPLORATORY, precision_line
from hoilib.publish.results import INFO_COLUMNS, MAP_COLUMNS, _rel, collect

_json = artifacts.read_json_or_none

# the exploratory grid, written by `hoilib grid`, committed with the code
GRID_RECORD = EXPLORATORY.relative_to(REPO).as_posix()


def _cell(v) -> str:
    """Table cell text: 2 decimals, n/a for missing, and markdown/MyST specials escaped."""
    import pandas as pd

    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.2f}"
    return escape(v) or "n/a"


def escape(v) -> str:
    """``v``'s text on one line with Markdown's and MyST's specials escaped, for a table cell."""
    text = " ".join(str(v).split())
    for ch in "\\`*_[]<>|$#{}~":
        text = text.replace(ch, "\\" + ch)
    return text


def fill_mark(page: Path, mark: str, text: str) -> Path:
    """Put ``text`` where ``page`` holds ``mark`` (a committed page holds only the mark)."""
    body = Path(page).read_text(encoding="utf-8")
    return artifacts.write_bytes(page, body.replace(mark, text).encode("utf-8"))


def markdown_table(df) -> str:
    """A MyST pipe table by pandas' ``to_markdown``: floats right-aligned; cells are ``_cell``'s text, unparsed."""
    align = ["right" if str(df[c].dtype).startswith("float") else "left" for c in df.columns]
    return (
        df.map(_cell)
        .rename(columns=_cell)
        .to_markdown(index=False, colalign=align, disable_numparse=True)
    )


def _code(text: str) -> str:
    """Inline code for a path (no escapes inside code spans); escaped text if it holds a backtick."""
    text = " ".join(str(text).split())
    return f"`{text}`" if "`" not in text else _cell(text)


def _where(root: Path) -> str:
    return _code(_rel(root, REPO) if Path(root).resolve() != REPO.resolve() else str(root))


def results_markdown(
    runs_root: str | Path = REPO / "runs",
    grid_record: Path | None = None,
    search_record: Path | None = None,
    confirmatory: Path | None = None,
) -> str:
    """The book's results page (MyST): the table of every run, or a plain 'no runs yet' and how to make one,
    then the committed synth-grid table (``grid_record``, default ``results/synth-grid.json``), the
    confirmatory grid (``confirmatory``, default the plan's) and the control search
    (``search_record``, default ``results/control-search.json``) where present."""
    root = Path(runs_root)
    df = collect(root)
    notes = df.attrs.get("skipped", [])
    where = _where(root)
    parts = [
        "# Results of every run",
        "",
        f"This page collects every run found under {where} when the book was built. "
        "`hoilib run --profile P` writes one run to `runs/P`; `hoilib sweep --profiles P ... --seeds 0 1 2` "
        "writes one run per profile and seed to `runs/sweep/P-seedS`. Each row is one run folder, with "
        "where its numbers came from: the profile, the seed, the commit of the code (dirty: uncommitted "
        "changes were present), the machine (CPU and the vector kernels torch chose, or the GPU: the same "
        "commit and seed give different numbers on different CPUs, see *Reproducing*) and when it finished.",
        "",
    ]
    if df.empty:
        parts += [
            f"No runs exist yet under {where}, so there are no results to show. Make one with "
            "`python -m hoilib run --profile synth`, or several with "
            "`python -m hoilib sweep --profiles synth --seeds 0 1 2`, then build the book again.",
            "",
        ]
    else:
        # the mAP right after what names the run, where the page shows it without scrolling
        lead = ["run", "profile", "split", "seed"]
        df = df[lead + MAP_COLUMNS + [c for c in INFO_COLUMNS if c not in lead]]
        parts += [
            markdown_table(df),
            "",
            "mAP in %, the mean over the EZ-HOI seeds of the run (chapter 5). *no bridge*: EZ-HOI as "
            "trained; *wrong order*: with the bridge whose diffusion model was trained on the raw text "
            "embeddings; *correct order*: with the bridge trained on EZ-HOI's adapted text embeddings. "
            "n/a: the run has not reached chapter 5 (see *chapters done*), or the value is undefined. "
            "Runs with different profiles differ in data and budget; compare rows of the same profile.",
            "",
        ]
    parts += grid_section(REPO / GRID_RECORD if grid_record is None else grid_record)
    parts += grid_section(confirmatory or confirmatory_record(), confirmatory=True)
    from hoilib.run.control_search import RECORD, section

    parts += section(REPO / RECORD if search_record is None else search_record)
    if notes:
        parts += [
            "## Files skipped",
            "",
            "These files could not be read and were left out of the table:",
            "",
        ]
        parts += [f"* {_code(n['file'])}: {_cell(n['problem'])}" for n in notes] + [""]
    return "\n".join(parts)


def confirmatory_record() -> Path | None:
    """The confirmatory grid record, results/<the plan's name>.json (None without a plan)."""
    from hoilib.ordering.scorecard import confirmatory_path, plan_fields

    plan = plan_fields()
    return confirmatory_path(plan["name"]) if plan else None


def grid_section(path: Path | None, *, confirmatory: bool = False) -> list[str]:
    """A grid record's tables (the exploratory synth-grid, or the plan's confirmatory one, shown
    apart), with where it came from; nothing if absent."""
    from hoilib.ordering.grid import table_markdown

    rec = _json(path) if path is not None else None
    if rec is None:
        return []
    if "controls" not in rec:  # written before the positive control existed
        return [
            "## The synth-grid sweep",
            "",
            f"`{GRID_RECORD}` was written by an older `hoilib grid` (it has no positive control); "
            "rerun the sweep and `hoilib grid` to show it here.",
            "",
        ]
    splits = sorted({r["split"] for r in rec["runs"]})
    worlds = sorted({r["world_seed"] for r in rec["runs"]})
    rows = rec["rows"]
    made = (
        f"`hoilib sweep --plan results/plan.yaml` (records under `{rec['root']}`) and "
        "`hoilib grid --plan results/plan.yaml`"
        if confirmatory
        else f"`hoilib sweep --profiles synth-grid --vary world.seed={','.join(map(str, worlds))} "
        f"--vary world.split={','.join(splits)} --only 05` and `hoilib grid`"
    )
    title = (
        "## The confirmatory record: fresh worlds under the committed plan"
        if confirmatory
        else "## The exploratory synth-grid (worlds the rules were shaped on)"
    )
    return [
        title,
        "",
        f"{len(rec['runs'])} runs of the `synth-grid` profile (the default book's settings): splits "
        f"{', '.join(splits)} x world seeds {', '.join(map(str, worlds))} (each a new world and a new "
        "backbone run), each with the profile's EZ-HOI and diffusion seeds. Chapter 5 states the "
        "rules; here they are read over the worlds.",
        "",
        _grid_answer(rec),
        "",
        f"Each cell is the mean difference b - a in mAP points, its 95% interval and its verdict. One "
        "procedure gives the interval and the p-value alike, with the world as the unit: a Student-t "
        "over the world means (worlds - 1 degrees of freedom). A nested bootstrap over world seeds, "
        f"then model seeds, then classes ({rec['n_boot']} draws) is kept in the record beside it, "
        "with its Monte Carlo error, and decides nothing. A verdict reads the interval against the "
        "design document's predicted size (chapter 5): *supported* needs the interval on the "
        "predicted side of 0 and p < 0.05; *ruled out at the predicted size* "
        "means the interval ends short of the predicted size; anything else is *inconclusive*. Only "
        "the primary consumer's three pooled Unseen contrasts form the answer's family (Holm over "
        f"those three); the other {len(rows) - 3} cells are secondary and each is read on its own, "
        "so among so many a few will cross 0 by chance. Commit "
        f"{', '.join(_code(c[:10]) for c in rec['commits'])}{' (dirty)' if rec['dirty'] else ''}, "
        f"machine {_cell('; '.join(rec['machines']))}; made by {made}.",
        "",
        precision_line(rec),
        "",
        table_markdown(rec),
        "",
    ]


def _grid_answer(rec: dict) -> str:
    """The grid's answer in words: the control, the pooled verdict, and how many worlds would narrow it."""
    from hoilib.ordering.grid import NEW_WORLDS, effect_text

    if rec.get("primary") is None:
        need = {
            k.removeprefix("text-only: "): v
            for k, v in (rec.get("worlds_needed_by_setting") or {}).items()
            if k.startswith("text-only: ")
        }
        spread = "; ".join(f"{k} {'more than 1000' if v is None else v}" for k, v in need.items())
        return (
            "**No consumer passed the positive control pooled over the grid, so the grid cannot "
            "say whether the training order matters.**"
            + (
                f" Were one to pass, the worlds its pooled Unseen correct-minus-wrong interval "
                f"would need to narrow to ±{rec['target_half_width']:g} points (as 1/sqrt(worlds), "
                f"or at the spread of the world means if that asks more): {spread}."
                if need
                else ""
            )
        )
    row = next(
        r
        for r in rec["rows"]
        if r["primary family"] and r["contrast"] == "correct - wrong" and r["split"] == "pooled"
    )
    half = (row["hi"] - row["lo"]) / 2
    need = rec.get("worlds_needed")
    more = (
        f"its half-width is {half:.2f} points; narrowing as 1/sqrt(worlds), it would reach "
        f"{rec['target_half_width']:g} points with about {need} worlds"
        if need
        else f"its half-width is {half:.2f} points"
    )
    fresh = next(
        (
            r
            for r in rec["rows"]
            if r["setting"] == row["setting"]
            and r["contrast"] == "correct - wrong"
            and r["column"] == "unseen"
            and r["split"] == NEW_WORLDS
        ),
        None,
    )
    check = (
        ""
        if fresh is None
        else f" Over the worlds other than world 0 alone (the ones nobody saw while the rules took "
        f"shape) it is {effect_text(fresh['mean'], fresh['lo'], fresh['hi'])}: "
        f"{fresh['verdict']}."
    )
    return (
        f"**The answer, pooled over splits and worlds ({row['worlds']} worlds):** with the primary "
        f"consumer ({rec['primary']} fitted on adapted text), correct minus wrong order is "
        f"{row['mean']:+.2f} Unseen mAP points [{row['lo']:+.2f}, {row['hi']:+.2f}] against the "
        f"design document's +{row['margin']:.1f}: **{row['verdict']}**. The data leave open effects "
        f"up to {row['rules out beyond']:+.2f} points; {more}.{check}"
    )


def results_text(runs_root: str | Path = REPO / "runs") -> str:
    """The table for a terminal: one line per run, numbers to 2 decimals, then any skipped files."""
    import pandas as pd

    df = collect(runs_root)
    if df.empty:
        text = (
            f"no runs under {runs_root}; make one with `hoilib run --profile synth` "
            f"or `hoilib sweep --profiles synth --seeds 0 1 2`"
        )
    else:
        shown = df.copy()
        # None / NA / bools read as n/a, yes, no (to_string's na_rep covers floats only)
        for c in INFO_COLUMNS:
            shown[c] = [
                _cell(v) if v is None or v is pd.NA or isinstance(v, bool) else v for v in shown[c]
            ]
        with pd.option_context(
            "display.width", 10_000, "display.max_columns", None, "display.max_rows", None
        ):
            text = shown.to_string(index=False, na_rep="n/a", float_format=lambda v: f"{v:.2f}")
    notes = df.attrs.get("skipped", [])
    if notes:
        text += "\nskipped files:\n" + "\n".join(f"  {n['file']}: {n['problem']}" for n in notes)
    return text
