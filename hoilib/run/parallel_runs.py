"""EZ-HOI's independent runs (ablation x seed) trained side by side, one process each.

A full profile trains 18 runs that share nothing but their inputs, so ``prepare --jobs N``
trains N runs at once in N processes (one CUDA context each). Processes take turns on one GPU,
so this pays only where one run leaves it waiting: at HICO-DET's size on one H200, three runs at
once finished 1.8 times as many runs per second as one alone (README, issue 21). On a CPU with fewer
cores than the workers' threads it is slower than one at a time, and ``prepare`` says so.
Every worker loads the world, backbone and features from the cache the parent has filled, then
trains the runs it is handed under their own cache entries. Each run seeds itself, so its
weights are those one process would train (a test compares them on the CPU).
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import time
from collections.abc import Callable

from hoilib.progress import tqdm

_LOADED: dict = {}  # in a worker: (profile, overrides) -> (cfg, world, backbone, split data)


def _quiet() -> None:
    """A worker draws no bar: the parent counts finished runs instead."""
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.pop("HOIBOOK_PROGRESS", None)


def _inputs(profile: str, overrides: tuple[str, ...]):
    """The run's config, world, backbone and split data, loaded and seeded as chapter 2 is (its
    stages read from the cache), once per worker."""
    key = (profile, overrides)
    if key not in _LOADED:
        from hoilib.chapters import ch2_ezhoi
        from hoilib.chapters.notebook import open_chapter

        ch = open_chapter(profile, None, ch2_ezhoi, overrides=shlex.join(overrides), show=False)
        _LOADED.clear()
        _LOADED[key] = (ch.cfg, ch.world, ch.backbone, ch.data)
    return _LOADED[key]


def _train_one(job: tuple[str, tuple[str, ...], str, int]) -> tuple[str, int, float]:
    from hoilib.models.ezhoi.ezhoi_stage import train_or_load

    profile, overrides, name, seed = job
    cfg, world, backbone, data = _inputs(profile, overrides)
    t0 = time.time()
    train_or_load(cfg.ezhoi, cfg.run, backbone, world=world, data=data, name=name, seed=seed)
    return name, seed, time.time() - t0


def train_runs(
    profile: str,
    overrides: list[str] | None,
    runs: list[tuple[str, int]],
    *,
    jobs: int,
    say: Callable[[str], None] = print,
) -> None:
    """Train (or load) every (ablation, seed) of ``runs`` in ``jobs`` worker processes.

    The world, backbone and features must already be cached (``prepare`` makes them first).
    A worker's error ends every worker and is raised here, as the one process would raise it.
    """
    todo = [(profile, tuple(overrides or ()), name, int(seed)) for name, seed in runs]
    # spawn: CUDA cannot be used in a forked child of a process that has touched it
    ctx = multiprocessing.get_context("spawn")
    t0 = time.time()
    with ctx.Pool(min(jobs, len(todo)), initializer=_quiet) as pool:
        bar = tqdm(total=len(todo), desc=f"EZ-HOI runs, {jobs} at a time", leave=False)
        for name, seed, seconds in pool.imap_unordered(_train_one, todo):
            bar.update(1)
            say(
                f"[prepare] EZ-HOI {name!r} seed {seed} ready: {seconds:.0f} s in its worker "
                f"({time.time() - t0:.0f} s since the runs began)"
            )
        bar.close()
        pool.close()  # let the workers end on their own: a terminated worker leaks its semaphores
        pool.join()
