"""Chapter 5's claims on hand-made rows: verdicts at the document's size, the control, transfer, geometry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hoilib.config.schema import ClaimsCfg
from hoilib.measure import effects
from hoilib.ordering import claims
from hoilib.ordering.labels import cell_name

UNSEEN = np.array([True] * 8 + [False] * 4)
KIND = "MLP"
RULES = ClaimsCfg()  # the schema's defaults: the rules chapter 5 runs under


def _rows(gain_correct: float, gain_wrong: float, seeds=(0, 1, 2), noise=0.3):
    """Text-only rows and per-class APs: adapted MLP with no bridge, the wrong and the correct order."""
    rng = np.random.default_rng(0)
    rows, ap = [], {}
    for s in seeds:
        base = rng.uniform(0.2, 0.6, len(UNSEEN))
        for d, gain in (("none", 0.0), ("raw", gain_wrong), ("adapted", gain_correct)):
            a = base + gain / 100 + rng.normal(0, noise / 100, len(UNSEEN))
            den = "none" if d == "none" else "trained MLP"
            ap[(cell_name("adapted", d, "trained MLP", kind=KIND), s)] = a
            rows.append(
                {"kind": KIND, "consumer": "adapted", "diffusion": d, "denoiser": den, "seed": s}
                | {"t_start": 0 if d == "none" else 599, "lambda": 0.0 if d == "none" else 0.5}
                | {
                    "chosen_by": "pseudo-unseen",
                    "val_seen": 40.0 + gain,
                    "val_pseudo_unseen": 30.0 + gain,
                }
                | {
                    "unseen": 100 * a[UNSEEN].mean(),
                    "seen": 100 * a[~UNSEEN].mean(),
                    "full": 100 * a.mean(),
                }
            )
    return pd.DataFrame(rows), ap


def test_verdict_words_follow_the_interval_and_the_predicted_size():
    assert effects.verdict(1.0, 5.0, 3.1, p=0.01, seeds_with=3, alpha=0.05) == "supported"
    assert (
        effects.verdict(0.2, 2.0, 3.1, p=0.01, seeds_with=3, alpha=0.05)
        == "supported, smaller than predicted"
    )
    assert effects.verdict(-1.0, 2.0, 3.1, p=0.5, alpha=0.05) == "ruled out at the predicted size"
    assert effects.verdict(-1.0, 4.0, 3.1, p=0.5, alpha=0.05) == "inconclusive"
    assert effects.verdict(-5.0, -1.0, 3.1, p=0.01, seeds_with=0, alpha=0.05) == "contradicted"
    # a seed against the direction keeps "supported" from being said; a tie counts for neither side
    assert (
        effects.verdict(1.0, 5.0, 3.1, p=0.01, seeds_with=2, seeds_against=1, alpha=0.05)
        == "inconclusive"
    )
    assert (
        effects.verdict(1.0, 5.0, 3.1, p=0.01, seeds_with=2, seeds_against=0, alpha=0.05)
        == "supported"
    )
    # a predicted loss reads the interval from the other side
    assert effects.verdict(-0.3, 0.4, -0.5, p=0.9, alpha=0.05) == "ruled out at the predicted size"
    assert effects.verdict(-2.0, -0.8, -0.5, p=0.01, seeds_against=0, alpha=0.05) == "supported"
    assert effects.excludable(-0.3, 0.4, -0.5) == -0.3 and effects.excludable(1, 2, 3.1) == 2
    with pytest.raises(ValueError, match="nonzero margin"):
        effects.verdict(0, 1, 0.0, alpha=0.05)


def test_t_interval_and_worlds_needed():
    t = effects.t_interval([1.0, 2.0, 3.0], level=0.95)
    assert t["mean"] == 2.0 and t["lo"] == pytest.approx(2 - 4.302653 / 3**0.5, rel=1e-5)
    assert np.isnan(effects.t_interval([1.0], level=0.95)["lo"])
    # sd 2.58: t(n-1) * 2.58 / sqrt(n) <= 1.5
    n = effects.worlds_needed([0.0, 2.0, 4.0, 6.0], 1.5, level=0.95)
    assert n == 14
    assert effects.worlds_needed([1.0], 1.5, level=0.95) is None
    # close world means but a wide interval (classes vary): the interval's own width decides
    assert effects.worlds_needed([5.4, 5.5, 5.4], 1.5, level=0.95, current=3.93) == 21


def test_a_large_consistent_gain_is_supported_and_a_null_is_ruled_out_at_the_documents_size():
    df, ap = _rows(gain_correct=8.0, gain_wrong=0.0)
    j = claims.judged(ap, claims.text_pairs(KIND), UNSEEN, cfg=RULES)
    cw = j[(j.contrast == "correct - wrong") & (j.column == "unseen")].iloc[0]
    assert cw["mean"] == pytest.approx(8.0, abs=0.5) and cw.verdict == "supported"
    assert j[j.column == "unseen"].p_holm.ge(j[j.column == "unseen"].p).all()  # Holm only raises p
    assert (j[j.column != "unseen"].p_holm == j[j.column != "unseen"].p).all()  # secondary: own p
    df0, ap0 = _rows(gain_correct=0.0, gain_wrong=0.0, noise=0.05)
    j0 = claims.judged(ap0, claims.text_pairs(KIND), UNSEEN, cfg=RULES)
    cw0 = j0[(j0.contrast == "correct - wrong") & (j0.column == "unseen")].iloc[0]
    assert cw0.verdict == "ruled out at the predicted size" and cw0["rules out beyond"] < 3.1
    table = claims.verdict_table(j0)
    assert list(table.index.get_level_values("mAP")[:3]) == ["Unseen", "Seen", "Full"]
    assert table.iloc[0]["verdict"] == "ruled out at the predicted size"
    assert "nan" not in table.to_string()


def test_the_control_needs_a_gain_on_validation_and_on_test():
    df, ap = _rows(gain_correct=5.0, gain_wrong=0.0)
    frame, aps = claims.text_frame(df, ap)
    c = claims.control(frame, aps, KIND, consumer="adapted", unseen=UNSEEN, cfg=RULES)
    assert c["passes"] and c["validation gain"] == pytest.approx(5.0)
    assert c["validation classes"] == "pseudo-unseen"
    weak = df.assign(val_pseudo_unseen=30.0)  # validation saw no gain: the control fails
    assert not claims.control(weak, ap, KIND, consumer="adapted", unseen=UNSEEN, cfg=RULES)[
        "passes"
    ]
    df2, ap2 = _rows(gain_correct=0.2, gain_wrong=0.0)
    assert not claims.control(df2, ap2, KIND, consumer="adapted", unseen=UNSEEN, cfg=RULES)[
        "passes"
    ]
    # the margin is the claims section's: the same 0.2-point gain passes a rule asking for 0.1
    small = RULES.model_copy(update={"control_margin": 0.1})
    assert claims.control(df2, ap2, KIND, consumer="adapted", unseen=UNSEEN, cfg=small)["passes"]
    ctrl = pd.DataFrame([c | {"kind": "MLP"}, c | {"kind": "linear", "validation gain": 9.0}])
    assert claims.primary(ctrl) == "linear"
    assert claims.primary(ctrl.assign(passes=False)) is None


def test_transfer_reads_each_validations_choice_on_the_test_set():
    rows = pd.DataFrame(
        [
            {"kind": "k", "consumer": "adapted", "seed": 0, "diffusion": "none"}
            | {"val_seen": 10.0, "val_pseudo_unseen": 5.0, "unseen": 20.0}
        ]
    )
    grid = pd.DataFrame(
        [
            {"kind": "k", "consumer": "adapted", "seed": 0, "diffusion": "adapted", "t_start": t}
            | {"lambda": 1.0, "val_seen": vs, "val_pseudo_unseen": vp, "unseen": u}
            for t, vs, vp, u in ((199, 12.0, 4.0, 18.0), (599, 11.0, 7.0, 23.0))
        ]
    )
    t = claims.transfer(grid, rows)
    seen = t[t.validation == "seen"].iloc[0]
    pseudo = t[t.validation == "pseudo-unseen"].iloc[0]
    assert (seen.t_start, seen["test Unseen gain"]) == (199, -2.0)
    assert (pseudo.t_start, pseudo["test Unseen gain"]) == (599, 3.0)
    s = claims.transfer_summary(t)
    assert s.loc["seen", "same sign"] == 0 and s.loc["pseudo-unseen", "same sign"] == 1


def test_the_summary_lists_each_seeds_strength():
    df, _ = _rows(gain_correct=5.0, gain_wrong=1.0)
    s = claims.summary(df)
    assert s["strength per seed"].iloc[1] == "t*=599, λ=0.5; t*=599, λ=0.5; t*=599, λ=0.5"


def test_geometry_rule_uses_the_claims_sections_thresholds():
    geo = pd.DataFrame({"linear CKA": [0.99], "kNN overlap": [0.95]}, index=["corpus"])
    assert claims.same_geometry(geo, RULES)
    assert not claims.same_geometry(geo.assign(**{"kNN overlap": [0.5]}), RULES)
    strict = RULES.model_copy(update={"same_geometry_knn": 0.97})
    assert not claims.same_geometry(geo, strict)
    assert claims.geometry_rule(strict) == {"linear CKA": 0.95, "kNN overlap": 0.97}


def test_the_bootstrap_settings_reach_every_interval():
    """The claims section's draws and level, not a hidden default, make a contrast's interval."""
    _, ap = _rows(gain_correct=3.0, gain_wrong=0.0)
    pairs = claims.text_pairs(KIND)
    wide = claims.judged(ap, pairs, UNSEEN, cfg=RULES)
    narrow = claims.judged(ap, pairs, UNSEEN, cfg=RULES.model_copy(update={"level": 0.5}))
    fewer = claims.judged(ap, pairs, UNSEEN, cfg=RULES.model_copy(update={"bootstrap_draws": 50}))
    assert (narrow.hi - narrow.lo < wide.hi - wide.lo).all()
    assert not np.allclose(fewer.lo, wide.lo) and np.allclose(fewer["mean"], wide["mean"])


def test_same_scoring_lets_the_seed_free_frozen_row_stand_for_every_seed():
    unseen = np.array([True, False])
    per_seed = pd.DataFrame(
        [
            {"method": "frozen", "seed": 0, "full": 10.0, "seen": 10.0, "unseen": 10.0},
            {"method": "ez", "seed": 0, "full": 12.0, "seen": 12.0, "unseen": 12.0},
            {"method": "ez", "seed": 1, "full": 14.0, "seen": 14.0, "unseen": 14.0},
        ]
    )
    ap = {("frozen", 0): np.array([0.1, 0.1]), ("ez", 0): np.array([0.12, 0.12])}
    ap[("ez", 1)] = np.array([0.14, 0.14])
    t = claims.same_scoring(per_seed, ap, "frozen", ezhoi="ez", unseen=unseen)
    assert t.loc["unseen", "mean difference (points)"] == pytest.approx(3.0)
    assert t.loc["unseen", "seeds"] == 2
