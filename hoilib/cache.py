"""One way to cache: an entry is a folder, a name, the inputs that decide it and the code that makes it.

Every cached thing of a run (the world, the backbone, features, EZ-HOI checkpoints, text
spaces, diffusion models, chapter results, UMAP frames) is an ``Entry``. Its key hashes its
inputs and the digest of its code (``codekey``: the import closure of the modules named as
its code root, so a cache never dictates where a module boundary goes). A marker file, written
last, records the key and the inputs; the run log says for every entry "reused" or "computing
(inputs changed: ...)", naming what moved.

Two shapes: a *fixed* entry writes to fixed paths (a checkpoint, the world folder) and is
redone in place when its inputs change; a *keyed* entry (``keyed=True``) names its files by
its key, so versions live side by side (features of several backbones, results of several
parameter sets) and an old one is kept until ``prune`` removes it: per folder and name, the
entry used last is current and the others are superseded. ``hoilib cache list`` and
``hoilib cache prune`` show and remove them.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hoilib import artifacts, codekey, exactjson
from hoilib.errors import ArtifactError

MARKER = re.compile(r"^\.(?P<stem>.+)\.done\.json$")
KEYED_STEM = re.compile(r"^(?P<name>.+)-(?P<key>[0-9a-f]{16})$")
KEYED_FILE = re.compile(r"^(?P<name>.+)-(?P<key>[0-9a-f]{16})\.(json|safetensors)$")


def changed_inputs(before: dict, now: dict) -> list[str]:
    """Names of the inputs that differ; inside a dict input, its changed fields as ``input.field``."""
    out = []
    for k in sorted(set(before) | set(now)):
        a, b = before.get(k), now.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{k}.{sub}" for sub in changed_inputs(a, b)]
        else:
            out.append(k)
    return out


class Entry:
    """One cached thing; ``done()`` before computing, ``mark_done(files)`` after every file is in place."""

    def __init__(
        self,
        folder: str | os.PathLike,
        name: str,
        inputs: dict,
        *,
        code: str | Sequence[str] = (),
        keyed: bool = False,
    ):
        self.folder = Path(folder)
        self.name = name
        self.inputs = dict(inputs)
        if code:
            self.inputs["code"] = codekey.code_digest(code)
        self.key = artifacts.fingerprint(self.inputs)
        self.keyed = keyed
        self.stem = f"{name}-{self.key}" if keyed else name
        self.marker = self.folder / f".{self.stem}.done.json"

    def path(self, suffix: str) -> Path:
        """A file of this entry: ``<folder>/<name>[-<key>]<suffix>``."""
        return self.folder / f"{self.stem}{suffix}"

    def _previous(self) -> dict | None:
        """The marker this entry would replace: its own (fixed), else the last-used one of its name."""
        if not self.keyed:
            return _read_marker(self.marker)
        pattern = re.compile(rf"^\.{re.escape(self.name)}-[0-9a-f]{{16}}\.done\.json$")
        others = [p for p in self.folder.glob(".*.done.json") if pattern.match(p.name)]
        if not others:
            return None
        return _read_marker(max(others, key=lambda p: p.stat().st_mtime)) or {}

    def done(self, files: Iterable[str | os.PathLike] = ()) -> bool:
        """True when the marker holds this key and ``files`` exist; logs "reused" or why it recomputes."""
        marker = _read_marker(self.marker)
        if (
            marker is not None
            and marker.get("key") == self.key
            and all(Path(f).is_file() for f in files)
        ):
            os.utime(self.marker)  # last used: what prune keeps
            artifacts.stage_log(f"[stage] {self.name}: reused ({self.folder})")
            return True
        if marker is not None and marker.get("key") == self.key:
            why = "a file of it is missing"
        else:
            old = self._previous()
            if old is None:
                why = "not computed yet"
            else:
                changed = changed_inputs(old.get("inputs") or {}, self.inputs)
                why = f"inputs changed: {', '.join(changed)}" if changed else "marker unreadable"
        artifacts.stage_log(f"[stage] {self.name}: computing ({why})")
        return False

    def mark_done(self, files: Iterable[str | os.PathLike] | None = (), info: dict | None = None):
        """Record the key, the inputs and the entry's files (None: the whole folder) after they are written."""
        names = None if files is None else sorted(Path(f).name for f in files)
        record = {"name": self.name, "key": self.key, "keyed": self.keyed, "files": names}
        artifacts.write_json(self.marker, {**record, "inputs": self.inputs, **(info or {})})
        artifacts.stage_log(f"[stage] {self.name}: done")

    def info(self) -> dict:
        return _read_marker(self.marker) or {}

    def stored(self, path: Path, load: Callable[[Path], Any]) -> tuple[bool, Any]:
        """``(True, load(path))`` when done and readable, else ``(False, None)``: compute it.

        A copy that cannot be read (truncated, foreign) is never trusted: it is moved aside
        (``set_aside``), so the rerun that recomputes it needs no hand to delete it first.
        """
        if not self.done([path]):
            return False, None
        try:
            return True, load(path)
        except UNREADABLE as e:
            set_aside(path, e)
            artifacts.stage_log(f"[stage] {self.name}: computing (stored copy unreadable)")
            return False, None

    def fetch(self, compute: Callable[[], Any], save: Callable, load: Callable, *, suffix: str):
        """``load(path)`` when stored (``stored``), else ``compute()``, saved by ``save(value, path)``."""
        path = self.path(suffix) if self.keyed else self.folder / f"{self.name}{suffix}"
        found, value = self.stored(path, load)
        if found:
            return value
        value = compute()
        save(value, path)
        self.mark_done([path])
        return value

    def value(self, compute: Callable[[], Any]):
        """A JSON-storable value (frames, arrays, dicts, tuples), exactly as computed: see ``exactjson``."""
        return self.fetch(compute, _save_json, _load_json, suffix=".json")


