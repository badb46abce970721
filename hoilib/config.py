"""Profiles: YAML files of notebook parameters, resolved against one typed schema.

Every parameter a notebook or stage reads is declared once in ``PARAMS`` with its
type and meaning, so an unknown name or a wrong type fails before any work
starts, and the resolved set is what each notebook shows and records.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hoilib.errors import ConfigError

PROFILE_DIR = Path(__file__).parent / "profiles"
REPO = Path(__file__).resolve().parent.parent

# name: (type, default, meaning). Types: int, float, str, bool, list, "str?" (str or None).
PARAMS: dict[str, tuple[Any, Any, str]] = {
    "profile": (str, "smoke", "profile name this set came from"),
    "run_dir": (str, "", "folder of the run's artifacts; '' = runs/<profile>"),
    "seed": (int, 0, "seed of every random choice after the world is built"),
    "device": (str, "auto", "torch device: auto (CUDA when present), cpu, cuda, cuda:1"),
    "cpu_kernels": (str, "avx2", "x86-64 CPU kernels of the chapters (ATen, oneDNN, MKL): avx2 = the same on every "
                                 "AVX2 machine, so numbers agree across machines with one thread count; native = "
                                 "the widest this CPU has (AVX-512 moves them; see Reproducing)"),
    "dataset": (str, "hoi-synth", "hoi-synth (generated here) or hico-det (the user's copy)"),
    "data_root": (str, "", "hico-det: folder with instances_*2015.json and images/; hoi-synth: '' = <run_dir>/world"),
    "split": (str, "rf-uc", "zero-shot split: uv, rf-uc, nf-uc or uo"),
    "pair_source": (str, "gt", "test pairs: gt (annotated/oracle boxes) or a detections JSON file (see hoilib/detections.py)"),
    "world_seed": (int, 0, "hoi-synth: seed of the generated world"),
    "n_train_images": (int, 1200, "hoi-synth: training images"),
    "n_test_images": (int, 400, "hoi-synth: test images"),
    "n_pretrain_images": (int, 2500, "hoi-synth: scenes rendered for backbone pretraining"),
    "image_size": (int, 160, "hoi-synth: image side in pixels"),
    "backbone": (str, "synth-vit-tiny", "synth-vit-tiny (pretrained here) or an open_clip model name, e.g. ViT-B-16"),
    "pretrained": ("str?", None, "open_clip pretrained tag (e.g. openai) or a local weights file; null = random init"),
    "pretrain_steps": (int, 200, "synth-vit-tiny: contrastive pretraining steps"),
    "pretrain_batch": (int, 256, "synth-vit-tiny: pretraining batch size"),
    "pretrain_lr": (float, 1e-3, "synth-vit-tiny: pretraining learning rate"),
    "patch_size": (int, 16, "synth-vit-tiny: ViT patch size (64-px crops)"),
    "feature_batch": (int, 256, "crops per batch in feature extraction"),
    "gap_permutations": (int, 200, "permutations of the MMD test"),
    "gap_shift_deltas": (list, [-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5], "shifts along the gap direction (Liang et al.)"),
    "shuffle_repeats": (int, 5, "label permutations of the shuffled-label control"),
    "umap_points": (int, 600, "points per modality in UMAP plots"),
    "ezhoi_epochs": (int, 10, "EZ-HOI training epochs (the best validation epoch is kept)"),
    "ezhoi_batch_images": (int, 64, "images per EZ-HOI training batch"),
    "ezhoi_lr": (float, 1e-3, "EZ-HOI AdamW learning rate"),
    "ezhoi_val_fraction": (float, 0.1, "share of training images held out for validation"),
    "ezhoi_seeds": (list, [0, 1, 2], "seeds of the EZ-HOI runs (mean +- std over them)"),
    "ezhoi_ablation": (bool, True, "train the text-module ablations too (each module off, and all off)"),
    "n_ctx": (int, 2, "learnable context tokens per text prompt"),
    "prompt_depth": (int, 3, "text layers that get their own deep prompt tokens (MaPLe style)"),
    "diffusion_steps": (int, 1000, "text diffusion: training steps (the Diffusion Bridge paper trains 3M)"),
    "diffusion_batch": (int, 64, "text diffusion: batch size"),
    "diffusion_lr": (float, 2e-3, "text diffusion: AdamW learning rate (paper 8e-5 over 3M steps)"),
    "diffusion_ema": (float, 0.995, "text diffusion: EMA decay of the saved weights"),
    "diffusion_hidden": (int, 128, "text diffusion: width of the residual MLP denoiser"),
    "diffusion_blocks": (int, 2, "text diffusion: residual blocks of the denoiser"),
    "diffusion_samples": (int, 500, "text diffusion: unconditional samples drawn to judge the model"),
    "bridge_t_start": (int, 599, "bridge: DDIM start step t* (0 = no bridge, 999 = from pure noise)"),
    "bridge_steps": (int, 5, "bridge: DDIM steps from t* down"),
    "bridge_recipe": (str, "direct", "bridge: direct (feed the centred vision feature as x_t) or sdedit (noise it to t* first)"),
    "sweep_t_starts": (list, [0, 199, 399, 599, 799, 999], "bridge sweep: start steps t*"),
    "sweep_steps": (list, [1, 2, 5, 10, 20], "bridge sweep: DDIM step counts (at the default t*)"),
    "capdec_steps": (int, 300, "CapDec baseline: steps of the text-only classifier trained on noisy text"),
}


DIFFUSION_T = 1000  # training timesteps of the text diffusion model (hoilib.diffusion.model.TRAIN_STEPS)
SYNTH_CROP = 64  # the small CLIP's input side in pixels (hoilib.backbone.SynthCLIPSpec.image_size)


@dataclass(frozen=True)
class Range:
    """A number (or each number of a list) within [lo, hi]; an open end excludes its bound."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def ok(self, x) -> bool:
        return ((self.lo is None or (x > self.lo if self.lo_open else x >= self.lo))
                and (self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)))

    def text(self) -> str:
        if self.lo is None and self.hi is None:
            return "any number"
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


