"""EZ-HOI as a cached stage: build the model from a backbone and world, train per split/flags/seed, evaluate.

Every trained model is a cache entry: its checkpoint is reused while the backbone,
world, split, flags, seed and the ``ezhoi`` section of the parameters are unchanged.
The pairs it trains and is tested on come from ``hoilib.models.split_data``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hoilib import artifacts, cache, distributed
from hoilib.config import EZHOICfg, RunCfg, resolve_device, stage_root
from hoilib.data.world import World
from hoilib.measure.metric import evaluate_hoi
from hoilib.models.backbone import Backbone
from hoilib.models.ezhoi.checkpoint import load_checkpoint, save_checkpoint
from hoilib.models.ezhoi.model import EZHOI, EZHOIConfig
from hoilib.models.ezhoi.prompts import related_classes
from hoilib.models.ezhoi.train import predict, train_ezhoi
from hoilib.models.split_data import SplitData
from hoilib.timing import timed

# name -> (use_prompts, use_adapter, use_descriptors, prompt kind; None = the profile's prompt_kind,
# class-specific by default as in the design document; "shared prompts" is the ablation of that)
ABLATIONS = {
    "full": (True, True, True, None),
    "shared prompts": (True, True, True, "shared"),
    "no prompts": (False, True, True, None),
    "no text adapter": (True, False, True, None),
    "no descriptors": (True, True, False, None),
    "frozen text": (False, False, False, None),
}


@torch.no_grad()
def descriptor_features(
    backbone: Backbone, world: World, k: int = 3, *, folder: str | Path | None = None
) -> torch.Tensor:
    """(C, k, D): each class's k descriptor sentences closest (cosine) to its class prompt, frozen CLIP text.

    With ``folder``, stored there and read back while the backbone, the sentences and the text
    tower's output on the class prompts (which moves with the CPU kernels) are unchanged: at
    HICO-DET's 600 classes, encoding them class by class costs seconds in each of chapters 2-5.
    """
    prompts = backbone.encode_text(world.prompts)
    if folder is None:
        return _closest_descriptors(backbone, world, prompts, k=k)
    inputs = {
        "backbone": backbone.fingerprint,
        "texts": artifacts.fingerprint([world.prompts, world.descriptors]),
        "k": k,
        "probe": artifacts.tensor_digest({"prompts": prompts}),
    }
    entry = cache.Entry(folder, "descriptors", inputs, code="ezhoi", keyed=True)
    return entry.fetch(
        lambda: _closest_descriptors(backbone, world, prompts, k=k),
        _save_descriptors,
        _load_descriptors,
        suffix=".safetensors",
    )


def _save_descriptors(desc: torch.Tensor, path: Path) -> None:
    artifacts.save_tensors(path, {"desc": desc}, {"kind": "descriptors"})


def _load_descriptors(path: Path) -> torch.Tensor:
    return artifacts.load_tensors(path, "descriptor features", kind="descriptors")[0]["desc"]


def _closest_descriptors(backbone: Backbone, world: World, prompts: torch.Tensor, *, k: int):
    out = []
    for c, sentences in enumerate(world.descriptors):
        f = backbone.encode_text(sentences)
        top = torch.argsort(f @ prompts[c], descending=True)[:k]
        out.append(f[top])
    return torch.stack(out)


def build_model(
    section: EZHOICfg,
    backbone: Backbone,
    world: World,
    *,
    flags=(True, True, True, None),
    desc=None,
    trained: np.ndarray | None = None,
) -> EZHOI:
    """The model of one configuration; ``trained`` (C,) marks the classes it trains on, which
    class-specific prompts need (a held-out class borrows its relatives' context)."""
    for p in backbone.model.parameters():
        p.requires_grad_(False)
    backbone.model.eval()
    ecfg = EZHOIConfig(
        dim=backbone.embed_dim,
        num_classes=world.num_classes,
        use_prompts=flags[0],
        use_adapter=flags[1],
        use_descriptors=flags[2],
        n_ctx=section.n_ctx,
        prompt_depth=section.prompt_depth,
        prompt_kind=(flags[3] if len(flags) > 3 else None) or section.prompt_kind,
    )
    desc = descriptor_features(backbone, world) if desc is None else desc
    relate = None
    if ecfg.prompt_kind == "class":
        trained = np.ones(world.num_classes, bool) if trained is None else trained
        relate = related_classes(world.classes, trained)
    return EZHOI(
        ecfg,
        backbone.model,
        backbone.tokenizer(world.prompts),
        descriptor_feats=desc,
        relate=relate,
    )


def train_or_load(
    section: EZHOICfg,
    run: RunCfg,
    backbone: Backbone,
    *,
    world: World,
    data: SplitData,
    name: str,
    seed: int,
    desc=None,
):
    """Train one configuration (or load its checkpoint); returns (model, meta with history).

    It keys on its own section (``cfg.ezhoi``); ``run`` says where it lives and on which device."""
    flags = ABLATIONS[name]
    torch.manual_seed(seed)
    model = build_model(section, backbone, world, flags=flags, desc=desc, trained=data.trained)
    inputs = {
        "backbone": backbone.fingerprint,
        "world": artifacts.sha256_file(world.train.path),
        "split": data.split,
        "flags": list(flags[:3]),
        "prompt_kind": model.cfg.prompt_kind,
        "seed": seed,
        "settings": section.key(),
        "cpu_kernels": run.cpu_kernels,
    }
    path = checkpoint_path(run, data.split, name, seed=seed)
    stage = cache.Entry(path.parent, path.stem, inputs, code="ezhoi")
    inputs = stage.inputs  # with the code digest, as the checkpoint records them
    # an unreadable checkpoint is set aside and trained again (load_checkpoint checks it all
    # before it touches the model, so training starts from the same seeded weights)
    found, meta = stage.stored(path, lambda p: load_checkpoint(p, model))
    if found:
        return model, meta
    with timed("EZ-HOI training"):
        hist = train_ezhoi(
            model,
            data.train,
            data.val,
            classes=world.classes,
            seen=data.trained,
            epochs=section.epochs,
            batch_images=section.batch_images,
            lr=section.lr,
            seed=seed,
            device=resolve_device(run.device),
        )
    meta = {
        "split": data.split,
        "seed": seed,
        "ablation": name,
        "history": hist,
        "inputs": inputs,
        "unseen": np.flatnonzero(data.unseen).tolist(),
        "pseudo_unseen": np.flatnonzero(~data.trained & ~data.unseen).tolist(),
    }
    if distributed.is_main():  # under torchrun every rank holds the same weights; one writes them
        save_checkpoint(path, model, meta)
        stage.mark_done([path])
    distributed.barrier()
    return model, {**meta, "config": model.cfg.to_dict()}


def evaluate_model(model: EZHOI, world: World, data: SplitData) -> dict:
    dets = predict(model, data.test, world.classes)
    return evaluate_hoi(
        dets, world.test.ground_truth(), world.num_classes, rare=world.rare, unseen=data.unseen
    ).as_percent()


def checkpoint_path(run: RunCfg, split: str, name: str, *, seed: int) -> Path:
    return stage_root(run) / "ezhoi" / f"{split}-{name.replace(' ', '_')}-seed{seed}.safetensors"


@torch.no_grad()
def pair_visual_features(model: EZHOI, data: SplitData) -> torch.Tensor:
    """The model's fused visual features of every test pair, in ``data.test_pairs`` order."""
    te = data.test
    if len(data.test_pairs) and np.any(np.diff(data.test_pairs.image) < 0):
        raise ValueError("test pairs must be grouped by image in increasing order")
    model.eval()
    v = model.visual_features(te.h, te.o, te.u, pad=te.pad)
    return v[~te.pad]
