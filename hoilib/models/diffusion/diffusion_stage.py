"""The diffusion model as a resumable stage of a run: one checkpoint per (text space, seed, settings).

The adapted space is the one chapter 3 extracts from an EZ-HOI checkpoint; the raw
space is frozen CLIP's, the same for every checkpoint. The file name carries the
space's fingerprint, and the checkpoint records it for the bridge's order guard.
"""

from __future__ import annotations

from hoilib import cache
from hoilib.config import DiffusionCfg, RunCfg, resolve_device, stage_root
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
    section: DiffusionCfg,
    run: RunCfg,
    space: TextSpace,
    *,
    which: str,
    seed: int,
    show_progress: bool = True,
) -> dm.TextDiffusion:
    """The diffusion model of one space and seed: loaded when its inputs are unchanged, trained otherwise.

    It keys on its own section (``cfg.diffusion``); ``run`` says where it lives and on which device."""
    vectors, fp = space_vectors(space, which)
    inputs = {
        "fingerprint": fp,
        "seed": seed,
        "settings": section.key(),
        "model": dm.KIND,
        "cpu_kernels": run.cpu_kernels,
    }
    # keyed: a model per text space lives beside the others; prune keeps the last used per space and seed
    entry = cache.Entry(
        stage_root(run) / "diffusion",
        f"{which}-seed{seed}",
        inputs,
        code="diffusion",
        keyed=True,
    )
    return entry.fetch(
        lambda: _train(
            section, run.device, vectors, fp=fp, which=which, seed=seed, show_progress=show_progress
        ),
        dm.save,
        dm.load,
        suffix=".safetensors",
    )


def _train(
    section: DiffusionCfg,
    device: str,
    vectors,
    *,
    fp: str,
    which: str,
    seed: int,
    show_progress: bool,
):
    with timed("diffusion training"):
        return dm.train_text_diffusion(
            vectors,
            fp,
            which,
            steps=section.steps,
            batch_size=section.batch,
            lr=section.lr,
            ema_decay=section.ema,
            seed=seed,
            cfg=dm.DenoiserConfig(
                dim=vectors.shape[1], hidden=section.hidden, blocks=section.blocks
            ),
            show_progress=show_progress,
            device=resolve_device(device),
            loss=section.loss,
        )
