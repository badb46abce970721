"""Guards on chapter 5's comparison: which model bridges each cell, the strength, the control, the verdicts.

Each test catches a one-line bug the other ordering tests let through (benchmarks/mutants.py
keeps them): the wrong-order cell bridged by the consumer's own model (so "correct minus
wrong" compares the correct order with itself), EZ-HOI's head choosing its strength on the
wrong order's grid, lambda ignored, the control passing on validation alone, and a predicted
loss judged in the direction of a gain. The expected values come from hand-made inputs or
from the bridge itself, never from the code under test.

Written against the ordering API of the issue-32 refactor in progress (``Bridges(run, cache)``,
``BridgeCache(cfg, vision, mean)``, ``head.run_orders(cfg, ctx, run)``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hoilib.config.schema import BridgeCfg, ClaimsCfg
from hoilib.models.diffusion.bridge import OrderError, bridge, check_order
from hoilib.models.diffusion.closed_form import ClosedFormDenoiser
from hoilib.ordering import claims, strength
from hoilib.ordering.labels import cell_name

# --------------------------------------------------------------------------------------------
# (a) every cell is bridged by the diffusion model of its own column
# --------------------------------------------------------------------------------------------

RAW_FP, ADAPTED_FP = "fp-raw", "fp-adapted"


def _two_spaces(dim: int = 8, n: int = 24):
    """A seed run with two unrelated text spaces, each with its own 'trained' model (the closed
    form of half its corpus, so it differs from the full corpus's closed form too)."""
    g = torch.Generator().manual_seed(0)
    raw = F.normalize(torch.randn(n, dim, generator=g), dim=-1)
    adapted = F.normalize(torch.randn(n, dim, generator=g) + 2.0, dim=-1)
    space = SimpleNamespace(
        raw_corpus=raw,
        adapted_corpus=adapted,
        fingerprint=ADAPTED_FP,
        meta={"raw_fingerprint": RAW_FP},
    )
    run = SimpleNamespace(
        space=space,
        raw=ClosedFormDenoiser.from_vectors(raw[: n // 2], RAW_FP, "raw"),
        adapted=ClosedFormDenoiser.from_vectors(adapted[: n // 2], ADAPTED_FP, "adapted"),
        seed=0,
    )
    vision = {w: torch.randn(10, dim, generator=g) - 1.0 for w in ("val", "test")}
    mean = F.normalize(vision["val"], dim=-1).mean(0)
    return run, vision, mean


def _expected(model, vision, mean, cfg: BridgeCfg, t: int) -> torch.Tensor:
    return bridge(
        model,
        vision,
        mean,
        space_fingerprint=model.fingerprint,
        t_start=t,
        steps=cfg.steps,
        recipe=cfg.recipe,
        generator=torch.Generator().manual_seed(0),
        batch_size=len(vision),
    )


def test_the_wrong_order_cell_is_bridged_by_the_other_spaces_model():
    """For a consumer of either space, the cell of each diffusion column holds exactly what that
    column's model (or that corpus's closed form) makes of the features; the two columns differ."""
    from hoilib.ordering.bridges import CLOSED_FORM, MLP, BridgeCache
    from hoilib.ordering.twobytwo import Bridges

    cfg = BridgeCfg()
    run, vision, mean = _two_spaces()
    B = Bridges(run=run, cache=BridgeCache(cfg=cfg, vision=vision, mean=mean))
    t = 599
    models = {"raw": run.raw, "adapted": run.adapted}
    closed = {
        "raw": ClosedFormDenoiser.from_vectors(run.space.raw_corpus, RAW_FP, "raw"),
        "adapted": ClosedFormDenoiser.from_vectors(run.space.adapted_corpus, ADAPTED_FP, "adapted"),
    }
    for consumer in ("raw", "adapted"):
        cells = {}
        for diffusion in ("raw", "adapted"):
            for denoiser, model in ((MLP, models[diffusion]), (CLOSED_FORM, closed[diffusion])):
                got = B.at(diffusion, denoiser, t, where="test", consumer=consumer)
                want = _expected(model, vision["test"], mean, cfg, t)
                assert torch.allclose(got, want, atol=1e-6), (consumer, diffusion, denoiser)
                cells[diffusion, denoiser] = got
        for denoiser in (MLP, CLOSED_FORM):  # the comparison has two sides
            assert not torch.allclose(cells["raw", denoiser], cells["adapted", denoiser], atol=1e-3)


def test_the_order_guard_refuses_a_mismatch():
    run, _, _ = _two_spaces()
    check_order(run.adapted, ADAPTED_FP)
    check_order(run.raw, ADAPTED_FP, allow_mismatch=True)
    with pytest.raises(OrderError, match="fp-raw"):
        check_order(run.raw, ADAPTED_FP)


# --------------------------------------------------------------------------------------------
# (c) a strength is applied at its lambda
# --------------------------------------------------------------------------------------------


def test_applied_blends_at_the_chosen_lambda():
    """v' = normalize((1 - lambda) normalize(v) + lambda bridge_t(v)), written out by hand."""
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 8, generator=g) * 3
    b = F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    asked = []

    def bridge_at(t):
        asked.append(t)
        return b

    for lam in (0.25, 0.5, 1.0):
        want = (1 - lam) * (v / v.norm(dim=-1, keepdim=True)) + lam * b
        want = want / want.norm(dim=-1, keepdim=True)
        got = strength.applied(v, bridge_at, 399, lam=lam)
        assert torch.allclose(got, want, atol=1e-6), lam
    assert asked == [399, 399, 399]
    assert torch.allclose(
        strength.applied(v, bridge_at, 0, lam=0.5), v / v.norm(dim=-1, keepdim=True)
    )
    assert asked == [399, 399, 399]  # t* = 0 is no bridge: nothing is bridged


def test_accuracy_chooses_among_the_valid_classes_only():
    """A pair is answered among its object's classes: a higher logit on another object's class
    is never the answer, whether that class is marked right or wrong."""
    from hoilib.ordering import consumers

    logits = torch.tensor([[1.0, 2.0, 9.0, 0.0], [0.0, 1.0, 3.0, 8.0]])
    valid = torch.tensor([[True, True, False, False], [False, False, True, True]])
    # row 0 answers 1 (right; the invalid top, 2, is wrong); row 1 answers 3 (wrong)
    correct = torch.tensor([[False, True, False, False], [False, False, True, False]])
    assert consumers.accuracy(logits, valid, correct) == 0.5
    only_invalid_right = torch.tensor([[False, False, True, False]])  # row 0 answers 1: wrong
    assert consumers.accuracy(logits[:1], valid[:1], only_invalid_right) == 0.0


# --------------------------------------------------------------------------------------------
# (d) the positive control needs the test set too; (e) a predicted loss is judged as a loss
# --------------------------------------------------------------------------------------------

UNSEEN = np.array([True] * 8 + [False] * 4)
KIND = "MLP"
RULES = ClaimsCfg()  # the schema's defaults: the rules chapter 5 runs under


def _cells(val_gain: float, test_diff, wrong_diff=None, seeds=(0, 1, 2)):
    """Rows and per-class APs of one consumer of adapted text: no bridge, wrong and correct order.

    ``test_diff(seed)`` -> (classes,) AP points the correct order adds over no bridge on the test
    set; ``wrong_diff`` the same for the wrong order (default: none); ``val_gain`` the points it
    adds on validation (pseudo-unseen and seen alike)."""
    rng = np.random.default_rng(0)
    rows, ap = [], {}
    wrong_diff = wrong_diff or (lambda s: np.zeros(len(UNSEEN)))
    for s in seeds:
        base = rng.uniform(0.3, 0.6, len(UNSEEN))
        for d, diff, vg in (
            ("none", np.zeros(len(UNSEEN)), 0.0),
            ("raw", wrong_diff(s), 0.0),
            ("adapted", test_diff(s), val_gain),
        ):
            a = base + diff / 100
            ap[(cell_name("adapted", d, "trained MLP", kind=KIND), s)] = a
            rows.append(
                {"kind": KIND, "consumer": "adapted", "diffusion": d, "seed": s}
                | {"denoiser": "none" if d == "none" else "trained MLP"}
                | {"t_start": 0 if d == "none" else 599, "lambda": 0.0 if d == "none" else 0.5}
                | {"chosen_by": "pseudo-unseen", "val_seen": 40 + vg, "val_pseudo_unseen": 30 + vg}
                | {"unseen": 100 * a[UNSEEN].mean(), "seen": 100 * a[~UNSEEN].mean()}
                | {"full": 100 * a.mean()}
            )
    return pd.DataFrame(rows), ap


def _control(rows, ap):
    return claims.control(rows, ap, KIND, consumer="adapted", unseen=UNSEEN, cfg=RULES)


def test_the_control_reads_validation_only():
    """Issue 34: the gate passes on the validation gain alone; what the test set shows (its gain and
    interval) is reported beside it and never moves the verdict."""
    margin = RULES.control_margin
    both = _control(*_cells(5.0, lambda s: np.full(len(UNSEEN), 5.0)))
    flat = _control(*_cells(5.0, lambda s: np.zeros(len(UNSEEN))))
    swing = np.tile([12.0, -8.0], len(UNSEEN) // 2)
    wide = _control(*_cells(5.0, lambda s: np.roll(swing, s)))
    assert both["passes"] and flat["passes"] and wide["passes"]  # test gains 5, 0 and a wide one
    assert flat["test Unseen gain"] == 0.0 and wide["lo"] <= 0  # reported as measured
    low = _control(*_cells(0.5 * margin, lambda s: np.full(len(UNSEEN), 5.0)))
    assert low["validation gain"] < margin and not low["passes"]  # a test gain cannot pass it


def _unseen_row(j: pd.DataFrame, contrast: str) -> pd.Series:
    return j[(j.contrast == contrast) & (j.column == "unseen")].iloc[0]


def test_a_predicted_loss_is_judged_in_the_predicted_direction():
    """'The wrong order hurts' predicts a loss (-0.5 Unseen): a clear loss in every seed supports
    it, a clear gain in every seed contradicts it."""
    assert claims.MARGINS["wrong - no bridge"]["unseen"] < 0
    correct = lambda s: np.full(len(UNSEEN), 4.0)  # noqa: E731
    jitter = np.linspace(-0.4, 0.4, len(UNSEEN))
    loss = claims.judged(
        _cells(5.0, correct, lambda s: -3.0 + jitter)[1], claims.text_pairs(KIND), UNSEEN, cfg=RULES
    )
    r = _unseen_row(loss, "wrong - no bridge")
    assert r["mean"] < -2 and r["seeds down"] == 3 and r.verdict == "supported"
    gain = claims.judged(
        _cells(5.0, correct, lambda s: 3.0 + jitter)[1], claims.text_pairs(KIND), UNSEEN, cfg=RULES
    )
    r = _unseen_row(gain, "wrong - no bridge")
    assert r["mean"] > 2 and r["seeds up"] == 3 and r.verdict == "contradicted"


# --------------------------------------------------------------------------------------------
# (b) EZ-HOI's head: its strength is chosen on the adapted (correct-order) model's grid
# --------------------------------------------------------------------------------------------


def test_each_order_of_the_head_is_bridged_at_its_own_grids_best(tiny_experiment):
    """Each bridged row sits at the strength with the best validation score of its own order's
    grid (ties: the weakest); here the two grids disagree, so a common strength would show."""
    from hoilib.ordering import head

    cfg, world, data, ctx, run = tiny_experiment
    out = head.run_orders(cfg, ctx, run)
    rows, grid = out["rows"], out["grid"]
    chosen = rows[rows.diffusion == "adapted"].iloc[0]
    col = "val_" + chosen.chosen_by.replace("-", "_")

    def best(d):
        g = grid[grid.diffusion == d].reset_index(drop=True)  # strengths order, weakest first
        b = g.loc[int(np.argmax(g[col].fillna(-np.inf).to_numpy()))]
        return int(b.t_start), float(b["lambda"])

    assert (int(chosen.t_start), float(chosen["lambda"])) == best("adapted")
    wrong = rows[rows.diffusion == "raw"].iloc[0]
    assert (int(wrong.t_start), float(wrong["lambda"])) == best("raw")
    # the test's power: on this world the two grids disagree
    assert best("raw") != best("adapted"), "the tiny world no longer tells the two grids apart"
