"""The glossary writes its equations for MathJax, not in ASCII (issue 35, item 5)."""

from __future__ import annotations

import re

from hoilib.config import REPO

ASCII_MATH = (
    r"sqrt\(",
    r"\babar",
    r"\ba_t\b",
    r"\bexp\(",
    r"\bsoftmax\(",
    r"\bsigmoid\(",
    r"\beta = 0",
)


def test_the_glossary_has_no_ascii_equation():
    text = (REPO / "book" / "glossary.md").read_text(encoding="utf-8")
    prose = re.sub(r"`[^`]*`", "", text)  # code spans name code, not equations
    prose = re.sub(r"\$[^$]+\$", "", prose)  # what MathJax renders
    found = [p for p in ASCII_MATH if re.search(p, prose)]
    assert found == []
    assert len(re.findall(r"\$[^$]+\$", text)) >= 10
