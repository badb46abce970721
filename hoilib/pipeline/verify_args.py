"""``hoilib verify`` on the command line: its options, and its handler, which loads ``verify`` only
when the command runs."""

from __future__ import annotations


def add_verify(add) -> None:
    """Register ``verify`` with the command line's ``add(name, handler, **kw)``."""
    p = add(
        "verify",
        _verify,
        help="compare a run with the published build (results/published.json); exit 1 if one is off",
        description="Every headline number of chapters 1, 2 and 5 (and, with --grid, the synth-grid's "
        "pooled contrasts) against the published build, each with its tolerance (the Reproducing "
        "page says where each comes from). Exit status 1 if any is outside its tolerance or a "
        "verdict differs.",
    )
    p.add_argument("--run", default="runs/synth", help="your run folder (default: runs/synth)")
    p.add_argument("--grid", default=None, help="your `hoilib grid` JSON, to check the grid too")
    p.add_argument("--record", default="results/published.json", help="the published record")
    p.add_argument(
        "--exact", action="store_true", help="also fail unless every digit is the published one"
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="write the record from --run and --grid instead (what the book is published from)",
    )


def _verify(args, argv) -> int:
    from hoilib.pipeline.verify import command

    return command(args)
