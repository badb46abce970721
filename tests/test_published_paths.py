"""No folder of the building machine in what the book publishes (issue 35, item 3)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from hoilib.figures.umap_fit import warning_lines
from hoilib.publish.published_paths import machine_folders, paths_published


def _umap_style_warning() -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn_explicit(
            "Spectral initialisation failed! The eigenvector solver\\nfailed.",
            UserWarning,
            filename=f"{sys.prefix}/lib/python3.11/site-packages/umap/spectral.py",
            lineno=548,
        )
    return caught


def test_the_scan_finds_an_environment_path_and_the_chapter_prints_none(tmp_path):
    caught = _umap_style_warning()
    # Python's own format of the warning, as chapter 1 printed it before: the scan finds it
    page = tmp_path / "html" / "chapter.html"
    page.parent.mkdir()
    page.write_text("<pre>" + warnings.formatwarning(*_args(caught[0])) + "</pre>")
    folders = machine_folders()
    assert str(Path(sys.prefix).resolve()) + "/" in folders
    assert str(Path.home().resolve()) + "/" in folders
    found = paths_published(tmp_path / "html", folders)
    assert f"chapter.html: {str(Path(sys.prefix).resolve())}/" in found
    # the chapter's own line: the message, one line, no file
    lines = warning_lines(caught)
    assert lines == [
        "note from umap-learn (UserWarning): Spectral initialisation failed! The eigenvector "
        "solver\\nfailed."
    ]
    page.write_text("<pre>" + "\n".join(lines) + "</pre>")
    assert paths_published(tmp_path / "html", folders) == []


def test_a_word_that_starts_like_a_folder_is_not_a_path(tmp_path):
    (tmp_path / "p.md").write_text(f"{Path.home()}stead and {Path.home()}")
    assert paths_published(tmp_path, machine_folders()) == []


def _args(w):
    return w.message, w.category, w.filename, w.lineno


def test_a_kernel_traceback_under_the_home_folder_is_published_without_it(tmp_path):
    """A kernel once printed a tornado traceback naming the shared environment's files
    (~/.cache/hoi-book/env-...): the published copy names them from the home folder."""
    from hoilib.publish.published_paths import portable_paths

    env = Path.home().resolve() / ".cache" / "hoi-book" / "env-x" / "lib" / "zmqstream.py"
    text = portable_paths(f'File "{env}", line 585', tmp_path / "run")
    assert text == 'File "~/.cache/hoi-book/env-x/lib/zmqstream.py", line 585'
    assert paths_published_text(text) == []


def paths_published_text(text: str) -> list[str]:
    return [f for f in machine_folders() if f in text]
