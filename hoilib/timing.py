"""Stage timers for the book benchmark: how much of each chapter its largest stages take.

``benchmarks/book_time.py`` runs the book and reports, per chapter, the share spent in
pretraining, feature extraction, EZ-HOI training, diffusion training, UMAP and scoring,
so the README's timing table can say where the time goes. It names a file in
``HOI_STAGE_LOG``; the runner passes it, with ``HOI_CHAPTER`` (the notebook's stem), to
every chapter's kernel, and each ``timed`` block appends one JSON line there. Without
``HOI_STAGE_LOG`` a block costs one environment lookup and writes nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOG_ENV = "HOI_STAGE_LOG"  # the file the records are appended to
CHAPTER_ENV = "HOI_CHAPTER"  # the chapter running (set per notebook by the runner)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Time the block; when ``HOI_STAGE_LOG`` names a file, append {"stage", "seconds", "chapter"} to it.

    The record is written in one ``os.write`` to a file opened with ``O_APPEND``, so
    records from concurrent processes (torchrun ranks, parallel runs) stay whole lines.
    A block that raises is still recorded, then the error goes on.
    """
    path = os.environ.get(LOG_ENV)
    if not path:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        record = {
            "stage": stage,
            "seconds": time.perf_counter() - t0,
            "chapter": os.environ.get(CHAPTER_ENV),
        }
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
