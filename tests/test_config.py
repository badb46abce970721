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
from hoilib.config.schema import LATER_FIELDS
from hoilib.errors import ConfigError


def test_profiles_exist_and_resolve():
    assert {"smoke", "synth"} <= set(list_profiles())
    for p in list_profiles():
        cfg = resolve(p)
        dumped = {f"{sec}.{k}" for sec, fields in cfg.model_dump().items() for k in fields}
        # world fields added after runs were published are left out of a dump at their defaults
        later = {f"world.{k}" for k, v in LATER_FIELDS.items() if getattr(cfg.world, k) == v}
        assert isinstance(cfg, Params) and dumped | later == set(FIELDS) and not dumped & later


def test_unknown_profile():
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*known profiles: \["):
        resolve("nope")


def test_unknown_parameter_in_override():
    with pytest.raises(ConfigError, match=r"unknown parameter 'sede'.*known parameters"):
        parse_override("sede=3")


def test_unknown_parameter_in_yaml(tmp_path):
    p = tmp_path / "mine.yml"
    p.write_text("run:\n  seed: 1\nezhoi:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError, match=r"mine.yml: unknown parameter 'ezhoi.learning_rat'"):
        load_profile(str(p))


def test_wrong_type():
    with pytest.raises(ConfigError, match=r"parameter 'run.seed' must be int, got str 'x'"):
        resolve("smoke", {"run.seed": "x"})
    with pytest.raises(ConfigError, match=r"parameter 'world.split' = 'zz', expected one of"):
        resolve("smoke", {"world.split": "zz"})
    with pytest.raises(ConfigError, match=r"element 1 is 0"):
        resolve("smoke", {"bridge.sweep_steps": [1, 0]})


def test_override_values_parse_as_yaml():
    assert parse_override("run.seed=3") == ("run.seed", 3)
    assert parse_override("evaluation.gap_shift_deltas=[0, 0.5]") == (
        "evaluation.gap_shift_deltas",
        [0, 0.5],
    )
    assert parse_override("backbone.pretrained=null") == ("backbone.pretrained", None)
    assert parse_override("world.split=uv") == ("world.split", "uv")
    assert resolve("smoke", dict([parse_override("backbone.lr=1")])).backbone.lr == 1.0


def test_old_flat_names_still_work_for_one_release_with_a_warning(capsys, tmp_path):
    """--set ezhoi_epochs=4, a flat profile and a flat override dict give what the dotted names give."""
    assert parse_override("ezhoi_epochs=4") == ("ezhoi.epochs", 4)
    assert "'ezhoi_epochs' is deprecated, use 'ezhoi.epochs'" in capsys.readouterr().err
    old = resolve("smoke", {"world_seed": 2, "bridge_t_start": 299, "backbone": "synth-vit-tiny"})
    new = resolve("smoke", {"world.seed": 2, "bridge.t_start": 299})
    assert old == new and old.world.seed == 2 and old.bridge.t_start == 299
    flat = tmp_path / "flat.yml"
    flat.write_text("seed: 1\nezhoi_epochs: 3\nsplit: uv\n")
    cfg = resolve(str(flat))
    assert (cfg.run.seed, cfg.ezhoi.epochs, cfg.world.split) == (1, 3, "uv")
    assert main(["run", "--profile", "smoke", "--set", "ezhoi_bogus=1"]) == 1
    assert "unknown parameter 'ezhoi_bogus'" in capsys.readouterr().err


def test_a_stage_keys_on_its_own_section():
    """EZ-HOI's and diffusion's keys are their sections, minus what only picks which runs are made."""
    cfg = resolve("smoke")
    assert "seeds" not in cfg.ezhoi.key() and "ablation" not in cfg.ezhoi.key()
    assert cfg.ezhoi.key()["epochs"] == cfg.ezhoi.epochs
    assert cfg.updated({"ezhoi.seeds": [5]}).ezhoi.key() == cfg.ezhoi.key()
    assert cfg.updated({"ezhoi.lr": 0.5}).ezhoi.key() != cfg.ezhoi.key()
    assert set(cfg.diffusion.key()) == set(type(cfg.diffusion).model_fields) - {"samples"}
    assert (
        "feature_batch" not in cfg.backbone.key()
        and cfg.backbone.key()["steps"] == cfg.backbone.steps
    )
    with pytest.raises(ValueError, match=r"ezhoi.epochs"):
        cfg.updated({"ezhoi.epochs": 0})
    with pytest.raises(ValueError, match=r"unknown parameter 'ezhoi_epochs'"):
        cfg.updated({"ezhoi_epochs": 1})


def test_a_stage_takes_its_own_section_not_the_whole_parameter_set():
    """The trained stages take (their section, the run section, ...): none of them can read another
    stage's settings, so nothing it does not key on can change what it computes."""
    import inspect

    from hoilib.config import BackboneCfg, DiffusionCfg, EZHOICfg, RunCfg
    from hoilib.models import backbone_stage
    from hoilib.models.diffusion import diffusion_stage
    from hoilib.models.ezhoi import ezhoi_stage

    stages = {
        backbone_stage.prepare_backbone: BackboneCfg,
        backbone_stage.features_of_test_pairs: BackboneCfg,
        ezhoi_stage.train_or_load: EZHOICfg,
        diffusion_stage.train_or_load: DiffusionCfg,
    }
    for fn, section in stages.items():
        hints = inspect.get_annotations(fn, eval_str=True)
        first, second = list(inspect.signature(fn).parameters)[:2]
        assert (hints[first], hints[second]) == (section, RunCfg), fn.__qualname__
        assert Params not in hints.values(), fn.__qualname__
    assert inspect.get_annotations(ezhoi_stage.build_model, eval_str=True)["section"] is EZHOICfg


def test_a_yaml_syntax_error_is_one_line_with_its_position(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("run:\n  seed: 1\nezhoi:\n  epochs: 2: 3\n")
    assert main(["run", "--profile", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert f"{bad}: not valid YAML: line 4, column 12: mapping values are not allowed here" in err
    assert main(["run", "--profile", "smoke", "--set", "run.seed=[1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "value is not valid YAML: line 1" in err, err


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
    # shifts may be any number (negative widens the gap)
    assert unbounded == {"evaluation.gap_shift_deltas"}, unbounded
    assert DIFFUSION_T == TRAIN_STEPS and SYNTH_CROP == SynthCLIPSpec().image_size
    for p in list_profiles():  # every shipped profile passes its own checks (resolve runs them)
        resolve(p)


@pytest.mark.parametrize(
    "name,good,bad",
    [
        ("world.n_test_images", 1, 0),
        ("run.seed", 0, -1),
        ("ezhoi.val_fraction", 0.5, 1.0),
        ("diffusion.ema", 0.0, 1.0),
        ("bridge.t_start", 999, -1),
        ("bridge.steps", 1000, 1001),
        ("world.image_size", 64, 63),
        ("backbone.patch_size", 32, 24),
        ("backbone.lr", 1e-9, 0.0),
        ("evaluation.umap_points", 3, 2),
        ("bridge.sweep_steps", [1, 2], [1, 0]),
        ("ezhoi.seeds", [3], []),
        ("bridge.t_grid", [1, 999], [0]),
        ("bridge.t_grid", [399], [399, 399]),
        ("bridge.lambdas", [1.0], [0.0]),
        ("consumers.steps", 1, 0),
        ("consumers.held_out_share", 0.5, 1.0),
        ("consumers.shrinkage", [0.0, 1.0], [1.5]),
        ("consumers.hidden", [256, 256], []),
        ("claims.control_margin", 0.0, -1.0),
        ("claims.level", 0.5, 1.0),
        ("claims.alpha", 0.01, 0.0),
        ("claims.bootstrap_draws", 1, 0),
        ("claims.same_geometry_knn", 1.0, 1.1),
    ],
)
def test_ranges_accept_their_bounds_and_refuse_beyond(name, good, bad):
    section, field = name.split(".")
    assert getattr(getattr(resolve("smoke", {name: good}), section), field) == good
    with pytest.raises(ConfigError, match=rf"parameter '{name}' = .*expected"):
        resolve("smoke", {name: bad})


def test_profiles_listing_shows_ranges(capsys):
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert (
        "world.n_train_images" in out
        and "[1, 10,000,000]" in out
        and ">= 0" in out
        and "bridge.t_start" in out
        and "[0, 999]" in out
    )


def test_hico_det_is_one_profile_and_the_split_names_set_its_split():
    base = load_profile("hico-det")
    for s in ("uv", "rf-uc", "nf-uc", "uo"):
        assert load_profile(f"hico-{s}") == {**base, "world": {**base["world"], "split": s}}
        assert resolve(f"hico-{s}").run.profile == f"hico-{s}"


def test_params_refuse_assignment_out_of_range():
    cfg = resolve("smoke")
    with pytest.raises(ValueError):
        cfg.run.seed = -1
    with pytest.raises(ValueError):
        cfg.run.seed = "3"  # strict: no string-to-int coercion


def test_synth_grid_is_the_default_book_value_for_value():
    """The sweep's aggregated table speaks for the default book only if the profiles agree."""
    assert load_profile("synth-grid") == load_profile("synth")


def test_chapter_5s_settings_are_parameters_and_its_old_names_still_read(capsys, tmp_path):
    """The strength grid, the consumers' fit and the claims' rules are sections of the schema;
    the consumer settings' old names (evaluation.consumer_*, consumer_*) warn and still work."""
    from hoilib.chapters import ch5_ordering
    from hoilib.config import section_names

    cfg = resolve("smoke", {"bridge.t_grid": [399], "claims.control_margin": 2.5})
    assert cfg.bridge.t_grid == [399] and cfg.claims.control_margin == 2.5
    assert cfg.updated({"bridge.lambdas": [0.5]}).bridge.lambdas == [0.5]
    assert cfg.consumers.steps == 100  # the smoke profile's
    for name in (*section_names("consumers"), *section_names("claims"), "bridge.t_grid"):
        assert name in ch5_ordering.PARAMS and name in ch5_ordering.DECIDING + ("bridge.t_grid",)
    assert parse_override("evaluation.consumer_steps=7") == ("consumers.steps", 7)
    assert (
        "'evaluation.consumer_steps' is deprecated, use 'consumers.steps'"
        in capsys.readouterr().err
    )
    assert parse_override("consumer_batch=64") == ("consumers.batch", 64)
    old = tmp_path / "old.yml"
    old.write_text("evaluation:\n  consumer_steps: 9\n  consumer_hidden: [32]\n  capdec_steps: 5\n")
    cfg = resolve(str(old))
    assert (cfg.consumers.steps, cfg.consumers.hidden, cfg.evaluation.capdec_steps) == (9, [32], 5)
    assert "'evaluation.consumer_hidden' is deprecated" in capsys.readouterr().err


def test_a_bad_chapter_5_setting_is_one_line_naming_it(capsys):
    for flag, says in (
        (
            "bridge.t_grid=[0, 399]",
            "'bridge.t_grid' = [0, 399], expected a list of integers in [1, 999]",
        ),
        ("bridge.lambdas=0.5", "parameter 'bridge.lambdas' must be list[float], got float 0.5"),
        ("claims.level=1.5", "'claims.level' = 1.5, expected a number in (0, 1)"),
        ("consumers.shrinkage=[0.1, 0.1]", "expected distinct values"),
    ):
        assert main(["run", "--profile", "smoke", "--set", flag]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and says in err, err
