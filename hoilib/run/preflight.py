"""Checks of a resolved profile against the machine, before any chapter runs.

``config.resolve`` checks each value on its own (type, range, allowed values); this
module checks what needs the file system or torch: the run folder can be created and
written, the files a profile names exist and read, the device exists, and a HICO-DET
copy has its annotations and every image they list, and every image decodes. A
problem raises a one-line ConfigError or DataError naming the parameter or file and
what was expected, so ``hoilib run`` stops with exit status 1 before it writes anything.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hoilib import artifacts
from hoilib.config import Params, stage_root
from hoilib.errors import ConfigError

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def check_run_dir(run_dir: str) -> None:
    """The run folder exists or can be made, and a file can be written in it."""
    path = Path(run_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ConfigError(
            f"parameter 'run.run_dir' = {run_dir!r}: cannot create or write this folder "
            f"({e.strerror or e}); expected a writable folder"
        ) from None


def check_device(name: str) -> None:
    import torch

    from hoilib.config import resolve_device

    dev = resolve_device(name)
    if dev.startswith("cuda"):
        index = int(dev.split(":")[1]) if ":" in dev else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError(
                f"parameter 'run.device' = {name!r}, but torch sees {torch.cuda.device_count()} CUDA "
                "device(s); expected auto or cpu on this machine"
            )
    if dev == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(
            f"parameter 'run.device' = {name!r}, but this torch has no MPS device; expected auto or cpu"
        )


def check_backbone(cfg: Params) -> None:
    """An open_clip name that exists, and a weights file that exists where a path is given."""
    from hoilib.models.backbone import SYNTH_BACKBONE, check_model_name

    if cfg.backbone.name == SYNTH_BACKBONE:
        return
    check_model_name(cfg.backbone.name)
    pre = cfg.backbone.pretrained
    if (
        pre
        and (os.sep in pre or pre.endswith(WEIGHT_SUFFIXES))
        and not Path(pre).expanduser().is_file()
    ):
        raise ConfigError(
            f"parameter 'backbone.pretrained' = {pre!r}: no such weights file; expected a file or an "
            "open_clip tag such as openai"
        )


def check_inputs(cfg: Params) -> tuple[int, int] | None:
    """Everything a run reads, checked without writing (the run folder last, as it is created).

    Returns the (train, test) pair counts of a HICO-DET copy (read here anyway), for the
    run's estimate of what it needs (``budget``); None for HOI-Synth, which is generated later."""
    check_device(cfg.run.device)
    check_backbone(cfg)
    if cfg.world.pair_source != "gt" and not Path(cfg.world.pair_source).expanduser().is_file():
        raise ConfigError(
            f"parameter 'world.pair_source' = {cfg.world.pair_source!r}: no such detections file; "
            "expected gt or a JSON file in the format of hoilib/data/detections.py"
        )
    record, pairs, decoded = None, None, stage_root(cfg.run) / "images-decoded.json"
    if cfg.world.dataset == "hico-det":
        from hoilib.data.build import prepare_world
        from hoilib.data.image_check import verify_images

        # annotations parsed, every listed image present, the official lists matched
        world = prepare_world(cfg)
        if world.pair_source != "gt":
            from hoilib.data.detections import read_detections

            read_detections(world.pair_source, world.test)
        # and every image decodes (files found good before, unchanged, are not decoded again)
        paths = [
            ds.image_path(i) for ds in (world.train, world.test) for i in range(len(ds.images))
        ]
        record = verify_images(paths, decoded)
        pairs = tuple(sum(len(im.hoi) for im in ds.images) for ds in (world.train, world.test))
    check_run_dir(cfg.run.run_dir)
    if record is not None:  # written only once the run folder is known to be writable
        artifacts.write_json(decoded, record)
    return pairs
