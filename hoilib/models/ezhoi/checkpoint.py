"""EZ-HOI checkpoints: trainable weights as safetensors, config/split/seed/code version as JSON metadata.

Loading checks the metadata against the model it is loaded into, so a checkpoint
from another configuration (feature width, class count, prompt shape) is refused
with the mismatch named, and a truncated file is refused as unreadable.
"""

from __future__ import annotations

from pathlib import Path

from hoilib import __version__, artifacts
from hoilib.errors import ArtifactError
from hoilib.models.ezhoi.model import EZHOI

KIND = "ezhoi-head"


def save_checkpoint(path: str | Path, model: EZHOI, meta: dict) -> Path:
    full = {"kind": KIND, "config": model.cfg.to_dict(), "hoilib": __version__, **meta}
    return artifacts.save_tensors(path, model.trainable_state(), full)


def load_checkpoint(path: str | Path, model: EZHOI) -> dict:
    """Load weights into ``model`` after checking that the checkpoint was made for its configuration."""
    tensors, meta = artifacts.load_tensors(path, "EZ-HOI checkpoint", kind=KIND)
    want, got = model.cfg.to_dict(), meta.get("config", {})
    diffs = [
        f"{k}: checkpoint {got.get(k)!r}, model {v!r}" for k, v in want.items() if got.get(k) != v
    ]
    if diffs:
        raise ArtifactError(
            f"{path}: checkpoint was made for another configuration ({'; '.join(diffs)})"
        )
    state = model.state_dict()
    bad = [
        f"{k}: checkpoint {tuple(tensors[k].shape)}, model {tuple(v.shape)}"
        for k, v in state.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    missing = sorted(set(state) - set(tensors))
    if bad or missing:
        raise ArtifactError(
            f"{path}: weights do not fit the model (shape mismatch: {bad}; missing: {missing[:5]})"
        )
    model.load_state_dict(tensors)
    return meta
