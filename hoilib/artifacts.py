"""Atomic, pickle-free artifacts: JSON metadata, safetensors tensors, fingerprints, the run log.

Every file a run writes goes through here, so an interrupted run never leaves a
half-written artifact behind (write to a temp file in the same folder, then
rename) and nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoilib.errors import ArtifactError

# torch is imported where tensors are saved or read: `hoilib book` never needs it
if TYPE_CHECKING:
    import torch


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # not mkstemp, which makes the file private (0600): a new name opened exclusively with 0666,
    # so the umask gives it the mode of any other file written here
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _strict(obj: Any) -> Any:
    """NaN/inf -> None (strict JSON has no NaN); numpy scalars -> Python numbers."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def dumps_json(obj: Any, compact: bool = False) -> str:
    """Canonical, strict JSON (sorted keys, fixed separators, no NaN): byte-identical for equal data.

    ``compact`` drops the indentation, for files only programs read (cached values): without
    it, json encodes in C, about ten times faster on a chapter's megabytes of tables.
    """
    layout = {"separators": (",", ":")} if compact else {"indent": 1}
    return (
        json.dumps(_strict(obj), sort_keys=True, ensure_ascii=True, allow_nan=False, **layout)
        + "\n"
    )


def write_json(path: str | os.PathLike, obj: Any, compact: bool = False) -> Path:
    return write_bytes(path, dumps_json(obj, compact).encode("utf-8"))


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read JSON with an error that names the file and what was expected."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{what} {path} is not valid JSON: {e}") from e


def read_json_or_none(path: str | os.PathLike) -> Any:
    """A JSON record, or None when it is missing or unreadable: for pages that say so instead of failing."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict | None = None
) -> Path:
    """Save tensors as safetensors; ``meta`` is stored as one JSON string in the header."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    header = {"meta": json.dumps(meta or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return Path(path)


def load_tensors(
    path: str | os.PathLike, what: str = "tensor file", kind: str | None = None
) -> tuple[dict[str, torch.Tensor], dict]:
    """Load a safetensors file and its JSON metadata; truncated or foreign files raise ArtifactError.

    With ``kind``, the metadata field 'kind' must equal it (a checkpoint of another sort is refused).
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} not found: {path}")
    try:
        tensors = load_file(str(path))

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ArtifactError(
            f"{what} {path} is not a readable safetensors file (truncated or corrupt?): {e}"
        ) from e
    try:
        meta = json.loads(header.get("meta", "{}"))
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{what} {path}: metadata field 'meta' is not JSON: {e}") from e
    if kind is not None and meta.get("kind") != kind:
        raise ArtifactError(
            f"{path}: metadata field 'kind' is {meta.get('kind')!r}, expected {kind!r}"
        )
    return tensors, meta


# set by the runner: the run's run.log, which the chapters' cache entries append to
RUN_LOG_ENV = "HOIBOOK_RUN_LOG"


def append_log(path: str | os.PathLike, msg: str) -> None:
    """Append ``msg``, each line stamped with the UTC time; a log that cannot be written never fails a run."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with open(path, "a", encoding="utf-8") as f:
            for line in str(msg).splitlines() or [""]:
                f.write(f"{stamp} {line}\n")
    except OSError:
        pass


def stage_log(msg: str) -> None:
    """Which stages a chapter reused or recomputed, into the run log (when a runner set one)."""
    path = os.environ.get(RUN_LOG_ENV)
    if path:
        append_log(path, msg)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of tensor names and bytes (content, not file: file metadata may hold wall-clock times)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def fingerprint(obj: Any) -> str:
    """Short stable hash of JSON-serialisable data (configs, file hashes)."""
    return hashlib.sha256(dumps_json(obj).encode("utf-8")).hexdigest()[:16]
