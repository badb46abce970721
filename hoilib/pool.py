"""Work spread over this machine's cores, results in order: the same bytes for any number of processes.

Infrastructure (it imports nothing from hoilib but the progress bar), so a stage that uses it
does not take another stage's code into its key: HOI-Synth's scene drawing and the backbone's
crop reading share it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence

from hoilib.progress import tqdm


def cores() -> int:
    """The cores this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def workers(n_jobs: int, minimum: int) -> int:
    """Processes for ``n_jobs``: every core from ``minimum`` jobs on, this process alone below."""
    return 1 if n_jobs < minimum else cores()


def ordered_map(fn: Callable, jobs: Sequence, n_workers: int, *, desc: str) -> Iterable:
    """``fn`` over ``jobs`` in order, in ``n_workers`` worker processes (in this one when 1)."""
    if n_workers <= 1:
        yield from (fn(j) for j in tqdm(jobs, desc=desc, leave=False))
        return
    # fork where there is one: the children only compute (PIL, numpy), and a script without a
    # __main__ guard would start over in a spawned child
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    chunk = max(1, min(64, len(jobs) // (8 * n_workers)))
    with ctx.Pool(n_workers) as pool:
        yield from tqdm(
            pool.imap(fn, jobs, chunksize=chunk), total=len(jobs), desc=desc, leave=False
        )
