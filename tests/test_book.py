"""End to end: every chapter on the smoke profile through papermill, then the HTML book."""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from pathlib import Path
from urllib.parse import urldefrag

import nbformat
import pytest
from browser import chrome, chromium_or_skip
from bs4 import BeautifulSoup

from hoilib.figures.interactive import DIV_CLASS, PLOTLY_JS
from hoilib.publish.book import build_book
from hoilib.run.runner import NotebookFailed, chapter_paths, run_profile

pytestmark = pytest.mark.slow
# Chapters showing interactive figures (hoilib.figures.interactive.Glued): the browser opens them.
INTERACTIVE_CHAPTERS = ("03_adapted_embeddings", "05_evaluation")


def test_source_notebooks_are_clean_and_parameterised():
    paths = chapter_paths()
    assert [p.name[:2] for p in paths] == sorted(p.name[:2] for p in paths) and len(paths) >= 2
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.get("outputs") for c in code), f"{p.name} is committed with outputs"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, p.name
        assert "profile: str" in tagged[0].source and "params: dict" in tagged[0].source
        # every cell has its id (nbformat 4.5): papermill warned of the missing ones in every run
        missing = [i for i, c in enumerate(json.loads(p.read_text())["cells"]) if "id" not in c]
        assert not missing, f"{p.name}: cells {missing} have no id"


def test_every_chapter_ran_and_recorded_its_parameters(smoke_run):
    run_dir, _, timings = smoke_run
    assert set(timings) == {p.name for p in chapter_paths()}
    for p in chapter_paths():
        nb = json.loads((run_dir / "notebooks" / p.name).read_text())
        params = nb["metadata"]["papermill"]["parameters"]
        assert params["profile"] == "smoke" and params["params"]["run"]["run_dir"] == str(run_dir)
    metrics = json.loads((run_dir / "metrics" / "01_modality_gap.json").read_text())["metrics"]
    # the number chapter 1 published is the one the library computes from the run's cached stages
    from hoilib.config import resolve
    from hoilib.data.build import prepare_world
    from hoilib.measure import gap
    from hoilib.measure.zeroshot import annotated_pairs
    from hoilib.models.backbone import load_synth_clip
    from hoilib.models.backbone_stage import features_of_test_pairs

    cfg = resolve("smoke", {"run.run_dir": str(run_dir)})
    world = prepare_world(cfg)
    bb = load_synth_clip(run_dir / "backbone" / "synth-clip.safetensors")
    pairs, feats = features_of_test_pairs(cfg.backbone, cfg.run, world, backbone=bb)
    pos, pos_cls = annotated_pairs(world.test, pairs)
    want = gap.centroid_gap(feats["union"][pos], bb.encode_text(world.prompts)[pos_cls])[1]
    assert metrics["gap"]["centroid_gap_norm"] == pytest.approx(float(want), abs=1e-6)
    # a CLIP-style model has a gap; zero means broken features
    assert metrics["gap"]["centroid_gap_norm"] > 0.1
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob("*.failed.ipynb"))


def test_book_pages_load_with_figures_and_links(smoke_run):
    _, html, _ = smoke_run
    pages = {p.stem: p for p in (html / "book" / "chapters").glob("*.html")}
    assert set(pages) == {p.stem for p in chapter_paths()}
    for name, page in pages.items():
        soup = BeautifulSoup(page.read_text(), "html.parser")
        imgs = soup.select("main img") or soup.select("img")
        # interactive figures (hoilib.figures.interactive)
        plotly = soup.select(f"div.{DIV_CLASS}")
        assert len(imgs) + len(plotly) >= 2, f"{name}: expected figures"
        for img in imgs:
            src = img.get("src", "")
            if not src.startswith("data:"):
                assert (page.parent / src).resolve().is_file(), f"{name}: missing image {src}"
        assert not soup.select(".output.traceback, .output.error"), (
            f"{name}: error output in the page"
        )
    for page in html.rglob("*.html"):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for a in soup.find_all("a", href=True):
            href = urldefrag(a["href"])[0]
            if not href or re.match(r"^[a-z]+:", href) or href.startswith("//"):
                continue
            assert (page.parent / href).resolve().exists(), (
                f"{page.relative_to(html)}: broken link {a['href']}"
            )
    intro = (html / "book" / "intro.html").read_text()
    assert "01_modality_gap" in intro


