"""What a chapter's published copy shows: which cells the page keeps, and no path of the machine.

``hoilib book`` publishes each executed chapter through ``publish_copy``; the downloadable
notebook is that copy, every cell in it.
"""

from __future__ import annotations

from pathlib import Path

from hoilib import artifacts
from hoilib.publish.published_paths import portable_paths

# shown to the reader as the chapter's parameter table
HIDDEN_TAGS = (
    "parameters",
    "injected-parameters",
)


def page_tag(cell) -> str | None:
    """The tag a chapter's code cell gets on the page, None to show it as it is.

    The parameters a chapter ran with are shown once, in the closed table its first cell
    displays; the two papermill cells that hold them as code would come before the first idea
    (removed). A cell that glues a figure or sentence for the prose and shows nothing itself is
    plumbing (removed); one that glues and also shows a table keeps the table and folds its code
    (hidden input, one click away). The downloadable notebook keeps every cell.
    """
    if cell.get("cell_type") != "code":
        return None
    tags = cell.get("metadata", {}).get("tags", [])
    if "remove-cell" in tags or "remove-input" in tags:
        return None
    if any(t in tags for t in HIDDEN_TAGS):
        return "remove-cell"
    if "glue(" in cell.get("source", ""):
        return "remove-cell" if "remove-output" in tags else "hide-input"
    return None


def publish_copy(executed: Path, dest: Path, run_dir: Path) -> Path:
    """Copy an executed chapter for the book with each cell tagged as ``page_tag`` says and no path
    of the machine that built it (``portable_paths``)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tag = page_tag(cell)
        if tag:
            tags = cell.setdefault("metadata", {}).get("tags", [])
            cell["metadata"]["tags"] = [*tags, tag]
    text = portable_paths(nbformat.writes(nb), run_dir)
    return artifacts.write_bytes(dest, text.encode("utf-8"))
