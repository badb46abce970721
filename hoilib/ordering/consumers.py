"""Text-only consumers: classifiers fitted on a text corpus alone, which chapter 5 feeds bridged image features.

Diffusion Bridge's consumer is a caption decoder trained only on text embeddings; it
fails on image embeddings because they lie outside what it was trained on, and the
bridge moves them inside. The claim under test is about such a consumer, so these are
classifiers over the HOI classes fitted on the corpus's (sentence, class) pairs and
nothing else, never on an image feature:

- ``prototypes``: normalised class means, scored by cosine at CLIP's temperature;
- ``linear``: a linear softmax head; ``MLP``: hidden layers of ``consumers.hidden`` (GELU);
  both trained with cross-entropy (Adam, no weight decay), with or without CapDec's
  noise on every batch (``+ noise``), and kept at the step with the lowest held-out text
  loss;
- ``Gaussian``: linear discriminant analysis (class means, one shared covariance
  with its shrinkage chosen by the held-out text loss): the generative linear head.

Every consumer is fitted to do as well as it can *on text*: a share of the corpus's
sentence sets (``consumers.held_out_share``) is held out (``held_out_rows``) and chooses the
training step or the shrinkage. What the gap then costs is measured by the same consumer's
accuracy on held-out text against image features (``accuracy``). Every setting of a fit is a
field of the ``consumers`` section (``hoilib.config.schema.ConsumersCfg``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hoilib.config.schema import ConsumersCfg
from hoilib.ordering.ensemble import Member, train_heads

KINDS = ("prototypes", "linear", "linear + noise", "MLP", "MLP + noise", "Gaussian")


def held_out_rows(corpus_class: torch.Tensor, n_classes: int, *, cfg: ConsumersCfg) -> torch.Tensor:
    """(N,) bool: the rows of a fixed share (``cfg.held_out_share``, drawn with
    ``cfg.held_out_seed``) of the corpus's sentence sets (set k = rows k*C..k*C+C-1)."""
    n_sets = len(corpus_class) // n_classes
    if n_sets * n_classes != len(corpus_class) or n_sets < 2:
        raise ValueError(
            f"corpus_class: expected whole sets of {n_classes} sentences (at least 2 sets), "
            f"got {len(corpus_class)} rows"
        )
    gen = torch.Generator().manual_seed(cfg.held_out_seed)
    held = torch.randperm(n_sets, generator=gen)[: max(1, round(cfg.held_out_share * n_sets))]
    return torch.isin(torch.arange(len(corpus_class)) // n_classes, held)


@dataclass(kw_only=True)
class TextConsumer:
    """A fitted consumer: ``logits(x)`` (N, C) for any (N, D) vectors, normalised first."""

    kind: str
    space: str  # the text it was fitted on ("raw", "adapted", or a blend's name)
    net: nn.Module
    held_out_loss: float  # cross-entropy on the held-out sentence sets
    chosen: str  # what the held-out text chose: the step, or the shrinkage

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.net.eval()
        return self.net(F.normalize(x.float(), dim=-1)).float()


class _Prototypes(nn.Module):
    def __init__(self, protos: torch.Tensor, scale: float):
        super().__init__()
        self.register_buffer("protos", protos)
        self.scale = scale

    def forward(self, x):
        return self.scale * x @ self.protos.T


class _Affine(nn.Module):
    """x W^T + b with fixed weights (the Gaussian head in closed form)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.register_buffer("w", w.float())
        self.register_buffer("b", b.float())

    def forward(self, x):
        return x @ self.w.T + self.b


def class_means(z: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, D) mean of each class's rows (every class needs one)."""
    counts = torch.bincount(y, minlength=n_classes)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"corpus_class: no corpus vector for classes {missing}")
    sums = torch.zeros(n_classes, z.shape[1], dtype=z.dtype).index_add_(0, y, z)
    return sums / counts[:, None].to(z.dtype)


