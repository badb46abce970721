"""Batch runs and the results page, on two tiny injected notebooks (no real chapter runs).

One sweep (profiles smoke, synth x seeds 0, 1) is shared by the tests, which only read it; the test
that reruns (skips) and retries (the failed run passes) works on its own copy, so any order passes.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from hoilib.config import REPO, resolve
from hoilib.errors import ConfigError
from hoilib.publish.results import MAP_COLUMNS, collect
from hoilib.publish.results_page import results_markdown
from hoilib.run.runner import chapter_paths
from hoilib.run.sweep import run_state, run_sweep

BREAK = "HOI_TEST_BREAK"  # the fake chapter 5 raises in the run folder named by this variable
METHODS = [
    "EZ-HOI, no bridge",
    "EZ-HOI + raw-trained bridge (wrong order)",
    "EZ-HOI + adapted-trained bridge (correct order)",
    "frozen CLIP, no bridge",
]

FIRST = """\
import json, pathlib
run = pathlib.Path(params["run"]["run_dir"])
(run / "metrics").mkdir(parents=True, exist_ok=True)
(run / "metrics" / "00_first.json").write_text(json.dumps(
    {"chapter": "00_first", "profile": profile, "seed": params["run"]["seed"], "hoilib": "test", "metrics": {"ok": 1}}))
"""

EVAL = f"""\
import json, os, pathlib
run = pathlib.Path(params["run"]["run_dir"])
if os.environ.get({BREAK!r}) == run.name:
    raise RuntimeError("broken on purpose")
s = params["run"]["seed"]
rows = []
for k, m in enumerate({METHODS!r}):
    for j in (0, 2):  # two rows per method: the table must show their mean; seen is null in one
        rows.append({{"method": m, "seed": s, "full": 10.0 * (k + 1) + s + j, "seen": 20.0 + s if j == 0 else None,
                     "unseen": 5.0 * (k + 1) + j, "rare": None, "non_rare": None}})
(run / "metrics").mkdir(parents=True, exist_ok=True)
(run / "metrics" / "05_evaluation.json").write_text(json.dumps(
    {{"chapter": "05_evaluation", "profile": profile, "seed": s, "hoilib": "test",
     "metrics": {{"per_seed": rows, "verdict": {{}}}}}}))
