"""The consumer Diffusion Bridge was built for: a classifier trained on text only, scoring bridged vision.

Diffusion Bridge feeds a bridged vector to a decoder that has only ever seen text; the
claim that the diffusion model must learn the *adapted* text space is a claim about
such a consumer. Here the consumer is a nearest-prototype classifier whose class
prototypes are the normalised class means of a text corpus (raw or adapted), and the
vectors it scores are frozen CLIP's union-crop features, bridged or not (EZ-HOI's
visual branch plays no part). The bridge strength is chosen on validation
(``chapters.strength``). Beside the trained diffusion MLP, the closed-form optimal
denoiser over the same corpus (optionally restricted to the classes of the pair's
object) is a control: it tells a weak recipe from an undertrained model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.chapters.methods import evaluate
from hoilib.chapters.strength import choose_strength, flat_pairs, validation_evaluator
from hoilib.models.diffusion.bridge import bridge
from hoilib.models.diffusion.closed_form import ClosedFormDenoiser


def prototypes(corpus: torch.Tensor, corpus_class: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C, D) unit class prototypes: the normalised mean of each class's normalised corpus vectors."""
    z = F.normalize(corpus.double(), dim=-1)
    idx = torch.as_tensor(corpus_class, dtype=torch.long)
    sums = torch.zeros(n_classes, z.shape[1], dtype=torch.float64).index_add_(0, idx, z)
    missing = torch.bincount(idx, minlength=n_classes) == 0
    if bool(missing.any()):
        raise ValueError(
            f"corpus_class: no corpus vector for classes {torch.nonzero(missing).flatten().tolist()}"
        )
    return F.normalize(sums, dim=-1).float()


CONSUMERS = ("raw", "adapted")  # the text the consumer's prototypes come from
DIFFUSIONS = (
    "none",
    "raw",
    "adapted",
)  # the text the bridge's diffusion learned ("none": no bridge)
# The denoiser of a bridge: chapter 4's trained MLP, or the closed-form optimum over the corpus
# (all of it, or only the classes of the pair's object).
DENOISERS = ("trained MLP", "closed form", "closed form, own object")


def object_mask(pair_obj, corpus_class: torch.Tensor, classes) -> torch.Tensor:
    """(Q, N) True where corpus row n's class has query q's object (the pair's detected object)."""
    cls_obj = torch.as_tensor([o for _, o in classes])[torch.as_tensor(corpus_class).long()]
    return torch.as_tensor(np.asarray(pair_obj)).long()[:, None] == cls_obj[None, :]


def cells() -> list[tuple[str, str, str]]:
    """(consumer, diffusion, denoiser) of every cell: no bridge once per consumer, then each denoiser."""
    out = []
    for c in CONSUMERS:
        out.append((c, "none", "none"))
        out += [(c, d, den) for den in DENOISERS for d in DIFFUSIONS[1:]]
    return out


def _spaces(run) -> dict:
    sp = run.space
    return {
        "raw": (sp.raw_corpus, sp.meta["raw_fingerprint"], run.raw),
        "adapted": (sp.adapted_corpus, sp.fingerprint, run.adapted),
    }


def run_2x2(
    cfg, ctx, run, data, world, cache: dict | None = None
) -> tuple[pd.DataFrame, dict, dict]:
    """The claim's own setting for one seed: consumer text x diffusion text, strength chosen on validation.

    Returns one row per cell (consumer, diffusion, denoiser) with the chosen t* and
    lambda, their validation mAP and the test mAP (%); the choices with their
    validation grids; and each cell's per-class test AP. Frozen CLIP's union features
    are bridged with the frozen training mean; the bridge compares with the consumer's
    space (the mismatch is asked for in the off-diagonal cells). A bridged set does not
    depend on the consumer, so each is computed once; pass the same ``cache`` to every
    seed's call (same ``ctx`` and ``data``) and the raw corpus's closed form, which no
    seed changes, is computed once for all of them.
    """
    cache = {} if cache is None else cache
    sp, n, scale = run.space, world.num_classes, ctx.frozen_scale
    val_pairs, _, val_u = flat_pairs(data.val)
    spaces = _spaces(run)
    closed = {
        w: ClosedFormDenoiser.from_vectors(corpus, fp, w) for w, (corpus, fp, _) in spaces.items()
    }
    masks = {
        "val": object_mask(val_pairs.object, sp.corpus_class, world.classes),
        "test": object_mask(data.test_pairs.object, sp.corpus_class, world.classes),
    }
    # a closed form restricted to the pair's object: one per space and data split (its mask
    # grouping is done once, not once per t*)
    own = {(w, where): closed[w].restricted(mask) for w in closed for where, mask in masks.items()}
    vision = {"val": val_u, "test": ctx.frozen_test}
    protos = {c: prototypes(spaces[c][0], sp.corpus_class, n) for c in CONSUMERS}
    val_evals = {
        c: validation_evaluator(data.val, protos[c], world.classes, scale, data.unseen)
        for c in CONSUMERS
    }

    def bridge_set(consumer, diffusion, denoiser, t, where):
        """One bridged set, computed once: it depends on the denoiser, t* and the data, not the consumer."""
        seedless = denoiser != "trained MLP" and cfg.bridge_recipe == "direct"
        key = (spaces[diffusion][1], denoiser, None if seedless else run.seed, int(t), where)
        if key not in cache:
            if denoiser == "trained MLP":
                diff = spaces[diffusion][2]
            elif denoiser == "closed form, own object":
                diff = own[(diffusion, where)]
            else:
                diff = closed[diffusion]
            cache[key] = bridge(
                diff,
                vision[where],
                ctx.frozen_train_mean,
                spaces[consumer][1],
                t_start=int(t),
                steps=cfg.bridge_steps,
                recipe=cfg.bridge_recipe,
                allow_mismatch=diffusion != consumer,
                generator=torch.Generator().manual_seed(run.seed),
                # a closed form's mask needs the whole set in one call; the MLP keeps bridge's default
                batch_size=4096 if denoiser == "trained MLP" else max(1, len(vision[where])),
            )
        return cache[key]

    rows, choices, ap = [], {}, {}
    for consumer, diffusion, denoiser in cells():
        cell = (consumer, diffusion, denoiser)
        at_val = None if diffusion == "none" else (lambda t, c=cell: bridge_set(*c, t, "val"))
        choice = choose_strength(val_u, at_val, val_evals[consumer])
        test = choice.apply(ctx.frozen_test, lambda t, c=cell: bridge_set(*c, t, "test"))
        m = evaluate(ctx, test, protos[consumer], scale)
        key = (consumer, diffusion, denoiser, run.seed)
        rows.append(
            dict(zip(("consumer", "diffusion", "denoiser", "seed"), key, strict=True))
            | {"t_start": choice.t_start, "lambda": choice.lam, "val_map": choice.val_map}
            | {k: m.as_percent()[k] for k in ("full", "seen", "unseen")}
        )
        choices[key], ap[key] = choice, m.ap
    return pd.DataFrame(rows), choices, ap
