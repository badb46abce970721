"""Chapter 5's claim tables on hand-made rows: the 2 x 2 layout, the geometry rule, one scoring rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hoilib.ordering import claims

UNSEEN = np.array([True, True, False, False])


def _text_rows():
    rows, ap = [], {}
    for seed in (0, 1, 2):
        for c, d, den in [("adapted", "none", "none"), ("adapted", "raw", "trained MLP")] + [
            ("adapted", "adapted", "trained MLP"),
            ("raw", "none", "none"),
            ("raw", "raw", "trained MLP"),
            ("raw", "adapted", "trained MLP"),
        ]:
            up = 0.2 if (c, d) == ("adapted", "adapted") else 0.0
            a = np.array([0.3, 0.4, 0.5, 0.6]) + up + 0.01 * seed
            ap[(c, d, den, seed)] = a
            m = {"unseen": 100 * a[UNSEEN].mean(), "seen": 100 * a[~UNSEEN].mean()}
            rows.append(
                {"consumer": c, "diffusion": d, "denoiser": den, "seed": seed, "t_start": 599}
                | {"lambda": 0.5, "full": 100 * a.mean()}
                | m
            )
    return pd.DataFrame(rows), ap


def test_the_2x2_reads_consumer_rows_and_diffusion_columns():
    df, ap = _text_rows()
    g = claims.grid_2x2(df)
    assert list(g.index) == ["consumer: adapted prototypes", "consumer: raw prototypes"]
    assert list(g.columns) == ["diffusion: none", "diffusion: raw", "diffusion: adapted"]
    assert g.loc["consumer: adapted prototypes", "diffusion: adapted"] == pytest.approx(56.0)
    s = claims.summary(df)
    assert (
        s["chosen on validation (per seed)"].iloc[0]
        == "t*=599, λ=0.5; t*=599, λ=0.5; t*=599, λ=0.5"
    )


def test_a_consistent_20_point_gain_is_supported_and_the_headline_says_so():
    df, ap = _text_rows()
    frame, aps = claims.text_frame(df, ap)
    tests, table = claims.judge_claims(frame, aps, claims.TEXT_CLAIMS, UNSEEN)
    first = claims.TEXT_CLAIMS[0][0]
    assert tests[first].loc["unseen", "mean difference (points)"] == pytest.approx(20.0)
    # two unseen classes cannot reach Wilcoxon p < 0.05: the rule says "not shown", not "supported"
    assert table.loc[first, "unseen mAP"].startswith("NOT SHOWN")
    text = claims.headline(tests, claims.TEXT_CLAIMS, {first: "not shown"})
    assert (
        "+20.00 Unseen mAP points" in text
        and "3 of 3 seeds" in text
        and "NOT SHOWN by the rule" in text
    )


def test_geometry_rule_uses_the_fixed_thresholds():
    geo = pd.DataFrame(
        {"linear CKA": [0.99, 0.96], "kNN overlap": [0.5, 0.91]}, index=["class text", "corpus"]
    )
    assert claims.same_geometry(geo)
    geo.loc["corpus", "kNN overlap"] = 0.89
    assert not claims.same_geometry(geo)


def test_same_scoring_lets_the_seed_free_frozen_row_stand_for_every_seed():
    per_seed = pd.DataFrame(
        [{"method": "frozen", "seed": 0, "full": 50.0, "seen": 50.0, "unseen": 50.0}]
        + [
            {"method": "ez", "seed": s, "full": 60.0, "seen": 60.0, "unseen": 60.0}
            for s in (0, 1, 2)
        ]
    )
    ap = {("frozen", 0): np.full(4, 0.5)} | {("ez", s): np.full(4, 0.6) for s in (0, 1, 2)}
    t = claims.same_scoring(per_seed, ap, "frozen", "ez", UNSEEN)
    assert t.loc["unseen", "seeds"] == 3 and t.loc["unseen", "seeds where b > a"] == 3
    assert t.loc["full", "mean difference (points)"] == pytest.approx(10.0)


def test_choice_summary_counts_kept_and_chosen_bridges():
    df, _ = _text_rows()
    df.loc[(df.diffusion == "raw") & (df.consumer == "raw"), "t_start"] = 0
    text = claims.choice_summary(df)
    assert "no bridge (t* = 0) in 3 of the 12 bridged cells" in text
    assert "of the 9 where it chose a bridge, the test Full mAP rose" in text
    assert "in 3 and did not in 6" in text  # only adapted x adapted is above its no-bridge row


def test_control_summary_reads_the_rule():
    df, _ = _text_rows()
    extra = []
    for c in ("adapted", "raw"):
        for den in ("closed form", "closed form, own object"):
            row = df[(df.consumer == c) & (df.diffusion == "none")].assign(
                diffusion=c, denoiser=den
            )
            extra.append(row.assign(unseen=row.unseen + (5.0 if c == "raw" else -1.0)))
    text = claims.control_summary(pd.concat([df, *extra]))
    assert "with adapted prototypes and the adapted-trained bridge" in text
    assert "+20.00 points for the trained MLP" in text and "the trained model already helps" in text
    assert "+0.00 points for the trained MLP, +5.00 for the closed form" in text
    assert "it is undertrained" in text
