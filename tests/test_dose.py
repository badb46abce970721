"""The dose-response: target spaces between raw and adapted text, bridged by the closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hoilib.ordering import dose, twobytwo


def test_blended_spaces_run_from_raw_through_adapted():
    raw, ad = torch.randn(6, 8), torch.randn(6, 8)
    assert torch.allclose(dose.blended(raw, ad, 0.0), F.normalize(raw, dim=-1), atol=1e-6)
    assert torch.allclose(dose.blended(raw, ad, 1.0), F.normalize(ad, dim=-1), atol=1e-6)
    assert torch.allclose(dose.blended(raw, ad, 1.5).norm(dim=-1), torch.ones(6), atol=1e-6)


def test_at_alpha_zero_both_orders_are_one_bridge(tiny_experiment):
    cfg, world, data, ctx, run = tiny_experiment
    cfg = cfg.updated({"evaluation.dose_alphas": [0.0, 1.0]})
    rows, ap = dose.run_dose(
        cfg, ctx, run, data, world, "Gaussian", twobytwo.t_grid(ctx.frozen_test.shape[1]), {}
    )
    r0 = rows[rows.alpha == 0.0].iloc[0]
    assert r0["linear CKA"] == pytest.approx(1.0) and r0.t_start > 0
    assert np.allclose(ap[(0.0, "correct", run.seed)], ap[(0.0, "wrong", run.seed)], equal_nan=True)
    assert rows[rows.alpha == 1.0]["linear CKA"].iloc[0] < 1.0
    s = dose.summary(rows, ap, data.unseen)
    assert s.loc[s.alpha == 0.0, "mean"].iloc[0] == 0.0 and list(s.alpha) == [0.0, 1.0]
