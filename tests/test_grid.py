"""The synth-grid table on hand-made runs: the control first, each split and all pooled, verdicts, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hoilib.errors import ConfigError
from hoilib.ordering import claims
from hoilib.ordering.grid import effect, read_runs, summarize, table_markdown

KIND = "MLP"
PAIRS = claims.text_pairs(KIND)
NONE, WRONG = PAIRS["correct - no bridge"][0], PAIRS["correct - wrong"][0]
CORRECT = PAIRS["correct - wrong"][1]


def _run(root: Path, split: str, world: int, correct: float, wrong: float = 0.0, val=3.0):
    folder = root / f"synth-grid-world_seed{world}-split_{split}"
    (folder / "metrics").mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"params": {"split": split, "world.seed": world}})
    )
    aps = []
    for s in (0, 1):
        base = [0.2, 0.4, 0.6, 0.3, None]  # the last class has no test positive
        for name, shift in ((NONE, 0.0), (WRONG, wrong), (CORRECT, correct)):
            aps.append(
                {"method": name, "seed": s, "ap": [None if x is None else x + shift for x in base]}
            )
    ctrl = [{"kind": KIND, "consumer": "adapted", "validation gain": val}]
    m = {"per_class_ap": aps, "unseen_classes": [0, 1], "controls": ctrl}
    (folder / "metrics" / "05_evaluation.json").write_text(json.dumps({"metrics": m}))


def test_the_table_judges_each_split_and_the_pool_after_the_control(tmp_path):
    for w, c in enumerate((0.10, 0.12, 0.08)):
        _run(tmp_path, "uv", w, correct=c)
        _run(tmp_path, "uo", w, correct=c + 0.02)
    out = tmp_path / "grid.json"
    table = summarize(tmp_path, out, n_boot=200)
    rec = json.loads(out.read_text())
    assert rec["primary"] == KIND and rec["controls"][0]["passes"]
    pooled = table[(table.split == "pooled") & (table.setting == f"text-only: {KIND}")]
    cw = pooled[(pooled.contrast == "correct - wrong") & (pooled.column == "unseen")].iloc[0]
    assert cw["mean"] == pytest.approx(11.0) and cw.worlds == 3 and cw["primary family"]
    # one procedure, the world as the unit: the interval and p are the t's over world means
    assert (cw.lo, cw.hi) == (cw.t_lo, cw.t_hi) and np.isfinite(cw.boot_mc_lo)
    assert cw.verdict == "supported"  # +11 with an interval far from 0
    uv = table[(table.split == "uv") & (table.setting == f"text-only: {KIND}")]
    assert uv[(uv.contrast == "correct - wrong") & (uv.column == "unseen")].iloc[0][
        "mean"
    ] == pytest.approx(10.0)
    assert not uv["primary family"].any()  # per split: secondary, own p
    wn = pooled[(pooled.contrast == "wrong - no bridge") & (pooled.column == "unseen")].iloc[0]
    assert wn["mean"] == 0.0 and wn.verdict == "ruled out at the predicted size"
    md = table_markdown(rec)
    assert "### The positive control" in md and "(the primary consumer)" in md
    assert "+11.00 [" in md


def test_no_primary_when_the_control_fails_and_worlds_needed_is_recorded(tmp_path):
    for w, c in enumerate((0.004, -0.003, 0.01, 0.0)):
        _run(tmp_path, "uv", w, correct=c, val=0.2)
    out = tmp_path / "g.json"
    summarize(tmp_path, out, n_boot=100)
    rec = json.loads(out.read_text())
    assert (
        rec["primary"] is None and not rec["controls"][0]["passes"] and rec["worlds_needed"] is None
    )
    need = rec["worlds_needed_by_setting"][f"text-only: {KIND}"]
    assert need is not None and need >= 2  # what a passing consumer of this spread would need
    from hoilib.publish.results_page import grid_section

    assert f"{KIND} {need}." in "\n".join(grid_section(out))


def test_effect_pools_worlds_by_their_split_means(tmp_path):
    _run(tmp_path, "uv", 0, correct=0.1)
    _run(tmp_path, "uo", 0, correct=0.3)
    _run(tmp_path, "uv", 1, correct=0.2)
    runs = read_runs(tmp_path)
    e = effect(runs, "pooled", WRONG, b=CORRECT, col="unseen", n_boot=100)
    assert e["world_means"] == pytest.approx([20.0, 20.0]) and e["worlds"] == 2
    assert np.isfinite(e["t_lo"]) and e["t_lo"] == pytest.approx(20.0)


def test_missing_runs_and_old_metrics_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no run folder"):
        read_runs(tmp_path)
    folder = tmp_path / "old"
    (folder / "metrics").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"params": {"split": "uv", "world.seed": 0}}))
    (folder / "metrics" / "05_evaluation.json").write_text(
        json.dumps({"metrics": {"per_class_ap": []}})
    )
    with pytest.raises(ConfigError, match="controls"):
        read_runs(tmp_path)


def test_the_results_page_shows_a_committed_grid_record(tmp_path):
    from hoilib.publish.results_page import grid_section

    assert grid_section(tmp_path / "absent.json") == []
    for w in (0, 1):
        _run(tmp_path, "uv", w, correct=0.1)
    summarize(tmp_path, tmp_path / "g.json", n_boot=50)
    text = "\n".join(grid_section(tmp_path / "g.json"))
    assert "exploratory synth-grid" in text and "+10.00 [+10.00, +10.00] supported" in text


def test_the_worlds_other_than_world_0_are_pooled_on_their_own(tmp_path):
    from hoilib.ordering.grid import NEW_WORLDS
    from hoilib.publish.results_page import grid_section

    _run(tmp_path, "uv", 0, correct=0.13)  # world 0: the one seen while the rules took shape
    for w, c in ((1, 0.10), (2, 0.11)):
        _run(tmp_path, "uv", w, correct=c)
    out = tmp_path / "g.json"
    table = summarize(tmp_path, out, n_boot=50)
    cw = table[(table.contrast == "correct - wrong") & (table.column == "unseen")]
    cw = cw[cw.setting == f"text-only: {KIND}"].set_index("split")["mean"]
    assert cw["pooled"] == pytest.approx(34 / 3) and cw[NEW_WORLDS] == pytest.approx(10.5)
    assert not table[table.split == NEW_WORLDS]["primary family"].any()
    assert "Over the worlds other than world 0 alone" in "\n".join(grid_section(out))
    for w in (1, 2):  # a grid without world 0 has no such pool
        (tmp_path / f"synth-grid-world_seed{w}-split_uv" / "config.json").rename(tmp_path / f"c{w}")
    assert NEW_WORLDS not in set(summarize(tmp_path, out, n_boot=50).split)


def test_interval_and_p_agree_where_the_bootstrap_would_not(tmp_path):
    """Issue 34, finding 2: with p from a t over world means and the interval from the wider of
    bootstrap and t, two contrasts on one evidence got different verdicts. One procedure for both:
    the p-value is below alpha exactly when the interval leaves out 0."""
    from hoilib.measure.effects import t_interval

    for w, c in enumerate((0.02, 0.09, 0.05)):
        _run(tmp_path, "uv", w, correct=c)
    table = summarize(tmp_path, tmp_path / "g.json", n_boot=200)
    for r in table[table.split == "pooled"].itertuples():
        t = t_interval(r.world_means, level=0.95)
        assert (r.lo, r.hi, r.p) == pytest.approx((t["lo"], t["hi"], t["p"]))
        if np.isfinite(r.p):
            assert (r.p < 0.05) == (r.lo > 0 or r.hi < 0)
    # classes that swing +-30 points around the same world means: the bootstrap widens, the t not
    runs = read_runs(tmp_path)
    for run in runs:
        for s in (0, 1):
            run["ap"][(CORRECT, s)] = run["ap"][(CORRECT, s)] + np.array([0.3, -0.3, 0, 0, 0])
    e = effect(runs, "pooled", WRONG, b=CORRECT, col="unseen", n_boot=400)
    assert e["boot_lo"] < e["t_lo"]  # the case where taking the wider interval would show
    assert (e["lo"], e["hi"]) == (e["t_lo"], e["t_hi"])


def test_the_scorecard_puts_each_prediction_beside_its_measurement(tmp_path):
    from hoilib.ordering.scorecard import PREDICTIONS, scorecard, scorecard_markdown

    for w, c in enumerate((0.10, 0.12, 0.08)):
        _run(tmp_path, "uv", w, correct=c)
    summarize(tmp_path, tmp_path / "g.json", n_boot=100)
    rec = json.loads((tmp_path / "g.json").read_text())
    card = scorecard(rec)
    mine = card[card.setting == f"{KIND} consumer (primary)"].set_index("prediction")
    cw = mine.loc[PREDICTIONS["correct - wrong"]]
    assert cw["predicted (Unseen / Seen / Full)"] == "+3.1 / +0.7 / +1.7" and cw.worlds == 3
    assert cw["Unseen mAP"].startswith("+10.00 [") and cw["Unseen mAP"].endswith(" supported")
    wn = mine.loc[PREDICTIONS["wrong - no bridge"]]
    assert wn["predicted (Unseen / Seen / Full)"].startswith("-0.5")  # "about no change", as such
    assert "(predicted -0.5)" in PREDICTIONS["wrong - no bridge"]
    md = scorecard_markdown(rec, title="T.", scope="S.")
    assert "1 of 1 text-only consumers passed" in md and "*Verdicts.*" in md


def test_the_common_strength_reads_the_wrong_order_at_the_correct_orders_strength():
    """The plan's secondary rule (``ordering.common``): the wrong order's test mAP is read off its grid
    at the strength the correct order chose, not at its own."""
    from types import SimpleNamespace

    from hoilib.ordering.common import common_strength

    maps = lambda u: {"full": u, "seen": u, "unseen": u}  # noqa: E731
    text = pd.DataFrame(
        [{"kind": KIND, "consumer": "adapted", "diffusion": "adapted", "denoiser": "trained MLP",
          "seed": 0, "t_start": 399, "lambda": 0.5} | maps(30.0)]
    )  # fmt: skip
    grid = pd.DataFrame(
        [{"kind": KIND, "consumer": "adapted", "diffusion": "raw", "seed": 0, "t_start": t,
          "lambda": 0.5} | maps(u) for t, u in ((199, 28.0), (399, 21.0))]
    )  # fmt: skip
    head = pd.DataFrame(
        [{"diffusion": "adapted", "seed": 0, "t_start": 199, "lambda": 0.5} | maps(40.0)]
    )
    hgrid = pd.DataFrame(
        [{"diffusion": "raw", "seed": 0, "t_start": t, "lambda": 0.5} | maps(u)
         for t, u in ((199, 38.0), (399, 35.0))]
    )  # fmt: skip
    tables = SimpleNamespace(text=text, text_grid=grid, head=head, head_grid=hgrid)
    rows = {r["setting"]: r for r in common_strength(tables)}
    assert rows[f"text-only: {KIND}"]["wrong"]["unseen"] == 21.0  # at t* 399, the correct one's
    assert rows["head"]["wrong"]["unseen"] == 38.0 and rows["head"]["t_start"] == 199


def test_the_common_strength_contrast_is_a_t_over_world_means_outside_the_primary_family(tmp_path):
    from hoilib.ordering.grid import COMMON

    for w, gap in enumerate((2.0, 3.0, 4.0)):
        _run(tmp_path, "uv", w, correct=0.1)
        path = tmp_path / f"synth-grid-world_seed{w}-split_uv" / "metrics" / "05_evaluation.json"
        m = json.loads(path.read_text())
        m["metrics"]["common_strength"] = [
            {"setting": f"text-only: {KIND}", "seed": s, "correct": {c: 30.0 for c in ("full", "seen", "unseen")},
             "wrong": {c: 30.0 - gap - s for c in ("full", "seen", "unseen")}} for s in (0, 1)
        ]  # fmt: skip
        path.write_text(json.dumps(m))
    table = summarize(tmp_path, tmp_path / "g.json", n_boot=50)
    r = table[(table.contrast == COMMON) & (table.split == "pooled") & (table.column == "unseen")]
    r = r[r.setting == f"text-only: {KIND}"].iloc[0]
    assert r["mean"] == pytest.approx(3.5) and r.world_means == pytest.approx([2.5, 3.5, 4.5])
    assert not r["primary family"]
