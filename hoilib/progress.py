"""Progress bars: ``tqdm.auto``, with ``TQDM_DISABLE`` honoured inside Jupyter kernels too.

tqdm reads ``TQDM_DISABLE`` from the environment (``tqdm.utils.envwrap``), and the runner
sets it in the kernels of a batch run so that no bar is stored in an executed notebook.
But ``tqdm.notebook``, which ``tqdm.auto`` picks inside a kernel, passes
``disable=bool(disable)`` on itself and so overrides the variable (tqdm 4.70,
``notebook.py``). This wrapper passes the variable through; nothing else.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm as _tqdm


def tqdm(iterable=None, **kw):
    if os.environ.get("TQDM_DISABLE"):
        kw["disable"] = True
    return _tqdm(iterable, **kw)