COUNT, NONNEG, POSITIVE = Range(1), Range(0), Range(0, lo_open=True)
FRACTION_OPEN = Range(0, 1, lo_open=True, hi_open=True)
T_STAR = Range(0, DIFFUSION_T - 1)

# name: the range of the value (numbers) or of every element (lists). Every numeric parameter has one (tested).
RANGES: dict[str, Range] = {
    "seed": NONNEG, "world_seed": NONNEG,
    "n_train_images": COUNT, "n_test_images": COUNT, "n_pretrain_images": COUNT,
    "image_size": Range(SYNTH_CROP),  # scenes are cut into 64-px crops; a smaller render has nothing to cut
    "pretrain_steps": COUNT, "pretrain_batch": Range(2),  # a contrastive batch needs a negative
    "pretrain_lr": POSITIVE, "patch_size": Range(1, SYNTH_CROP), "feature_batch": COUNT,
    "gap_permutations": COUNT, "gap_shift_deltas": Range(), "shuffle_repeats": COUNT,
    "umap_points": Range(3),  # UMAP needs a neighbour besides each point
    "ezhoi_epochs": COUNT, "ezhoi_batch_images": COUNT, "ezhoi_lr": POSITIVE, "ezhoi_val_fraction": FRACTION_OPEN,
    "ezhoi_seeds": NONNEG, "n_ctx": COUNT, "prompt_depth": COUNT,
    "diffusion_steps": COUNT, "diffusion_batch": COUNT, "diffusion_lr": POSITIVE,
    "diffusion_ema": Range(0, 1, hi_open=True),  # 0 = the raw weights; 1 would never move
    "diffusion_hidden": COUNT, "diffusion_blocks": COUNT, "diffusion_samples": COUNT,
    "bridge_t_start": T_STAR, "bridge_steps": Range(1, DIFFUSION_T), "sweep_t_starts": T_STAR,
    "sweep_steps": Range(1, DIFFUSION_T), "capdec_steps": COUNT,
}
CHOICES: dict[str, tuple[str, ...]] = {
    "dataset": ("hoi-synth", "hico-det"), "cpu_kernels": ("avx2", "native"), "split": ("uv", "rf-uc", "nf-uc", "uo"),
    "bridge_recipe": ("direct", "sdedit"),
}
INT_LISTS = ("ezhoi_seeds", "sweep_t_starts", "sweep_steps")  # seeds and steps: whole, each used once
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _check_value(name: str, value: Any, where: str) -> None:
    """Ranges, allowed values and list contents; the message names the parameter and what was expected."""
    bad = f"{where}: parameter '{name}' = {value!r}, expected"
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"{bad} one of {', '.join(CHOICES[name])}")
    if name == "device" and not DEVICE.match(value):
        raise ConfigError(f"{bad} auto, cpu, mps, cuda or cuda:N")
    rule = RANGES.get(name)
    if rule is None:
        return
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{bad} a non-empty list")
        for i, x in enumerate(value):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not rule.ok(x):
                raise ConfigError(f"{bad} a list of numbers {rule.text()}; element {i} is {x!r}")
        if name in INT_LISTS and any(not isinstance(x, int) for x in value):
            raise ConfigError(f"{bad} a list of integers")
        if name in INT_LISTS and len(set(value)) != len(value):
            raise ConfigError(f"{bad} distinct values (a repeat would be counted twice)")
    elif not rule.ok(value):
        kind = "an integer" if PARAMS[name][0] is int else "a number"
        raise ConfigError(f"{bad} {kind} {rule.text()}")
    if name == "patch_size" and SYNTH_CROP % value:
        raise ConfigError(f"{bad} a divisor of the {SYNTH_CROP}-px crop (1, 2, 4, 8, 16, 32 or 64)")


