"""The two ways crops reach the image tower, batch for batch the same: cut by Pillow in the loader, or on the device.

``pil``: DataLoader workers cut each pair's crops with ``crops.pair_crop`` (the CPU's path).
``device``: workers only decode each image once; ``tensor_crops.crop_resize`` cuts and resizes
on the device, byte for byte as Pillow would (a GPU is not kept waiting on PIL). Both yield
uint8 (pairs, kinds, size, size, 3) batches of the same pairs, on the device, in pair order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from hoilib.data.annotations import HOIDataset, PairSet
from hoilib.data.crops import pair_crop
from hoilib.data.images import open_rgb
from hoilib.data.tensor_crops import crop_resize, kind_boxes, plan_crops
from hoilib.errors import DataError

CROP_PATHS = ("pil", "device")


class _PairImageFiles(Dataset):
    """The pairs ``index`` of ``pairs`` and the files of their images: what a worker needs, cheap to send."""

    def __init__(self, ds: HOIDataset, pairs: PairSet, index: Sequence[int] | None = None):
        self.annotations = str(ds.path)
        self.index = np.arange(len(pairs)) if index is None else np.asarray(index, dtype=np.int64)
        self.image = np.asarray(pairs.image)[self.index].astype(np.int64)
        self.boxes_h = np.asarray(pairs.boxes_h)[self.index]
        self.boxes_o = np.asarray(pairs.boxes_o)[self.index]
        self.paths = {int(i): ds.image_path(int(i)) for i in np.unique(self.image)}

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

    def _decode(self, i: int) -> Image.Image:
        if not self.paths[i].is_file():
            raise self._not_found(i)
        return open_rgb(self.paths[i], f"{self.annotations}: image {i}: image file")


class PairCrops(_PairImageFiles):
    """Pair number -> uint8 (kinds, size, size, 3) crops of that pair, in ``kinds`` order, cut by Pillow.

    The last opened image is kept: pairs come grouped by image, and a worker gets whole
    consecutive batches.
    """

    def __init__(self, ds, pairs, kinds: Sequence[str], *, size: int, index=None):
        super().__init__(ds, pairs, index)
        self.kinds, self.size = tuple(kinds), size
        self._last: tuple[int, Image.Image | None] = (-1, None)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> torch.Tensor:
        i = int(self.image[k])
        if self._last[0] != i:
            self._last = (i, self._decode(i))
        img = self._last[1]
        crops = [
            np.asarray(
                pair_crop(img, self.boxes_h[k], self.boxes_o[k], kind=kind, size=self.size).convert(
                    "RGB"
                ),
                dtype=np.uint8,
            )
            for kind in self.kinds
        ]
        return torch.from_numpy(np.stack(crops))


class PairImages(_PairImageFiles):
    """Batch number -> that batch's images, decoded once and padded into one uint8 tensor, and its crop plan.

    Item b covers pairs [b * per_batch, (b + 1) * per_batch): the batches ``PairCrops`` forms.
    The worker decodes and plans (``tensor_crops.plan_crops``); the device only cuts.
    """

    def __init__(self, ds, pairs, kinds: Sequence[str], *, size: int, per_batch: int, index=None):
        super().__init__(ds, pairs, index)
        self.kinds, self.size, self.per_batch = tuple(kinds), size, per_batch

    def __len__(self) -> int:
        return -(-len(self.index) // self.per_batch)

    def __getitem__(self, b: int) -> dict:
        sl = slice(b * self.per_batch, (b + 1) * self.per_batch)
        ids, slot = np.unique(self.image[sl], return_inverse=True)
        decoded = [np.asarray(self._decode(i), np.uint8) for i in ids.tolist()]
        hw = np.array([d.shape[:2] for d in decoded], dtype=np.int64)
        images = np.zeros((len(decoded), *hw.max(0), 3), np.uint8)
        for k, d in enumerate(decoded):
            images[k, : d.shape[0], : d.shape[1]] = d
        # every kind's crops in one plan, kind after kind
        boxes = [kind_boxes(self.boxes_h[sl], self.boxes_o[sl], k) for k in self.kinds]
        owner = np.tile(slot.reshape(-1), len(self.kinds))
        return {
            "images": torch.from_numpy(images),
            "hw": torch.from_numpy(hw),
            "plan": plan_crops(np.concatenate(boxes), owner, self.size),
        }


def _device_batch(item: dict, n_kinds: int, size: int, *, dev) -> torch.Tensor:
    """One ``PairImages`` item's crops on ``dev``: uint8 (pairs, kinds, size, size, 3)."""
    images = item["images"].to(dev, non_blocking=True)
    crops = crop_resize(images, item["hw"].to(dev), item["plan"], size=size)
    return crops.view(n_kinds, -1, size, size, 3).transpose(0, 1)


def _unwrap_worker_error(e: DataError) -> DataError:
    """A worker's DataError reaches us as 'Caught DataError in DataLoader worker ...' plus its traceback:
    give back the original message (it names the annotation file, image and path), and which worker."""
    msg = str(e)
    if not msg.startswith("Caught DataError"):
        return e
    head = msg.splitlines()[0].removeprefix("Caught DataError ").rstrip(".")
    original = [ln for ln in msg.splitlines() if ln.startswith("hoilib.errors.DataError: ")]
    return DataError(f"{original[-1].split(': ', 1)[1]} ({head})") if original else DataError(msg)


def crop_batches(
    ds: HOIDataset,
    pairs: PairSet,
    kinds: Sequence[str],
    *,
    size: int,
    per_batch: int,
    device: str,
    num_workers: int = 0,
    index: Sequence[int] | None = None,
    path: str = "pil",
) -> Iterator[torch.Tensor]:
    """uint8 (b, len(kinds), size, size, 3) crops on ``device``, ``per_batch`` pairs at a time, in pair order.

    A missing image raises DataError before any work, naming the same image on both paths.
    """
    if path not in CROP_PATHS:
        raise ValueError(f"crop path must be one of {CROP_PATHS}, got {path!r}")
    dev = torch.device(device)
    if path == "pil":
        data = PairCrops(ds, pairs, kinds, size=size, index=index)
    else:
        data = PairImages(ds, pairs, kinds, size=size, per_batch=per_batch, index=index)
    err = data.missing_image()
    if err is not None:
        raise err
    loader = DataLoader(
        data,
        batch_size=per_batch if path == "pil" else None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    try:
        for item in loader:
            if path == "pil":
                yield item.to(dev, non_blocking=True)
            else:
                yield _device_batch(item, len(kinds), size, dev=dev)
    except DataError as e:
        clean = _unwrap_worker_error(e)
        if clean is e:
            raise
        raise clean from e
