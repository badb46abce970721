"""Progress bars: ``tqdm.auto`` where a person watches, a relay to the runner's terminal in batch runs.

tqdm reads ``TQDM_DISABLE`` from the environment (``tqdm.utils.envwrap``), and the runner
sets it in the kernels of a batch run so that no bar is stored in an executed notebook.
But ``tqdm.notebook``, which ``tqdm.auto`` picks inside a kernel, passes
``disable=bool(disable)`` on itself and so overrides the variable (tqdm 4.70,
``notebook.py``); this wrapper passes the variable through.

A batch run is long and its kernels print nothing to the terminal, so where ``hoilib run`` names
a progress file (``HOIBOOK_PROGRESS``), a bar the variable disables reports there instead: one
JSON line per second at most (what, how far, of how many, seconds so far). The runner reads the
file and draws one line on its terminal (``pipeline.terminal``); the notebook holds no bar.
"""

from __future__ import annotations

import io
import json
import os

from tqdm.auto import tqdm as _tqdm
from tqdm.std import tqdm as _std_tqdm

PROGRESS_ENV = "HOIBOOK_PROGRESS"  # the file a batch run's kernels report their bars to


class _Relay(_std_tqdm):
    """A tqdm that draws nothing and appends its state to the progress file at most once a second."""

    def __init__(self, iterable=None, path: str = "", **kw):
        self._path = path
        kw.update(file=io.StringIO(), mininterval=1.0, disable=False)
        super().__init__(iterable, **kw)

    def display(self, msg=None, pos=None):
        d = self.format_dict
        line = {
            "desc": d.get("prefix") or "",
            "n": d["n"],
            "total": d["total"],
            "s": round(d["elapsed"], 1),
        }
        try:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        except OSError:  # progress never fails a run
            pass
        return True


def tqdm(iterable=None, **kw):
    if os.environ.get("TQDM_DISABLE"):
        path = os.environ.get(PROGRESS_ENV)
        if path and kw.get("disable") is not True:
            return _Relay(iterable, path=path, **kw)
        kw["disable"] = True
    return _tqdm(iterable, **kw)