def _check_type(name: str, value: Any, where: str) -> Any:
    typ = PARAMS[name][0]
    if typ == "str?":
        if value is None or isinstance(value, str):
            return value
        raise ConfigError(f"{where}: parameter '{name}' must be a string or null, got {value!r}")
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is int and isinstance(value, bool):
        raise ConfigError(f"{where}: parameter '{name}' must be an integer, got {value!r}")
    if not isinstance(value, typ):
        raise ConfigError(f"{where}: parameter '{name}' must be {typ.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_names(d: dict, where: str) -> None:
    unknown = sorted(set(d) - set(PARAMS))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown}; known parameters: {sorted(PARAMS)}")


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yml"))


def profile_path(profile: str) -> Path:
    p = Path(profile)
    if p.suffix in (".yml", ".yaml"):
        if not p.is_file():
            raise ConfigError(f"profile file not found: {p} (or name a profile: {list_profiles()})")
        return p
    p = PROFILE_DIR / f"{profile}.yml"
    if not p.is_file():
        raise ConfigError(f"unknown profile {profile!r}: no file {p}; known profiles: {list_profiles()} (or pass a path to a .yml file)")
    return p


def load_profile(profile: str) -> dict:
    path = profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of parameter: value, got {type(data).__name__}")
    _check_names(data, str(path))
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """'name=value' from the command line; the value is read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like name=value (e.g. seed=3)")
    name, raw = text.split("=", 1)
    name = name.strip()
    if name not in PARAMS:
        raise ConfigError(f"--set {text!r}: unknown parameter {name!r}; known parameters: {sorted(PARAMS)}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {e}") from e
    if PARAMS[name][0] is str and not isinstance(value, str):
        value = raw
    return name, value


def resolve(profile: str = "smoke", overrides: dict | None = None) -> dict:
    """Defaults <- profile YAML <- overrides, type-checked; run_dir filled in."""
    cfg = {k: copy.deepcopy(v[1]) for k, v in PARAMS.items()}
    prof = load_profile(profile)
    cfg.update(prof)
    overrides = dict(overrides or {})
    _check_names(overrides, "overrides")
    cfg.update(overrides)
    cfg["profile"] = Path(profile).stem if profile.endswith((".yml", ".yaml")) else profile
    where = f"profile {profile!r}"
    for k in cfg:
        cfg[k] = _check_type(k, cfg[k], where)
        _check_value(k, cfg[k], where)
    if not cfg["run_dir"]:
        cfg["run_dir"] = str(Path("runs") / cfg["profile"])
    if not Path(cfg["run_dir"]).is_absolute():  # relative to the repository, wherever the kernel runs
        cfg["run_dir"] = str(REPO / cfg["run_dir"])
    if cfg["data_root"] and not Path(cfg["data_root"]).expanduser().is_absolute():
        cfg["data_root"] = str(REPO / cfg["data_root"])
    return cfg


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def table(cfg: dict):
    """The resolved parameters as a DataFrame, for the top of every notebook."""
    import pandas as pd

    rows = [{"parameter": k, "value": repr(cfg[k]), "meaning": PARAMS[k][2]} for k in sorted(cfg)]
    return pd.DataFrame(rows).set_index("parameter")
