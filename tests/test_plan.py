"""The confirmatory plan: its fields checked, records that carry the plan and the code, and refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from test_grid import KIND, _run

from hoilib.config import REPO
from hoilib.errors import ConfigError
from hoilib.run import plan as plan_mod
from hoilib.run.plan import Plan, read_records, record_of, same_record, write_record

FIELDS = {
    "name": "test-plan",
    "profile": "smoke",
    "root": "runs/test-plan",
    "records": "results/test-plan",
    "world_seeds": [1000, 1001],
    "splits": ["uv"],
    "model_seeds": [0, 1],
    "set": {},
    "primary_consumer": KIND,
    "n_boot": 100,
    "target_half_width": 1.5,
    "rules": {"gate": "validation only"},
}


def _plan(tmp_path, **change) -> Plan:
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump({**FIELDS, **change}))
    pl = Plan.load(p)
    return Plan(
        path=pl.path, sha256=pl.sha256, fields={**pl.fields, "records": str(tmp_path / "rec")}
    )


def _finished(tmp_path, world: int, correct: float):
    """A hand-made finished run (``test_grid._run``) with the config, provenance and rows a record reads."""
    _run(tmp_path / "runs", "uv", world, correct=correct)
    folder = tmp_path / "runs" / f"synth-grid-world_seed{world}-split_uv"
    cfg = {
        "world": {"seed": world, "split": "uv"},
        "claims": {},
        "run": {"cpu_kernels": "portable"},
    }
    (folder / "config.json").write_text(json.dumps({"params": cfg}))
    (folder / "provenance.json").write_text(
        json.dumps({"git": {"commit": "abc", "dirty": False}, "machine": {"cpu": "AMD EPYC"}})
    )
    m = json.loads((folder / "metrics" / "05_evaluation.json").read_text())
    m["metrics"]["per_seed"] = []
    (folder / "metrics" / "05_evaluation.json").write_text(json.dumps(m))
    return folder


def test_a_bad_field_is_one_line_naming_the_file_and_field(tmp_path):
    with pytest.raises(ConfigError, match=r"plan.yaml: field 'world_seeds': expected distinct"):
        _plan(tmp_path, world_seeds=[3, 3])
    with pytest.raises(ConfigError, match=r"field 'n_boot': expected int"):
        _plan(tmp_path, n_boot="many")
    with pytest.raises(ConfigError, match=r"field 'model_seeds': expected the profile's"):
        _plan(tmp_path, model_seeds=[5, 6])
    assert _plan(tmp_path, model_seeds=[4]).model_seeds == [4]  # one seed per world: the sweep's
    with pytest.raises(ConfigError, match=r"not in the plan's world_seeds"):
        _plan(tmp_path).cells([7])
    out = subprocess.run(
        [sys.executable, "-m", "hoilib", "sweep", "--plan", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 1 and "no plan there" in out.stderr and "Traceback" not in out.stderr


def test_records_round_trip_and_are_refused_under_another_plan_or_code(tmp_path, monkeypatch):
    pl = _plan(tmp_path)
    for w, c in ((1000, 0.1), (1001, 0.12)):
        write_record(_finished(tmp_path, w, c), pl, w, "uv")
    runs = read_records(pl)
    assert [r["world_seed"] for r in runs] == [1000, 1001]
    rec = json.loads((pl.records_dir / "world1000-uv.json").read_text())
    assert rec["plan"]["sha256"] == pl.sha256 and rec["commit"] == "abc"
    assert set(rec["code"]) >= {"ezhoi", "diffusion", "chapter 5 tables"}
    other = _plan(tmp_path, n_boot=200)  # another plan: another hash
    with pytest.raises(ConfigError, match="made under another plan"):
        read_records(other)
    moved = {**plan_mod.code_version(), "ezhoi": "0" * 16}
    monkeypatch.setattr(plan_mod, "code_version", lambda: moved)
    with pytest.raises(ConfigError, match="another version of ezhoi"):
        read_records(pl)


def test_a_rerun_is_compared_digit_for_digit(tmp_path):
    pl = _plan(tmp_path)
    a = record_of(_finished(tmp_path, 1000, 0.1), pl)
    assert same_record(a, json.loads(json.dumps(a))) == []
    b = json.loads(json.dumps(a))
    b["metrics"]["per_class_ap"][0]["ap"][0] += 1e-12
    assert same_record(a, b) == ["metrics.per_class_ap"]


def test_the_exploratory_records_world_0_rf_uc_is_the_default_books_chapter_5():
    """Issue 34: the committed exploratory grid (results/synth-grid.json) and the published default
    book (results/published.json) were made at the same code: its world 0 / RF-UC cell holds the
    default book's chapter 5 contrasts, number for number."""
    from hoilib.ordering.grid import FIXED, HEAD

    grid = json.loads((REPO / "results" / "synth-grid.json").read_text())
    published = json.loads((REPO / "results" / "published.json").read_text())
    book = {n["name"]: n["value"] for n in published["numbers"]}
    cell = {
        (c["setting"], c["contrast"]): c["unseen"]
        for c in grid["cells"]
        if c["world_seed"] == 0 and c["split"] == "rf-uc"
    }
    pairs = {
        (FIXED, "correct - wrong"): "ch5 fixed t*: EZ-HOI, correct - wrong, unseen",
        (FIXED, "wrong - no bridge"): "ch5 fixed t*: EZ-HOI, wrong - no bridge, unseen",
        (HEAD, "correct - wrong"): "ch5 validated: EZ-HOI head, correct - wrong, unseen",
        (HEAD, "correct - no bridge"): "ch5 validated: EZ-HOI head, correct - no bridge, unseen",
    }
    for key, name in pairs.items():
        assert cell[key] == pytest.approx(book[name], abs=1e-9), (key, name)


def test_the_records_a_sweep_writes_do_not_make_its_code_dirty(tmp_path):
    """The sweep writes its records into the clone it runs from; they are outputs, not code, so the
    provenance of the next run stays clean, while any other change still marks it dirty."""
    from hoilib.provenance import SWEEP_OUTPUTS, git_state

    def git(*a):
        subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    (tmp_path / SWEEP_OUTPUTS).mkdir(parents=True)
    (tmp_path / SWEEP_OUTPUTS / "world1000-uv.json").write_text("{}")
    assert git_state(tmp_path)["dirty"] is False
    assert SWEEP_OUTPUTS == Plan.load(REPO / "results" / "plan.yaml").records
    (tmp_path / "new.py").write_text("y = 2\n")
    assert git_state(tmp_path)["dirty"] is True


def test_the_committed_confirmatory_records_are_this_codes():
    """Issue 34: the record must be the code that stays. Every committed confirmatory record was
    made under the committed plan by code whose stage and chapter-5 digests equal this checkout's,
    so ``hoilib grid --plan`` reads them; a change to any module those digests cover (a refactor
    too) fails here, in CI, instead of when the grid is next computed."""
    pl = Plan.load(REPO / "results" / "plan.yaml")
    paths = sorted(pl.records_dir.glob("world*-*.json"))
    assert paths, f"{pl.records_dir}: no committed record"
    now = plan_mod.code_version()
    for p in paths:
        rec = json.loads(p.read_text())
        assert rec["plan"]["sha256"] == pl.sha256, p.name
        moved = sorted(k for k, v in now.items() if rec["code"].get(k) != v)
        assert not moved, f"{p.name}: made by another version of {moved}"
        assert rec["cpu_kernels"] == "portable", p.name
    assert len(read_records(pl)) == len(paths)
