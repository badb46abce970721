"""The row names of chapter 5's tables, in one place: the chapter, its claims and the grid agree on them.

Kept free of heavy imports, so ``hoilib grid`` and the book's results page can name rows
without loading torch or diffusers.
"""

from __future__ import annotations

WRONG, CORRECT = (
    "EZ-HOI + raw-trained bridge (wrong order)",
    "EZ-HOI + adapted-trained bridge (correct order)",
)
# the same two at the start step whose noise level matches the reference's t* = 599 at 512-d
WRONG_MATCHED, CORRECT_MATCHED = (f"{WRONG}, noise-matched t*", f"{CORRECT}, noise-matched t*")


def cell_name(
    consumer: str, diffusion: str, denoiser: str = "trained MLP", kind: str = "prototypes"
) -> str:
    """The row name of one text-only cell, e.g. 'adapted MLP + raw-trained bridge'.

    ``consumer`` is the text the consumer was fitted on, ``kind`` what it is
    (``ordering.consumers.KINDS``), ``diffusion`` the text its bridge learned ('none': no bridge).
    """
    if diffusion == "none":
        return f"{consumer} {kind}, no bridge"
    tail = "" if denoiser == "trained MLP" else f" [{denoiser}]"
    return f"{consumer} {kind} + {diffusion}-trained bridge{tail}"


def head_name(diffusion: str) -> str:
    """The row name of one EZ-HOI-head cell: no bridge, or a bridge trained on one space."""
    return {
        "none": "EZ-HOI head, no bridge",
        "raw": "EZ-HOI head + raw-trained bridge (wrong order)",
        "adapted": "EZ-HOI head + adapted-trained bridge (correct order)",
    }[diffusion]
