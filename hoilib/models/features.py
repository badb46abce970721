"""Frozen-CLIP features of human, object and union crops, extracted in batches and cached by content.

The cache key hashes the backbone weights, the annotation file, the pair boxes
and the crop settings, so a changed input never reuses stale features and an
unchanged one is never recomputed.

Images are read by a DataLoader (worker processes on CUDA, pinned memory). On the CPU
the workers cut the crops with Pillow; on CUDA they only decode, and the crops are cut on the
GPU, byte for byte the same (``data.crop_loaders``), so the GPU is not kept waiting on PIL and
the cache key does not depend on the path. On CUDA the image tower runs under bf16 autocast.
On the CPU nothing changes: same batches, same float32 maths, bit-identical
features and the same cache key as the single-loop version. Under torchrun each
rank extracts a contiguous shard of the pairs and the shards are gathered in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hoilib import artifacts, cache, distributed, pool
from hoilib.data.annotations import HOIDataset, PairSet
from hoilib.data.crop_loaders import PairCrops, crop_batches
from hoilib.models.backbone import Backbone
from hoilib.progress import tqdm
from hoilib.timing import timed

CROP_VERSION = 1


def feature_entry(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
    *,
    kinds: Sequence[str],
    folder: str | Path,
    precision: str | None = None,
) -> cache.Entry:
    """The cache entry of one feature set, keyed by everything the features depend on.

    ``precision`` (e.g. 'bf16') enters the key only when set, so float32 features keep their key.
    """
    inputs = {
        "backbone": backbone.fingerprint,
        "annotations": artifacts.sha256_file(ds.path),
        "pairs": artifacts.fingerprint(
            [
                pairs.image.tolist(),
                np.round(pairs.boxes_h, 2).tolist(),
                np.round(pairs.boxes_o, 2).tolist(),
            ]
        ),
        "kinds": list(kinds),
        "size": backbone.image_size,
        "crop": CROP_VERSION,
    }
    if precision:
        inputs["precision"] = precision
    name = f"features-{Path(ds.path).stem}"
    return cache.Entry(folder, name, inputs, code="features", keyed=True)


def _normalize(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``backbone.normalize_uint8`` on any device: the same operations, so CPU results are bit-identical.

    ``m`` and ``s`` (1, 3, 1, 1) are made on the device once: a copy from the host per batch would
    make the CPU wait for the GPU every batch.
    """
    return (x.float() / 255.0 - m) / s


def default_workers(device: str) -> int:
    """Crop workers: up to 4 per process on CUDA (cores shared by the ranks on this machine), none on the CPU.

    On the CPU the model needs every core itself; workers would only compete with it.
    """
    if not str(device).startswith("cuda"):
        return 0
    per_rank = pool.cores() // distributed.local_world_size()
    return max(0, min(4, per_rank - 1))


