"""The rows of chapter 5's tables, in one place: the chapter, its claims and the grid agree on them.

Code dispatches on a ``Method`` (or its ``key``); its ``label`` is read only where a table or
figure is drawn or a metrics row is written, and those labels are what the metrics files
hold, so they never change. The mAP columns (``MAP_COLS``) are defined here once too.
Kept free of heavy imports, so ``hoilib grid`` and the book's results page can name rows
without loading torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass

MAP_COLS = ("full", "seen", "unseen")  # the mAP columns of every table, as HOIMetrics names them
UNSEEN_FIRST = MAP_COLS[::-1]  # the same, the primary column (Unseen) first: claims and verdicts
# the two denoisers a bridge can use: chapter 4's trained MLP, and the closed form of its corpus
MLP, CLOSED_FORM = "trained MLP", "closed form"


@dataclass(frozen=True, kw_only=True)
class Method:
    """One row of the fixed-t* table: what code dispatches on, and what readers see."""

    key: str  # short and stable: the chapter's numbers are named '<key>_<column>'
    label: str  # the row name in tables, figures and metrics files
    what: str  # what it is, in a few words (the table's first column)


FROZEN_CLIP = Method(
    key="frozen",
    label="frozen CLIP, no bridge",
    what="frozen union-crop features vs raw class text (chapter 1)",
)
RAW_EVERYWHERE = Method(
    key="raw_everywhere",
    label="frozen CLIP + raw-trained bridge (raw everywhere)",
    what="the consistent pipeline without EZ-HOI",
)
NONE = Method(
    key="none",
    label="EZ-HOI, no bridge",
    what="the model's visual features vs its adapted class text (chapter 2)",
)
SOFTMAX = Method(
    key="softmax",
    label="EZ-HOI, softmax at CLIP's temperature",
    what="the same, scored like frozen CLIP (softmax, no head)",
)
WRONG = Method(
    key="wrong",
    label="EZ-HOI + raw-trained bridge (wrong order)",
    what="bridge whose diffusion model learned frozen CLIP's text space",
)
CORRECT = Method(
    key="correct",
    label="EZ-HOI + adapted-trained bridge (correct order)",
    what="bridge whose diffusion model learned the adapted text space",
)
# the same two at the start step whose noise level matches the reference's t* = 599 at 512-d
WRONG_MATCHED = Method(
    key="wrong_matched",
    label=f"{WRONG.label}, noise-matched t*",
    what="the wrong order from the t* whose noise level matches the reference's",
)
CORRECT_MATCHED = Method(
    key="correct_matched",
    label=f"{CORRECT.label}, noise-matched t*",
    what="the correct order from the t* whose noise level matches the reference's",
)
MEAN_CENTER = Method(
    key="mean_center",
    label="EZ-HOI + mean-centering (C3)",
    what="each modality minus its mean, renormalised",
)
CAPDEC = Method(
    key="capdec",
    label="EZ-HOI + CapDec noise",
    what="class prototypes fitted on noise-injected adapted text",
)
DECAP = Method(
    key="decap",
    label="EZ-HOI + DeCap projection",
    what="vision projected onto the adapted text corpus",
)
PROCRUSTES = Method(
    key="procrustes",
    label="EZ-HOI + Procrustes",
    what="rotation fitted on seen-class training pairs",
)
METHODS = (  # the order of the chapter's table
    FROZEN_CLIP,
    RAW_EVERYWHERE,
    NONE,
    SOFTMAX,
    WRONG,
    CORRECT,
    WRONG_MATCHED,
    CORRECT_MATCHED,
    MEAN_CENTER,
    CAPDEC,
    DECAP,
    PROCRUSTES,
)
BY_LABEL = {m.label: m for m in METHODS}  # a table's row name -> its method


def fixed_pairs() -> dict[str, tuple[str, str]]:
    """contrast -> (a, b) row labels of the design document's rows at its fixed t*."""
    return {
        "correct - wrong": (WRONG.label, CORRECT.label),
        "correct - no bridge": (NONE.label, CORRECT.label),
        "wrong - no bridge": (NONE.label, WRONG.label),
    }


def cell_name(
    consumer: str, diffusion: str, denoiser: str = MLP, *, kind: str = "prototypes"
) -> str:
    """The row name of one text-only cell, e.g. 'adapted MLP + raw-trained bridge'.

    ``consumer`` is the text the consumer was fitted on, ``kind`` what it is
    (``ordering.consumers.KINDS``), ``diffusion`` the text its bridge learned ('none': no bridge).
    """
    if diffusion == "none":
        return f"{consumer} {kind}, no bridge"
    tail = "" if denoiser == MLP else f" [{denoiser}]"
    return f"{consumer} {kind} + {diffusion}-trained bridge{tail}"


def head_name(diffusion: str) -> str:
    """The row name of one EZ-HOI-head cell: no bridge, or a bridge trained on one space."""
    return {
        "none": "EZ-HOI head, no bridge",
        "raw": "EZ-HOI head + raw-trained bridge (wrong order)",
        "adapted": "EZ-HOI head + adapted-trained bridge (correct order)",
    }[diffusion]
