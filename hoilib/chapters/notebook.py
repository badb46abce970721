"""What the first code cell of every chapter does: resolve parameters, seed, show them."""

from __future__ import annotations

import torch

from hoilib.config import resolve, table
from hoilib.seed import seed_everything


def start(profile: str, params: dict | None = None, show: bool = True) -> dict:
    """Resolve ``profile`` + ``params`` (what papermill injected), seed everything, display the table."""
    cfg = resolve(profile, params)
    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if show:
        import pandas as pd
        from IPython.display import Markdown, display

        pd.set_option("display.max_colwidth", 200)  # tables of methods and verdicts hold sentences

        display(Markdown(f"**Profile `{cfg.profile}`**, run folder `{cfg.run_dir}`. Parameters this chapter ran with:"))
        display(table(cfg))
    return cfg


def save_metrics(cfg: dict, chapter: str, data: dict):
    """Write a chapter's key numbers to <run_dir>/metrics/<chapter>.json (what batch tables read)."""
    from pathlib import Path

    from hoilib import __version__, artifacts

    path = Path(cfg.run_dir) / "metrics" / f"{chapter}.json"
    artifacts.write_json(path, {"chapter": chapter, "profile": cfg.profile, "seed": cfg.seed,
                                "hoilib": __version__, "metrics": data})
    return path