"""


def _notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile: str = "smoke"\nparams: dict = {}')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    nbs = tmp_path_factory.mktemp("nbs")
    _notebook(nbs / "00_first.ipynb", FIRST)
    _notebook(nbs / "05_evaluation.ipynb", EVAL)
    root = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    old = os.environ.get(BREAK)
    os.environ[BREAK] = "smoke-seed1"  # second of four runs: the sweep must go on after it
    try:
        report = run_sweep(["smoke", "synth"], [0, 1], root=root, notebooks=nbs, log=lines.append)
    finally:
        if old is None:
            os.environ.pop(BREAK, None)
        else:
            os.environ[BREAK] = old
    return {"root": root, "nbs": nbs, "report": report, "lines": lines}


def test_each_profile_and_seed_gets_its_own_folder_with_provenance_and_log(sweep):
    root = sweep["root"]
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [
        "smoke-seed0",
        "smoke-seed1",
        "synth-seed0",
        "synth-seed1",
    ]
    for name in ("smoke-seed0", "synth-seed0", "synth-seed1"):
        run = root / name
        seed = int(name[-1])
        prov = json.loads((run / "provenance.json").read_text())
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"])  # the checkout's commit
        assert isinstance(prov["git"]["dirty"], bool)
        import torch

        from hoilib import codekey
        from hoilib.machine import cpu_model, kernel_env

        m = prov[
            "machine"
        ]  # which machine made these numbers, with which kernels (the profile's avx2)
        want = (
            kernel_env("avx2")
            .get("ATEN_CPU_CAPABILITY", torch.backends.cpu.get_cpu_capability())
            .upper()
        )
        assert m["cpu"] == cpu_model() and m["torch_cpu_capability"] == want
        assert m["packages"]["torch"] == torch.__version__.split("+")[0] and m["torch_threads"] >= 1
        assert prov["code"] == codekey.all_digests()  # and which code
        assert (
            prov["status"] == "complete"
            and prov["seed"] == seed
            and prov["profile"] == name.split("-")[0]
        )
        assert (
            prov["overrides"]["ezhoi.seeds"] == [seed]
            and prov["started_utc"] <= prov["finished_utc"]
        )
        assert {k: v["status"] for k, v in prov["notebooks"].items()} == {
            "00_first.ipynb": "done",
            "05_evaluation.ipynb": "done",
        }
        cfg = json.loads((run / "config.json").read_text())
        assert (
            cfg["run"]["seed"] == seed
            and cfg["ezhoi"]["seeds"] == [seed]
            and Path(cfg["run"]["run_dir"]) == run.resolve()
        )
        log = (run / "run.log").read_text()
        assert "running 00_first.ipynb" in log and "05_evaluation.ipynb done" in log
        assert (run / "notebooks" / "05_evaluation.ipynb").is_file()
    sweep_log = (root / "sweep.log").read_text()
    assert (
        "[sweep 1/4] smoke-seed0: running" in sweep_log
        and "[sweep 4/4] synth-seed1: running" in sweep_log
    )
    assert any(line.startswith("[sweep 3/4] synth-seed0: running") for line in sweep["lines"])


def test_a_failing_notebook_fails_its_run_and_the_sweep_goes_on(sweep):
    report, root = sweep["report"], sweep["root"]
    assert [(r.profile, r.seed, r.status) for r in report.runs] == [
        ("smoke", 0, "complete"),
        ("smoke", 1, "failed"),
        ("synth", 0, "complete"),
        ("synth", 1, "complete"),
    ]
    (bad,) = report.failures
    assert (
        bad.notebook == "05_evaluation.ipynb"
        and bad.cell is not None
        and "broken on purpose" in bad.detail
    )
    summary = report.summary()
    assert (
        "FAILED smoke-seed1: 05_evaluation.ipynb cell" in summary
        and str(root / "smoke-seed1" / "run.log") in summary
    )
    prov = json.loads((root / "smoke-seed1" / "provenance.json").read_text())
    assert prov["status"] == "failed" and prov["failure"]["notebook"] == "05_evaluation.ipynb"
    assert "RuntimeError: broken on purpose" in prov["failure"]["error"]
    assert (root / "smoke-seed1" / "notebooks" / "05_evaluation.failed.ipynb").is_file()
    assert "broken on purpose" in (root / "smoke-seed1" / "run.log").read_text()
    assert "FAILED smoke-seed1" in (root / "sweep.log").read_text()


def test_collect_builds_one_row_per_run_with_means(sweep):
    df = collect(sweep["root"]).set_index("run")
    assert sorted(df.index) == ["smoke-seed0", "smoke-seed1", "synth-seed0", "synth-seed1"]
    assert df.attrs["skipped"] == []
    for name in ("smoke-seed0", "synth-seed0", "synth-seed1"):
        s = int(name[-1])
        row = df.loc[name]
        assert row["seed"] == s and row["EZ-HOI seeds"] == str(s) and row["status"] == "complete"
        assert row["dataset"] == "hoi-synth" and row["chapters done"] == "00, 05"
        assert row["machine"].startswith(
            json.loads((sweep["root"] / name / "provenance.json").read_text())["machine"]["cpu"]
        )
        assert row["no bridge Full"] == pytest.approx(11.0 + s) and row[
            "no bridge Seen"
        ] == pytest.approx(20.0 + s)
        assert row["no bridge Unseen"] == pytest.approx(6.0)
        assert row["wrong order Full"] == pytest.approx(21.0 + s) and row[
            "correct order Unseen"
        ] == pytest.approx(16.0)
    failed = df.loc["smoke-seed1"]
    assert failed["status"] == "failed" and failed["chapters done"] == "00"
    assert all(failed[c] != failed[c] for c in MAP_COLUMNS)  # NaN: chapter 5 never finished
    commit = df.loc["smoke-seed0", "commit"]
    assert commit is None or len(commit) == 10


def _myst_warnings(text: str) -> str:
    """Warnings docutils + myst_parser raise on the page (jupyter-book -W turns each into an error)."""
    from docutils.core import publish_doctree
    from myst_parser.parsers.docutils_ import Parser

    stream = io.StringIO()
    publish_doctree(
        text,
        parser=Parser(),
        settings_overrides={
            "warning_stream": stream,
            "report_level": 2,
            "halt_level": 5,
            "myst_enable_extensions": [
                "colon_fence",
                "dollarmath",
                "linkify",
                "substitution",
                "tasklist",
            ],
        },
    )
    return stream.getvalue()


def test_results_page_is_a_clean_myst_table(sweep):
    page = results_markdown(sweep["root"])
    assert (
        page.startswith("# Results of every run\n")
        and "hoilib sweep" in page
        and "hoilib run" in page
    )

    def cells(start):  # a row's cells, without tabulate's padding
        line = next(line for line in page.splitlines() if line.startswith(start))
        return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]

    assert " | 11.00 | 20.00 | 6.00 | 21.00 | " in " | ".join(cells("| smoke-seed0 "))
    assert cells("| smoke-seed1 ").count("n/a") >= len(MAP_COLUMNS)
    assert _myst_warnings(page) == ""


def test_results_page_says_plainly_when_no_run_exists(tmp_path):
    for root in (tmp_path, tmp_path / "absent"):
        page = results_markdown(
            root,
            grid_record=tmp_path / "no-grid.json",
            search_record=tmp_path / "no-search.json",
            confirmatory=tmp_path / "no-confirmatory.json",
        )
        assert "No runs exist yet" in page and "python -m hoilib run --profile synth" in page
        assert "|" not in page and _myst_warnings(page) == ""


def test_malformed_metrics_are_skipped_and_named(tmp_path):
    (tmp_path / "bad" / "metrics").mkdir(parents=True)
    (tmp_path / "bad" / "metrics" / "05_evaluation.json").write_text("{not json")
    (tmp_path / "odd" / "metrics").mkdir(parents=True)
    (tmp_path / "odd" / "metrics" / "05_evaluation.json").write_text(
        json.dumps({"metrics": {"per_seed": "x|y"}})
    )
    (tmp_path / "odd" / "config.json").write_text(
        json.dumps({"profile": "we|ird_$name$", "seed": "zero"})
    )
    (tmp_path / "list" / "metrics").mkdir(parents=True)
    (tmp_path / "list" / "metrics" / "01_modality_gap.json").write_text("[1, 2]")
    df = collect(tmp_path)
    assert sorted(df["run"]) == ["bad", "list", "odd"] and df["no bridge Full"].isna().all()
    files = [s["file"] for s in df.attrs["skipped"]]
    assert files == [
        "bad/metrics/05_evaluation.json",
        "list/metrics/01_modality_gap.json",
        "odd/metrics/05_evaluation.json",
    ]
    page = results_markdown(tmp_path)
    assert "## Files skipped" in page and "`bad/metrics/05_evaluation.json`: not valid JSON" in page
    assert "`odd/metrics/05_evaluation.json`: expected metrics.per\\_seed" in page
    assert _myst_warnings(page) == ""


def test_results_page_is_written_while_staging_and_listed_in_the_toc(sweep, tmp_path):
    from hoilib.publish.book import write_results_page

    path = write_results_page(tmp_path, sweep["root"])
    assert path == tmp_path / "results.md" and "| synth-seed1 " in path.read_text()
    assert "- file: book/results" in (REPO / "_toc.yml").read_text()
    assert (REPO / "book" / "results.md").read_text().startswith("# Results of every run")


def test_sweep_refuses_to_be_told_its_own_parameters(tmp_path):
    with pytest.raises(ConfigError, match="seed"):
        run_sweep(["smoke"], [0], {"seed": 3}, root=tmp_path)
    with pytest.raises(ConfigError, match="unknown profile"):
        run_sweep(["no-such-profile"], [0], root=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_changed_parameters_make_a_complete_run_incomplete(sweep):
    run = sweep["root"] / "smoke-seed0"
    chapters = chapter_paths(None, sweep["nbs"])
    ov = {"run.seed": 0, "ezhoi.seeds": [0], "run.run_dir": str(run)}
    assert run_state(run, resolve("smoke", ov), chapters)[0] == "complete"
    state, why, _ = run_state(run, resolve("smoke", {**ov, "evaluation.umap_points": 7}), chapters)
    assert state == "incomplete" and "parameters changed" in why


def test_cli_results_and_a_rerun_that_skips_then_retries(sweep, capsys, monkeypatch, tmp_path):
    import shutil

    import hoilib.run.sweep
    from hoilib.cli import main

    root, nbs = tmp_path / "sweep", sweep["nbs"]
    # this test changes its runs; the shared sweep stays as run
    shutil.copytree(sweep["root"], root)
    assert main(["results", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "smoke-seed0" in out and "11.00" in out and "n/a" in out

    before = {p: p.stat().st_mtime_ns for p in root.rglob("notebooks/*.ipynb")}
    monkeypatch.setattr(hoilib.run.sweep, "run_sweep", functools.partial(run_sweep, notebooks=nbs))
    rc = main(["sweep", "--profiles", "smoke", "synth", "--seeds", "0", "1", "--root", str(root)])
    out = capsys.readouterr().out
    assert rc == 1  # the earlier failure still stands: not retried without --retry-failed
    assert "[sweep 1/4] smoke-seed0: already complete, skipped" in out
    assert (
        "[sweep 2/4] smoke-seed1: failed earlier in 05_evaluation.ipynb" in out
        and "--retry-failed" in out
    )
    assert {
        p: p.stat().st_mtime_ns for p in root.rglob("notebooks/*.ipynb")
    } == before  # nothing re-executed

    monkeypatch.delenv(BREAK, raising=False)
    lines: list[str] = []
    done: list[str] = []  # what ``on_done`` hears (the plan writes each record there)
    report = run_sweep(
        ["smoke", "synth"],
        [0, 1],
        root=root,
        retry_failed=True,
        notebooks=nbs,
        log=lines.append,
        on_done=lambda run_dir, varied: done.append(run_dir.name),
    )
    assert [r.status for r in report.runs] == [
        "skipped",
        "complete",
        "skipped",
        "skipped",
    ] and not report.failures
    assert done == [r.run_dir.name for r in report.runs]  # every finished run, in order
    assert "[sweep 2/4] smoke-seed1: running (failed earlier)" in "\n".join(lines)
    assert not (root / "smoke-seed1" / "notebooks" / "05_evaluation.failed.ipynb").exists()
    assert collect(root).set_index("run").loc["smoke-seed1", "no bridge Full"] == pytest.approx(
        12.0
    )


def test_vary_plans_one_folder_per_combination_and_shares_stages_across_splits(tmp_path):
    from hoilib.config import parse_vary
    from hoilib.run.sweep import plan_runs

    vary = parse_vary(["world.seed=0,1", "world.split=rf-uc,uv"])
    assert vary == {"world.seed": [0, 1], "world.split": ["rf-uc", "uv"]}
    plan = plan_runs(["smoke"], None, {}, root=tmp_path, vary=vary)
    dirs = [Path(cfg.run.run_dir).name for *_, cfg in plan]
    assert dirs == [
        "smoke-world_seed0-split_rf-uc",
        "smoke-world_seed0-split_uv",
        "smoke-world_seed1-split_rf-uc",
        "smoke-world_seed1-split_uv",
    ]
    stages = [Path(cfg.run.stage_dir).name for *_, cfg in plan]
    assert stages == ["smoke-world_seed0"] * 2 + ["smoke-world_seed1"] * 2
    assert [cfg.world.split for *_, cfg in plan] == ["rf-uc", "uv", "rf-uc", "uv"]
    assert all(cfg.ezhoi.seeds == resolve("smoke").ezhoi.seeds for *_, cfg in plan)


def test_vary_errors_name_the_problem(tmp_path):
    from hoilib.config import parse_vary

    with pytest.raises(ConfigError, match="name=v1,v2"):
        parse_vary(["split"])
    with pytest.raises(ConfigError, match="twice"):
        parse_vary(["world.split=uv", "world.split=uo"])
    with pytest.raises(ConfigError, match="unknown parameter"):
        parse_vary(["no_such=1,2"])
    with pytest.raises(ConfigError, match="split"):
        run_sweep(["smoke"], None, {"split": "uv"}, root=tmp_path, vary={"split": ["uo"]})
    with pytest.raises(ConfigError, match="expected"):
        run_sweep(["smoke"], None, root=tmp_path, vary={"split": ["nope"]})
    assert not list(tmp_path.iterdir())


def test_stage_dir_moves_the_stages_and_not_the_run(tmp_path):
    from hoilib.config import stage_root

    cfg = resolve("smoke", {"run.run_dir": str(tmp_path / "run")})
    assert stage_root(cfg.run) == tmp_path / "run"
    cfg = resolve(
        "smoke", {"run.run_dir": str(tmp_path / "run"), "run.stage_dir": str(tmp_path / "s")}
    )
    assert stage_root(cfg.run) == tmp_path / "s" and cfg.run.run_dir == str(tmp_path / "run")
