"""Profiles and overrides: unknown names and wrong types fail early and say what was expected."""

from __future__ import annotations

import pytest

from hoilib.cli import main
from hoilib.config import (
    FIELDS,
    Params,
    list_profiles,
    load_profile,
    parse_override,
    resolve,
    type_name,
)
from hoilib.errors import ConfigError


def test_profiles_exist_and_resolve():
    assert {"smoke", "synth"} <= set(list_profiles())
    for p in list_profiles():
        cfg = resolve(p)
        assert isinstance(cfg, Params) and set(cfg.model_dump()) == set(FIELDS)


def test_unknown_profile():
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*known profiles: \["):
        resolve("nope")


def test_unknown_parameter_in_override():
    with pytest.raises(ConfigError, match=r"unknown parameter 'sede'.*known parameters"):
        parse_override("sede=3")


def test_unknown_parameter_in_yaml(tmp_path):
    p = tmp_path / "mine.yml"
    p.write_text("seed: 1\nlearning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"mine.yml: unknown parameter\(s\) \['learning_rat'\]"):
        load_profile(str(p))


def test_wrong_type():
    with pytest.raises(ConfigError, match=r"parameter 'seed' must be int, got str 'x'"):
        resolve("smoke", {"seed": "x"})
    with pytest.raises(ConfigError, match=r"parameter 'split' = 'zz', expected one of"):
        resolve("smoke", {"split": "zz"})


def test_override_values_parse_as_yaml():
    assert parse_override("seed=3") == ("seed", 3)
    assert parse_override("gap_shift_deltas=[0, 0.5]") == ("gap_shift_deltas", [0, 0.5])
    assert parse_override("pretrained=null") == ("pretrained", None)
    assert parse_override("split=uv") == ("split", "uv")
    assert resolve("smoke", dict([parse_override("pretrain_lr=1")])).pretrain_lr == 1.0


def test_cli_reports_config_errors(capsys):
    assert main(["run", "--profile", "smoke", "--set", "bogus=1"]) == 1
    assert "unknown parameter 'bogus'" in capsys.readouterr().err
    assert main(["book", "--profile", "missing-profile"]) == 1
    assert "unknown profile 'missing-profile'" in capsys.readouterr().err


def test_every_numeric_parameter_has_a_range_and_the_constants_match_the_code():
    from hoilib.config import DIFFUSION_T, SYNTH_CROP
    from hoilib.config.schema import bounds
    from hoilib.models.backbone import SynthCLIPSpec
    from hoilib.models.diffusion.model import TRAIN_STEPS

    numeric = {
        k for k in FIELDS if type_name(k).replace("list[", "").rstrip("]") in ("int", "float")
    }
    unbounded = {k for k in numeric if not bounds(k)}
    assert unbounded == {"gap_shift_deltas"}, (
        unbounded
    )  # shifts may be any number (negative widens the gap)
    assert DIFFUSION_T == TRAIN_STEPS and SYNTH_CROP == SynthCLIPSpec().image_size
    for p in list_profiles():  # every shipped profile passes its own checks (resolve runs them)
        resolve(p)


@pytest.mark.parametrize(
    "name,good,bad",
    [
        ("n_test_images", 1, 0),
        ("seed", 0, -1),
        ("ezhoi_val_fraction", 0.5, 1.0),
        ("diffusion_ema", 0.0, 1.0),
        ("bridge_t_start", 999, -1),
        ("bridge_steps", 1000, 1001),
        ("image_size", 64, 63),
        ("patch_size", 32, 24),
        ("pretrain_lr", 1e-9, 0.0),
        ("umap_points", 3, 2),
        ("sweep_steps", [1, 2], [1, 0]),
        ("ezhoi_seeds", [3], []),
    ],
)
def test_ranges_accept_their_bounds_and_refuse_beyond(name, good, bad):
    assert getattr(resolve("smoke", {name: good}), name) == good
    with pytest.raises(ConfigError, match=rf"parameter '{name}' = .*expected"):
        resolve("smoke", {name: bad})


def test_profiles_listing_shows_ranges(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert (
        "n_train_images" in out and ">= 1" in out and "bridge_t_start" in out and "[0, 999]" in out
    )


def test_hico_det_is_one_profile_and_the_split_names_set_its_split():
    base = load_profile("hico-det")
    for s in ("uv", "rf-uc", "nf-uc", "uo"):
        assert load_profile(f"hico-{s}") == base | {"split": s}
        assert resolve(f"hico-{s}").profile == f"hico-{s}"


def test_params_refuse_assignment_out_of_range():
    cfg = resolve("smoke")
    with pytest.raises(ValueError):
        cfg.seed = -1
    with pytest.raises(ValueError):
        cfg.seed = "3"  # strict: no string-to-int coercion


def test_synth_grid_is_the_default_book_value_for_value():
    """The sweep's aggregated table speaks for the default book only if the profiles agree."""
    assert load_profile("synth-grid") == load_profile("synth")
