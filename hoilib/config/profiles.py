"""Profiles: YAML files of parameters, resolved against the typed schema into one ``Params``.

A profile is a file in ``hoilib/config/profiles/`` (or any .yml path); ``--set
name=value`` overrides are read as YAML. Every failure is one line that names the
file or flag, the parameter and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hoilib.config.schema import FIELDS, Params, range_text, type_name
from hoilib.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
REPO = Path(__file__).resolve().parents[2]

# One HICO-DET profile; these names keep working and set its split.
ALIASES = {f"hico-{s}": ("hico-det", {"split": s}) for s in ("uv", "rf-uc", "nf-uc", "uo")}


def list_profiles() -> list[str]:
    return sorted({p.stem for p in PROFILE_DIR.glob("*.yml")} | set(ALIASES))


def profile_path(profile: str) -> Path:
    p = Path(profile)
    if p.suffix in (".yml", ".yaml"):
        if not p.is_file():
            raise ConfigError(f"profile file not found: {p} (or name a profile: {list_profiles()})")
        return p
    p = PROFILE_DIR / f"{ALIASES.get(profile, (profile,))[0]}.yml"
    if not p.is_file():
        raise ConfigError(
            f"unknown profile {profile!r}: no file {p}; known profiles: {list_profiles()} "
            "(or pass a path to a .yml file)"
        )
    return p


def _check_names(d: dict, where: str) -> None:
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown parameter(s) {unknown}; known parameters: {sorted(FIELDS)}"
        )


def load_profile(profile: str) -> dict:
    """The profile's own values (an alias adds its split), names checked, values not yet."""
    path = profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of parameter: value, got {type(data).__name__}"
        )
    _check_names(data, str(path))
    return data | ALIASES.get(profile, ("", {}))[1]


def parse_override(text: str) -> tuple[str, Any]:
    """'name=value' from the command line; the value is read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like name=value (e.g. seed=3)")
    name, raw = text.split("=", 1)
    name = name.strip()
    if name not in FIELDS:
        raise ConfigError(
            f"--set {text!r}: unknown parameter {name!r}; known parameters: {sorted(FIELDS)}"
        )
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {e}") from e
    if type_name(name) == "str" and not isinstance(value, str):
        value = raw
    return name, value


def parse_overrides(items) -> dict:
    """Every ``--set`` of a command line as one dict."""
    return dict(parse_override(s) for s in items or [])


def parse_vary(items) -> dict[str, list]:
    """Every ``--vary name=v1,v2`` as {name: [values]}; each value is read like a ``--set``."""
    out: dict[str, list] = {}
    for text in items or []:
        name, _, raw = text.partition("=")
        if not raw.strip():
            raise ConfigError(f"--vary {text!r} must look like name=v1,v2 (e.g. split=rf-uc,uv)")
        if name.strip() in out:
            raise ConfigError(f"--vary names {name.strip()!r} twice; give its values once")
        out[name.strip()] = [parse_override(f"{name}={v}")[1] for v in raw.split(",")]
    return out


def _message(err: dict, data: dict, where: str) -> str:
    """One pydantic error as the one line a user reads."""
    name = str(err["loc"][0])
    value = data.get(name, err["input"])
    kind = err["type"]
    if kind.endswith("_type") or kind == "model_attributes_type":
        return f"{where}: parameter '{name}' must be {type_name(name)}, got {type(value).__name__} {value!r}"
    bad = f"{where}: parameter '{name}' = {value!r}, expected"
    if kind == "literal_error":
        return f"{bad} {range_text(name)}"
    if kind == "string_pattern_mismatch":
        return f"{bad} auto, cpu, mps, cuda or cuda:N"
    if kind == "too_short":
        return f"{bad} a non-empty list"
    if kind == "value_error":
        return f"{bad} {str(err['msg']).removeprefix('Value error, ').removeprefix('expected ')}"
    what = (
        "an integer" if type_name(name).endswith("int") or type_name(name) == "int" else "a number"
    )
    if len(err["loc"]) > 1:
        return f"{bad} a list of {what.split()[-1]}s {range_text(name)}; element {err['loc'][1]} is {err['input']!r}"
    return f"{bad} {what} {range_text(name)}"


def validate(data: dict, where: str) -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_message(e.errors()[0], data, where)) from None


def resolve(profile: str = "smoke", overrides: dict | None = None) -> Params:
    """Defaults <- profile YAML <- overrides, validated; run_dir and data_root made absolute."""
    overrides = dict(overrides or {})
    _check_names(overrides, "overrides")
    name = Path(profile).stem if profile.endswith((".yml", ".yaml")) else profile
    cfg = validate(load_profile(profile) | overrides | {"profile": name}, f"profile {profile!r}")
    if not cfg.run_dir:
        cfg.run_dir = str(Path("runs") / cfg.profile)
    if not Path(cfg.run_dir).is_absolute():  # relative to the repository, wherever the kernel runs
        cfg.run_dir = str(REPO / cfg.run_dir)
    if cfg.data_root and not Path(cfg.data_root).expanduser().is_absolute():
        cfg.data_root = str(REPO / cfg.data_root)
    if cfg.stage_dir and not Path(cfg.stage_dir).expanduser().is_absolute():
        cfg.stage_dir = str(REPO / cfg.stage_dir)
    return cfg


def stage_root(cfg: Params) -> Path:
    """Where the reusable stages live: ``stage_dir``, else the run folder."""
    return Path(cfg.stage_dir or cfg.run_dir)


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def table(cfg: Params, used: tuple[str, ...] = ()):
    """The resolved parameters as a DataFrame: the ones in ``used`` (this chapter's) first."""
    import pandas as pd

    order = [k for k in used if k in FIELDS] + sorted(k for k in FIELDS if k not in used)
    rows = [
        {
            "parameter": k,
            "this chapter": "yes" if k in used else "",
            "value": repr(getattr(cfg, k)),
            "meaning": FIELDS[k].description,
        }
        for k in order
    ]
    return pd.DataFrame(rows).set_index("parameter")
