"""Watch one test pair cross the gap: bridge its visual feature from t* and see its top classes change.

``BridgeExplorer`` does the computing (testable, no widgets needed); ``widget()``
wraps it in ipywidgets for a live notebook.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from hoilib.config import Params
from hoilib.figures.figure_style import GOOD, GREY
from hoilib.measure.zeroshot import class_mask
from hoilib.models.seedrun import SeedRun
from hoilib.ordering.methods import Context, bridged


class BridgeExplorer:
    def __init__(self, cfg: Params, run: SeedRun, ctx: Context, *, wrong_order: bool = False):
        self.cfg, self.run, self.ctx = cfg, run, ctx
        self.diff = run.raw if wrong_order else run.adapted
        self.wrong_order = wrong_order
        self.names = ctx.world.class_names()
        self.valid = class_mask(ctx.data.test_pairs, ctx.world.classes)
        self.vmean = run.vision_mean
        self.true_class = dict(zip(ctx.pos.tolist(), ctx.pos_cls.tolist(), strict=False))

    def feature(self, pair: int, t_start: int) -> torch.Tensor:
        v = self.run.vision[pair : pair + 1]
        return bridged(
            self.cfg,
            self.diff,
            v,
            vision_mean=self.vmean,
            fingerprint=self.run.space.fingerprint,
            allow_mismatch=self.wrong_order,
            t_start=int(t_start),
            seed=self.run.seed,
        )[0]

    def state(self, pair: int, t_start: int, k: int = 5) -> dict:
        """Top-k classes (the model's sigmoid scores and logits) and where the feature sits, for one pair and t*.

        Classes are ranked by logit: a float32 sigmoid rounds every logit above about 17 to 1.0, which
        would tie them."""
        f = self.feature(pair, t_start)
        text = self.run.space.adapted
        with torch.no_grad():
            logits = self.run.model.logits(f[None], text)[0]
        probs = torch.sigmoid(logits)
        ranked = logits.masked_fill(~self.valid[pair], float("-inf"))
        order = [int(c) for c in torch.argsort(ranked, descending=True)[:k] if self.valid[pair, c]]
        true = self.true_class.get(pair)
        cos_t = F.normalize(text, dim=-1) @ f
        return {
            "top": pd.DataFrame(
                {
                    "class": [self.names[c] for c in order],
                    "score": [float(probs[c]) for c in order],
                    "logit": [float(logits[c]) for c in order],
                    "true": [c == true for c in order],
                }
            ),
            "true_class": None if true is None else self.names[true],
            "true_rank": None if true is None else int((ranked > ranked[true]).sum()) + 1,
            "cos_to_input": float(F.normalize(self.run.vision[pair], dim=-1) @ f),
            "cos_to_true_text": None if true is None else float(cos_t[true]),
        }

    def pairs_by_class(self) -> dict[str, list[int]]:
        """Each annotated test class's pairs under its name (" (unseen)" added): unseen classes
        first, then by name; the live widget's class menu and the static book's use this order."""
        by_class: dict[tuple, list[int]] = {}
        for p, c in zip(self.ctx.pos.tolist(), self.ctx.pos_cls.tolist(), strict=False):
            new = bool(self.ctx.data.unseen[c])
            by_class.setdefault((not new, self.names[c] + (" (unseen)" if new else "")), []).append(
                p
            )
        return {key[1]: pairs for key, pairs in sorted(by_class.items())}

    def widget(self):
        """Pick a class, then one of its test pairs; slide t* and watch the top-5 change (needs a live kernel)."""
        import ipywidgets as W
        import matplotlib.pyplot as plt

        by_class = self.pairs_by_class()
        cls = W.Dropdown(options=list(by_class), description="HOI class")
        pair = W.Dropdown(options=by_class[cls.value], description="test pair")
        t = W.IntSlider(
            value=self.cfg.bridge.t_start,
            min=0,
            max=999,
            step=25,
            description="t*",
            continuous_update=False,
        )
        out = W.Output()

        def redraw(*_):
            with out:
                out.clear_output(wait=True)
                s = self.state(pair.value, t.value)
                fig, ax = plt.subplots(figsize=(6, 2.4))
                _bars(ax, s, f"pair {pair.value}, t* = {t.value}")
                plt.show()
                # shown; kept open, every slider move would leave one more figure behind
                plt.close(fig)
                print(
                    f"cos(bridged, input) = {s['cos_to_input']:.3f}; true class rank {s['true_rank']}, "
                    f"cos to its text {s['cos_to_true_text']:.3f}"
                )

        def on_class(change):
            pair.options = by_class[change["new"]]

        cls.observe(on_class, names="value")
        for w in (pair, t):
            w.observe(redraw, names="value")
        redraw()
        return W.VBox([W.HBox([cls, pair]), t, out])


def _bars(ax, state: dict, title: str) -> None:
    top = state["top"]
    colors = [GOOD if tr else GREY for tr in top["true"]]
    ax.barh(np.arange(len(top))[::-1], top["score"], color=colors)
    ax.set_yticks(np.arange(len(top))[::-1], top["class"], fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("sigmoid score")
    ax.set_title(title, fontsize=10)
