"""Frozen-CLIP features of human, object and union crops, extracted in batches and cached by content.

The cache key hashes the backbone weights, the annotation file, the pair boxes
and the crop settings, so a changed input never reuses stale features and an
unchanged one is never recomputed.

Crops are cut by a DataLoader (worker processes on CUDA, pinned memory) so the GPU
is not kept waiting on PIL; on CUDA the image tower runs under bf16 autocast.
On the CPU nothing changes: same batches, same float32 maths, bit-identical
features and the same cache key as the single-loop version. Under torchrun each
rank extracts a contiguous shard of the pairs and the shards are gathered in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from hoilib import artifacts, cache, distributed
from hoilib.data.annotations import HOIDataset, PairSet
from hoilib.data.crops import pair_crop
from hoilib.data.images import open_rgb
from hoilib.errors import DataError
from hoilib.models.backbone import Backbone
from hoilib.progress import tqdm
from hoilib.timing import timed

CROP_VERSION = 1


def feature_entry(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
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


class PairCrops(Dataset):
    """Pair index -> uint8 (kinds, size, size, 3) crops of that pair, in ``kinds`` order.

    Holds only what a worker needs (the paths of the images the pairs use, the
    boxes), so it is cheap to send to worker processes. The last opened image is
    kept: pairs come grouped by image, and a worker gets whole consecutive batches.
    """

    def __init__(
        self,
        ds: HOIDataset,
        pairs: PairSet,
        kinds: Sequence[str],
        size: int,
        index: Sequence[int] | None = None,
    ):
        self.annotations = str(ds.path)
        self.index = np.arange(len(pairs)) if index is None else np.asarray(index, dtype=np.int64)
        self.image = np.asarray(pairs.image)[self.index].astype(np.int64)
        self.boxes_h = np.asarray(pairs.boxes_h)[self.index]
        self.boxes_o = np.asarray(pairs.boxes_o)[self.index]
        self.paths = {int(i): ds.image_path(int(i)) for i in np.unique(self.image)}
        self.kinds, self.size = tuple(kinds), size
        self._last: tuple[int, Image.Image | None] = (-1, None)

    def __len__(self) -> int:
        return len(self.index)

    def missing_image(self) -> DataError | None:
        """The error for the first missing image in pair order (checked up front, so it reads the same with workers)."""
        seen = set()
        for i in self.image.tolist():
            if i not in seen:
                seen.add(i)
                if not self.paths[i].is_file():
                    return self._not_found(i)
        return None

    def _not_found(self, i: int) -> DataError:
        return DataError(f"{self.annotations}: image {i}: image file not found: {self.paths[i]}")

    def _open(self, i: int) -> Image.Image:
        if self._last[0] != i:
            if not self.paths[i].is_file():
                raise self._not_found(i)
            img = open_rgb(self.paths[i], f"{self.annotations}: image {i}: image file")
            self._last = (i, img)
        return self._last[1]

    def __getitem__(self, k: int) -> torch.Tensor:
        img = self._open(int(self.image[k]))
        crops = [
            np.asarray(
                pair_crop(img, self.boxes_h[k], self.boxes_o[k], kind, self.size).convert("RGB"),
                dtype=np.uint8,
            )
            for kind in self.kinds
        ]
        return torch.from_numpy(np.stack(crops))


def _normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """``backbone.normalize_uint8`` on any device: the same operations, so CPU results are bit-identical."""
    x = x.float() / 255.0
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _unwrap_worker_error(e: DataError) -> DataError:
    """A worker's DataError reaches us as 'Caught DataError in DataLoader worker ...' plus its traceback:
    give back the original message (it names the annotation file, image and path), and which worker."""
    msg = str(e)
    if not msg.startswith("Caught DataError"):
        return e
    head = msg.splitlines()[0].removeprefix("Caught DataError ").rstrip(".")
    original = [ln for ln in msg.splitlines() if ln.startswith("hoilib.errors.DataError: ")]
    return DataError(f"{original[-1].split(': ', 1)[1]} ({head})") if original else DataError(msg)


def default_workers(device: str) -> int:
    """Crop workers: up to 4 per process on CUDA (cores shared by the ranks on this machine), none on the CPU.

    On the CPU the model needs every core itself; workers would only compete with it.
    """
    if not str(device).startswith("cuda"):
        return 0
    cores = (os.cpu_count() or 1) // distributed.local_world_size()
    return max(0, min(4, cores - 1))


@torch.no_grad()
def encode_crops(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
    kinds: Sequence[str],
    device: str = "cpu",
    batch_size: int = 256,
    num_workers: int = 0,
    autocast: bool = False,
    index: Sequence[int] | None = None,
    show_progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Features of the pairs ``index`` (default all), no cache: L2-normalised float32 (len(index), D) per kind.

    A batch holds ceil(batch_size / len(kinds)) pairs, each with its crops in ``kinds``
    order: the batches the single-loop version formed, so CPU numbers do not move.
    """
    kinds = tuple(kinds)
    data = PairCrops(ds, pairs, kinds, backbone.image_size, index)
    err = data.missing_image()
    if err is not None:
        raise err
    dim = backbone.embed_dim
    if len(data) == 0:
        return {k: torch.zeros(0, dim) for k in kinds}
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    per_batch = -(-batch_size // len(kinds))
    loader = DataLoader(
        data,
        batch_size=per_batch,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    home = next(
        backbone.model.parameters()
    ).device  # where the caller keeps it: put back after (text stays there)
    model = backbone.model.to(dev).eval()
    out = {k: [] for k in kinds}
    # disabled only when asked: an explicit disable=False would override TQDM_DISABLE (batch runs)
    bar = tqdm(
        total=len(data),
        desc=f"CLIP features ({', '.join(kinds)} crops)",
        leave=False,
        **({} if show_progress and distributed.is_main() else {"disable": True}),
    )
    try:
        for batch in loader:
            b, _, s, _, c = batch.shape
            x = (
                batch.reshape(b * len(kinds), s, s, c)
                .to(dev, non_blocking=True)
                .permute(0, 3, 1, 2)
            )
            x = _normalize(x, backbone.mean, backbone.std)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
                f = model.encode_image(x)
            f = F.normalize(f.float(), dim=-1).cpu().view(b, len(kinds), -1)
            for j, kind in enumerate(kinds):
                out[kind].append(f[:, j])
            bar.update(b)
    except DataError as e:
        clean = _unwrap_worker_error(e)
        if clean is e:
            raise
        raise clean from e
    finally:
        bar.close()
        backbone.model.to(home)
    return {k: torch.cat(v) for k, v in out.items()}


@torch.no_grad()
def extract_pair_features(
    backbone: Backbone,
    ds: HOIDataset,
    pairs: PairSet,
    cache_dir: str | Path,
    kinds: Sequence[str] = ("human", "object", "union"),
    device: str = "cpu",
    batch_size: int = 256,
    show_progress: bool = True,
    num_workers: int | None = None,
    autocast: bool | None = None,
) -> dict[str, torch.Tensor]:
    """L2-normalised float32 image features (P, D) per crop kind, in pair order, from the cache when present.

    ``num_workers``: crop-cutting processes (None: ``default_workers(device)``).
    ``autocast``: bf16 autocast for the image tower (None: on for CUDA, off elsewhere;
    bf16 features get their own cache key). Under torchrun every rank returns the
    full tensors; rank 0 writes the cache, the others wait for it.
    """
    dev = torch.device(device)
    autocast = dev.type == "cuda" if autocast is None else bool(autocast)
    num_workers = default_workers(device) if num_workers is None else int(num_workers)
    entry = feature_entry(
        backbone, ds, pairs, kinds, cache_dir, precision="bf16" if autocast else None
    )
    path = entry.path(".safetensors")
    if distributed.all_true(entry.done([path])):
        tensors, _ = artifacts.load_tensors(path, "feature cache")
        return tensors
    # every rank checks every image, so all of them stop together instead of hanging
    if distributed.active():
        err = PairCrops(ds, pairs, kinds, backbone.image_size).missing_image()
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
            kinds,
            device,
            batch_size,
            num_workers,
            autocast,
            index=np.arange(mine.start, mine.stop),
            show_progress=show_progress,
        )
    tensors = {k: distributed.gather_in_order(local[k], len(pairs), block) for k in kinds}
    if distributed.is_main():
        artifacts.save_tensors(
            path, tensors, {"backbone": backbone.name, "n_pairs": len(pairs), "kinds": list(kinds)}
        )
        entry.mark_done([path])
    distributed.barrier()
    return tensors
