"""What every chapter notebook does around its science: open the chapter, publish its numbers.

``open_chapter`` resolves the parameters (what papermill injected), seeds everything,
loads the world and the backbone (and the split's data for chapters 2-5) and shows
the parameters in a collapsed table, this chapter's first. ``Chapter.publish`` takes
the chapter's one result object and both glues its numbers into the prose and writes
them to ``<run_dir>/metrics/<chapter>.json``, so each number has one source.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import torch

from hoilib import __version__, artifacts
from hoilib.chapters import direct_run
from hoilib.config import REPO, Params, parse_overrides, resolve, table
from hoilib.data.build import prepare_world
from hoilib.data.world import World
from hoilib.figures import figure_watch
from hoilib.figures.tables import HEADERS
from hoilib.models.backbone import Backbone
from hoilib.models.backbone_stage import backbone_seed, prepare_backbone
from hoilib.models.split_data import SplitData, split_data
from hoilib.seed import seed_everything


class ChapterResult:
    """Base of each chapter's result: ``numbers()`` feeds the prose, ``metrics()`` the metrics JSON."""

    def numbers(self) -> dict[str, float | int | str]:
        return {}

    def metrics(self) -> dict[str, Any]:
        return {}


@dataclass(kw_only=True)
class Chapter:
    """One opened chapter: its name, parameters, world, backbone and (chapters 2-5) the split's data."""

    name: str
    cfg: Params
    world: World
    backbone: Backbone
    data: SplitData | None = None

    @property
    def boxes(self) -> str:
        """Which boxes the test pairs come from, in words: every mAP table says it."""
        if self.cfg.world.pair_source == "gt":
            return "oracle boxes (the annotated human and object boxes; no detector)"
        return f"detected boxes from {Path(self.cfg.world.pair_source).name}"

    def caption(self, df, what: str):
        """``df`` with a caption naming what it holds and the boxes it was measured on."""
        # padded cells (a Styler's table has none, so "40.65 ± 2.35" ran into its neighbour), and a
        # dash, not nan, where a row has no value (the caption says why)
        # a single run has no spread: "30.51", not "30.51 ± 0.00"
        if "seeds" in df.columns:
            one = df["seeds"].astype(str) == "1"
            df = df.astype(object)
            df.loc[one] = df.loc[one].map(
                lambda v: v.replace(" ± 0.00", "") if isinstance(v, str) else v
            )
        # plain headers ("Full mAP (%)", not "full"), and no 0..n index: it labels nothing
        df = df.rename(columns=lambda c: HEADERS.get(c, c))
        style = (
            df.style.set_caption(f"{what}, on {self.boxes}")
            .format(precision=2, na_rep="–")
            .set_table_styles([{"selector": "th, td", "props": [("padding", "0.25em 0.9em")]}])
        )
        return style.hide(axis="index") if isinstance(df.index, pd.RangeIndex) else style

    def publish(self, result: ChapterResult) -> Path:
        """Glue every number of ``result`` for the prose and write its metrics JSON; returns the JSON path."""
        from myst_nb import glue

        # numpy scalars print as np.float64(...): the prose needs numbers
        for key, value in result.numbers().items():
            glue(key, value.item() if hasattr(value, "item") else value, display=False)
        return save_metrics(self.cfg, self.name, result.metrics())


def parameter_table_html(cfg: Params, used: tuple[str, ...]) -> str:
    """The parameter table inside a closed <details>, so the chapter's first idea comes first."""
    df = table(cfg, used)
    return (
        f"<details><summary><b>Parameters</b> of profile <code>{html.escape(cfg.run.profile)}</code> "
        f"({len(used)} used by this chapter, listed first; run folder <code>{html.escape(cfg.run.run_dir)}</code>)"
        f"</summary>{df.to_html(escape=True)}</details>"
    )


def sharp_figures() -> None:
    """Figures saved at twice their dpi and shown at their own size (IPython's "retina" PNG, whose
    width the page reads from the output's metadata): sharp on a high-density screen, the same
    size on the page. Outside an IPython kernel (a script) nothing to set."""
    from IPython import get_ipython

    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")


TIMINGS = REPO / "results" / "timings.json"  # every measured time, with its command and machine
# the records of a whole cold build, chapter by chapter: benchmarks/book_time.py's ("make book,
# cold ...") and benchmarks/fresh_clone.py's ("cold chapters ...")
COLD_BOOK = ("make book, cold", "cold chapters")


def reference_time(name: str, path: Path = TIMINGS) -> str:
    """This chapter's time in the last measured cold build of the whole book (``results/timings.json``),
    in words, with the machine and commit it was measured on: what a reader can expect of the
    reference machine. Where no such record exists, says so."""
    label = f"chapter {int(name[:2])}"
    records = artifacts.read_json_or_none(path) or []
    cold = [
        r
        for r in records
        if str(r.get("what", "")).startswith(COLD_BOOK) and label in (r.get("stages") or {})
    ]
    if not cold:
        return "not measured yet on the reference machine"
    r = cold[-1]
    seconds = float(r["stages"][label])
    m = r.get("machine") or {}
    when = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    return (
        f"about {when} in the last measured cold build of the book (a {m.get('cores', '?')}-core "
        f"{m.get('cpu', 'CPU')}, no GPU, commit {r.get('commit', '?')}); a rerun that reuses its "
        "cached stages takes seconds"
    )


def open_chapter(
    profile: str,
    params: dict | None,
    chapter: ModuleType,
    *,
    overrides: str = "",
    show: bool = True,
) -> Chapter:
    """Resolve and show the parameters, seed, and load what ``chapter`` (a ``hoilib.chapters.chN_*`` module) needs.

    ``params``: what ``hoilib run`` injects (the resolved parameters); ``overrides``: what a person
    running the notebook directly passes (``papermill ... -p overrides "run.seed=1 world.split=uv"``,
    the NAME=VALUE pairs of ``hoilib run --set``), applied on top.
    """
    extra = parse_overrides(shlex.split(overrides or ""))
    cfg = resolve(profile, {**(params or {}), **extra})
    direct_run.begin(cfg, chapter.NAME, extra)
    figure_watch.watch(chapter.NAME)  # only where HOIBOOK_FIGURE_CHECK names a file (the tests)
    seed_everything(cfg.run.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if show:
        from IPython.display import HTML, display
        from myst_nb import glue

        pd.set_option("display.max_colwidth", 200)  # tables of methods and verdicts hold sentences
        sharp_figures()
        glue("reference_time", reference_time(chapter.NAME), display=False)
        display(HTML(parameter_table_html(cfg, chapter.PARAMS)))
    world = prepare_world(cfg)
    backbone = prepare_backbone(cfg.backbone, cfg.run, world, seed=backbone_seed(cfg))
    data = split_data(cfg, world, backbone, split=cfg.world.split) if chapter.NEEDS_SPLIT else None
    return Chapter(name=chapter.NAME, cfg=cfg, world=world, backbone=backbone, data=data)


def save_metrics(cfg: Params, chapter: str, data: dict) -> Path:
    """Write a chapter's key numbers to <run_dir>/metrics/<chapter>.json (what batch tables read)."""
    path = Path(cfg.run.run_dir) / "metrics" / f"{chapter}.json"
    artifacts.write_json(
        path,
        {
            "chapter": chapter,
            "profile": cfg.run.profile,
            "seed": cfg.run.seed,
            "hoilib": __version__,
            "metrics": data,
        },
    )
    return path