# what a loader raises on a file that is not what it wrote: truncated, foreign, hand-edited
UNREADABLE = (ArtifactError, OSError, ValueError, KeyError, TypeError)


def set_aside(path: Path, error: BaseException) -> Path:
    """Rename an unreadable cache file to ``<name>.corrupt-<UTC stamp>`` beside it, with one warning line.

    Kept, not deleted, so it can be looked at; ``prune`` leaves it (it is no entry's file).
    Returns where it went (``path`` itself when another process moved it first).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:  # another rank or run set it aside already
        return path
    why = (str(error).splitlines() or [type(error).__name__])[0]
    line = (
        f"hoilib: warning: cache file {path} cannot be read ({why}); "
        f"moved aside to {aside.name}, recomputing it"
    )
    print(line, file=sys.stderr, flush=True)
    artifacts.stage_log(line)
    return aside


def _save_json(value, path: Path) -> None:
    artifacts.write_json(path, exactjson.encode(value), compact=True)


def _load_json(path: Path):
    return exactjson.decode(json.loads(Path(path).read_text(encoding="utf-8")))


def _read_marker(path: Path) -> dict | None:
    """The marker's record; None when absent, {} when unreadable (a rerun explains it so)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError, UnicodeDecodeError):
        return {}


@dataclass(kw_only=True)
class Listed:
    """One cached thing found on disk, for ``hoilib cache list`` and ``prune``."""

    folder: Path
    name: str
    status: str  # current, superseded or orphan (a keyed-looking file no marker owns)
    files: list[Path]
    marker: Path | None
    last_used: float
    size: int = 0  # bytes of its files when surveyed
    legacy: bool = False  # a marker written before this cache recorded its shape

    def __post_init__(self):
        self.size = sum(p.stat().st_size for p in self.files if p.is_file())


def survey(roots: Iterable[str | os.PathLike]) -> list[Listed]:
    """Every entry under ``roots``: per folder and name, the keyed entry used last is current."""
    entries, last = [], {}
    for root in sorted({Path(r).resolve() for r in roots if Path(r).is_dir()}):
        for marker in sorted(root.rglob(".*.done.json")):
            rec = _read_marker(marker) or {}
            stem = MARKER.match(marker.name)["stem"]
            keyed = rec.get("keyed", bool(KEYED_STEM.match(stem)))
            name = rec.get("name") or (KEYED_STEM.match(stem)["name"] if keyed else stem)
            # a marker of the cache before hoilib.cache recorded one "file" and no "keyed"
            names = rec.get("files") or ([rec["file"]] if isinstance(rec.get("file"), str) else [])
            files = [marker.parent / f for f in names]
            e = Listed(
                folder=marker.parent,
                name=name,
                status="current",
                files=files,
                marker=marker,
                last_used=marker.stat().st_mtime,
            )
            e.legacy = "keyed" not in rec
            entries.append(e)
            if keyed:
                k = (e.folder, name)
                if k in last and last[k].last_used >= e.last_used:
                    e.status = "superseded"
                else:
                    if k in last:
                        last[k].status = "superseded"
                    last[k] = e
    # an old-format marker beside entries of this version: superseded by them
    for e in entries:
        if e.legacy and any(f == e.folder and not x.legacy for (f, _), x in last.items()):
            e.status = "superseded"
    owned = {p for e in entries for p in e.files}
    for folder in sorted({f for f, _ in last}):
        for p in sorted(folder.iterdir()):
            if (
                p.is_file()
                and not p.name.startswith(".")
                and KEYED_FILE.match(p.name)
                and p not in owned
            ):
                entries.append(
                    Listed(
                        folder=folder,
                        name=p.name,
                        status="orphan",
                        files=[p],
                        marker=None,
                        last_used=p.stat().st_mtime,
                    )
                )
    return entries


def prune(roots: Iterable[str | os.PathLike], dry_run: bool = False) -> list[Listed]:
    """Remove superseded entries (files, then marker) and orphan files; returns what was (or would be) removed."""
    gone = [e for e in survey(roots) if e.status != "current"]
    if not dry_run:
        for e in gone:
            for p in e.files:
                p.unlink(missing_ok=True)
            if e.marker is not None:
                e.marker.unlink(missing_ok=True)
    return gone


def table(entries: Sequence[Listed], root: str | os.PathLike | None = None) -> str:
    """One line per entry: status, size, last use, folder and name (folders relative to ``root``)."""
    lines = []
    for e in entries:
        where = e.folder.relative_to(root) if root and e.folder.is_relative_to(root) else e.folder
        when = datetime.fromtimestamp(e.last_used, UTC).strftime("%Y-%m-%d %H:%M")
        size = f"{e.size / 1e6:9.1f} MB" if e.files else "   (folder)"
        lines.append(f"{e.status:10s} {size}  {when}  {where}/{e.name}")
    return "\n".join(lines)
