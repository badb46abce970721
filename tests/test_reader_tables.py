"""What a page shows: readable tables, computed sentences and the headline figure (figures.tables,
chapters.findings, figures.headline), on small frames."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from hoilib.chapters import findings
from hoilib.figures import headline, tables

matplotlib.use("Agg")


def test_cells_are_integers_percent_and_dashes_never_nan():
    assert tables.cell(float("nan")) == tables.DASH and tables.cell(None) == tables.DASH
    assert tables.cell(1148.0, "n_image") == "1,148" and tables.cell(14) == "14"
    assert tables.cell(np.int64(3), "seeds") == "3"  # a count out of a pandas frame
    assert tables.cell(0.004975, "mmd_p_value") == "0.005"
    assert tables.cell(0.932818) == "0.93" and tables.cell(0.0123) == "0.0123"
    g = tables.gap_measures({"n_image": 1148.0, "two_sample_accuracy": 1.0, "mmd2": 0.61})
    assert list(g["value"]) == ["1,148", "100.00", "0.61"]
    assert g.index[0] == "image features (annotated test pairs)" and "nan" not in g.to_string()
    shift = tables.map_percent(
        [{"delta": 0.0, "full": 0.3051, "unseen": 0.3321, "non_rare": float("nan")}],
        "delta",
        {"delta": "shift"},
    )
    assert list(shift.columns) == ["Full mAP (%)", "Unseen mAP (%)", "Non-rare mAP (%)"]
    assert shift.index.name == "shift" and list(shift.iloc[0]) == ["30.51", "33.21", tables.DASH]


def _runs(gain):
    rows = []
    for seed, noise in enumerate((0.0, 0.3, -0.2)):
        rows.append({"model": "full", "seed": seed, "unseen": 30.0 + noise})
        rows.append({"model": "no prompts", "seed": seed, "unseen": 30.0 + gain + noise * 1.1})
    return pd.DataFrame(rows)


def test_the_ablation_sentence_says_shown_only_when_the_interval_excludes_zero():
    assert "'no prompts' 35.04, +5.00 [+4.94, +5.07], shown" in findings.ablation_sentence(
        _runs(5.0)
    )
    assert "Shown to differ: no prompts." in findings.ablation_sentence(_runs(5.0))
    null = findings.ablation_sentence(_runs(0.01))
    assert "not shown" in null and "No ablation is shown" in null
    mean, lo, hi = findings.seed_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hi - mean == pytest.approx(4.303 * 1 / math.sqrt(3), rel=1e-3)


def test_the_same_scoring_sentence_needs_both_tests_and_every_seed():
    t = pd.DataFrame(
        {
            "mean difference (points)": [-1.25, -0.32],
            "seeds": [3, 3],
            "seeds where b > a": [0, 2],
            "paired t-test p (seeds)": [0.01, 0.81],
            "Wilcoxon p (classes)": [0.02, 0.9],
        },
        index=["full", "unseen"],
    )
    s = findings.same_scoring_sentence(t, "frozen CLIP", "EZ-HOI")
    assert "Unseen -0.32 points (2 of 3 seeds up" in s and s.count(": shown") == 1


def test_the_headline_figure_puts_each_contrast_beside_its_prediction():
    judged = pd.DataFrame(
        [
            {
                "contrast": c,
                "column": col,
                "mean": 1.0,
                "lo": -1.0,
                "hi": 3.0,
                "verdict": "inconclusive",
            }
            for c in headline.CONTRASTS
            for col in ("unseen", "full")
        ]
    )
    rows = headline.build_rows(judged, "this build")
    assert [r["contrast"] for r in rows] == list(headline.CONTRASTS)
    assert rows[0]["predicted"] == 3.1  # the design document's Unseen correct - wrong
    from hoilib.ordering.scorecard import EXPLORATORY

    grid = json.loads(EXPLORATORY.read_text())
    assert grid is not None, "results/synth-grid.json is committed"
    pooled = headline.grid_rows(grid, kind="exploratory")
    # the primary consumer's three contrasts, then EZ-HOI's head's: what goes against the claim too
    assert [r["group"].split(", ")[-1] for r in pooled] == ["Gaussian consumer"] * 3 + [
        "EZ-HOI's own head"
    ] * 3
    assert all(r["group"].startswith("exploratory: 3 worlds x 2 splits") for r in pooled)
    both = pooled + rows
    fig = headline.figure(both)
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == len(both) == 9


def test_the_limits_are_a_short_list_of_measured_facts(tmp_path):
    """Issue 35: the landing page's limits were one bold sentence of about 110 words; now one item
    a fact, each a sentence, the measured numbers in them."""
    from hoilib.chapters.ch5_sentences import limits_list

    lim = {
        "dim": 128,
        "t_matched": 778,
        "centroid_gap": 0.934,
        "class_cka": 0.53,
        "corpus_cka": 0.69,
        "raw_adapted_cos": 0.57,
    }
    items = limits_list(lim, str(tmp_path)).data.split("\n")
    assert len(items) == 3 and all(i.startswith("- ") and i.endswith(".") for i in items)
    assert items[0].startswith("- Its CLIP embeds in 128 dimensions") and "t* = 778" in items[0]
    assert "0.93 (" in items[1] and all(len(i.split()) < 50 for i in items)


def test_the_table_rules_catch_an_index_a_raw_name_and_a_float_count():
    """Issue 35: each rule fails on a deliberately broken table and passes on ``tables.shown``."""
    from bs4 import BeautifulSoup
    from table_rules import table_problems

    from hoilib.figures import tables

    def problems(df):
        return table_problems(BeautifulSoup(df.to_html(), "html.parser").table)

    raw = pd.DataFrame(
        {
            "model": ["full", "no prompts"],
            "non_rare": [40.1, 38.2],
            "sentences": [1000.0, 1200.0],
            "passes": [True, False],
        }
    )
    found = problems(raw)
    assert "a 0..n index labels nothing" in found
    assert "header 'non_rare' is a name from code" in found
    assert "cell 'True'" in found
    assert any("whole numbers printed as floats (1000.0" in p for p in found), found
    assert problems(tables.shown(raw.astype({"sentences": int}))) == []
    assert problems(tables.shown(raw)) == []  # an integer-valued count column prints as one


def test_a_chapter_states_its_time_on_the_reference_machine(tmp_path):
    """Issue 35: each chapter opens with its time in the last measured cold build, from the
    committed timings (the newest record that has the chapter), with the machine and commit."""
    from hoilib.chapters.notebook import reference_time

    path = tmp_path / "timings.json"
    cold = "make book, cold (fresh clone, environment in place)"
    machine = {"cpu": "AMD EPYC", "cores": 2}
    path.write_text(
        json.dumps(
            [
                {"what": cold, "stages": {"chapter 2": 30.0}, "machine": machine, "commit": "a"},
                {"what": cold, "stages": {"chapter 2": 161.7}, "machine": machine, "commit": "b"},
                {"what": "make test", "stages": {"chapter 2": 5.0}, "machine": machine},
            ]
        )
    )
    line = reference_time("02_ezhoi_training", path)
    assert line.startswith("about 3 min in the last measured cold build") and "commit b" in line
    assert "2-core AMD EPYC" in line
    assert reference_time("00_hoi_synth", path) == "not measured yet on the reference machine"
    from hoilib.chapters.notebook import TIMINGS

    assert "about" in reference_time("05_evaluation", TIMINGS)  # the committed record has it


def test_a_grid_record_states_its_precision():
    """Issue 34: the record's half-widths (primary family, pooled Unseen) and the bootstrap's Monte
    Carlo error are stated beside its tables."""
    from hoilib.ordering.scorecard import EXPLORATORY, precision_line

    rec = json.loads(EXPLORATORY.read_text())
    line = precision_line(rec)
    fam = [
        r
        for r in rec["rows"]
        if r["primary family"] and r["split"] == "pooled" and r["column"] == "unseen"
    ]
    assert len(fam) == 3
    for r in fam:
        assert f"{r['contrast']} {(r['hi'] - r['lo']) / 2:.2f}" in line
    worst = max(x for r in rec["rows"] for x in (r["boot_mc_lo"], r["boot_mc_hi"]) if x is not None)
    assert f"Monte Carlo error of at most {worst:.2f} points" in line


def test_a_single_run_is_shown_without_a_spread():
    """Issue 35: frozen CLIP (one run) read "+- 0.00"; a captioned table shows its mean alone."""
    from types import SimpleNamespace

    from hoilib.chapters.notebook import Chapter

    df = pd.DataFrame(
        {"full": ["30.51 ± 0.00", "43.37 ± 0.00"], "seeds": [1, 3]},
        index=["frozen CLIP", "EZ-HOI"],
    )
    shown = Chapter.caption(SimpleNamespace(boxes="oracle boxes"), df, "mAP").data
    assert list(shown["Full mAP (%)"]) == ["30.51", "43.37 ± 0.00"]  # three runs keep theirs


def test_the_answer_is_one_computed_paragraph_of_every_contrast():
    """Issue 34: the landing page's one answer: each contrast of the primary consumer and of
    EZ-HOI's head, with its interval, verdict and the predicted size, computed from the record."""
    from hoilib.ordering.scorecard import EXPLORATORY, answer_sentence

    rec = json.loads(EXPLORATORY.read_text())
    text = answer_sentence(rec)
    rows = [
        r
        for r in rec["rows"]
        if r["split"] == "pooled"
        and r["column"] == "unseen"
        and r["setting"]
        in (f"text-only: {rec['primary']}", "EZ-HOI head, strength chosen on validation")
        and r["contrast"] in ("correct - wrong", "correct - no bridge", "wrong - no bridge")
    ]
    assert len(rows) == 6
    for r in rows:
        assert f"[{r['lo']:+.2f}, {r['hi']:+.2f}] points, **{r['verdict']}**" in text
    assert text.index(f"({rec['primary']})") < text.index("EZ-HOI's own head")
    assert "**" not in answer_sentence(rec, strong=False)