def _gaussian(z, y, zh, *, yh, n_classes, shrinkage) -> tuple[nn.Module, float, str]:
    """LDA: logits x S^-1 mu_c - mu_c S^-1 mu_c / 2, S shrunk toward its mean variance by the
    ``shrinkage`` with the lowest held-out loss."""
    zd, mu = z.double(), class_means(z.double(), y, n_classes)
    r = zd - mu[y]
    cov = r.T @ r / len(zd)
    iso = torch.eye(cov.shape[0], dtype=cov.dtype) * cov.trace() / cov.shape[0]
    best = None
    for s in shrinkage:
        w = torch.linalg.solve((1 - s) * cov + s * iso, mu.T).T  # (C, D) = mu S^-1
        b = -0.5 * (w * mu).sum(-1)
        head = _Affine(w, b)
        with torch.no_grad():
            held = float(F.cross_entropy(head(zh), yh))
        if best is None or held < best[1]:
            best = (head, held, f"shrinkage {s:g}")
    return best


def fit_consumers(
    specs: list[tuple[str, str]],
    corpora: dict[str, torch.Tensor],
    corpus_class: torch.Tensor,
    *,
    n_classes: int,
    held: torch.Tensor,
    cfg: ConsumersCfg,
    scale: float,
    seed: int,
) -> dict[tuple[str, str], TextConsumer]:
    """Every (kind, space) consumer of ``specs``, fitted on ``corpora[space]``'s rows outside ``held``.

    Only text enters: the corpora (N, D) of sentence embeddings and their classes;
    ``scale`` is the prototypes' softmax temperature (CLIP's logit scale); ``cfg`` the
    trained heads' steps, widths, batch, learning rate and the Gaussian's shrinkages;
    ``seed`` the trained heads' initialisation and batches. The trained heads of one
    architecture are fitted together (``ordering.ensemble``).
    """
    bad = [k for k, _ in specs if k not in KINDS]
    if bad:
        raise ValueError(f"consumer kind must be one of {KINDS}, got {bad[0]!r}")
    held = torch.as_tensor(held, dtype=torch.bool)
    y_all = torch.as_tensor(corpus_class).long()
    data = {}
    for space in {s for _, s in specs}:
        z = F.normalize(corpora[space].float(), dim=-1)
        data[space] = {"z": z[~held], "y": y_all[~held], "zh": z[held], "yh": y_all[held]}
    out = {}
    for kind, space in specs:
        z, y, zh, yh = (data[space][n] for n in ("z", "y", "zh", "yh"))
        if kind == "prototypes":
            net = _Prototypes(
                F.normalize(class_means(z.double(), y, n_classes), dim=-1).float(), scale
            )
            with torch.no_grad():
                loss = float(F.cross_entropy(net(zh), yh))
            out[(kind, space)] = TextConsumer(
                kind=kind, space=space, net=net, held_out_loss=loss, chosen="class means"
            )
        elif kind == "Gaussian":
            net, loss, chosen = _gaussian(
                z, y, zh, yh=yh, n_classes=n_classes, shrinkage=cfg.shrinkage
            )
            out[(kind, space)] = TextConsumer(
                kind=kind, space=space, net=net, held_out_loss=loss, chosen=chosen
            )
    for arch, widths in (("linear", ()), ("MLP", tuple(cfg.hidden))):
        group = [(k, s) for k, s in specs if k.split(" ")[0] == arch]
        members = [Member(**data[s], noisy=k.endswith("+ noise")) for k, s in group]
        fits = train_heads(
            members, n_classes, hidden=widths, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
            check_every=cfg.check_every, noise_variance=cfg.noise_variance, seed=seed,
        )  # fmt: skip
        for (k, s), (net, loss, chosen) in zip(group, fits, strict=True):
            out[(k, s)] = TextConsumer(kind=k, space=s, net=net, held_out_loss=loss, chosen=chosen)
    return {spec: out[spec] for spec in specs}


def accuracy(logits: torch.Tensor, valid: torch.Tensor, correct: torch.Tensor) -> float:
    """Top-1 accuracy among each row's valid classes; ``correct`` (N, C) bool marks right answers."""
    pred = logits.masked_fill(~valid, float("-inf")).argmax(-1)
    return float(correct[torch.arange(len(pred)), pred].float().mean()) if len(pred) else np.nan


def text_accuracy(consumer: TextConsumer, rows: torch.Tensor, labels: torch.Tensor, *, classes):
    """Accuracy on text rows among the classes that share each row's object (as a pair is scored)."""
    obj = torch.as_tensor([o for _, o in classes])
    labels = torch.as_tensor(labels).long()
    valid = obj[None, :] == obj[labels][:, None]
    correct = F.one_hot(labels, len(classes)).bool()
    return accuracy(consumer.logits(rows), valid, correct)
