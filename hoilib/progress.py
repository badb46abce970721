"""Progress bars: widgets when a person runs a notebook, silent in papermill batch runs.

A batch run (``hoilib run`` sets HOIBOOK_BATCH=1) would otherwise store every bar
update in the executed notebook and print them into the book; the runner reports
each chapter's time instead.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm


def progress(iterable=None, desc: str = "", disable: bool = False, **kw):
    batch = os.environ.get("HOIBOOK_BATCH") == "1"
    return tqdm(iterable, desc=desc, disable=disable or batch, leave=False, **kw)