def test_every_chapter_opens_with_what_it_shows_and_closes_with_a_summary():
    """Issue 35: a chapter's first cell says what it shows, what it needs and how long it takes;
    its last markdown cell sums it up."""
    import nbformat

    from hoilib.run.runner import chapter_paths

    for path in chapter_paths():
        cells = nbformat.read(path, as_version=4).cells
        first, last = cells[0].source, [c for c in cells if c.cell_type == "markdown"][-1].source
        assert "```{admonition} At a glance" in first, path.name
        assert all(k in first for k in ("**Shows**", "**Needs**", "**Time**")), path.name
        assert cells[-1].cell_type == "markdown" and last.startswith("## In short"), path.name


def test_chapter_5_closes_with_every_contrast_of_the_answer():
    """Issue 35: the closing summary lists, per setting, each contrast the answer reads with its
    interval and verdict, the ones against the claim as plainly as the others."""
    from hoilib.ordering import scorecard
    from hoilib.ordering.grid import effect_text

    rec, title, _ = scorecard.answer_record(plan_link="plan page")
    said = scorecard.short_answer()
    assert said.startswith(title)
    bullets = [ln for ln in said.splitlines() if ln.startswith("- **")]
    rows = scorecard.answer_rows(rec)
    assert len(bullets) == len(rows)
    for line, found in zip(bullets, rows.values(), strict=True):
        for r in found:
            shown = f"{r['contrast']} {effect_text(r['mean'], r['lo'], r['hi'])}, {r['verdict']}"
            assert shown in line, (shown, line)


def test_a_fresh_clone_record_gives_the_chapters_time_too(tmp_path):
    """benchmarks/fresh_clone.py records its cold chapters with their stages: the newest cold
    build of either benchmark is the one a chapter states."""
    from hoilib.chapters.notebook import reference_time

    machine = {"cpu": "AMD EPYC", "cores": 2}
    path = tmp_path / "timings.json"
    path.write_text(
        json.dumps(
            [
                {
                    "what": "make book, cold (fresh clone, environment in place)",
                    "stages": {"chapter 5": 30.0},
                    "machine": machine,
                    "commit": "old",
                },
                {
                    "what": "cold chapters (sum of runs/synth/timings.json after make book)",
                    "stages": {"chapter 5": 139.9},
                    "machine": machine,
                    "commit": "new",
                },
            ]
        )
    )
    line = reference_time("05_evaluation", path)
    assert line.startswith("about 2 min") and "commit new" in line
