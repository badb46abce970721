"""benchmarks/scaling.py's bookkeeping: measured vs extrapolated, the budget guard, no-CUDA exit."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"


@pytest.fixture(scope="module")
def scaling():
    spec = importlib.util.spec_from_file_location("scaling_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("scaling_stages", None)
    if str(BENCH.parent) in sys.path:
        sys.path.remove(str(BENCH.parent))


def rows(*pairs):
    return [{"size": n, "seconds": s, "wall_s": 2 * s} for n, s in pairs]


def test_hico_value_is_measured_when_a_size_reaches_it(scaling):
    got = scaling.at_hico(rows((100, 1.0), (200, 2.0), (400, 4.0)), 400)
    assert got["hico_seconds"] == 4.0 and got["hico_basis"] == "measured at 400"
    assert got["exponent"] == pytest.approx(1.0)
    beyond = scaling.at_hico(rows((100, 1.0), (800, 8.0)), 400)
    assert beyond["hico_seconds"] == pytest.approx(4.0)
    assert beyond["hico_basis"].startswith("measured up to 800")


def test_hico_value_is_extrapolated_from_the_largest_size(scaling):
    got = scaling.at_hico(rows((100, 1.0), (200, 4.0)), 800)
    assert got["exponent"] == pytest.approx(2.0)
    assert got["hico_seconds"] == pytest.approx(64.0)
    assert got["hico_basis"] == "extrapolated from 200 with exponent 2.00"
    assert scaling.at_hico(rows((100, 1.0)), 800)["hico_seconds"] is None


def test_budget_skips_sizes_and_records_them(scaling):
    assert scaling.Clock(None).refuse(10**9, rows((1, 100.0))) is None
    assert "spent" in scaling.Clock(0.0).refuse(1, [])
    # 2 s of wall at size 10, at least linear: size 1000 is predicted at 200 s > 60 s
    clock = scaling.Clock(60.0)
    assert clock.refuse(20, rows((10, 1.0))) is None
    assert "predicted" in clock.refuse(1000, rows((10, 1.0)))
    clock.t0 -= 55  # 5 s left: no stage starts in the budget's last tenth
    assert "under a tenth" in clock.refuse(1, [])
    calls = []
    stage = scaling.run_stage(
        "fake", "items", [1, 2, 3], lambda n: calls.append(n) or 0.01 * n, 3, "cpu",
        scaling.Clock(0.0), "best of 1",
    )  # fmt: skip
    assert not calls and all("skipped" in r for r in stage["rows"])
    assert stage["hico_seconds"] is None


def test_stage_rows_and_device_are_recorded(scaling):
    stage = scaling.run_stage(
        "fake", "items", [1, 2, 4], lambda n: 0.5 * n, 4, "cpu", scaling.Clock(None), "best of 1"
    )
    assert stage["device"] == "cpu" and stage["hico_basis"] == "measured at 4"
    assert [r["seconds"] for r in stage["rows"]] == [0.5, 1.0, 2.0]
    assert all("peak_rss_mib" in r for r in stage["rows"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message is for machines without CUDA")
def test_cuda_without_a_device_is_one_line_and_exit_1(scaling, capsys):
    assert scaling.main(["--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA device" in err