def test_glued_numbers_render(smoke_run):
    _, html, _ = smoke_run
    text = BeautifulSoup(
        (html / "book" / "chapters" / "01_modality_gap.html").read_text(), "html.parser"
    ).get_text()
    assert re.search(r"centroid gap norm is \d\.\d\d", text)


def test_citations_resolve_and_figures_are_numbered(smoke_run):
    """The references page lists every entry of book/references.bib with a link; every {cite}
    role of a chapter or the glossary became a link to it; no role or numref is left unresolved;
    every chapter's figures carry a number ("Fig. N") that its {numref}s point at."""
    from pybtex.database import parse_file

    from hoilib.run.runner import REPO

    _, html, _ = smoke_run
    bib = parse_file(REPO / "book" / "references.bib").entries
    refs = BeautifulSoup((html / "book" / "references.html").read_text(), "html.parser").main
    entries = refs.select("div.citation")
    assert len(entries) == len(bib) >= 20
    assert all(e.select_one("a.reference.external[href^='https://']") for e in entries)
    listed = " ".join(refs.get_text().lower().split())
    for key, entry in bib.items():
        title = " ".join(re.sub(r"[{}]", "", entry.fields["title"]).lower().split())
        assert title in listed, f"{key}: {title!r} is not on the references page"
    sources = {f"chapters/{p.stem}": p for p in chapter_paths()}
    sources["glossary"] = REPO / "book" / "glossary.md"
    for page, src in sources.items():
        if src.suffix == ".ipynb":
            cells = nbformat.read(src, as_version=4).cells
            prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        else:
            prose = src.read_text(encoding="utf-8")
        main = BeautifulSoup((html / "book" / f"{page}.html").read_text(), "html.parser").main
        assert not re.search(r"\{(cite|numref)|\?\?", main.get_text()), f"{page}: unresolved role"
        roles = re.findall(r"\{cite:[tp]\}`[^`]+`", prose)
        links = main.select("a.reference.internal[href*='references.html#']")
        assert len(links) >= len(roles), f"{page}: {len(roles)} citations, {len(links)} links"
        if page == "glossary":
            assert roles
            continue
        captions = [" ".join(c.get_text().split()) for c in main.select("figure figcaption")]
        assert captions and all(re.match(r"Fig\. \d+ \S", c) for c in captions), (page, captions)
        # every picture, static or interactive, sits in a numbered, captioned figure (issue 35:
        # chapter 5's plotly figures had neither)
        for shown in main.select(f"img, div.{DIV_CLASS}"):
            figure = shown.find_parent("figure")
            said = figure.select_one("figcaption") if figure else None
            assert said and re.match(r"Fig\. \d+ \S", said.get_text().strip()), (
                page,
                str(shown)[:80],
            )
        for ref in main.select("a.reference.internal:has(span.std-numref)"):
            assert re.fullmatch(r"Fig\. \d+", ref.get_text()), (page, ref.get_text())
            target = urldefrag(ref["href"])[1]
            assert main.find("figure", id=target) is not None, f"{page}: numref to {target}"


def test_failing_notebook_is_named_with_cell_and_error(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile: str = "smoke"\nparams: dict = {}')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [
        p,
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, src / "07_broken.ipynb")
    with pytest.raises(
        NotebookFailed,
        match=r"notebook 07_broken.ipynb failed in cell \d+: ValueError: broken on purpose "
        r"\(executed copy: .*07_broken",
    ):
        run_profile(
            "smoke", {"run.run_dir": str(tmp_path / "run")}, log=lambda *a: None, notebooks=src
        )
    assert (tmp_path / "run" / "notebooks" / "07_broken.failed.ipynb").is_file()
    assert not (tmp_path / "run" / "notebooks" / "07_broken.ipynb").exists()


