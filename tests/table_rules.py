"""What a table on a page must not show (issue 35): the rules the built book's tables are held to.

A helper of the tests, not a test: ``table_problems`` reads one rendered ``<table>``.
"""

from __future__ import annotations

import re

# a name from code, not a header: snake_case, or the bare statistics' short names
RAW_HEADER = re.compile(r"_|^(lo|hi|mean|std|n|p|alpha|lambda|t_start)$")
FLOAT_INTEGER = re.compile(r"^-?[\d,]+\.0+$")


def table_problems(table) -> list[str]:
    """One sentence per rule ``table`` (a BeautifulSoup ``<table>``) breaks: a 0..n index, a header
    that is a name from code, True / False / nan in a cell, a column of counts printed as floats."""
    heads = [th.get_text(" ", strip=True) for th in table.select("thead th")]
    rows = [
        [c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])]
        for tr in table.select("tbody tr")
    ]
    out = []
    firsts = [r[0] for r in rows if r]
    if len(firsts) > 1 and firsts == [str(k) for k in range(len(firsts))]:
        out.append("a 0..n index labels nothing")
    out += [f"header {h!r} is a name from code" for h in heads if h and RAW_HEADER.search(h)]
    out += sorted(
        {f"cell {c!r}" for r in rows for c in r if c in ("True", "False", "nan", "NaN", "None")}
    )
    width = max((len(r) for r in rows), default=0)
    for j in range(width):
        col = [r[j] for r in rows if len(r) == width and r[j]]
        if len(col) > 1 and all(FLOAT_INTEGER.match(c) for c in col):
            out.append(f"column {j}: whole numbers printed as floats ({col[0]})")
    return out
