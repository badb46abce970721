"""The design document's table as it specifies it: EZ-HOI bridged at a fixed t*, beside frozen CLIP and baselines.

Its hypothetical numbers are typed once here; ``FixedTable`` holds the measured rows
(``ordering.methods.run_table``) and the views chapter 5 shows of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hoilib.config.schema import ClaimsCfg
from hoilib.measure.summary import mean_std
from hoilib.ordering import claims
from hoilib.ordering.labels import (
    BY_LABEL,
    CORRECT,
    FROZEN_CLIP,
    MAP_COLS,
    NONE,
    SOFTMAX,
    UNSEEN_FIRST,
    WRONG,
    fixed_pairs,
)

# The design document's results table, labelled hypothetical there (HICO-DET-scale numbers nobody measured).
HYPOTHETICAL = pd.DataFrame(
    {
        "Diffusion trained on": ["-", "raw embeddings", "adapted embeddings"],
        "unseen": [25.3, 24.8, 27.9],
        "seen": [32.1, 32.5, 33.2],
        "full": [30.2, 30.1, 31.8],
    },
    index=pd.Index(["no bridge", "wrong order", "correct order"], name="setting (hypothetical)"),
)


@dataclass(kw_only=True)
class FixedTable:
    """The fixed-t* rows: one per (method, seed), mAP (%), with their per-class APs."""

    profile: str
    per_seed: pd.DataFrame
    ap: dict
    unseen: np.ndarray
    n_seeds: int
    claims: ClaimsCfg  # the verdicts' bootstrap, level and alpha

    @property
    def means(self) -> pd.DataFrame:
        return self.per_seed.groupby("method", sort=False)[list(MAP_COLS)].mean()

    def table(self) -> pd.DataFrame:
        t = mean_std(self.per_seed, by="method", cols=MAP_COLS)
        t.insert(0, "what it is", [BY_LABEL[m].what for m in t.index])
        return t

    def bars_frame(self) -> pd.DataFrame:
        return self.per_seed[self.per_seed.method != FROZEN_CLIP.label]

    def baseline(self) -> dict:
        return {c: float(self.means.loc[NONE.label, c]) for c in ("seen", "unseen")}

    def side_by_side(self) -> pd.DataFrame:
        hyp = HYPOTHETICAL[list(UNSEEN_FIRST)].rename_axis("setting")
        rows = [m.label for m in (NONE, WRONG, CORRECT)]
        ours = self.means.loc[rows, list(UNSEEN_FIRST)].set_axis(hyp.index)
        side = pd.concat(
            {
                "hypothetical (design document, not measured)": hyp,
                f"measured here ({self.profile}, mean of {self.n_seeds} seeds)": ours.round(2),
            },
            axis=1,
        )
        side.loc["correct - wrong"] = side.loc["correct order"] - side.loc["wrong order"]
        side.loc["correct - no bridge"] = side.loc["correct order"] - side.loc["no bridge"]
        return side

    def same_scoring(self) -> pd.DataFrame:
        """EZ-HOI minus frozen CLIP, both scored by softmax at CLIP's temperature (b - a)."""
        return claims.same_scoring(
            self.per_seed, self.ap, FROZEN_CLIP.label, ezhoi=SOFTMAX.label, unseen=self.unseen
        )

    def sweep_baseline(self, seed: int) -> dict:
        row = self.per_seed[(self.per_seed.method == NONE.label) & (self.per_seed.seed == seed)]
        return {c: float(row.iloc[0][c]) for c in ("unseen", "seen")}

    def judged(self) -> pd.DataFrame:
        # the design document's rows at its fixed t*, read with the same verdict rule
        return claims.judged(self.ap, fixed_pairs(), self.unseen, cfg=self.claims)
