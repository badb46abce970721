"""Profiles and overrides: unknown names and wrong types fail early and say what was expected."""

from __future__ import annotations

import pytest

from hoilib.cli import main
from hoilib.config import PARAMS, list_profiles, load_profile, parse_override, resolve
from hoilib.errors import ConfigError


def test_profiles_exist_and_resolve():
    assert {"smoke", "synth"} <= set(list_profiles())
    for p in list_profiles():
        cfg = resolve(p)
        assert set(cfg) == set(PARAMS)


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
    assert resolve("smoke", dict([parse_override("pretrain_lr=1")]))["pretrain_lr"] == 1.0


def test_cli_reports_config_errors(capsys):
    assert main(["run", "--profile", "smoke", "--set", "bogus=1"]) == 1
    assert "unknown parameter 'bogus'" in capsys.readouterr().err
    assert main(["book", "--profile", "missing-profile"]) == 1
    assert "unknown profile 'missing-profile'" in capsys.readouterr().err
