"""The book's colours and where its legends go: one colour-blind-safe palette, one colour per set.

The palette is Okabe and Ito's (2008, "Color Universal Design"), eight colours told apart with every
common colour-vision deficiency. Each embedding set keeps its colour in every chapter and in the
interactive figures (``PALETTE``); lines and bars with no set of their own take ``SERIES`` in order.
Figures are drawn at most ``figure_check.CONTENT_WIDTH_PX`` wide at their dpi (7.5 inches at 100 dpi),
so the page shows them at their own size, and their legends sit outside the data (``legend_outside``).
"""

from __future__ import annotations

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
GREY = "#999999"  # what is not the point of the figure: other classes, failed controls
WIDTH = 7.4  # inches: at 100 dpi the PNG fits the book's content column, legends included

# one colour per embedding set, the same in every figure ("image" and "frozen vision" are one set)
PALETTE = {
    "image": OKABE_ITO["vermillion"],
    "frozen vision": OKABE_ITO["vermillion"],
    "text": OKABE_ITO["bluish green"],
    "raw text": OKABE_ITO["bluish green"],
    "adapted text": OKABE_ITO["blue"],
    "model vision": OKABE_ITO["orange"],
    "bridged": OKABE_ITO["reddish purple"],
    "bridged (correct order)": OKABE_ITO["reddish purple"],
    "bridged (wrong order)": OKABE_ITO["black"],
    # chapter 1's cosine distributions: within each set, and across the gap
    "image-image": OKABE_ITO["vermillion"],
    "text-text": OKABE_ITO["bluish green"],
    "image-text": OKABE_ITO["black"],
}
# bars and lines of a role rather than a set
SEEN, UNSEEN = OKABE_ITO["blue"], OKABE_ITO["orange"]
GOOD = OKABE_ITO["bluish green"]  # the true class, a control that passes
SERIES = tuple(
    OKABE_ITO[k]
    for k in ("blue", "orange", "bluish green", "vermillion", "reddish purple", "sky blue", "black")
)


def series(k: int) -> str:
    """The k-th colour for lines or bars without a set of their own (seeds, methods)."""
    return SERIES[k % len(SERIES)]


def colour_of(name: str, k: int = 0) -> str:
    """The colour of a set by its name: its own, else that of the set it starts with ("bridged (λ 0.5)"),
    else of the text space it names ("samples of the raw-trained model"), else the k-th of ``SERIES``."""
    for key in sorted(PALETTE, key=len, reverse=True):
        if name == key or name.startswith(key):
            return PALETTE[key]
    for space in ("adapted", "raw"):
        if space in name.split("-") or f"{space}-" in name or f" {space} " in f" {name} ":
            return PALETTE[f"{space} text"]
    return series(k)


def legend_outside(ax, side: str = "right", ncol: int = 1, **kw):
    """The axes' legend beside (``right``) or above (``top``) its axes, never over the data."""
    kw.setdefault("frameon", False)
    kw.setdefault("fontsize", 9)
    if side == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **kw)
    return ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), borderaxespad=0, ncol=ncol, **kw)
