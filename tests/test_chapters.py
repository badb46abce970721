"""Each notebook has one chapter module: the one its opening cell imports, named for it, with known parameters."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from hoilib.chapters.notebook import ChapterResult
from hoilib.config import FIELDS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_opens_its_own_chapter_module(path):
    opener = "".join(json.loads(path.read_text())["cells"][2]["source"])
    m = re.search(r"from hoilib\.chapters import (ch\d_\w+) as chapter", opener)
    assert m, f"{path.name}: the opening cell imports no chapter module as `chapter`"
    assert m.group(1).startswith(f"ch{int(path.name[:2])}_"), f"{path.name} opens {m.group(1)}"
    module = importlib.import_module(f"hoilib.chapters.{m.group(1)}")
    assert module.NAME == path.stem
    assert set(module.PARAMS) <= set(FIELDS), set(module.PARAMS) - set(FIELDS)
    assert len(set(module.PARAMS)) == len(module.PARAMS), "a parameter listed twice"
    results = [
        v for v in vars(module).values() if isinstance(v, type) and issubclass(v, ChapterResult)
    ]
    assert [r for r in results if r is not ChapterResult], f"{m.group(1)} defines no ChapterResult"


def test_the_parameter_table_is_closed_and_lists_the_chapters_parameters_first():
    from bs4 import BeautifulSoup

    from hoilib.chapters.notebook import parameter_table_html
    from hoilib.config import resolve

    html = parameter_table_html(resolve("smoke"), ("evaluation.umap_points", "run.seed"))
    soup = BeautifulSoup(html, "html.parser")
    details = soup.find("details")
    assert details is not None and not details.has_attr("open"), "the table starts closed"
    names = [th.get_text() for th in details.select("tbody th")]
    assert names[:2] == ["evaluation.umap_points", "run.seed"] and len(names) == len(FIELDS)
    assert "2 used by this chapter" in details.find("summary").get_text()
