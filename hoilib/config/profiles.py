"""Profiles: YAML files of parameters, resolved against the typed schema into one ``Params``.

A profile is a file in ``hoilib/config/profiles/`` (or any .yml path) with one mapping per
section (``ezhoi: {epochs: 8}``); ``--set section.field=value`` overrides are read as YAML.
The flat names of earlier releases (``ezhoi_epochs``, ``--set seed=3``) and the dotted names of
fields that moved (``evaluation.consumer_steps``) still work for this release, each with a
warning naming its new name. Every failure is one line that names the
file or flag, the parameter and what was expected.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hoilib.config.schema import FIELDS, SECTIONS, Params, RunCfg, range_text, type_name
from hoilib.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
REPO = Path(__file__).resolve().parents[2]

# One HICO-DET profile; these names keep working and set its split.
ALIASES = {f"hico-{s}": ("hico-det", {"world.split": s}) for s in ("uv", "rf-uc", "nf-uc", "uo")}

# The names of earlier releases -> their section.field names (read with a warning, this release only):
# flat names, and dotted names of fields that moved to another section
OLD_NAMES = {
    "profile": "run.profile",
    "run_dir": "run.run_dir",
    "stage_dir": "run.stage_dir",
    "seed": "run.seed",
    "device": "run.device",
    "cpu_kernels": "run.cpu_kernels",
    "dataset": "world.dataset",
    "data_root": "world.data_root",
    "split": "world.split",
    "pair_source": "world.pair_source",
    "world_seed": "world.seed",
    "n_train_images": "world.n_train_images",
    "n_test_images": "world.n_test_images",
    "n_pretrain_images": "world.n_pretrain_images",
    "caption_verb_share": "world.caption_verb_share",
    "image_size": "world.image_size",
    "backbone": "backbone.name",
    "pretrained": "backbone.pretrained",
    "pretrain_steps": "backbone.steps",
    "pretrain_batch": "backbone.batch",
    "pretrain_lr": "backbone.lr",
    "patch_size": "backbone.patch_size",
    "feature_batch": "backbone.feature_batch",
    "ezhoi_seeds": "ezhoi.seeds",
    "ezhoi_ablation": "ezhoi.ablation",
    "ezhoi_epochs": "ezhoi.epochs",
    "ezhoi_batch_images": "ezhoi.batch_images",
    "ezhoi_lr": "ezhoi.lr",
    "ezhoi_val_fraction": "ezhoi.val_fraction",
    "bridge_val_fraction": "ezhoi.bridge_val_fraction",
    "pseudo_unseen_share": "ezhoi.pseudo_unseen_share",
    "n_ctx": "ezhoi.n_ctx",
    "prompt_kind": "ezhoi.prompt_kind",
    "prompt_depth": "ezhoi.prompt_depth",
    "diffusion_steps": "diffusion.steps",
    "diffusion_batch": "diffusion.batch",
    "diffusion_lr": "diffusion.lr",
    "diffusion_ema": "diffusion.ema",
    "diffusion_hidden": "diffusion.hidden",
    "diffusion_blocks": "diffusion.blocks",
    "diffusion_loss": "diffusion.loss",
    "diffusion_samples": "diffusion.samples",
    "bridge_t_start": "bridge.t_start",
    "bridge_steps": "bridge.steps",
    "bridge_recipe": "bridge.recipe",
    "sweep_t_starts": "bridge.sweep_t_starts",
    "sweep_steps": "bridge.sweep_steps",
    "strength_by": "bridge.strength_by",
    "gap_permutations": "evaluation.gap_permutations",
    "gap_shift_deltas": "evaluation.gap_shift_deltas",
    "shuffle_repeats": "evaluation.shuffle_repeats",
    "umap_points": "evaluation.umap_points",
    "umap_epochs": "evaluation.umap_epochs",
    "consumer_steps": "consumers.steps",
    "consumer_hidden": "consumers.hidden",
    "consumer_batch": "consumers.batch",
    "dose_alphas": "evaluation.dose_alphas",
    "capdec_steps": "evaluation.capdec_steps",
    # moved to the consumers section with chapter 5's other consumer settings (issue 32)
    "evaluation.consumer_steps": "consumers.steps",
    "evaluation.consumer_hidden": "consumers.hidden",
    "evaluation.consumer_batch": "consumers.batch",
}
_warned: set[str] = set()


def canonical(name: str, where: str, warn: bool = True) -> str:
    """``section.field`` for a dotted or old flat name; an unknown name fails, naming the known ones."""
    if name in FIELDS:
        return name
    if name in OLD_NAMES:
        new = OLD_NAMES[name]
        if warn and name not in _warned:
            _warned.add(name)
            print(
                f"hoilib: warning: {where}: parameter name {name!r} is deprecated, use {new!r}",
                file=sys.stderr,
            )
        return new
    raise ConfigError(f"{where}: unknown parameter {name!r}; known parameters: {sorted(FIELDS)}")


def nest(values: dict, where: str, warn: bool = True) -> dict[str, dict]:
    """{section: {field: value}} from section mappings, dotted names or old flat names (mixed)."""
    out: dict[str, dict] = {}
    for k, v in values.items():
        if k in SECTIONS and isinstance(v, dict):
            for field, x in v.items():  # a field that moved lands in its new section
                sec, new = canonical(f"{k}.{field}", where, warn).split(".", 1)
                out.setdefault(sec, {})[new] = x
            continue
        sec, field = canonical(k, where, warn).split(".", 1)
        out.setdefault(sec, {})[field] = v
    return out


def merge(*layers: dict) -> dict[str, dict]:
    """Nested layers, later ones winning field by field."""
    out: dict[str, dict] = {}
    for layer in layers:
        for sec, fields in layer.items():
            out.setdefault(sec, {}).update(fields)
    return out


def flat_view(config: dict) -> dict[str, Any]:
    """A run's saved configuration (nested, or flat from an earlier release) as {section.field: value}."""
    nested = nest(config, "config", warn=False)
    return {f"{s}.{k}": v for s, fields in nested.items() for k, v in fields.items()}


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


