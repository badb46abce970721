"""The search for a recipe under which chapter 5's positive control passes, judged by the control alone.

When no text-only consumer passes the control (the consistent bridge beats no bridge on
validation, ``ordering.claims``), the book cannot test the ordering
claim in its world. Issue 18 asks for a search over recipes that might let the bridge
help, with one criterion: the control. So this module runs only the consistent cells of
chapter 5 (``twobytwo.run_text``: each consumer with no bridge and with the bridge of its
own text, at the strength validation chose) for each candidate, a set of profile
overrides, and records every consumer's control. ``run_text`` also scores the wrong order
(its rows hold it); ``claims.controls`` reads only the consistent and no-bridge cells, and
nothing here ranks, records or prints a correct-minus-wrong number, so the order contrast
cannot steer the search; the chapter runs it once, on the recipe the search finds.

``hoilib control-search --profile synth`` writes ``results/control-search.json``; the
results page shows it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from hoilib import artifacts
from hoilib.chapters import ch5_ordering
from hoilib.chapters.notebook import open_chapter
from hoilib.config import Params
from hoilib.models.seedrun import seed_runs
from hoilib.ordering import claims, experiment, twobytwo
from hoilib.ordering.bridges import BridgeCache
from hoilib.ordering.methods import make_context

RECORD = "results/control-search.json"
# machine paths: kept out of the committed record
PATHS = ("run.run_dir", "run.stage_dir", "world.data_root")
CANDIDATES = {  # name -> profile overrides; the first is the book's own recipe
    "the book's recipe": {},
    "MLP of two hidden layers of 256, batches of 256": {
        "consumers.hidden": [256, 256],
        "consumers.batch": 256,
    },
    "SNR-weighted diffusion loss (Diffusion Bridge's code)": {"diffusion.loss": "snr_x0"},
    "SDEdit bridge (noised to t* first)": {"bridge.recipe": "sdedit"},
}


def control_of(profile: str, params: dict) -> tuple[pd.DataFrame, Params]:
    """Every consumer's positive control (``claims.controls``, all EZ-HOI seeds) and the resolved config.

    Loaded and seeded as chapter 5 is (``open_chapter``); ``hoilib control-search`` also runs it
    under the chapters' CPU kernels, so the book's recipe gives the book's numbers.
    """
    ch = open_chapter(profile, params, ch5_ordering, show=False)
    ctx = make_context(ch.world, ch.backbone, ch.data)
    runs = seed_runs(ch.cfg, ch.backbone, ch.world, data=ch.data)
    cache = BridgeCache.of(ch.cfg.bridge, ctx)
    text = [twobytwo.run_text(ch.cfg, ctx, r, cache=cache) for r in runs]
    return claims.controls(*experiment.text_frame(text), ch.data.unseen, cfg=ch.cfg.claims), ch.cfg


def search(
    profile: str, params: dict | None, out: str | Path, *, candidates: dict | None = None
) -> dict:
    """Run every candidate's control, write the record to ``out`` (JSON, atomically) and return it."""
    rows = []
    for name, overrides in (candidates or CANDIDATES).items():
        t0 = time.time()
        print(f"[control-search] {name}: {overrides or 'no override'}", flush=True)
        ctrl, cfg = control_of(profile, {**(params or {}), **overrides})
        seconds = round(time.time() - t0, 1)
        for r in ctrl.to_dict(orient="records"):
            rows.append({"candidate": name, "overrides": overrides, "seconds": seconds, **r})
    passed = sorted({r["candidate"] for r in rows if r["passes"] and r["consumer"] == "adapted"})
    record = {
        "profile": profile,
        "params": {k: v for k, v in (params or {}).items() if k not in PATHS},
        "world_seed": cfg.world.seed,
        "split": cfg.world.split,
        "criterion": (
            f"a consumer of adapted text whose consistent bridge gains at least "
            f"{cfg.claims.control_margin:g} point on validation (mean over seeds); the test Unseen "
            "gain is reported, not judged"
        ),
        "passed": passed,
        "rows": rows,
    }
    artifacts.write_json(Path(out), record)
    return record


def table(record: dict) -> pd.DataFrame:
    """One row per candidate and consumer of adapted text: validation gain, test gain and interval, verdict."""
    df = pd.DataFrame(record["rows"])
    df = df[df.consumer == "adapted"]
    return pd.DataFrame(
        {
            "candidate": df.candidate,
            "consumer": df.kind,
            "validation gain": df["validation gain"].map(lambda x: f"{x:+.2f}"),
            "test Unseen gain [interval]": [
                f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"
                for m, lo, hi in df[["test Unseen gain", "lo", "hi"]].values
            ],
            "control": df.passes.map({True: "passes", False: "fails"}),
        }
    )


def section(path: Path) -> list[str]:
    """The results page's section: the search's table from its committed record; nothing if absent."""
    rec = artifacts.read_json_or_none(path)
    if not rec or not rec.get("rows"):
        return []
    passed = rec["passed"]
    return [
        "## The search for a recipe under which the positive control passes",
        "",
        f"Chapter 5's consistent cells (each consumer with no bridge, and with the bridge of its own "
        f"text at the strength validation chose) under each candidate recipe, on profile "
        f"`{rec['profile']}` (world seed {rec['world_seed']}, split {rec['split']}). The criterion, "
        f"and the only one: {rec['criterion']}. No correct-minus-wrong number is computed here, so "
        "the order contrast could not steer the search. "
        + (f"**Passed: {', '.join(passed)}.**" if passed else "**No candidate passed.**")
        + " Made by `hoilib control-search`.",
        "",
        table(rec).to_markdown(index=False),
        "",
    ]
