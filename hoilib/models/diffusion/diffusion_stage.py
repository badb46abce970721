"""The diffusion model as a resumable stage of a run: one checkpoint per (text space, seed, settings).

The adapted space is the one chapter 3 extracts from an EZ-HOI checkpoint; the raw
space is frozen CLIP's, the same for every checkpoint. The file name carries the
space's fingerprint, and the checkpoint records it for the bridge's order guard.
"""

from __future__ import annotations

from hoilib import cache
from hoilib.config import Params, resolve_device, stage_root
from hoilib.models.diffusion import model as dm
from hoilib.models.textspace import TextSpace
from hoilib.timing import timed

SPACES = ("adapted", "raw")


def space_vectors(space: TextSpace, which: str):
    """(corpus vectors, fingerprint) of one of the two spaces."""
    if which == "adapted":
        return space.adapted_corpus, space.fingerprint
    if which == "raw":
        return space.raw_corpus, space.meta["raw_fingerprint"]
    raise ValueError(f"text space must be one of {SPACES}, got {which!r}")


def train_or_load(
    cfg: Params, space: TextSpace, which: str, seed: int, show_progress: bool = True
) -> dm.TextDiffusion:
    """The diffusion model of one space and seed: loaded when its inputs are unchanged, trained otherwise."""
    vectors, fp = space_vectors(space, which)
    inputs = {
        "fingerprint": fp,
        "seed": seed,
        "settings": cfg.diffusion.key(),
        "model": dm.KIND,
        "cpu_kernels": cfg.run.cpu_kernels,
    }
    # keyed: a model per text space lives beside the others; prune keeps the last used per space and seed
    entry = cache.Entry(
        stage_root(cfg) / "diffusion", f"{which}-seed{seed}", inputs, code="diffusion", keyed=True
    )
    return entry.fetch(
        lambda: _train(cfg, vectors, fp, which, seed, show_progress),
        dm.save,
        dm.load,
        ".safetensors",
    )


def _train(cfg: Params, vectors, fp: str, which: str, seed: int, show_progress: bool):
    with timed("diffusion training"):
        return dm.train_text_diffusion(
            vectors,
            fp,
            which,
            steps=cfg.diffusion.steps,
            batch_size=cfg.diffusion.batch,
            lr=cfg.diffusion.lr,
            ema_decay=cfg.diffusion.ema,
            seed=seed,
            cfg=dm.DenoiserConfig(
                dim=vectors.shape[1], hidden=cfg.diffusion.hidden, blocks=cfg.diffusion.blocks
            ),
            show_progress=show_progress,
            device=resolve_device(cfg.run.device),
            loss=cfg.diffusion.loss,
        )