def test_book_refuses_notebooks_with_errors(tmp_path, smoke_run):
    import shutil

    from hoilib.errors import HoiBookError

    run_dir, _, _ = smoke_run
    bad = tmp_path / "run"
    shutil.copytree(run_dir / "notebooks", bad / "notebooks")
    nb = nbformat.read(bad / "notebooks" / "01_modality_gap.ipynb", as_version=4)
    nb.cells[-1].outputs = [
        nbformat.v4.new_output("error", ename="RuntimeError", evalue="boom", traceback=[])
    ]
    nbformat.write(nb, bad / "notebooks" / "01_modality_gap.ipynb")
    with pytest.raises(HoiBookError, match="01_modality_gap.ipynb: cell .*RuntimeError: boom"):
        build_book(bad, tmp_path / "out")


def test_pages_render_in_headless_chromium(smoke_run, tmp_path):
    """Open every chapter in a real browser: it loads with its title and figures, and draws them."""
    exe = chromium_or_skip()
    _, html, _ = smoke_run
    assert _console_errors_of_every_page(exe, html, tmp_path) == []
    for nb in chapter_paths():
        page = html / "book" / "chapters" / f"{nb.stem}.html"
        proc = chrome(exe, tmp_path, "--dump-dom", page.as_uri())
        assert proc.returncode == 0, proc.stderr[-2000:]
        soup = BeautifulSoup(proc.stdout, "html.parser")
        assert soup.find("h1") is not None, f"{nb.stem}: no title in the rendered page"
        n_figures = len(soup.select("img")) + len(soup.select(f"div.{DIV_CLASS}"))
        assert n_figures >= 2, f"{nb.stem}: figures missing from the rendered page"
    shot = tmp_path / "chapter1.png"
    proc = chrome(
        exe,
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        (html / "book" / "chapters" / "01_modality_gap.html").as_uri(),
    )
    assert shot.is_file(), proc.stderr[-2000:]
    from PIL import Image

    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the screenshot looks blank"


def test_figures_are_drawn_at_twice_their_page_size(smoke_run):
    """Every matplotlib figure of a chapter is a PNG of twice the pixels the page shows it at
    (issue 35: 730 px PNGs looked blurry on a high-density screen)."""
    from PIL import Image

    _, html, _ = smoke_run
    checked = 0
    for nb in chapter_paths():
        page = html / "book" / "chapters" / f"{nb.stem}.html"
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for img in soup.select("main img[src$='.png']"):
            png = Image.open((page.parent / img["src"]).resolve())
            # myst-nb writes the output's width as the image's CSS width
            m = re.search(r"width:\s*([\d.]+)px", img.get("style", "")) or re.search(
                r"([\d.]+)", str(img.get("width", ""))
            )
            assert m, f"{nb.stem}: {img['src']} has no page width"
            shown = float(m.group(1))
            assert png.width >= 1.9 * shown, (nb.stem, img["src"], png.width, shown)
            checked += 1
    assert checked >= 10