def yaml_problem(e: yaml.YAMLError) -> str:
    """The parser's complaint as one line with its position; its own message spans several
    (context, a copy of the line and a caret), which the one-line error rule does not allow."""
    problem = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def load_profile(profile: str) -> dict[str, dict]:
    """The profile's own values, nested (an alias adds its split); names checked, values not yet."""
    path = profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(e)}") from e
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of parameter: value, got {type(data).__name__}"
        )
    return merge(nest(data, str(path)), nest(ALIASES.get(profile, ("", {}))[1], str(path)))


def parse_override(text: str) -> tuple[str, Any]:
    """'section.field=value' from the command line, as (section.field, value); the value is read
    as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like name=value (e.g. run.seed=3)")
    name, raw = text.split("=", 1)
    name = canonical(name.strip(), f"--set {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {yaml_problem(e)}") from e
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
            raise ConfigError(
                f"--vary {text!r} must look like name=v1,v2 (e.g. world.split=rf-uc,uv)"
            )
        key = canonical(name.strip(), f"--vary {text!r}")
        if key in out:
            raise ConfigError(f"--vary names {key!r} twice; give its values once")
        out[key] = [parse_override(f"{key}={v}")[1] for v in raw.split(",")]
    return out


def _message(err: dict, data: dict, where: str) -> str:
    """One pydantic error as the one line a user reads."""
    loc = [str(x) for x in err["loc"]]
    name = ".".join(loc[:2])
    value = data.get(loc[0], {}).get(loc[1], err["input"]) if len(loc) > 1 else err["input"]
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
    what = "an integer" if type_name(name).rstrip("]").endswith("int") else "a number"
    if len(err["loc"]) > 2:
        return f"{bad} a list of {what.split()[-1]}s {range_text(name)}; element {err['loc'][2]} is {err['input']!r}"
    return f"{bad} {what} {range_text(name)}"


def validate(data: dict, where: str) -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_message(e.errors()[0], data, where)) from None


def resolve(profile: str = "smoke", overrides: dict | None = None) -> Params:
    """Defaults <- profile YAML <- overrides (nested, dotted or old flat names), validated;
    run_dir, stage_dir and data_root made absolute."""
    name = Path(profile).stem if profile.endswith((".yml", ".yaml")) else profile
    layers = merge(load_profile(profile), nest(dict(overrides or {}), "overrides"))
    cfg = validate(merge(layers, {"run": {"profile": name}}), f"profile {profile!r}")
    run, world = cfg.run, cfg.world
    if not run.run_dir:
        run.run_dir = str(Path("runs") / run.profile)
    if not Path(run.run_dir).is_absolute():  # relative to the repository, wherever the kernel runs
        run.run_dir = str(REPO / run.run_dir)
    if world.data_root and not Path(world.data_root).expanduser().is_absolute():
        world.data_root = str(REPO / world.data_root)
    if run.stage_dir and not Path(run.stage_dir).expanduser().is_absolute():
        run.stage_dir = str(REPO / run.stage_dir)
    return cfg


def stage_root(run: RunCfg) -> Path:
    """Where the reusable stages live: the run section's ``stage_dir``, else its run folder."""
    return Path(run.stage_dir or run.run_dir)


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
            "value": repr(getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1])),
            "meaning": FIELDS[k].description,
        }
        for k in order
    ]
    return pd.DataFrame(rows).set_index("parameter")
