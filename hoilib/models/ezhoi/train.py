"""Train the EZ-HOI-style head on the seen classes of a zero-shot split, and predict detections.

Unseen classes never reach the loss: their columns are masked out of it, on top
of their annotations being removed from the training set. Their *text* stays in
the model (the class set the adapters attend over), as in the zero-shot setting.

Under torchrun the model is wrapped in DistributedDataParallel: every rank draws
the same shuffled order (same seed), takes its contiguous share of each batch's
images, and the loss is scaled so the averaged gradient equals the single-process
gradient of the whole batch. Validation runs on every rank and rank 0's mAP picks
the best epoch, so all ranks keep the same weights. In one process nothing of
this runs and the numbers are exactly those of the plain loop.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torchvision.ops import sigmoid_focal_loss

from hoilib import distributed
from hoilib.measure.metric import HOIDetections, HOIGroundTruth, evaluate_hoi
from hoilib.models.ezhoi.model import EZHOI
from hoilib.models.ezhoi.pairs import PairTensors
from hoilib.progress import tqdm
from hoilib.seed import seed_everything

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
    return sigmoid_focal_loss(
        x, y, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="sum"
    ) / y.sum().clamp(min=1.0)


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's trainable parameters live (batches are moved there)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _on(dev: torch.device, *xs: torch.Tensor):
    """Tensors on ``dev``; on their own device ``.to`` returns them unchanged (CPU numbers do not move)."""
    return tuple(x.to(dev, non_blocking=True) for x in xs)


def move_model(model: EZHOI, dev: torch.device) -> None:
    """Move the head and its frozen CLIP (held outside the module, so ``model.to`` alone would leave it behind)."""
    model.to(dev)
    model.text_encoder._frozen().to(dev)


def unused_parameters(model: EZHOI) -> bool:
    """True when a text module is switched off: its parameters get no gradient, and DDP must be told so."""
    c = model.cfg
    return not (c.use_prompts and c.use_adapter and c.use_descriptors)


@torch.no_grad()
def init_logit_bias(model: EZHOI, data: PairTensors, cls_obj: torch.Tensor) -> None:
    """Centre the initial logits: bias = -scale * mean cosine of pairs with the classes of their object."""
    h, o, u, pad = _on(model_device(model), data.h, data.o, data.u, data.pad)
    v = model.visual_features(h, o, u, pad=pad)
    t = model.text_features()
    cos = (v @ t.T).cpu()
    m = (~data.pad)[..., None] & (data.obj[..., None] == cls_obj[None, None, :])
    model.logit_bias.fill_(float(-model.logit_scale.exp() * cos[m].mean()))


@torch.no_grad()
def predict(model: EZHOI, data: PairTensors, classes, *, batch_images: int = 256) -> HOIDetections:
    """Sigmoid scores for every real pair and every class of its object, times the pair's prior when set.

    ``data.prior`` (detected pairs: ``(s_h * s_o) ** 2.8``) multiplies every class
    score of its pair, as EZ-HOI/UPT's inference does; ``None`` or ones leave the
    sigmoid scores exactly as they are (x * 1.0 == x in float64).
    """
    model.eval()
    dev = model_device(model)
    cls_obj = class_objects(classes)
    t = model.text_features()
    parts = []
    for s in range(0, len(data), batch_images):
        b = data.subset(np.arange(s, min(len(data), s + batch_images)))
        h, o, u, pad = _on(dev, b.h, b.o, b.u, b.pad)
        probs = torch.sigmoid(model.logits(model.visual_features(h, o, u, pad=pad), t)).cpu()
        m = (~b.pad)[..., None] & (b.obj[..., None] == cls_obj[None, None, :])
        r, p, c = torch.nonzero(m, as_tuple=True)
        r_np, p_np = r.numpy(), p.numpy()
        score = probs[r, p, c].double().numpy()
        if b.prior is not None:
            score = score * b.prior[r, p].double().numpy()
        parts.append(
            HOIDetections(
                image=b.image[r_np],
                hoi=c.numpy().astype(np.int64),
                score=score,
                boxes_h=b.boxes_h[r_np, p_np],
                boxes_o=b.boxes_o[r_np, p_np],
            )
        )
    return HOIDetections.concat(parts)


def gt_of(data: PairTensors) -> HOIGroundTruth:
    """Ground truth of a packed set (its targets), for validation mAP."""
    r, p, c = torch.nonzero(data.targets > 0, as_tuple=True)
    r_np, p_np = r.numpy(), p.numpy()
    return HOIGroundTruth(
        image=data.image[r_np],
        hoi=c.numpy().astype(np.int64),
        boxes_h=data.boxes_h[r_np, p_np],
        boxes_o=data.boxes_o[r_np, p_np],
    )


def train_ezhoi(
    model: EZHOI,
    train: PairTensors,
    val: PairTensors,
    *,
    classes,
    seen: np.ndarray,
    epochs: int = 30,
    batch_images: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    grad_clip: float = 1.0,
    seed: int = 0,
    show_progress: bool = True,
    device: str | torch.device | None = None,
) -> dict:
    """AdamW with a step decay at 2/3 of the epochs; the epoch with the best validation mAP (seen classes) is kept.

    ``device``: where to train (None: where the model is; under torchrun with nccl,
    this rank's GPU). The model (and its frozen CLIP) is moved back afterwards.
    Under torchrun (``distributed.init_from_env()``) it trains data-parallel; see the module docstring.
    """
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    rank, world = distributed.world()
    home = model_device(model)
    dev = training_device(home, device, world)
    if dev != home:
        move_model(model, dev)
    cls_obj = class_objects(classes)
    seen_t = torch.as_tensor(seen, dtype=torch.bool)
    init_logit_bias(model, train, cls_obj)
    params = [p for p in model.parameters() if p.requires_grad]
    net = model
    if world > 1:
        # Dropout masks differ per rank (as they would across the images of one big batch);
        # the shuffling generator above is seeded the same everywhere, so orders agree.
        torch.manual_seed(seed + 7919 * rank)
        net = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[dev.index] if dev.type == "cuda" else None,
            find_unused_parameters=unused_parameters(model),
            broadcast_buffers=False,
        )
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, (2 * epochs) // 3), gamma=0.1)
    hist = {"step_loss": [], "epoch": [], "train_loss": [], "val_map_seen": []}
    best, best_map, t0 = None, -1.0, time.time()
    # disabled only when asked: an explicit disable=False would override TQDM_DISABLE (batch runs)
    bar = {} if show_progress and rank == 0 else {"disable": True}
    step = {"cls_obj": cls_obj, "seen_t": seen_t, "dev": dev, "opt": opt, "grad_clip": grad_clip}
    for epoch in tqdm(
        range(epochs), desc=f"training EZ-HOI (seed {seed}), epochs", leave=False, **bar
    ):
        order = torch.randperm(len(train), generator=gen).numpy()
        losses = one_epoch(net, train, order, batch_images=batch_images, **step)
        sched.step()
        val_map = validation_map(model, val, classes, seen=seen)
        hist["step_loss"] += losses
        hist["epoch"].append(epoch + 1)
        hist["train_loss"].append(float(np.mean(losses)))
        hist["val_map_seen"].append(float(val_map) if val_map is not None else float("nan"))
        if val_map is not None and val_map > best_map:
            best_map, best = val_map, copy.deepcopy(model.state_dict())
    del net
    if best is not None:
        model.load_state_dict(best)
    if dev != home:
        move_model(model, home)
    hist["best_epoch"] = int(np.nanargmax(hist["val_map_seen"]) + 1) if hist["val_map_seen"] else 0
    hist["seconds"] = round(time.time() - t0, 1)
    return hist


def training_device(home: torch.device, device, world: int) -> torch.device:
    """Where to train: ``device``, else this rank's GPU under torchrun with nccl, else where the model is."""
    if device is None and world > 1 and torch.distributed.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    dev = torch.device(device) if device is not None else home
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def one_epoch(
    net, train, order, *, batch_images, cls_obj, seen_t, dev, opt, grad_clip
) -> list[float]:
    """One pass over ``train`` in ``order``; each step's loss (under torchrun, the whole batch's)."""
    rank, world = distributed.world()
    params = [p for p in net.parameters() if p.requires_grad]
    net.train()
    losses = []
    for s in range(0, len(order), batch_images):
        idx = order[s : s + batch_images]
        if world == 1:
            b = train.subset(idx)
            h, o, u, pad, targets, mask = _on(
                dev, b.h, b.o, b.u, b.pad, b.targets, loss_mask(b, cls_obj, seen_t)
            )
            loss = focal_loss(net(h, o, u, pad=pad), targets, mask)
        else:
            loss = _shard_loss(
                net, train, idx, cls_obj=cls_obj, seen=seen_t, dev=dev, rank=rank, world=world
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
    if world > 1:  # the whole batch's loss: the ranks' scaled shares sum to world x the loss
        losses = (
            distributed.all_reduce_sum(torch.tensor(losses, dtype=torch.float64)) / world
        ).tolist()
    return losses


def validation_map(model, val, classes, *, seen) -> float | None:
    """Seen-class mAP on ``val``; under torchrun rank 0's number decides for every rank."""
    unseen = ~np.asarray(seen, dtype=bool)
    val_map = evaluate_hoi(
        predict(model, val, classes), gt_of(val), len(classes), unseen=unseen
    ).seen
    if distributed.world()[1] > 1:
        v = distributed.broadcast_float(float("nan") if val_map is None else float(val_map))
        val_map = None if np.isnan(v) else v
    return val_map


def _shard_loss(
    net,
    train: PairTensors,
    idx: np.ndarray,
    *,
    cls_obj: torch.Tensor,
    seen: torch.Tensor,
    dev: torch.device,
    rank: int,
    world: int,
) -> torch.Tensor:
    """This rank's share of one batch's loss, scaled so DDP's gradient average is the whole batch's gradient.

    The focal loss of a batch is (sum over its logits) / (its positives). Each rank
    sums over its own images but divides by the positives of the *whole* batch
    (every rank holds all the data, so no communication), times ``world`` because
    DDP averages rather than sums the gradients. A rank left without an image (a
    last batch smaller than the world) runs the batch's first image at weight 0: it
    must still join the gradient all-reduce, and zero gradients change no sum.
    """
    full = train.subset(idx)
    npos = full.targets[loss_mask(full, cls_obj, seen)].sum().clamp(min=1.0)
    start, stop = distributed.shard_bounds(len(idx), 1, world)[rank]
    weight = world / npos
    if start == stop:
        start, stop, weight = 0, 1, torch.zeros(())
    b = full.subset(np.arange(start, stop))
    h, o, u, pad, targets, mask = _on(
        dev, b.h, b.o, b.u, b.pad, b.targets, loss_mask(b, cls_obj, seen)
    )
    logits = net(h, o, u, pad=pad)
    total = sigmoid_focal_loss(
        logits[mask], targets[mask], alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="sum"
    )
    return total * weight.to(dev)
