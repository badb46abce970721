"""Train the EZ-HOI-style head on the seen classes of a zero-shot split, and predict detections.

Unseen classes never reach the loss: their columns are masked out of it, on top
of their annotations being removed from the training set. Their *text* stays in
the model (the class set the adapters attend over), as in the zero-shot setting.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torchvision.ops import sigmoid_focal_loss

from hoilib.ezhoi.model import EZHOI
from hoilib.ezhoi.pairs import PairTensors
from hoilib.metric import HOIDetections, HOIGroundTruth, evaluate_hoi
from hoilib.progress import progress
from hoilib.stages import seed_everything

FOCAL_ALPHA, FOCAL_GAMMA = 0.5, 0.2  # UPT / EZ-HOI defaults


def class_objects(classes) -> torch.Tensor:
    return torch.tensor([o for _, o in classes], dtype=torch.long)


def loss_mask(batch: PairTensors, cls_obj: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(B, P, C) True where a logit is trained: a real pair, a class of its object, a seen class."""
    valid_obj = batch.obj[..., None] == cls_obj[None, None, :]
    return (~batch.pad)[..., None] & valid_obj & seen[None, None, :]


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary focal loss over the masked logits, normalised by the number of positives."""
    x, y = logits[mask], targets[mask]
    return sigmoid_focal_loss(x, y, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="sum") / y.sum().clamp(min=1.0)


@torch.no_grad()
def init_logit_bias(model: EZHOI, data: PairTensors, cls_obj: torch.Tensor) -> None:
    """Centre the initial logits: bias = -scale * mean cosine of pairs with the classes of their object."""
    v = model.visual_features(data.h, data.o, data.u, data.pad)
    t = model.text_features()
    cos = v @ t.T
    m = (~data.pad)[..., None] & (data.obj[..., None] == cls_obj[None, None, :])
    model.logit_bias.fill_(float(-model.logit_scale.exp() * cos[m].mean()))


@torch.no_grad()
def predict(model: EZHOI, data: PairTensors, classes, batch_images: int = 256) -> HOIDetections:
    """Sigmoid scores for every real pair and every class of its object."""
    model.eval()
    cls_obj = class_objects(classes)
    t = model.text_features()
    parts = []
    for s in range(0, len(data), batch_images):
        b = data.subset(np.arange(s, min(len(data), s + batch_images)))
        probs = torch.sigmoid(model.logits(model.visual_features(b.h, b.o, b.u, b.pad), t))
        m = (~b.pad)[..., None] & (b.obj[..., None] == cls_obj[None, None, :])
        r, p, c = torch.nonzero(m, as_tuple=True)
        r_np, p_np = r.numpy(), p.numpy()
        parts.append(HOIDetections(image=b.image[r_np], hoi=c.numpy().astype(np.int64), score=probs[r, p, c].double().numpy(),
                                   boxes_h=b.boxes_h[r_np, p_np], boxes_o=b.boxes_o[r_np, p_np]))
    return HOIDetections.concat(parts)


def gt_of(data: PairTensors) -> HOIGroundTruth:
    """Ground truth of a packed set (its targets), for validation mAP."""
    r, p, c = torch.nonzero(data.targets > 0, as_tuple=True)
    r_np, p_np = r.numpy(), p.numpy()
    return HOIGroundTruth(image=data.image[r_np], hoi=c.numpy().astype(np.int64), boxes_h=data.boxes_h[r_np, p_np],
                          boxes_o=data.boxes_o[r_np, p_np])


def train_ezhoi(model: EZHOI, train: PairTensors, val: PairTensors, classes, seen: np.ndarray, epochs: int = 30,
                batch_images: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4, grad_clip: float = 1.0,
                seed: int = 0, show_progress: bool = True) -> dict:
    """AdamW with a step decay at 2/3 of the epochs; the epoch with the best validation mAP (seen classes) is kept."""
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    cls_obj = class_objects(classes)
    seen_t = torch.as_tensor(seen, dtype=torch.bool)
    init_logit_bias(model, train, cls_obj)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, (2 * epochs) // 3), gamma=0.1)
    val_gt = gt_of(val)
    unseen_np = ~np.asarray(seen, dtype=bool)
    hist = {"step_loss": [], "epoch": [], "train_loss": [], "val_map_seen": []}
    best, best_map, t0 = None, -1.0, time.time()
    for epoch in progress(range(epochs), desc="training EZ-HOI", disable=not show_progress):
        model.train()
        order = torch.randperm(len(train), generator=gen).numpy()
        losses = []
        for s in range(0, len(order), batch_images):
            b = train.subset(order[s : s + batch_images])
            logits = model(b.h, b.o, b.u, b.pad)
            loss = focal_loss(logits, b.targets, loss_mask(b, cls_obj, seen_t))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
        sched.step()
        hist["step_loss"] += losses
        val_map = evaluate_hoi(predict(model, val, classes), val_gt, len(classes), unseen=unseen_np).seen
        hist["epoch"].append(epoch + 1)
        hist["train_loss"].append(float(np.mean(losses)))
        hist["val_map_seen"].append(float(val_map) if val_map is not None else float("nan"))
        if val_map is not None and val_map > best_map:
            best_map, best = val_map, copy.deepcopy(model.state_dict())
    if best is not None:
        model.load_state_dict(best)
    hist["best_epoch"] = int(np.nanargmax(hist["val_map_seen"]) + 1) if hist["val_map_seen"] else 0
    hist["seconds"] = round(time.time() - t0, 1)
    return hist
