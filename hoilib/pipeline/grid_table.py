"""The synth-grid record as the book shows it: the control, then per setting a sentence and a table."""

from __future__ import annotations

import pandas as pd

from hoilib.ordering.labels import UNSEEN_FIRST  # the mAP columns, primary first


def _cell(r) -> str:
    return f"{r['mean']:+.2f} [{r['lo']:+.2f}, {r['hi']:+.2f}] {r['verdict']}"


def table_markdown(record: dict) -> str:
    """The grid as MyST: the control, the answer (pooled), then one table per setting, rows (contrast, split)."""
    df = pd.DataFrame(record["rows"])
    parts = ["### The positive control (pooled over splits and worlds)", ""]
    ctrl = pd.DataFrame(record["controls"]).assign(
        **{
            "test Unseen gain [interval]": lambda c: [
                f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                for m, lo, hi in c[["test Unseen gain", "lo", "hi"]].values
            ]
        }
    )
    ctrl["validation gain"] = ctrl["validation gain"].map(lambda x: f"{x:+.2f}")
    parts += [
        ctrl[["kind", "validation gain", "test Unseen gain [interval]", "passes"]].to_markdown(
            index=False
        ),
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
        f"{r['contrast'].replace(' - ', ' minus ')} {r['mean']:+.2f} [{r['lo']:+.2f}, "
        f"{r['hi']:+.2f}] ({r['verdict']}; {r['worlds up']} of {r['worlds']} worlds up)"
        for r in pooled.to_dict(orient="records")
    ]
    return (
        "Pooled over every split and world, Unseen mAP: " + "; ".join(said) + "."
        if said
        else "No pooled Unseen row for this setting."
    )