@torch.no_grad()
def encode_crops(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
    *,
    kinds: Sequence[str],
    device: str = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    autocast: bool = False,
    index: Sequence[int] | None = None,
    show_progress: bool = True,
    crop_path: str = "pil",
) -> dict[str, torch.Tensor]:
    """Features of the pairs ``index`` (default all), no cache: L2-normalised float32 (len(index), D) per kind.

    A batch holds ceil(batch_size / len(kinds)) pairs, each with its crops in ``kinds``
    order: the batches the single-loop version formed, so CPU numbers do not move.
    ``crop_path``: 'pil' (cut by the loader's workers) or 'device' (cut on ``device``, the same
    bytes: ``data.crop_loaders``).
    """
    kinds = tuple(kinds)
    n = len(pairs) if index is None else len(index)
    dim = backbone.embed_dim
    dev = torch.device(device)
    batches = crop_batches(
        ds,
        pairs,
        kinds,
        size=backbone.image_size,
        per_batch=-(-batch_size // len(kinds)),
        device=device,
        num_workers=num_workers,
        index=index,
        path=crop_path,
    )
    if n == 0:
        next(iter(batches), None)  # a missing image still raises
        return {k: torch.zeros(0, dim) for k in kinds}
    # where the caller keeps it: put back after (text stays there)
    home = next(backbone.model.parameters()).device
    model = backbone.model.to(dev).eval()
    mean, std = (
        torch.tensor(v, device=dev).view(1, 3, 1, 1) for v in (backbone.mean, backbone.std)
    )
    out = {k: [] for k in kinds}
    # disabled only when asked: an explicit disable=False would override TQDM_DISABLE (batch runs)
    bar = tqdm(
        total=n,
        desc=f"CLIP features ({', '.join(kinds)} crops)",
        leave=False,
        **({} if show_progress and distributed.is_main() else {"disable": True}),
    )
    try:
        for batch in batches:
            b, _, s, _, c = batch.shape
            x = batch.reshape(b * len(kinds), s, s, c).permute(0, 3, 1, 2)
            x = _normalize(x, mean, std)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
                f = model.encode_image(x)
            # left on the device until the end: no wait for the GPU between batches
            f = F.normalize(f.float(), dim=-1).view(b, len(kinds), -1)
            for j, kind in enumerate(kinds):
                out[kind].append(f[:, j])
            bar.update(b)
    finally:
        bar.close()
        backbone.model.to(home)
    return {k: torch.cat(v).cpu() for k, v in out.items()}


@torch.no_grad()
def extract_pair_features(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
    *,
    cache_dir: str | Path,
    kinds: Sequence[str] = ("human", "object", "union"),
    device: str = "cpu",
    batch_size: int = 256,
    show_progress: bool = True,
    num_workers: int | None = None,
    autocast: bool | None = None,
    crop_path: str | None = None,
) -> dict[str, torch.Tensor]:
    """L2-normalised float32 image features (P, D) per crop kind, in pair order, from the cache when present.

    ``num_workers``: image-reading processes (None: ``default_workers(device)``).
    ``crop_path``: 'pil' or 'device' (None: 'device' on CUDA, 'pil' elsewhere; the same crops).
    ``autocast``: bf16 autocast for the image tower (None: on for CUDA, off elsewhere;
    bf16 features get their own cache key). Under torchrun every rank returns the
    full tensors; rank 0 writes the cache, the others wait for it.
    """
    dev = torch.device(device)
    autocast = dev.type == "cuda" if autocast is None else bool(autocast)
    num_workers = default_workers(device) if num_workers is None else int(num_workers)
    crop_path = crop_path or ("device" if dev.type == "cuda" else "pil")
    entry = feature_entry(
        backbone, ds, pairs, kinds=kinds, folder=cache_dir, precision="bf16" if autocast else None
    )
    path = entry.path(".safetensors")
    if distributed.all_true(entry.done([path])):
        # an unreadable copy is set aside and recomputed (``cache.Entry.stored``), by every rank
        found, tensors = entry.stored(path, lambda p: artifacts.load_tensors(p, "feature cache")[0])
        if distributed.all_true(found):
            return tensors
    # every rank checks every image, so all of them stop together instead of hanging
    if distributed.active():
        err = PairCrops(ds, pairs, kinds, size=backbone.image_size).missing_image()
        if err is not None:
            raise err
    # shards cut at batch boundaries: the same batches as one process
    block = -(-batch_size // len(kinds))
    mine = distributed.shard(len(pairs), block)
    with timed("feature extraction"):
        local = encode_crops(
            backbone,
            ds,
            pairs,
            kinds=kinds,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            autocast=autocast,
            index=np.arange(mine.start, mine.stop),
            show_progress=show_progress,
            crop_path=crop_path,
        )
    tensors = {k: distributed.gather_in_order(local[k], len(pairs), block) for k in kinds}
    if distributed.is_main():
        artifacts.save_tensors(
            path, tensors, {"backbone": backbone.name, "n_pairs": len(pairs), "kinds": list(kinds)}
        )
        entry.mark_done([path])
    distributed.barrier()
    return tensors
