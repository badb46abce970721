"""Tables as a reader reads them: plain headers with units, counts as integers, mAP in percent, no
``nan`` (a dash, with the reason in the caption), and notes that look like notes.

The chapters' result objects keep their raw frames (the metrics JSON and the tests read those);
these functions only shape what a page shows.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

DASH = "–"
# the gap measures of chapter 1 (measure.gap), named as the chapters' prose names them
GAP_NAMES = {
    "n_image": "image features (annotated test pairs)",
    "n_text": "class-text embeddings (one per pair)",
    "dim": "embedding dimension",
    "centroid_gap_norm": "centroid gap (norm of the mean difference)",
    "two_sample_accuracy": "two-sample classifier accuracy (%)",
    "two_sample_std": "two-sample accuracy, std over folds (%)",
    "mmd2": "MMD²",
    "mmd_p_value": "MMD² permutation p",
    "mmd_bandwidth": "MMD kernel bandwidth",
    "mean_cos_image_image": "mean cosine, image to image",
    "mean_cos_text_text": "mean cosine, text to text",
    "mean_cos_image_text": "mean cosine, image to text",
}
PERCENT = {"two_sample_accuracy", "two_sample_std"}  # fractions the prose gives in percent
COUNTS = {"n_image", "n_text", "dim"}
MAP_NAMES = {
    "full": "Full mAP (%)",
    "seen": "Seen mAP (%)",
    "unseen": "Unseen mAP (%)",
    "rare": "Rare mAP (%)",
    "non_rare": "Non-rare mAP (%)",
}


def cell(value, key: str = "") -> str:
    """One value as text: integers without decimals, p-values to two significant digits, other
    numbers to two decimals (four below 0.1), and a dash where there is no number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if float(value).is_integer() and (key in COUNTS or isinstance(value, (int, np.integer))):
        return f"{int(value):,}"
    if re.search(r"(^|[ _])p($|[ _(])", key):  # a p-value
        return f"{value:.2g}"
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.4f}"


def gap_measures(measures) -> pd.DataFrame:
    """Chapter 1's gap measures, one column per comparison (a dict of dicts, a frame with the measures
    as columns, or one dict), with readable names; accuracies in percent."""
    if isinstance(measures, pd.DataFrame):
        df = measures.T if set(measures.columns) & set(GAP_NAMES) else measures  # measures as rows
    elif all(isinstance(v, dict) for v in measures.values()):
        df = pd.DataFrame(measures)
    else:
        df = pd.Series(measures, name="value").to_frame()
    keep = [k for k in GAP_NAMES if k in df.index]
    out = df.loc[keep].astype(object)
    for k in keep:
        out.loc[k] = [cell(100 * v if k in PERCENT else v, k) for v in df.loc[k]]
    return out.rename(index=GAP_NAMES).rename_axis("measure")


def map_percent(rows, index: str | None = None, names: dict | None = None) -> pd.DataFrame:
    """Rows of mAP fractions (0-1) as percent with readable headers, other columns renamed by
    ``names``, shown as ``shown`` shows a table (a dash where a subset has no class)."""
    df = pd.DataFrame(rows)
    cols = {c: MAP_NAMES[c] for c in df.columns if c in MAP_NAMES}
    df[list(cols)] = 100 * df[list(cols)]
    df = df.rename(columns={**cols, **(names or {})})
    return shown(df, index=names.get(index, index) if names else index)


# column names a table carries from code, as a reader reads them (``shown``)
HEADERS = {
    **MAP_NAMES,
    "lo": "95% interval, low",
    "hi": "95% interval, high",
    "n": "items",
    "k": "neighbours (k)",
    "train s": "training time (s)",
    "alpha": "α",
    "t_start": "start step t*",
    "lambda": "blend weight λ",
}


def shown(
    df: pd.DataFrame,
    *,
    index: str | None = None,
    names: dict | None = None,
    signed: tuple = (),
) -> pd.DataFrame:
    """A table as a page shows it: plain headers (``HEADERS``, then ``names``), a row label instead
    of a 0..n index (``index``, else the first column), yes / no for booleans, the effects in
    ``signed`` columns with a sign and two decimals, and every other number through ``cell``
    (integers as integers, two decimals, p-values to two significant digits)."""
    out = df.copy()
    if isinstance(out.index, pd.RangeIndex):
        out = out.set_index(index or out.columns[0])
    out.index = pd.Index([_value(v, "", False) for v in out.index], name=out.index.name)
    out.index = out.index.rename(_header(out.index.name, names))
    for c in out.columns:
        col = out[c]
        # counts kept as floats (a frame's mean, a JSON round trip) print as counts
        if _whole(col) and c not in signed:
            col = col.astype("Int64")
        out[c] = [_value(v, str(c).lower(), c in signed) for v in col]
    return out.rename(columns=lambda c: _header(c, names))


def _whole(col: pd.Series) -> bool:
    """A float column whose every value is a whole number."""
    if not pd.api.types.is_float_dtype(col) or col.isna().all():
        return False
    v = col.dropna().to_numpy()
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)))


def _value(v, key: str, signed: bool) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if signed and isinstance(v, (float, int, np.floating, np.integer)) and not pd.isna(v):
        return f"{v:+.2f}"
    return cell(v, key)


def _header(name, names: dict | None):
    if name is None:
        return None
    return (names or {}).get(name, HEADERS.get(name, str(name).replace("_", " ")))


def note(title: str, text: str):
    """A labelled note (the theme's admonition), for output that is an example, not a failure."""
    from IPython.display import HTML

    return HTML(
        f'<div class="admonition note"><p class="admonition-title">{html.escape(title)}</p>'
        f"<p>{html.escape(text)}</p></div>"
    )
