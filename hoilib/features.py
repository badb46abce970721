"""Frozen-CLIP features of human, object and union crops, extracted in batches and cached by content.

The cache key hashes the backbone weights, the annotation file, the pair boxes
and the crop settings, so a changed input never reuses stale features and an
unchanged one is never recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from hoilib.progress import progress

from hoilib import artifacts
from hoilib.backbone import Backbone
from hoilib.crops import pair_crop
from hoilib.errors import DataError
from hoilib.hicodet import HOIDataset, PairSet

CROP_VERSION = 1


def cache_key(backbone: Backbone, ds: HOIDataset, pairs: PairSet, kinds: Sequence[str]) -> str:
    h = artifacts.fingerprint({
        "backbone": backbone.fingerprint, "annotations": artifacts.sha256_file(ds.path),
        "pairs": artifacts.fingerprint([pairs.image.tolist(), np.round(pairs.boxes_h, 2).tolist(), np.round(pairs.boxes_o, 2).tolist()]),
        "kinds": list(kinds), "size": backbone.image_size, "crop": CROP_VERSION,
    })
    return h


@torch.no_grad()
def extract_pair_features(backbone: Backbone, ds: HOIDataset, pairs: PairSet, cache_dir: str | Path,
                          kinds: Sequence[str] = ("human", "object", "union"), device: str = "cpu",
                          batch_size: int = 256, show_progress: bool = True) -> dict[str, torch.Tensor]:
    """L2-normalised image features (P, D) per crop kind, from the cache when present."""
    path = Path(cache_dir) / f"features-{cache_key(backbone, ds, pairs, kinds)}.safetensors"
    if path.is_file():
        tensors, _ = artifacts.load_tensors(path, "feature cache")
        return tensors
    model = backbone.model.to(device).eval()
    out = {k: [] for k in kinds}
    buf: list[Image.Image] = []
    order = []  # which kind each buffered crop belongs to

    def flush():
        if not buf:
            return
        x = backbone.to_tensor(buf).to(device)
        f = F.normalize(model.encode_image(x).float(), dim=-1).cpu()
        for kind, row in zip(order, f):
            out[kind].append(row)
        buf.clear()
        order.clear()

    last_img, img = -1, None
    bar = progress(range(len(pairs)), desc=f"CLIP features ({', '.join(kinds)} crops)", disable=not show_progress)
    for p in bar:
        i = int(pairs.image[p])
        if i != last_img:
            fp = ds.image_path(i)
            if not fp.is_file():
                raise DataError(f"{ds.path}: image {i}: image file not found: {fp}")
            img = Image.open(fp).convert("RGB")
            last_img = i
        for kind in kinds:
            buf.append(pair_crop(img, pairs.boxes_h[p], pairs.boxes_o[p], kind, backbone.image_size))
            order.append(kind)
        if len(buf) >= batch_size:
            flush()
    flush()
    dim = backbone.embed_dim
    tensors = {k: (torch.stack(v) if v else torch.zeros(0, dim)) for k, v in out.items()}
    artifacts.save_tensors(path, tensors, {"backbone": backbone.name, "n_pairs": len(pairs), "kinds": list(kinds)})
    return tensors
