"""The plan page: ``results/plan.yaml`` as the reader sees it, with its hash and the commit that fixed it.

The page shows the plan's rules in its own words, the runs it decides, and which
records exist, so a reader can check that the plan was committed before any record.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hoilib import artifacts
from hoilib.config import REPO
from hoilib.ordering.scorecard import PLAN
from hoilib.run.plan import Plan, record_name


def _first_commit(path: Path) -> str | None:
    """(short hash, date) of the commit that first added ``path``, or None outside git."""
    try:
        out = subprocess.run(
            ["git", "log", "--diff-filter=A", "--format=%h %cs", "--", str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [x for x in out if x.strip()]
    return lines[-1] if lines else None


def plan_markdown(path: Path = PLAN) -> str:
    """The page: what the plan fixes, the rules in words, the cells and which have a record."""
    if not path.is_file():
        return "# The confirmatory plan\n\nNo plan is committed yet (`results/plan.yaml`).\n"
    plan = Plan.load(path)
    added = _first_commit(path)
    cells = plan.cells()
    done = [c for c in cells if (plan.records_dir / record_name(*c)).is_file()]
    lines = [
        "# The confirmatory plan",
        "",
        "Written and committed before any run it decides, so that nothing it fixes could be fitted "
        "to what the runs show. `hoilib sweep --plan results/plan.yaml` makes its runs; "
        "`hoilib grid --plan results/plan.yaml` reads their records.",
        "",
        f"- **File:** `results/plan.yaml`, sha256 `{plan.sha256[:16]}`"
        + (f", first committed in `{added}`" if added else ""),
        f"- **Runs:** profile `{plan.profile}` with "
        + (", ".join(f"`{k}={v}`" for k, v in plan.set.items()) or "no override")
        + f"; world seeds {plan.world_seeds[0]} to {plan.world_seeds[-1]} ({len(plan.world_seeds)}"
        f" worlds, never run before); splits {', '.join(plan.splits)}; model seeds "
        f"{', '.join(map(str, plan.model_seeds))} per world",
        f"- **Records:** {len(done)} of {len(cells)} worlds x splits committed under "
        f"`{plan.records}`",
        f"- **Primary text-only consumer:** {plan.primary_consumer}",
        "",
    ]
    for head, text in plan.rules.items():
        lines += [f"## {head}", "", str(text).strip(), ""]
    return "\n".join(lines)


def write_plan_page(book_dir: Path, path: Path = PLAN) -> Path:
    return artifacts.write_bytes(Path(book_dir) / "plan.md", plan_markdown(path).encode("utf-8"))
