"""Which code cells a chapter's page shows (issue 35, item 5): plumbing removed, teaching kept."""

from __future__ import annotations

import nbformat

from hoilib.publish.chapter_copy import page_tag, publish_copy


def _cell(src: str, *tags: str):
    c = nbformat.v4.new_code_cell(src)
    c.metadata["tags"] = list(tags)
    return c


def test_plumbing_is_removed_a_table_keeps_its_output_and_teaching_stays(tmp_path):
    cells = {
        "params": _cell("profile = 'synth'", "parameters"),
        "glue figure": _cell('fig = f()\nglue("fig", fig)\nplt.close(fig)', "remove-output"),
        "glue + table": _cell('glue("line", s, display=False)\nres.table()'),
        "teaching": _cell("res.control_table()"),
        "markdown": nbformat.v4.new_markdown_cell('glue("x", 1)'),
        "already": _cell('glue("x", 1)', "remove-input"),
    }
    assert {k: page_tag(c) for k, c in cells.items()} == {
        "params": "remove-cell",
        "glue figure": "remove-cell",
        "glue + table": "hide-input",
        "teaching": None,
        "markdown": None,
        "already": None,
    }
    nb = nbformat.v4.new_notebook(cells=list(cells.values()))
    src, dest = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    publish_copy(src, dest, tmp_path)
    out = nbformat.read(dest, as_version=4)
    assert [c.metadata.get("tags", []) for c in out.cells] == [
        ["parameters", "remove-cell"],
        ["remove-output", "remove-cell"],
        ["hide-input"],
        [],
        [],
        ["remove-input"],
    ]
    assert [c.source for c in out.cells] == [c.source for c in nb.cells]  # the download keeps all