def _console_errors_of_every_page(exe: str, html: Path, tmp_path: Path) -> list[str]:
    """Every page of the book loaded in one browser (as frames of one page), and the console
    lines that report an error, from any of them."""
    pages = sorted((html / "book").rglob("*.html"))
    frames = "".join(f'<iframe src="{p.as_uri()}"></iframe>' for p in pages)
    every = tmp_path / "every-page.html"
    every.write_text(f"<!doctype html><html><body>{frames}</body></html>", encoding="utf-8")
    console = ["--enable-logging=stderr", "--v=0", "--allow-file-access-from-files"]
    proc = chrome(exe, tmp_path, *console, "--dump-dom", every.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("CONSOLE") >= len(pages), "the pages did not all load"
    return _console_errors(proc.stderr)


def _console_errors(stderr: str) -> list[str]:
    """Console lines of a page that report an error (an uncaught exception, a failed script)."""
    return [
        ln
        for ln in stderr.splitlines()
        if "CONSOLE" in ln and re.search(r"Uncaught|Error|Failed to load", ln)
    ]


def check_interactive_pages(
    html: Path, exe: str, tmp_path: Path, pages=INTERACTIVE_CHAPTERS
) -> dict:
    """Open each page in headless Chromium, scripts running: every interactive figure is drawn.

    The book serves plotly.js itself (``_static/``), no page loads it from the network, and each
    figure's div ends up a plotly plot drawing as many traces as the figure shows (``data-traces``);
    a figure with a legend lists every trace in it. Returns {page: number of figures}. Usable on any
    built book: ``check_interactive_pages(Path("out/_build/html"), "chromium", Path("/tmp/x"))``.
    """
    assert (html / "_static" / PLOTLY_JS).is_file(), "the book does not ship plotly.js in _static/"
    found = {}
    for name in pages:
        page = html / "book" / "chapters" / f"{name}.html"
        source = page.read_text()
        divs = BeautifulSoup(source, "html.parser").select(f"div.{DIV_CLASS}")
        assert divs, (
            f"{name}: no interactive figure in the page (a chapter cell must call "
            "hoilib.figures.interactive.Glued)"
        )
        assert not re.search(r"https?://[^\"' ]*plotly", source), (
            f"{name}: plotly.js from the network"
        )
        proc = chrome(exe, tmp_path, "--dump-dom", page.as_uri())
        assert proc.returncode == 0, proc.stderr[-2000:]
        dom = BeautifulSoup(proc.stdout, "html.parser")
        assert len(dom.select("script#hoibook-plotlyjs")) == 1, (
            f"{name}: plotly.js should load once per page"
        )
        for div in divs:
            el = dom.find(id=div["id"])
            said = el.get_text()[:200] if el else "div missing"
            assert el is not None and "js-plotly-plot" in el.get("class", []), (
                f"{name}: figure {div['id']} was not drawn: {said}"
            )
            traces = el.select(".scatterlayer .trace, .barlayer .trace")
            assert len(traces) == int(div["data-traces"]), (
                f"{name}: {div['id']}: {len(traces)} traces drawn"
            )
            legend = el.select(".legend .traces")
            assert not legend or len(legend) == len(traces), (
                f"{name}: {div['id']}: {len(legend)} legend items"
            )
        found[name] = len(divs)
    return found


def check_execution_statistics(html: Path, run_dir: Path) -> int:
    """The execution-statistics page: the run's commit, profile and machine, a row per chapter
    with its seconds and status, and a working download of every metrics JSON of the run.

    Returns how many downloads it checked.
    """
    page = html / "book" / "execution_statistics.html"
    soup = BeautifulSoup(page.read_text(), "html.parser")
    text = " ".join(soup.get_text().split())
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert (
        prov["git"]["commit"][:10] in text
        and prov["profile"] in text
        and prov["machine"]["cpu"] in text
    )
    rows = soup.select("main table tr")
    for name, rec in prov["notebooks"].items():
        stem = Path(name).stem
        row = next(
            (tr for tr in rows if tr.find("a", href=re.compile(re.escape(stem) + r"\.html"))), None
        )
        assert row is not None, f"no row links chapter {stem}"
        cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
        assert str(rec["seconds"]) in cells and rec["status"] in cells, cells
    metrics = sorted((run_dir / "metrics").glob("*.json"))
    links = {Path(a["href"]).name: a for a in soup.select("a.download[href]")}
    for f in metrics:
        assert f.name in links, f"no download link for {f.name}"
        target = (page.parent / links[f.name]["href"]).resolve()
        assert target.is_file() and target.read_bytes() == f.read_bytes(), (
            f"{f.name}: the download is not the run's file"
        )
    return len(metrics)


def test_execution_statistics_page_and_metrics_downloads(smoke_run):
    run_dir, html, _ = smoke_run
    assert check_execution_statistics(html, run_dir) >= 5
    intro = BeautifulSoup((html / "book" / "intro.html").read_text(), "html.parser")
    assert intro.find("a", href=re.compile(r"execution_statistics\.html")) and intro.find(
        "a", href=re.compile(r"glossary\.html")
    )


def test_every_table_of_the_book_reads_as_a_table(smoke_run):
    """Issue 35: no 0..n index, no name from code as a header, no True / False / nan, no counts as
    floats, on any page (tests/table_rules.py; the parameter tables, folded in a <details>, show
    the settings as a profile spells them)."""
    from table_rules import table_problems

    _, html, _ = smoke_run
    found, seen = [], 0
    for page in sorted((html / "book").rglob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for k, table in enumerate(soup.select("main table")):
            if table.find_parent("details") is None:
                seen += 1
                found += [f"{page.relative_to(html)} table {k}: {p}" for p in table_problems(table)]
    assert seen >= 15 and found == []


def test_chapter_3_offers_both_text_spaces_as_a_download(smoke_run):
    """Issue 35: the raw and adapted embeddings, with their class names, one click from chapter 3,
    in plain arrays that load without unpickling."""
    import numpy as np

    _, html, _ = smoke_run
    page = html / "book" / "chapters" / "03_adapted_embeddings.html"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    link = soup.select_one("a.download[href$='text_spaces.npz']")
    assert link is not None, "no download link to text_spaces.npz"
    with np.load((page.parent / link["href"]).resolve(), allow_pickle=False) as z:
        n, d = z["raw"].shape
        assert z["adapted"].shape == (n, d) and len(z["classes"]) == n == len(z["unseen"])
        assert z["corpus_raw"].shape[1] == d and len(z["corpus_class"]) == len(z["corpus_raw"])
        assert not np.allclose(z["raw"], z["adapted"])  # two spaces, not one twice
        assert all(" " in str(c) for c in z["classes"])  # "verb object" names


def test_the_books_stylesheet_is_on_every_page(smoke_run):
    """Glued text reads as prose (myst-nb sets it bold) and a wide table scrolls in its column:
    book/hoi-book.css reaches the built _static/ and every page links it (issue 35)."""
    _, html, _ = smoke_run
    css = html / "_static" / "hoi-book.css"
    assert css.is_file() and "span.pasted-text" in css.read_text()
    pages = sorted((html / "book").rglob("*.html"))
    assert pages and all("_static/hoi-book.css" in p.read_text(encoding="utf-8") for p in pages)


def test_every_page_names_the_commit_its_chapters_ran_at(smoke_run):
    """Issue 35: a reader of any page can find the code: its footer names the run's commit (and
    the repository, where the clone knows a public address: tests/test_source_link.py)."""
    from hoilib.provenance import read_provenance

    run_dir, html, _ = smoke_run
    commit = read_provenance(run_dir)["git"]["commit"]
    pages = [
        p
        for p in sorted(html.rglob("*.html"))
        if "_static" not in p.parts and "http-equiv" not in p.read_text()[:200]
    ]  # the theme's own files, and the root index.html that only redirects to the landing page
    assert len(pages) >= 10
    for page in pages:
        said = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select_one(
            "footer p.hoibook-source"
        )
        assert said and f"commit {commit[:12]}" in said.get_text(), page.name


def test_interactive_figures_draw_in_headless_chromium(smoke_run, tmp_path):
    """The chapters' plotly figures work in the static HTML, drawn by the book's own plotly.js."""
    exe = chromium_or_skip()
    _, html, _ = smoke_run
    found = check_interactive_pages(html, exe, tmp_path)
    assert set(found) == set(INTERACTIVE_CHAPTERS)


def test_no_path_of_the_building_machine_is_published(smoke_run):
    """Pages, downloadable notebooks and metrics name no folder of the machine that built them:
    not the run folder, the repository, the build folder (issue 22, item 6), nor the Python
    environment, the home folder (where the shared kernel environment lives) or the temporary
    folder (issue 35: chapter 1 printed umap-learn's warning with the environment's path; this
    scan finds it in 67dd009's build)."""
    from hoilib.publish.published_paths import ELSEWHERE, machine_folders, paths_published

    run_dir, html, _ = smoke_run
    folders = machine_folders(run_dir, html.parent.parent)
    assert str(Path.home().resolve()) + "/" in folders
    assert paths_published(html, folders) == []
    # the smoke run's folder lies outside the repository: named as such
    page = (html / "book" / "chapters" / "00_hoi_synth.html").read_text(encoding="utf-8")
    assert html_escape(ELSEWHERE["run.run_dir"]) in page
