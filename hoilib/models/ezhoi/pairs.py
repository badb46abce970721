"""Pack candidate pairs per image into padded tensors, with multi-hot targets from the annotations.

Training and evaluation both work image by image (the pair adapter attends across
the pairs of one image), so pairs are grouped into (images, max pairs, ...) tensors
with a padding mask.

A pair's score prior (detected pairs, ``PairSet.prior``) travels along as a
(images, max pairs) float64 tensor, 1 on padding and for pairs without a prior;
only :func:`hoilib.models.ezhoi.train.predict` uses it, training ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hoilib.data.annotations import HOIDataset, PairSet, pair_key


@dataclass(kw_only=True)
class PairTensors:
    h: torch.Tensor  # (N, P, D)
    o: torch.Tensor
    u: torch.Tensor
    pad: torch.Tensor  # (N, P) True = no pair
    obj: torch.Tensor  # (N, P) object category (-1 on padding)
    targets: torch.Tensor  # (N, P, C) multi-hot
    image: np.ndarray  # (N,) image index in the dataset
    boxes_h: np.ndarray  # (N, P, 4)
    boxes_o: np.ndarray
    prior: torch.Tensor | None = None  # (N, P) float64 score weight per pair; None = all ones

    def __len__(self) -> int:
        return len(self.image)

    def subset(self, idx) -> PairTensors:
        idx = np.asarray(idx)
        t = torch.as_tensor(idx)
        return PairTensors(
            h=self.h[t],
            o=self.o[t],
            u=self.u[t],
            pad=self.pad[t],
            obj=self.obj[t],
            targets=self.targets[t],
            image=self.image[idx],
            boxes_h=self.boxes_h[idx],
            boxes_o=self.boxes_o[idx],
            prior=None if self.prior is None else self.prior[t],
        )


def pack_pairs(ds: HOIDataset, pairs: PairSet, feats: dict[str, torch.Tensor]) -> PairTensors:
    """Group pairs by image; targets mark every annotated class of each pair (all of ds's annotations).

    ``prior``: each pair's ``pairs.prior`` (ones when the pair set has none, and on padding).
    """
    C = ds.num_classes
    labels: dict = {}
    for im in ds.images:
        for k in range(len(im.hoi)):
            labels.setdefault(pair_key(im.index, im.boxes_h[k], im.boxes_o[k]), set()).add(
                int(im.hoi[k])
            )
    images = sorted(set(int(i) for i in pairs.image))
    row = {img: r for r, img in enumerate(images)}
    counts = (
        np.bincount([row[int(i)] for i in pairs.image], minlength=len(images))
        if len(images)
        else np.zeros(0, int)
    )
    N, P, D = len(images), int(counts.max()) if len(images) else 0, feats["union"].shape[1]
    h, o, u = (torch.zeros(N, P, D) for _ in range(3))
    pad = torch.ones(N, P, dtype=torch.bool)
    obj = torch.full((N, P), -1, dtype=torch.long)
    targets = torch.zeros(N, P, C)
    bh = np.zeros((N, P, 4))
    bo = np.zeros((N, P, 4))
    fill = np.zeros(N, dtype=int)
    prior = torch.ones(N, P, dtype=torch.float64)
    pair_prior = None if pairs.prior is None else np.asarray(pairs.prior, dtype=np.float64)
    for p in range(len(pairs)):
        r = row[int(pairs.image[p])]
        j = fill[r]
        fill[r] += 1
        h[r, j], o[r, j], u[r, j] = feats["human"][p], feats["object"][p], feats["union"][p]
        pad[r, j] = False
        obj[r, j] = int(pairs.object[p])
        bh[r, j], bo[r, j] = pairs.boxes_h[p], pairs.boxes_o[p]
        if pair_prior is not None:
            prior[r, j] = float(pair_prior[p])
        for c in labels.get(pair_key(pairs.image[p], pairs.boxes_h[p], pairs.boxes_o[p]), ()):
            targets[r, j, c] = 1.0
    return PairTensors(
        h=h,
        o=o,
        u=u,
        pad=pad,
        obj=obj,
        targets=targets,
        image=np.asarray(images, dtype=np.int64),
        boxes_h=bh,
        boxes_o=bo,
        prior=prior,
    )
