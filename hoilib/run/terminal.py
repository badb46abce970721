"""The runner's live line on a terminal: which stage of which chapter runs, how far, and the time left.

The chapters' kernels report their progress bars to the run's progress file (``hoilib.progress``);
while a chapter runs, a thread reads what is new there and redraws one line on the terminal. Only
a terminal gets it: a log file, CI or a test sees the runner's usual lines and nothing else.
"""

from __future__ import annotations

import json
import sys
import threading
from contextlib import contextmanager
from pathlib import Path


def describe(rec: dict, chapter: str) -> str:
    """One record of the progress file as the line a person reads, with an estimate of the time left."""
    n, total, s = rec.get("n") or 0, rec.get("total"), float(rec.get("s") or 0)
    what = (rec.get("desc") or "working").rstrip(": ")
    if total:
        left = s / n * (total - n) if n else None
        eta = f", about {left:.0f} s left" if left is not None else ""
        return f"[hoilib] {chapter}: {what} {n}/{total} ({s:.0f} s{eta})"
    return f"[hoilib] {chapter}: {what} {n} ({s:.0f} s)"


class _Watcher(threading.Thread):
    def __init__(self, path: Path, chapter: str, stream, *, every: float):
        super().__init__(daemon=True)
        self.path, self.chapter, self.stream, self.every = Path(path), chapter, stream, every
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.stop, self.width = threading.Event(), 0

    def poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        lines = chunk.splitlines()
        if chunk and not chunk.endswith("\n"):  # a line half-written: read it next time
            chunk, lines = chunk[: chunk.rfind("\n") + 1], lines[:-1]
        self.offset += len(chunk.encode("utf-8"))
        for line in reversed(lines):
            try:
                self.draw(describe(json.loads(line), self.chapter))
                return
            except ValueError:
                continue

    def draw(self, text: str) -> None:
        text = text[:160]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.poll()

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@contextmanager
def live_line(path: Path, chapter: str, stream=None, *, every: float = 0.5, force: bool = False):
    """While the block runs, redraw ``chapter``'s progress from ``path`` on ``stream`` (stderr) if it
    is a terminal (``force``: whatever it is; for tests); the line is erased at the end."""
    stream = stream or sys.stderr
    if not (force or getattr(stream, "isatty", lambda: False)()):
        yield
        return
    w = _Watcher(path, chapter, stream, every=every)
    w.start()
    try:
        yield
    finally:
        w.stop.set()
        w.join()
        w.clear()
