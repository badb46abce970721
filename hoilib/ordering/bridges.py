"""The bridged feature sets of one chapter-5 run, each computed once and shared by every seed and table.

Chapter 5 bridges frozen CLIP's union features of the bridge's validation pairs (``val``) and
of the test pairs (``test``) many times: every consumer, strength and order of the 2 x 2
(``twobytwo``), and every alpha of the dose-response (``dose``). ``BridgeCache`` owns those
sets, the frozen features they start from and the closed-form denoisers they use, so a set
is keyed one way everywhere: (the denoiser's text-space fingerprint, which denoiser, the
seed or None, t*, where). The seed is None when the computation draws no noise (the
closed-form denoiser with the direct recipe, ``seedless``): one set then serves every seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hoilib.config.schema import BridgeCfg
from hoilib.models.diffusion.bridge import bridge
from hoilib.models.diffusion.closed_form import ClosedFormDenoiser
from hoilib.ordering.labels import CLOSED_FORM, MLP
from hoilib.ordering.strength import flat_pairs

DENOISERS = (MLP, CLOSED_FORM)
WHERE = ("val", "test")  # the bridge's validation pairs, the test pairs


@dataclass(frozen=True, kw_only=True)
class BridgeKey:
    """What one bridged set is: its denoiser's text space and kind, seed (None: no noise), t*, where."""

    fingerprint: str
    denoiser: str
    seed: int | None
    t: int
    where: str


@dataclass(kw_only=True)
class BridgeCache:
    """A run's frozen features, closed-form denoisers by fingerprint and bridged sets by ``BridgeKey``.

    ``cfg`` (steps, recipe) is how every set here is bridged; pass one cache to every seed's
    call so the seed-free sets (the raw corpus's closed form) are computed once.
    """

    cfg: BridgeCfg
    vision: dict[str, torch.Tensor]  # where -> frozen union features
    mean: torch.Tensor  # frozen training mean, what the bridge subtracts
    denoisers: dict[str, ClosedFormDenoiser] = field(default_factory=dict)
    sets: dict[BridgeKey, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: BridgeCfg, ctx) -> BridgeCache:
        """The cache of one run's context (``ordering.methods.Context``)."""
        val = flat_pairs(ctx.data.val_bridge)[2]
        return cls(
            cfg=cfg, vision={"val": val, "test": ctx.frozen_test}, mean=ctx.frozen_train_mean
        )

    def closed_form(self, corpus: torch.Tensor, fingerprint: str, space: str) -> ClosedFormDenoiser:
        """The closed-form optimal denoiser of ``corpus`` (text space ``fingerprint``), built once."""
        if fingerprint not in self.denoisers:
            self.denoisers[fingerprint] = ClosedFormDenoiser.from_vectors(
                corpus, fingerprint, space
            )
        return self.denoisers[fingerprint]

    def seedless(self, denoiser: str) -> bool:
        """Whether a set draws no noise: the closed form with the direct recipe (the trained MLP is
        a seed's own model, and sdedit noises the input first)."""
        return denoiser == CLOSED_FORM and self.cfg.recipe == "direct"

    def key(self, diff, denoiser: str, seed: int, *, t: int, where: str) -> BridgeKey:
        if denoiser not in DENOISERS or where not in WHERE:
            raise ValueError(
                f"expected a denoiser in {DENOISERS} and where in {WHERE}, got {denoiser!r}, "
                f"{where!r}"
            )
        return BridgeKey(
            fingerprint=diff.fingerprint,
            denoiser=denoiser,
            seed=None if self.seedless(denoiser) else seed,
            t=int(t),
            where=where,
        )

    def bridged(self, diff, denoiser: str, *, seed: int, t: int, where: str) -> torch.Tensor:
        """``where``'s features bridged from t by ``diff`` (a ``denoiser``), computed once.

        The caller checks the order (``bridge.check_order``): here the set is bridged toward
        ``diff``'s own space, the space it learned."""
        key = self.key(diff, denoiser, seed, t=t, where=where)
        if key not in self.sets:
            self.sets[key] = bridge(
                diff,
                self.vision[where],
                self.mean,
                space_fingerprint=diff.fingerprint,
                t_start=int(t),
                steps=self.cfg.steps,
                recipe=self.cfg.recipe,
                generator=torch.Generator().manual_seed(seed),
                batch_size=max(1, len(self.vision[where])),
            )
        return self.sets[key]
